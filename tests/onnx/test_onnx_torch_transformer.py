"""The W6 Transformer encoder layer (graphc/bench/transformer.py: post-LN, ReLU feed-forward,
no mask) as torch.nn.TransformerEncoderLayer, exported by torch.onnx and imported by graphc,
against onnxruntime on the same file and against numpy's version of W6. Small sizes here;
`graphc bench` times the full one."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from graphc.bench.transformer import (  # noqa: E402
    torch_encoder_layer,
    transformer_arrays,
    transformer_numpy,
)


class _Layer(torch.nn.Module):
    """The layer called with a Python is_causal (torch's tracer otherwise passes a tensor
    where scaled_dot_product_attention wants a bool)."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x, is_causal=False)


@pytest.mark.parametrize("batch", [1, 3])
def test_torch_transformer_layer_matches_onnxruntime(tmp_path, batch):
    import graphc.onnx
    arrays = transformer_arrays(batch=2, seq=16, d_model=32, heads=4, d_ff=64)
    path = tmp_path / "w6.onnx"
    module = _Layer(torch_encoder_layer(torch, arrays))
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated in torch >= 2.9
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.from_numpy(arrays["x"]),), str(path),
                          input_names=["x"], output_names=["y"], opset_version=17,
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                          dynamo=False)
    x = np.random.default_rng(batch).standard_normal((batch, 16, 32)).astype(np.float32)
    (want,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})
    with graphc.onnx.load(path) as model:
        (got,) = model(x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # and W6's own numpy definition, on the arrays' input
    with graphc.onnx.load(path) as model:
        (got,) = model(arrays["x"])
    np.testing.assert_allclose(got, transformer_numpy(arrays)(), rtol=1e-4, atol=1e-5)

