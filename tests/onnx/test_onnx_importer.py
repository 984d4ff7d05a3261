"""graphc.onnx.import_model and load on models built with onnx.helper, against numpy."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import graphc as tf  # noqa: E402
from graphc import onnx as gonnx  # noqa: E402


def mlp_model(batch="N", opset=17):
    """y = relu(x @ w + b) @ w2, with a symbolic batch dimension."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    w2 = rng.standard_normal((3, 2)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"], name="mm1"),
             helper.make_node("Add", ["xw", "b"], ["h"], name="add"),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("MatMul", ["r", "w2"], ["y"], name="mm2")]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 2])],
        [numpy_helper.from_array(v, n) for v, n in ((w, "w"), (b, "b"), (w2, "w2"))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return model, (w, b, w2)


def mlp_numpy(x, w, b, w2):
    return np.maximum(x @ w + b, 0) @ w2


def test_import_model_names_inputs_and_outputs_and_keeps_symbolic_dims():
    model, params = mlp_model()
    imported = gonnx.import_model(model)
    assert list(imported.inputs) == ["x"] and list(imported.outputs) == ["y"]
    assert imported.inputs["x"].shape.as_list() == [None, 4]
    assert imported.outputs["y"].shape.as_list() == [None, 2]
    assert imported.opset == 17
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    with tf.Session(graph=imported.graph) as sess:
        y = sess.run(imported.outputs["y"], {imported.inputs["x"]: x})
    np.testing.assert_allclose(y, mlp_numpy(x, *params), rtol=1e-5, atol=1e-6)


def test_load_runs_every_batch_size(tmp_path):
    model, params = mlp_model()
    path = tmp_path / "mlp.onnx"
    onnx.save(model, str(path))
    run = gonnx.load(str(path))
    assert run.input_names == ["x"] and run.output_names == ["y"]
    rng = np.random.default_rng(2)
    for n in (1, 3):
        x = rng.standard_normal((n, 4)).astype(np.float32)
        (y,) = run(x)
        np.testing.assert_allclose(y, mlp_numpy(x, *params), rtol=1e-5, atol=1e-6)
    assert run.run({"x": x})["y"].shape == (3, 2)
    run.close()


def test_initializers_as_variables_can_be_fine_tuned():
    model, (w, b, w2) = mlp_model()
    imported = gonnx.import_model(model, initializers="variables")
    assert sorted(v.name.split(":")[0] for v in imported.variables) == ["b", "w", "w2"]
    x = np.random.default_rng(3).standard_normal((6, 4)).astype(np.float32)
    with imported.graph.as_default():
        loss = tf.reduce_mean(tf.square(imported.outputs["y"]))
        step = tf.train.GradientDescentOptimizer(0.05).minimize(loss)
    with tf.Session(graph=imported.graph) as sess:
        sess.run(imported.initializer)
        before = sess.run(loss, {imported.inputs["x"]: x})
        np.testing.assert_allclose(before, np.mean(mlp_numpy(x, w, b, w2) ** 2), rtol=1e-5)
        for _ in range(5):
            sess.run(step, {imported.inputs["x"]: x})
        after = sess.run(loss, {imported.inputs["x"]: x})
    assert after < before


def test_external_data_model_loads(tmp_path):
    model, params = mlp_model()
    path = tmp_path / "ext.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    assert (tmp_path / "weights.bin").exists()
    x = np.ones((2, 4), np.float32)
    (y,) = gonnx.load(str(path))(x)
    np.testing.assert_allclose(y, mlp_numpy(x, *params), rtol=1e-5, atol=1e-6)
    # a ModelProto read without its data finds it through base_dir
    bare = onnx.load(str(path), load_external_data=False)
    (y2,) = gonnx.load(bare, base_dir=str(tmp_path))(x)
    np.testing.assert_allclose(y2, y)


def test_constants_fix_an_input_that_decides_a_shape():
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"]),
             helper.make_node("Tile", ["y", "reps"], ["z"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6]),
                     helper.make_tensor_value_info("shape", TensorProto.INT64, [2]),
                     helper.make_tensor_value_info("reps", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(gonnx.ConstantInputError, match=r"repeats 'reps' must be known") as e:
        gonnx.import_model(model)
    assert e.value.names == ("reps",)
    imported = gonnx.import_model(model, constants={"reps": np.array([2, 1])})
    assert list(imported.inputs) == ["x", "shape"]
    x = np.arange(6, dtype=np.float32)
    with tf.Session(graph=imported.graph) as sess:
        z = sess.run(imported.outputs["z"], {imported.inputs["x"]: x,
                                             imported.inputs["shape"]: np.array([2, 3])})
    np.testing.assert_array_equal(z, np.tile(x.reshape(2, 3), (2, 1)))
    # load() binds such inputs per call, one compiled plan per value
    run = gonnx.load(model)
    (z1,) = run(x, np.array([3, 2]), np.array([1, 2]))
    np.testing.assert_array_equal(z1, np.tile(x.reshape(3, 2), (1, 2)))


def test_softmax_before_opset_13_coerces_to_2d():
    x = np.random.default_rng(4).standard_normal((2, 3, 4)).astype(np.float32)

    def softmax_model(opset):
        node = helper.make_node("Softmax", ["x"], ["y"], axis=1)
        graph = helper.make_graph([node], "s", [helper.make_tensor_value_info(
            "x", TensorProto.FLOAT, [2, 3, 4])], [helper.make_tensor_value_info(
                "y", TensorProto.FLOAT, [2, 3, 4])])
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    (old,) = gonnx.load(softmax_model(11))(x)
    flat = x.reshape(2, 12)
    want_old = (np.exp(flat) / np.exp(flat).sum(1, keepdims=True)).reshape(2, 3, 4)
    np.testing.assert_allclose(old, want_old, rtol=1e-5)
    (new,) = gonnx.load(softmax_model(13))(x)
    np.testing.assert_allclose(new, np.exp(x) / np.exp(x).sum(1, keepdims=True), rtol=1e-5)


def test_narrow_integers_wrap_as_their_own_type():
    node_add = helper.make_node("Add", ["a", "b"], ["s"])
    node_div = helper.make_node("Div", ["s", "two"], ["q"])
    graph = helper.make_graph(
        [node_add, node_div], "u8",
        [helper.make_tensor_value_info(n, TensorProto.UINT8, [3]) for n in ("a", "b")],
        [helper.make_tensor_value_info("q", TensorProto.UINT8, [3])],
        [numpy_helper.from_array(np.array(2, np.uint8), "two")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    a, b = np.array([200, 10, 255], np.uint8), np.array([100, 20, 1], np.uint8)
    (q,) = gonnx.load(model)(a, b)
    assert q.dtype == np.uint8
    np.testing.assert_array_equal(q, (a + b) // 2)  # 300 wraps to 44 before the division


def test_if_and_loop_run_as_graphc_regions():
    then_g = helper.make_graph([helper.make_node("Mul", ["x", "x"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, [3])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, [3])])
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]),
         helper.make_node("Add", ["acc", "y"], ["acc_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [3])])
    nodes = [helper.make_node("If", ["p"], ["y"], then_branch=then_g, else_branch=else_g),
             helper.make_node("Loop", ["n", "", "x"], ["z"], body=body)]
    graph = helper.make_graph(
        nodes, "cf", [helper.make_tensor_value_info("p", TensorProto.BOOL, []),
                      helper.make_tensor_value_info("x", TensorProto.FLOAT, [3]),
                      helper.make_tensor_value_info("n", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    imported = gonnx.import_model(model)
    x = np.array([1.0, -2.0, 3.0], np.float32)
    with tf.Session(graph=imported.graph) as sess:
        for p, n in ((True, 3), (False, 2)):
            z = sess.run(imported.outputs["z"], {imported.inputs["p"]: p,
                                                 imported.inputs["x"]: x,
                                                 imported.inputs["n"]: n})
            y = x * x if p else -x
            np.testing.assert_allclose(z, x + n * y)


def test_supported_ops_cover_more_than_120_onnx_ops():
    ops = gonnx.supported_ops()
    assert len(ops) >= 120
    for op in ("Conv", "LSTM", "Resize", "Loop", "Scan", "If", "Attention", "TopK"):
        assert op in ops
