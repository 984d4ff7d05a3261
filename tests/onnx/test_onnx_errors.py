"""Bad ONNX input: clear errors that name what is wrong and where, before anything runs."""

from __future__ import annotations

import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from graphc import onnx as gonnx  # noqa: E402


def small_model():
    w = numpy_helper.from_array(np.ones((3, 2), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_truncated_file_is_a_model_file_error(tmp_path):
    data = small_model().SerializeToString()
    for cut in (len(data) // 3, len(data) - 7, 5):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(data[:cut])
        with pytest.raises(gonnx.ModelFileError, match=r"truncated|corrupt|not an ONNX"):
            gonnx.import_model(str(path))
    with pytest.raises(gonnx.ModelFileError, match="no ONNX model file"):
        gonnx.load(str(tmp_path / "missing.onnx"))
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(gonnx.ModelFileError, match="has no graph"):
        gonnx.import_model(str(tmp_path / "empty.onnx"))


def test_every_unsupported_op_is_listed_with_its_node_name():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="ok"),
             helper.make_node("NonZero", ["r"], ["nz"], name="where_nonzero"),
             helper.make_node("FancyOp", ["r"], ["f"], name="mystery", domain="my.domain"),
             helper.make_node("Resize", ["x", "", "scales"], ["big"], name="resize_cubic",
                              mode="lanczos")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("f", "big")] +
        [helper.make_tensor_value_info("nz", TensorProto.INT64, None)],
        [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19),
                                                    helper.make_opsetid("my.domain", 1)])
    with pytest.raises(gonnx.UnsupportedModelError) as e:
        gonnx.import_model(model)
    text = str(e.value)
    assert "3 thing(s)" in text
    assert "node 'where_nonzero' (NonZero): graphc has no converter for op NonZero" in text
    assert "node 'mystery' (FancyOp): graphc has no converter for op FancyOp of domain " \
           "'my.domain'" in text
    assert "node 'resize_cubic' (Resize): attribute mode='lanczos' is not supported" in text
    assert [p[0] for p in e.value.problems] == ["where_nonzero", "mystery", "resize_cubic"]


def test_unsupported_element_type_is_named():
    graph = helper.make_graph(
        [helper.make_node("Abs", ["x"], ["y"], name="abs")], "g",
        [helper.make_tensor_value_info("x", TensorProto.COMPLEX64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.COMPLEX64, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(gonnx.UnsupportedModelError, match=r"node 'abs' \(Abs\): tensor 'x' "
                                                          r"has element type complex64"):
        gonnx.load(model)


def test_declared_shape_contradicting_an_initializer():
    model = small_model()
    # the initializer w is (3, 2); declare it as a graph input of shape (4, 2)
    model.graph.input.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 2]))
    with pytest.raises(gonnx.OnnxImportError, match=r"initializer 'w' has shape \[3, 2\] but "
                                                    r"the graph declares input 'w' with shape "
                                                    r"\[4, 2\]"):
        gonnx.import_model(model)


def test_declared_output_shape_contradicting_the_computed_one():
    model = small_model()
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 5
    with pytest.raises(gonnx.OnnxImportError,
                       match=r"node 'mm' \(MatMul, opset 17\): output 'y' has shape \(1, 2\) "
                             r"in graphc but the model declares \[1, 5\]"):
        gonnx.import_model(model)


def test_a_computed_input_where_a_constant_is_needed():
    graph = helper.make_graph(
        [helper.make_node("Pad", ["x", "pads"], ["y"], name="pad")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2]),
         helper.make_tensor_value_info("pads", TensorProto.INT64, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(gonnx.ConstantInputError,
                       match=r"node 'pad' \(Pad\): its pads 'pads' must be known when the "
                             r"model is imported .* graph input\(s\) \['pads'\]"):
        gonnx.import_model(model)
    # load() imports it once the pads are known: at the first call
    (y,) = gonnx.load(model)(np.ones((2, 2), np.float32), np.array([0, 1, 0, 1]))
    np.testing.assert_array_equal(y, np.pad(np.ones((2, 2)), [(0, 0), (1, 1)]))


def test_wrong_arguments_are_named():
    with pytest.raises(TypeError, match="path, bytes or onnx.ModelProto"):
        gonnx.import_model(42)
    with pytest.raises(ValueError, match="initializers must be 'constants' or 'variables'"):
        gonnx.import_model(small_model(), initializers="frozen")
    with pytest.raises(gonnx.OnnxImportError, match=r"not inputs of the model .*\['x'\]"):
        gonnx.import_model(small_model(), constants={"z": np.zeros(3)})
    run = gonnx.load(small_model())
    with pytest.raises(KeyError, match=r"missing \['x'\]"):
        run.run({})


def test_missing_onnx_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install graphc\[onnx\]"):
        gonnx.import_model(b"")
