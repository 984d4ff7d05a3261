"""Control-flow builders for fuzz programs: each is one call with literal arguments (a fuzz
Step), so a program with loops and branches still prints as a standalone program.

    branch(p, a, b, then_op, else_op)    tf.cond(sum(p) > 0, then_op(a, b), else_op(a, b))
    loop(x, w, steps, op, limit, ...)    h = op(h, w, x) while i < steps (maximum_iterations
                                         limit), optionally a cond inside the body or a loop
                                         inside a branch
    scan(x, w, op, reverse)              tf.scan of op over x's first axis
Every result has x's (or a's) shape; the ops keep magnitudes bounded for the fuzzer.

The op "printed" prints its value with tf.print (tagged p0, p1, ... in the order a build
makes them) to `capture`: `printed()` gives, per tag, the numbers a run printed, which the
fuzzer compares with the reference's like any value (once per loop iteration, only in the
branch taken, nothing from the backward pass).
"""

from __future__ import annotations

import re

import numpy as np

import graphc as tf

_PRINTED: dict = {}  # tag -> the texts printed under it, in order
_TAGS: dict = {}  # tag -> the printed value's dtype (numpy name), in build order
_NUMBER = re.compile(r"-?(?:inf|nan|\d+(?:\.\d*)?(?:e[-+]?\d+)?)")


def reset_prints() -> None:
    """Forget the tags and texts of the last build and run (before each build)."""
    _PRINTED.clear()
    _TAGS.clear()


def capture(text: str) -> None:
    tag, _, rest = text.partition(" ")
    _PRINTED.setdefault(tag, []).append(rest)


def printed() -> list:
    """Per tag printed in the last run (in tag order), the numbers printed, of the printed
    value's dtype."""
    return [np.array([float(v) for text in _PRINTED[tag] for v in _NUMBER.findall(text)],
                     dtype=_TAGS[tag]) for tag in sorted(_PRINTED, key=lambda t: int(t[1:]))]


def _printed(value):
    tag = f"p{len(_TAGS)}"
    _TAGS[tag] = value.dtype.name
    with tf.control_dependencies([tf.print(tag, value, summarize=-1, output_stream=capture)]):
        return tf.identity(value)

# (h, w, x) -> the next h, of h's shape and dtype (w broadcasts into it)
OPS = {
    "tanh_affine": lambda h, w, x: tf.tanh(h * w + x),
    "sin_add": lambda h, w, x: tf.sin(h) * w + x,
    "damped": lambda h, w, x: h * tf.cos(w) * 0.5 + x,
    "sigmoid_mul": lambda h, w, x: tf.sigmoid(h + w) * x,
    # exp's gradient reads its result, which a loop's backward pass reads from a stack
    "exp_decay": lambda h, w, x: tf.exp(-h * h) * w + x,
    # a seeded random draw: one draw per run in a branch (its gradient reads the same
    # mask), a fresh one per iteration in a loop, the same on every target
    "dropout": lambda h, w, x: tf.nn.dropout(tf.tanh(h * w + x), rate=0.5, seed=11),
    "printed": lambda h, w, x: _printed(tf.tanh(h * w + x)),
    # a product by a matrix of the loop's invariants (packed once before the loop,
    # compiler/pack_ahead.py), B read as it is or transposed
    "matmul": lambda h, w, x: _times_gram(h, w, x, False),
    "matmul_t": lambda h, w, x: _times_gram(h, w, x, True),
}
DRAWS = frozenset({"dropout"})  # the OPS that draw random numbers


def _times_gram(h, w, x, transposed: bool):
    """tanh(h @ G * w + x), G = X^T X / rows for X = x as rows of its last axis (|G| <= 1
    where |x| <= 1, so the loop stays bounded), rows of h multiplied alike."""
    n = int(h.shape[-1])
    rows = tf.reshape(x, [-1, n])
    gram = tf.matmul(rows, rows, transpose_a=True) * (1.0 / max(int(rows.shape[0]), 1))
    product = tf.matmul(tf.reshape(h, [-1, n]), gram, transpose_b=transposed)
    return tf.tanh(tf.reshape(product, tf.shape(h)) * w + x)


def branch(p, a, b, then_op: str, else_op: str):
    """The taken branch's op(a, b, a); the predicate is sum(p) > 0."""
    pred = tf.reduce_sum(tf.cast(p, a.dtype)) > 0
    return tf.cond(pred, lambda: OPS[then_op](a, b, a), lambda: OPS[else_op](a, b, a))


def loop(x, w, steps, op: str, limit: int, inner: str = "", nested: bool = False):
    """h_{k+1} = op(h_k, w, x) from h_0 = x, while k < steps (an int or a fed int32
    scalar), at most `limit` times. inner="cond": odd iterations apply `damped` instead;
    inner="loop": each iteration runs a two-step loop of op; inner="shift": two more loop
    vars, (g, a) <- (h, a + g) (a var taking another's value, an accumulator), and the
    result h + g + 0.1 * a; inner="rows": each h is also written to a TensorArray, whose
    rows are summed after the loop (0.1 of it added). nested: the whole loop runs inside a
    cond branch taken where sum(x) >= 0 (else x * 0.5)."""
    if inner in ("shift", "rows"):
        return _carried(x, w, steps, op, limit, inner)
    def body(i, h):
        if inner == "cond":
            h2 = tf.cond(tf.equal(i % 2, 1), lambda: OPS["damped"](h, w, x),
                         lambda: OPS[op](h, w, x))
        elif inner == "loop":
            _, h2 = tf.while_loop(lambda j, g: j < 2, lambda j, g: (j + 1, OPS[op](g, w, x)),
                                  [0, h], maximum_iterations=2)
        else:
            h2 = OPS[op](h, w, x)
        return i + 1, h2

    def run():
        return tf.while_loop(lambda i, h: i < steps, body, [0, x],
                             maximum_iterations=limit)[1]
    if nested:
        return tf.cond(tf.reduce_sum(x) >= 0, run, lambda: x * 0.5)
    return run()


def _carried(x, w, steps, op: str, limit: int, inner: str):
    if inner == "shift":
        def body(i, h, g, a):
            return i + 1, OPS[op](h, w, x), h, a + g
        _, h, g, a = tf.while_loop(lambda i, *_: i < steps, body,
                                   [0, x, tf.zeros_like(x), tf.zeros_like(x)],
                                   maximum_iterations=limit)
        return h + g + 0.1 * a
    rows = tf.TensorArray(x.dtype, size=max(limit, 1), element_shape=x.shape)

    def write(i, h, ta):
        h = OPS[op](h, w, x)
        return i + 1, h, ta.write(i, h)
    _, h, ta = tf.while_loop(lambda i, *_: i < steps, write, [0, x, rows],
                             maximum_iterations=limit)
    return h + 0.1 * tf.reduce_sum(ta.stack(), 0)


def scan(x, w, op: str, reverse: bool = False):
    """tf.scan of a = op(a, w, row) over x's first axis, from zeros."""
    return tf.scan(lambda a, row: OPS[op](a, w, row), x, initializer=tf.zeros_like(x[0]),
                   reverse=reverse)
