"""graphc.onnx.export: graphc graphs written as ONNX, checked by onnx's checker (with full
shape inference), run by onnxruntime and imported back, against numpy and graphc."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import graphc as tf  # noqa: E402
from graphc import onnx as gonnx  # noqa: E402


def ort_run(model, feeds: dict) -> list:
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def op_types(graph_proto) -> set:
    found = set()
    for node in graph_proto.node:
        found.add(node.op_type)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                found |= op_types(attr.g)
    return found


def build_mlp():
    """x -> relu(dense 5->8) -> softmax(dense 8->3), its session initialized."""
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)
        x = tf.placeholder(tf.float32, [None, 5], name="x")
        h = tf.layers.dense(x, 8, activation=tf.nn.relu, name="hidden")
        probs = tf.nn.softmax(tf.layers.dense(h, 3, name="logits"), name="probs")
        sess = tf.Session()
        sess.run(tf.global_variables_initializer())
    return graph, x, probs, sess


def mlp_numpy(sess, graph, x):
    get = {v.name: sess.run(v) for v in graph.get_collection("variables")}
    h = np.maximum(x @ get["hidden/kernel:0"] + get["hidden/bias:0"], 0)
    z = h @ get["logits/kernel:0"] + get["logits/bias:0"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_mlp_passes_the_checker_with_symbolic_batch_and_saves(tmp_path):
    graph, x, probs, sess = build_mlp()
    path = tmp_path / "mlp.onnx"
    model = gonnx.export({"probs": probs}, {"x": x}, path, session=sess)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("x", "probs")
    dims = inp.type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 5]
    # relu and softmax are compositions in graphc: their primitives come through
    assert {"MatMul", "Max", "Exp", "ReduceSum", "Div"} <= op_types(model.graph)
    assert model.opset_import[0].version == 17
    assert len(model.graph.initializer) >= 4  # the two kernels and biases


def test_mlp_runs_in_onnxruntime_as_numpy():
    graph, x, probs, sess = build_mlp()
    xs = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    model = gonnx.export(probs, x, session=sess)
    (got,) = ort_run(model, {"x": xs})
    np.testing.assert_allclose(got, mlp_numpy(sess, graph, xs), rtol=1e-5, atol=1e-6)


def test_export_takes_the_sessions_current_variable_values():
    graph, x, probs, sess = build_mlp()
    with graph.as_default():
        bias = [v for v in graph.get_collection("variables") if v.name == "logits/bias:0"][0]
    bias.load(np.array([5.0, 0.0, -5.0], np.float32), sess)
    model = gonnx.export(probs, x, session=sess)
    xs = np.zeros((2, 5), np.float32)
    (got,) = ort_run(model, {"x": xs})
    np.testing.assert_allclose(got, mlp_numpy(sess, graph, xs), rtol=1e-5, atol=1e-6)
    assert got[0, 0] > 0.9


def test_mlp_imports_back_into_graphc():
    graph, x, probs, sess = build_mlp()
    xs = np.random.default_rng(2).standard_normal((3, 5)).astype(np.float32)
    imported = gonnx.import_model(gonnx.export({"probs": probs}, {"x": x}, session=sess))
    assert imported.inputs["x"].shape.as_list() == [None, 5]
    with tf.Session(graph=imported.graph) as s2:
        got = s2.run(imported.outputs["probs"], {imported.inputs["x"]: xs})
    np.testing.assert_allclose(got, mlp_numpy(sess, graph, xs), rtol=1e-5, atol=1e-6)


def test_small_cnn_nhwc_conv_pool_dense():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(3)
        img = tf.placeholder(tf.float32, [None, 8, 8, 3], name="image")
        c = tf.layers.conv2d(img, 4, 3, padding="same", activation=tf.nn.relu)
        c = tf.layers.conv2d(c, 6, 3, strides=2, dilation_rate=1, padding="valid")
        p = tf.layers.max_pooling2d(c, 2, 1)
        a = tf.layers.average_pooling2d(p, 2, 2, padding="same")
        logits = tf.layers.dense(tf.layers.flatten(a), 3)
        sess = tf.Session()
        sess.run(tf.global_variables_initializer())
    xs = np.random.default_rng(4).standard_normal((2, 8, 8, 3)).astype(np.float32)
    model = gonnx.export({"logits": logits}, {"image": img}, session=sess)
    assert {"Conv", "MaxPool", "AveragePool", "Transpose"} <= op_types(model.graph)
    (got,) = ort_run(model, {"image": xs})
    np.testing.assert_allclose(got, sess.run(logits, {img: xs}), rtol=1e-4, atol=1e-5)


def test_grouped_dilated_channels_first_conv():
    rng = np.random.default_rng(5)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [2, 4, 7, 7], name="x")
        w = tf.constant(rng.standard_normal((3, 3, 4, 5)).astype(np.float32))
        first = tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME", data_format="NCHW",
                             dilations=[1, 1, 2, 2])
        dw = tf.constant(rng.standard_normal((3, 3, 5, 1)).astype(np.float32))
        y = tf.nn.depthwise_conv2d(tf.transpose(first, [0, 2, 3, 1]), dw, [1, 2, 2, 1],
                                   "VALID")
    xs = rng.standard_normal((2, 4, 7, 7)).astype(np.float32)
    model = gonnx.export(y, x)
    (got,) = ort_run(model, {"x": xs})
    with tf.Session(graph=graph) as sess:
        np.testing.assert_allclose(got, sess.run(y, {x: xs}), rtol=1e-4, atol=1e-5)


def test_lstm_while_loop_becomes_an_onnx_loop():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(6)
        seq = tf.placeholder(tf.float32, [None, 5, 3], name="seq")
        outputs, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.LSTMCell(4), seq, dtype=tf.float32)
        y = tf.layers.dense(outputs[:, -1], 2)
        sess = tf.Session()
        sess.run(tf.global_variables_initializer())
    xs = np.random.default_rng(7).standard_normal((3, 5, 3)).astype(np.float32)
    model = gonnx.export({"y": y, "h": state.h, "seq_out": outputs}, {"seq": seq},
                         session=sess)
    assert "Loop" in op_types(model.graph)
    got = ort_run(model, {"seq": xs})
    want = sess.run([y, state.h, outputs], {seq: xs})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_keras_lstm_with_a_defaulted_placeholder():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(9)
        seq = tf.placeholder(tf.float32, [None, 4, 3], name="seq")
        scale = tf.placeholder_with_default(tf.constant(2.0), [], name="scale")
        y = tf.keras.layers.LSTM(5)(seq) * scale
        sess = tf.Session()
        sess.run(tf.global_variables_initializer())
    xs = np.random.default_rng(10).standard_normal((2, 4, 3)).astype(np.float32)
    model = gonnx.export(y, seq, session=sess)
    assert "Loop" in op_types(model.graph) and [i.name for i in model.graph.input] == ["seq"]
    (got,) = ort_run(model, {"seq": xs})
    np.testing.assert_allclose(got, sess.run(y, {seq: xs}), rtol=1e-4, atol=1e-5)


def test_cond_becomes_an_onnx_if():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        flag = tf.placeholder(tf.bool, [], name="flag")
        y = tf.cond(flag, lambda: tf.exp(x) * 2.0, lambda: x - 1.0)
    model = gonnx.export(y, [x, flag])
    assert "If" in op_types(model.graph)
    xs = np.array([0.5, -1.0, 2.0], np.float32)
    for f in (True, False):
        (got,) = ort_run(model, {"x": xs, "flag": np.array(f)})
        np.testing.assert_allclose(got, np.exp(xs) * 2 if f else xs - 1, rtol=1e-6)


@pytest.mark.parametrize("opset", [13, 18])
def test_reductions_indexing_and_integer_ops(opset):
    rng = np.random.default_rng(8)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 6], name="x")
        k = tf.placeholder(tf.int32, [None, 6], name="k")
        fetches = {
            "max": tf.reduce_max(x, axis=1), "prod": tf.reduce_prod(x, 0, keepdims=True),
            "any": tf.reduce_any(x > 1.0, axis=1), "argmin": tf.argmin(x, axis=1),
            "rev": x[:, ::-2], "mid": x[1:, 2:-1], "pad": tf.pad(x, [[0, 1], [2, 0]]),
            "refl": tf.pad(x, [[0, 0], [1, 1]], mode="REFLECT"),
            "gather": tf.gather(x, [5, 0, 3], axis=1),
            "floordiv": k // 3, "mod": k % -4, "fmod": tf.floormod(x, 0.75),
            "where": tf.where(x > 0, x, -x), "cast": tf.cast(x * 10, tf.int32),
            "flat": tf.reshape(x, [-1]), "shape": tf.shape(x), "tile": tf.tile(x, [1, 2]),
            "sq": tf.squeeze(tf.expand_dims(x, 1), [1]), "ne": tf.not_equal(k, 2),
            "log1p": tf.log1p(tf.abs(x)), "fin": tf.is_finite(x / x),
        }
    xs = rng.standard_normal((3, 6)).astype(np.float32)
    ks = rng.integers(-9, 9, (3, 6)).astype(np.int32)
    model = gonnx.export(fetches, [x, k], opset=opset)
    assert model.opset_import[0].version == opset
    got = dict(zip(fetches, ort_run(model, {"x": xs, "k": ks})))
    with tf.Session(graph=graph) as sess:
        want = sess.run(fetches, {x: xs, k: ks})
    for key in fetches:
        assert got[key].dtype == want[key].dtype, key
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)
    np.testing.assert_array_equal(got["floordiv"], ks // 3)
    np.testing.assert_array_equal(got["mod"], ks % -4)


def test_unsupported_ops_are_all_named_at_once():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [4], name="x")
        a = tf.atan2(x, x + 1.0, name="angle")
        p = tf.pad(tf.reshape(x, [2, 2]), [[1, 1], [0, 0]], mode="SYMMETRIC", name="mirror")
    with pytest.raises(gonnx.OnnxExportError,
                       match=r"cannot export 2 op\(s\)(.|\n)*'angle' \(atan2\): primitive "
                             r"'atan2' has no ONNX mapping(.|\n)*'mirror' \(pad\): padding "
                             r"mode SYMMETRIC"):
        gonnx.export([a, p], x)


def test_random_ops_and_assignments_are_refused():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [4], name="x")
        noisy = x + tf.random_normal([4], seed=1, name="noise")
        v = tf.Variable(tf.zeros([4]), name="counter")
        bumped = tf.assign_add(v, x, name="bump")
        sess = tf.Session()
        sess.run(tf.global_variables_initializer())
    with pytest.raises(gonnx.OnnxExportError,
                       match=r"'random_normal/unit' \(random\): a random op"):
        gonnx.export(noisy, x)
    with pytest.raises(gonnx.OnnxExportError, match=r"'bump' \(assign\): an assignment"):
        gonnx.export(bumped, x, session=sess)


def test_bad_arguments_are_named():
    graph, x, probs, sess = build_mlp()
    with pytest.raises(ValueError, match=r"read variables \('hidden/kernel'.*pass session="):
        gonnx.export(probs, x)
    with pytest.raises(ValueError, match="opset must be between 13 and"):
        gonnx.export(probs, x, opset=9, session=sess)
    with graph.as_default():
        other = tf.placeholder(tf.float32, [None, 5], name="other")
        y = probs + tf.reduce_sum(other)
    with pytest.raises(gonnx.OnnxExportError,
                       match=r"'other' \(placeholder\): a placeholder that is not among"):
        gonnx.export(y, x, session=sess)
