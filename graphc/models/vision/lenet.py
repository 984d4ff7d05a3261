"""LeNet-5 (LeCun et al., 1998) with ReLU and max pooling, as it is usually trained today.

On 28x28 MNIST-sized inputs the first convolution pads by 2 (the paper's 32x32 inputs)
and the second is 'valid': 28 -> pool 14 -> conv 10 -> pool 5, then 5*5*16 = 400 features.
A smaller input leaves too little for a 'valid' 5x5 convolution, so where the pooled map is
under 10 pixels the second convolution pads too ('same'): 8x8 digits go 8 -> 4 -> 4 -> 2.
"""

from __future__ import annotations

from graphc.keras import layers as K
from graphc.keras.training import Model
from graphc.models.vision.layers import check_classes, check_image_shape
from graphc.models.weights import load_weights


def lenet(input_shape=(28, 28, 1), num_classes=10, weights=None):
    """LeNet-5: conv1 (6 5x5, same), max pool 2, conv2 (16 5x5), max pool 2, fc1 (120),
    fc2 (84), fc3 (num_classes logits); ReLU after each hidden layer. Layer names conv1,
    conv2, fc1, fc2, fc3 match a PyTorch module with those attributes (see
    graphc.models.load_weights). The input needs at least 4x4 pixels."""
    shape = check_image_shape(input_shape, "lenet")
    classes = check_classes(num_classes, "lenet")
    if min(shape[:2]) < 4:
        raise ValueError(f"lenet: input_shape {shape} is too small: two 2x2 max poolings "
                         f"need at least 4x4")
    inputs = K.Input(shape=shape)
    x = K.Conv2D(6, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = K.MaxPooling2D(2, name="pool1")(x)
    padding = "valid" if min(x.shape.dims[1:3]) >= 10 else "same"
    x = K.Conv2D(16, 5, padding=padding, activation="relu", name="conv2")(x)
    x = K.Flatten(name="flatten")(K.MaxPooling2D(2, name="pool2")(x))
    x = K.Dense(120, activation="relu", name="fc1")(x)
    x = K.Dense(84, activation="relu", name="fc2")(x)
    x = K.Dense(classes, name="fc3")(x)
    net = Model(inputs, x, name="lenet")
    if weights is not None:
        load_weights(net, weights)
    return net
