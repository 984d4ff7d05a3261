"""canonicalize: one spelling for each computation, so that later rules and interning see
equal things as equal.

Expects any L1 graph (specialized or not). Guarantees, for every node the rules reach:
no identity, stop_gradient or custom_gradient (gradients are built before passes run), no
ensure_shape of an already static shape, expand_dims and squeeze of static shapes written as
reshape, no reshape or transpose that does nothing and no chain of two, no cast to the same
dtype, constants on the right of commutative ops, no broadcast_to or splat constant feeding
an elementwise op whose shape it does not change, unary elementwise ops applied before a
broadcast rather than after, a scalar broadcast reshaped or transposed written as one
broadcast, and reductions over size-1 axes written as reshapes. Every rule
moves data or reorders exact operations only, so results are bit-identical. Consumed by
fold_constants, simplify and stabilize, which also run these rules so that their own output
stays canonical.
"""

from __future__ import annotations

from graphc.ir import ops as prims
from graphc.ir.node import Node, make_node
from graphc.ir.rewrite import (
    P,
    Rewritten,
    Rule,
    RuleTable,
    const,
    constant,
    constant_value,
    make,
    rewrite,
    splat_of,
    var,
)
from graphc.ir.shapes import broadcast_shapes

# a + b == b + a and a * b == b * a bit for bit in IEEE arithmetic (maximum and minimum are
# left alone: which operand a tie returns decides the sign of a zero result)
COMMUTATIVE = ("add", "mul", "equal", "not_equal", "logical_and", "logical_or", "logical_xor")
ELEMENTWISE_NARY = tuple(sorted(p.name for p in prims.PRIMITIVES.values()
                                if p.kind == "elementwise" and p.arity in (2, 3)))
ELEMENTWISE_UNARY = tuple(sorted(p.name for p in prims.PRIMITIVES.values()
                                 if p.kind == "elementwise" and p.arity == 1
                                 and p.name not in ("identity", "stop_gradient",
                                                    "ensure_shape")))
REDUCTIONS = ("reduce_sum", "reduce_prod", "reduce_max", "reduce_min", "reduce_any",
              "reduce_all")


def _static(x: Node) -> bool:
    return x.shape is not None and None not in x.shape


def _plain(x: Node) -> bool:
    """A reshape or broadcast_to with its target in attrs (no run-time shape input)."""
    return len(x.inputs) == 1


def _as_reshape(n: Node):
    # expand_dims and squeeze only insert or drop size-1 axes: row-major data is unchanged
    return make("reshape", n.inputs[0], shape=n.shape) if _static(n) else None


def _reshape_of_reshape(n: Node, inner: Node):
    if not (_plain(n) and _plain(inner) and _static(n)):
        return None
    return make("reshape", inner.inputs[0], shape=n.shape)


def _compose_transposes(n: Node, inner: Node):
    # out[i] = inner[perm2[i]] = x[perm1[perm2[i]]]
    perm1, perm2 = inner.attrs["perm"], n.attrs["perm"]
    return make("transpose", inner.inputs[0], perm=tuple(perm1[j] for j in perm2))


def _smaller_input(x: Node):
    """What x broadcasts from: broadcast_to's input, or a splat constant's scalar."""
    if x.op.name == "broadcast_to" and _plain(x):
        return x.inputs[0]
    value = constant_value(x)
    one = splat_of(value) if value is not None and value.ndim > 0 else None
    return None if one is None else constant(one, x.dtype)


def _absorb_broadcasts(n: Node):
    # elementwise ops broadcast their inputs themselves: an input that only repeats a
    # smaller value can be that value whenever the output shape stays the same
    inputs, changed = list(n.inputs), False
    for i, x in enumerate(n.inputs):
        small = _smaller_input(x)
        if small is None or small.shape is None:
            continue
        trial = inputs[:i] + [small] + inputs[i + 1:]
        if _static(n) and broadcast_shapes(*(t.shape for t in trial)) == n.shape:
            inputs, changed = trial, True
    return make_node(n.op, inputs, dict(n.attrs), n.deps) if changed else None


def _unary_before_broadcast(n: Node, b: Node):
    # f(broadcast(y)) == broadcast(f(y)) for an elementwise f: computed once per distinct value
    if not _plain(b):
        return None
    return make("broadcast_to", make_node(n.op, (b.inputs[0],), dict(n.attrs)), shape=b.shape)


def _moved_splat(n: Node, b: Node):
    # moving the elements of one repeated value around repeats the same value
    if not (_plain(b) and b.inputs[0].shape == () and _static(n)):
        return None
    return make("broadcast_to", b.inputs[0], shape=n.shape)


def _unit_reduction(n: Node, x: Node):
    # a reduction over axes of size 1 (or none) sees one element: it is that element
    axes = n.attrs["axes"]
    if not _static(x) or any(x.shape[a] != 1 for a in axes):
        return None
    return make("reshape", x, shape=n.shape)


def _swap(n: Node, c: Node, x: Node):
    return make_node(n.op, (x, c), dict(n.attrs), n.deps)


def _not_constant(x: Node) -> bool:
    return x.op.name != "constant"

CANONICAL_RULES = RuleTable([
    Rule("drop_identity", P(("identity", "stop_gradient"), var("x")), lambda x: x),
    Rule("drop_custom_gradient", P("custom_gradient", name="n"), lambda n: n.inputs[0]),
    Rule("drop_static_ensure_shape", P("ensure_shape", var("x", where=_static)),
         lambda x: x),
    Rule("expand_dims_as_reshape", P(("expand_dims", "squeeze"), name="n"), _as_reshape),
    Rule("reshape_chain", P("reshape", P("reshape", name="inner"), name="n"),
         _reshape_of_reshape),
    Rule("reshape_noop", P("reshape", var("x"), name="n", where=lambda n: _plain(n) and
                           n.shape == n.inputs[0].shape), lambda n, x: x),
    Rule("transpose_noop", P("transpose", var("x"), where=lambda n: n.attrs["perm"] ==
                             tuple(range(len(n.attrs["perm"])))), lambda x: x),
    Rule("transpose_chain", P("transpose", P("transpose", name="inner"), name="n"),
         _compose_transposes),
    Rule("cast_noop", P("cast", var("x"), name="n",
                        where=lambda n: n.dtype is n.inputs[0].dtype), lambda n, x: x),
    Rule("constant_right", P(COMMUTATIVE, const("c"), var("x", where=_not_constant),
                             name="n"), _swap),
    Rule("absorb_broadcast", P(ELEMENTWISE_NARY, name="n"), _absorb_broadcasts),
    Rule("unary_before_broadcast", P(ELEMENTWISE_UNARY, P("broadcast_to", name="b"),
                                     name="n"), _unary_before_broadcast),
    Rule("move_splat", P(("reshape", "transpose", "expand_dims", "squeeze"),
                         P("broadcast_to", name="b"), name="n"), _moved_splat),
    Rule("unit_reduction", P(REDUCTIONS, var("x"), name="n"), _unit_reduction),
])


def canonicalize(roots, origin, options) -> Rewritten:
    """The graph of `roots` in canonical form (see the module docstring)."""
    return rewrite(roots, CANONICAL_RULES, origin)
