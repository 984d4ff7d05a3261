"""onnx's "light" real-network models (AlexNet, DenseNet-121, Inception v1 and v2, ResNet-50,
ShuffleNet, SqueezeNet, VGG-19, ZFNet-512 as shipped in onnx/backend/test/data/light): each
imported, compiled and run on the input onnx's backend test runner makes for it, its output
checked against the stored expected output with the tolerances onnx's model tests use.

The light models build their weights with ConstantOfShape, so the expected outputs are
constant (0.001 everywhere after the final softmax); what this proves is that every network
imports, compiles and runs end to end with the right shapes and values, not accuracy on
trained weights. Opt-in, as it takes minutes: GRAPHC_ONNX_LIGHT=1 (docs/onnx.md lists the
measured results).
"""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import numpy_helper  # noqa: E402

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
MODELS = sorted(glob.glob(os.path.join(LIGHT, "light_*.onnx")))

pytestmark = [
    pytest.mark.skipif(os.environ.get("GRAPHC_ONNX_LIGHT") != "1",
                       reason="minutes long: set GRAPHC_ONNX_LIGHT=1 to run"),
    pytest.mark.skipif(not MODELS, reason=f"this onnx package ships no light models in {LIGHT}"),
]


def tolerances() -> dict:
    """model name -> (rtol, atol), from onnx's own table of its real-model tests."""
    from onnx.backend.test.case.model import collect_testcases
    return {case.model_name: (case.rtol, case.atol) for case in collect_testcases()
            if case.kind == "real"}


def runner_input(value_info) -> np.ndarray:
    """The input onnx's backend runner generates for a light model: arange(n) / n in the
    declared shape, symbolic dims 1, float32."""
    shape = tuple(d.dim_value if d.HasField("dim_value") else 1
                  for d in value_info.type.tensor_type.shape.dim)
    n = int(np.prod(shape))
    return (np.arange(n).reshape(shape) / n).astype(np.float32)


def stored_outputs(path: str) -> list:
    outputs, i = [], 0
    while os.path.exists(f"{path[:-5]}_output_{i}.pb"):
        tensor = onnx.TensorProto()
        with open(f"{path[:-5]}_output_{i}.pb", "rb") as f:
            tensor.ParseFromString(f.read())
        outputs.append(numpy_helper.to_array(tensor))
        i += 1
    return outputs


@pytest.mark.parametrize("path", MODELS, ids=lambda p: os.path.basename(p)[6:-5])
def test_light_model_reproduces_its_stored_outputs(path):
    import graphc.onnx
    name = os.path.basename(path)[len("light_"):-len(".onnx")]
    rtol, atol = tolerances().get(name, (1e-3, 1e-7))
    model = graphc.onnx.load(path)
    feeds = {vi.name: runner_input(vi) for vi in model.proto.graph.input
             if vi.name in model.input_names}
    expected = stored_outputs(path)
    assert expected, f"no stored output beside {path}"
    got = model(**feeds)
    for want, value in zip(expected, got):
        assert value.shape == want.shape
        np.testing.assert_allclose(value, want, rtol=rtol, atol=atol)
