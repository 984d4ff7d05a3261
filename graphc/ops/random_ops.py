"""Random tensors with TF1 seeding: a graph-level seed (tf.set_random_seed) plus an op seed.

With either seed set, a fresh Session replays the same sequence; with neither, the op's seeds
are None and each Session seeds it from the operating system, so a new Session gives a new
sequence (as in TF1). Each run of the op gives new values.
"""

from __future__ import annotations

from graphc.errors import DTypeError
from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.ops.array_ops import shape_argument
from graphc.ops.math_ops import add, multiply

DEFAULT_GRAPH_SEED = 87654321


def set_random_seed(seed) -> None:
    """Set the graph-level seed of the default graph."""
    get_default_graph().seed = None if seed is None else int(seed)


def get_seed(op_seed=None):
    """The (graph seed, op seed) pair an op is built with, as TF1 derives it; (None, None)
    when neither is set (the runtime then seeds the op afresh in each Session)."""
    graph = get_default_graph()
    if graph.seed is not None:
        return graph.seed, int(op_seed) if op_seed is not None else graph.next_op_seed()
    if op_seed is not None:
        return DEFAULT_GRAPH_SEED, int(op_seed)
    return None, None


def _random(distribution, shape, dtype, seed, name, minval=0, maxval=1):
    from graphc.ops.tensor import make_tensor
    dims, dynamic = shape_argument(shape, name)
    seed, seed2 = get_seed(seed)
    attrs = {"distribution": distribution, "dtype": dtypes.as_dtype(dtype), "shape": dims,
             "seed": seed, "seed2": seed2, "minval": minval, "maxval": maxval}
    inputs = () if dynamic is None else (dynamic,)
    return make_tensor("random", inputs, attrs, name, get_default_graph())


def random_uniform(shape, minval=0, maxval=None, dtype=dtypes.float32, seed=None, name=None):
    """Uniform in [minval, maxval); maxval defaults to 1 for floats and is required for ints."""
    dtype = dtypes.as_dtype(dtype)
    if dtype.kind == "i":
        if maxval is None:
            raise ValueError(f"random_uniform: maxval must be given for {dtype}")
        return _random("uniform_int", shape, dtype, seed, name or "random_uniform",
                       int(minval), int(maxval))
    if dtype.kind != "f":
        raise DTypeError(f"random_uniform cannot produce {dtype}")
    maxval = 1 if maxval is None else maxval
    if isinstance(minval, (int, float)) and isinstance(maxval, (int, float)):
        return _random("uniform", shape, dtype, seed, name or "random_uniform",
                       float(minval), float(maxval))
    unit = _random("uniform", shape, dtype, seed, "random_uniform/unit")
    return add(multiply(unit, maxval - minval), minval, name=name or "random_uniform")


def random_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    unit = _random("normal", shape, _float(dtype, "random_normal"), seed, "random_normal/unit")
    return add(multiply(unit, stddev), mean, name=name or "random_normal")


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    """Normal draws redrawn until within two standard deviations of the mean."""
    unit = _random("truncated_normal", shape, _float(dtype, "truncated_normal"), seed,
                   "truncated_normal/unit")
    return add(multiply(unit, stddev), mean, name=name or "truncated_normal")


def _float(dtype, what):
    dtype = dtypes.as_dtype(dtype)
    if dtype.kind != "f":
        raise DTypeError(f"{what} produces floating-point tensors, not {dtype}")
    return dtype
