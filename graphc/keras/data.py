"""Checking and batching the numpy data of fit, evaluate and predict, with Keras's errors
(which name the input or output layer, the shape expected and the shape found)."""

from __future__ import annotations

import warnings

import numpy as np

from graphc.errors import user_location


def as_list(data, names: list, what: str) -> list:
    """One array per model input (or output): an array, a list of them, or a dict by name."""
    if data is None:
        return []
    if isinstance(data, dict):
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"No data provided for {missing}. Need data for each key in: "
                             f"{names} ({what})")
        return [np.asarray(data[n]) for n in names]
    arrays = list(data) if isinstance(data, (list, tuple)) else [data]
    if isinstance(data, (list, tuple)) and len(names) == 1 and len(arrays) != 1:
        arrays = [np.asarray(data)]  # a plain list of samples
    if len(arrays) != len(names):
        raise ValueError(f"Error when checking model {what}: the list of Numpy arrays that you "
                         f"are passing to your model is not the size the model expected. "
                         f"Expected to see {len(names)} array(s), but instead got "
                         f"{len(arrays)} arrays")
    return [np.asarray(a) for a in arrays]


def check_shapes(arrays: list, tensors: list, names: list, what: str, relaxed=()) -> list:
    """Each array as its tensor's dtype, its shape checked against the tensor's (batch
    dimension aside); indices in `relaxed` may also drop a trailing 1 (sparse labels)."""
    out = []
    for i, (a, t, name) in enumerate(zip(arrays, tensors, names)):
        dims = t.shape.dims
        if dims is not None:
            want = tuple(dims[1:])
            got = a.shape[1:]
            if i in relaxed:
                ok = a.ndim in (1, 2) and (a.ndim == 1 or a.shape[1] == 1)
            elif a.ndim != len(dims):
                raise ValueError(f"Error when checking {what}: expected {name} to have "
                                 f"{len(dims)} dimensions, but got array with shape {a.shape}")
            else:
                ok = all(w is None or w == g for w, g in zip(want, got))
            if not ok:
                shown = tuple(w for w in want)
                raise ValueError(f"Error when checking {what}: expected {name} to have shape "
                                 f"{shown} but got array with shape {got}")
        out.append(np.ascontiguousarray(a, dtype=t.dtype.np))
    return out


def check_lengths(x: list, y: list) -> int:
    """The number of samples, the same in every input and target array."""
    xs = {len(a) for a in x}
    ys = {len(a) for a in y}
    if len(xs) > 1:
        raise ValueError(f"All input arrays (x) should have the same number of samples. Got "
                         f"array shapes: {[a.shape for a in x]}")
    if len(ys) > 1:
        raise ValueError(f"All target arrays (y) should have the same number of samples. Got "
                         f"array shapes: {[a.shape for a in y]}")
    if xs and ys and xs != ys:
        raise ValueError(f"Input arrays should have the same number of samples as target "
                         f"arrays. Found {xs.pop()} input samples and {ys.pop()} target "
                         "samples.")
    return next(iter(xs or ys))


def batches(n: int, batch_size: int, index=None):
    """(start, stop, ids) per batch; ids is None when the batch is a contiguous slice."""
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        yield start, stop, None if index is None else index[start:stop]


def take(arrays: list, start: int, stop: int, ids) -> list:
    if ids is None:
        return [a[start:stop] for a in arrays]
    return [a[ids] for a in arrays]


def split_validation(x: list, y: list, fraction: float):
    """The last `fraction` of the samples for validation (before any shuffling), as Keras."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation_split must be in (0, 1), got {fraction}")
    at = int(len(x[0]) * (1.0 - fraction))
    if at == 0 or at == len(x[0]):
        raise ValueError(f"validation_split={fraction} leaves no samples for training or for "
                         f"validation ({len(x[0])} samples)")
    return [a[:at] for a in x], [a[:at] for a in y], [a[at:] for a in x], [a[at:] for a in y]


def sample_weights(weights, n: int, ys: list) -> np.ndarray:
    """`sample_weight` as a float32 vector of one weight per sample (TF 1.15 without
    sample_weight_mode: rank 1, or (n, 1))."""
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim == 2 and w.shape[1] == 1:
        w = w.reshape(-1)
    if w.ndim != 1:
        raise ValueError(f"sample_weight must hold one weight per sample (shape ({n},)); found "
                         f"an array of shape {w.shape} (at {user_location()})")
    if len(w) != n:
        shape = ys[0].shape if ys else (n,)
        raise ValueError(f"sample_weight has {len(w)} weights but the data has {n} samples "
                         f"(targets of shape {shape}): expected one weight per sample, found "
                         f"an array of shape {w.shape} (at {user_location()})")
    return np.ascontiguousarray(w)


def class_sample_weights(y: np.ndarray, class_weight) -> np.ndarray:
    """The per-sample weights a `class_weight` dict implies: one-hot targets (n, k > 1)
    give their argmax, (n, 1) and (n,) targets their value; every class in y needs a
    weight (classes the dict names that y never uses are fine)."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict mapping class indices to weights; "
                        f"found {type(class_weight).__name__} (at {user_location()})")
    if y.ndim > 2:
        raise ValueError(f"class_weight is not supported for 3+ dimensional targets; found "
                         f"targets of shape {y.shape} (at {user_location()})")
    classes = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)
    table = {float(k): float(v) for k, v in class_weight.items()}
    missing = sorted({float(c) for c in classes} - set(table))
    if missing:
        shown = [int(c) if c == int(c) else c for c in missing]
        raise ValueError(f"`class_weight` must contain all classes in the data. The classes "
                         f"{shown} exist in the data but not in `class_weight` (keys "
                         f"{sorted(class_weight)}) (at {user_location()})")
    return np.array([table[float(c)] for c in classes], dtype=np.float32)


def weights_for(ys: list, n: int, sample_weight, class_weight):
    """fit's per-sample weights from `sample_weight` or `class_weight` (None: unweighted).
    Given both, Keras uses sample_weight and ignores class_weight."""
    if sample_weight is not None:
        if class_weight is not None:
            warnings.warn("Found both `sample_weight` and `class_weight`: `class_weight` "
                          "argument will be ignored.", stacklevel=3)
        return sample_weights(sample_weight, n, ys)
    if class_weight is not None:
        return class_sample_weights(ys[0], class_weight)
    return None
