"""tf.train.Example and tf.io.parse_example / parse_single_example.

The message classes are built at first use with protobuf, from a FileDescriptorProto added
to a private DescriptorPool (package `graphc_example`, so they never clash with a real
TensorFlow's), with the field numbers of TensorFlow's feature.proto and example.proto: the
bytes interoperate with TensorFlow. They need the optional extra graphc[tf-formats].

Parsing: outside a pipeline, `parse_single_example(bytes, features)` returns numpy arrays.
Inside Dataset.map, the serialized element is a HostString (graphc has no string tensors):
parsing it makes a placeholder in the traced graph for each feature and a host decoder
that fills them from each element's bytes (graphc/data/mapping.py). Features of dtype
tf.string are returned as bytes outside a pipeline only.

VarLenFeature: a SparseTensor, as in TF: for one example, indices [[0], [1], ...] and
dense_shape [n]; for a batch, indices [[b, j], ...] and dense_shape [batch, the longest
list]. Outside a pipeline the result is a SparseTensorValue of numpy arrays.
"""

from __future__ import annotations

import threading

import numpy as np

from graphc.data import structure
from graphc.data.tfrecord import need
from graphc.errors import InvalidArgumentError, UnimplementedError
from graphc.framework.sparse_tensor import SparseTensor, SparseTensorValue
from graphc.framework.tensor import TensorShape
from graphc.ir import dtypes

MESSAGE_NAMES = ("BytesList", "FloatList", "Int64List", "Feature", "Features", "FeatureList",
                 "FeatureLists", "Example", "SequenceExample")
_LOCK = threading.Lock()
_CLASSES: dict = {}


def _fields(message, *fields) -> None:
    """Add fields (name, number, type name, label, message type name) to a DescriptorProto."""
    from google.protobuf import descriptor_pb2 as pb
    for name, number, kind, label, type_name in fields:
        field = message.field.add(name=name, number=number,
                                  type=getattr(pb.FieldDescriptorProto, f"TYPE_{kind}"),
                                  label=getattr(pb.FieldDescriptorProto, f"LABEL_{label}"))
        if type_name:
            field.type_name = f".graphc_example.{type_name}"


def _file_proto():
    """feature.proto and example.proto (TensorFlow's field numbers), as one file."""
    pb = need("google.protobuf.descriptor_pb2", "tf.train.Example")
    file = pb.FileDescriptorProto(name="graphc_example/example.proto",
                                  package="graphc_example", syntax="proto3")
    lists = (("BytesList", "BYTES"), ("FloatList", "FLOAT"), ("Int64List", "INT64"))
    for name, kind in lists:
        _fields(file.message_type.add(name=name), ("value", 1, kind, "REPEATED", None))
    feature = file.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    _fields(feature, ("bytes_list", 1, "MESSAGE", "OPTIONAL", "BytesList"),
            ("float_list", 2, "MESSAGE", "OPTIONAL", "FloatList"),
            ("int64_list", 3, "MESSAGE", "OPTIONAL", "Int64List"))
    for field in feature.field:
        field.oneof_index = 0
    for outer, field, value in (("Features", "feature", "Feature"),
                                ("FeatureLists", "feature_list", "FeatureList")):
        message = file.message_type.add(name=outer)
        entry = message.nested_type.add(name=f"{field.title().replace('_', '')}Entry")
        entry.options.map_entry = True
        _fields(entry, ("key", 1, "STRING", "OPTIONAL", None),
                ("value", 2, "MESSAGE", "OPTIONAL", value))
        _fields(message, (field, 1, "MESSAGE", "REPEATED", f"{outer}.{entry.name}"))
    _fields(file.message_type.add(name="FeatureList"),
            ("feature", 1, "MESSAGE", "REPEATED", "Feature"))
    _fields(file.message_type.add(name="Example"),
            ("features", 1, "MESSAGE", "OPTIONAL", "Features"))
    _fields(file.message_type.add(name="SequenceExample"),
            ("context", 1, "MESSAGE", "OPTIONAL", "Features"),
            ("feature_lists", 2, "MESSAGE", "OPTIONAL", "FeatureLists"))
    return file


def message_class(name: str):
    """The protobuf class tf.train.<name>, built on first use."""
    with _LOCK:
        if not _CLASSES:
            pool_module = need("google.protobuf.descriptor_pool", "tf.train.Example")
            factory = need("google.protobuf.message_factory", "tf.train.Example")
            pool = pool_module.DescriptorPool()
            pool.Add(_file_proto())
            for n in MESSAGE_NAMES:
                _CLASSES[n] = factory.GetMessageClass(
                    pool.FindMessageTypeByName(f"graphc_example.{n}"))
    return _CLASSES[name]


def __getattr__(name: str):  # PEP 562: Example etc. are built when first asked for
    if name in MESSAGE_NAMES:
        return message_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def install_message_names(module, prefix: str) -> None:
    """Give `module` (graphc.train) the names tf.train.Example etc., resolved lazily (so
    importing graphc never needs protobuf); other missing names keep the module's own
    __getattr__ (graphc/unsupported.py's message)."""
    fallback = vars(module).get("__getattr__")

    def __getattr__(name: str):
        if name in MESSAGE_NAMES:
            return message_class(name)
        if fallback is not None:
            return fallback(name)
        raise AttributeError(f"module {module.__name__!r} has no attribute {name!r} "
                             f"({prefix}.{name})")
    module.__getattr__ = __getattr__


# --- feature specs ------------------------------------------------------------------------
def _feature_dtype(dtype, what: str):
    if dtype is structure.string or getattr(dtype, "name", dtype) == "string":
        return structure.string
    d = dtypes.as_dtype(dtype)
    if d not in (dtypes.float32, dtypes.int64):
        raise TypeError(f"{what}: Example features hold float32, int64 or string values, "
                        f"found {d!r}")
    return d


class FixedLenFeature:
    """tf.io.FixedLenFeature(shape, dtype, default_value=None): a feature of a fixed shape;
    missing from an example, it takes default_value (an error without one)."""

    def __init__(self, shape, dtype, default_value=None):
        self.shape = tuple(TensorShape(shape).as_list())
        if any(d is None for d in self.shape):
            raise ValueError(f"FixedLenFeature needs a fully known shape, found {shape}")
        self.dtype = _feature_dtype(dtype, "FixedLenFeature")
        self.default_value = None if default_value is None else \
            self._check(_values(default_value, self.dtype), "default_value")

    def _check(self, values: np.ndarray, where: str) -> np.ndarray:
        size = int(np.prod(self.shape))
        if values.size == 1 and size != 1:
            values = np.repeat(values, size)
        if values.size != size:
            raise InvalidArgumentError(f"{where}: expected {size} values for shape "
                                       f"{list(self.shape)}, found {values.size}")
        return values.reshape(self.shape)

    def __repr__(self) -> str:
        return (f"FixedLenFeature(shape={list(self.shape)}, dtype={self.dtype!r}, "
                f"default_value={self.default_value!r})")


class VarLenFeature:
    """tf.io.VarLenFeature(dtype): a feature with any number of values (see the module
    docstring for how graphc returns it)."""

    def __init__(self, dtype):
        self.dtype = _feature_dtype(dtype, "VarLenFeature")

    def __repr__(self) -> str:
        return f"VarLenFeature(dtype={self.dtype!r})"


def _values(value, dtype) -> np.ndarray:
    if dtype is structure.string:
        return structure.to_component(np.asarray(value, dtype=object).ravel(), "bytes")
    return np.asarray(value, dtype=dtype.np).ravel()


_KINDS = {"float32": "float_list", "int64": "int64_list", "string": "bytes_list"}


def decode(serialized: bytes, features: dict) -> dict:
    """{key: numpy value} of one serialized Example (host parsing)."""
    cls = message_class("Example")
    try:
        example = cls.FromString(bytes(serialized))
    except Exception as e:  # noqa: BLE001 (protobuf's DecodeError, from its own module)
        raise InvalidArgumentError(f"Could not parse example input: {e} (value: "
                                   f"{bytes(serialized)[:40]!r}...)") from None
    found = example.features.feature
    out = {}
    for key, spec in features.items():
        kind = _KINDS[spec.dtype.name]
        if key in found:
            feature = found[key]
            have = feature.WhichOneof("kind")
            if have != kind and have is not None:
                raise InvalidArgumentError(f"Feature: {key}: data types don't match; the spec "
                                           f"says {spec.dtype!r}, the example holds a {have}")
            raw = list(getattr(feature, kind).value) if have else []
            values = _values(raw, spec.dtype)
        elif isinstance(spec, VarLenFeature):
            values = _values([], spec.dtype)
        elif spec.default_value is not None:
            out[key] = spec.default_value.copy()
            continue
        else:
            raise InvalidArgumentError(f"Feature: {key} (data type: {spec.dtype}) is required "
                                       "but could not be found.")
        out[key] = _sparse([values]) if isinstance(spec, VarLenFeature) else \
            spec._check(values, f"Feature: {key}")
    return out


def _sparse(lists: list, batched: bool = False, dtype=np.float32) -> SparseTensorValue:
    """The SparseTensorValue of VarLenFeature value lists (one per example), TF's layout:
    entry j of example b at [b, j] (at [j] for one example)."""
    lengths = np.array([len(v) for v in lists], np.int64)
    values = np.concatenate(lists) if lists else np.zeros(0, dtype)
    position = np.arange(len(values), dtype=np.int64) - np.repeat(
        np.cumsum(lengths) - lengths, lengths)
    if not batched:
        return SparseTensorValue(position[:, None], values, np.array([len(values)], np.int64))
    example = np.repeat(np.arange(len(lists), dtype=np.int64), lengths)
    return SparseTensorValue(np.stack([example, position], 1), values,
                             np.array([len(lists), lengths.max(initial=0)], np.int64))


def _check_features(features) -> dict:
    if not isinstance(features, dict) or not all(
            isinstance(v, (FixedLenFeature, VarLenFeature)) for v in features.values()):
        raise TypeError("features must be a dict of tf.io.FixedLenFeature / VarLenFeature, "
                        f"found {features!r:.80}")
    return features


def parse_single_example(serialized, features, name=None, example_names=None):
    """tf.io.parse_single_example: {key: value} of one serialized tf.train.Example."""
    features = _check_features(features)
    if hasattr(serialized, "trace"):  # a HostString inside Dataset.map
        return _traced(serialized, features, batched=False)
    if isinstance(serialized, (bytes, np.bytes_)):
        return decode(serialized, features)
    raise TypeError(f"parse_single_example takes the serialized Example as bytes (or, "
                    f"inside Dataset.map, the dataset's string element); found "
                    f"{type(serialized).__name__}: graphc has no string tensors")


def parse_example(serialized, features, name=None, example_names=None):
    """tf.io.parse_example: a batch of serialized Examples -> {key: batched value}."""
    features = _check_features(features)
    if hasattr(serialized, "trace"):
        return _traced(serialized, features, batched=True)
    items = list(np.asarray(serialized, dtype=object).ravel()) \
        if not isinstance(serialized, bytes) else [serialized]
    parsed = [decode(s, features) for s in items]
    return {key: _stack([p[key] for p in parsed], spec) for key, spec in features.items()}


def _stack(values: list, spec):
    if isinstance(spec, VarLenFeature):
        return _sparse([v.values for v in values], True,
                       object if spec.dtype is structure.string else spec.dtype.np)
    if spec.dtype is structure.string:
        out = np.empty((len(values),) + spec.shape, dtype=object)
        for i, v in enumerate(values):
            out[i] = v
        return out
    return np.stack(values) if values else np.zeros((0,) + spec.shape, spec.dtype.np)


def _traced(host, features: dict, batched: bool) -> dict:
    """Placeholders for the parsed features in `host`'s traced graph (three for a
    VarLenFeature's SparseTensor), and the decoder that fills them from each element's
    bytes."""
    from graphc.ops.array_ops import placeholder
    want = (None,) if batched else ()
    if host.shape.dims is not None and len(host.shape.dims) != len(want):
        what = "parse_example needs a vector" if batched else \
            "parse_single_example needs a scalar"
        raise ValueError(f"{what} of serialized Examples, found a tf.string of shape "
                         f"{host.shape}")
    keys = list(features)
    placeholders, out = [], {}
    with host.trace.graph.as_default():
        for key in keys:
            spec = features[key]
            if spec.dtype is structure.string:
                raise UnimplementedError(
                    f"feature {key!r}: string features cannot be parsed inside a dataset "
                    "function (graphc has no string tensors); parse them outside the "
                    "pipeline with parse_single_example on bytes")
            if isinstance(spec, VarLenFeature):
                rank = len(want) + 1
                parts = [placeholder(dtypes.int64, [None, rank], name=f"parsed_{key}/indices"),
                         placeholder(spec.dtype, [None], name=f"parsed_{key}/values"),
                         placeholder(dtypes.int64, [rank], name=f"parsed_{key}/shape")]
                out[key] = SparseTensor(*parts)
                out[key]._known = want + (None,)
                placeholders += parts
            else:
                out[key] = placeholder(spec.dtype, want + spec.shape, name=f"parsed_{key}")
                placeholders.append(out[key])

    def decode_element(value) -> list:
        if batched:
            parsed = [decode(s, features) for s in np.asarray(value, dtype=object).ravel()]
            found = [_stack([p[k] for p in parsed], features[k]) for k in keys]
        else:
            parsed = decode(value, features)
            found = [parsed[k] for k in keys]
        return [part for v in found
                for part in (v if isinstance(v, SparseTensorValue) else (v,))]
    host.trace.add_decoder(host, decode_element, placeholders)
    return out
