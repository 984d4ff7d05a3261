"""tf.keras.models: Model and Sequential, whole-model saving and loading, and models from
their config (graphc/keras/saving.py, graphc/keras/model_config.py)."""

from graphc.keras.model_config import model_from_config  # noqa: F401
from graphc.keras.saving import (  # noqa: F401
    clone_model,
    load_model,
    model_from_json,
    save_model,
)
from graphc.keras.sequential import Sequential  # noqa: F401
from graphc.keras.training import Model  # noqa: F401
