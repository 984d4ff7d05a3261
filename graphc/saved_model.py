"""tf.saved_model: models as directories of data (graphc/saving/saved_model.py).

    graphc.saved_model.save(sess, export_dir, inputs={...}, outputs={...})
    model = graphc.saved_model.load(export_dir); model(x=batch) -> {"probs": ...}

and TF1's spellings: simple_save, loader.load, tag_constants.SERVING,
signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY.
"""

import types as _types

from graphc.saving.saved_model import (  # noqa: F401
    DEFAULT_SIGNATURE,
    SERVING,
    LoadedModel,
    is_saved_model,
    load,
    loader_load,
    save,
    simple_save,
)

loader = _types.SimpleNamespace(load=loader_load, maybe_saved_model_directory=is_saved_model)
tag_constants = _types.SimpleNamespace(SERVING=SERVING, TRAINING="train")
signature_constants = _types.SimpleNamespace(
    DEFAULT_SERVING_SIGNATURE_DEF_KEY=DEFAULT_SIGNATURE, PREDICT_METHOD_NAME=
    "tensorflow/serving/predict")
