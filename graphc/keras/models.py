"""tf.keras.models: Model and Sequential."""

from graphc.keras.sequential import Sequential  # noqa: F401
from graphc.keras.training import Model  # noqa: F401
