"""The pass pipeline: opt levels, disabling passes, per-pass records, prefixes and dumps for
bisecting, dce, and optimized training steps on llvm against the reference."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as tf
from graphc.errors import InvalidArgumentError, ShapeError
from graphc.ir import dtypes
from graphc.ir.node import topo_sort
from graphc.ir.rewrite import constant, make
from graphc.ir.shapes import broadcast_shapes
from graphc.options import Options
from graphc.passes.dce import dce
from graphc.passes.pipeline import PASS_NAMES, PASSES, passes_for, run_pipeline
from graphc.passes.specialize import specialize

F32 = dtypes.float32


def names(options):
    return [p.name for p in passes_for(options)]


def test_opt_levels_select_passes_in_pipeline_order():
    assert names(Options(opt_level=0)) == []
    assert names(Options(opt_level=1)) == ["canonicalize", "fold_constants", "dce"]
    assert names(Options(opt_level=2)) == list(PASS_NAMES)
    assert names(Options(opt_level=3)) == list(PASS_NAMES)
    assert names(Options(disable_passes=["simplify", "dce"])) == \
        ["canonicalize", "fold_constants", "layout", "stabilize"]


def test_options_know_the_pipelines_pass_names():
    from graphc import options
    assert options.PASS_NAMES == PASS_NAMES == tuple(p.name for p in PASSES)


def test_unknown_pass_names_are_refused():
    with pytest.raises(ValueError, match="unknown pass.*'simplfy'.*canonicalize"):
        Options(disable_passes=["simplfy"])
    with pytest.raises(ValueError, match="list of pass names"):
        Options(disable_passes="dce")


def _graph():
    x = make("placeholder", dtype=F32, shape=(4,))
    two = make("add", constant(1.0, F32), constant(1.0, F32))
    y = make("identity", make("neg", make("neg", make("mul", x, make("div", two, two)))))
    return x, make("log", make("add", y, constant(1.0, F32)))


def test_records_name_time_node_counts_and_rules():
    x, root = _graph()
    result = run_pipeline([root], {}, Options(debug=True))
    assert result.roots == (make("log1p", x),)
    assert [r.name for r in result.records] == list(PASS_NAMES)
    assert all(r.seconds >= 0 for r in result.records)
    counts = [(r.nodes_before, r.nodes_after) for r in result.records]
    assert counts[0][0] == len(topo_sort([root]))
    assert all(a[1] == b[0] for a, b in zip(counts, counts[1:]))
    assert counts[-1][1] == 2
    fired = {r.name: r.fired for r in result.records}
    assert fired["canonicalize"] == {"drop_identity": 1}
    assert fired["fold_constants"]["fold"] == 2
    assert fired["simplify"] == {"mul_one": 1, "neg_neg": 1}
    assert fired["stabilize"] == {"log1p": 1}
    assert "stabilize" in result.report() and "log1p x1" in result.report()


def test_opt_level_0_changes_nothing():
    x, root = _graph()
    origin = {root: root}
    result = run_pipeline([root], origin, Options(opt_level=0))
    assert result.roots == (root,) and result.records == [] and result.origin == origin


def test_a_prefix_of_the_passes_runs_for_bisecting():
    x, root = _graph()
    by_name = run_pipeline([root], {}, Options(), stop_after="fold_constants")
    by_count = run_pipeline([root], {}, Options(), stop_after=2)
    assert [r.name for r in by_name.records] == ["canonicalize", "fold_constants"]
    assert by_name.roots == by_count.roots
    assert by_name.roots[0].op.name == "log"  # simplify and stabilize have not run
    with pytest.raises(ValueError, match="not a selected pass"):
        run_pipeline([root], {}, Options(opt_level=1), stop_after="simplify")


def test_dumps_hold_the_ir_before_and_after_a_named_pass():
    x, root = _graph()
    result = run_pipeline([root], {}, Options(), dump=["stabilize"])
    record = {r.name: r for r in result.records}
    assert record["simplify"].before is None
    assert "= log(" in record["stabilize"].before and "log1p(" in record["stabilize"].after


def test_rewritten_nodes_keep_the_user_node_as_origin():
    x, root = _graph()
    result = run_pipeline([root], {root: "user log"}, Options())
    assert result.origin[result.roots[0]] == "user log"


# --- dce ------------------------------------------------------------------------------------
def test_dce_drops_deps_on_pure_nodes_and_keeps_effects_in_order():
    x = make("placeholder", dtype=F32, shape=(3,))
    var = make("variable", dtype=F32, shape=(3,))
    bump = make("assign", var, x, mode="add")
    check = make("assert", make("is_finite", x), message="finite", summarize=3)
    group = make("no_op", deps=(make("exp", x), bump))  # a pure dep and an effect
    y = make("neg", x, deps=(group, check, constant(1.0, F32)))
    (out,) = dce([y], {}, Options()).roots
    assert out is make("neg", x, deps=(bump, check))
    read_after = make("read", var, deps=(make("exp", x, deps=(bump,)),))
    (out,) = dce([read_after], {}, Options()).roots
    assert out is make("read", var, deps=(bump,))  # still ordered after the assignment


def test_assigns_and_asserts_reached_through_control_deps_still_run(target):
    x = tf.placeholder(tf.float32, [3])
    v = tf.Variable(tf.zeros([3]))
    bump = tf.assign_add(v, x)
    ok = tf.debugging.assert_positive(x, message="x must be positive")
    with tf.control_dependencies([bump, ok]):
        y = x * 1.0 + tf.constant(-0.0)
    with tf.Session(target=target, config=Options(debug=True)) as sess:
        sess.run(tf.global_variables_initializer())
        assert_close(sess.run(y, {x: [1.0, 2.0, 3.0]}), [1.0, 2.0, 3.0])
        assert_close(sess.run(v), [1.0, 2.0, 3.0])
        with pytest.raises(InvalidArgumentError, match="x must be positive"):
            sess.run(y, {x: [1.0, -2.0, 3.0]})
        assert_close(sess.run(v), [1.0, 2.0, 3.0])


# --- whole programs -------------------------------------------------------------------------
def _mlp_step(batch=16):
    tf.set_random_seed(0)  # the same initial weights in every session
    x, y = tf.placeholder(tf.float32, [None, 20]), tf.placeholder(tf.int64, [None])
    h = x
    for i, units in enumerate([16, 16]):
        with tf.variable_scope(f"l{i}"):
            w = tf.get_variable("w", [h.shape[1], units])
            b = tf.get_variable("b", [units], initializer=tf.zeros_initializer())
        h = tf.nn.relu(tf.matmul(h, w) + b)
    with tf.variable_scope("out"):
        logits = tf.matmul(h, tf.get_variable("w", [16, 5]))
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                                         logits=logits))
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    rng = np.random.default_rng(0)
    feeds = {x: rng.random((batch, 20), dtype=np.float32), y: rng.integers(0, 5, batch)}
    return loss, train, feeds


def test_the_training_step_graph_gets_smaller():
    loss, train, feeds = _mlp_step()
    fetches = [train.node]
    spec, origin = specialize(fetches, {n.node: v.shape for n, v in feeds.items()})
    result = run_pipeline(spec, origin, Options(debug=True))
    before, after = result.records[0].nodes_before, result.records[-1].nodes_after
    assert after < before - 15
    assert result.records[1].fired["fold"] >= 5
    kinds = {n.op.name for n in topo_sort(result.roots)}
    assert "identity" not in kinds and "expand_dims" not in kinds


@pytest.mark.parametrize("level", [0, 1, 3])
def test_optimized_training_matches_the_reference(level):
    loss, train, feeds = _mlp_step()
    losses = {}
    for target, options in [("reference", Options()), ("llvm", Options(opt_level=level,
                                                                         debug=True))]:
        with tf.Session(target=target, config=options) as sess:
            sess.run(tf.global_variables_initializer())
            losses[target] = [sess.run([loss, train], feeds)[0] for _ in range(5)]
    assert_close(losses["llvm"], losses["reference"], rtol=1e-4)


def test_run_time_errors_name_the_users_op_after_rewriting():
    params = tf.placeholder(tf.float32, [3])
    idx = tf.placeholder(tf.int32, [2])
    y = tf.gather(params * 1.0, idx, name="pick")
    messages = []
    for level in (0, 2):
        with tf.Session(target="llvm", config=Options(opt_level=level)) as sess:
            with pytest.raises(InvalidArgumentError) as info:
                sess.run(y, {params: [1.0, 2.0, 3.0], idx: [0, 7]})
        messages.append(str(info.value))
    assert "'pick'" in messages[0] and messages[0] == messages[1]


# --- property: random graphs give the same results at -O0 unfused and -O3 fused -------------
_CONSTANTS = [0.0, -0.0, 1.0, 2.0, 0.5, -3.0]
_UNARY = [tf.negative, tf.tanh, tf.abs, tf.sigmoid, lambda t: tf.exp(tf.tanh(t)),
          lambda t: tf.log(1.0 + tf.abs(t)), lambda t: tf.exp(t) - 1.0, tf.identity]
_BINARY = [tf.add, tf.subtract, tf.multiply, tf.maximum, lambda a, b: a / (1.5 + tf.abs(b))]


def _broadcasts(a, b) -> bool:
    try:
        broadcast_shapes(a, b)
        return True
    except ShapeError:
        return False


def _random_step(data, pool):
    """One more tensor built from the pool: elementwise (with broadcasting and constants),
    a reduction, a reshape, a transpose or a matmul."""
    a = data.draw(st.sampled_from(pool))
    kind = data.draw(st.sampled_from(["unary", "binary", "constant", "reduce", "move",
                                      "matmul"]))
    if kind == "unary":
        return data.draw(st.sampled_from(_UNARY))(a)
    if kind == "constant":
        value = tf.constant(data.draw(st.sampled_from(_CONSTANTS)))
        pair = (a, value) if data.draw(st.booleans()) else (value, a)
        return data.draw(st.sampled_from(_BINARY))(*pair)
    if kind == "binary":
        fits = [b for b in pool if _broadcasts(a.node.shape, b.node.shape)]
        return data.draw(st.sampled_from(_BINARY))(a, data.draw(st.sampled_from(fits)))
    rank = a.shape.ndims
    if kind == "reduce" and rank:
        axis = data.draw(st.integers(0, rank - 1))
        reduce = data.draw(st.sampled_from([tf.reduce_sum, tf.reduce_max]))
        return reduce(a, axis, keepdims=data.draw(st.booleans()))
    if kind == "move" and rank == 2:
        return tf.transpose(a) if data.draw(st.booleans()) else tf.reshape(a, [-1])
    if kind == "matmul" and rank == 2:
        return tf.matmul(a, tf.transpose(a)) if data.draw(st.booleans()) else \
            tf.matmul(tf.transpose(a), a)
    return tf.expand_dims(a, 0) if rank < 3 else tf.squeeze(a)


def _random_graphs_agree(data, shape, threads):
    tf.reset_default_graph()
    x, v = tf.placeholder(tf.float32, shape), tf.placeholder(tf.float32, shape[-1:])
    pool = [x, v]
    for _ in range(data.draw(st.integers(2, 10))):
        pool.append(_random_step(data, pool))
    fetches = pool[2:]
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    feeds = {x: rng.standard_normal(shape).astype(np.float32),
             v: rng.standard_normal(shape[-1:]).astype(np.float32)}
    results = []  # -O0 with one kernel per node, against -O3 with every fusion
    for options in (Options(opt_level=0, fuse=False, debug=True, threads=threads),
                    Options(opt_level=3, debug=True, threads=threads)):
        with tf.Session(target="llvm", config=options) as sess:
            results.append(sess.run(fetches, feeds))
    for at_o0, at_o3 in zip(*results):
        assert_close(at_o3, at_o0, rtol=1e-4, atol=1e-5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_graphs_agree_at_o0_unfused_and_o3(data):
    _random_graphs_agree(data, (4, 6), threads=1)


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_graphs_agree_at_sizes_that_use_threads(data):
    # big enough for GEMM row and column splits, parallel loops and column-block reductions
    _random_graphs_agree(data, (70, 300), threads=2)
