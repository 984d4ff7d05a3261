"""The tf.io names graphc/data provides (TFRecord files and Example parsing), and
tf.python_io, TF1's older home of the TFRecord ones. graphc/__init__.py exposes this
module as `tf.io`."""

import types as _types

from graphc import gfile  # noqa: F401  (tf.io.gfile)
from graphc.data.example import FixedLenFeature, VarLenFeature, parse_example, parse_single_example  # noqa: F401
from graphc.data.tfrecord import (  # noqa: F401
    TFRecordCompressionType,
    TFRecordOptions,
    TFRecordWriter,
    tf_record_iterator,
)

python_io = _types.SimpleNamespace(TFRecordWriter=TFRecordWriter, TFRecordOptions=TFRecordOptions,
                                   TFRecordCompressionType=TFRecordCompressionType,
                                   tf_record_iterator=tf_record_iterator)
