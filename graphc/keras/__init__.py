"""tf.keras (TF 1.15 behaviour, graph mode): layers, Sequential and functional models,
compile/fit/evaluate/predict, losses, metrics, optimizers, callbacks. See docs/keras.md.

The layers are graphc/layers' classes with Keras's arguments (graphc/keras/layers.py);
training runs one Session.run per batch through Keras's session (keras.backend).
"""

from graphc.keras import (  # noqa: F401
    activations,
    backend,
    callbacks,
    constraints,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
)
from graphc.keras.layers import Input  # noqa: F401
from graphc.keras.sequential import Sequential  # noqa: F401
from graphc.keras.training import Model  # noqa: F401
