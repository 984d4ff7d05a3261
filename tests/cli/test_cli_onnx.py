"""`graphc compile MODEL.onnx` and `graphc bench MODEL.onnx`: an ONNX file on the command line,
checked against onnx's reference evaluator and, where installed, onnxruntime."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from cli_support import graphc

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)")


def mlp_model(path, batch="N"):
    """x (batch, 4) -> Gemm 4x8 -> Relu -> MatMul 8x3 + bias -> Softmax, weights seeded."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 8)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b1"),
             numpy_helper.from_array(rng.standard_normal((8, 3)).astype(np.float32), "w2"),
             numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "b2")]
    nodes = [helper.make_node("Gemm", ["input.1", "w1", "b1"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["m"]),
             helper.make_node("Add", ["m", "b2"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [batch, 4])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, 3]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return model


@needs_cc
def test_compile_an_onnx_model_keeps_its_symbolic_batch(tmp_path):
    import graphc as tf
    model = mlp_model(tmp_path / "mlp.onnx")
    out = tmp_path / "out"
    result = graphc("compile", tmp_path / "mlp.onnx", "-o", out, "--name", "mlp", "--cpu",
                    "generic", "--threads", "1")
    assert result.code == 0, result
    assert result.out.split() == [str(out / f) for f in
                                  ("libmlp.so", "libmlp.a", "mlp.h", "mlp.json")]
    header = (out / "mlp.h").read_text()
    assert "input_1" in header and "probs" in header  # ONNX names made C identifiers
    lib = tf.load(out / "libmlp.so")
    assert [p.name for p in lib.inputs] == ["input_1"]
    assert [p.name for p in lib.outputs] == ["probs", "logits"]
    reference = ReferenceEvaluator(model)
    rng = np.random.default_rng(1)
    for batch in (1, 5):
        x = rng.standard_normal((batch, 4)).astype(np.float32)
        probs, logits = lib(x)
        want_probs, want_logits = reference.run(None, {"input.1": x})
        np.testing.assert_allclose(probs, want_probs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(logits, want_logits, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"input input_1 must have shape \['batch', 4\], "
                       r"got \[2, 5\]"):
        lib(np.ones((2, 5), np.float32))  # checked at call time, as every export is


@needs_cc
def test_compile_an_onnx_model_with_a_fixed_batch_size(tmp_path):
    import graphc as tf
    model = mlp_model(tmp_path / "mlp.onnx")
    out = tmp_path / "out"
    result = graphc("compile", tmp_path / "mlp.onnx", "-o", out, "--cpu", "generic",
                    "--threads", "1", "--batch-size", "3")
    assert result.code == 0, result
    lib = tf.load(out)
    assert lib.inputs[0].shape == (3, 4)
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(lib(x)[0], ReferenceEvaluator(model).run(None, {"input.1": x})[0],
                               rtol=1e-5, atol=1e-6)


def test_compile_refuses_a_missing_or_corrupt_onnx_file(tmp_path):
    assert graphc("compile", tmp_path / "none.onnx", "-o", tmp_path / "o").user_error(
        "compile", "no such ONNX model file", "none.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07\x12\x03abc not a model")
    assert graphc("compile", tmp_path / "bad.onnx", "-o", tmp_path / "o").user_error(
        "compile", "bad.onnx: cannot import the ONNX model")


def test_bench_an_onnx_model_alone_with_sized_dims(tmp_path):
    mlp_model(tmp_path / "mlp.onnx")
    result = graphc("bench", tmp_path / "mlp.onnx", "--dim", "N=2", "--compare", "none",
                    "--repeat", "2", "--warmup", "0", "--threads", "1", "--json",
                    tmp_path / "run.json")
    assert result.code == 0, result
    doc = json.loads((tmp_path / "run.json").read_text())
    rows = [r for r in doc["results"] if r["system"] == "graphc"]
    assert [r["case"] for r in rows] == ["onnx mlp.onnx N=2"]
    assert "--dim N=2" in doc["command"]


def test_bench_compares_an_onnx_model_with_onnxruntime(tmp_path):
    pytest.importorskip("onnxruntime")
    mlp_model(tmp_path / "mlp.onnx")
    result = graphc("bench", tmp_path / "mlp.onnx", "--compare", "onnxruntime", "--repeat", "2",
                    "--warmup", "0", "--threads", "1", "--json", tmp_path / "run.json")
    assert result.code == 0, result
    doc = json.loads((tmp_path / "run.json").read_text())
    ort = [r for r in doc["results"] if r["system"] == "onnxruntime"]
    assert len(ort) == 1 and ort[0]["case"] == "onnx mlp.onnx N=1"  # symbolic dims: 1
    assert ort[0]["agrees_with_graphc"] is True and ort[0]["max_abs_diff"] < 1e-5


def test_bench_refuses_an_unknown_dim_and_a_bad_dim_option(tmp_path):
    mlp_model(tmp_path / "mlp.onnx")
    assert graphc("bench", tmp_path / "mlp.onnx", "--dim", "batch=2", "--compare",
                  "none").user_error("bench", "--dim batch=2", "symbolic dims are N")
    assert graphc("bench", tmp_path / "mlp.onnx", "--dim", "N=x", "--compare",
                  "none").user_error("bench", "--dim 'N=x'", "NAME=SIZE")
    assert graphc("bench", tmp_path / "none.onnx", "--compare", "none").user_error(
        "bench", "no ONNX model file")
