"""Gradient checking as a library feature (tf.test.compute_gradient / _error, gradcheck).

Symbolic Jacobians (one gradient graph, fed one output direction at a time) are compared to
central finite differences. Checks run in float64 so the finite differences are accurate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphc.framework.graph import Graph
from graphc.ir import dtypes
from graphc.ops.array_ops import placeholder
from graphc.ops.gradients import gradients
from graphc.ops.tensor import convert_to_tensor


class GradientCheckError(AssertionError):
    """Symbolic and numerical gradients differ beyond the tolerance."""


@dataclass
class GradientCheckReport:
    max_error: float  # largest |analytic - numeric| over all inputs and elements
    input_index: int  # where the worst element is
    element: tuple
    output_element: tuple
    analytic: float
    numeric: float

    def __str__(self) -> str:
        return (f"worst gradient element: input {self.input_index} at {self.element}, output "
                f"at {self.output_element}: symbolic {self.analytic:.10g} vs numeric "
                f"{self.numeric:.10g} (|difference| {self.max_error:.3g})")


def jacobians(session, ys, xs, feed_dict, delta: float = 1e-6):
    """(symbolic, numeric) Jacobians of y w.r.t. each x, each shaped (y.size, x.size).

    xs must be fed tensors (placeholders) in `feed_dict`; y is one tensor.
    """
    y = convert_to_tensor(ys)
    with session.graph.as_default():
        dy = placeholder(y.dtype, y.node.shape, name="gradcheck_dy")
        grads = gradients(y, xs, grad_ys=dy)
    y0 = np.asarray(session.run(y, feed_dict))
    symbolic, numeric = [], []
    for x, g in zip(xs, grads):
        x0 = np.asarray(feed_dict[x], dtype=np.float64)
        jac_s = np.zeros((y0.size, x0.size))
        if g is not None:
            for i in range(y0.size):
                direction = np.zeros(y0.size)
                direction[i] = 1
                feed = dict(feed_dict)
                feed[dy] = direction.reshape(y0.shape)
                jac_s[i] = np.asarray(session.run(g, feed), dtype=np.float64).reshape(-1)
        jac_n = np.zeros_like(jac_s)
        for j in range(x0.size):
            plus, minus = x0.copy().reshape(-1), x0.copy().reshape(-1)
            plus[j] += delta
            minus[j] -= delta
            f_plus = session.run(y, dict(feed_dict) | {x: plus.reshape(x0.shape)})
            f_minus = session.run(y, dict(feed_dict) | {x: minus.reshape(x0.shape)})
            jac_n[:, j] = (np.asarray(f_plus, np.float64) - np.asarray(f_minus, np.float64)
                           ).reshape(-1) / (2 * delta)
        symbolic.append(jac_s)
        numeric.append(jac_n)
    return symbolic, numeric


def gradcheck(f, inputs, delta: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4,
              target: str = "reference", raise_exception: bool = True) -> GradientCheckReport:
    """Check the symbolic gradients of `f(*tensors) -> tensor` at `inputs` (numpy arrays).

    Builds f in a fresh float64 graph and compares its Jacobian to central differences;
    raises GradientCheckError naming the worst element when any differs by more than
    atol + rtol * |numeric|.
    """
    from graphc.runtime.session import Session
    arrays = [np.asarray(a, dtype=np.float64) for a in inputs]
    graph = Graph()
    with graph.as_default():
        xs = [placeholder(dtypes.float64, a.shape, name=f"x{i}") for i, a in enumerate(arrays)]
        y = convert_to_tensor(f(*xs))
        with Session(target=target, graph=graph) as sess:
            feed = dict(zip(xs, arrays))
            symbolic, numeric = jacobians(sess, y, xs, feed, delta)
    out_shape = y.node.shape if y.shape.is_fully_defined() else None
    report, worst_excess, max_error = None, -np.inf, 0.0
    for k, (js, jn) in enumerate(zip(symbolic, numeric)):
        if js.size == 0:
            continue
        diff = np.abs(js - jn)
        max_error = max(max_error, float(diff.max()))
        excess = diff - (atol + rtol * np.abs(jn))
        i, j = np.unravel_index(np.argmax(excess), excess.shape)
        if excess[i, j] > worst_excess:
            worst_excess = excess[i, j]
            out_index = np.unravel_index(i, out_shape) if out_shape else (int(i),)
            report = GradientCheckReport(0.0, k, tuple(int(v) for v in np.unravel_index(
                j, arrays[k].shape)), tuple(int(v) for v in out_index), float(js[i, j]),
                float(jn[i, j]))
    if report is None:
        return GradientCheckReport(0.0, -1, (), (), 0.0, 0.0)
    report.max_error = max_error
    if worst_excess > 0 and raise_exception:
        raise GradientCheckError(f"gradient check failed (atol={atol}, rtol={rtol}): {report}")
    return report


def compute_gradient(x, x_shape, y, y_shape, x_init_value=None, delta=1e-3,
                     init_targets=None, extra_feed_dict=None):
    """TF1's tf.test.compute_gradient: (symbolic, numeric) Jacobians, shaped (x.size, y.size),
    evaluated in the default session (x is fed with x_init_value or random values)."""
    from graphc.runtime.session import get_default_session
    session = get_default_session()
    if session is None:
        raise ValueError("compute_gradient needs a default session (use `with sess.as_default()`"
                         " or `with tf.Session() as sess:`)")
    if init_targets is not None:
        session.run(init_targets)
    xs = x if isinstance(x, (list, tuple)) else [x]
    shapes = x_shape if isinstance(x, (list, tuple)) else [x_shape]
    inits = x_init_value if isinstance(x, (list, tuple)) else [x_init_value]
    rng = np.random.default_rng(0)
    feed = dict(extra_feed_dict or {})
    for t, shape, init in zip(xs, shapes, inits):
        feed[t] = np.asarray(init if init is not None else rng.random(shape), np.float64) \
            .astype(t.dtype.np)
    symbolic, numeric = jacobians(session, y, xs, feed, delta)
    pairs = [(s.T, n.T) for s, n in zip(symbolic, numeric)]
    return pairs if isinstance(x, (list, tuple)) else pairs[0]


def compute_gradient_error(x, x_shape, y, y_shape, x_init_value=None, delta=1e-3,
                           init_targets=None, extra_feed_dict=None) -> float:
    """The largest |symbolic - numeric| Jacobian entry (tf.test.compute_gradient_error)."""
    result = compute_gradient(x, x_shape, y, y_shape, x_init_value, delta, init_targets,
                              extra_feed_dict)
    pairs = result if isinstance(result, list) else [result]
    return max((float(np.max(np.abs(s - n))) if s.size else 0.0) for s, n in pairs)
