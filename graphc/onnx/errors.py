"""The exceptions of ONNX import. Each names the model's own node and tensor names, so a
failure points at the part of the model to look at, not at graphc's internals."""

from __future__ import annotations


class OnnxImportError(ValueError):
    """A model graphc cannot import: unreadable, inconsistent or beyond what it computes."""


class ModelFileError(OnnxImportError):
    """The file (or bytes) is not a readable ONNX model: truncated, corrupt or missing."""


class UnsupportedModelError(OnnxImportError):
    """Ops, attributes or element types graphc does not support, all of them at once.

    `problems` holds one (node name, op type, reason) per unsupported use, in model order,
    found before any graph is built, so one run of the importer lists everything to fix.
    """

    def __init__(self, problems: list):
        self.problems = list(problems)
        ops = sorted({op for _, op, _ in self.problems})
        lines = [f"  node '{name}' ({op}): {reason}" for name, op, reason in self.problems]
        super().__init__(f"the model uses {len(self.problems)} thing(s) graphc does not "
                         f"support (ops: {', '.join(ops)}):\n" + "\n".join(lines))


class ConstantInputError(OnnxImportError):
    """An input that graphc needs as a value known at import time (a shape, axes, pads, a
    trip count) is computed at run time. `names` are the graph inputs it depends on, which
    `import_model(..., constants={name: value})` can fix to values (the onnx backend and
    `load` do so with the values of each run)."""

    def __init__(self, message: str, names=()):
        self.names = tuple(names)
        super().__init__(message)
