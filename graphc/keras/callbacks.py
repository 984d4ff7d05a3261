"""tf.keras.callbacks (TF 1.15 behaviour): History, EarlyStopping, ModelCheckpoint,
LearningRateScheduler, TerminateOnNaN, CSVLogger, LambdaCallback, and the progress line.

fit calls, in order: on_train_begin; per epoch on_epoch_begin, per batch on_batch_begin and
on_batch_end (logs: batch, size, loss and metrics of that batch), then on_epoch_end with the
epoch's averages (and the val_ ones); on_train_end. A callback stops training by setting
`self.model.stop_training = True`; fit checks it after every batch and epoch.
"""

from __future__ import annotations

import csv
import math
import sys
import time

import numpy as np


class Callback:
    def __init__(self):
        self.model, self.params = None, {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params) -> None:
        self.params = params

    def on_train_begin(self, logs=None): pass  # noqa: E704
    def on_train_end(self, logs=None): pass  # noqa: E704
    def on_epoch_begin(self, epoch, logs=None): pass  # noqa: E704
    def on_epoch_end(self, epoch, logs=None): pass  # noqa: E704
    def on_batch_begin(self, batch, logs=None): pass  # noqa: E704
    def on_batch_end(self, batch, logs=None): pass  # noqa: E704
    on_train_batch_begin, on_train_batch_end = on_batch_begin, on_batch_end


class CallbackList:
    """Calls each hook of every callback in order."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for c in self.callbacks:
            c.set_model(model)
            c.set_params(params)

    def __getattr__(self, hook):
        def call(*args):
            for c in self.callbacks:
                getattr(c, hook)(*args)
        return call


class History(Callback):
    """history.history: {'loss': [per epoch], 'acc': [...], 'val_loss': [...], ...}."""

    def on_train_begin(self, logs=None):
        self.epoch, self.history = [], {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()
                      if isinstance(v, (float, np.floating)))


class ProgbarLogger(Callback):
    """verbose=1: a tqdm bar per epoch (loss and metrics, ETA) where stderr is a terminal,
    else one line per epoch on stdout with the epoch's time and the ETA of the whole fit."""

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream

    def on_train_begin(self, logs=None):
        self._started, self._bar = time.time(), None
        err = sys.stderr
        self._tty = getattr(err, "isatty", lambda: False)()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._epoch_start, self._seen = epoch, time.time(), 0
        if self._tty:
            from tqdm import tqdm
            self._bar = tqdm(total=self.params.get("samples"), file=sys.stderr, leave=True,
                             desc=f"Epoch {epoch + 1}/{self.params['epochs']}", unit="sample")

    def on_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(logs.get("size", 0))
            self._bar.set_postfix_str(_format_logs({k: v for k, v in logs.items()
                                                    if k not in ("batch", "size")}))

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.set_postfix_str(_format_logs(logs))
            self._bar.close()
            self._bar = None
            return
        took = time.time() - self._epoch_start
        done = epoch + 1 - self.params.get("initial_epoch", 0)
        left = self.params["epochs"] - epoch - 1
        eta = (time.time() - self._started) / max(done, 1) * left
        out = self.stream or sys.stdout
        samples, steps = self.params.get("samples"), self.params.get("steps")
        amount = f"{samples} samples" if samples is not None else \
            f"{steps} steps" if steps is not None else "1 pass"
        print(f"Epoch {epoch + 1}/{self.params['epochs']} - {amount} - {took:.2f}s - "
              f"{_format_logs(logs)} - ETA: {eta:.1f}s", file=out)


def _monitor_op(mode: str, monitor: str):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "max" or (mode == "auto" and ("acc" in monitor or
                                             monitor.startswith("fmeasure"))):
        return np.greater
    return np.less


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than min_delta for `patience` epochs;
    restore_best_weights puts back the weights of the best epoch when it stops."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.monitor_op = _monitor_op(mode, monitor)
        self.min_delta = abs(min_delta) * (1 if self.monitor_op is np.greater else -1)
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch = 0, 0
        if self.baseline is not None:
            self.best = self.baseline
        else:
            self.best = np.inf if self.monitor_op is np.less else -np.inf

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            print(f"Early stopping conditioned on metric `{self.monitor}` which is not "
                  f"available. Available metrics are: {','.join(logs or {})}", file=sys.stderr)
            return
        if self.monitor_op(current - self.min_delta, self.best):
            self.best, self.wait = current, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                if self.verbose > 0:
                    print("Restoring model weights from the end of the best epoch.")
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1:05d}: early stopping")


class ModelCheckpoint(Callback):
    """Save the weights (model.save_weights; graphc has no whole-model file, so
    save_weights_only=False saves the weights too) after every `period` epochs, or only when
    `monitor` improves. `filepath` may format the epoch (1-based) and the logs:
    'w.{epoch:02d}-{val_loss:.2f}.safetensors'."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", period=1):
        super().__init__()
        if save_freq != "epoch":
            raise NotImplementedError("ModelCheckpoint(save_freq=<int>): only 'epoch'")
        self.filepath, self.monitor, self.verbose = str(filepath), monitor, verbose
        self.save_best_only, self.period = save_best_only, period
        self.monitor_op = _monitor_op(mode, monitor)
        self.best = np.inf if self.monitor_op is np.less else -np.inf
        self._since = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self._since += 1
        if self._since < self.period:
            return
        self._since = 0
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                print(f"Can save best model only with {self.monitor} available, skipping.",
                      file=sys.stderr)
                return
            if not self.monitor_op(current, self.best):
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1:05d}: {self.monitor} improved from {self.best:.5f} "
                      f"to {current:.5f}, saving model to {path}")
            self.best = current
        self.model.save_weights(path)


class LearningRateScheduler(Callback):
    """Before each epoch, set the optimizer's learning rate to schedule(epoch, lr) (or
    schedule(epoch)); the epoch's logs get 'lr'."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        from graphc.keras import backend
        lr_var = self.model.optimizer.lr
        if isinstance(lr_var, float):
            raise ValueError('Optimizer must have a "lr" variable (compile the model first).')
        lr = float(backend.get_value(lr_var))
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:  # a schedule of the epoch alone (Keras's old signature)
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, int, np.floating, np.integer)):
            raise ValueError('The output of the "schedule" function should be float.')
        backend.set_value(lr_var, float(lr))
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1:05d}: LearningRateScheduler reducing learning rate to "
                  f"{lr}.")

    def on_epoch_end(self, epoch, logs=None):
        from graphc.keras import backend
        if logs is not None:
            logs["lr"] = float(backend.get_value(self.model.optimizer.lr))


class TerminateOnNaN(Callback):
    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and (math.isnan(loss) or math.isinf(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """One row per epoch: 'epoch' and the logs' keys (sorted), to `filename`."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = str(filename), separator, append
        self._file, self._writer, self._keys = None, None, None

    def on_train_begin(self, logs=None):
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer, self._keys = None, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._writer is None:
            self._keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self._keys,
                                          delimiter=self.sep)
            if not self.append or self._file.tell() == 0:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file, self._writer = None, None


class LambdaCallback(Callback):
    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None,
                 on_batch_end=None, on_train_begin=None, on_train_end=None):
        super().__init__()
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_batch_begin", on_batch_begin), ("on_batch_end", on_batch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end)):
            if fn is not None:
                setattr(self, name, fn)
