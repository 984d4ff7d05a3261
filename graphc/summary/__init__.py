"""tf.summary: summary ops (fetched as serialized Summary protos) and TensorBoard event files.

Needs the optional extra graphc[tensorboard] (docs/summaries.md). The proto classes TF1
code builds by hand (`tf.summary.Summary(value=[tf.summary.Summary.Value(...)])`, Event,
SessionLog, SummaryDescription) come from the tensorboard package when first named.
"""

from graphc.summary.ops import audio, histogram, image, merge, merge_all, scalar, text  # noqa: F401
from graphc.summary.writer import FileWriter, FileWriterCache  # noqa: F401

_PROTO_CLASSES = {"Summary": "summary_pb2", "SummaryDescription": "summary_pb2",
                  "SummaryMetadata": "summary_pb2", "Event": "event_pb2",
                  "SessionLog": "event_pb2", "TaggedRunMetadata": "event_pb2"}


def __getattr__(name):
    module = _PROTO_CLASSES.get(name)
    if module is None:
        raise AttributeError(f"module 'graphc.summary' has no attribute '{name}'")
    from graphc.summary.protos import protos
    return getattr(getattr(protos(f"tf.summary.{name}"), module), name)
