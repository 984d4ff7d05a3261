"""Convolution layers of tf.layers: Conv1D/2D/3D, Conv2DTranspose/Conv3DTranspose and
SeparableConv1D/2D, with their functional forms (TF 1.15 semantics).

Kernels use TF's layout: (*kernel_size, in_channels, filters) for convolutions,
(*kernel_size, filters, in_channels) for transposed ones; separable convolutions hold a
depthwise kernel (*kernel_size, in_channels, depth_multiplier) and a pointwise kernel
(1, ..., in_channels * depth_multiplier, filters). Everything lowers to tf.nn's
convolutions (one N-d primitive and its adjoint).
"""

from __future__ import annotations

from graphc.layers.base import InputSpec, Layer, functional, input_shape_of
from graphc.layers.utils import (
    conv_output_length,
    deconv_output_length,
    get_activation,
    get_callable,
    get_initializer,
    layer_error,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
    positive_int,
    serialize,
)
from graphc.ops import array_ops as A
from graphc.ops import init_ops, nn_conv, nn_ops
from graphc.ops.tensor import TensorShape


def add_depthwise_kernel(layer, channels: int):
    """The (*kernel_size, channels, depth_multiplier) filter of a depthwise or separable
    convolution layer, with the layer's depthwise initializer, regularizer and constraint."""
    return layer.add_weight(
        "depthwise_kernel", layer.kernel_size + (channels, layer.depth_multiplier),
        initializer=layer.depthwise_initializer, regularizer=layer.depthwise_regularizer,
        constraint=layer.depthwise_constraint)


class Conv(Layer):
    """An N-d convolution (rank 1 to 3 spatial axes) plus bias and activation."""

    _causal_ok = False  # 'causal' padding: Conv1D and SeparableConv1D only

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer=None,
                 bias_initializer=init_ops.zeros_initializer(), kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, trainable=True, name=None, **kwargs):
        super().__init__(trainable=trainable, name=name,
                         activity_regularizer=activity_regularizer, **kwargs)
        who = self.name
        self.rank = rank
        self.filters = positive_int(filters, "filters", who)
        self.kernel_size = normalize_tuple(kernel_size, rank, "kernel_size", who)
        self.strides = normalize_tuple(strides, rank, "strides", who)
        self.padding = normalize_padding(padding, who, causal_ok=self._causal_ok)
        self.data_format = normalize_data_format(data_format, who)
        self.dilation_rate = normalize_tuple(dilation_rate, rank, "dilation_rate", who)
        self.activation = get_activation(activation, who)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer(kernel_initializer, who)
        self.bias_initializer = get_initializer(bias_initializer, who)
        self.kernel_regularizer = get_callable(kernel_regularizer, "kernel_regularizer", who)
        self.bias_regularizer = get_callable(bias_regularizer, "bias_regularizer", who)
        self.kernel_constraint = get_callable(kernel_constraint, "kernel_constraint", who)
        self.bias_constraint = get_callable(bias_constraint, "bias_constraint", who)
        self.input_spec = InputSpec(ndim=rank + 2)

    # --- shapes -----------------------------------------------------------------------------
    @property
    def _channel_axis(self) -> int:
        return 1 if self.data_format == "channels_first" else -1

    def _channels(self, input_shape) -> int:
        shape = input_shape_of(input_shape)
        channels = shape.dims[self._channel_axis]
        if channels is None:
            raise layer_error(self.name, "the channel dimension of the inputs must be known "
                                         f"when the graph is built, got shape {shape}")
        if self.dtype.kind != "f":
            raise layer_error(self.name, f"a convolution needs a floating-point dtype, got "
                                         f"{self.dtype}", TypeError)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis: channels})
        return channels

    def _spatial(self, dims) -> tuple:
        return tuple(dims[2:] if self.data_format == "channels_first" else dims[1:-1])

    def _with_spatial(self, batch, spatial, channels) -> list:
        if self.data_format == "channels_first":
            return [batch, channels, *spatial]
        return [batch, *spatial, channels]

    def compute_output_shape(self, input_shape):
        dims = input_shape_of(input_shape).dims
        spatial = [conv_output_length(n, k, self.padding, s, d) for n, k, s, d in
                   zip(self._spatial(dims), self.kernel_size, self.strides,
                       self.dilation_rate)]
        return TensorShape(self._with_spatial(dims[0], spatial, self.filters))

    # --- variables and computation --------------------------------------------------------
    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, self.filters),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self._add_bias()
        self.built = True

    def _add_bias(self):
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,),
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def _causal_pad(self, inputs):
        """Pad the (one) spatial axis at its start by the kernel's dilated span - 1, so
        output t sees inputs up to t only; the convolution is then 'valid'."""
        span = self.dilation_rate[0] * (self.kernel_size[0] - 1)
        pads = [[0, 0], [0, 0], [0, 0]]
        pads[2 if self.data_format == "channels_first" else 1] = [span, 0]
        return A.pad(inputs, pads), "VALID"

    def _finish(self, outputs):
        if self.use_bias:
            fmt = "NCHW" if self.data_format == "channels_first" else "NHWC"
            outputs = nn_ops.bias_add(outputs, self.bias, data_format=fmt)
        return self.activation(outputs) if self.activation is not None else outputs

    def call(self, inputs):
        padding = self.padding.upper()
        if self.padding == "causal":
            inputs, padding = self._causal_pad(inputs)
        outputs = nn_conv.convolution(inputs, self.kernel, padding=padding,
                                      strides=self.strides, dilation_rate=self.dilation_rate,
                                      data_format=self.data_format)
        return self._finish(outputs)

    _CONFIG = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
               "activation", "use_bias", "kernel_initializer", "bias_initializer",
               "kernel_regularizer", "bias_regularizer", "kernel_constraint",
               "bias_constraint")

    def get_config(self):
        return {**super().get_config(), **{k: serialize(getattr(self, k))
                                           for k in self._CONFIG}}


class Conv1D(Conv):
    _causal_ok = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, *args, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, data_format,
                         dilation_rate, *args, **kwargs)


class Conv2D(Conv):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format="channels_last", dilation_rate=(1, 1), *args, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, data_format,
                         dilation_rate, *args, **kwargs)


class Conv3D(Conv):
    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format="channels_last", dilation_rate=(1, 1, 1), *args, **kwargs):
        super().__init__(3, filters, kernel_size, strides, padding, data_format,
                         dilation_rate, *args, **kwargs)


# --- transposed convolutions -----------------------------------------------------------------
class _ConvTranspose(Conv):
    """The transpose (gradient with respect to its input) of the Conv with the same
    arguments: spatial sizes grow by the strides. output_padding adds to each size."""

    def __init__(self, rank, filters, kernel_size, strides, padding, data_format,
                 output_padding=None, dilation_rate=1, **kwargs):
        super().__init__(rank, filters, kernel_size, strides, padding, data_format,
                         dilation_rate, **kwargs)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = normalize_tuple(output_padding, rank, "output_padding",
                                                  self.name, minimum=0)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise layer_error(self.name, f"output_padding {self.output_padding} must be "
                                             f"smaller than the strides {self.strides}")

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, channels),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self._add_bias()
        self.built = True

    def _output_sizes(self, dims) -> list:
        sizes = []
        extra = self.output_padding or (0,) * self.rank
        for n, k, s, d, p in zip(self._spatial(dims), self.kernel_size, self.strides,
                                 self.dilation_rate, extra):
            size = deconv_output_length(n, k, self.padding, s, d)
            if size is not None and self.output_padding is not None:
                span = (k - 1) * d + 1
                size = (n - 1) * s + span - 2 * (span // 2 if self.padding == "same" else 0) + p
            sizes.append(size)
        return sizes

    def compute_output_shape(self, input_shape):
        dims = input_shape_of(input_shape).dims
        return TensorShape(self._with_spatial(dims[0], self._output_sizes(dims), self.filters))

    def call(self, inputs):
        dims = inputs.shape.dims
        sizes = self._output_sizes(dims)
        if None in sizes:
            raise layer_error(self.name, "a transposed convolution needs the spatial sizes "
                                         f"of its input when the graph is built, got shape "
                                         f"{inputs.shape}")
        batch = dims[0] if dims[0] is not None else A.shape(inputs)[0]
        out_shape = self._with_spatial(batch, sizes, self.filters)
        transpose = nn_conv.conv2d_transpose if self.rank == 2 else nn_conv.conv3d_transpose
        fmt = {(2, "channels_last"): "NHWC", (2, "channels_first"): "NCHW",
               (3, "channels_last"): "NDHWC", (3, "channels_first"): "NCDHW"}
        outputs = transpose(inputs, self.kernel, out_shape, strides=self.strides,
                            padding=self.padding.upper(),
                            data_format=fmt[self.rank, self.data_format],
                            dilations=self.dilation_rate)
        return self._finish(outputs)

    _CONFIG = Conv._CONFIG + ("output_padding",)


class Conv2DTranspose(_ConvTranspose):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format="channels_last", activation=None, use_bias=True,
                 kernel_initializer=None, bias_initializer=init_ops.zeros_initializer(),
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, trainable=True, name=None,
                 output_padding=None, dilation_rate=(1, 1), **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, data_format,
                         output_padding, dilation_rate, activation=activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         trainable=trainable, name=name, **kwargs)


class Conv3DTranspose(_ConvTranspose):
    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format="channels_last", activation=None, use_bias=True,
                 kernel_initializer=None, bias_initializer=init_ops.zeros_initializer(),
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, trainable=True, name=None,
                 output_padding=None, dilation_rate=(1, 1, 1), **kwargs):
        super().__init__(3, filters, kernel_size, strides, padding, data_format,
                         output_padding, dilation_rate, activation=activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         trainable=trainable, name=name, **kwargs)


# --- separable convolutions -----------------------------------------------------------------
class _SeparableConv(Conv):
    """A depthwise convolution (depth_multiplier outputs per input channel), then a 1x1
    convolution to `filters` channels."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, depth_multiplier=1,
                 activation=None, use_bias=True, depthwise_initializer=None,
                 pointwise_initializer=None, bias_initializer=init_ops.zeros_initializer(),
                 depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, trainable=True, name=None,
                 **kwargs):
        super().__init__(rank, filters, kernel_size, strides, padding, data_format,
                         dilation_rate, activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         bias_constraint=bias_constraint, trainable=trainable, name=name,
                         **kwargs)
        who = self.name
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", who)
        self.depthwise_initializer = get_initializer(depthwise_initializer, who)
        self.pointwise_initializer = get_initializer(pointwise_initializer, who)
        self.depthwise_regularizer = get_callable(depthwise_regularizer,
                                                  "depthwise_regularizer", who)
        self.pointwise_regularizer = get_callable(pointwise_regularizer,
                                                  "pointwise_regularizer", who)
        self.depthwise_constraint = get_callable(depthwise_constraint, "depthwise_constraint",
                                                 who)
        self.pointwise_constraint = get_callable(pointwise_constraint, "pointwise_constraint",
                                                 who)

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.depthwise_kernel = add_depthwise_kernel(self, channels)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1,) * self.rank + (channels * self.depth_multiplier,
                                                   self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)
        self._add_bias()
        self.built = True

    def _separable(self, inputs, depthwise, pointwise, strides, rate, padding):
        fmt = "NCHW" if self.data_format == "channels_first" else "NHWC"
        return nn_conv.separable_conv2d(inputs, depthwise, pointwise, strides=strides,
                                        padding=padding, rate=rate, data_format=fmt)

    _CONFIG = tuple(k for k in Conv._CONFIG if not k.startswith("kernel_")) + (
        "depth_multiplier", "depthwise_initializer", "pointwise_initializer",
        "depthwise_regularizer", "pointwise_regularizer", "depthwise_constraint",
        "pointwise_constraint")


class SeparableConv2D(_SeparableConv):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format="channels_last", dilation_rate=(1, 1), *args, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, data_format,
                         dilation_rate, *args, **kwargs)

    def call(self, inputs):
        outputs = self._separable(inputs, self.depthwise_kernel, self.pointwise_kernel,
                                  self.strides, self.dilation_rate, self.padding.upper())
        return self._finish(outputs)


class SeparableConv1D(_SeparableConv):
    """Runs as a SeparableConv2D over a spatial axis of size 1, as TF does."""

    _causal_ok = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, *args, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, data_format,
                         dilation_rate, *args, **kwargs)

    def call(self, inputs):
        padding = self.padding.upper()
        if self.padding == "causal":
            inputs, padding = self._causal_pad(inputs)
        axis = 2 if self.data_format == "channels_first" else 1
        outputs = self._separable(A.expand_dims(inputs, axis),
                                  A.expand_dims(self.depthwise_kernel, 0),
                                  A.expand_dims(self.pointwise_kernel, 0),
                                  (1,) + self.strides, (1,) + self.dilation_rate, padding)
        return self._finish(A.squeeze(outputs, [axis]))


# --- functional forms -------------------------------------------------------------------------
conv1d = functional(Conv1D, "tf.layers.conv1d: a Conv1D layer applied to inputs.")
conv2d = functional(Conv2D, "tf.layers.conv2d: a Conv2D layer applied to inputs.")
conv3d = functional(Conv3D, "tf.layers.conv3d: a Conv3D layer applied to inputs.")
conv2d_transpose = functional(Conv2DTranspose, "tf.layers.conv2d_transpose.")
conv3d_transpose = functional(Conv3DTranspose, "tf.layers.conv3d_transpose.")
separable_conv1d = functional(SeparableConv1D, "tf.layers.separable_conv1d.")
separable_conv2d = functional(SeparableConv2D, "tf.layers.separable_conv2d.")

Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution2DTranspose, Convolution3DTranspose = Conv2DTranspose, Conv3DTranspose
Deconvolution2D, Deconvolution3D = Conv2DTranspose, Conv3DTranspose
