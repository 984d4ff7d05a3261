"""The rewrite engine: pattern matching, the fixed point, what a rule may not change (dtype,
shape, effects), provenance, and CSE through interning."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.ir import dtypes
from graphc.ir.node import topo_sort
from graphc.ir.rewrite import (
    P,
    RewriteError,
    Rule,
    RuleTable,
    const,
    constant,
    has_effect,
    make,
    rewrite,
    splat_of,
    var,
)

F32 = dtypes.float32


def ph(shape=(3,), dtype=F32):
    return make("placeholder", dtype=dtype, shape=shape)


def c(value, dtype=F32):
    return constant(value, dtype)


MUL_ONE = RuleTable([Rule("mul_one", P("mul", var("x"), const(value=1), commutative=True),
                          lambda x: x)])


# --- patterns -------------------------------------------------------------------------------
def test_a_pattern_matches_op_inputs_and_captures():
    x = ph()
    n = make("mul", x, c(1.0))
    assert P("mul", var("a"), const("k")).match(n, {}) == {"a": x, "k": c(1.0)}
    assert P("add", var("a"), var("b")).match(n, {}) is None
    assert P(("add", "mul")).match(n, {}) == {}


def test_commutative_patterns_try_both_orders():
    x = ph()
    left = make("mul", c(1.0), x)
    assert P("mul", var("x"), const(value=1)).match(left, {}) is None
    assert P("mul", var("x"), const(value=1), commutative=True).match(left, {}) == {"x": x}


def test_a_name_used_twice_must_capture_the_same_node():
    x, y = ph(), ph()
    same = P("sub", var("a"), var("a"))
    assert same.match(make("sub", x, x), {}) == {"a": x}
    assert same.match(make("sub", x, y), {}) is None


def test_constant_values_are_compared_bit_for_bit():
    assert const(value=0.0).match(c(0.0), {}) == {}
    assert const(value=0.0).match(c(-0.0), {}) is None
    assert const(value=-0.0).match(c([-0.0, -0.0]), {}) == {}
    assert const(value=1).match(c([1.0, 2.0]), {}) is None


def test_splat_of_tells_repeated_values_bit_for_bit():
    assert splat_of(np.full((2, 3), 7.0, np.float32)) == 7.0
    assert np.isnan(splat_of(np.full(4, np.nan)))
    assert splat_of(np.array([0.0, -0.0])) is None
    assert splat_of(np.zeros(0)) is None


# --- the engine -----------------------------------------------------------------------------
def test_rewrite_replaces_bottom_up_and_counts_rules():
    x = ph()
    n = make("neg", make("mul", make("exp", make("mul", x, c(1.0))), c(1.0)))
    out = rewrite([n], MUL_ONE)
    assert out.roots == (make("neg", make("exp", x)),)
    assert out.fired == {"mul_one": 2}
    # once rewritten, x * 1 is x: the same expression again is memoized, not rewritten
    assert rewrite([make("mul", make("mul", x, c(1.0)), c(1.0))], MUL_ONE).fired == \
        {"mul_one": 1}


def test_cse_is_free_equal_results_are_one_node():
    x = ph()
    a = make("add", make("mul", x, c(1.0)), make("exp", x))
    b = make("add", x, make("exp", x))
    (ra, rb) = rewrite([a, b], MUL_ONE).roots
    assert ra is rb is b
    assert make("add", x, make("exp", x)) is b  # building twice gives the same object


def test_the_result_is_a_fixed_point():
    x = ph()
    double_neg = RuleTable([Rule("neg_neg", P("neg", P("neg", var("x"))), lambda x: x)])
    n = x
    for _ in range(7):
        n = make("neg", n)
    out = rewrite([n], double_neg)
    assert out.roots == (make("neg", x),)
    assert rewrite(out.roots, double_neg).fired == {}


def test_replacements_are_rewritten_too():
    x = ph()
    rules = RuleTable([
        Rule("sub_to_add_neg", P("sub", var("a"), var("b")),
             lambda a, b: make("add", a, make("neg", b))),
        Rule("neg_neg", P("neg", P("neg", var("x"))), lambda x: x),
    ])
    out = rewrite([make("sub", x, make("neg", x))], rules)
    assert out.roots == (make("add", x, x),)


def test_rules_that_undo_each_other_stop_with_an_error():
    x = ph()
    rules = RuleTable([Rule("to_sub", P("add", var("a"), var("b")), lambda a, b:
                            make("sub", a, make("neg", b))),
                       Rule("to_add", P("sub", var("a"), P("neg", var("b"))),
                            lambda a, b: make("add", a, b))])
    with pytest.raises(RewriteError, match="to_add"):
        rewrite([make("add", x, x)], rules)


def test_rules_that_keep_growing_stop_at_the_step_limit():
    x = ph()
    grow = RuleTable([Rule("grow", P("exp", var("x")), lambda x: make("exp", make("neg",
                                                                                  x)))])
    with pytest.raises(RewriteError, match="no fixed point after 50 rewrites"):
        rewrite([make("exp", x)], grow, max_steps=50)


def test_deep_graphs_do_not_recurse():
    x = ph()
    n = x
    for _ in range(20000):
        n = make("mul", make("neg", n), c(1.0))
    out = rewrite([n], MUL_ONE)
    assert len(topo_sort(out.roots)) == 20001


def test_a_replacement_of_another_dtype_is_an_error():
    x = ph()
    bad = RuleTable([Rule("bad", P("neg", var("x")), lambda x: make("cast", x,
                                                                     dtype=dtypes.float64))])
    with pytest.raises(RewriteError, match="dtypes differ"):
        rewrite([make("neg", x)], bad)


def test_a_smaller_replacement_is_broadcast_to_the_shape():
    x = ph((1,))
    n = make("mul", x, c(np.ones((4, 3), np.float32)))
    (out,) = rewrite([n], MUL_ONE).roots
    assert out is make("broadcast_to", x, shape=(4, 3))


# --- effects and provenance -----------------------------------------------------------------
def _assign(value):
    v = make("variable", dtype=F32, shape=value.shape)
    return make("assign", v, value, mode="add")


def test_state_nodes_are_never_rewritten():
    x = ph()
    a = _assign(make("mul", x, c(1.0)))
    drop_all = RuleTable([Rule("drop", P("assign", name="n"), lambda n: n.inputs[1])])
    (out,) = rewrite([a], drop_all + MUL_ONE).roots
    assert out.op.name == "assign" and out.inputs[1] is x
    assert out.attrs["uid"] == a.attrs["uid"]


def test_effects_a_replacement_drops_become_control_dependencies():
    x = ph()
    effect = _assign(x)
    one = make("constant", value=np.array(1, np.float32), deps=(effect,))
    (out,) = rewrite([make("neg", make("mul", x, one))], MUL_ONE).roots
    # the placeholder cannot take deps: the engine keeps the effect on an identity of it
    assert out is make("neg", make("identity", x, deps=(effect,)))


def test_pure_replacements_take_the_dropped_effects_as_deps():
    x = ph()
    effect = _assign(x)
    n = make("mul", make("exp", x), make("constant", value=np.array(1, np.float32), deps=(effect,)))
    (out,) = rewrite([n], MUL_ONE).roots
    assert out is make("exp", x, deps=(effect,))


def test_what_has_an_effect():
    x = ph()
    v = make("variable", dtype=F32, shape=(3,))
    assert has_effect(make("read", v)) and has_effect(_assign(x)) and not has_effect(x)
    assert not has_effect(v) and not has_effect(make("exp", x)) and not has_effect(c(1.0))
    idx = make("placeholder", dtype=dtypes.int32, shape=(2,))
    assert has_effect(make("gather", x, idx, axis=0))  # an index may be out of range


def test_new_nodes_map_to_the_user_node_they_replace():
    x = ph()
    user = make("log", make("add", x, c(1.0)))
    to_log1p = RuleTable([Rule("log1p", P("log", P("add", var("x"), const(value=1))),
                               lambda x: make("exp", make("log1p", x)))])
    out = rewrite([user], to_log1p, origin={user: user})
    new = out.roots[0]
    assert out.origin[new] is user and out.origin[new.inputs[0]] is user
