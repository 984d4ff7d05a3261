"""Text to train small language models on without downloading anything: the Python
standard library's own source, which every machine with Python has, and the windows of
token ids a training step feeds.

The files are a fixed list read in sorted order, so the text is the same on every run with
the same Python (about 450 KB for all of them on CPython 3.11; other versions differ a
little).
"""

from __future__ import annotations

import os

import numpy as np

STDLIB_MODULES = (
    "abc.py", "bisect.py", "calendar.py", "colorsys.py", "contextlib.py", "copy.py",
    "csv.py", "dataclasses.py", "fnmatch.py", "fractions.py", "functools.py", "glob.py",
    "heapq.py", "keyword.py", "numbers.py", "operator.py", "queue.py", "random.py",
    "sched.py", "shlex.py", "statistics.py", "string.py", "textwrap.py", "types.py",
    "weakref.py",
)


def stdlib_source(modules=STDLIB_MODULES, max_chars: int | None = None) -> str:
    """The source of standard-library `modules` (file names in the directory of `os`),
    sorted by name and joined, cut to `max_chars` characters if given."""
    root = os.path.dirname(os.__file__)
    parts = []
    for name in sorted(modules):
        path = os.path.join(root, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"stdlib_source: {name} is not in this Python's standard "
                                    f"library ({root})")
        with open(path, encoding="utf-8") as f:
            parts.append(f.read())
    text = "\n".join(parts)
    return text if max_chars is None else text[:max_chars]


def split_ids(ids, validation: float = 0.1):
    """(train, validation) int32 arrays: the first 1 - validation of `ids`, then the rest
    (a split in the text, not a shuffle, so no window straddles both)."""
    ids = np.asarray(ids, np.int32)
    if not 0 < validation < 1:
        raise ValueError(f"split_ids: validation must be a fraction in (0, 1), got {validation}")
    cut = int(round(len(ids) * (1 - validation)))
    return ids[:cut], ids[cut:]


def random_windows(ids, batch: int, length: int, rng) -> np.ndarray:
    """[batch, length] int32: windows of `ids` starting at uniform random offsets
    (a language model's loss predicts each window's ids 1.. from the ones before)."""
    ids = np.asarray(ids, np.int32)
    if len(ids) < length:
        raise ValueError(f"random_windows: {len(ids)} ids are fewer than length={length}")
    starts = rng.integers(0, len(ids) - length + 1, size=batch)
    return ids[starts[:, None] + np.arange(length)]


def unigram_entropy(ids, vocab_size: int) -> float:
    """The entropy (nats) of the ids' own frequencies: the loss of a model that predicts
    every token with the same distribution, the bar a language model must get below."""
    counts = np.bincount(np.asarray(ids).ravel(), minlength=vocab_size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())
