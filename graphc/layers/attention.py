"""Scaled dot-product attention and the head reshapes multi-head attention is built from.

A composition of graphc's ops (batched matmul, select, softmax, dropout): no primitive of its
own, so its gradient comes from theirs and the compiler fuses the scaling, the mask and the
softmax into the kernels between the two matmuls (see docs/layers.md, "Attention and
Transformer blocks").

Masks follow Keras's MultiHeadAttention: a bool tensor broadcastable to [..., Tq, Tk], True
where a query may attend to a key. A masked logit is replaced by a large negative number
(-1e9, or float16's lowest finite value for float16, as Keras's softmax does), not by -inf:
a row whose keys are all masked then gets uniform weights instead of nan, and its gradient
stays finite.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import dtypes
from graphc.layers.utils import smart_select
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops import nn_ops
from graphc.ops.nn_norm import dropout as nn_dropout
from graphc.ops.tensor import constant, convert_to_tensor


def large_negative(dtype) -> float:
    """The logit a masked position gets: -1e9, or float16's lowest finite value (-1e9 would
    overflow to -inf in float16)."""
    return float(np.finfo(np.float16).min) if dtype is dtypes.float16 else -1e9


def dot_product_attention(query, key, value, mask=None, scale=None, causal=False,
                          dropout_rate=0.0, training=False, seed=None, return_weights=False):
    """softmax(scale * query @ key^T, masked) @ value over the last two axes.

    query [..., Tq, d], key [..., Tk, d], value [..., Tk, dv]; leading axes broadcast.
    `mask`: bool, broadcastable to [..., Tq, Tk], True = may attend. `causal`: query i
    attends to keys j <= i + (Tk - Tq), so a block of queries at the end of a cache sees the
    whole cache before it. `scale` defaults to 1 / sqrt(d). Dropout (rate `dropout_rate`,
    when `training` is True or a bool tensor that is true at run time) applies to the
    weights. Returns the output [..., Tq, dv], and with `return_weights` also the weights
    [..., Tq, Tk] before dropout (what Keras returns as attention scores).
    """
    query, key, value = _operands(query, key, value)
    depth = query.node.shape[-1]
    if scale is None:
        if depth is None:
            raise ShapeError("dot_product_attention: the last axis of the query must be known "
                             "when the graph is built to default the scale to 1/sqrt(d); "
                             "pass scale= explicitly")
        scale = 1.0 / math.sqrt(depth)
    logits = m.matmul(query, key, transpose_b=True) * scale
    allowed = _allowed(mask, causal, query, key)
    weights = nn_ops.softmax(apply_mask(logits, allowed), axis=-1)
    dropped = _dropout(weights, dropout_rate, training, seed)
    output = m.matmul(dropped, value)
    return (output, weights) if return_weights else output


def _operands(query, key, value):
    query, key, value = (convert_to_tensor(t) for t in (query, key, value))
    for what, t in (("query", query), ("key", key), ("value", value)):
        if t.dtype.kind != "f":
            raise TypeError(f"dot_product_attention: {what} must be a floating-point tensor, "
                            f"got {t.dtype} ('{t.name}')")
        if t.node.rank is None or t.node.rank < 2:
            raise ShapeError(f"dot_product_attention: {what} must have rank >= 2 "
                             f"([..., T, d]), got shape {t.shape}")
    if not (query.dtype == key.dtype == value.dtype):
        raise TypeError(f"dot_product_attention: query, key and value must share a dtype, got "
                        f"{query.dtype}, {key.dtype} and {value.dtype}")
    dq, dk = query.node.shape[-1], key.node.shape[-1]
    if dq is not None and dk is not None and dq != dk:
        raise ShapeError(f"dot_product_attention: query and key must have the same last axis, "
                         f"got shapes {query.shape} and {key.shape}")
    tk, tv = key.node.shape[-2], value.node.shape[-2]
    if tk is not None and tv is not None and tk != tv:
        raise ShapeError(f"dot_product_attention: key and value must have the same number of "
                         f"positions (axis -2), got shapes {key.shape} and {value.shape}")
    return query, key, value


def apply_mask(logits, allowed):
    """`logits` where `allowed` (a bool tensor broadcasting against it, or None for all),
    the large negative number of large_negative elsewhere."""
    if allowed is None:
        return logits
    return m.where(allowed, logits, large_negative(logits.dtype))


def as_bool_mask(mask):
    """A mask as a bool tensor: 0/1 masks of any dtype are accepted, as Keras does."""
    if mask is None:
        return None
    mask = convert_to_tensor(mask)
    return mask if mask.dtype is dtypes.bool_ else m.not_equal(mask, 0)


def merge_masks(a, b):
    """Positions both masks allow (None allows all)."""
    if a is None or b is None:
        return b if a is None else a
    return m.logical_and(a, b)


def _allowed(mask, causal, query, key):
    """The bool tensor of positions that may be attended to, or None for all of them."""
    band = causal_mask(query.node.shape[-2], key.node.shape[-2]) if causal else None
    return merge_masks(as_bool_mask(mask), band)


def causal_mask(num_queries, num_keys, offset=None):
    """A constant bool [Tq, Tk] mask: True where key j <= query i + offset. The offset
    defaults to Tk - Tq (the queries are the last Tq positions of the keys' sequence);
    Keras's causal masks use 0 (query i sees keys 0..i whatever the lengths)."""
    if num_queries is None or num_keys is None:
        raise ShapeError("causal attention needs the query and key lengths when the graph is "
                         f"built, got Tq={num_queries}, Tk={num_keys}")
    offset = num_keys - num_queries if offset is None else offset
    rows = np.arange(num_queries)[:, None]
    cols = np.arange(num_keys)[None, :]
    return constant(cols <= rows + offset, name="causal_mask")


def _dropout(weights, rate, training, seed):
    if not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        raise ValueError(f"dot_product_attention: dropout_rate must be a number in [0, 1), "
                         f"got {rate!r}")
    if rate == 0:
        return weights
    return smart_select(training, lambda: nn_dropout(weights, rate=rate, seed=seed),
                        lambda: weights)


def split_heads(x, num_heads):
    """[B, T, H*d] -> [B, H, T, d]: each head's slice of the features becomes its own batch
    of sequences, so attention runs as one batched matmul over B*H."""
    x = convert_to_tensor(x)
    if x.node.rank != 3:
        raise ShapeError(f"split_heads: expected a [batch, time, features] tensor, got shape "
                         f"{x.shape}")
    features = x.node.shape[-1]
    if features is None or features % num_heads:
        raise ShapeError(f"split_heads: the last axis ({features}) must be known and divisible "
                         f"by num_heads={num_heads}")
    dims = leading_dims(x, 2) + [num_heads, features // num_heads]
    return A.transpose(A.reshape(x, dims), [0, 2, 1, 3])


def merge_heads(x):
    """[B, H, T, d] -> [B, T, H*d], the inverse of split_heads."""
    x = convert_to_tensor(x)
    if x.node.rank != 4:
        raise ShapeError(f"merge_heads: expected a [batch, heads, time, depth] tensor, got "
                         f"shape {x.shape}")
    heads, depth = x.node.shape[1], x.node.shape[3]
    if heads is None or depth is None:
        raise ShapeError(f"merge_heads: the heads and depth axes must be known, got shape "
                         f"{x.shape}")
    moved = A.transpose(x, [0, 2, 1, 3])
    return A.reshape(moved, leading_dims(moved, 2) + [heads * depth])


def leading_dims(x, n):
    """x's first n sizes as a reshape target: ints where known (one unknown becomes -1),
    run-time scalars where more are unknown."""
    known = list(x.node.shape[:n])
    if known.count(None) <= 1:
        return [-1 if d is None else d for d in known]
    return [d if d is not None else A.shape(x)[a] for a, d in enumerate(known)]
