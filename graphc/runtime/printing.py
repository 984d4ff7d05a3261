"""The text of print nodes (tf.Print, tf.print) and the streams it goes to.

A print node's `stream` attribute is data: 'stderr', 'stdout', 'file://path', or
'object:<process>:N', a stream object (a logging function, a file object) kept in
`_STREAMS` when the op was built (`stream_name`). `render` makes the text from the node's
attributes and its inputs' values, formatted as TF's Tensor::SummarizeValue does (v1 for
tf.Print, v2 for tf.print); `write` writes it.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading

import numpy as np

_STREAMS: dict = {}  # 'object:<process>:N' -> a stream object given to tf.print
_STREAM_IDS = itertools.count()
_PROCESS = os.urandom(4).hex()  # so that a graph saved here names no stream of another process
_STREAMS_LOCK = threading.Lock()


def stream_name(stream) -> str:
    """The name standing for a stream object in a print node's attributes."""
    with _STREAMS_LOCK:
        for key, known in _STREAMS.items():
            if known is stream:
                return key
        key = f"object:{_PROCESS}:{next(_STREAM_IDS)}"
        _STREAMS[key] = stream
    return key


def write(stream, text: str) -> None:
    """Write to 'stderr'/'stdout' (the current sys stream, looked up now, as TF writes to
    the process's), 'file://path' (appended), a callable (logging.info) or a file object."""
    if stream in ("stderr", "stdout"):
        out = getattr(sys, stream)
        out.write(text)
        out.flush()
    elif isinstance(stream, str):
        with open(stream[len("file://"):], "a") as f:
            f.write(text)
    elif callable(stream):
        stream(text[:-1] if text.endswith("\n") else text)
    else:
        stream.write(text)


def stream_of(name: str):
    """What write() takes for a print node's stream attribute. A stream object that is
    not in this process (a graph saved with one and loaded elsewhere) is stderr."""
    if name.startswith("object:"):
        return _STREAMS.get(name, "stderr")
    return name


def render(attrs, values) -> str:
    """The text a print node with these attributes writes for these input values."""
    fmt = format_v1 if attrs["style"] == "v1" else format_v2
    limit = attrs["summarize"]
    return "".join(p if isinstance(p, str) else fmt(values[p], limit)
                   for p in attrs["pieces"])


# --- formatting tensor values (TF's Tensor::SummarizeValue) ---------------------------------
def format_element(value) -> str:
    """One element as TF prints it: floats in the shortest of %.6g/%.9g (float32, float16)
    or %.15g/%.17g (float64) that reads back exactly, bools as 1/0, ints in decimal."""
    if isinstance(value, (np.bool_, bool)):
        return "1" if value else "0"
    if isinstance(value, np.floating):
        kind = np.float64 if value.dtype == np.float64 else np.float32
        short, full = (15, 17) if kind is np.float64 else (6, 9)
        text = "%.*g" % (short, value)
        if np.isfinite(value) and kind(text) != kind(value):
            text = "%.*g" % (full, value)
        return text
    return str(value)


def format_v1(value, limit: int) -> str:
    """tf.Print's text of a value: its first `limit` elements (-1: all) in nested brackets
    below the outermost dimension, then '...' if some were left out."""
    a = np.asarray(value)
    flat = a.reshape(-1)
    limit = flat.size if limit < 0 else min(limit, flat.size)
    if a.ndim == 0:
        return format_element(flat[0])
    out, at = [], [0]

    def dim(d: int) -> None:
        if d == a.ndim - 1:
            for i in range(a.shape[d]):
                if at[0] >= limit:
                    if d != 0:
                        out.append("...")
                    return
                out.append((" " if i else "") + format_element(flat[at[0]]))
                at[0] += 1
            return
        for _ in range(a.shape[d]):
            opened = at[0] < limit
            if opened:
                out.append("[")
            dim(d + 1)
            if opened:
                out.append("]")
    dim(0)
    return "".join(out) + ("..." if flat.size > limit else "")


def format_v2(value, limit: int) -> str:
    """tf.print's text of a value: numpy-like nested brackets showing the first and last
    `limit` entries of each dimension (-1: all), '...' between."""
    a = np.asarray(value)
    if a.ndim == 0:
        return format_element(a[()])
    n = max(a.shape) if limit < 0 else limit

    def dim(sub: np.ndarray, d: int) -> str:
        if sub.ndim == 0:
            return format_element(sub[()])
        spacing = " " if sub.ndim == 1 else "\n" * (sub.ndim - 1) + " " * (d + 1)
        count = sub.shape[0]
        head = [dim(sub[i], d + 1) for i in range(min(n, count))]
        tail = [dim(sub[i], d + 1) for i in range(max(n, count - n), count)]
        middle = ["..."] if count > 2 * n else []
        return "[" + spacing.join(head + middle + tail) + "]"
    return dim(a, 0)
