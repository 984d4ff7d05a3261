"""tf.keras.callbacks.TensorBoard as TF 1.15 (graph mode, callbacks_v1) writes it.

One event file in `log_dir`, written through graphc's tf.summary.FileWriter (the optional
extra graphc[tensorboard]):
- per epoch, at step `epoch` (or, with update_freq 'batch' / an int, at the number of
  samples seen): a scalar 'epoch_<name>' for each log (loss, metrics, val_*), and
  'epoch_lr', the optimizer's learning rate, when no other callback logged 'lr';
- with update_freq 'batch' or N: 'batch_<name>' for each batch's logs, once N samples
  have passed since the last write (every batch for 'batch'), at the batch's number;
- the model's graph (with the training step) after the first epoch, if write_graph;
- every histogram_freq epochs, a histogram of each weight (tag: its name with ':' made
  '_'), computed from the weights' values at the end of the epoch (TF 1.15 computes them
  with the validation data, which weights do not depend on; it also writes the layers'
  outputs, which graphc does not).
"""

from __future__ import annotations

import numpy as np

from graphc.keras.callback_base import Callback


class TensorBoard(Callback):
    def __init__(self, log_dir="./logs", histogram_freq=0, batch_size=32, write_graph=True,
                 write_grads=False, write_images=False, embeddings_freq=0,
                 embeddings_layer_names=None, embeddings_metadata=None, embeddings_data=None,
                 update_freq="epoch", profile_batch=2):
        super().__init__()
        from graphc.summary.protos import require
        require("tf.keras.callbacks.TensorBoard")
        for name, value in (("write_grads", write_grads), ("write_images", write_images),
                            ("embeddings_freq", embeddings_freq)):
            if value:
                raise NotImplementedError(f"TensorBoard({name}={value!r}) is not supported "
                                          "by graphc's Keras")
        if not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be a non-negative int, got "
                             f"{histogram_freq!r}")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (not isinstance(update_freq, int) or update_freq < 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a "
                             f"positive number of samples, got {update_freq!r}")
        self.log_dir, self.histogram_freq = str(log_dir), histogram_freq
        self.write_graph, self.update_freq, self.batch_size = write_graph, update_freq, \
            batch_size
        self.profile_batch = profile_batch  # kept for the signature: graphc has no profiler
        self.writer = None
        self._samples_seen = self._samples_seen_at_last_write = 0
        self._total_batches_seen = 0
        self._lr_tensor = None

    # --- writing ------------------------------------------------------------------------
    def _write_scalars(self, step: int, logs: dict) -> None:
        from graphc.summary.protos import protos
        pb = protos("tf.keras.callbacks.TensorBoard")
        values = [pb.summary_pb2.Summary.Value(tag=name, simple_value=float(np.asarray(v)))
                  for name, v in logs.items()]
        self.writer.add_summary(pb.summary_pb2.Summary(value=values), step)
        self.writer.flush()

    def _write_histograms(self, step: int) -> None:
        from graphc.summary import encode
        from graphc.summary.protos import protos
        pb = protos("tf.keras.callbacks.TensorBoard")
        from graphc.keras import backend
        weights = list({id(w): w for layer in self.model.layers for w in layer.weights}
                       .values())
        if not weights:
            return
        with self.model.graph_scope():
            arrays = backend.batch_get_value(weights)
        values = [encode.histogram_value(w.name.replace(":", "_"), a)
                  for w, a in zip(weights, arrays)]
        self.writer.add_summary(pb.summary_pb2.Summary(value=values), step)
        self.writer.flush()

    def _learning_rate(self):
        """The optimizer's current rate (a schedule at the current iterations), or None."""
        from graphc.keras import backend
        from graphc.keras.optimizers import OptimizerV2
        optimizer = getattr(self.model, "optimizer", None)
        if not isinstance(optimizer, OptimizerV2):
            return None
        if self._lr_tensor is None:
            with self.model.graph_scope():
                lr = optimizer.lr
                self._lr_tensor = lr(optimizer.iterations) if callable(lr) else lr
        return float(backend.get_value(self._lr_tensor))

    # --- hooks --------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        from graphc.summary.writer import FileWriter
        self.writer = FileWriter(self.log_dir)
        self._graph_written, self._lr_tensor = not self.write_graph, None

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        self._samples_seen += logs.get("size", 1)
        since = self._samples_seen - self._samples_seen_at_last_write
        if self.update_freq != "epoch" and since >= self.update_freq:
            batch_logs = {"batch_" + k: v for k, v in logs.items()
                          if k not in ("batch", "size", "num_steps")}
            self._write_scalars(self._total_batches_seen, batch_logs)
            self._samples_seen_at_last_write = self._samples_seen
        self._total_batches_seen += 1

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        epoch_logs = {"epoch_" + k: v for k, v in logs.items()
                      if k not in ("batch", "size", "num_steps")}
        if "lr" not in logs:
            lr = self._learning_rate()
            if lr is not None:
                epoch_logs["epoch_lr"] = lr
        step = epoch if self.update_freq == "epoch" else self._samples_seen
        self._write_scalars(step, epoch_logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._write_histograms(epoch)
        if not self._graph_written:
            self.writer.add_graph(self.model._graph_of())
            self.writer.flush()
            self._graph_written = True

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
