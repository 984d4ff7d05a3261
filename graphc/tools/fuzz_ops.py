"""The fuzzer's op families: each draws operands from the generator's pool and adds one or
a few steps (fuzz_gen.Generator), or returns None when the pool offers nothing suitable.
A family's `weight` is how often it is drawn."""

from __future__ import annotations

import numpy as np

from graphc.tools.fuzz_program import FLOATS, Ref, Step

INTS = ("int32", "int64")


def weight(w: float):
    def mark(f):
        f.weight = w
        return f
    return mark


def _float(v) -> bool:
    return v.dtype in FLOATS


def _int(v) -> bool:
    return v.dtype in INTS


def _broadcastable(a: tuple, b: tuple) -> bool:
    for x, y in zip(a[::-1], b[::-1]):
        if x != y and 1 not in (x, y):
            return False
    return True


def _out_shape(a: tuple, b: tuple) -> tuple:
    return tuple(np.broadcast_shapes(a, b))


def _bounded(g, v, limit: float = 8.0):
    """v itself when its magnitude is surely small, else tanh(v) * 2."""
    if v.bound <= limit:
        return v
    return g.step(Step("multiply", (Ref(g.step(Step("tanh", (Ref(v.index),)), False,
                                                    1.0).index), 2.0)), False, 2.0)


# Smooth unary functions: (name, needs a bounded input, output bound from input bound)
SMOOTH = [("negative", False, lambda b: b), ("tanh", False, lambda b: 1.0),
          ("sigmoid", False, lambda b: 1.0), ("sin", False, lambda b: 1.0),
          ("cos", False, lambda b: 1.0), ("erf", False, lambda b: 1.0),
          ("square", True, lambda b: b * b), ("exp", True, lambda b: float(np.exp(b))),
          ("expm1", True, lambda b: float(np.exp(b))), ("nn.softplus", True, lambda b: b + 1),
          ("nn.softsign", False, lambda b: 1.0), ("nn.elu", True, lambda b: b + 1),
          ("nn.selu", True, lambda b: 1.8 * b + 2), ("nn.gelu", False, lambda b: b + 1),
          ("nn.silu", False, lambda b: b + 1), ("nn.relu", False, lambda b: b),
          ("nn.relu6", False, lambda b: 6.0), ("nn.leaky_relu", False, lambda b: b),
          ("abs", False, lambda b: b), ("identity", False, lambda b: b)]
# on |x| + 0.5 (positive, away from singularities): name, output bound
POSITIVE = [("log", lambda b: float(np.log(b + 0.5)) + 1), ("sqrt", lambda b: b ** 0.5 + 1),
            ("rsqrt", lambda b: 1.5), ("reciprocal", lambda b: 2.0),
            ("log1p", lambda b: float(np.log1p(b + 0.5)))]


@weight(6)
def unary_float(g):
    v = g.pick(_float)
    if v is None:
        return None
    if g.rng.random() < 0.25:
        name, bound = POSITIVE[int(g.rng.integers(len(POSITIVE)))]
        a = g.step(Step("abs", (Ref(v.index),)), v.exact, v.bound)
        a = g.step(Step("add", (Ref(a.index), 0.5)), v.exact, v.bound + 0.5)
        return g.step(Step(name, (Ref(a.index),)), False, bound(v.bound))
    name, bounded, bound = SMOOTH[int(g.rng.integers(len(SMOOTH)))]
    if bounded:
        v = _bounded(g, v, 4.0)
    exact = v.exact and name in ("negative", "abs", "identity", "nn.relu", "nn.relu6")
    return g.step(Step(name, (Ref(v.index),)), exact, bound(v.bound))


BINARY = [("add", lambda a, b: a + b), ("subtract", lambda a, b: a + b),
          ("multiply", lambda a, b: a * b), ("maximum", max), ("minimum", max)]


def _off_zero(g, v):
    """v + 0.25: a zero's sign is left open wherever max or min met +0 and -0 (numpy's
    own maximum returns either, by code path), and any value may be such a zero."""
    return g.step(Step("add", (Ref(v.index), 0.25)), False, v.bound + 0.25)


@weight(8)
def binary_float(g):
    a = g.pick(_float)
    if a is None:
        return None
    if g.rng.random() < 0.25:  # a weak python scalar
        c = float(g.rng.choice([0.0, -0.0, 1.0, 2.0, 0.5, -3.0]))
        name, bound = BINARY[int(g.rng.integers(len(BINARY)))]
        args = (Ref(a.index), c) if g.rng.random() < 0.5 else (c, Ref(a.index))
        return g.step(Step(name, args), a.exact and name != "multiply", bound(a.bound, abs(c)))
    b = g.pick(lambda v: v.dtype == a.dtype and _broadcastable(v.shape, a.shape),
               prefer_recent=False)
    if g.rng.random() < 0.15:  # a division, away from zero
        d = g.step(Step("abs", (Ref(b.index),)), b.exact, b.bound)
        d = g.step(Step("add", (Ref(d.index), 0.75)), False, b.bound + 0.75)
        return g.step(Step("divide", (Ref(a.index), Ref(d.index))), False, a.bound * 1.4)
    if g.rng.random() < 0.1:
        # atan2 jumps between zeros of either sign, and a zero from max/min (relu, relu6,
        # clip) has either sign (seeds 605173, 809442)
        y, x = (_off_zero(g, v) for v in (a, b))
        return g.step(Step("atan2", (Ref(y.index), Ref(x.index))), False, 3.2)
    if g.rng.random() < 0.1:
        base = g.step(Step("abs", (Ref(_bounded(g, a, 4.0).index),)), False, 4.0)
        base = g.step(Step("add", (Ref(base.index), 0.5)), False, 4.5)
        p = float(g.rng.choice([2.0, 0.5, -1.5, 3.0]))
        return g.step(Step("pow", (Ref(base.index), p)), False, 4.5 ** abs(p) + 2)
    name, bound = BINARY[int(g.rng.integers(len(BINARY)))]
    exact = a.exact and b.exact and name in ("maximum", "minimum")
    return g.step(Step(name, (Ref(a.index), Ref(b.index))), exact, bound(a.bound, b.bound))


@weight(3)
def integer(g):
    a = g.pick(_int)
    if a is None:
        return None
    b = g.pick(lambda v: v.dtype == a.dtype and _broadcastable(v.shape, a.shape))
    if g.rng.random() < 0.35:
        return bits_of(g, a, b)
    name = str(g.rng.choice(["add", "subtract", "multiply", "maximum", "minimum",
                             "floordiv", "mod", "abs", "negative", "sign"]))
    if name in ("abs", "negative", "sign"):
        return g.step(Step(name, (Ref(a.index),)), True, a.bound)
    if name == "multiply" and a.bound * b.bound > 1e6:
        name = "add"
    bound = a.bound * b.bound if name == "multiply" else a.bound + b.bound
    return g.step(Step(name, (Ref(a.index), Ref(b.index))), True, bound)


def bits_of(g, a, b):
    """tf.bitwise on exact integers: and, or, xor with b, invert, or a shift by a constant
    amount (now and then one past the type's width: every bit shifted out)."""
    name = str(g.rng.choice(["bitwise_and", "bitwise_or", "bitwise_xor", "invert",
                             "left_shift", "right_shift"]))
    if name == "invert":
        return g.step(Step("bitwise.invert", (Ref(a.index),)), True, a.bound + 1)
    if name in ("left_shift", "right_shift"):
        width = 8 * np.dtype(a.dtype).itemsize
        amount = int(g.rng.integers(0, 5)) if g.rng.random() < 0.85 else width + 1
        bound = a.bound * 2.0 ** amount if name == "left_shift" and amount < width else a.bound
        return g.step(Step(f"bitwise.{name}", (Ref(a.index), amount)), True, bound)
    # |result| < the next power of two above both (-3 & -6 is -8)
    return g.step(Step(f"bitwise.{name}", (Ref(a.index), Ref(b.index))), True,
                  2 * max(a.bound, b.bound) + 1)


SMALL_INTS = ("int8", "uint8", "int16", "uint16")


def _small(v) -> bool:
    return v.dtype in SMALL_INTS


@weight(2)
def small_int(g):
    """Narrow integers, whose arithmetic wraps at their width (unsigned comparisons and
    division for uint8/uint16): a fed one over the dtype's whole range or an int value cast
    to one (its bits wrap), then arithmetic, a comparison, a reduction or a cast on, so the
    result flows into the rest of the program."""
    a = g.pick(_small)
    if a is None or g.rng.random() < 0.35:
        dtype = str(g.rng.choice(SMALL_INTS))
        src = g.pick(lambda v: _int(v) or _small(v))
        if src is None or g.rng.random() < 0.5:
            a = g.feed(dtype, g.shape())
        else:
            a = g.step(Step("cast", (Ref(src.index), dtype)), True, 0)
        a.bound = float(max(-np.iinfo(dtype).min, np.iinfo(dtype).max))
    b = g.pick(lambda v: v.dtype == a.dtype and _broadcastable(v.shape, a.shape))
    limit = a.bound
    kind = g.rng.random()
    if kind < 0.2:
        return bits_of(g, a, b)
    if kind < 0.45:
        name = str(g.rng.choice(["add", "subtract", "multiply", "maximum", "minimum",
                                 "floordiv", "mod", "abs", "negative", "sign"]))
        if name in ("abs", "negative", "sign"):
            return g.step(Step(name, (Ref(a.index),)), True, limit)
        return g.step(Step(name, (Ref(a.index), Ref(b.index))), True, limit)
    if kind < 0.6:
        name = str(g.rng.choice(["less", "less_equal", "greater", "greater_equal", "equal",
                                 "not_equal"]))
        return g.step(Step(name, (Ref(a.index), Ref(b.index))), True, 1)
    if kind < 0.75:
        name = str(g.rng.choice(["reduce_sum", "reduce_max", "reduce_min"]))
        return g.step(Step(name, (Ref(a.index),), (("axis", _axes(g, len(a.shape))),)),
                      True, limit)
    to = str(g.rng.choice(SMALL_INTS + INTS + (g.float,)))
    return g.step(Step("cast", (Ref(a.index), to)), True,
                  limit if to in INTS or to in FLOATS else
                  float(max(-np.iinfo(to).min, np.iinfo(to).max)))


@weight(3)
def compare_select(g):
    """Comparisons of exact values, logic on bools, and select (tf.where)."""
    a = g.pick(lambda v: v.exact and v.dtype != "bool")
    if a is None:
        return None
    b = g.pick(lambda v: v.exact and v.dtype == a.dtype and v.shape == a.shape)
    name = str(g.rng.choice(["less", "less_equal", "greater", "greater_equal", "equal",
                             "not_equal"]))
    cond = g.step(Step(name, (Ref(a.index), Ref(b.index))), True, 1)
    other = g.pick(lambda v: v.dtype == "bool" and v.shape == cond.shape and v is not cond)
    if other is not None and g.rng.random() < 0.5:
        logic = str(g.rng.choice(["logical_and", "logical_or", "logical_xor"]))
        cond = g.step(Step(logic, (Ref(cond.index), Ref(other.index))), True, 1)
    if g.rng.random() < 0.2:
        cond = g.step(Step("logical_not", (Ref(cond.index),)), True, 1)
    x = g.pick(lambda v: v.dtype != "bool" and v.shape == cond.shape)
    if x is None or g.rng.random() < 0.3:
        return g.step(Step("cast", (Ref(cond.index), g.float)), True, 1)
    y = g.pick(lambda v: v.dtype == x.dtype and v.shape == x.shape)
    return g.step(Step("where", (Ref(cond.index), Ref(x.index), Ref(y.index))),
                  x.exact and y.exact, max(x.bound, y.bound))


@weight(2)
def cast_round(g):
    """Rounding and casts: ints to floats, exact floats rounded to ints."""
    if g.rng.random() < 0.5:
        a = g.pick(_int)
        if a is None:
            return None
        return g.step(Step("cast", (Ref(a.index), g.float)), True, a.bound)
    a = g.pick(lambda v: _float(v) and v.exact and v.bound < 1e6)
    if a is None:
        return None
    name = str(g.rng.choice(["floor", "ceil", "round", "sign"]))
    r = g.step(Step(name, (Ref(a.index),)), True, a.bound + 1)
    if g.rng.random() < 0.5:
        return g.step(Step("cast", (Ref(r.index), str(g.rng.choice(INTS)))), True, r.bound)
    return r


_SAME_WIDTH = {"float32": "int32", "float64": "int64", "int8": "uint8", "uint8": "int8",
               "int16": "uint16", "uint16": "int16"}
_PIECES = {"float32": ("uint8", "int16", "uint16", "int8"),
           "float64": ("int32", "uint8", "int16"), "int64": ("int32", "uint16"),
           "int32": ("uint8", "int16"), "int16": ("uint8",), "uint16": ("int8",)}


@weight(1)
def bitcast_bits(g):
    """tf.bitcast of exact values to integers: of their width, or the pieces of a narrower
    one (exact, bounded by the type), and maybe back (the value again, bit for bit). No
    int's bits are read as a float: they could be a nan, whose payload arithmetic need not
    keep."""
    a = g.pick(lambda v: v.exact and (v.dtype in _SAME_WIDTH or v.dtype in _PIECES))
    if a is None:
        return None
    split = a.dtype not in _SAME_WIDTH or (a.dtype in _PIECES and g.rng.random() < 0.4)
    to = str(g.rng.choice(_PIECES[a.dtype])) if split else _SAME_WIDTH[a.dtype]
    bits = g.step(Step("bitcast", (Ref(a.index), to)), True,
                  float(max(-np.iinfo(to).min, np.iinfo(to).max)))
    if g.rng.random() < 0.5:
        return g.step(Step("bitcast", (Ref(bits.index), a.dtype)), True, a.bound)
    return bits


def _axes(g, rank: int):
    """None, one axis (maybe negative) or a list of axes."""
    if rank == 0 or g.rng.random() < 0.2:
        return None
    n = int(g.rng.integers(1, rank + 1))
    axes = sorted(g.rng.choice(rank, size=n, replace=False).tolist())
    if n == 1:
        return int(axes[0]) - (rank if g.rng.random() < 0.3 else 0)
    return [int(x) for x in axes]


@weight(5)
def reduce(g):
    a = g.pick(lambda v: v.dtype != "bool")
    if a is None:
        return None
    keep = bool(g.rng.random() < 0.4)
    axis = _axes(g, len(a.shape))
    size = int(np.prod(a.shape)) if a.shape else 1
    names = ["reduce_sum", "reduce_max", "reduce_min"] + ["reduce_mean"] * _float(a) + \
        ["reduce_prod"] * (size <= 8)
    name = str(g.rng.choice(names))
    if name == "reduce_prod" and _float(a):  # factors of magnitude under 2
        a = _bounded(g, a, 2.0)
    if not a.exact and name in ("reduce_max", "reduce_min") and g.rng.random() < 0.5:
        name = "reduce_sum"
    exact = a.exact and (name in ("reduce_max", "reduce_min") or _int(a))
    bound = a.bound * size if name == "reduce_sum" else a.bound ** min(size, 4) + 1 \
        if name == "reduce_prod" else a.bound
    if g.rng.random() < 0.15 and a.exact and a.shape:  # argmax / argmin of exact values
        ax = int(g.rng.integers(len(a.shape)))
        return g.step(Step(str(g.rng.choice(["argmax", "argmin"])), (Ref(a.index),),
                           (("axis", ax),)), True, max(a.shape))
    return g.step(Step(name, (Ref(a.index),), (("axis", axis), ("keepdims", keep))),
                  exact, bound)


@weight(2)
def reduce_bool(g):
    a = g.pick(lambda v: v.dtype == "bool")
    if a is None:
        return None
    name = str(g.rng.choice(["reduce_any", "reduce_all"]))
    return g.step(Step(name, (Ref(a.index),), (("axis", _axes(g, len(a.shape))),)), True, 1)


REUSING = ("sin", "tanh", "sigmoid", "cos")


@weight(0.5)
def reused_chain(g):
    """v <- (f(v) * v + v) / 2, repeated: each value read three times by the next, so a
    fused expression written out holds 3**n copies and fusion must cut it (fuse.MAX_OPS)."""
    v = g.pick(_float)
    if v is None:
        return None
    v = _bounded(g, v, 4.0)
    for _ in range(int(g.rng.integers(3, 10))):
        f = g.step(Step(str(g.rng.choice(REUSING)), (Ref(v.index),)), False, 1.0)
        p = g.step(Step("multiply", (Ref(f.index), Ref(v.index))), False, v.bound)
        s = g.step(Step("add", (Ref(p.index), Ref(v.index))), False, 2 * v.bound)
        v = g.step(Step("multiply", (Ref(s.index), 0.5)), False, v.bound)
    return v
