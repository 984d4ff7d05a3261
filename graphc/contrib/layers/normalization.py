"""tf.contrib.layers.batch_norm and layer_norm (TF 1.15 semantics).

batch_norm takes one of TF's three routes, and the route decides which variance the moving
average tracks:
- "fused" (TF's _fused_batch_norm): fused is True or None, the input has rank 2 or 4, and
  it is rank 2 or updates_collections is not UPDATE_OPS. The moving variance tracks the
  batch variance with Bessel's correction, n / (n - 1).
- "core": updates_collections is UPDATE_OPS: tf.layers' BatchNormalization under contrib's
  scope (Bessel's correction on its fused rank-4 path, none otherwise).
- "legacy": everything else; the plain batch variance.
Each normalizes the batch with the uncorrected variance. The updates are
`moving -= (moving - batch) * (1 - decay)`. With updates_collections=None they are run
before the output is produced (a control dependency), so running the output alone updates
the moving statistics; otherwise they join those collections for the caller to run.
A bool-tensor is_training selects at run time; its updates always run, with a decay of 0
when it is False (graphc runs no assignment inside tf.cond; the values are TF's).
"""

from __future__ import annotations

from graphc.contrib.framework import add_arg_scope, model_variable
from graphc.contrib.layers import utils
from graphc.errors import user_location
from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.layers.utils import constant_value, smart_select
from graphc.ops import array_ops as A
from graphc.ops import init_ops
from graphc.ops import math_ops as m
from graphc.ops.control_flow_ops import control_dependencies
from graphc.ops.nn_norm import batch_normalization
from graphc.ops.nn_ops import moments
from graphc.ops.tensor import constant, convert_to_tensor

UPDATE_OPS = "update_ops"  # tf.GraphKeys.UPDATE_OPS


def _refuse(flag: str, value) -> None:
    raise NotImplementedError(f"batch_norm: {flag}={value!r} is not supported by graphc; leave "
                              f"it at its default (at {user_location()})")


@add_arg_scope
def batch_norm(inputs, decay=0.999, center=True, scale=False, epsilon=0.001, activation_fn=None,
               param_initializers=None, param_regularizers=None,
               updates_collections=UPDATE_OPS, is_training=True, reuse=None,
               variables_collections=None, outputs_collections=None, trainable=True,
               batch_weights=None, fused=None, data_format="NHWC",
               zero_debias_moving_mean=False, scope=None, renorm=False, renorm_clipping=None,
               renorm_decay=0.99, adjustment=None):
    """Batch normalization over every axis but the channels' (last for NHWC, 1 for NCHW);
    variables `BatchNorm/beta` (center), `gamma` (scale), `moving_mean`, `moving_variance`.
    Note TF's defaults: scale=False, decay=0.999, is_training=True."""
    for flag, value, off in (("zero_debias_moving_mean", zero_debias_moving_mean, False),
                             ("batch_weights", batch_weights, None), ("renorm", renorm, False),
                             ("adjustment", adjustment, None)):
        if value is not off and value is not None and value is not False:
            _refuse(flag, value)
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"batch_norm: data_format has to be either NCHW or NHWC, got "
                         f"{data_format!r} (at {user_location()})")
    inputs = convert_to_tensor(inputs)
    rank = inputs.shape.ndims
    if rank is None:
        raise ValueError(f"batch_norm: inputs must have a known rank, got shape {inputs.shape} "
                         f"(at {user_location()})")
    fused = True if fused is None else bool(fused)
    params = dict(param_initializers or {}), dict(param_regularizers or {})
    with utils.contrib_scope(scope, "BatchNorm", reuse) as sc:
        if fused and rank in (2, 4) and (rank == 2 or updates_collections != UPDATE_OPS):
            outputs = _composed(inputs, decay, center, scale, epsilon, params,
                                updates_collections, is_training, variables_collections,
                                trainable, data_format, bessel=True)
        elif updates_collections == UPDATE_OPS:
            outputs = _core(inputs, decay, center, scale, epsilon, params, is_training, reuse,
                            variables_collections, trainable, fused, data_format, sc)
        else:
            outputs = _composed(inputs, decay, center, scale, epsilon, params,
                                updates_collections, is_training, variables_collections,
                                trainable, data_format, bessel=False)
        if activation_fn is not None:
            outputs = activation_fn(outputs)
        return utils.collect_outputs(outputs_collections, outputs)


def _core(inputs, decay, center, scale, epsilon, params, is_training, reuse,
          variables_collections, trainable, fused, data_format, sc):
    initializers, regularizers = params
    layer = utils.BatchNormalization(
        axis=1 if data_format == "NCHW" else -1, momentum=decay, epsilon=epsilon, center=center,
        scale=scale, beta_initializer=initializers.get("beta", init_ops.zeros_initializer()),
        gamma_initializer=initializers.get("gamma", init_ops.ones_initializer()),
        moving_mean_initializer=initializers.get("moving_mean", init_ops.zeros_initializer()),
        moving_variance_initializer=initializers.get("moving_variance",
                                                     init_ops.ones_initializer()),
        beta_regularizer=regularizers.get("beta"), gamma_regularizer=regularizers.get("gamma"),
        trainable=trainable, fused=fused, name=sc.name, dtype=inputs.dtype, _reuse=reuse)
    outputs = layer.apply(inputs, training=is_training)
    for role in ("moving_mean", "moving_variance", "beta", "gamma"):
        utils.add_to_collections(getattr(layer, role), variables_collections, role)
    return outputs


def _variables(inputs, center, scale, params, variables_collections, trainable, channel_axis):
    """beta, gamma (None when off), moving_mean, moving_variance, in TF's order."""
    initializers, regularizers = params
    channels = inputs.shape.dims[channel_axis]
    if channels is None:
        raise ValueError(f"batch_norm: the channel dimension of the inputs must be known when "
                         f"the graph is built, got shape {inputs.shape} (at {user_location()})")
    dtype = dtypes.float32 if inputs.dtype is dtypes.float16 else inputs.dtype

    def make(role, default_init, train, wanted=True):
        if not wanted:
            return None
        return model_variable(
            role, shape=[channels], dtype=dtype,
            initializer=initializers.get(role, default_init),
            regularizer=regularizers.get(role) if train else None,
            trainable=trainable and train,
            collections=utils.variable_collections(variables_collections, role))
    return (make("beta", init_ops.zeros_initializer(), True, center),
            make("gamma", init_ops.ones_initializer(), True, scale),
            make("moving_mean", init_ops.zeros_initializer(), False),
            make("moving_variance", init_ops.ones_initializer(), False))


def _composed(inputs, decay, center, scale, epsilon, params, updates_collections, is_training,
              variables_collections, trainable, data_format, bessel):
    """The "fused" (bessel=True) and "legacy" routes, composed from moments and
    nn.batch_normalization."""
    rank = inputs.shape.ndims
    channel_axis = 1 if data_format == "NCHW" and rank > 2 else rank - 1
    if rank == 2:
        channel_axis = 1
    beta, gamma, moving_mean, moving_variance = _variables(
        inputs, center, scale, params, variables_collections, trainable, channel_axis)
    axes = [a for a in range(rank) if a != channel_axis]
    shape = [1] * rank
    shape[channel_axis] = -1

    def broadcast(v):
        return v if v is None or channel_axis == rank - 1 else A.reshape(v, shape)
    training = constant_value(is_training)
    if training is False:
        mean, variance = moving_mean, moving_variance
    else:
        x = m.cast(inputs, moving_mean.dtype)
        batch_mean, batch_var = moments(x, axes)
        tracked = batch_var
        if bessel:  # n / (n - 1), n the count per channel (1 when n is 1, as TF's kernel)
            count = m.cast(m.size(x), batch_var.dtype) / m.cast(m.size(batch_mean),
                                                                  batch_var.dtype)
            tracked = batch_var * (count / m.maximum(count - 1.0, 1.0))
        updates = _updates(moving_mean, moving_variance, batch_mean, tracked, decay, training,
                           is_training)
        mean = smart_select(is_training, lambda: batch_mean, lambda: moving_mean)
        variance = smart_select(is_training, lambda: batch_var, lambda: moving_variance)
        if updates_collections is None:
            # the updates run before the statistics are used, so fetching the output runs them
            with control_dependencies(updates):
                mean, variance = A.identity(mean), A.identity(variance)
        else:
            for key in utils.as_list(updates_collections):
                for update in updates:
                    get_default_graph().add_to_collection(key, update)
    outputs = batch_normalization(inputs, broadcast(mean), broadcast(variance),
                                  broadcast(beta), broadcast(gamma), epsilon)
    return m.cast(outputs, inputs.dtype)


def _updates(moving_mean, moving_variance, mean, variance, decay, training, is_training):
    """`moving -= (moving - value) * (1 - decay)` for both statistics; the factor is 0 when a
    run-time is_training is False."""
    dtype = moving_mean.dtype
    factor = constant(1.0 - decay, dtype) if training else m.where(
        convert_to_tensor(is_training), constant(1.0 - decay, dtype), constant(0.0, dtype))
    result = []
    for variable, value in ((moving_mean, mean), (moving_variance, variance)):
        with get_default_graph().name_scope("AssignMovingAvg") as name:
            result.append(variable.assign_sub((variable - value) * factor, name=name))
    return result


@add_arg_scope
def layer_norm(inputs, center=True, scale=True, activation_fn=None, reuse=None,
               variables_collections=None, outputs_collections=None, trainable=True,
               begin_norm_axis=1, begin_params_axis=-1, scope=None):
    """Normalize over axes begin_norm_axis.. (mean 0, variance 1, epsilon 1e-12; 1e-3 for
    float16), then `LayerNorm/gamma` * x + `LayerNorm/beta`, both of shape
    inputs.shape[begin_params_axis:]."""
    with utils.contrib_scope(scope, "LayerNorm", reuse):
        inputs = convert_to_tensor(inputs)
        dims = inputs.shape.dims
        if dims is None:
            raise ValueError(f"layer_norm: inputs {inputs.name} have an unknown rank "
                             f"(at {user_location()})")
        rank = len(dims)
        norm_axis = begin_norm_axis + rank if begin_norm_axis < 0 else begin_norm_axis
        if begin_params_axis >= rank or norm_axis >= rank:
            raise ValueError(f"layer_norm: begin_params_axis ({begin_params_axis}) and "
                             f"begin_norm_axis ({begin_norm_axis}) must be < rank(inputs) "
                             f"({rank}) (at {user_location()})")
        params_shape = list(dims[begin_params_axis:])
        if None in params_shape:
            raise ValueError(f"layer_norm: inputs {inputs.name}: shape(inputs)"
                             f"[{begin_params_axis}:] is not fully defined: {inputs.shape} "
                             f"(at {user_location()})")

        def param(role, initializer, wanted):
            if not wanted:
                return None
            return model_variable(
                role, shape=params_shape, dtype=inputs.dtype, initializer=initializer,
                trainable=trainable,
                collections=utils.variable_collections(variables_collections, role))
        beta = param("beta", init_ops.zeros_initializer(), center)
        gamma = param("gamma", init_ops.ones_initializer(), scale)
        mean, variance = moments(inputs, list(range(norm_axis, rank)), keepdims=True)
        epsilon = 1e-3 if inputs.dtype is dtypes.float16 else 1e-12
        outputs = batch_normalization(inputs, mean, variance, beta, gamma, epsilon)
        if activation_fn is not None:
            outputs = activation_fn(outputs)
        return utils.collect_outputs(outputs_collections, outputs)
