"""fold_constants: constant subexpressions become constants computed by the numpy reference;
the size cap; what is never folded; effects and errors are kept for the run."""

from __future__ import annotations

import numpy as np
from conftest import assert_close, run

import graphc as tf
from graphc.ir import dtypes
from graphc.ir import ops as prims
from graphc.ir.rewrite import constant, constant_value, make
from graphc.options import Options
from graphc.passes.fold_constants import MAX_FOLD_BYTES, fold_constants

F32, I32 = dtypes.float32, dtypes.int32


def folded(*roots):
    out = fold_constants(list(roots), {}, Options(debug=True))
    return out.roots if len(roots) > 1 else out.roots[0]


def test_a_constant_expression_becomes_its_reference_value():
    a = constant(np.array([0.5, -1.0, 3.0], np.float32), F32)
    out = folded(make("sigmoid", make("add", make("neg", a), constant(1.0, F32))))
    expected = prims.get("sigmoid").reference(np.array([0.5, 2.0, -2.0], np.float32))
    assert out.op.name == "constant"
    np.testing.assert_array_equal(constant_value(out), expected)
    assert out is constant(expected, F32)


def test_only_the_constant_part_of_an_expression_folds():
    x = make("placeholder", dtype=F32, shape=(3,))
    two = make("add", constant(1.0, F32), constant(1.0, F32))
    assert folded(make("mul", x, two)) is make("mul", x, constant(2.0, F32))


def test_a_repeated_value_folds_to_a_broadcast_scalar():
    ones = make("broadcast_to", constant(1.0, F32), shape=(64, 64))
    assert folded(make("exp", ones)) is \
        make("broadcast_to", constant(np.exp(np.float32(1)), F32), shape=(64, 64))


def test_results_over_the_size_cap_and_larger_than_their_inputs_are_not_baked_in():
    limit = MAX_FOLD_BYTES // 4  # float32 elements
    rng = np.random.default_rng(0)
    small = constant(rng.standard_normal(limit).astype(np.float32), F32)
    big = constant(rng.standard_normal(limit + 1).astype(np.float32), F32)
    assert folded(make("exp", small)).op.name == "constant"
    # a result over the cap that is larger than its inputs stays computed at run time
    grown = make("broadcast_to", big, shape=(2, limit + 1))
    assert folded(grown) is grown
    # one no larger than its inputs replaces them: a weight transformed (exp, transpose)
    assert folded(make("exp", big)).op.name == "constant"
    # a small result of a large constant input still folds
    assert folded(make("reduce_sum", big, axes=(0,), keepdims=False)).op.name == "constant"


def test_state_and_random_nodes_are_never_folded():
    var = make("variable", dtype=F32, shape=(3,))
    read = make("read", var)
    draw = make("random", distribution="uniform", dtype=F32, shape=(3,), seed=1, minval=0.0,
                maxval=1.0)
    ph = make("placeholder", dtype=F32, shape=(3,))
    for n in (read, draw, ph):
        assert folded(make("exp", n)) is make("exp", n)
    assign = make("assign", var, constant(np.ones(3, np.float32), F32), mode="set")
    assert folded(assign) is assign


def test_a_failing_reference_is_left_for_the_run():
    params = constant(np.arange(3, dtype=np.float32), F32)
    bad = make("gather", params, constant(np.array([5], np.int32), I32), axis=0)
    assert folded(bad) is bad


def test_folding_keeps_control_dependencies_on_effects():
    var = make("variable", dtype=F32, shape=())
    bump = make("assign", var, constant(1.0, F32), mode="add")
    after = make("constant", value=np.array(2.0, np.float32), deps=(bump,))
    out = folded(make("mul", after, constant(3.0, F32)))
    assert out is make("constant", value=np.array(6.0, np.float32), deps=(bump,))


def test_static_shapes_are_constants():
    x = make("placeholder", dtype=F32, shape=(2, 5))
    assert folded(make("shape", x, out_type=I32)) is constant(np.array([2, 5], np.int32), I32)
    unknown = make("placeholder", dtype=F32, shape=(None, 5))
    assert folded(make("shape", unknown, out_type=I32)).op.name == "shape"


def test_folded_programs_match_the_reference(target):
    x = tf.placeholder(tf.float32, [4])
    table = tf.constant(np.linspace(-2, 2, 8, dtype=np.float32))
    scale = tf.reduce_sum(tf.exp(table)) / tf.cast(tf.size(table), tf.float32)
    y = x * scale + tf.gather(table, tf.constant([1, 3, 5, 7]))
    values = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    expected = run(y, {x: values}, target="reference")
    assert_close(run(y, {x: values}, target=target), expected)
