"""tf.keras.callbacks (TF 1.15 behaviour): History, EarlyStopping, ModelCheckpoint,
LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN, CSVLogger, LambdaCallback,
TensorBoard (graphc/keras/tensorboard.py), and fit's progress (ProgbarLogger).

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

from graphc.keras.callback_base import Callback


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


def _format_value(value) -> str:
    """As Keras's progress bar: 4 decimals, or 4 significant digits below 1e-3."""
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {_format_value(v)}" for k, v in logs.items()
                      if isinstance(v, (float, np.floating)))


class ProgbarLogger(Callback):
    """fit's progress. verbose=1 on a terminal (stderr is a tty): a tqdm bar per epoch
    counting samples (or steps, for datasets and count_mode='steps') with its ETA and the
    running averages of the loss and metrics, left showing the epoch's final values.
    verbose=2, or off a terminal: one line per epoch on stdout (`stream`), with the
    epoch's time, its logs and the ETA of the whole fit."""

    def __init__(self, count_mode="samples", stateful_metrics=None, stream=None):
        super().__init__()
        if count_mode not in ("samples", "steps"):
            raise ValueError(f"ProgbarLogger: unknown `count_mode`: {count_mode!r}; expected "
                             "'samples' or 'steps'")
        self.count_mode, self.stream = count_mode, stream

    def on_train_begin(self, logs=None):
        self._started, self._bar = time.time(), None
        tty = getattr(sys.stderr, "isatty", lambda: False)()
        self._use_bar = tty and self.params.get("verbose", 1) == 1

    def _total(self):
        """(total, unit) of the bar: samples when known and counted, else steps."""
        samples, steps = self.params.get("samples"), self.params.get("steps")
        if self.count_mode == "samples" and samples is not None:
            return samples, "sample"
        if steps is None and samples is not None and self.params.get("batch_size"):
            steps = math.ceil(samples / self.params["batch_size"])
        return steps, "step"

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()
        self._sums, self._seen = {}, 0
        if self._use_bar:
            from tqdm import tqdm
            total, unit = self._total()
            self._unit = unit
            self._bar = tqdm(total=total, file=sys.stderr, leave=True, unit=unit,
                             desc=f"Epoch {epoch + 1}/{self.params['epochs']}")

    def on_batch_end(self, batch, logs=None):
        if self._bar is None:
            return
        logs = logs or {}
        size = logs.get("size", 0)
        self._seen += size
        for key, value in logs.items():
            if key not in ("batch", "size"):
                self._sums[key] = self._sums.get(key, 0.0) + float(value) * size
        self._bar.update(size if self._unit == "sample" else 1)
        means = {k: v / max(self._seen, 1) for k, v in self._sums.items()}
        self._bar.set_postfix_str(_format_logs(means), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._bar is not None:
            self._bar.set_postfix_str(_format_logs(logs))
            self._bar.close()
            self._bar = None
            return
        took = time.time() - self._epoch_start
        done = epoch + 1 - self.params.get("initial_epoch", 0)
        left = self.params["epochs"] - epoch - 1
        eta = (time.time() - self._started) / max(done, 1) * left
        samples, steps = self.params.get("samples"), self.params.get("steps")
        amount = f"{samples} samples" if samples is not None else \
            f"{steps} steps" if steps is not None else "1 pass"
        print(f"Epoch {epoch + 1}/{self.params['epochs']} - {amount} - {took:.2f}s - "
              f"{_format_logs(logs)} - ETA: {eta:.1f}s", file=self.stream or sys.stdout)


def learning_rate_variable(model, who: str):
    """The variable holding the model's learning rate, which a callback may set between
    steps (the compiled step reads it); a clear error for an optimizer without one."""
    from graphc.keras.schedules import LearningRateSchedule
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "lr"):
        raise ValueError(f'{who}: the optimizer must have a "lr" attribute (a '
                         "tf.keras.optimizers optimizer; a tf.train optimizer's rate is "
                         "fixed)")
    with model.graph_scope():
        lr = optimizer.lr
    if isinstance(lr, LearningRateSchedule):
        raise ValueError(f"{who}: the optimizer's learning rate is a schedule "
                         f"({type(lr).__name__}), which the training step evaluates itself; "
                         "give the optimizer a number to let the callback set it")
    if isinstance(lr, (int, float)):
        raise ValueError(f'{who}: the optimizer has no "lr" variable yet (compile the '
                         "model and let fit build the training step first)")
    return lr


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
        lr_var = learning_rate_variable(self.model, "LearningRateScheduler")
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
            lr_var = learning_rate_variable(self.model, "LearningRateScheduler")
            logs["lr"] = float(backend.get_value(lr_var))


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


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when `monitor` has not improved by more than
    min_delta for `patience` epochs, then wait `cooldown` epochs before counting again;
    never below min_lr. It sets the optimizer's learning-rate variable, so the compiled step
    runs on with the new rate (no rebuild). The epoch's logs get 'lr'."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0, **kwargs):
        super().__init__()
        if "epsilon" in kwargs:  # Keras's former name of min_delta
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected keyword arguments {sorted(kwargs)}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0 (got "
                             f"factor={factor})")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'auto', 'min' or 'max', got "
                             f"{mode!r}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, \
            verbose
        self.mode, self.min_delta, self.cooldown, self.min_lr = mode, min_delta, cooldown, \
            min_lr
        self._reset()

    def _reset(self) -> None:
        """Keras's rule: 'auto' minimizes unless the monitored name contains 'acc'."""
        if self.mode == "min" or (self.mode == "auto" and "acc" not in self.monitor):
            self.monitor_op = lambda a, b: np.less(a, b - self.min_delta)
            self.best = np.inf
        else:
            self.monitor_op = lambda a, b: np.greater(a, b + self.min_delta)
            self.best = -np.inf
        self.cooldown_counter, self.wait = 0, 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        from graphc.keras import backend
        logs = logs if logs is not None else {}
        lr_var = learning_rate_variable(self.model, "ReduceLROnPlateau")
        logs["lr"] = float(backend.get_value(lr_var))
        current = logs.get(self.monitor)
        if current is None:
            print(f"Reduce LR on plateau conditioned on metric `{self.monitor}` which is not "
                  f"available. Available metrics are: {','.join(logs)}", file=sys.stderr)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best, self.wait = current, 0
            return
        if self.in_cooldown():
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        old_lr = logs["lr"]
        if old_lr > self.min_lr:
            new_lr = max(old_lr * self.factor, self.min_lr)
            backend.set_value(lr_var, new_lr)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1:05d}: ReduceLROnPlateau reducing learning rate to "
                      f"{new_lr}.")
            self.cooldown_counter, self.wait = self.cooldown, 0


from graphc.keras.tensorboard import TensorBoard  # noqa: E402,F401 - a callback, its own file
