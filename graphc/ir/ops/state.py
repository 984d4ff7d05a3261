"""Sources and state: constants, placeholders, variables, assignments, random draws, no_op,
assert, print.

Stateful records get a unique `uid` attribute from make_node, so they are never merged.
Ops whose value lives in the runtime (placeholder, variable, read, assign) have no numpy
reference: each runtime implements them against its own storage. `random` does have one; a
runtime calls it with the node's own generator as the keyword `rng`, advancing it each run.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.ir import dtypes
from graphc.ir.ops.primitive import Primitive, register
from graphc.ir.shapes import format_shape


def _attr_dtype(inputs, attrs):
    return attrs["dtype"]


def _attr_shape(inputs, attrs):
    return attrs["shape"]


def _constant_dtype(inputs, attrs):
    return dtypes.as_dtype(attrs["value"].dtype)


register(Primitive("constant", "source", 0, _constant_dtype,
                   lambda inputs, attrs: attrs["value"].shape, lambda value: value,
                   doc="the array attrs['value']"))
register(Primitive("placeholder", "source", 0, _attr_dtype, _attr_shape, None, stateful=True,
                   doc="a value fed at run time"))


def _with_default_shape(inputs, attrs):
    shape, default = attrs["shape"], inputs[0].shape
    if default is not None and not _static_compatible(default, shape):
        raise ShapeError(f"default value of shape {format_shape(default)} does not match the "
                         f"declared shape {format_shape(shape)}")
    return shape


def _static_compatible(a, b) -> bool:
    if a is None or b is None:
        return True
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


register(Primitive("placeholder_with_default", "source", 1, lambda inputs, attrs: inputs[0].dtype,
                   _with_default_shape, lambda x, uid, shape: x, stateful=True,
                   handles_unknown_rank=True, doc="its input unless fed"))
register(Primitive("variable", "source", 0, _attr_dtype, _attr_shape, None, stateful=True,
                   doc="a persistent, mutable buffer (the handle; `read` gives its value)"))
register(Primitive("read", "opaque", 1, lambda inputs, attrs: inputs[0].dtype,
                   lambda inputs, attrs: inputs[0].shape, None,
                   doc="the value of a variable when this node runs (after its deps)"))

ASSIGN_MODES = ("set", "add", "sub")


def _assign_dtype(inputs, attrs):
    var, value = inputs
    if var.op.name != "variable":
        raise DTypeError(f"the first input must be a variable, got a {var.op.name} node")
    if value.dtype is not var.dtype:
        raise DTypeError(f"value of dtype {value.dtype} cannot update a {var.dtype} variable")
    if attrs["mode"] not in ASSIGN_MODES:
        raise DTypeError(f"mode must be one of {ASSIGN_MODES}, got {attrs['mode']!r}")
    if attrs["mode"] != "set" and var.dtype.kind == "b":
        raise DTypeError(f"cannot {attrs['mode']} into a bool variable")
    return var.dtype


def _assign_shape(inputs, attrs):
    var, value = inputs
    if value.shape is not None and not _static_compatible(var.shape, value.shape):
        raise ShapeError(f"value of shape {format_shape(value.shape)} cannot update a variable "
                         f"of shape {format_shape(var.shape)}")
    return var.shape


register(Primitive("assign", "effect", 2, _assign_dtype, _assign_shape, None, stateful=True,
                   handles_unknown_rank=True,
                   doc="var = value (mode 'set'), var += value ('add'), var -= value ('sub'); "
                       "its value is the variable's new value"))

DISTRIBUTIONS = ("uniform", "normal", "truncated_normal", "uniform_int")


def _random_dtype(inputs, attrs):
    dist, dt = attrs["distribution"], attrs["dtype"]
    if dist not in DISTRIBUTIONS:
        raise DTypeError(f"unknown distribution {dist!r}")
    if (dist == "uniform_int") != (dt.kind == "i") or dt.kind == "b":
        raise DTypeError(f"distribution {dist} cannot produce {dt}")
    return dt


def _random_shape(inputs, attrs):
    if inputs and (inputs[0].dtype not in dtypes.INT_DTYPES or inputs[0].rank != 1):
        raise ShapeError("a shape tensor must be a 1-D int32/int64 tensor")
    return attrs["shape"]


def sample(shape_tensor=None, *, rng, distribution, dtype, shape, minval, maxval, **_):
    """Draw one tensor from `rng` (the reference definition of the random primitive)."""
    size = tuple(shape) if shape_tensor is None else tuple(int(d) for d in shape_tensor)
    if distribution == "uniform":
        out = minval + (maxval - minval) * rng.random(size)
    elif distribution == "normal":
        out = rng.standard_normal(size)
    elif distribution == "uniform_int":
        if maxval <= minval:
            raise ValueError(f"uniform_int needs minval < maxval, got [{minval}, {maxval})")
        out = rng.integers(minval, maxval, size)
    else:  # truncated_normal: standard normal redrawn until within two standard deviations
        out = rng.standard_normal(size)
        bad = np.abs(out) > 2
        while bad.any():
            out[bad] = rng.standard_normal(int(bad.sum()))
            bad = np.abs(out) > 2
    return np.asarray(out).astype(dtype.np)


register(Primitive("random", "opaque", None, _random_dtype, _random_shape, sample, stateful=True,
                   min_inputs=0, max_inputs=1,
                   doc="a fresh draw each run from attrs['distribution'] (seeded by attrs)"))
register(Primitive("no_op", "effect", 0, lambda inputs, attrs: None, lambda inputs, attrs: (),
                   lambda: None, doc="does nothing; groups its deps"))


def _assert_dtype(inputs, attrs):
    if inputs[0].dtype is not dtypes.bool_:
        raise DTypeError(f"the condition must be bool, got {inputs[0].dtype}")
    return None


def check(condition, *data, message, summarize):
    """Raise ValueError(message, the first failing index and the data) unless every element
    of `condition` holds."""
    if np.all(condition):
        return None
    text = message
    if condition.ndim:
        failing = np.argwhere(~np.asarray(condition, dtype=bool))[0]
        text += f" (first failing index {tuple(int(i) for i in failing)})"
    for value in data:
        shown = np.array2string(value.reshape(-1)[:summarize], separator=", ")
        text += f"; data: {shown}{' ...' if value.size > summarize else ''}"
    raise ValueError(text)


register(Primitive("assert", "effect", None, _assert_dtype, lambda inputs, attrs: (), check,
                   handles_unknown_rank=True, min_inputs=1,
                   doc="fails the run with attrs['message'] (and its data inputs) unless its "
                       "first input, a bool tensor, is all true"))


def _print_check(inputs, attrs):
    count = len(inputs)
    bad = [p for p in attrs["pieces"] if not isinstance(p, str) and not 0 <= p < count]
    if bad:
        raise ShapeError(f"print pieces {bad} name no input (it has {count})")
    if attrs["style"] not in ("v1", "v2"):
        raise ShapeError(f"print style must be 'v1' or 'v2', got {attrs['style']!r}")
    return None


register(Primitive("print", "effect", None, _print_check, lambda inputs, attrs: (), None,
                   stateful=True, handles_unknown_rank=True,
                   doc="writes attrs['pieces'] (strings, and input indices standing for those "
                       "inputs' values formatted as attrs['style'] says: tf.Print's 'v1' or "
                       "tf.print's 'v2', up to attrs['summarize'] elements) to "
                       "attrs['stream'] when it runs, at most attrs['first_n'] times per "
                       "session (-1: always); graphc/runtime/host_calls.py runs it"))
