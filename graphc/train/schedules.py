"""Learning-rate schedules as graph ops of the global step, and the global step itself.

Each schedule is TF 1.15's formula, computed in the learning rate's dtype (float32 for a
Python number); tf.keras.optimizers.schedules' classes evaluate these same functions of the
optimizer's step, so the two faces agree to the bit.
"""

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


def _step(global_step, dtype, schedule="a learning-rate schedule"):
    if global_step is None:
        raise ValueError(f"global_step is required for {schedule}.")
    return M.cast(convert_to_tensor(global_step), dtype)


def _of(value, dtype):
    """A hyperparameter (number or tensor) in the schedule's dtype."""
    return M.cast(convert_to_tensor(value), dtype)


def _progress(lr, global_step, decay_steps, staircase, schedule):
    """step / decay_steps in the rate's dtype, floored when staircase."""
    p = _step(global_step, lr.dtype, schedule) / _of(decay_steps, lr.dtype)
    return M.floor(p) if staircase else p


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                      name=None):
    """lr * decay_rate ^ (step / decay_steps), the exponent floored when staircase."""
    lr = _rate(learning_rate)
    p = _progress(lr, global_step, decay_steps, staircase, "exponential_decay")
    return M.multiply(lr, M.pow(_of(decay_rate, lr.dtype), p),
                      name=name or "ExponentialDecay")


def natural_exp_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                      name=None):
    """lr * exp(-decay_rate) ^ (step / decay_steps): TF computes exp(-rate) once and
    raises it to the progress (an exponential decay of rate e^-rate), and so does this."""
    lr = _rate(learning_rate)
    p = _progress(lr, global_step, decay_steps, staircase, "natural_exp_decay")
    return M.multiply(lr, M.pow(M.exp(-_of(decay_rate, lr.dtype)), p),
                      name=name or "NaturalExpDecay")


def inverse_time_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                       name=None):
    """lr / (1 + decay_rate * step / decay_steps), the progress floored when staircase."""
    lr = _rate(learning_rate)
    p = _progress(lr, global_step, decay_steps, staircase, "inverse_time_decay")
    return M.truediv(lr, 1 + _of(decay_rate, lr.dtype) * p, name=name or "InverseTimeDecay")


def polynomial_decay(learning_rate, global_step, decay_steps, end_learning_rate=0.0001,
                     power=1.0, cycle=False, name=None):
    """(lr - end) * (1 - step / decay_steps) ^ power + end, the step held at decay_steps
    once there; with cycle, decay_steps grows to the first multiple of itself at or above
    the step (one at step 0) instead, so the rate climbs back and decays again."""
    lr = _rate(learning_rate)
    step = _step(global_step, lr.dtype, "polynomial_decay")
    steps = _of(decay_steps, lr.dtype)
    if cycle:
        steps = steps * M.where(M.equal(step, 0), M.cast(1, lr.dtype), M.ceil(step / steps))
    else:
        step = M.minimum(step, steps)
    end = _of(end_learning_rate, lr.dtype)
    decayed = (lr - end) * M.pow(1 - step / steps, _of(power, lr.dtype))
    return M.add(decayed, end, name=name or "PolynomialDecay")


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
    steps = _of(decay_steps, lr.dtype)
    step = M.minimum(_step(global_step, lr.dtype, "cosine_decay"), steps)
    cosine = 0.5 * (1 + M.cos(math.pi * step / steps))
    alpha = _of(alpha, lr.dtype)
    return M.multiply(lr, (1 - alpha) * cosine + alpha, name=name or "CosineDecay")


def cosine_decay_restarts(learning_rate, global_step, first_decay_steps, t_mul=2.0, m_mul=1.0,
                          alpha=0.0, name=None):
    """SGDR (Loshchilov & Hutter): cosine decays over periods of first_decay_steps, each
    t_mul times longer than the last, the i-th (from 0) starting at lr * m_mul^i.

    With f = step / first_decay_steps: period i = floor(f) when t_mul is 1, else
    floor(log(1 - f (1 - t_mul)) / log(t_mul)), the periods before it summing to
    (1 - t_mul^i) / (1 - t_mul); the fraction of period i done is (f - that) / t_mul^i.
    Then lr * ((1 - alpha) * 0.5 * m_mul^i * (1 + cos(pi * fraction)) + alpha)."""
    lr = _rate(learning_rate)
    dtype = lr.dtype
    done = _step(global_step, dtype, "cosine_decay_restarts") / _of(first_decay_steps, dtype)
    if isinstance(t_mul, (int, float)) and t_mul == 1.0:
        restart = M.floor(done)
        fraction = done - restart
    else:
        t = _of(t_mul, dtype)
        restart = M.floor(M.log(1 - done * (1 - t)) / M.log(t))
        before = (1 - M.pow(t, restart)) / (1 - t)
        fraction = (done - before) / M.pow(t, restart)
    m_fac = M.pow(_of(m_mul, dtype), restart)
    cosine = 0.5 * m_fac * (1 + M.cos(math.pi * fraction))
    alpha = _of(alpha, dtype)
    return M.multiply(lr, (1 - alpha) * cosine + alpha, name=name or "SGDRDecay")


def linear_cosine_decay(learning_rate, global_step, decay_steps, num_periods=0.5, alpha=0.0,
                        beta=0.001, name=None):
    """lr * ((alpha + linear) * cosine + beta) (Bello et al., Neural Optimizer Search), with
    s = min(step, decay_steps), linear = (decay_steps - s) / decay_steps and
    cosine = 0.5 * (1 + cos(pi * 2 * num_periods * s / decay_steps))."""
    lr = _rate(learning_rate)
    steps = _of(decay_steps, lr.dtype)
    step = M.minimum(_step(global_step, lr.dtype, "linear_cosine_decay"), steps)
    linear = (steps - step) / steps
    fraction = 2.0 * _of(num_periods, lr.dtype) * step / steps
    cosine = 0.5 * (1 + M.cos(math.pi * fraction))
    decayed = (_of(alpha, lr.dtype) + linear) * cosine + _of(beta, lr.dtype)
    return M.multiply(lr, decayed, name=name or "LinearCosineDecay")
