"""The fuzzer's families for data movement, matmuls and row ops, the gradients added after
a program's forward steps, FAMILIES, the whole list the generator draws from, and
draw_program, which draws a whole program with a fuzz_gen.Generator."""

from __future__ import annotations

import numpy as np

from graphc.tools import fuzz_ops as E
from graphc.tools import fuzz_ops_collective as D
from graphc.tools import fuzz_ops_control as K
from graphc.tools import fuzz_ops_conv as C
from graphc.tools import fuzz_ops_extra as X
from graphc.tools import fuzz_ops_sparse as S
from graphc.tools.fuzz_ops import _float, weight
from graphc.tools.fuzz_program import Program, Ref, Step, apply


def _same(g, a, exact=None):
    """A step of a's exactness and bound (data movement)."""
    return lambda step: g.step(step, a.exact if exact is None else exact, a.bound)


@weight(10)
def movement(g):
    a = g.pick()
    if a is None:
        return None
    r, shape, put = len(a.shape), a.shape, _same(g, a)
    kind = str(g.rng.choice(["reshape", "transpose", "expand_dims", "squeeze", "slice",
                             "strided_slice", "reverse", "concat", "stack", "split", "tile",
                             "pad", "broadcast_to", "gather", "unstack", "one_hot"]))
    ref = Ref(a.index)
    if kind == "one_hot":  # of in-range indices
        a = g.pick(E._int)
        if a is None:
            return None
        idx = g.step(Step("mod", (Ref(a.index), 4)), True, 4)
        return g.step(Step("one_hot", (Ref(idx.index), 4), (("dtype", g.float),)), True, 1)
    if kind == "reshape":
        size = int(np.prod(shape)) if shape else 1
        new = _factor(g, size)
        if new and g.rng.random() < 0.3:
            new[int(g.rng.integers(len(new)))] = -1
        return put(Step("reshape", (ref, new)))
    if kind == "expand_dims" or r == 0:
        return put(Step("expand_dims", (ref, int(g.rng.integers(-r - 1, r + 1)))))
    if kind == "transpose":
        return put(Step("transpose", (ref, [int(p) for p in g.rng.permutation(r)])))
    if kind == "squeeze":
        ones = [i for i, d in enumerate(shape) if d == 1]
        return put(Step("squeeze", (ref,) + ((ones[:1],) if ones and
                                               g.rng.random() < 0.5 else ())))
    if kind == "reverse":
        return put(Step("reverse", (ref, [int(g.rng.integers(r))])))
    if kind in ("slice", "strided_slice"):
        return _slice(g, a, kind, put)
    if kind in ("concat", "stack"):
        return _join(g, a, kind)
    if kind in ("split", "unstack"):
        axis = int(g.rng.integers(r))
        if kind == "unstack":
            return put(Step("unstack", (ref,), (("axis", axis),),
                            pick=int(g.rng.integers(shape[axis]))))
        n = shape[axis]
        sizes = [1, n - 1] if n > 1 else [1]
        return put(Step("split", (ref, sizes), (("axis", axis),),
                        pick=int(g.rng.integers(len(sizes)))))
    if kind == "tile":
        return put(Step("tile", (ref, [int(g.rng.integers(1, 3)) for _ in shape])))
    if kind == "pad":
        pads = [[int(g.rng.integers(0, 2)), int(g.rng.integers(0, 3))] for _ in shape]
        return g.step(Step("pad", (ref, pads)), a.exact, a.bound)
    if kind == "broadcast_to":
        new = [int(g.rng.choice(g.dims)) if d == 1 else d for d in shape]
        return put(Step("broadcast_to", (ref, [int(g.rng.choice(g.dims))] + new)))
    return _gather(g, a, put)


def _factor(g, size: int) -> list:
    """A random shape of `size` elements, rank 0 to 3."""
    out, left = [], size
    for _ in range(int(g.rng.integers(0, 3))):
        divisors = [d for d in range(1, left + 1) if left % d == 0]
        d = int(g.rng.choice(divisors))
        out.append(d)
        left //= d
    return out + [left] if (out or left != 1 or g.rng.random() < 0.5) else []


def _slice(g, a, kind, put):
    begin = [int(g.rng.integers(d)) for d in a.shape]
    if kind == "slice":
        size = [int(g.rng.integers(1, d - b + 1)) if g.rng.random() < 0.8 else -1
                for d, b in zip(a.shape, begin)]
        return put(Step("slice", (Ref(a.index), begin, size)))
    strides = [int(g.rng.choice([1, 2, -1])) for _ in a.shape]
    end = [(d if s > 0 else -d - 1) for d, s in zip(a.shape, strides)]
    begin = [b if s > 0 else -1 for b, s in zip(begin, strides)]
    return put(Step("strided_slice", (Ref(a.index), begin, end, strides)))


def _join(g, a, kind):
    others = [v for v in g.pool if v.dtype == a.dtype and v.shape == a.shape]
    items = [a] + [others[int(g.rng.integers(len(others)))]
                   for _ in range(int(g.rng.integers(1, 3)))]
    refs = [Ref(v.index) for v in items]
    exact = all(v.exact for v in items)
    bound = max(v.bound for v in items)
    r = len(a.shape)
    axis = int(g.rng.integers(0, r + (kind == "stack"))) if r or kind == "stack" else 0
    if kind == "concat" and r == 0:
        return g.step(Step("stack", (refs,), (("axis", 0),)), exact, bound)
    return g.step(Step(kind, (refs,), (("axis", axis),)), exact, bound)


def _gather(g, a, put):
    axis = int(g.rng.integers(len(a.shape)))
    idx_shape = g.shape(int(g.rng.integers(0, 3)))
    idx = g.rng.integers(0, a.shape[axis], size=idx_shape).astype(np.int32)
    if g.rng.random() < 0.5:
        ref = Ref(g.step(Step("constant", (idx,)), True, a.shape[axis]).index)
    else:
        ref = idx
    return put(Step("gather", (Ref(a.index), ref), (("axis", axis),)))


@weight(7)
def matmul(g):
    """A product with random transposes, a shared operand or a batch; sometimes a sum of
    two products (x @ W + h @ U)."""
    a = g.pick(lambda v: _float(v) and len(v.shape) in (2, 3))
    if a is None:
        a = g.feed(g.float, g.shape(2))
    ta = bool(g.rng.random() < 0.3)
    m, k = (a.shape[-1], a.shape[-2]) if ta else (a.shape[-2], a.shape[-1])
    if g.rng.random() < 0.25:  # a shared operand: a a^T or a^T a
        out = g.step(Step("matmul", (Ref(a.index), Ref(a.index)),
                          (("transpose_a", ta), ("transpose_b", not ta))), False,
                     a.bound * a.bound * k)
        return out
    prod = _product(g, a, ta, m, k)
    if g.rng.random() < 0.35 and len(prod.shape) == 2:  # plus a second product
        c = g.pick(lambda v: _float(v) and v.dtype == a.dtype and len(v.shape) == 2
                   and prod.shape[0] in v.shape)
        if c is not None:
            tc = c.shape[0] != prod.shape[0]
            second = _product(g, c, tc, prod.shape[0], c.shape[0 if tc else 1],
                              n=prod.shape[1])
            return g.step(Step("add", (Ref(prod.index), Ref(second.index))), False,
                          prod.bound + second.bound)
    return prod


def _product(g, a, ta, m, k, n=None):
    size = int(np.prod(a.shape))
    if n is None and len(a.shape) == 3 and size % k == 0 and g.rng.random() < 0.15:
        # a batch against a matrix that is a view of the batch itself: one buffer read at
        # two offsets (once read at the matrix's offset for both: seed 4200081)
        tb = bool(g.rng.random() < 0.4)
        n = size // k
        view = g.step(Step("reshape", (Ref(a.index), [n, k] if tb else [k, n])), a.exact,
                      a.bound)
        return g.step(Step("matmul", (Ref(a.index), Ref(view.index)),
                           (("transpose_a", ta), ("transpose_b", tb))), False,
                      a.bound * a.bound * k)
    n = n or int(g.rng.choice(g.dims))
    tb = bool(g.rng.random() < 0.4)
    want = tuple(a.shape[:-2]) + ((n, k) if tb else (k, n))
    if len(a.shape) == 3 and g.rng.random() < 0.3:
        want = want[1:]  # a matrix against a batch
    b = None
    if len(want) == 2 and g.rng.random() < 0.2:
        # a weight matrix of its own: its gradient-descent update, when nothing else reads
        # it, accumulates the gradient's product into the variable (compiler/accumulate.py)
        b = g.step(Step("Variable", (g.array(a.dtype, want),)), True, 4.0)
        g.variables.append(b)
    if b is None:
        b = g.pick(lambda v: v.dtype == a.dtype and v.shape == want, prefer_recent=False)
    if b is None:
        b = g.feed(a.dtype, want) if g.rng.random() < 0.5 else g.constant(a.dtype, want)
    return g.step(Step("matmul", (Ref(a.index), Ref(b.index)),
                       (("transpose_a", ta), ("transpose_b", tb))), False,
                  a.bound * b.bound * k)


@weight(3)
def rows(g):
    """Row ops fused as row groups, and a few compositions."""
    a = g.pick(lambda v: _float(v) and len(v.shape) >= 1)
    if a is None:
        return None
    name = str(g.rng.choice(["nn.softmax", "nn.log_softmax", "nn.l2_normalize",
                             "nn.bias_add", "clip_by_value", "loss", "add_n",
                             "tensordot"]))
    if name in ("loss", "add_n", "tensordot"):
        return _composite(g, a, name)
    if name == "nn.bias_add":
        if len(a.shape) < 2:
            return None
        bias = g.pick(lambda v: v.dtype == a.dtype and v.shape == a.shape[-1:])
        bias = bias or g.constant(a.dtype, a.shape[-1:])
        return g.step(Step(name, (Ref(a.index), Ref(bias.index))), False, a.bound + 4)
    if name == "clip_by_value":
        return g.step(Step(name, (Ref(a.index), -1.0, 1.5)), a.exact, 1.5)
    if name == "nn.l2_normalize":  # of rows with norms over 0.5: a zero row's gradient
        # is of order 1/sqrt(epsilon) = 1e6 and cancels to rounding noise of that size
        a = g.step(Step("abs", (Ref(a.index),)), a.exact, a.bound)
        a = g.step(Step("add", (Ref(a.index), 0.5)), False, a.bound + 0.5)
        return g.step(Step(name, (Ref(a.index),), (("axis", -1),)), False, 1.0)
    return g.step(Step(name, (Ref(a.index),)), False, 1.0 if "log" not in name else
                  2 * a.bound + 10)


def _composite(g, a, name):
    """Cross-entropy losses on a's rows, add_n of same-typed values, tensordot."""
    ref = Ref(a.index)
    if name == "add_n":
        same = [v for v in g.pool if v.dtype == a.dtype and v.shape == a.shape]
        items = [a] + [same[int(g.rng.integers(len(same)))] for _ in range(2)]
        return g.step(Step("add_n", ([Ref(v.index) for v in items],)), False,
                      sum(v.bound for v in items))
    if name == "tensordot":
        b = g.pick(lambda v: v.dtype == a.dtype and v.shape and v.shape[0] == a.shape[-1])
        if b is None or len(a.shape) + len(b.shape) > 5:
            return None
        return g.step(Step("tensordot", (ref, Ref(b.index), 1)), False,
                      a.bound * b.bound * a.shape[-1])
    if len(a.shape) != 2:
        return None
    n = a.shape[-1]
    if g.rng.random() < 0.5:  # sparse labels: in-range class indices
        labels = g.rng.integers(0, n, size=a.shape[:1]).astype(np.int32)
        return g.step(Step("nn.sparse_softmax_cross_entropy_with_logits", (),
                           (("labels", labels), ("logits", ref))), False, 2 * a.bound + 10)
    probs = g.rng.dirichlet(np.ones(n), size=a.shape[0]).astype(a.dtype)
    return g.step(Step("nn.softmax_cross_entropy_with_logits_v2", (),
                       (("labels", probs), ("logits", ref))), False, 2 * a.bound + 10)


FAMILIES = [E.unary_float, E.binary_float, E.integer, E.small_int, E.compare_select, E.cast_round,
            E.bitcast_bits,
            E.reduce, E.reduce_bool, movement, matmul, rows, E.reused_chain, C.conv,
            K.control, X.extra, S.sparse, D.collective]


def add_gradients(g, outputs: list) -> list:
    """Steps for d loss / d x for every float input x, loss = sum of reduce_sum(out * w)
    over the float outputs; for about a third of programs also d (sum g * w2) / d x; and a
    gradient-descent update of each variable the loss reaches (v - 0.1 d loss / d v, the
    assignment's value fetched). Returns the indices of the values to fetch."""
    xs = [v for v in g.pool if _float(v) and type(g.values[v.index]).__name__ == "Input"]
    outs = [v for v in g.pool if v.index in outputs and _float(v)]
    if not outs:
        return []
    loss = _weighted_sum(g, outs)
    grads = _gradients(g, loss, xs) if xs else []
    if grads and g.rng.random() < 0.35:
        grads += _gradients(g, _weighted_sum(g, grads), xs)
    updates = []
    for var in g.variables:
        (grad,) = _gradients(g, loss, [var]) or (None,)
        if grad is not None:
            rate = g.step(Step("multiply", (Ref(grad.index), 0.1)), False, 1e9)
            updates.append(g.step(Step("assign_sub", (Ref(var.index), Ref(rate.index))),
                                  False, 1e9))
    return [v.index for v in grads + updates]


def _weighted_sum(g, values):
    terms = []
    for v in values:
        w = g.constant(v.dtype, v.shape)
        p = g.step(Step("multiply", (Ref(v.index), Ref(w.index))), False, v.bound * 4)
        terms.append(g.step(Step("reduce_sum", (Ref(p.index),)), False, 1e9))
    if len({t.dtype for t in terms}) > 1:
        terms = [g.step(Step("cast", (Ref(t.index), "float64")), False, 1e9) for t in terms]
    if len(terms) == 1:
        return terms[0]
    return g.step(Step("add_n", ([Ref(t.index) for t in terms],)), False, 1e9)


def _gradients(g, loss, xs) -> list:
    out = []
    for i, x in enumerate(xs):
        step = Step("gradients", (Ref(loss.index), [Ref(v.index) for v in xs]), pick=i)
        if apply(g.tf, step, g._tensors()) is None:  # x does not reach the loss
            continue
        out.append(g.step(step, False, 1e9))
    return out


def draw_program(g, gradients: bool = True) -> Program:
    """The generator's program: feeds, variables, `g.steps` draws of the families, the
    outputs and (with `gradients`) the gradients of a loss over them."""
    ints = "int64" if g.rng.random() < 0.2 else "int32"
    for dtype in (g.float, g.float, ints):
        g.feed(dtype, g.shape(int(g.rng.integers(1, 4))))
    for _ in range(int(g.rng.choice([0, 0, 1, 2]))):  # variables a train step updates
        value = g.array(g.float, g.shape(int(g.rng.integers(1, 3))))
        g.variables.append(g.step(Step("Variable", (value,)), True, 4.0))
    names = [f.__name__ for f in FAMILIES]
    weights = np.array([f.weight for f in FAMILIES], float)
    made = 0
    for _ in range(g.steps * 4):
        if made >= g.steps:
            break
        family = FAMILIES[int(g.rng.choice(len(names), p=weights / weights.sum()))]
        try:
            made += family(g) is not None
        except (TypeError, ValueError) as err:  # graphc refused a combination: draw again
            g.rejected = getattr(g, "rejected", []) + [f"{family.__name__}: {err}"]
    outputs = g.outputs()
    if gradients:
        outputs += add_gradients(g, outputs)
    elif g.variables:  # the variables' values as the forward steps read them
        outputs += [v.index for v in g.variables]
    return Program(g.values, outputs, g.seed)
