"""Recurrent ONNX ops: RNN, GRU and LSTM, forward, reverse or bidirectional.

Each direction is one tf.while_loop over the time steps (graphc's structured loops: the
whole sequence runs in one native call), its outputs collected in a TensorArray. The
input projections of all steps are one matmul before the loop. With sequence_lens, a
batch entry's state stops changing after its length and its outputs there are zero; the
reverse direction reverses each entry within its own length. layout=1 puts the batch
first in X, Y and the states, as the spec says.

Gate orders are ONNX's: GRU z, r, h; LSTM i, o, f, c (peepholes i, o, f).
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.onnx.registry import converter, first_problem, one_of
from graphc.ops import array_ops as A
from graphc.ops import math_ops as M
from graphc.ops import nn_ops as N
from graphc.ops.control_flow import while_loop
from graphc.ops.tensor import cast, constant, convert_to_tensor
from graphc.ops.tensor_array import TensorArray

_ACTIVATIONS = {
    "Relu": lambda x, a, b: M.maximum(x, A.zeros_like(x)),
    "Tanh": lambda x, a, b: M.tanh(x),
    "Sigmoid": lambda x, a, b: M.sigmoid(x),
    "Affine": lambda x, a, b: x * a + b,
    "LeakyRelu": lambda x, a, b: M.where(M.greater_equal(x, 0), x, x * a),
    "ThresholdedRelu": lambda x, a, b: M.where(M.greater(x, a), x, A.zeros_like(x)),
    "ScaledTanh": lambda x, a, b: a * M.tanh(x * b),
    "HardSigmoid": lambda x, a, b: M.clip_by_value(x * a + b, 0.0, 1.0),
    "Elu": lambda x, a, b: M.where(M.greater(x, 0), x, a * M.expm1(M.minimum(x, 0))),
    "Softsign": lambda x, a, b: N.softsign(x),
    "Softplus": lambda x, a, b: N.softplus(x),
}
# the alpha/beta an activation takes when the node gives none (ONNX's defaults)
_DEFAULT_ALPHA_BETA = {"LeakyRelu": (0.01, 0.0), "ThresholdedRelu": (1.0, 0.0),
                       "HardSigmoid": (0.2, 0.5), "Elu": (1.0, 0.0), "Affine": (1.0, 0.0),
                       "ScaledTanh": (1.0, 1.0)}
_DEFAULTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _check(node):
    names = node.attr("activations") or []
    unknown = [a for a in names if a not in _ACTIVATIONS]
    return first_problem(
        f"activation(s) {unknown} are not supported" if unknown else None,
        one_of("direction", ("forward", "reverse", "bidirectional"), node),
        "LSTM input_forget=1 is not supported" if node.attr("input_forget", 0) else None)


def _activations(ctx, op, directions):
    """One list of activation functions per direction."""
    names = list(ctx.attr("activations") or []) or _DEFAULTS[op] * directions
    alphas = list(ctx.attr("activation_alpha") or [])
    betas = list(ctx.attr("activation_beta") or [])
    per = len(_DEFAULTS[op])
    fns = []
    for i, name in enumerate(names):
        a, b = _DEFAULT_ALPHA_BETA.get(name, (0.0, 0.0))
        a = alphas.pop(0) if alphas and name in _DEFAULT_ALPHA_BETA else a
        b = betas.pop(0) if betas and name in _DEFAULT_ALPHA_BETA else b
        fns.append(lambda x, f=_ACTIVATIONS[name], a=a, b=b: f(x, a, b))
    if len(fns) == per:
        fns = fns * directions
    return [fns[d * per:(d + 1) * per] for d in range(directions)]


def _recurrent(op):
    def convert(ctx):
        x, w, r = ctx.input(0), ctx.input(1), ctx.input(2)
        layout = int(ctx.attr("layout", 0))
        if layout:
            x = A.transpose(x, [1, 0, 2])
        steps, batch, _ = ctx.static_shape(x, op)
        dirs, hidden = w.node.shape[0], int(ctx.attr("hidden_size", r.node.shape[-1]))
        gates = _GATES[op]
        bias = ctx.input(3) if ctx.present(3) else A.zeros([dirs, 2 * gates * hidden], x.dtype)
        lens = ctx.input(4) if ctx.present(4) else None
        h0 = _state(ctx, 5, layout, [dirs, batch, hidden], x.dtype)
        c0 = _state(ctx, 6 if op == "LSTM" else -1, layout, [dirs, batch, hidden], x.dtype)
        peep = ctx.input(7) if op == "LSTM" and ctx.present(7) else None
        fns = _activations(ctx, op, dirs)
        clip = ctx.attr("clip")
        direction = ctx.attr("direction", "forward")
        ys, hs, cs = [], [], []
        for d in range(dirs):
            reverse = direction == "reverse" or d == 1
            params = dict(w=w[d], r=r[d], b=bias[d], p=None if peep is None else peep[d],
                          fns=fns[d], clip=clip, hidden=hidden,
                          lbr=int(ctx.attr("linear_before_reset", 0)))
            y, h, c = _direction(op, x, steps, lens, h0[d], c0[d], reverse, params)
            ys.append(y)
            hs.append(h)
            cs.append(c)
        y = A.stack(ys, axis=1)  # [steps, dirs, batch, hidden]
        y_h, y_c = A.stack(hs, axis=0), A.stack(cs, axis=0)
        if layout:
            y = A.transpose(y, [2, 0, 1, 3])
            y_h, y_c = A.transpose(y_h, [1, 0, 2]), A.transpose(y_c, [1, 0, 2])
        return [y, y_h, y_c] if op == "LSTM" else [y, y_h]
    return convert


def _state(ctx, i, layout, shape, dtype):
    """An initial state [dirs, batch, hidden] (given batch first with layout=1), or zeros."""
    if i < 0 or not ctx.present(i):
        return A.zeros(shape, dtype)
    s = ctx.input(i)
    return A.transpose(s, [1, 0, 2]) if layout else s


def _reverse_in_length(x, lens, steps):
    """x [steps, batch, ...] with each batch entry reversed within its own length."""
    if lens is None:
        return A.reverse(x, [0])
    t = constant(np.arange(steps, dtype=np.int64)[:, None])
    n = A.expand_dims(cast(lens, dtypes.int64), 0)
    source = M.where(M.less(t, n), n - 1 - t, t)  # [steps, batch]
    batch = constant(np.arange(x.node.shape[1], dtype=np.int64)[None, :])
    rows = A.reshape(x, [-1] + list(x.node.shape[2:]))
    return A.reshape(A.gather(rows, A.reshape(source * x.node.shape[1] + batch, [-1])),
                     list(x.node.shape))


def _direction(op, x, steps, lens, h0, c0, reverse, p):
    """(Y [steps, batch, hidden], final h, final c) of one direction."""
    if reverse:
        x = _reverse_in_length(x, lens, steps)
    gates = _GATES[op]
    hidden = p["hidden"]
    wb, rb = p["b"][:gates * hidden], p["b"][gates * hidden:]
    # every step's input projection at once: [steps, batch, gates * hidden]
    xw = M.tensordot(x, A.transpose(p["w"]), 1) + wb
    mask = None
    if lens is not None:
        t = constant(np.arange(steps, dtype=np.int64)[:, None, None])
        mask = M.less(t, A.reshape(cast(lens, dtypes.int64), [1, -1, 1]))  # [steps, batch, 1]
    out = TensorArray(x.dtype, size=steps)

    def body(t, h, c, out):
        h_new, c_new = _cell(op, A.gather(xw, t), h, c, rb, p)
        if mask is not None:
            live = A.gather(mask, t)
            h_new = M.where(live, h_new, h)
            c_new = M.where(live, c_new, c)
            y = M.where(live, h_new, A.zeros_like(h_new))
        else:
            y = h_new
        return t + 1, h_new, c_new, out.write(t, y)

    _, h, c, out = while_loop(lambda t, *_: M.less(t, steps), body,
                              [convert_to_tensor(np.int32(0)), h0, c0, out],
                              maximum_iterations=steps)
    y = out.stack()
    if reverse:
        y = _reverse_in_length(y, lens, steps)
    return y, h, c


def _clipped(v, clip):
    return v if clip is None else M.clip_by_value(v, -clip, clip)


def _split(v, n):
    return A.split(v, n, axis=-1)


def _cell(op, xw, h, c, rb, p):
    """One step: (new h, new c) from the projected input xw [batch, gates * hidden]."""
    f = p["fns"]
    clip = p["clip"]
    r = p["r"]  # [gates * hidden, hidden]
    if op == "RNN":
        return f[0](_clipped(xw + M.matmul(h, r, transpose_b=True) + rb, clip)), c
    if op == "GRU":
        hidden = p["hidden"]
        xz, xr, xh = _split(xw, 3)
        rz, rr, rh = _split(rb, 3)
        hr = M.matmul(h, r[:2 * hidden], transpose_b=True)
        hz_, hr_ = _split(hr, 2)
        z = f[0](_clipped(xz + hz_ + rz, clip))
        reset = f[0](_clipped(xr + hr_ + rr, clip))
        rh_w = r[2 * hidden:]
        if p["lbr"]:
            cand = xh + reset * (M.matmul(h, rh_w, transpose_b=True) + rh)
        else:
            cand = xh + M.matmul(reset * h, rh_w, transpose_b=True) + rh
        hh = f[1](_clipped(cand, clip))
        return (1.0 - z) * hh + z * h, c
    gates = xw + M.matmul(h, r, transpose_b=True) + rb
    gi, go, gf, gc = _split(gates, 4)
    if p["p"] is not None:
        pi, po, pf = _split(p["p"], 3)
        gi, gf = gi + pi * c, gf + pf * c
    i = f[0](_clipped(gi, clip))
    forget = f[0](_clipped(gf, clip))
    cell = f[1](_clipped(gc, clip))
    c_new = forget * c + i * cell
    if p["p"] is not None:
        go = go + po * c_new
    o = f[0](_clipped(go, clip))
    return o * f[2](c_new), c_new


for _op in ("RNN", "GRU", "LSTM"):
    converter(_op, check=_check)(_recurrent(_op))
