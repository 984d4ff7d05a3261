"""Compiled stages for the modality pipelines: a graph built per input signature on first
use, kept with its session and called as one native call after that."""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np


class Stage:
    """`build(*key)` builds a graph in the default graph and returns (placeholders,
    fetches); calling the stage with a key (the shapes and settings that fix the graph) and
    arrays for the placeholders runs it. One graph and session per key, built once."""

    def __init__(self, build: Callable):
        self._build = build
        self._calls: dict = {}
        self._lock = threading.Lock()

    def __call__(self, key: tuple, *arrays):
        with self._lock:   # two threads asking for one key build it once
            call = self._calls.get(key)
            if call is None:
                import graphc as tf
                graph = tf.Graph()
                with graph.as_default():
                    feeds, fetches = self._build(*key)
                session = tf.Session(graph=graph)
                call = session.make_callable(fetches, list(feeds))
                self._calls[key] = call
        return call(*arrays)


def _resize_graph(shape: tuple, size: tuple, method: str, antialias: bool):
    import graphc as tf
    x = tf.placeholder(tf.uint8, shape)
    from graphc.modalities.image_resize_kernels import resize_v2
    y = resize_v2(tf.cast(x, tf.float32) / 255.0, size, method=method, antialias=antialias)
    return [x], tf.clip_by_value(y, 0.0, 1.0)


_resize = Stage(_resize_graph)


def resize01(image: np.ndarray, height: int, width: int, method: str = "bilinear",
             antialias: bool = True) -> np.ndarray:
    """A uint8 image [h, w, c] (or a batch [n, h, w, c]) resized to height x width as
    float32 in [0, 1], compiled."""
    image = np.ascontiguousarray(image, np.uint8)
    key = (image.shape, (int(height), int(width)), method, bool(antialias))
    return _resize(key, image)


def to_uint8(values) -> np.ndarray:
    """Floats in [0, 1] as uint8 0..255 (rounded, clipped)."""
    return np.clip(np.rint(np.asarray(values, np.float32) * 255.0), 0, 255).astype(np.uint8)
