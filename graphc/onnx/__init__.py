"""ONNX import and export: run ONNX models with graphc, write graphc graphs as ONNX
(docs/onnx.md). Needs the onnx package (`pip install graphc[onnx]`), imported only when a
function here is first used, so `import graphc` works without it (and does not pay for
loading the converters).

    import_model(path_or_proto) -> ImportedModel: the graph, its input placeholders and
        output tensors, named as in the model
    load(path) -> CompiledModel: a callable on numpy arrays
    backend: an onnx.backend.base.Backend (prepare, run_model, run_node)
    supported_ops() -> the ONNX ops graphc imports
    export(fetches, feeds, path) -> onnx.ModelProto: a graphc graph as an ONNX model
"""

from __future__ import annotations

import importlib

from graphc.onnx.errors import (  # noqa: F401
    ConstantInputError,
    ModelFileError,
    OnnxImportError,
    UnsupportedModelError,
)

# name -> the module that defines it, imported at first use
_LAZY = {"import_model": "importer", "ImportedModel": "importer", "load": "runner",
         "CompiledModel": "runner", "supported_ops": "table", "export": "exporter",
         "OnnxExportError": "exporter"}


def __getattr__(name):
    if name == "backend":  # subclasses onnx's Backend, so it needs onnx when first touched
        from graphc.onnx.model_file import require_onnx
        require_onnx()
        return importlib.import_module("graphc.onnx.backend")
    if name in _LAZY:
        return getattr(importlib.import_module(f"graphc.onnx.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'graphc.onnx' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY) + ["backend"])
