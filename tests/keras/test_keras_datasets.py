"""tf.keras.datasets: the bundled digits split as Keras's loaders split, and a clear error
for the data sets that would need downloading."""

from __future__ import annotations

import numpy as np
import pytest

from graphc import keras
from graphc.datasets import load_digits


def test_digits_load_data_shuffles_with_the_seed_and_splits():
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
    assert x_train.shape == (1438, 8, 8) and x_test.shape == (359, 8, 8)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    images, labels = load_digits()
    order = np.arange(len(images))
    np.random.RandomState(113).shuffle(order)
    np.testing.assert_array_equal(np.concatenate([x_train, x_test]), images[order])
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), labels[order])
    (a, _), (b, _) = keras.datasets.digits.load_data(test_split=0.5, seed=1)
    assert len(a) == 899 and len(b) == 898
    assert not np.array_equal(a[:10], x_train[:10])
    with pytest.raises(ValueError, match=r"test_split must be in \[0, 1\), got 1.5"):
        keras.datasets.digits.load_data(test_split=1.5)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100", "imdb",
                                  "reuters", "boston_housing"])
def test_downloaded_data_sets_say_graphc_ships_only_digits(name):
    with pytest.raises(keras.datasets.DatasetNotAvailableError,
                       match=rf"tf.keras.datasets.{name} downloads its data .* graphc ships "
                             r"only the digits data set offline .* docs/keras.md"):
        getattr(keras.datasets, name).load_data()
