"""What the modalities' file readers share: the optional package that does the work, and
the format a file's extension names."""

from __future__ import annotations

import importlib
from pathlib import Path


def optional(module: str, what: str, install: str, package: str = None):
    """`module` imported, or an ImportError saying what needs it (`package`, by default
    the module's top-level name) and what to install."""
    try:
        importlib.import_module(module.split(".")[0])  # (a submodule may be cached alone)
        return importlib.import_module(module)
    except ImportError as e:
        needed = package or module.split(".")[0]
        raise ImportError(f"{what} needs {needed}: pip install {install}") from e


def format_of(path, formats: dict, kind: str) -> str:
    """The format `path`'s extension names among `formats` ({".ext": name}), or a
    ValueError naming the file and the extensions known."""
    suffix = Path(path).suffix.lower()
    if suffix not in formats:
        raise ValueError(f"{kind} file {str(path)!r}: unknown extension {suffix!r}; expected "
                         f"one of {sorted(formats)}")
    return formats[suffix]
