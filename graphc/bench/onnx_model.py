"""`graphc bench MODEL.onnx [--dim NAME=SIZE ...]`: an ONNX model file, imported into graphc
(graphc/onnx) and timed beside onnxruntime running the same file.

Inputs are random with the model's shapes, seeded: floats standard normal, integers in
[0, 10), booleans either. A symbolic dim takes its --dim size, else 1 (an unnamed unknown
dim is 1). graphc fetches every output; the comparison of results covers all of them.
"""

from __future__ import annotations

import os

import numpy as np

from graphc.bench.adhoc import BenchError
from graphc.bench.workloads import Case


def parse_dims(items: list) -> dict:
    """{'N': 2} from ['N=2']."""
    dims = {}
    for item in items or []:
        name, sep, size = item.partition("=")
        if not sep or not name or not size.isdigit() or int(size) < 1:
            raise BenchError(f"cannot read --dim {item!r}: expected NAME=SIZE with a positive "
                             f"size, like --dim batch=8")
        dims[name] = int(size)
    return dims


def onnx_case(path: str, dims: dict) -> Case:
    """The case of the ONNX model at `path`, its symbolic dims sized by `dims`."""
    from graphc.onnx import model_file
    from graphc.onnx.importer import import_model
    try:
        proto = model_file.read_model(path)
    except ImportError as err:
        raise BenchError(f"{path}: {err}") from err
    except ValueError as err:  # no such file, a truncated or corrupt one
        raise BenchError(f"{path}: {err}") from err
    inits = {t.name for t in proto.graph.initializer}
    inputs = [vi for vi in proto.graph.input if vi.name not in inits]
    symbols = sorted({d.dim_param for vi in inputs for d in _dims(vi) if d.dim_param})
    unknown = sorted(set(dims) - set(symbols))
    if unknown:
        raise BenchError(f"--dim {' '.join(f'{n}={dims[n]}' for n in unknown)}: the model's "
                         f"symbolic dims are {', '.join(symbols) or 'none'}")
    rng = np.random.default_rng(0)
    arrays = {vi.name: _random(vi, dims, rng) for vi in inputs}
    sizes = " ".join(f"{name}={dims.get(name, 1)}" for name in symbols)
    case = Case("onnx", f"onnx {os.path.basename(path)} {sizes}".strip(), arrays,
                list(arrays), None, params={"model": proto})

    def build(tf):
        try:
            imported = import_model(proto, graph=tf.get_default_graph(),
                                    input_shapes={n: a.shape for n, a in arrays.items()})
        except ValueError as err:  # unsupported ops, inputs that must be constants
            raise BenchError(f"{path}: cannot import the ONNX model: {err}") from err
        outputs = list(imported.outputs.values())
        return (outputs[0] if len(outputs) == 1 else outputs), list(imported.inputs.values())

    case.build = build
    return case


def _dims(vi) -> list:
    t = vi.type.tensor_type
    return list(t.shape.dim) if t.HasField("shape") else []


def _random(vi, dims: dict, rng) -> np.ndarray:
    from graphc.onnx import registry
    elem = vi.type.tensor_type.elem_type
    dtype = registry.numpy_dtype(elem) if elem else None
    if dtype is None:
        raise BenchError(f"input '{vi.name}' is not a tensor of a numeric type; graphc bench "
                         "feeds random tensors")
    shape = tuple(d.dim_value if d.HasField("dim_value") else dims.get(d.dim_param, 1)
                  for d in _dims(vi))
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    return rng.integers(0, 10, shape).astype(dtype)

