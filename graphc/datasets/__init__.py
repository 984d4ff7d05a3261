"""Small data sets that ship with graphc, for examples and end-to-end tests."""

from __future__ import annotations

import gzip
import os

import numpy as np

_DATA = os.path.join(os.path.dirname(__file__), "data")


def load_digits():
    """(images, labels): 1,797 UCI hand-written digits as float32 (N, 8, 8) in [0, 16] and
    int64 labels 0..9. See graphc/datasets/data/README.md for provenance and license."""
    with gzip.open(os.path.join(_DATA, "digits.csv.gz"), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float64)
    return table[:, :64].reshape(-1, 8, 8).astype(np.float32), table[:, 64].astype(np.int64)
