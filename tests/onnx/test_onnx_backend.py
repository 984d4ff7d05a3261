"""graphc's onnx Backend under onnx's own runner (onnx.backend.test.BackendTest), and its
run_node / supports_device entry points."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
import onnx  # noqa: E402
import onnx.backend.test  # noqa: E402
from onnx import helper  # noqa: E402

import graphc.onnx.backend as backend  # noqa: E402

# a few node cases and one stored model, run exactly as onnx's runner runs any backend
_CASES = ("test_abs", "test_add_bcast", "test_conv_with_strides_padding", "test_lstm_defaults",
          "test_if", "test_resize_upsample_scales_linear", "test_operator_add_broadcast")
_WANTED = {f"{c}_cpu" for c in _CASES}
_backend_test = onnx.backend.test.BackendTest(backend, __name__)
for _name in _CASES:
    _backend_test.include(rf"^{_name}_cpu$")
_COLLECTED = []
for _cls in _backend_test.test_cases.values():  # keep only the included tests, not the
    for _attr in [a for a in vars(_cls) if a.startswith("test_") and a not in _WANTED]:
        delattr(_cls, _attr)  # thousands of others the runner would mark skipped
    _COLLECTED += [a for a in vars(_cls) if a.startswith("test_")]
    globals()[_cls.__name__] = _cls


def test_the_runner_collected_the_cases():
    assert sorted(_COLLECTED) == sorted(_WANTED)


def test_supports_only_cpu():
    assert backend.supports_device("CPU")
    assert not backend.supports_device("CUDA")
    with pytest.raises(ValueError, match="runs on CPU"):
        backend.prepare(helper.make_model(helper.make_graph([], "g", [], [])), "CUDA")


def test_run_node():
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], alpha=2.0, transB=1)
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3), (4, 3), (4,)))
    (y,) = backend.run_node(node, [a, b, c])
    np.testing.assert_allclose(y, 2 * a @ b.T + c, rtol=1e-5, atol=1e-6)


def test_run_model_takes_a_list_a_dict_or_one_array():
    node = helper.make_node("Softplus", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", onnx.TensorProto.FLOAT, [3])], [helper.make_tensor_value_info(
            "y", onnx.TensorProto.FLOAT, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.array([-30.0, 0.0, 30.0], np.float32)
    want = np.log1p(np.exp(x.astype(np.float64))).astype(np.float32)
    rep = backend.prepare(model)
    for inputs in ([x], {"x": x}, x):
        np.testing.assert_allclose(rep.run(inputs).y, want, rtol=1e-6)
    rep.close()
