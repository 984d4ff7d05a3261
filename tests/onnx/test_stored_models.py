"""ONNX models kept whole in the disk cache (graphc/onnx/stored.py, runtime/plan_store.py):
a second load of the same file runs the stored plan without parsing, to the same numbers;
anything changed, damaged or not storable compiles as a first load does."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import graphc  # noqa: E402
from graphc import onnx as gonnx  # noqa: E402
from graphc.errors import InvalidArgumentError  # noqa: E402
from graphc.runtime.cache import CodeCache  # noqa: E402

RNG = np.random.default_rng(3)
W = RNG.standard_normal((6, 4)).astype(np.float32)
B = RNG.standard_normal(4).astype(np.float32)
TABLE = RNG.standard_normal((5, 4)).astype(np.float32)


def model(scale: float = 1.0, batch=2):
    """relu(x @ W + B) * scale, and rows of TABLE gathered by the int64 input `ids`."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"]),
             helper.make_node("Add", ["xw", "b"], ["z"]),
             helper.make_node("Relu", ["z"], ["r"]),
             helper.make_node("Mul", ["r", "s"], ["y"]),
             helper.make_node("Gather", ["table", "ids"], ["rows"], name="lookup")]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 6]),
         helper.make_tensor_value_info("ids", TensorProto.INT64, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4]),
         helper.make_tensor_value_info("rows", TensorProto.FLOAT, [3, 4])],
        [numpy_helper.from_array(W, "w"), numpy_helper.from_array(B, "b"),
         numpy_helper.from_array(np.array(scale, np.float32), "s"),
         numpy_helper.from_array(TABLE, "table")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def reference(x, ids, scale=1.0):
    return [np.maximum(x @ W + B, 0) * scale, TABLE[ids]]


@pytest.fixture
def options(tmp_path):
    return graphc.Options(cache_dir=str(tmp_path / "cache"))


def write(path, proto) -> str:
    path.write_bytes(proto.SerializeToString())
    return str(path)


X = RNG.standard_normal((2, 6)).astype(np.float32)
IDS = np.array([4, 0, 2], np.int64)


def close(got, want):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_second_load_runs_the_stored_plan_without_parsing(tmp_path, options):
    path = write(tmp_path / "m.onnx", model())
    first = gonnx.load(path, options=options)
    close(first(X, IDS), reference(X, IDS))
    assert first._proto is not None
    blobs = os.listdir(tmp_path / "cache" / "plans")
    assert len(blobs) == 1 and blobs[0].endswith(".bin")
    again = gonnx.load(path, options=options)
    assert again._proto is None and again.input_names == ["x", "ids"]
    assert again.output_names == ["y", "rows"]
    for _ in range(2):
        x = RNG.standard_normal((2, 6)).astype(np.float32)
        close(again(x, IDS), reference(x, IDS))
        close(again.run({"x": x, "ids": IDS}).values(), reference(x, IDS))
    assert again._proto is None  # never parsed
    # another signature (batch 3): parsed and compiled then
    x3 = RNG.standard_normal((3, 6)).astype(np.float32)
    with pytest.raises(Exception):  # the model declares batch 2: the usual error
        again(x3, IDS)
    assert again._proto is not None


def test_a_fresh_process_uses_the_stored_plan(tmp_path, options):
    path = write(tmp_path / "m.onnx", model(scale=2.0))
    close(gonnx.load(path, options=options)(X, IDS), reference(X, IDS, 2.0))
    np.save(tmp_path / "x.npy", X)
    script = (
        "import sys, numpy as np, graphc\n"
        "from graphc import onnx as gonnx\n"
        f"m = gonnx.load({path!r}, options=graphc.Options(cache_dir={str(tmp_path / 'cache')!r}))\n"
        f"y, rows = m(np.load({str(tmp_path / 'x.npy')!r}), np.array([4, 0, 2]))\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, y)\n"
        "print('parsed' if m._proto is not None else 'stored')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "stored"
    close([np.load(tmp_path / "y.npy")], reference(X, IDS, 2.0)[:1])


def test_a_changed_file_is_another_model(tmp_path, options):
    path = tmp_path / "m.onnx"
    write(path, model(scale=1.0))
    close(gonnx.load(str(path), options=options)(X, IDS), reference(X, IDS, 1.0))
    write(path, model(scale=3.0))  # same name, other weights
    changed = gonnx.load(str(path), options=options)
    assert changed._proto is not None
    close(changed(X, IDS), reference(X, IDS, 3.0))


@pytest.mark.parametrize("damage", ["flip", "truncate", "remove"])
def test_damaged_constants_compile_again_to_the_right_numbers(tmp_path, options, damage):
    path = write(tmp_path / "m.onnx", model())
    gonnx.load(path, options=options)(X, IDS)
    (blob,) = (tmp_path / "cache" / "plans").iterdir()
    data = bytearray(blob.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
        blob.write_bytes(bytes(data))
    elif damage == "truncate":
        blob.write_bytes(bytes(data[:-8]))
    else:
        blob.unlink()
    again = gonnx.load(path, options=options)
    close(again(X, IDS), reference(X, IDS))
    assert again._proto is not None  # compiled, not run from the damaged store


def test_a_failing_check_in_a_stored_plan_names_the_node(tmp_path, options):
    path = write(tmp_path / "m.onnx", model())
    gonnx.load(path, options=options)(X, IDS)
    again = gonnx.load(path, options=options)
    with pytest.raises(InvalidArgumentError, match=r"lookup.*out of range|out of range"):
        again(X, np.array([4, 9, 2], np.int64))
    assert again._proto is None
    close(again(X, IDS), reference(X, IDS))  # the next call is fine


def test_feeds_are_checked_before_the_stored_plan_runs(tmp_path, options):
    path = write(tmp_path / "m.onnx", model())
    gonnx.load(path, options=options)(X, IDS)
    again = gonnx.load(path, options=options)
    plan = again._stored_plan({"x": X, "ids": IDS})
    with pytest.raises(ValueError, match=r"Cannot feed value of shape \(3, 6\) to input 'x'"):
        plan.run({"x": np.zeros((3, 6), np.float32), "ids": IDS})
    with pytest.raises(TypeError, match="Cannot feed value of dtype float64 to input 'ids'"):
        plan.run({"x": X, "ids": IDS + 0.5})


def test_models_not_stored(tmp_path, options):
    proto = model()
    assert gonnx.load(proto, options=options)(X, IDS) is not None  # a ModelProto
    assert not (tmp_path / "cache" / "plans").exists()
    # a model whose input decides a shape (Reshape's target): compiled per value, not stored
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6]),
         helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = write(tmp_path / "r.onnx", helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)]))
    got = gonnx.load(path, options=options)(X, np.array([3, 4], np.int64))
    np.testing.assert_array_equal(got[0], X.reshape(3, 4))
    assert not (tmp_path / "cache" / "plans").exists()
    assert gonnx.load(path, options=options)._proto is not None


def test_cache_clear_removes_stored_plans(tmp_path, options):
    path = write(tmp_path / "m.onnx", model())
    gonnx.load(path, options=options)(X, IDS)
    cache = CodeCache(str(tmp_path / "cache"))
    assert cache.info()["entries"] >= 3  # object code, manifest, interface, constants
    cache.clear()
    assert not (tmp_path / "cache" / "plans").exists()
    assert gonnx.load(path, options=options)._proto is not None


def test_narrow_integer_inputs_and_outputs_run_stored(tmp_path, options):
    """uint8 in and out (graphc's importer carries them in int32): the stored plan converts
    as the first load did, wrapping included."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["img", "img"], ["twice"]),
         helper.make_node("Cast", ["twice"], ["f"], to=TensorProto.FLOAT)], "g",
        [helper.make_tensor_value_info("img", TensorProto.UINT8, [4])],
        [helper.make_tensor_value_info("twice", TensorProto.UINT8, [4]),
         helper.make_tensor_value_info("f", TensorProto.FLOAT, [4])])
    path = write(tmp_path / "u8.onnx", helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)]))
    pixels = np.array([0, 100, 128, 255], np.uint8)
    want = (pixels * 2).astype(np.uint8)  # wraps: 128 * 2 = 0, 255 * 2 = 254
    first = gonnx.load(path, options=options)(pixels)
    again = gonnx.load(path, options=options)
    assert again._proto is None
    for got in (first, again(pixels)):
        assert got[0].dtype == np.uint8 and got[0].tolist() == want.tolist()
        assert got[1].tolist() == want.astype(np.float32).tolist()


def batched_model(scale: float):
    """relu(x @ W + B) * scale with a symbolic batch."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"]),
             helper.make_node("Add", ["xw", "b"], ["z"]),
             helper.make_node("Relu", ["z"], ["r"]),
             helper.make_node("Mul", ["r", "s"], ["y"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(W, "w"), numpy_helper.from_array(B, "b"),
         numpy_helper.from_array(np.array(scale, np.float32), "s")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_file_rewritten_after_loading_is_parsed_as_it_is_now_and_not_stored_as_before(
        tmp_path, options):
    path = tmp_path / "m.onnx"
    write(path, batched_model(1.0))
    gonnx.load(str(path), options=options)(X)  # stored for batch 2
    model = gonnx.load(str(path), options=options)  # the stored interface: not parsed yet
    assert model._proto is None
    write(path, batched_model(3.0))  # rewritten before a new signature needs the model
    x3 = RNG.standard_normal((3, 6)).astype(np.float32)
    close(model(x3), reference(x3, IDS, 3.0)[:1])  # the file as it is now
    write(path, batched_model(1.0))  # the first bytes again: batch 3 was not stored for them
    again = gonnx.load(str(path), options=options)
    close(again(x3), reference(x3, IDS, 1.0)[:1])
    assert again._proto is not None


def test_a_plan_stored_beside_another_library_is_not_used(tmp_path, options, monkeypatch):
    """Stored plans call the shared GEMM library, whose arguments change with its source:
    a plan stored beside another library's source is a miss (one from before the GEMM took
    its prepacked-B argument crashed the process)."""
    path = write(tmp_path / "m.onnx", model())
    close(gonnx.load(path, options=options)(X, IDS), reference(X, IDS))
    assert gonnx.load(path, options=options)._proto is None  # the stored plan
    from graphc.codegen_llvm import library
    monkeypatch.setattr(library, "source_digest", lambda: "another library's source")
    again = gonnx.load(path, options=options)
    assert again._proto is not None  # parsed and compiled again
    close(again(X, IDS), reference(X, IDS))
