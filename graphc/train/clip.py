"""Gradient clipping: clip_by_norm, global_norm, clip_by_global_norm (TF1 semantics)."""

from __future__ import annotations

from graphc.ops import math_ops as M
from graphc.ops.tensor import convert_to_tensor


def clip_by_norm(t, clip_norm, axes=None, name=None):
    """t * clip_norm / max(||t||_2, clip_norm) with the norm over `axes` (all by default)."""
    t = convert_to_tensor(t)
    norm = M.sqrt(M.reduce_sum(M.square(t), axes, keepdims=True))
    clip = M.cast(convert_to_tensor(clip_norm), t.dtype)
    return M.truediv(t * clip, M.maximum(norm, clip), name=name or "clip_by_norm")


def global_norm(t_list, name=None):
    """sqrt(sum of the squared L2 norms of every tensor); None entries are skipped."""
    tensors = [convert_to_tensor(t) for t in t_list if t is not None]
    if not tensors:
        raise ValueError("global_norm needs at least one tensor")
    total = None
    for t in tensors:
        s = M.cast(M.reduce_sum(M.square(t)), tensors[0].dtype)
        total = s if total is None else total + s
    return M.sqrt(total, name=name or "global_norm")


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """(tensors scaled by clip_norm / max(global_norm, clip_norm), global_norm)."""
    norm = global_norm(t_list) if use_norm is None else convert_to_tensor(use_norm)
    clip = M.cast(convert_to_tensor(clip_norm), norm.dtype)
    scale = clip / M.maximum(norm, clip)
    clipped = []
    for t in t_list:
        t = None if t is None else convert_to_tensor(t)
        clipped.append(None if t is None else t * M.cast(scale, t.dtype))
    return clipped, norm
