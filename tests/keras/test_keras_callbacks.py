"""tf.keras.callbacks driven by scripted metric sequences, and fit's progress line."""

from __future__ import annotations

import numpy as np
import pytest

from graphc import keras

L = keras.layers


class Scripted(keras.callbacks.Callback):
    """Overwrites the epoch's val_loss with a scripted value (runs before the others) and
    marks the weights with the epoch number, so restored weights say which epoch they are."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]
        self.model.set_weights([np.full_like(w, epoch) for w in self.model.get_weights()])


def small_model():
    model = keras.Sequential([L.Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    return model


DATA = (np.ones((4, 2), np.float32), np.ones((4, 1), np.float32))


def test_early_stopping_stops_after_patience_and_restores_the_best():
    model = small_model()
    stop = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    history = model.fit(*DATA, epochs=10, verbose=0,
                        callbacks=[Scripted([5, 3, 4, 3.5, 1, 1]), stop])
    assert history.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 3
    assert all((w == 1).all() for w in model.get_weights())  # epoch 1 had the best


def test_early_stopping_min_delta_and_max_mode():
    model = small_model()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0.5, patience=1)
    history = model.fit(*DATA, epochs=10, verbose=0, callbacks=[Scripted([5, 4.8, 1]), stop])
    assert history.epoch == [0, 1]
    with pytest.raises(ValueError, match="mode must be"):
        keras.callbacks.EarlyStopping(mode="up")


def test_model_checkpoint_keeps_the_best(tmp_path):
    model = small_model()
    pattern = str(tmp_path / "w.{epoch:02d}-{val_loss:.2f}.safetensors")
    best = keras.callbacks.ModelCheckpoint(pattern, save_best_only=True)
    model.fit(*DATA, epochs=4, verbose=0, callbacks=[Scripted([3, 2, 2.5, 1]), best])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "w.01-3.00.safetensors", "w.02-2.00.safetensors", "w.04-1.00.safetensors"]
    model.load_weights(tmp_path / "w.02-2.00.safetensors")
    assert all((w == 1).all() for w in model.get_weights())


def test_learning_rate_scheduler_sets_the_variable():
    model = small_model()
    seen = []
    sched = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    log = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: seen.append(keras.backend.get_value(model.optimizer.lr)))
    history = model.fit(*DATA, epochs=3, verbose=0, callbacks=[sched, log])
    np.testing.assert_allclose(seen, [0.1, 0.05, 0.1 / 3], rtol=1e-6)
    np.testing.assert_allclose(history.history["lr"], seen, rtol=1e-6)


def test_terminate_on_nan_and_csv_logger(tmp_path, capsys):
    model = keras.Sequential([L.Dense(1, input_shape=(2,))])
    model.compile(keras.optimizers.SGD(1e30), "mse")
    path = tmp_path / "log.csv"
    history = model.fit(np.full((8, 2), 1e10, np.float32), np.zeros((8, 1)), batch_size=2,
                        epochs=3, verbose=0, callbacks=[keras.callbacks.TerminateOnNaN(),
                                                        keras.callbacks.CSVLogger(path)])
    assert "Invalid loss, terminating training" in capsys.readouterr().out
    assert len(history.epoch) == 1
    assert path.read_text().splitlines()[0] == "epoch,loss"


def test_verbose_prints_one_line_per_epoch_off_a_terminal(capsys):
    model = small_model()
    model.compile("sgd", "mse", metrics=["mae"])
    model.fit(*DATA, epochs=2, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2 - 4 samples - ")
    assert " - loss: " in lines[0] and " - mean_absolute_error: " in lines[0]
    assert " - ETA: " in lines[1]
    model.fit(*DATA, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
