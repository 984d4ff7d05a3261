"""tf.data: input pipelines run on the host and fed to sessions by iterators (docs/data.md).

Reading and writing TFRecord files and tf.train.Example need the optional extra
graphc[tf-formats] (protobuf, google-crc32c), imported only when used.
"""

import types as _types

from graphc.data import mapping, pipeline, sources, tf_io, transforms  # noqa: F401 (registered)
from graphc.data.dataset import AUTOTUNE, Dataset  # noqa: F401
from graphc.data.iterator import Iterator, make_initializable_iterator, make_one_shot_iterator  # noqa: F401
from graphc.data.structure import TensorSpec, string  # noqa: F401
from graphc.data.tfrecord import TFRecordDataset  # noqa: F401

experimental = _types.SimpleNamespace(AUTOTUNE=AUTOTUNE)
