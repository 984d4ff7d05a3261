"""tf.keras.layers.MultiHeadAttention, Attention (Luong) and AdditiveAttention (Bahdanau),
on the scaled dot-product attention of graphc/layers/attention.py.

MultiHeadAttention keeps Keras's variables, so weights from Keras map one to one (in
get_weights order): query/kernel [d_query, heads, key_dim] and query/bias [heads, key_dim],
the same for key and value (value_dim for value), attention_output/kernel
[heads, value_dim, d_out] and attention_output/bias [d_out]. It computes as Keras's einsums
do, with the heads as one batched matmul: the projections are plain matmuls on the
[d, heads * dim] view of each kernel.

Keras's causal masks (use_causal_mask=True, Attention's causal) let query i see keys
0..i whatever the lengths, and a masked score becomes -1e9 before the softmax (see
graphc.layers.attention). graphc's Keras has no implicit masks (`_keras_mask`): masks are
given explicitly.
"""

from __future__ import annotations

import collections.abc
import math
import numbers

from graphc.keras import initializers, regularizers
from graphc.keras.base_layer import KerasLayer, layer_error
from graphc.layers import attention as core
from graphc.layers.utils import positive_int, serialize, smart_select
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops import nn_ops
from graphc.ops.nn_norm import dropout as nn_dropout
from graphc.ops.tensor import TensorShape


def _rate(value, layer):
    if not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise layer_error(layer, f"dropout must be a number in [0, 1), got {value!r}")
    return float(value)


class MultiHeadAttention(KerasLayer):
    """Keras's MultiHeadAttention: project query, key and value into `num_heads` heads,
    attend in each head (scaled by 1/sqrt(key_dim)), and project the concatenated heads
    back to the query's last dimension (or `output_shape`).

    Call it as Keras does: `layer(query, value, key=None, attention_mask=None,
    return_attention_scores=False, training=None, use_causal_mask=False)`. Inputs are
    [batch, T..., dim]; with more than one T axis the attention runs over all of them
    jointly, as Keras's default attention_axes."""

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(activity_regularizer=regularizers.get(activity_regularizer),
                         **kwargs)
        self.num_heads = positive_int(num_heads, "num_heads", self.name)
        self.key_dim = positive_int(key_dim, "key_dim", self.name)
        self.value_dim = positive_int(value_dim, "value_dim", self.name) if value_dim \
            else self.key_dim
        self.dropout = _rate(dropout, self.name)
        self.use_bias = bool(use_bias)
        self.output_shape_arg = self._output_shape(output_shape)
        if attention_axes is not None:
            raise layer_error(self.name, f"attention_axes={attention_axes!r} is not supported: "
                                         "graphc attends over every axis between the batch "
                                         "and the features (Keras's default, None)",
                              NotImplementedError)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint
        self.supports_masking = True

    def _output_shape(self, value):
        if value is None:
            return None
        dims = list(value) if isinstance(value, collections.abc.Sized) else [value]
        if len(dims) != 1:
            raise layer_error(self.name, f"output_shape must be one int (the last dimension "
                                         f"of the output), got {value!r}", NotImplementedError)
        return positive_int(dims[0], "output_shape", self.name)

    # --- calling: Keras's signature, one structure of tensors for graphc's Layer ------------
    def __call__(self, query, value=None, key=None, attention_mask=None,
                 return_attention_scores=False, training=None, use_causal_mask=False):
        if isinstance(query, dict):  # a functional model replaying a recorded call
            inputs = query
        else:
            if value is None:
                raise layer_error(self.name, "MultiHeadAttention is called as "
                                             "layer(query, value, key=None, ...): value is "
                                             "missing", TypeError)
            inputs = {"query": query, "value": value}
            inputs.update({k: v for k, v in (("key", key), ("attention_mask", attention_mask))
                           if v is not None})
        return super().__call__(inputs, return_attention_scores=return_attention_scores,
                                training=training, use_causal_mask=use_causal_mask)

    def build(self, input_shape):
        shapes = {k: TensorShape(v) for k, v in input_shape.items()}
        query, value = shapes["query"], shapes["value"]
        key = shapes.get("key", value)
        for what, shape in (("query", query), ("value", value), ("key", key)):
            if shape.ndims is None or shape.ndims < 3 or shape.dims[-1] is None:
                raise layer_error(self.name, f"{what} must be [batch, T..., dim] with a known "
                                             f"dim, got shape {shape}")
        heads, out_dim = self.num_heads, self.output_shape_arg or query.dims[-1]
        for name, dim, depth in (("query", query.dims[-1], self.key_dim),
                                 ("key", key.dims[-1], self.key_dim),
                                 ("value", value.dims[-1], self.value_dim)):
            self._projection(name, [dim, heads, depth], [heads, depth])
        self._projection("attention_output", [heads, self.value_dim, out_dim], [out_dim])
        self.built = True

    def _projection(self, name, kernel_shape, bias_shape):
        kernel = self.add_weight(f"{name}/kernel", kernel_shape,
                                 initializer=self.kernel_initializer,
                                 regularizer=self.kernel_regularizer,
                                 constraint=self.kernel_constraint)
        bias = None
        if self.use_bias:
            bias = self.add_weight(f"{name}/bias", bias_shape,
                                   initializer=self.bias_initializer,
                                   regularizer=self.bias_regularizer,
                                   constraint=self.bias_constraint)
        setattr(self, f"_{name}_weights", (kernel, bias))

    def call(self, inputs, return_attention_scores=False, training=None,
             use_causal_mask=False):
        query, value = inputs["query"], inputs["value"]
        key = inputs.get("key", value)
        q_time, k_time = _time_dims(query, self.name), _time_dims(key, self.name)
        q = self._project("query", _flat_time(query))
        k = self._project("key", _flat_time(key))
        v = self._project("value", _flat_time(value))
        mask = self._mask(inputs.get("attention_mask"), q_time, k_time, use_causal_mask)
        out, scores = core.dot_product_attention(
            q, k, v, mask=mask, scale=1.0 / math.sqrt(self.key_dim),
            dropout_rate=self.dropout, training=training, return_weights=True)
        out = self._output(core.merge_heads(out))
        if len(q_time) > 1:  # the time axes back from their flattening
            out = A.reshape(out, [_batch(query)] + q_time + [out.shape.dims[-1]])
            if return_attention_scores:
                scores = A.reshape(scores, [_batch(query), self.num_heads] + q_time + k_time)
        return (out, scores) if return_attention_scores else out

    def _project(self, name, x):
        """[B, T, d] -> [B, heads, T, depth] through the [d, heads, depth] kernel."""
        kernel, bias = getattr(self, f"_{name}_weights")
        dim, heads, depth = kernel.shape.dims
        flat_bias = None if bias is None else A.reshape(bias, [heads * depth])
        y = matmul_rows(x, A.reshape(kernel, [dim, heads * depth]), flat_bias)
        return core.split_heads(y, heads)

    def _output(self, x):
        kernel, bias = self._attention_output_weights
        heads, depth, out_dim = kernel.shape.dims
        return matmul_rows(x, A.reshape(kernel, [heads * depth, out_dim]), bias)

    def _mask(self, mask, q_time, k_time, causal):
        """The attention mask as [B or 1, 1, Tq, Tk] over the flattened time axes, with
        Keras's causal mask (key j <= query i) merged in."""
        mask = core.as_bool_mask(mask)
        if mask is not None:
            rank = 1 + len(q_time) + len(k_time)
            if mask.shape.ndims is None or mask.shape.ndims > rank:
                raise layer_error(self.name, f"attention_mask must be [batch, Tq..., Tk...] "
                                             f"(rank {rank}), got shape {mask.shape}")
            while mask.shape.ndims < rank:
                mask = A.expand_dims(mask, 0)
            tq, tk = _product(q_time), _product(k_time)
            if rank > 3:
                mask = A.reshape(mask, [_batch(mask), tq, tk])
            mask = A.expand_dims(mask, 1)  # one mask for every head
        if causal:
            mask = core.merge_masks(mask, core.causal_mask(_product(q_time), _product(k_time),
                                                           offset=0))
        return mask

    def compute_output_shape(self, input_shape):
        query = TensorShape(input_shape["query"] if isinstance(input_shape, dict)
                            else input_shape)
        return TensorShape(query.dims[:-1] + (self.output_shape_arg or query.dims[-1],))

    def get_config(self):
        config = {"num_heads": self.num_heads, "key_dim": self.key_dim,
                  "value_dim": self.value_dim, "dropout": self.dropout,
                  "use_bias": self.use_bias, "output_shape": self.output_shape_arg,
                  "attention_axes": None}
        for k in ("kernel_initializer", "bias_initializer", "kernel_regularizer",
                  "bias_regularizer", "kernel_constraint", "bias_constraint"):
            config[k] = serialize(getattr(self, k))
        return {**super().get_config(), **config}


def matmul_rows(x, kernel, bias=None):
    """x [B, T, d] @ kernel [d, n] (+ bias [n]) as one 2-D matmul over the B*T rows: the
    compiler then applies the bias in the GEMM's epilogue (it fuses no op across the
    reshape of a 3-D tensordot)."""
    y = m.matmul(A.reshape(x, [-1, x.shape.dims[-1]]), kernel)
    if bias is not None:
        y = y + bias
    return A.reshape(y, core.leading_dims(x, 2) + [kernel.shape.dims[-1]])


def _time_dims(x, layer):
    """The sizes of x's axes between batch and features (all known when there are several:
    they are flattened into one)."""
    dims = list(x.shape.dims[1:-1])
    if None in dims and len(dims) > 1:
        raise layer_error(layer, f"inputs with several time axes need their sizes known, got "
                                 f"shape {x.shape}")
    return dims


def _flat_time(x):
    """[B, T1, T2, ..., d] -> [B, T1*T2*..., d]: attending over several axes jointly is
    attending over their flattening."""
    if x.shape.ndims == 3:
        return x
    return A.reshape(x, [-1, _product(x.shape.dims[1:-1]), x.shape.dims[-1]])


def _batch(x):
    return -1 if x.shape.dims[0] is None else x.shape.dims[0]


def _product(dims):
    n = 1
    for d in dims:
        n = None if d is None or n is None else n * d
    return n


# --- Attention and AdditiveAttention ----------------------------------------------------------
class _DenseAttention(KerasLayer):
    """Keras's BaseDenseAttention: called on [query, value] or [query, value, key] (key
    defaults to value), scores from `_scores`, a softmax over the keys and the weighted sum
    of the values. mask=[query_mask, value_mask]: [batch, Tq] zeroes the outputs of masked
    queries, [batch, Tv] keeps masked values out of every sum. The attention scores returned
    are the weights after dropout, as Keras returns them."""

    def __init__(self, causal=False, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.causal = bool(causal)
        self.dropout = _rate(dropout, self.name)
        self.supports_masking = True

    def _inputs(self, inputs, mask):
        kind = type(self).__name__
        if not isinstance(inputs, list) or not 2 <= len(inputs) <= 3:
            raise layer_error(self.name, f"{kind} layer must be called on a list of inputs, "
                                         f"namely [query, value] or [query, value, key]; got "
                                         f"{inputs!r}")
        if mask is not None and mask != [] and (not isinstance(mask, list) or
                                                not 2 <= len(mask) <= len(inputs)):
            raise layer_error(self.name, f"{kind} layer mask must be a list, namely "
                                         f"[query_mask, value_mask]; got {mask!r}")
        for x in inputs:
            if x.shape.ndims != 3:
                raise layer_error(self.name, f"{kind} inputs must be [batch, T, dim], got "
                                             f"shape {x.shape}")
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        q_mask, v_mask = (mask[0], mask[1]) if mask else (None, None)
        return query, value, key, core.as_bool_mask(q_mask), core.as_bool_mask(v_mask)

    def call(self, inputs, mask=None, training=None, return_attention_scores=False,
             use_causal_mask=False):
        query, value, key, q_mask, v_mask = self._inputs(inputs, mask)
        scores = self._scores(query, key)
        allowed = None if v_mask is None else A.expand_dims(v_mask, -2)  # [batch, 1, Tv]
        if self.causal or use_causal_mask:
            band = core.causal_mask(query.shape.dims[1], key.shape.dims[1], offset=0)
            allowed = core.merge_masks(allowed, band)
        weights = nn_ops.softmax(core.apply_mask(scores, allowed))
        if self.dropout > 0:
            weights = smart_select(training, lambda: nn_dropout(weights, rate=self.dropout),
                                   lambda: weights)
        result = m.matmul(weights, value)
        if q_mask is not None:
            result = result * m.cast(A.expand_dims(q_mask, -1), result.dtype)
        return (result, weights) if return_attention_scores else result

    def compute_output_shape(self, input_shape):
        query, value = TensorShape(input_shape[0]), TensorShape(input_shape[1])
        return TensorShape(query.dims[:-1] + value.dims[-1:])

    def get_config(self):
        return {**super().get_config(), "causal": self.causal, "dropout": self.dropout}


class Attention(_DenseAttention):
    """Dot-product (Luong) attention: scores = query @ key^T, times a learned scalar `scale`
    (initially 1) with use_scale. score_mode="concat" scores
    concat_score_weight * sum(tanh(scale * (query + key))) over the features instead."""

    def __init__(self, use_scale=False, score_mode="dot", **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise layer_error(self.name, f"Received: score_mode={score_mode!r}; acceptable "
                                         f"values are 'dot' and 'concat'")
        self.use_scale, self.score_mode = bool(use_scale), score_mode

    def build(self, input_shape):
        self.scale = self.add_weight("scale", [], initializer=initializers.get("ones")) \
            if self.use_scale else None
        self.concat_score_weight = None
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight("concat_score_weight", [],
                                                       initializer=initializers.get("ones"))
        self.built = True

    def _scores(self, query, key):
        if self.score_mode == "dot":
            scores = m.matmul(query, key, transpose_b=True)
            return scores * self.scale if self.scale is not None else scores
        total = A.expand_dims(query, -2) + A.expand_dims(key, -3)  # [batch, Tq, Tv, dim]
        if self.scale is not None:
            total = total * self.scale
        return self.concat_score_weight * m.reduce_sum(m.tanh(total), -1)

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale,
                "score_mode": self.score_mode}


class AdditiveAttention(_DenseAttention):
    """Additive (Bahdanau) attention: scores = sum(scale * tanh(query + key)) over the
    features, `scale` a learned vector (glorot-uniform) with use_scale, else 1."""

    def __init__(self, use_scale=True, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = bool(use_scale)

    def build(self, input_shape):
        dim = TensorShape(input_shape[1]).dims[-1]
        self.scale = None
        if self.use_scale:
            if dim is None:
                raise layer_error(self.name, "the last dimension of value must be known to "
                                             "build the scale")
            self.scale = self.add_weight("scale", [dim],
                                         initializer=initializers.get("glorot_uniform"))
        self.built = True

    def _scores(self, query, key):
        total = m.tanh(A.expand_dims(query, -2) + A.expand_dims(key, -3))
        if self.scale is not None:
            total = total * self.scale
        return m.reduce_sum(total, -1)

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale}
