"""ReduceLROnPlateau on scripted losses (driven directly and through fit, where the new rate
reaches the compiled step without a rebuild), TensorBoard's event files read back, and
fit's progress output on and off a terminal."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from graphc import keras

L = keras.layers
DATA = (np.array([[1.0, 2.0], [0.5, -1.0], [2.0, 0.5], [-1.0, 1.0]], np.float32),
        np.array([[1.0], [0.0], [2.0], [0.5]], np.float32))


def small_model(optimizer=None):
    model = keras.Sequential([L.Dense(1, input_shape=(2,))])
    model.compile(optimizer or keras.optimizers.SGD(0.5), "mse")
    return model


def drive(callback, model, values, monitor="val_loss"):
    """on_epoch_end with scripted values; the rate in each epoch's logs, and after."""
    callback.set_model(model)
    callback.on_train_begin()
    seen = []
    for epoch, value in enumerate(values):
        logs = {monitor: value}
        callback.on_epoch_end(epoch, logs)
        seen.append(logs["lr"])
    return seen, float(keras.backend.get_value(model.optimizer.lr))


# --- ReduceLROnPlateau ----------------------------------------------------------------------
def test_reduce_lr_after_patience_epochs_without_improvement():
    model = small_model()
    model.train_on_batch(*DATA)  # builds the step and the rate variable
    reduce = keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2)
    seen, last = drive(reduce, model, [1.0, 0.9, 0.95, 0.9, 0.91, 0.5, 0.6, 0.7])
    # best 0.9 at epoch 1; epochs 2 and 3 do not beat it: halved at the end of epoch 3;
    # epoch 5 improves (0.5), 6 and 7 do not: halved again at the end of epoch 7
    np.testing.assert_allclose(seen, [0.5] * 4 + [0.25] * 4)
    assert last == pytest.approx(0.125)


def test_reduce_lr_min_delta_cooldown_and_min_lr():
    model = small_model()
    model.train_on_batch(*DATA)
    reduce = keras.callbacks.ReduceLROnPlateau(factor=0.1, patience=1, min_delta=0.5,
                                               cooldown=2, min_lr=0.004)
    # 0.8 is not better than 1.0 by more than min_delta: reduced at the end of epoch 1.
    # The cooldown counts down at the start of each epoch's check (as Keras), so epoch 2
    # is skipped and epoch 3 counts again: reduced there, and at epoch 5, to min_lr
    seen, last = drive(reduce, model, [1.0, 0.8, 0.7, 0.6, 0.55, 0.52, 0.51])
    np.testing.assert_allclose(seen, [0.5, 0.5, 0.05, 0.05, 0.005, 0.005, 0.004], rtol=1e-6)
    assert last == pytest.approx(0.004)  # not below min_lr


def test_reduce_lr_max_mode_for_accuracy():
    model = small_model()
    model.train_on_batch(*DATA)
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="val_acc", factor=0.5, patience=1)
    seen, _ = drive(reduce, model, [0.5, 0.6, 0.55, 0.7], monitor="val_acc")
    np.testing.assert_allclose(seen, [0.5, 0.5, 0.5, 0.25])


class ScriptedLoss(keras.callbacks.Callback):
    """Replaces the epoch's val_loss with a scripted one (runs before the other callbacks)."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


def test_reduce_lr_in_fit_changes_the_compiled_step():
    model = small_model()
    weights = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: weights.append(model.get_weights()[0].copy()))
    reduce = keras.callbacks.ReduceLROnPlateau(factor=0.0, patience=1)  # down to a rate of 0
    history = model.fit(*DATA, epochs=4, batch_size=4, verbose=0,
                        callbacks=[ScriptedLoss([1.0, 2.0, 2.0, 2.0]), reduce, record])
    assert history.history["lr"] == [0.5, 0.5, 0.0, 0.0]
    train_function = model._functions["train"]
    assert not np.allclose(weights[0], weights[1])
    np.testing.assert_array_equal(weights[2], weights[1])  # the step ran with rate 0
    np.testing.assert_array_equal(weights[3], weights[1])
    assert model._functions["train"] is train_function  # not rebuilt


def test_reduce_lr_errors():
    with pytest.raises(ValueError, match=r"does not support a factor >= 1.0 \(got factor=1.5"):
        keras.callbacks.ReduceLROnPlateau(factor=1.5)
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max', got 'up'"):
        keras.callbacks.ReduceLROnPlateau(mode="up")
    model = small_model(keras.optimizers.SGD(keras.optimizers.schedules.CosineDecay(0.1, 10)))
    model.train_on_batch(*DATA)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau: the optimizer's learning rate "
                                         r"is a schedule \(CosineDecay\)"):
        drive(keras.callbacks.ReduceLROnPlateau(), model, [1.0])


def test_reduce_lr_without_the_monitored_value_warns(capsys):
    model = small_model()
    model.train_on_batch(*DATA)
    seen, _ = drive(keras.callbacks.ReduceLROnPlateau(monitor="val_acc"), model, [1.0, 2.0])
    assert seen == [0.5, 0.5]
    assert "conditioned on metric `val_acc` which is not available" in capsys.readouterr().err


# --- TensorBoard ----------------------------------------------------------------------------
def read_events(logdir):
    """Every Event of the log directory's files, through graphc's record reader."""
    pytest.importorskip("tensorboard")
    from graphc.data.tfrecord import tf_record_iterator
    from graphc.summary import Event
    return [Event.FromString(record) for path in sorted(logdir.iterdir())
            for record in tf_record_iterator(str(path))]


def scalars(events) -> dict:
    found = {}
    for event in events:
        for value in event.summary.value:
            if value.HasField("simple_value"):
                found.setdefault(value.tag, []).append((event.step, value.simple_value))
    return found


def test_tensorboard_writes_epoch_scalars_graph_and_histograms(tmp_path):
    pytest.importorskip("tensorboard")
    model = small_model()
    model.compile(keras.optimizers.Adam(0.25), "mse", metrics=["mae"])
    board = keras.callbacks.TensorBoard(tmp_path, histogram_freq=2)
    history = model.fit(*DATA, epochs=3, batch_size=2, verbose=0, validation_data=DATA,
                        callbacks=[board])
    events = read_events(tmp_path)
    found = scalars(events)
    assert sorted(found) == ["epoch_loss", "epoch_lr", "epoch_mean_absolute_error",
                             "epoch_val_loss", "epoch_val_mean_absolute_error"]
    for key in ("loss", "val_loss", "mean_absolute_error"):
        assert [s for s, _ in found["epoch_" + key]] == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in found["epoch_" + key]],
                                   history.history[key], rtol=1e-6)
    assert [v for _, v in found["epoch_lr"]] == [0.25] * 3
    assert sum(e.HasField("graph_def") for e in events) == 1
    histograms = [(e.step, v.tag) for e in events for v in e.summary.value
                  if v.HasField("histo")]
    assert sorted(histograms) == [(0, "dense/bias_0"), (0, "dense/kernel_0"),
                                  (2, "dense/bias_0"), (2, "dense/kernel_0")]
    kernel = next(v.histo for e in events for v in e.summary.value
                  if v.tag == "dense/kernel_0" and e.step == 2)
    assert kernel.num == 2 and kernel.sum == pytest.approx(model.get_weights()[0].sum())


def test_tensorboard_batch_updates_and_event_accumulator(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    model = small_model()
    losses = []
    record = keras.callbacks.LambdaCallback(
        on_batch_end=lambda b, logs: losses.append(logs["loss"]))
    board = keras.callbacks.TensorBoard(tmp_path / "batch", update_freq="batch",
                                        write_graph=False)
    every3 = keras.callbacks.TensorBoard(tmp_path / "every3", update_freq=3, write_graph=False)
    model.fit(*DATA, epochs=2, batch_size=2, verbose=0, shuffle=False,
              callbacks=[record, board, every3])
    events = EventAccumulator(str(tmp_path / "batch"))
    events.Reload()
    batch = events.Scalars("batch_loss")
    assert [e.step for e in batch] == [0, 1, 2, 3]
    np.testing.assert_allclose([e.value for e in batch], losses, rtol=1e-6)
    assert [e.step for e in events.Scalars("epoch_loss")] == [4, 8]  # samples seen
    assert not events.Tags()["graph"]
    # every 3 samples: after batches 1 (4 seen), 3 (8 seen); batch 0 had only 2
    assert [s for s, _ in scalars(read_events(tmp_path / "every3"))["batch_loss"]] == [1, 3]


def test_tensorboard_arguments(monkeypatch):
    pytest.importorskip("tensorboard")
    with pytest.raises(NotImplementedError, match=r"TensorBoard\(write_images=True\)"):
        keras.callbacks.TensorBoard(write_images=True)
    with pytest.raises(ValueError, match="update_freq must be 'epoch', 'batch' or a positive"):
        keras.callbacks.TensorBoard(update_freq="step")
    with pytest.raises(ValueError, match="histogram_freq must be a non-negative int"):
        keras.callbacks.TensorBoard(histogram_freq=-1)
    import importlib.util

    from graphc.summary import protos
    monkeypatch.setattr(protos, "_LOADED", [])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"tf.keras.callbacks.TensorBoard needs the optional "
                                          r"extra graphc\[tensorboard\]"):
        keras.callbacks.TensorBoard()


# --- progress -------------------------------------------------------------------------------
class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_1_on_a_terminal_draws_a_bar_per_epoch(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    model = small_model()
    model.fit(*DATA, epochs=2, batch_size=2, verbose=1, validation_data=DATA)
    text = err.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text
    assert "4/4" in text and "sample" in text and "val_loss: " in text
    assert capsys.readouterr().out == ""


def test_verbose_2_prints_one_line_per_epoch_even_on_a_terminal(monkeypatch, capsys):
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    model = small_model(keras.optimizers.SGD(0.0))
    model.fit(*DATA, epochs=2, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert [line[:22] for line in lines] == ["Epoch 1/2 - 4 samples ", "Epoch 2/2 - 4 samples "]
    assert err.getvalue() == ""


def test_small_values_print_in_scientific_notation(capsys):
    model = small_model(keras.optimizers.SGD(0.0))
    model.set_weights([np.zeros((2, 1)), np.full((1,), 0.001)])
    model.fit(DATA[0], np.zeros((4, 1)), epochs=1, verbose=2)
    assert " - loss: 1.0000e-06 - " in capsys.readouterr().out


def test_progbar_count_mode():
    with pytest.raises(ValueError, match="unknown `count_mode`: 'batches'"):
        keras.callbacks.ProgbarLogger(count_mode="batches")
