"""tf.contrib.layers' layer functions (TF 1.15 semantics): fully_connected, the
convolutions, pooling, flatten, dropout, one_hot_encoding, softmax, embed_sequence, and
the repeat/stack combinators. All are arg-scoped (tf.contrib.framework.arg_scope).

Layers with variables build graphc/layers' classes under contrib's names (utils.py);
the rest are compositions of tf.nn ops. Defaults differ from tf.layers on purpose, as in
TF: activation_fn=relu, padding='SAME', xavier weights, pooling stride 2 'VALID',
dropout keep_prob=0.5 with is_training=True.
"""

from __future__ import annotations

import functools
import inspect
import numbers

import numpy as np

from graphc.contrib.framework import add_arg_scope, model_variable
from graphc.contrib.layers import utils
from graphc.contrib.layers.initializers import xavier_initializer
from graphc.errors import user_location
from graphc.framework.graph import get_default_graph
from graphc.layers.utils import normalize_tuple, smart_select
from graphc.ops import array_ops as A
from graphc.ops import init_ops, nn_conv, nn_ops, nn_pool
from graphc.ops import math_ops as m
from graphc.ops.misc_ops import embedding_lookup
from graphc.ops.nn_norm import dropout as nn_dropout
from graphc.ops.tensor import convert_to_tensor


def _check_int(value, what: str, who: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ValueError(f"{who}: {what} should be an int, got {value!r} "
                         f"(at {user_location()})")
    return int(value)


@add_arg_scope
def fully_connected(inputs, num_outputs, activation_fn=nn_ops.relu, normalizer_fn=None,
                    normalizer_params=None, weights_initializer=xavier_initializer(),
                    weights_regularizer=None,
                    biases_initializer=init_ops.zeros_initializer(), biases_regularizer=None,
                    reuse=None, variables_collections=None, outputs_collections=None,
                    trainable=True, scope=None):
    """activation_fn(normalizer_fn(inputs @ weights [+ biases])); variables
    `<scope>/weights` (in, num_outputs) and `<scope>/biases` (no biases with a normalizer).
    Inputs of rank > 2 contract their last axis."""
    _check_int(num_outputs, "num_outputs", "fully_connected")
    with utils.contrib_scope(scope, "fully_connected", reuse) as sc:
        inputs = convert_to_tensor(inputs)
        layer = utils.Dense(num_outputs, use_bias=utils.uses_bias(normalizer_fn,
                                                                  biases_initializer),
                            kernel_initializer=weights_initializer,
                            bias_initializer=biases_initializer,
                            kernel_regularizer=weights_regularizer,
                            bias_regularizer=biases_regularizer, trainable=trainable,
                            name=sc.name, dtype=inputs.dtype, _reuse=reuse)
        outputs = layer.apply(inputs)
        utils.add_to_collections(layer.kernel, variables_collections, "weights")
        utils.add_to_collections(layer.bias, variables_collections, "biases")
        return utils.finish(outputs, normalizer_fn, normalizer_params, activation_fn,
                            outputs_collections)


_CONV_CLASSES = {3: utils.Conv1D, 4: utils.Conv2D, 5: utils.Conv3D}
_DATA_FORMATS = (None, "NWC", "NCW", "NHWC", "NCHW", "NDHWC", "NCDHW")


def _channels_first(data_format) -> bool:
    return bool(data_format) and data_format.startswith("NC")


@add_arg_scope
def convolution(inputs, num_outputs, kernel_size, stride=1, padding="SAME", data_format=None,
                rate=1, activation_fn=nn_ops.relu, normalizer_fn=None, normalizer_params=None,
                weights_initializer=xavier_initializer(), weights_regularizer=None,
                biases_initializer=init_ops.zeros_initializer(), biases_regularizer=None,
                reuse=None, variables_collections=None, outputs_collections=None,
                trainable=True, scope=None, conv_dims=None):
    """An N-d convolution (1 to 3 spatial axes, by the input's rank) with `<scope>/weights`
    (*kernel_size, in, num_outputs) and `<scope>/biases`; default scope 'Conv'."""
    if data_format not in _DATA_FORMATS:
        raise ValueError(f"convolution: invalid data_format {data_format!r}, expected one of "
                         f"{list(_DATA_FORMATS)} (at {user_location()})")
    with utils.contrib_scope(scope, "Conv", reuse) as sc:
        inputs = convert_to_tensor(inputs)
        rank = inputs.shape.ndims
        if conv_dims is not None and conv_dims + 2 != rank:
            raise ValueError(f"convolution: expected an input of rank {conv_dims + 2} for a "
                             f"{conv_dims}-d convolution, got shape {inputs.shape} "
                             f"(at {user_location()})")
        if rank not in _CONV_CLASSES:
            raise ValueError(f"convolution: inputs must have rank 3, 4 or 5, got shape "
                             f"{inputs.shape} (at {user_location()})")
        layer = _CONV_CLASSES[rank](
            filters=num_outputs, kernel_size=kernel_size, strides=stride, padding=padding,
            data_format="channels_first" if _channels_first(data_format) else "channels_last",
            dilation_rate=rate, use_bias=utils.uses_bias(normalizer_fn, biases_initializer),
            kernel_initializer=weights_initializer, bias_initializer=biases_initializer,
            kernel_regularizer=weights_regularizer, bias_regularizer=biases_regularizer,
            trainable=trainable, name=sc.name, dtype=inputs.dtype, _reuse=reuse)
        outputs = layer.apply(inputs)
        utils.add_to_collections(layer.kernel, variables_collections, "weights")
        utils.add_to_collections(layer.bias, variables_collections, "biases")
        return utils.finish(outputs, normalizer_fn, normalizer_params, activation_fn,
                            outputs_collections)


def _fixed_rank(conv_dims: int):
    """convolution with conv_dims fixed (TF's convolution1d/2d/3d), the same signature
    without conv_dims."""
    def conv(*args, **kwargs):
        return convolution.__wrapped__(*args, conv_dims=conv_dims, **kwargs)
    params = list(inspect.signature(convolution).parameters.values())[:-1]
    conv.__signature__ = inspect.Signature(params)
    conv.__name__ = conv.__qualname__ = f"convolution{conv_dims}d"
    conv.__doc__ = f"A {conv_dims}-d `convolution` (default scope 'Conv')."
    return add_arg_scope(conv)


convolution1d = conv1d = _fixed_rank(1)
convolution2d = conv2d = _fixed_rank(2)
convolution3d = conv3d = _fixed_rank(3)


def _check_2d_format(data_format, who: str) -> None:
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"{who}: data_format has to be either NCHW or NHWC, got "
                         f"{data_format!r} (at {user_location()})")


@add_arg_scope
def convolution2d_transpose(inputs, num_outputs, kernel_size, stride=1, padding="SAME",
                            data_format="NHWC", activation_fn=nn_ops.relu, normalizer_fn=None,
                            normalizer_params=None, weights_initializer=xavier_initializer(),
                            weights_regularizer=None,
                            biases_initializer=init_ops.zeros_initializer(),
                            biases_regularizer=None, reuse=None, variables_collections=None,
                            outputs_collections=None, trainable=True, scope=None):
    """The transpose (gradient) of conv2d: `<scope>/weights` (kh, kw, num_outputs, in);
    default scope 'Conv2d_transpose'."""
    _check_2d_format(data_format, "conv2d_transpose")
    with utils.contrib_scope(scope, "Conv2d_transpose", reuse) as sc:
        inputs = convert_to_tensor(inputs)
        layer = utils.Conv2DTranspose(
            filters=num_outputs, kernel_size=kernel_size, strides=stride, padding=padding,
            data_format="channels_first" if data_format == "NCHW" else "channels_last",
            use_bias=utils.uses_bias(normalizer_fn, biases_initializer),
            kernel_initializer=weights_initializer, bias_initializer=biases_initializer,
            kernel_regularizer=weights_regularizer, bias_regularizer=biases_regularizer,
            trainable=trainable, name=sc.name, dtype=inputs.dtype, _reuse=reuse)
        outputs = layer.apply(inputs)
        utils.add_to_collections(layer.kernel, variables_collections, "weights")
        utils.add_to_collections(layer.bias, variables_collections, "biases")
        return utils.finish(outputs, normalizer_fn, normalizer_params, activation_fn,
                            outputs_collections)


conv2d_transpose = convolution2d_transpose


@add_arg_scope
def separable_convolution2d(inputs, num_outputs, kernel_size, depth_multiplier=1, stride=1,
                            padding="SAME", data_format="NHWC", rate=1,
                            activation_fn=nn_ops.relu, normalizer_fn=None,
                            normalizer_params=None, weights_initializer=xavier_initializer(),
                            pointwise_initializer=None, weights_regularizer=None,
                            biases_initializer=init_ops.zeros_initializer(),
                            biases_regularizer=None, reuse=None, variables_collections=None,
                            outputs_collections=None, trainable=True, scope=None):
    """A depthwise convolution (`depthwise_weights`, kh, kw, in, depth_multiplier), then,
    unless num_outputs is None, a 1x1 convolution (`pointwise_weights`); default scope
    'SeparableConv2d'."""
    _check_2d_format(data_format, "separable_conv2d")
    with utils.contrib_scope(scope, "SeparableConv2d", reuse) as sc:
        inputs = convert_to_tensor(inputs)
        bias = utils.uses_bias(normalizer_fn, biases_initializer)
        if num_outputs is not None:
            layer = utils.SeparableConv2D(
                filters=num_outputs, kernel_size=kernel_size, strides=stride, padding=padding,
                data_format="channels_first" if data_format == "NCHW" else "channels_last",
                dilation_rate=rate, depth_multiplier=depth_multiplier, use_bias=bias,
                depthwise_initializer=weights_initializer,
                pointwise_initializer=pointwise_initializer or weights_initializer,
                bias_initializer=biases_initializer, depthwise_regularizer=weights_regularizer,
                pointwise_regularizer=weights_regularizer,
                bias_regularizer=biases_regularizer, trainable=trainable, name=sc.name,
                dtype=inputs.dtype, _reuse=reuse)
            outputs = layer.apply(inputs)
            for kernel in (layer.depthwise_kernel, layer.pointwise_kernel):
                utils.add_to_collections(kernel, variables_collections, "weights")
            utils.add_to_collections(layer.bias, variables_collections, "biases")
        else:
            outputs = _depthwise(inputs, kernel_size, depth_multiplier, stride, padding,
                                 data_format, rate, weights_initializer, weights_regularizer,
                                 biases_initializer if bias else None, biases_regularizer,
                                 variables_collections, trainable)
        return utils.finish(outputs, normalizer_fn, normalizer_params, activation_fn,
                            outputs_collections)


separable_conv2d = separable_convolution2d


def _depthwise(inputs, kernel_size, depth_multiplier, stride, padding, data_format, rate,
               weights_initializer, weights_regularizer, biases_initializer,
               biases_regularizer, variables_collections, trainable):
    """separable_conv2d without the pointwise stage: depthwise weights and biases."""
    who = "separable_conv2d"
    kh, kw = normalize_tuple(kernel_size, 2, "kernel_size", who)
    sh, sw = normalize_tuple(stride, 2, "stride", who)
    channels = inputs.shape.dims[1 if data_format == "NCHW" else -1]
    if channels is None:
        raise ValueError(f"{who}: the channel dimension of the inputs must be known when the "
                         f"graph is built, got shape {inputs.shape} (at {user_location()})")
    weights = model_variable(
        "depthwise_weights", shape=[kh, kw, channels, depth_multiplier], dtype=inputs.dtype,
        initializer=weights_initializer, regularizer=weights_regularizer, trainable=trainable,
        collections=utils.variable_collections(variables_collections, "weights"))
    strides = [1, 1, sh, sw] if data_format == "NCHW" else [1, sh, sw, 1]
    outputs = nn_conv.depthwise_conv2d(inputs, weights, strides, padding.upper(),
                                       rate=normalize_tuple(rate, 2, "rate", who),
                                       data_format=data_format)
    if biases_initializer is not None:
        biases = model_variable(
            "biases", shape=[channels * depth_multiplier], dtype=inputs.dtype,
            initializer=biases_initializer, regularizer=biases_regularizer,
            trainable=trainable,
            collections=utils.variable_collections(variables_collections, "biases"))
        outputs = nn_ops.bias_add(outputs, biases, data_format=data_format)
    return outputs


# --- layers without variables ---------------------------------------------------------------
def _pool(kind, rank, inputs, kernel_size, stride, padding, data_format, outputs_collections,
          scope, default_name):
    formats = {2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}[rank]
    who = f"{kind}_pool{rank}d"
    if data_format not in formats:
        raise ValueError(f"{who}: data_format has to be either {formats[1]} or {formats[0]}, "
                         f"got {data_format!r} (at {user_location()})")
    with get_default_graph().name_scope(scope or default_name):
        inputs = convert_to_tensor(inputs)
        pool = nn_pool.max_pool if kind == "max" else nn_pool.avg_pool
        outputs = pool(inputs, ksize=normalize_tuple(kernel_size, rank, "kernel_size", who),
                       strides=normalize_tuple(stride, rank, "stride", who),
                       padding=padding.upper(),
                       data_format="channels_first" if data_format.startswith("NC")
                       else "channels_last")
    return utils.collect_outputs(outputs_collections, outputs)


@add_arg_scope
def max_pool2d(inputs, kernel_size, stride=2, padding="VALID", data_format="NHWC",
               outputs_collections=None, scope=None):
    """The maximum of each kernel_size window, moved by stride (default 2, 'VALID')."""
    return _pool("max", 2, inputs, kernel_size, stride, padding, data_format,
                 outputs_collections, scope, "MaxPool2D")


@add_arg_scope
def avg_pool2d(inputs, kernel_size, stride=2, padding="VALID", data_format="NHWC",
               outputs_collections=None, scope=None):
    """The mean of each window (SAME: of the elements inside the input)."""
    return _pool("avg", 2, inputs, kernel_size, stride, padding, data_format,
                 outputs_collections, scope, "AvgPool2D")


@add_arg_scope
def max_pool3d(inputs, kernel_size, stride=2, padding="VALID", data_format="NDHWC",
               outputs_collections=None, scope=None):
    return _pool("max", 3, inputs, kernel_size, stride, padding, data_format,
                 outputs_collections, scope, "MaxPool3D")


@add_arg_scope
def avg_pool3d(inputs, kernel_size, stride=2, padding="VALID", data_format="NDHWC",
               outputs_collections=None, scope=None):
    return _pool("avg", 3, inputs, kernel_size, stride, padding, data_format,
                 outputs_collections, scope, "AvgPool3D")


@add_arg_scope
def flatten(inputs, outputs_collections=None, scope=None):
    """(batch, ...) -> (batch, product of the rest)."""
    with get_default_graph().name_scope(scope or "Flatten"):
        inputs = convert_to_tensor(inputs)
        dims = inputs.shape.dims
        if dims is None:
            raise ValueError(f"flatten: inputs must have a known rank, got shape {inputs.shape} "
                             f"(at {user_location()})")
        if len(dims) < 2:
            outputs = A.reshape(inputs, [-1, 1])
        elif None not in dims[1:]:
            outputs = A.reshape(inputs, [-1, int(np.prod(dims[1:], dtype=np.int64))])
        else:
            outputs = A.reshape(inputs, A.stack([A.shape(inputs)[0], -1]))
    return utils.collect_outputs(outputs_collections, outputs)


@add_arg_scope
def dropout(inputs, keep_prob=0.5, noise_shape=None, is_training=True,
            outputs_collections=None, scope=None, seed=None):
    """While is_training (a bool or a bool tensor), each element kept with probability
    keep_prob and scaled by 1 / keep_prob; otherwise the identity. A run-time is_training
    builds both and selects (the mask is drawn once per run either way)."""
    with utils.contrib_scope(scope, "Dropout"):
        inputs = convert_to_tensor(inputs)
        if noise_shape is not None:
            noise_shape = [d if d is not None else (inputs.shape.dims[i]
                                                     if inputs.shape.dims[i] is not None
                                                     else A.shape(inputs)[i])
                           for i, d in enumerate(noise_shape)]
        outputs = smart_select(
            is_training,
            lambda: nn_dropout(inputs, keep_prob=keep_prob, noise_shape=noise_shape, seed=seed),
            lambda: A.identity(inputs))
    return utils.collect_outputs(outputs_collections, outputs)


@add_arg_scope
def one_hot_encoding(labels, num_classes, on_value=1.0, off_value=0.0,
                     outputs_collections=None, scope=None):
    """One-hot rows (float32 by default) of integer labels."""
    with get_default_graph().name_scope(scope or "OneHotEncoding"):
        labels = convert_to_tensor(labels)
        outputs = m.one_hot(labels, num_classes, on_value=on_value, off_value=off_value)
    return utils.collect_outputs(outputs_collections, outputs)


@add_arg_scope
def softmax(logits, scope=None):
    """Softmax over the last axis of logits of rank >= 2 (known last dimension)."""
    with utils.contrib_scope(scope, "softmax"):
        logits = convert_to_tensor(logits)
        dims = logits.shape.dims
        if dims is None or len(dims) < 2 or dims[-1] is None:
            raise ValueError(f"softmax: logits must have rank >= 2 and a known last dimension, "
                             f"got shape {logits.shape} (at {user_location()})")
        flat = nn_ops.softmax(A.reshape(logits, [-1, dims[-1]]))
        return A.reshape(flat, A.shape(logits)) if None in dims else A.reshape(flat, dims)


@add_arg_scope
def embed_sequence(ids, vocab_size=None, embed_dim=None, unique=False, initializer=None,
                   regularizer=None, trainable=True, scope=None, reuse=None):
    """Rows of `<scope>/embeddings` (vocab_size, embed_dim) at ids; default scope
    'EmbedSequence'. unique=True gives the same values (graphc has no tf.unique)."""
    if not (reuse or (vocab_size and embed_dim)):
        raise ValueError("embed_sequence: give vocab_size and embed_dim when not reusing, got "
                         f"vocab_size={vocab_size} and embed_dim={embed_dim} "
                         f"(at {user_location()})")
    with utils.contrib_scope(scope, "EmbedSequence", reuse):
        shape = None if (vocab_size is None or embed_dim is None) else [vocab_size, embed_dim]
        embeddings = model_variable("embeddings", shape=shape, initializer=initializer,
                                    regularizer=regularizer, trainable=trainable)
        return embedding_lookup(embeddings, ids)


# --- combinators ----------------------------------------------------------------------------
def _layer_name(layer, fallback: str) -> str:
    if hasattr(layer, "__name__"):
        return layer.__name__
    if isinstance(layer, functools.partial) and hasattr(layer.func, "__name__"):
        return layer.func.__name__
    return fallback


def repeat(inputs, repetitions, layer, *args, **kwargs):
    """layer applied `repetitions` times, in scopes `<scope>/<scope>_1`, `_2`, ... (default:
    'Repeat/<layer name>_1', ...)."""
    scope = kwargs.pop("scope", None)
    with utils.contrib_scope(scope, "Repeat"):
        outputs = convert_to_tensor(inputs)
        scope = scope or _layer_name(layer, "repeat")
        for i in range(repetitions):
            outputs = layer(outputs, *args, scope=f"{scope}_{i + 1}", **kwargs)
        return outputs


def stack(inputs, layer, stack_args, **kwargs):
    """layer applied once per entry of stack_args (its extra positional arguments), in scopes
    `<scope>/<scope>_1`, ... (default: 'Stack/<layer name>_1', ...)."""
    scope = kwargs.pop("scope", None)
    if not isinstance(stack_args, (list, tuple)):
        raise ValueError(f"stack: stack_args must be a list or tuple, got "
                         f"{type(stack_args).__name__} (at {user_location()})")
    with utils.contrib_scope(scope, "Stack"):
        outputs = convert_to_tensor(inputs)
        scope = scope or _layer_name(layer, "stack")
        for i, layer_args in enumerate(stack_args):
            if not isinstance(layer_args, (list, tuple)):
                layer_args = [layer_args]
            outputs = layer(outputs, *layer_args, scope=f"{scope}_{i + 1}", **kwargs)
        return outputs


# TF's shorthands for fully_connected
linear = functools.partial(fully_connected, activation_fn=None)
relu = functools.partial(fully_connected, activation_fn=nn_ops.relu)
relu6 = functools.partial(fully_connected, activation_fn=nn_ops.relu6)
