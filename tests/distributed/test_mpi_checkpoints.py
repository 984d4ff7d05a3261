"""Checkpoints of a 2-process job: written by rank 0 alone (graphc.distributed.checkpoint
.save), then restored in a fresh 2-process job, either by every rank from the file or by
rank 0 alone and broadcast (checkpoint.restore); the weights and optimizer slots equal the
saved ones on both ranks."""

from __future__ import annotations

import numpy as np
from mpi_jobs import mpirun, needs_mpi, ranks

pytestmark = needs_mpi

MODEL = """
    import sys
    import numpy as np
    import graphc as tf
    import graphc.distributed as hvd

    hvd.init()
    out, rank, size = sys.argv[1], hvd.rank(), hvd.size()
    init = np.random.default_rng({seed} + rank)  # every rank starts elsewhere
    data = np.random.default_rng(7)
    X = data.standard_normal((8, 3)).astype(np.float32)
    Y = data.standard_normal((8, 2)).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, 3])
    y = tf.placeholder(tf.float32, [None, 2])
    w = tf.Variable(init.standard_normal((3, 2)).astype(np.float32), name="w")
    b = tf.Variable(init.standard_normal(2).astype(np.float32), name="b")
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
    opt = hvd.DistributedOptimizer(tf.train.MomentumOptimizer(0.1, 0.9))
    train = opt.minimize(loss)
    slots = [opt.get_slot(w, "momentum"), opt.get_slot(b, "momentum")]
    saver = tf.train.Saver()
    share = {{x: X[rank::size], y: Y[rank::size]}}
"""

TRAIN_AND_SAVE = MODEL.format(seed=100) + """
    calls = []
    save = saver.save
    saver.save = lambda *a, **k: calls.append(1) or save(*a, **k)  # count this rank's writes
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(hvd.broadcast_global_variables(0))
        for _ in range(3):
            sess.run(train, share)
        prefix = hvd.checkpoint.save(saver, sess, f"{out}/ckpt/model", global_step=3)
        values = sess.run([w, b] + slots)
    np.savez(f"{out}/saved{rank}.npz", *values, prefix=prefix, writes=len(calls))
"""

RESTORE = MODEL.format(seed=200) + """
    mode = sys.argv[2]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        path = hvd.checkpoint.latest_checkpoint(f"{out}/ckpt")
        if mode == "all":
            saver.restore(sess, path)  # every rank reads the same file
        else:  # only rank 0 reads it: the others are given a path that does not exist
            hvd.checkpoint.restore(saver, sess, path if rank == 0 else f"{out}/nowhere")
        restored = sess.run([w, b] + slots)
        sess.run(train, share)
        stepped = sess.run([w, b])
    np.savez(f"{out}/{mode}{rank}.npz", *restored, *stepped, path=path)
"""


def test_save_on_rank_0_and_restore_on_every_rank(tmp_path):
    (tmp_path / "ckpt").mkdir()
    done = mpirun(tmp_path, TRAIN_AND_SAVE, 2, name="train")
    assert done.returncode == 0, done.stderr
    saved = ranks(tmp_path, 2, "saved")
    prefix = str(tmp_path / "ckpt" / "model-3")
    assert [str(r["prefix"]) for r in saved] == [prefix, prefix]
    assert [int(r["writes"]) for r in saved] == [1, 0]  # rank 0 alone wrote
    for k in range(4):  # weights and momentum equal across ranks
        np.testing.assert_array_equal(saved[0][f"arr_{k}"], saved[1][f"arr_{k}"])
    assert (tmp_path / "ckpt" / "checkpoint").exists()

    for mode in ("all", "root"):
        done = mpirun(tmp_path, RESTORE, 2, mode, name="restore")
        assert done.returncode == 0, done.stderr
        restored = ranks(tmp_path, 2, mode)
        for r in restored:
            assert str(r["path"]) == prefix
            for k in range(4):  # w, b and their momentum slots, as saved
                np.testing.assert_array_equal(r[f"arr_{k}"], saved[0][f"arr_{k}"])
        for k in (4, 5):  # and a step after the restore keeps the ranks together
            np.testing.assert_array_equal(restored[0][f"arr_{k}"], restored[1][f"arr_{k}"])
