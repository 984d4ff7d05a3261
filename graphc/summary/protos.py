"""TensorBoard's protobuf messages and event writer, imported on first use.

graphc writes summaries in TensorBoard's own formats (the `tensorboard` package's protos and
EventFileWriter), an optional dependency: `pip install 'graphc[tensorboard]'`. Building
summary ops only checks that the package is installed (so a missing extra fails at the
user's line, before any training); the modules themselves are imported when a summary is
first serialized or written.
"""

from __future__ import annotations

import importlib.util
import types

_EXTRA = "needs the optional extra graphc[tensorboard] (pip install 'graphc[tensorboard]')"
_LOADED: list = []  # [namespace] once imported


def require(what: str) -> None:
    """Raise ImportError naming the extra unless the tensorboard package is installed."""
    if not _LOADED and importlib.util.find_spec("tensorboard") is None:
        raise ImportError(f"{what} {_EXTRA}: the 'tensorboard' package is not installed")


def protos(what: str = "writing summaries") -> types.SimpleNamespace:
    """The proto modules (summary_pb2, event_pb2, graph_pb2, node_def_pb2, attr_value_pb2,
    tensor_pb2, tensor_shape_pb2, types_pb2) and EventFileWriter, as one namespace."""
    if _LOADED:
        return _LOADED[0]
    try:
        from tensorboard.compat.proto import (
            attr_value_pb2,
            event_pb2,
            graph_pb2,
            node_def_pb2,
            summary_pb2,
            tensor_pb2,
            tensor_shape_pb2,
            types_pb2,
        )
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as e:
        raise ImportError(f"{what} {_EXTRA}: {e}") from None
    _LOADED.append(types.SimpleNamespace(
        attr_value_pb2=attr_value_pb2, event_pb2=event_pb2, graph_pb2=graph_pb2,
        node_def_pb2=node_def_pb2, summary_pb2=summary_pb2, tensor_pb2=tensor_pb2,
        tensor_shape_pb2=tensor_shape_pb2, types_pb2=types_pb2,
        EventFileWriter=EventFileWriter))
    return _LOADED[0]
