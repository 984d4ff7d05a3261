"""Ahead-of-time export freezes a session's variables into the artifact's weights; their
GEMMs then read them packed once at export (codegen_llvm/prepack.py), with the session's
results."""

import numpy as np
import pytest

import graphc as tf
import graphc.codegen_llvm.prepack as prepack
from graphc.ir import kernel as K


def _prepacked_gemms(kernels) -> int:
    def count(stmts):
        return sum(count(s.body) if isinstance(s, K.Loop) else
                   int(isinstance(s, K.Intrinsic) and s.name == "gemm" and s.prepacked)
                   for s in stmts)
    return sum(count(k.body) for k in kernels)


def test_frozen_variables_are_read_prepacked(tmp_path, monkeypatch):
    seen = []
    original = prepack.prepack_constants

    def spy(plan, kernels, blocking_for, in_place=None, packable=None):
        out = original(plan, kernels, blocking_for, in_place, packable)
        seen.append(_prepacked_gemms(out))
        return out
    monkeypatch.setattr(prepack, "prepack_constants", spy)
    rng = np.random.default_rng(0)
    x = tf.placeholder(tf.float32, [7, 40], name="x")
    w1 = tf.Variable(rng.standard_normal((40, 70)).astype(np.float32))
    w2 = tf.Variable(rng.standard_normal((70, 300)).astype(np.float32))
    y = tf.matmul(tf.nn.relu(tf.matmul(x, w1)), w2)
    data = rng.standard_normal((7, 40)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        want = sess.run(y, {x: data})
        model = tf.load(tf.export({"y": y}, {"x": x}, tmp_path, name="mlp", session=sess,
                                  batch_size=7).shared)
    assert seen[-1] == 2  # the export's plan: both weight matrices, frozen constants
    assert seen[:-1] == [0, 2]  # the initializer; the session's run, from packed slots
    np.testing.assert_allclose(model(data), want, rtol=1e-5, atol=1e-4)


def test_a_variable_without_a_value_is_named(tmp_path):
    from graphc.aot.export import ExportError
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    w = tf.Variable(np.ones((3, 4), np.float32), name="w")
    with pytest.raises(ExportError, match="has no value to freeze: export from a Session"):
        tf.export({"y": tf.matmul(x, w)}, {"x": x}, tmp_path, name="m", batch_size=2)
