"""Keras fit under DistributedOptimizer, 2 processes: each fits its half of every batch
from a different initial model; BroadcastGlobalVariablesCallback starts both from rank 0's
weights, the averaged gradients keep them equal, and the result is the single-process fit
on the concatenated batches. MetricAverageCallback makes both ranks report the same."""

from __future__ import annotations

import numpy as np
from mpi_jobs import mpirun, needs_mpi, ranks

import graphc.distributed as hvd
from graphc import keras

pytestmark = needs_mpi
BATCH, STEPS = 4, 3  # per rank and batch; batches per epoch


def data():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2 * BATCH * STEPS, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-1.0], [0.5]], np.float32) + 0.1).astype(np.float32)
    return x, y


def model_and_data(seed):
    x, y = data()
    model = keras.Sequential([
        keras.layers.Dense(5, activation="tanh", input_shape=(3,),
                           kernel_initializer=keras.initializers.RandomNormal(seed=seed)),
        keras.layers.Dense(1)])
    return model, x, y


SCRIPT = """
    import sys
    import numpy as np
    import graphc.distributed as hvd
    from graphc import keras
    sys.path.insert(0, sys.argv[2])
    from test_mpi_keras_fit import BATCH, model_and_data

    hvd.init()
    out, rank, size = sys.argv[1], hvd.rank(), hvd.size()
    model, x, y = model_and_data(seed=10 + rank)  # every rank starts elsewhere
    start = model.get_weights()
    opt = hvd.DistributedOptimizer(keras.optimizers.SGD(0.1, momentum=0.5), bucket_bytes=64)
    model.compile(optimizer=opt, loss="mse")
    # rank r's batch b: rows [(2b + r) BATCH, (2b + r + 1) BATCH)
    mine = np.concatenate([np.arange(BATCH) + (2 * b + rank) * BATCH for b in range(3)])
    history = model.fit(x[mine], y[mine], batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                        callbacks=[hvd.callbacks.BroadcastGlobalVariablesCallback(0),
                                   hvd.callbacks.MetricAverageCallback()])
    np.savez(f"{out}/rank{rank}.npz", *start, *model.get_weights(),
             loss=history.history["loss"], kind=type(model.optimizer).__name__,
             buckets=len(model.optimizer.buckets))
"""


def test_fit_on_two_ranks_is_the_fit_on_the_concatenated_batches(tmp_path):
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    done = mpirun(tmp_path, SCRIPT, 2, here)
    assert done.returncode == 0, done.stderr
    r0, r1 = ranks(tmp_path, 2)
    assert not np.array_equal(r0["arr_0"], r1["arr_0"])  # the ranks started elsewhere
    for k in range(4, 8):  # kernel, bias of both layers after fit: equal on both ranks
        np.testing.assert_array_equal(r0[f"arr_{k}"], r1[f"arr_{k}"])
    np.testing.assert_array_equal(r0["loss"], r1["loss"])  # averaged
    assert str(r0["kind"]) == "SGD" and int(r0["buckets"]) == 2  # 64-byte buckets

    hvd.shutdown()
    hvd.init()  # one process: DistributedOptimizer is the optimizer it wraps
    model, x, y = model_and_data(seed=10)
    model.set_weights([r0[f"arr_{k}"] for k in range(4)])  # rank 0's start, broadcast
    model.compile(optimizer=hvd.DistributedOptimizer(keras.optimizers.SGD(0.1, momentum=0.5)),
                  loss="mse")
    history = model.fit(x, y, batch_size=2 * BATCH, epochs=2, shuffle=False, verbose=0)
    for k, value in enumerate(model.get_weights()):
        np.testing.assert_allclose(r0[f"arr_{k + 4}"], value, rtol=1e-5, atol=1e-6)
    # each rank's epoch loss is the mean over its samples; their mean is the whole data's
    np.testing.assert_allclose(r0["loss"], history.history["loss"], rtol=1e-5)
    hvd.shutdown()
