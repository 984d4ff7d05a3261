"""Helpers of the model tests: importing torchvision, and numpy references of PyTorch's
layers in PyTorch's layouts (NCHW activations, OIHW filters), so a graphc model loaded
through graphc.models.load_weights is checked against torch's own conventions."""

from __future__ import annotations

import importlib
import sys
import types

import numpy as np
import pytest


def import_torchvision():
    """torchvision (and torch), or a skip where either is not installed.

    The model definitions are plain Python. A torchvision wheel whose compiled operators
    were built for another torch (a CUDA build beside a CPU-only torch) fails at import
    while registering those operators' shape functions; the models need none of them, so
    the import is retried without that registration."""
    pytest.importorskip("torch")
    try:
        return importlib.import_module("torchvision")
    except ImportError:
        pytest.skip("torchvision is not installed")
    except RuntimeError:
        for name in [n for n in sys.modules if n == "torchvision" or
                     n.startswith("torchvision.")]:
            del sys.modules[name]
        stub = types.ModuleType("torchvision._meta_registrations")
        sys.modules["torchvision._meta_registrations"] = stub
        return importlib.import_module("torchvision")


# --- numpy references in PyTorch's layouts -------------------------------------------------
def conv_nchw(x, w, bias=None, stride=1, padding=0, groups=1):
    """torch.nn.functional.conv2d: x (N, C, H, W), w (O, C / groups, kh, kw)."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, o, oh, ow), np.float64)
    per_group = o // groups
    for g in range(groups):
        xs = x[:, g * cg:(g + 1) * cg]
        ws = w[g * per_group:(g + 1) * per_group]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
                out[:, g * per_group:(g + 1) * per_group] += np.einsum(
                    "nchw,oc->nohw", patch, ws[:, :, i, j])
    if bias is not None:
        out += bias[None, :, None, None]
    return out


def batch_norm_nchw(x, weight, bias, mean, var, eps=1e-5):
    """torch.nn.BatchNorm2d in eval mode."""
    scale = weight / np.sqrt(var + eps)
    return (x - mean[None, :, None, None]) * scale[None, :, None, None] + \
        bias[None, :, None, None]


def max_pool_nchw(x, size, stride, padding=0):
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
               constant_values=-np.inf)
    n, c, h, w = x.shape
    oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.full((n, c, oh, ow), -np.inf)
    for i in range(size):
        for j in range(size):
            out = np.maximum(out, x[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride])
    return out


def relu(x, max_value=None):
    y = np.maximum(x, 0.0)
    return y if max_value is None else np.minimum(y, max_value)


def random_state(shapes: dict, rng) -> dict:
    """A PyTorch-style state dict of random float32 values for {name: shape}; running
    variances positive, as a trained network's are."""
    state = {}
    for name, shape in shapes.items():
        if name.endswith("running_var"):
            state[name] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:
            state[name] = (rng.standard_normal(shape) * 0.3).astype(np.float32)
    return state
