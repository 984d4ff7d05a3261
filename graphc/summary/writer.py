"""tf.summary.FileWriter and FileWriterCache: TensorBoard event files.

Records are written by TensorBoard's own EventFileWriter (a background thread, a queue of
`max_queue` events, a flush every `flush_secs`), so the files are what TensorBoard reads.
As TF1, a writer ignores events added after close() until reopen().
"""

from __future__ import annotations

import threading
import time

from graphc.framework.graph import Graph, get_default_graph
from graphc.summary.graph_def import to_graph_def
from graphc.summary.protos import protos


class FileWriter:
    """Writes Summary protos and graphs to an event file in `logdir` (created if needed)."""

    def __init__(self, logdir, graph=None, max_queue=10, flush_secs=120, filename_suffix=None,
                 graph_def=None):
        self._pb = protos("tf.summary.FileWriter")
        self._logdir = str(logdir)
        self._options = (int(max_queue), flush_secs, filename_suffix or "")
        self._writer = self._pb.EventFileWriter(self._logdir, *self._options)
        self._closed = False
        self._seen_tags: set = set()  # tags whose plugin metadata was already written
        if graph is not None or graph_def is not None:
            self.add_graph(graph, graph_def=graph_def)

    def get_logdir(self) -> str:
        return self._logdir

    def add_event(self, event) -> None:
        """Write an Event proto (ignored once the writer is closed, as TF1)."""
        if not self._closed:
            self._writer.add_event(event)

    def _event(self, global_step=None, **fields):
        event = self._pb.event_pb2.Event(wall_time=time.time(), **fields)
        if global_step is not None:
            event.step = int(global_step)
        return event

    def add_summary(self, summary, global_step=None) -> None:
        """Write a Summary: the bytes a summary op gives (sess.run(merged)) or a proto.
        A tag's plugin metadata is written with its first value only, as TF1 does."""
        Summary = self._pb.summary_pb2.Summary  # noqa: N806 - a proto class
        if isinstance(summary, (bytes, bytearray)):
            summary = Summary.FromString(bytes(summary))
        elif not isinstance(summary, Summary):
            if not hasattr(summary, "SerializeToString"):
                raise TypeError(f"add_summary takes a Summary proto or its serialized bytes "
                                f"(what sess.run(summary_op) gives), got {type(summary)}")
            summary = Summary.FromString(summary.SerializeToString())
        stripped = Summary()
        stripped.CopyFrom(summary)
        for value in stripped.value:
            if value.HasField("metadata"):
                if value.tag in self._seen_tags:
                    value.ClearField("metadata")
                self._seen_tags.add(value.tag)
        self.add_event(self._event(global_step, summary=stripped))

    def add_graph(self, graph, global_step=None, graph_def=None) -> None:
        """Write a graph (a graphc Graph, e.g. sess.graph, or a GraphDef proto) for
        TensorBoard's graph view."""
        if graph is not None and graph_def is not None:
            raise ValueError("add_graph takes a graph or a graph_def, not both")
        graph = graph if graph is not None else graph_def
        if isinstance(graph, Graph):
            graph = to_graph_def(graph)
        if not hasattr(graph, "SerializeToString"):
            raise TypeError(f"add_graph takes a tf.Graph (such as sess.graph) or a GraphDef "
                            f"proto, got {type(graph)}")
        self.add_event(self._event(global_step, graph_def=graph.SerializeToString()))

    def add_session_log(self, session_log, global_step=None) -> None:
        self.add_event(self._event(global_step, session_log=session_log))

    def flush(self) -> None:
        if not self._closed:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file; later events are ignored until reopen()."""
        if not self._closed:
            self._writer.close()
            self._closed = True

    def reopen(self) -> None:
        """After close(): write to a new event file in the same logdir."""
        if self._closed:
            self._writer = self._pb.EventFileWriter(self._logdir, *self._options)
            self._closed = False

    def __enter__(self) -> "FileWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FileWriterCache:
    """One FileWriter per logdir, shared by whoever asks (TF1's FileWriterCache)."""

    _cache: dict = {}
    _lock = threading.Lock()

    @staticmethod
    def get(logdir) -> FileWriter:
        """The writer of `logdir`, created (with the default graph) on first use."""
        with FileWriterCache._lock:
            writer = FileWriterCache._cache.get(str(logdir))
            if writer is None:
                writer = FileWriterCache._cache[str(logdir)] = FileWriter(
                    logdir, graph=get_default_graph())
            return writer

    @staticmethod
    def clear() -> None:
        """Close and forget every cached writer."""
        with FileWriterCache._lock:
            for writer in FileWriterCache._cache.values():
                writer.close()
            FileWriterCache._cache.clear()
