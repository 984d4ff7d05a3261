"""Ahead-of-time compilation: graphs become shared libraries with a C header (export), and
artifacts load back into Python (load). See docs/aot.md."""

from graphc.aot.export import Artifact, ExportError, export
from graphc.aot.link import ToolchainError
from graphc.aot.load import ArtifactError, Model, load

__all__ = ["Artifact", "ArtifactError", "ExportError", "Model", "ToolchainError", "export", "load"]
