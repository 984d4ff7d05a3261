"""Assignments that write the variable's own array (compiler/commits.py) where that is
safe, instead of a staging buffer copied in after the run; and the cases where it is not."""

import numpy as np
import pytest

import graphc as tf

RNG = np.random.default_rng(3)


def _plans(sess) -> list:
    return list(sess._executor._plans.values())


def _both(build, steps=3, feeds=None):
    """Values of build()'s fetches after each step, on llvm and on reference; the llvm plan."""
    results, plan = {}, None
    for target in ("llvm", "reference"):
        tf.reset_default_graph()
        fetches, variables = build()
        with tf.Session(target=target) as sess:
            sess.run(tf.global_variables_initializer())
            results[target] = [sess.run(fetches, feeds)]
            if target == "llvm":
                plan = _plans(sess)[-1]  # the step's
            results[target] += [sess.run(fetches, feeds) for _ in range(steps - 1)] + \
                [sess.run(variables)]
    for got, want in zip(results["llvm"], results["reference"]):
        for g, w in zip(got, want):
            if w is not None:  # operations fetch None
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    return plan


def test_an_sgd_step_writes_the_weights_in_place():
    x0 = RNG.standard_normal((16, 8)).astype(np.float32)
    w0 = RNG.standard_normal((8, 4)).astype(np.float32)

    def build():
        w = tf.Variable(w0)
        b = tf.Variable(np.zeros(4, np.float32))
        loss = tf.reduce_sum(tf.square(tf.matmul(tf.constant(x0), w) + b))
        train = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
        return [train, loss], [w, b]
    plan = _both(build)
    # w's update runs in its gradient's GEMM, which adds -0.01 times its product into w
    # itself (compiler/accumulate.py); b's stays staged, because the loss, computed after
    # it, reads the old b
    assert len(plan.commits) == 2 and len(plan.direct) == 1
    (k,) = [k for k in plan.kernels if k.name == "k_matmul_assign"]
    own = [i for i, s in enumerate(plan.slots) if s.kind == "variable" and
           tuple(s.node.shape) == (8, 4)]
    (gemm,) = k.body
    assert [f"s{i}" for i in own] == [gemm.buffers[2]] and len(gemm.args) == 11


def test_momentum_reads_the_new_accumulator_from_the_variable():
    def build():
        w = tf.Variable(np.ones(5))
        train = tf.train.MomentumOptimizer(0.05, 0.9).minimize(tf.reduce_sum(w * w))
        return [train], [w]
    plan = _both(build, steps=4)
    assert len(plan.direct) == 2


def test_a_check_after_the_assignment_keeps_it_staged_and_a_failed_run_changes_nothing():
    tf.reset_default_graph()
    v = tf.Variable(np.array([1.0, 2.0, 3.0], np.float32))
    limit = tf.placeholder(tf.float32, [])
    new = tf.assign_add(v, tf.ones(3))
    check = tf.debugging.assert_less(new, limit, message="too big")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run([new, check], {limit: 10.0})
        assert not _plans(sess)[-1].direct
        with pytest.raises(tf.errors.InvalidArgumentError, match="too big"):
            sess.run([new, check], {limit: 4.0})
        np.testing.assert_array_equal(sess.run(v), [2.0, 3.0, 4.0])


def test_the_old_value_fetched_with_the_update_stays_the_old_value():
    tf.reset_default_graph()
    v = tf.Variable(np.array([1.0, 2.0], np.float32))
    old = tf.identity(v)
    with tf.control_dependencies([old]):
        new = tf.assign_add(v, tf.constant([10.0, 20.0]))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got_old, got_new = sess.run([old, new])
        assert not _plans(sess)[-1].direct
    np.testing.assert_array_equal(got_old, [1.0, 2.0])
    np.testing.assert_array_equal(got_new, [11.0, 22.0])


def test_a_gemm_that_reads_the_variable_does_not_write_it_while_reading():
    m0 = RNG.standard_normal((40, 40)).astype(np.float32) * 0.1
    w0 = RNG.standard_normal((40, 40)).astype(np.float32)

    def build():
        w = tf.Variable(w0)
        step = tf.assign_add(w, tf.matmul(w, tf.constant(m0)))  # w += w @ m
        return [step], [w]
    plan = _both(build)
    assert not plan.direct
    assert [k.name for k in plan.kernels] == ["k_matmul_assign"]


def test_export_still_refuses_a_training_step(tmp_path):
    tf.reset_default_graph()
    w = tf.Variable(np.ones(3, np.float32))
    step = tf.assign_sub(w, tf.ones(3))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(ValueError, match="exported artifacts compute values only"):
            tf.export({"out": step}, {}, str(tmp_path / "m"), session=sess)
