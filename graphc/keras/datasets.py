"""tf.keras.datasets: the data sets graphc ships, and a clear error for those it does not.

graphc works offline and ships one data set: the 1,797 UCI hand-written digits (8x8 images,
graphc/datasets/data). `tf.keras.datasets.digits.load_data()` splits them as Keras's small
loaders do (a seeded shuffle, then the last `test_split` of the samples for testing). The
well-known Keras data sets (mnist, cifar10, imdb, ...) are downloads, which graphc never
makes: their load_data raises DatasetNotAvailableError saying so.
"""

from __future__ import annotations

import types

import numpy as np

_DOCS = "docs/keras.md (section 'Datasets')"


class DatasetNotAvailableError(OSError):
    """A tf.keras.datasets loader that would download its data."""


def _load_digits(path=None, test_split=0.2, seed=113):
    """((x_train, y_train), (x_test, y_test)): float32 images (N, 8, 8) with values 0..16
    and int64 labels 0..9, shuffled by np.random.RandomState(seed), the last
    round(N * test_split) samples for testing (1,797 in all; test_split 0.2 keeps 359)."""
    from graphc.datasets import load_digits
    if path is not None:
        raise ValueError("tf.keras.datasets.digits.load_data: the digits ship with graphc; "
                         f"there is no file to choose (got path={path!r})")
    if not 0 <= test_split < 1:
        raise ValueError(f"tf.keras.datasets.digits.load_data: test_split must be in [0, 1), "
                         f"got {test_split!r}")
    images, labels = load_digits()
    order = np.arange(len(images))
    np.random.RandomState(seed).shuffle(order)
    images, labels = images[order], labels[order]
    cut = len(images) - int(round(len(images) * test_split))
    return (images[:cut], labels[:cut]), (images[cut:], labels[cut:])


def _unavailable(name: str):
    def load(*args, **kwargs):
        raise DatasetNotAvailableError(
            f"tf.keras.datasets.{name} downloads its data from the internet, which graphc "
            f"does not do: graphc ships only the digits data set offline "
            f"(tf.keras.datasets.digits.load_data(), 8x8 hand-written digits). Load {name} "
            f"yourself as numpy arrays and give them to fit; see {_DOCS}")
    load.__name__ = "load_data"
    return load


digits = types.SimpleNamespace(load_data=_load_digits)
mnist = types.SimpleNamespace(load_data=_unavailable("mnist"))
fashion_mnist = types.SimpleNamespace(load_data=_unavailable("fashion_mnist"))
cifar10 = types.SimpleNamespace(load_data=_unavailable("cifar10"))
cifar100 = types.SimpleNamespace(load_data=_unavailable("cifar100"))
boston_housing = types.SimpleNamespace(load_data=_unavailable("boston_housing"))
imdb = types.SimpleNamespace(load_data=_unavailable("imdb"),
                             get_word_index=_unavailable("imdb"))
reuters = types.SimpleNamespace(load_data=_unavailable("reuters"),
                                get_word_index=_unavailable("reuters"))
