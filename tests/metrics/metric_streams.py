"""Running a streaming metric over batches, as a TF1 evaluation loop does."""

from __future__ import annotations

import numpy as np

import graphc as tf


def placeholders(batch, any_length: bool = True) -> list:
    """A placeholder per array of `batch`: its dtype and shape, the first axis None unless
    not `any_length`."""
    return [tf.placeholder(tf.as_dtype(np.asarray(a).dtype),
                           ([None] if any_length else [len(a)]) + list(np.shape(a)[1:]))
            for a in batch]


def stream(build, batches, target: str, any_length: bool = True):
    """Build `build(*placeholders) -> (value, update_op)`, reset the local variables, run
    update_op once per batch and read the value. Returns (value, [each update's result])."""
    feeds = placeholders(batches[0], any_length)
    value, update_op = build(*feeds)
    with tf.Session(target=target) as sess:
        sess.run(tf.local_variables_initializer())
        updates = [sess.run(update_op, dict(zip(feeds, batch))) for batch in batches]
        return sess.run(value), updates


def split(arrays, sizes=(7, 1, 12)):
    """Cut equally long arrays into consecutive batches of the given sizes (the last batch
    takes the rest): [(a0, b0, ...), (a1, b1, ...), ...]."""
    n = len(arrays[0])
    edges = np.cumsum((0,) + tuple(sizes))
    edges = [e for e in edges if e < n] + [n]
    return [tuple(a[lo:hi] for a in arrays) for lo, hi in zip(edges[:-1], edges[1:])]
