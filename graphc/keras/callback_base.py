"""The base class of tf.keras.callbacks (the hooks fit calls: see graphc/keras/callbacks.py),
in a module of its own so that callbacks kept in other files subclass it."""

from __future__ import annotations


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
