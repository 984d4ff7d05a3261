"""tf.summary ops: scalar, histogram, image, audio, text, merge, merge_all.

A summary op is a HostFetch (graphc/runtime/host.py), not a graph node: Session.run computes
its input tensors with the other fetches, in the same run, and the op's `host_finish` turns
their values into a serialized `Summary` protobuf (bytes), what TF1's summary kernels
return, so `writer.add_summary(sess.run(merged, feed), step)` works unchanged. Tags follow
TF1: the op's unique name scope ('loss', 'loss_1', 'train/loss'), prefixed by `family`.
"""

from __future__ import annotations

import re
import weakref

import numpy as np

from graphc.errors import InvalidArgumentError, user_location
from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.ops.tensor import convert_to_tensor, graph_of
from graphc.ops.variables import GraphKeys
from graphc.runtime.host import HostFetch
from graphc.summary import encode
from graphc.summary.protos import protos, require

_INVALID_TAG_CHARACTERS = re.compile(r"[^-/\w.]")
# graph -> its summary ops in creation order (for the GraphDef written by add_graph)
SUMMARY_OPS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class SummaryOperation:
    """What `summary.op` gives: the op's name, type and inputs, as TF1 code reads them."""

    def __init__(self, fetch: "SummaryFetch"):
        self._fetch = fetch

    name = property(lambda self: self._fetch.op_name)
    type = property(lambda self: self._fetch.op_type)
    graph = property(lambda self: self._fetch.graph)
    inputs = property(lambda self: list(self._fetch.host_inputs()))
    outputs = property(lambda self: [self._fetch])

    def __repr__(self) -> str:
        return f"<tf.Operation '{self.name}' type={self.type}>"


class SummaryFetch(HostFetch):
    """A summary op: fetched, it gives one serialized Summary (bytes). Subclasses say how
    the values of `tensors` become Summary.Values (`values`)."""

    op_type = "Summary"

    def __init__(self, graph, op_name: str, tag: str, tensors: list):
        self.graph, self.op_name, self.tag = graph, op_name, tag
        self.tensors = tensors
        self.location = user_location()
        SUMMARY_OPS.setdefault(graph, []).append(self)

    name = property(lambda self: f"{self.op_name}:0")
    op = property(lambda self: SummaryOperation(self))

    def host_inputs(self) -> list:
        return self.tensors

    def host_finish(self, session, values: list) -> bytes:
        pb = protos()
        return pb.summary_pb2.Summary(value=self.values(values)).SerializeToString()

    def values(self, arrays: list) -> list:
        raise NotImplementedError

    def where(self) -> str:
        return f"summary op '{self.op_name}' ({self.op_type} created at {self.location})"

    def __repr__(self) -> str:
        return f"<tf.Tensor '{self.name}' shape=() dtype=string ({self.op_type})>"


class ScalarSummary(SummaryFetch):
    op_type = "ScalarSummary"

    def values(self, arrays):
        pb = protos()
        return [pb.summary_pb2.Summary.Value(tag=self.tag, simple_value=float(arrays[0]))]


class HistogramSummary(SummaryFetch):
    op_type = "HistogramSummary"

    def values(self, arrays):
        data = np.asarray(arrays[0])
        if not np.isfinite(data).all():  # TF's words, for NaN and Inf alike
            raise InvalidArgumentError(f"Nan in summary histogram for: {self.tag} "
                                       f"({self.where()})")
        return [encode.histogram_value(self.tag, data)]


class ImageSummary(SummaryFetch):
    op_type = "ImageSummary"

    def __init__(self, graph, op_name, tag, tensors, max_outputs: int):
        super().__init__(graph, op_name, tag, tensors)
        self.max_outputs = max_outputs

    def values(self, arrays):
        batch = np.asarray(arrays[0])
        if batch.ndim != 4 or batch.shape[3] not in (1, 3, 4):
            raise InvalidArgumentError(f"images must be 4-D [batch, height, width, channels] "
                                       f"with 1, 3 or 4 channels, got shape {batch.shape} "
                                       f"({self.where()})")
        return encode.image_values(self.tag, batch, self.max_outputs)


class AudioSummary(SummaryFetch):
    op_type = "AudioSummaryV2"

    def __init__(self, graph, op_name, tag, tensors, sample_rate, max_outputs: int):
        super().__init__(graph, op_name, tag, tensors)
        self.sample_rate, self.max_outputs = sample_rate, max_outputs

    def values(self, arrays):
        rate = arrays[1] if self.sample_rate is None else self.sample_rate
        return encode.audio_values(self.tag, np.asarray(arrays[0]), rate, self.max_outputs)


class TextSummary(SummaryFetch):
    op_type = "TensorSummaryV2"

    def __init__(self, graph, op_name, tag, tensors, strings: np.ndarray):
        super().__init__(graph, op_name, tag, tensors)
        self.strings = strings

    def values(self, arrays):
        return [encode.text_value(self.tag, self.strings)]


class MergeSummary(SummaryFetch):
    """The union of other summaries' values; TF's InvalidArgumentError for a tag twice."""

    op_type = "MergeSummary"

    def __init__(self, graph, op_name, parts: list):
        super().__init__(graph, op_name, "", [t for p in parts for t in p.host_inputs()])
        self.parts = parts

    def values(self, arrays):
        out, at, seen = [], 0, set()
        for part in self.parts:
            n = len(part.host_inputs())
            for value in part.values(arrays[at:at + n]):
                if value.tag in seen:
                    raise InvalidArgumentError(f"Duplicate tag {value.tag} found in summary "
                                               f"inputs ({self.where()})")
                seen.add(value.tag)
                out.append(value)
            at += n
        return out


# --- building -------------------------------------------------------------------------------
def clean_tag(name):
    """`name` with characters TensorBoard tags cannot hold replaced by '_', no leading '/'."""
    return None if name is None else _INVALID_TAG_CHARACTERS.sub("_", name).lstrip("/")


def _build(kind, name, family, collections, tensors, *extra, what: str):
    """Name the op as TF1's summary_scope does, make it, and add it to its collections."""
    require(what)
    graph = graph_of(tensors)  # the default graph when there are no tensors
    name, family = clean_tag(name), clean_tag(family)
    with graph.name_scope(name if family is None else f"{family}/{name}") as scope:
        op_name = scope.rstrip("/")
    tag = op_name if family is None else f"{family}/{op_name}"
    fetch = kind(graph, op_name, tag, tensors, *extra)
    for key in [GraphKeys.SUMMARIES] if collections is None else collections:
        graph.add_to_collection(key, fetch)
    return fetch


def _numeric(value, what: str, allow_bool: bool = False):
    tensor = convert_to_tensor(value)
    if tensor.dtype is dtypes.bool_ and not allow_bool:
        raise TypeError(f"{what} needs a numeric tensor, got bool tensor '{tensor.name}' "
                        f"(at {user_location()})")
    return tensor


def scalar(name, tensor, collections=None, family=None):
    """A summary of one number: a Summary.Value with simple_value (a float)."""
    tensor = _numeric(tensor, "tf.summary.scalar")
    if tensor.node.shape is not None and tensor.node.shape != ():
        raise ValueError(f"tf.summary.scalar('{name}') needs a scalar tensor (shape ()), "
                         f"got '{tensor.name}' of shape {tensor.shape} (at {user_location()})")
    return _build(ScalarSummary, name, family, collections, [tensor],
                  what="tf.summary.scalar")


def histogram(name, values, collections=None, family=None):
    """A histogram of every element of `values`, in TF's default buckets."""
    values = _numeric(values, "tf.summary.histogram")
    return _build(HistogramSummary, name, family, collections, [values],
                  what="tf.summary.histogram")


def image(name, tensor, max_outputs=3, collections=None, family=None):
    """PNG images from a [batch, height, width, channels] tensor (1, 3 or 4 channels):
    floats are scaled per image as TF does; uint8 is taken as it is, and other integers are
    clipped to [0, 255]."""
    tensor = _numeric(tensor, "tf.summary.image")
    shape = tensor.node.shape
    if shape is not None and (len(shape) != 4 or shape[3] not in (1, 3, 4, None)):
        raise ValueError(f"tf.summary.image('{name}') needs a 4-D tensor [batch, height, "
                         f"width, channels] with 1, 3 or 4 channels, got '{tensor.name}' of "
                         f"shape {tensor.shape} (at {user_location()})")
    return _build(ImageSummary, name, family, collections, [tensor], int(max_outputs),
                  what="tf.summary.image")


def audio(name, tensor, sample_rate, max_outputs=3, collections=None, family=None):
    """16-bit WAV clips from float samples in [-1, 1], [batch, frames(, channels)]."""
    tensor = _numeric(tensor, "tf.summary.audio")
    if tensor.node.shape is not None and len(tensor.node.shape) not in (2, 3):
        raise ValueError(f"tf.summary.audio('{name}') needs a [batch, frames] or [batch, "
                         f"frames, channels] tensor, got '{tensor.name}' of shape "
                         f"{tensor.shape} (at {user_location()})")
    tensors, rate = [tensor], sample_rate
    if hasattr(sample_rate, "graph") or hasattr(sample_rate, "_as_graph_tensor"):
        tensors, rate = [tensor, convert_to_tensor(sample_rate)], None
    return _build(AudioSummary, name, family, collections, tensors, rate, int(max_outputs),
                  what="tf.summary.audio")


def text(name, tensor, collections=None):
    """Text for TensorBoard's text plugin. graphc has no string dtype: `tensor` is a Python
    str or bytes, or a (nested) list of them, fixed when the graph is built."""
    if hasattr(tensor, "graph") or hasattr(tensor, "_as_graph_tensor"):
        raise TypeError(f"tf.summary.text('{name}') needs strings, and graphc has no string "
                        f"tensors: pass a Python str, bytes or list of str, not "
                        f"{tensor!r} (at {user_location()})")
    strings = np.array(tensor, dtype=object)
    if not all(isinstance(s, (str, bytes)) for s in strings.reshape(-1)):
        raise TypeError(f"tf.summary.text('{name}') needs a str, bytes or a list of them, "
                        f"got {tensor!r} (at {user_location()})")
    return _build(TextSummary, name, None, collections, [], strings, what="tf.summary.text")


def merge(inputs, collections=None, name=None):
    """One summary holding the values of all `inputs` (summary ops); a tag seen twice fails
    the run with InvalidArgumentError, as TF's MergeSummary."""
    parts = list(inputs)
    bad = [p for p in parts if not isinstance(p, SummaryFetch)]
    if bad:
        raise TypeError(f"tf.summary.merge takes summary ops (tf.summary.scalar, ...), got "
                        f"{bad[0]!r} (at {user_location()})")
    graph = graph_of(parts)
    with graph.name_scope(name or "Merge"):  # TF1: 'Merge/MergeSummary', 'm/m' if named
        op_name = graph.unique_name(name or "MergeSummary")
    fetch = MergeSummary(graph, op_name, parts)
    for key in collections or []:
        graph.add_to_collection(key, fetch)
    return fetch


def merge_all(key=GraphKeys.SUMMARIES, scope=None, name=None):
    """merge() of the summaries in collection `key` (whose names start with `scope`), or
    None when there are none."""
    found = get_default_graph().get_collection(key, scope)
    return merge(found, name=name) if found else None
