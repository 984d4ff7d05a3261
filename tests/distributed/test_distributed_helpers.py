"""graphc.distributed's helpers in one process: Dataset.shard, average_metric, the
checkpoint helpers, DistributedOptimizer around a Keras optimizer, the buckets in explain,
and the fingerprint check before the first reduction (run here against a stand-in for a
2-process world whose other rank built another model). Multi-process runs are in the
test_mpi_*.py files."""

from __future__ import annotations

import json

import numpy as np
import pytest

import graphc as tf
import graphc.distributed as hvd
from graphc import keras
from graphc.distributed import comm as hvd_comm
from graphc.distributed.fingerprint import fingerprint, first_difference
from graphc.errors import FailedPreconditionError, InvalidArgumentError
from graphc.tools.explain import analyze


@pytest.fixture(autouse=True)
def fresh_group():
    hvd.shutdown()
    yield
    hvd.shutdown()


class TwoProcesses(hvd_comm._Local):
    """Rank 0 of a pretend world of 2: collectives copy, and the other rank's fingerprint
    is `other` (the same as this one's when None)."""

    size, rank = 2, 0

    def __init__(self, other=None):
        self.other, self.exchanges = other, 0

    def allgather_bytes(self, data: bytes) -> list:
        self.exchanges += 1
        other = data if self.other is None else json.dumps(self.other).encode()
        return [data, other]


def test_shard_takes_every_nth_element_from_index():
    ds = tf.data.Dataset.range(10)
    assert [int(v) for v in ds.shard(3, 1)] == [1, 4, 7]
    rows = np.arange(20).reshape(10, 2)
    got = [b.tolist() for b in tf.data.Dataset.from_tensor_slices(rows).shard(4, 3).batch(2)]
    assert got == [[[6, 7], [14, 15]]]
    # on row numbers (after a shuffle) and on elements (after a map): the same rule
    shuffled = tf.data.Dataset.from_tensor_slices(rows).shuffle(10, seed=1)
    order = [r.tolist() for r in shuffled]
    assert [r.tolist() for r in shuffled.shard(2, 1)] == order[1::2]
    mapped = ds.map(lambda v: v * 10)
    assert [int(v) for v in mapped.shard(4, 0)] == [0, 40, 80]
    parts = [[int(v) for v in ds.shard(3, i)] for i in range(3)]
    assert sorted(sum(parts, [])) == list(range(10))


def test_shard_with_tensor_arguments_and_bad_ones():
    n = tf.placeholder(tf.int64, [])
    it = tf.data.Dataset.range(7).shard(n, 2).make_initializable_iterator()
    nxt = it.get_next()
    with tf.Session() as sess:
        sess.run(it.initializer, {n: 3})
        assert [int(sess.run(nxt)), int(sess.run(nxt))] == [2, 5]
        with pytest.raises(tf.errors.OutOfRangeError):
            sess.run(nxt)
        with pytest.raises(InvalidArgumentError, match=r"index must be in \[0, num_shards\) "
                                                       r"= \[0, 2\), found 2"):
            sess.run(it.initializer, {n: 2})
    with pytest.raises(InvalidArgumentError, match="num_shards must be greater than zero, "
                                                   "found 0"):
        tf.data.Dataset.range(3).shard(0, 0)
    with pytest.raises(TypeError, match="index must be an integer, found 0.5"):
        tf.data.Dataset.range(3).shard(2, 0.5)


def test_average_metric_in_one_process_is_the_value():
    hvd.init()
    acc = tf.constant(0.75)
    assert hvd.average_metric(acc).node.op.name == "identity"
    with tf.Session() as sess:
        assert sess.run(hvd.average_metric(acc, weight=12)) == 0.75
    with pytest.raises(TypeError, match="average_metric needs a float metric, got int32"):
        hvd.average_metric(tf.constant(3))


def test_average_metric_weights_the_processes():
    hvd_comm._register(TwoProcesses())  # both "ranks" give this value and weight
    acc = tf.constant([0.5, 0.25])
    out = hvd.average_metric(acc, weight=tf.constant(3))
    node_ops = {n.op.name for n in tf.get_default_graph()._nodes}
    assert "allreduce" in node_ops
    with tf.Session() as sess:  # sum of [1.5, 0.75, 3] over 1 process, divided
        np.testing.assert_allclose(sess.run(out), [0.5, 0.25])
    with pytest.raises(ValueError, match=r"weight must be a scalar, got shape \[2\]"):
        hvd.average_metric(acc, weight=[1.0, 2.0])


def test_checkpoint_helpers_in_one_process(tmp_path):
    hvd.init()
    assert hvd.is_chief()
    w = tf.Variable([1.0, 2.0], name="w")
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        prefix = hvd.checkpoint.save(saver, sess, str(tmp_path / "m"), global_step=5)
        assert prefix == str(tmp_path / "m-5")
        assert hvd.checkpoint.latest_checkpoint(str(tmp_path)) == prefix
        sess.run(w.assign([0.0, 0.0]))
        hvd.checkpoint.restore(saver, sess, prefix)
        np.testing.assert_array_equal(sess.run(w), [1.0, 2.0])
        with pytest.raises(ValueError, match=r"root_rank must be a rank in \[0, 1\), got 1"):
            hvd.checkpoint.save(saver, sess, str(tmp_path / "m"), root_rank=1)
    assert hvd.checkpoint.latest_checkpoint(str(tmp_path / "none")) is None


def test_distributed_keras_optimizer_keeps_its_class_and_config():
    hvd.init()
    sgd = keras.optimizers.SGD(0.05, momentum=0.9, clipnorm=1.0)
    opt = hvd.DistributedOptimizer(sgd, bucket_bytes=1024)
    assert isinstance(opt, keras.optimizers.SGD) and type(opt).__name__ == "SGD"
    assert opt is not sgd and opt.get_config() == sgd.get_config()
    assert opt.bucket_bytes == 1024 and opt.buckets == []
    assert keras.optimizers.serialize(opt)["class_name"] == "SGD"
    with pytest.raises(ValueError, match="bucket_bytes must be a positive int, got -1"):
        hvd.DistributedOptimizer(sgd, bucket_bytes=-1)
    with pytest.raises(TypeError, match=r"wraps a graphc optimizer \(tf.train or "
                                        r"tf.keras.optimizers\), got 'sgd'"):
        hvd.DistributedOptimizer("sgd")
    with pytest.raises(ValueError, match=r"root_rank must be a rank in \[0, 1\), got 2"):
        hvd.callbacks.BroadcastGlobalVariablesCallback(2)


def two_variable_step(bucket_bytes):
    x = tf.placeholder(tf.float32, [8, 5], name="x")
    w1 = tf.Variable(np.full((5, 16), 0.1, np.float32), name="w1")
    w2 = tf.Variable(np.full((16, 3), 0.1, np.float32), name="w2")
    loss = tf.reduce_mean(tf.square(tf.matmul(tf.tanh(tf.matmul(x, w1)), w2)))
    opt = hvd.DistributedOptimizer(tf.train.GradientDescentOptimizer(0.1),
                                   bucket_bytes=bucket_bytes)
    return opt, opt.minimize(loss), {x: np.ones((8, 5), np.float32)}


def test_explain_lists_the_buckets():
    hvd_comm._register(TwoProcesses())
    opt, train, feeds = two_variable_step(256)
    assert [[v.name for v in b] for b in opt.buckets] == [["w2:0"], ["w1:0"]]
    ex = analyze(train, feeds)
    rows = [(c.primitive, c.op, c.bucket, c.dtype, c.shape, c.nbytes, c.in_place)
            for c in ex.collectives]
    # (sums: the average divides each gradient where the update reads it)
    assert rows == [("allreduce", "sum", 0, "float32", (16, 3), 192, True),
                    ("allreduce", "sum", 1, "float32", (5, 16), 320, True)]
    text = ex.format()
    assert "collectives: 2 host calls of MPI on the plan's memory, 512 bytes in all" in text
    line = next(s for s in text.splitlines() if "bucket 1" in s)
    assert line.split()[:7] == [f"#{ex.collectives[1].kernel}", "allreduce", "sum",
                                "bucket", "1", "float32[5,16]", "320"]
    hvd.shutdown()
    hvd.init()
    x = tf.placeholder(tf.float32, [3])
    assert "collectives:" not in analyze(x * 2.0, {x: np.ones(3, np.float32)}).format()


@pytest.mark.parametrize("target", ["reference", "llvm"])
def test_the_first_reduction_checks_the_fingerprints(target):
    world = TwoProcesses()
    hvd_comm._register(world)
    opt, train, feeds = two_variable_step(1 << 20)  # one bucket: w2 then w1
    with tf.Session(target) as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train, feeds)
        sess.run(train, feeds)
    assert world.exchanges == 1  # once, before the first reduction

    hvd.shutdown()
    mine = fingerprint("average", [[(tf.zeros([16, 3]), "w2"), (tf.zeros([5, 16]), "w1")]])
    other = json.loads(json.dumps(mine))
    other[0]["grads"][1][1] = [5, 17]
    hvd_comm._register(TwoProcesses(other))
    with tf.Graph().as_default(), tf.Session(target) as sess:
        opt, train, feeds = two_variable_step(1 << 20)
        sess.run(tf.global_variables_initializer())
        with pytest.raises(FailedPreconditionError, match=r"the processes built different "
                           r"training steps: rank 1's bucket 0 has shape \[5, 17\] for w1, "
                           r"rank 0's \[5, 16\]"):
            sess.run(train, feeds)


def test_first_difference_names_what_differs():
    a = fingerprint("average", [[(tf.zeros([3]), "b"), (tf.zeros([4, 3]), "k")],
                                [(tf.zeros([2], tf.float64), "d")]])
    assert first_difference(a, json.loads(json.dumps(a)), 1) == ""

    def changed(edit):
        b = json.loads(json.dumps(a))
        edit(b)
        return first_difference(a, b, 1)
    assert changed(lambda b: b[0]["grads"][1].__setitem__(0, "q")) == \
        "rank 1's bucket 0 reduces the gradient of q where rank 0's reduces k"
    assert changed(lambda b: b[1].__setitem__("dtype", "float32")) == \
        "rank 1's bucket 1 (d, ...) is float32, rank 0's float64"
    assert changed(lambda b: b[0]["grads"].pop()) == \
        "rank 1's bucket 0 holds 1 gradient (b [3]; 3 values), rank 0's 2 gradients " \
        "(b [3], k [4, 3]; 15 values)"
    assert changed(lambda b: b[1].__setitem__("op", "sum")) == \
        "rank 1's bucket 1 is reduced by sum, rank 0's by average"
    assert changed(lambda b: b.pop()) == \
        "rank 1 reduces 1 gradient buckets, rank 0 2 (rank 0's bucket 1 holds 1 gradient " \
        "(d [2]; 2 values))"
