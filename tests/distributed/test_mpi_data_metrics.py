"""tf.data sharded by rank and metrics averaged across ranks, under mpirun -n 2: the ranks'
shards are disjoint and together the dataset; average_metric gives the whole data's
accuracy (plain mean for equal shards, weighted by the sample counts otherwise)."""

from __future__ import annotations

import numpy as np
from mpi_jobs import mpirun, needs_mpi, ranks

pytestmark = needs_mpi

SCRIPT = """
    import sys
    import numpy as np
    import graphc as tf
    import graphc.distributed as hvd

    hvd.init()
    out, rank, size = sys.argv[1], hvd.rank(), hvd.size()
    plain = [int(v) for v in tf.data.Dataset.range(11).shard(size, rank)]
    rows = np.arange(26, dtype=np.float32).reshape(13, 2)
    batches = tf.data.Dataset.from_tensor_slices(rows).shard(hvd.size(), hvd.rank()).batch(3)
    it = batches.make_one_shot_iterator().get_next()
    seen = []
    with tf.Session() as sess:
        try:
            while True:
                seen.append(sess.run(it))
        except tf.errors.OutOfRangeError:
            pass

    labels = np.random.default_rng(3).integers(0, 3, 24)
    predicted = np.random.default_rng(4).integers(0, 3, 24)
    def accuracy(n):  # this rank's shard of the first n samples
        y = tf.constant(labels[:n][rank::size])
        p = tf.constant(predicted[:n][rank::size])
        acc = tf.reduce_mean(tf.cast(tf.equal(y, p), tf.float32))
        return acc, tf.cast(tf.size(y), tf.float32)
    acc_even, _ = accuracy(24)  # 12 samples each
    acc_odd, count = accuracy(23)  # 12 and 11
    metrics = [acc_even, hvd.average_metric(acc_even), acc_odd,
               hvd.average_metric(acc_odd, weight=count),
               hvd.average_metric(tf.constant([1.0, 2.0]) * (rank + 1))]
    with tf.Session() as sess:
        values = sess.run(metrics)
    np.savez(f"{out}/rank{rank}.npz", plain=plain, rows=np.concatenate(seen),
             shapes=[len(b) for b in seen], labels=labels, predicted=predicted,
             acc=values[0], even=values[1], odd_own=values[2], odd=values[3],
             vector=values[4])
"""


def test_shards_partition_the_data_and_metrics_average_to_the_whole(tmp_path):
    done = mpirun(tmp_path, SCRIPT, 2)
    assert done.returncode == 0, done.stderr
    r0, r1 = ranks(tmp_path, 2)
    assert r0["plain"].tolist() == [0, 2, 4, 6, 8, 10] and r1["plain"].tolist() == [1, 3, 5, 7, 9]
    rows = np.arange(26, dtype=np.float32).reshape(13, 2)
    np.testing.assert_array_equal(r0["rows"], rows[0::2])
    np.testing.assert_array_equal(r1["rows"], rows[1::2])
    assert r0["shapes"].tolist() == [3, 3, 1] and r1["shapes"].tolist() == [3, 3]
    union = np.concatenate([r0["rows"], r1["rows"]])
    assert sorted(map(tuple, union.tolist())) == sorted(map(tuple, rows.tolist()))

    labels, predicted = r0["labels"], r0["predicted"]
    whole_even = np.mean(labels == predicted, dtype=np.float64)
    whole_odd = np.mean(labels[:23] == predicted[:23], dtype=np.float64)
    assert r0["acc"] != r1["acc"]  # the shards' own accuracies differ...
    for r in (r0, r1):  # ...their average is the whole data's, on both ranks
        np.testing.assert_allclose(r["even"], whole_even, rtol=1e-6)
        np.testing.assert_allclose(r["odd"], whole_odd, rtol=1e-6)
        np.testing.assert_allclose(r["vector"], [1.5, 3.0], rtol=1e-6)
    # the unweighted mean of unequal shards would not be the whole data's
    assert abs((r0["odd_own"] + r1["odd_own"]) / 2 - whole_odd) > 1e-3
