"""Where fit, evaluate and predict take their batches from: numpy arrays cut into batches
(`ArrayFeed`) or the elements of a tf.data Dataset (`DatasetFeed`), each batch a list of
numpy arrays (inputs, targets, then the sample weights when there are any) ready to feed
the model's placeholders in one compiled run.

Dataset elements follow TF 1.15's `(inputs, targets)` or `(inputs, targets,
sample_weights)` convention: a tuple is always that pair or triple, so several inputs are
a nested tuple or a dict. An epoch over a dataset ends where the dataset ends, or after
`steps` batches; a dataset repeated forever needs `steps`, as in Keras.
"""

from __future__ import annotations

import warnings

import numpy as np

from graphc.data.dataset import Dataset, static_int
from graphc.errors import user_location
from graphc.keras import data


def is_dataset(x) -> bool:
    return isinstance(x, Dataset)


def is_infinite(dataset: Dataset) -> bool:
    """Whether the dataset certainly repeats forever (TF's INFINITE cardinality); a
    cardinality that is unknown (filter, generators) counts as finite, as in TF."""
    kind = type(dataset).__name__
    if kind == "Repeat":
        count = static_int(dataset._count)
        return count is not None and count < 0
    if kind == "Take":
        count = static_int(dataset._count)
        if count is not None and count >= 0:
            return False
    if kind in ("Filter", "Generator"):
        return False
    parents = dataset._parents
    if kind == "Zip":  # zip stops at its shortest input
        return bool(parents) and all(is_infinite(p) for p in parents)
    return any(is_infinite(p) for p in parents)


def check_steps(dataset: Dataset, steps, name: str):
    """`steps` (None: to the end), checked; a dataset that repeats forever needs it."""
    if steps is None:
        if is_infinite(dataset):
            raise ValueError(f"When passing an infinitely repeating dataset, you must specify "
                             f"the `{name}` argument (the number of batches per "
                             f"{'epoch' if name == 'steps_per_epoch' else 'run'}); found "
                             f"{name}=None (at {user_location()})")
        return None
    if int(steps) != steps or steps < 1:
        raise ValueError(f"`{name}` must be a positive integer, found {steps!r} "
                         f"(at {user_location()})")
    return int(steps)


def unpack(element, with_targets: bool):
    """(x, y, sample_weights) of one dataset element."""
    if not isinstance(element, tuple):
        if with_targets:
            raise ValueError(f"Please provide model inputs as a list or tuple of 2 or 3 "
                             f"elements: (input, target) or (input, target, sample_weights); "
                             f"the dataset's elements are {_described(element)} "
                             f"(at {user_location()})")
        return element, None, None
    if len(element) not in (2, 3):
        raise ValueError(f"Please provide model inputs as a list or tuple of 2 or 3 elements: "
                         f"(input, target) or (input, target, sample_weights); the dataset's "
                         f"elements are tuples of {len(element)} (at {user_location()})")
    return element[0], element[1], element[2] if len(element) == 3 else None


def _described(element) -> str:
    if isinstance(element, dict):
        return f"dicts with keys {sorted(element)}"
    return f"single arrays of shape {np.shape(element)}"


class ArrayFeed:
    """Batches of numpy arrays, in order or shuffled each epoch (np.random, as Keras)."""

    per_step = False  # epoch losses are averages over samples

    def __init__(self, xs, ys, weights, batch_size, shuffle=False):
        self.arrays = xs + ys + ([weights] if weights is not None else [])
        self.n_x, self.n_y = len(xs), len(ys)
        self.weighted = weights is not None
        self.samples = data.check_lengths(xs, ys)
        self.batch_size, self.shuffle = batch_size, shuffle

    def batches(self):
        index = None
        if self.shuffle:
            index = np.arange(self.samples)
            np.random.shuffle(index)
        for start, stop, ids in data.batches(self.samples, self.batch_size, index):
            yield data.take(self.arrays, start, stop, ids), stop - start


class DatasetFeed:
    """The batches of a Dataset through a Python iterator over its numpy elements. With
    `steps`, one iterator serves every epoch (a repeated dataset goes on where the last
    epoch stopped); without, each epoch is one full pass."""

    per_step = True  # Keras averages the loss over steps for datasets

    def __init__(self, dataset, steps, standardize, with_targets=True, class_weight=None):
        self.dataset, self.steps = dataset, steps
        self.standardize, self.with_targets = standardize, with_targets
        self.class_weight = class_weight
        self.ran_out = False
        self.n_x = self.n_y = 0
        self.weighted = None  # known at the first element
        self._it = None

    def batches(self):
        taken = 0
        while self.steps is None or taken < self.steps:
            if self._it is None:
                self._it = iter(self.dataset.as_numpy_iterator())
            try:
                element = next(self._it)
            except StopIteration:
                self._it = None
                if self.steps is not None:
                    self.ran_out = True
                    warnings.warn(f"Your dataset ran out of data after {taken} of the "
                                  f"{self.steps} steps asked for; interrupting. Make sure "
                                  f"the dataset can give steps * epochs batches (e.g. with "
                                  f"repeat()).", stacklevel=4)
                return
            taken += 1
            yield self._arrays(element)

    def _arrays(self, element):
        x, y, w = unpack(element, self.with_targets)
        if not self.with_targets:  # predict: the targets and weights are not needed
            y = w = None
        xs, ys, n = self.standardize(x, y)
        if w is None and self.class_weight is not None:
            w = data.class_sample_weights(ys[0], self.class_weight)
        weights = [] if w is None else [data.sample_weights(w, n, ys)]
        if self.weighted is None:
            self.weighted, self.n_x, self.n_y = bool(weights), len(xs), len(ys)
        elif self.weighted != bool(weights):
            raise ValueError("the dataset's elements changed structure: some have sample "
                             "weights and some have none")
        return xs + ys + weights, n
