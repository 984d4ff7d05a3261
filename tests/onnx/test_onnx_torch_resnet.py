"""A ResNet-18 written with torch.nn (torchvision's layout: a 7x7 stem, max pool, four stages
of two basic blocks with 1x1 projection shortcuts, global average pool, a 1000-way linear
layer), exported by torch.onnx and imported by graphc, against onnxruntime on the same file.

Weights are torch's seeded initialization with random batch-norm statistics, so every
batch norm does real work; the input is 64x64 (the network is the same, the test fast).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


def resnet18():
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return torch.relu(y + (x if self.downsample is None else self.downsample(x)))

    stages = [BasicBlock(cin, cout, stride) for cin, cout, stride in
              ((64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1),
               (128, 256, 2), (256, 256, 1), (256, 512, 2), (512, 512, 1))]
    model = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                          nn.MaxPool2d(3, 2, 1), *stages, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(512, 1000))
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)
    return model.eval()


def export_resnet18(path, size=64):
    torch.manual_seed(0)
    model = resnet18()
    x = torch.randn(1, 3, size, size)
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated in torch >= 2.9
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), input_names=["image"],
                          output_names=["logits"], opset_version=17, dynamo=False)
    return x.numpy()


def test_torch_resnet18_matches_onnxruntime(tmp_path):
    import graphc.onnx
    path = tmp_path / "resnet18.onnx"
    export_resnet18(path)
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    (want,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"image": x})
    with graphc.onnx.load(path) as model:
        (got,) = model(x)
    assert got.shape == (1, 1000)
    scale = float(np.abs(want).max())
    assert scale > 0.1  # the network computes something, not zeros
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)
