"""Export of tf.bitcast (ONNX BitCast, opset 26) and tf.bitwise's and/or/xor/invert (opset
18): onnxruntime and graphc's importer run the exported model to graphc's own values, bit
for bit; an opset too old names the op and the opset it needs; shifts have no mapping."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import graphc as tf  # noqa: E402
from graphc import onnx as gonnx  # noqa: E402

X = np.float32([1.2345678, -2.5, 3e-39, 1e30])
K = np.int32([0, 0xFFFF, -1, 0x7F])


def bits_graph():
    x = tf.placeholder(tf.float32, [4], name="x")
    k = tf.placeholder(tf.int32, [4], name="k")
    masked = tf.bitwise.bitwise_and(tf.bitcast(x, tf.int32), tf.bitwise.invert(k))
    y = tf.bitcast(masked, tf.float32)
    z = tf.bitwise.bitwise_xor(k, tf.bitwise.bitwise_or(k, 0x0F0F))
    return x, k, y, z


def test_bits_export_and_run_bit_for_bit(tmp_path):
    x, k, y, z = bits_graph()
    with tf.Session() as sess:
        want = sess.run([y, z], {x: X, k: K})
    np.testing.assert_array_equal(want[0].view(np.int32), X.view(np.int32) & ~K)
    np.testing.assert_array_equal(want[1], K ^ (K | 0x0F0F))
    path = str(tmp_path / "bits.onnx")
    gonnx.export({"y": y, "z": z}, {"x": x, "k": k}, path, opset=26)
    got = gonnx.load(path)(X, K)
    for g, w in zip(got, want):
        assert g.tobytes() == w.tobytes()
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for g, w in zip(session.run(None, {"x": X, "k": K}), want):
        assert g.tobytes() == w.tobytes()


def test_an_opset_without_the_op_is_named(tmp_path):
    x, k, y, z = bits_graph()
    with pytest.raises(gonnx.OnnxExportError, match=r"'Bitcast/bitcast' \(bitcast\): ONNX has "
                                              r"BitCast from opset 26; exporting at opset 18"):
        gonnx.export({"y": y}, {"x": x, "k": k}, str(tmp_path / "a.onnx"), opset=18)
    with pytest.raises(gonnx.OnnxExportError, match=r"\(bitwise_xor\): ONNX has BitwiseXor from "
                                              r"opset 18; exporting at opset 17"):
        gonnx.export({"z": z}, {"k": k}, str(tmp_path / "b.onnx"), opset=17)
    shifted = tf.bitwise.left_shift(k, 2)
    with pytest.raises(gonnx.OnnxExportError, match="primitive 'left_shift' has no ONNX mapping"):
        gonnx.export({"s": shifted}, {"k": k}, str(tmp_path / "c.onnx"), opset=26)
