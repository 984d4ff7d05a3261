"""tf.train.Checkpoint and CheckpointManager (graph mode): keys by attribute path, optimizer
slots under their variables, restore into other names, status checks, numbered saves and
max_to_keep, and an object-based checkpoint written by TensorFlow."""

from __future__ import annotations

import os

import numpy as np
import pytest

import graphc as tf

DATA = os.path.join(os.path.dirname(__file__), "data")


def _model():
    w = tf.Variable(np.ones((2, 2), np.float32), name="w")
    b = tf.Variable(np.zeros(2, np.float32), name="b")
    loss = tf.reduce_sum(tf.square(tf.matmul(tf.ones([1, 2]), w) + b - 3))
    opt = tf.train.AdamOptimizer(0.1)
    return w, b, opt, opt.minimize(loss)


def test_keys_follow_tensorflows_object_paths(tmp_path):
    w, b, opt, train = _model()
    ckpt = tf.train.Checkpoint(model=[w, b], optimizer=opt)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train)
        path = ckpt.save(str(tmp_path / "ckpt"), session=sess)
        assert path == str(tmp_path / "ckpt-1")
        assert ckpt.save(str(tmp_path / "ckpt"), session=sess) == str(tmp_path / "ckpt-2")
    names = [n for n, _ in tf.train.list_variables(path)]
    assert names == [
        "model/0/.ATTRIBUTES/VARIABLE_VALUE",
        "model/0/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE",
        "model/0/.OPTIMIZER_SLOT/optimizer/v/.ATTRIBUTES/VARIABLE_VALUE",
        "model/1/.ATTRIBUTES/VARIABLE_VALUE",
        "model/1/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE",
        "model/1/.OPTIMIZER_SLOT/optimizer/v/.ATTRIBUTES/VARIABLE_VALUE",
        "optimizer/beta1_power/.ATTRIBUTES/VARIABLE_VALUE",
        "optimizer/beta2_power/.ATTRIBUTES/VARIABLE_VALUE",
        "save_counter/.ATTRIBUTES/VARIABLE_VALUE"]
    assert tf.train.load_variable(path, "save_counter/.ATTRIBUTES/VARIABLE_VALUE") == 1
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt-2")


def test_restore_into_other_names_and_training_continues_exactly(tmp_path):
    w, b, opt, train = _model()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train)
        path = tf.train.Checkpoint(model=[w, b], optimizer=opt).save(
            str(tmp_path / "c"), session=sess)
        sess.run(train)
        want = sess.run([w, b])
    tf.reset_default_graph()
    with tf.variable_scope("elsewhere"):
        w2, b2, opt2, train2 = _model()
    status = tf.train.Checkpoint(model=[w2, b2], optimizer=opt2).restore(path)
    with tf.Session() as sess:
        status.initialize_or_restore(sess)
        status.assert_consumed()
        sess.run(train2)
        got = sess.run([w2, b2])
    for g, x in zip(got, want):
        np.testing.assert_array_equal(g, x)


def test_status_checks_and_partial_restores(tmp_path):
    w, b, opt, train = _model()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        path = tf.train.Checkpoint(model=[w, b], optimizer=opt).save(
            str(tmp_path / "c"), session=sess)
    tf.reset_default_graph()
    w2 = tf.Variable(np.full((2, 2), 5, np.float32))
    extra = tf.Variable(np.full(3, 9, np.float32))
    status = tf.train.Checkpoint(model=[w2], other=extra).restore(path)
    with pytest.raises(AssertionError, match=r"unmatched values \['model/0/.OPTIMIZER_SLOT"):
        status.assert_consumed()
    with pytest.raises(AssertionError, match=r"has no values for \['other/.ATTRIBUTES"):
        status.assert_existing_objects_matched()
    with tf.Session() as sess:
        status.expect_partial().initialize_or_restore(sess)
        np.testing.assert_array_equal(sess.run(w2), np.ones((2, 2)))
        np.testing.assert_array_equal(sess.run(extra), np.full(3, 9))
    with pytest.raises(tf.errors.NotFoundError, match="no checkpoint at"):
        tf.train.Checkpoint(x=w2).restore(str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match="cannot track 3 at 'x'"):
        tf.train.Checkpoint(x=3).write(str(tmp_path / "z"), session=tf.Session())


def test_manager_numbers_keeps_and_picks_up_previous_runs(tmp_path):
    w, b, opt, train = _model()
    ckpt = tf.train.Checkpoint(model=[w, b])
    manager = tf.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=2)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        paths = [manager.save(session=sess) for _ in range(3)]
    assert paths == [str(tmp_path / f"ckpt-{i}") for i in (1, 2, 3)]
    assert manager.checkpoints == paths[1:]
    assert manager.latest_checkpoint == paths[2]
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".safetensors")) == \
        ["ckpt-2.safetensors", "ckpt-3.safetensors"]
    # a new run: the manager adopts what the directory's state file lists
    tf.reset_default_graph()
    w2, b2, _, _ = _model()
    ckpt2 = tf.train.Checkpoint(model=[w2, b2])
    again = tf.train.CheckpointManager(ckpt2, str(tmp_path), max_to_keep=2)
    with tf.Session() as sess:
        ckpt2.restore(again.latest_checkpoint).initialize_or_restore(sess)
        assert sess.run(ckpt2.save_counter) == 3
        assert again.save(session=sess) == str(tmp_path / "ckpt-4")
    assert again.checkpoints == [str(tmp_path / "ckpt-3"), str(tmp_path / "ckpt-4")]
    assert not os.path.exists(tmp_path / "ckpt-2.safetensors")


def test_an_object_based_checkpoint_written_by_tensorflow():
    pytest.importorskip("google_crc32c")
    w = tf.Variable(np.zeros((2, 2), np.float32))
    b = tf.Variable(np.zeros(2, np.float32))
    s = tf.Variable(0, dtype=tf.int64)
    status = tf.train.Checkpoint(model=[w, b], scalar=s).restore(
        tf.train.latest_checkpoint(os.path.join(DATA, "object_based")))
    status.assert_consumed()
    with tf.Session() as sess:
        status.run_restore_ops(sess)
        np.testing.assert_array_equal(sess.run(w), np.arange(4).reshape(2, 2))
        np.testing.assert_array_equal(sess.run(b), [1.5, -2.0])
        assert sess.run(s) == 7
