"""Learning-rate schedules as graph ops of the global step, and the global step itself."""

from __future__ import annotations

import math

from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.ops import math_ops as M
from graphc.ops.array_ops import identity
from graphc.ops.tensor import constant, convert_to_tensor
from graphc.ops.variables import GraphKeys, Variable


def get_global_step(graph=None):
    """The graph's global step variable, or None."""
    graph = graph or get_default_graph()
    steps = graph.get_collection(GraphKeys.GLOBAL_STEP)
    if len(steps) > 1:
        raise TypeError("There are multiple items in the global_step collection.")
    return steps[0] if steps else None


def get_or_create_global_step(graph=None) -> Variable:
    """An int64 scalar variable 'global_step', starting at 0, that optimizers increment."""
    graph = graph or get_default_graph()
    step = get_global_step(graph)
    if step is None:
        with graph.as_default(), graph.name_scope(None), graph.control_dependencies(None):
            step = Variable(constant(0, dtypes.int64), trainable=False, name="global_step",
                            collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP])
    return step


def create_global_step(graph=None) -> Variable:
    if get_global_step(graph) is not None:
        raise ValueError("global_step already exists.")
    return get_or_create_global_step(graph)


def _rate(learning_rate):
    """A learning rate as a float tensor: a tensor as it is, a number as float32."""
    if hasattr(learning_rate, "dtype"):
        return convert_to_tensor(learning_rate)
    return convert_to_tensor(float(learning_rate), dtype=dtypes.float32)


def _step(global_step, dtype):
    if global_step is None:
        raise ValueError("global_step is required for a learning-rate schedule")
    return M.cast(convert_to_tensor(global_step), dtype)


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                      name=None):
    """lr * decay_rate ^ (step / decay_steps), the exponent floored when staircase."""
    lr = _rate(learning_rate)
    p = _step(global_step, lr.dtype) / M.cast(decay_steps, lr.dtype)
    if staircase:
        p = M.floor(p)
    return M.multiply(lr, M.pow(M.cast(decay_rate, lr.dtype), p),
                      name=name or "ExponentialDecay")


def piecewise_constant(x, boundaries, values, name=None):
    """values[0] while x <= boundaries[0], values[i] while boundaries[i-1] < x <= boundaries[i],
    values[-1] after the last boundary."""
    if len(values) != len(boundaries) + 1:
        raise ValueError(f"piecewise_constant needs len(values) == len(boundaries) + 1, got "
                         f"{len(values)} values for {len(boundaries)} boundaries")
    x = convert_to_tensor(x)
    vals = [convert_to_tensor(v) for v in values]
    dtype = vals[0].dtype
    result = M.cast(vals[-1], dtype)
    for boundary, value in reversed(list(zip(boundaries, vals[:-1]))):
        result = M.where(M.less_equal(x, M.cast(boundary, x.dtype)), M.cast(value, dtype),
                         result)
    return identity(result, name=name or "PiecewiseConstant")


def cosine_decay(learning_rate, global_step, decay_steps, alpha=0.0, name=None):
    """lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)) + alpha)."""
    lr = _rate(learning_rate)
    step = M.minimum(_step(global_step, lr.dtype), M.cast(decay_steps, lr.dtype))
    cosine = 0.5 * (1 + M.cos(math.pi * step / M.cast(decay_steps, lr.dtype)))
    return M.multiply(lr, (1 - alpha) * cosine + alpha, name=name or "CosineDecay")
