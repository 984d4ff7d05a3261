"""tf.layers: TF 1.15's `tf.compat.v1.layers`, layer classes and their functional forms.

Every layer is a composition of graphc's ops (graphc/ops): no primitive of its own. The
Layer base class (base.py) holds TF1's naming, variable sharing, losses and updates; see
docs/layers.md.
"""

from graphc.layers.base import InputSpec, Layer  # noqa: F401
from graphc.layers.convolutional import (  # noqa: F401
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    Convolution1D,
    Convolution2D,
    Convolution2DTranspose,
    Convolution3D,
    Convolution3DTranspose,
    SeparableConv1D,
    SeparableConv2D,
    conv1d,
    conv2d,
    conv2d_transpose,
    conv3d,
    conv3d_transpose,
    separable_conv1d,
    separable_conv2d,
)
from graphc.layers.core import Dense, Dropout, Flatten, dense, dropout, flatten  # noqa: F401
from graphc.layers.normalization import BatchNormalization, batch_normalization  # noqa: F401
from graphc.layers.pooling import (  # noqa: F401
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    AvgPool1D,
    AvgPool2D,
    AvgPool3D,
    MaxPool1D,
    MaxPool2D,
    MaxPool3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
    average_pooling1d,
    average_pooling2d,
    average_pooling3d,
    max_pooling1d,
    max_pooling2d,
    max_pooling3d,
)
