"""Keras callbacks for data-parallel fit (Horovod's `hvd.callbacks`):
BroadcastGlobalVariablesCallback starts every process from the root's weights, and
MetricAverageCallback reports the metrics averaged over the processes."""

from __future__ import annotations

import numpy as np

from graphc.distributed.comm import communicator, size
from graphc.distributed.ops import broadcast_global_variables
from graphc.keras.callback_base import Callback


class BroadcastGlobalVariablesCallback(Callback):
    """Before the first training batch of fit (once the model, the optimizer's slots and
    the training step exist and are initialized), set every global variable of the model's
    graph to its value on process `root_rank`. Once per callback object."""

    def __init__(self, root_rank: int = 0, device: str = ""):
        super().__init__()
        if not isinstance(root_rank, int) or not 0 <= root_rank < size():
            raise ValueError(f"root_rank must be a rank in [0, {size()}), got {root_rank!r}")
        self.root_rank, self.broadcast_done = root_rank, False

    def on_batch_begin(self, batch, logs=None):
        if self.broadcast_done:
            return
        from graphc.keras import backend
        with self.model.graph_scope():
            op = broadcast_global_variables(self.root_rank)
            backend.get_session().run(op)
        self.broadcast_done = True

    on_train_batch_begin = on_batch_begin


class MetricAverageCallback(Callback):
    """At the end of each epoch, replace every number in the logs (loss, metrics, val_*)
    by its mean over the processes, so that every process reports, and later callbacks
    (History, EarlyStopping, ModelCheckpoint) see, the same values. List it before them."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or size() == 1:
            return
        keys = sorted(k for k, v in logs.items() if isinstance(v, (int, float, np.number)))
        if not keys:
            return
        values = np.array([float(logs[k]) for k in keys], np.float64)
        averaged = communicator().allreduce_array(values) / size()
        for k, v in zip(keys, averaged.tolist()):
            logs[k] = v
