"""Read TensorFlow 1 checkpoints: the V2 "tensor bundle" a `tf.train.Saver` writes.

A checkpoint at PREFIX is `PREFIX.index`, an SSTable (LevelDB's table format) mapping each
tensor name to a `BundleEntryProto` (dtype, shape, shard, offset, size, crc32c), and the data
files `PREFIX.data-SSSSS-of-NNNNN` holding each tensor's raw little-endian bytes. The entry
under the empty key is the `BundleHeaderProto` (shard count, endianness, version). A
partitioned variable has a full-tensor entry that lists its slices and holds no data; each
slice is stored under a key built from the name and the slice's extents with OrderedCode.

Every checksum TF writes is verified (each index block's and each tensor's masked crc32c), and
every malformed byte becomes a DataLossError naming the file (and the variable). Nothing here
executes code from the files: protobufs are parsed with message classes built at run time in
a private descriptor pool, so they never clash with TensorFlow's own in the default pool.

Needs the optional extra graphc[tf-formats] (protobuf, google-crc32c), imported lazily so that
importing this module works without them.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import struct
import types

import numpy as np

from graphc.errors import DataLossError, NotFoundError, UnimplementedError

MISSING_EXTRA = ("reading TensorFlow checkpoints needs the optional extra graphc[tf-formats] "
                 "(pip install 'graphc[tf-formats]')")

_TABLE_MAGIC = 0xDB4775248B80FB57   # leading 64 bits of sha1("http://code.google.com/p/leveldb/")
_FOOTER_SIZE = 48                    # two block handles padded to 40 bytes, then the magic
_BLOCK_TRAILER_SIZE = 5              # compression type byte + masked crc32c of block + type
_CRC_MASK_DELTA = 0xA282EAD8
_BUNDLE_VERSION = 1                  # the format version this reader implements (TF's too)

# DataType enum (tensorflow/core/framework/types.proto) -> numpy dtype, little-endian. These
# are the dtypes TF stores as plain memory (DataTypeCanUseMemcpy) that numpy represents.
_NUMPY_DTYPES = {
    1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 8: "<c8", 9: "<i8", 10: "?",
    17: "<u2", 18: "<c16", 19: "<f2", 22: "<u4", 23: "<u8",
}
_OTHER_DTYPE_NAMES = {
    0: "DT_INVALID", 7: "DT_STRING", 11: "DT_QINT8", 12: "DT_QUINT8", 13: "DT_QINT32",
    14: "DT_BFLOAT16", 15: "DT_QINT16", 16: "DT_QUINT16", 20: "DT_RESOURCE", 21: "DT_VARIANT",
    24: "DT_FLOAT8_E5M2", 25: "DT_FLOAT8_E4M3FN",
}
# What variable_map reports for a tensor of a dtype get_tensor cannot read.
UNSUPPORTED_DTYPE = np.dtype(object)


def is_tf_checkpoint(prefix: str) -> bool:
    """Whether PREFIX.index exists and ends with the SSTable magic number."""
    try:
        with open(f"{os.fspath(prefix)}.index", "rb") as f:
            if f.seek(0, os.SEEK_END) < _FOOTER_SIZE:
                return False
            f.seek(-8, os.SEEK_END)
            return struct.unpack("<Q", f.read(8))[0] == _TABLE_MAGIC
    except OSError:
        return False


class TFCheckpointReader:
    """The tensors of the TF1 checkpoint at `prefix`, read by name.

    The index is read and checked whole on construction (NotFoundError if PREFIX.index is
    missing, DataLossError if it is corrupt); data files are opened per `get_tensor` call.
    """

    def __init__(self, prefix: str):
        self.prefix = os.fspath(prefix)
        self.index_path = f"{self.prefix}.index"
        if not os.path.isfile(self.index_path):
            raise NotFoundError(f"no TensorFlow checkpoint at prefix {self.prefix!r}: "
                                f"{self.index_path} does not exist")
        crc32c, messages = _dependencies()
        self._crc32c = crc32c
        with open(self.index_path, "rb") as f:
            table = _read_table(f.read(), self.index_path, crc32c)
        if b"" not in table:
            raise DataLossError(f"{self.index_path}: no bundle header (the entry under the "
                                "empty key); not a TensorFlow V2 checkpoint index")
        header = _parse(messages.Header, table.pop(b""), f"{self.index_path}: bundle header")
        self._check_header(header)
        self._entries: dict[str, object] = {}   # full-tensor name -> BundleEntryProto
        self._slices: dict[tuple, object] = {}  # (name, extents) -> BundleEntryProto
        for key, value in table.items():
            if key.startswith(b"\x00"):   # OrderedCode's leading 0: a slice of a tensor
                name, extents = _decode_slice_key(key, self.index_path)
                where = f"{self.index_path}: entry of a slice of {name!r}"
                self._slices[name, extents] = _parse(messages.Entry, value, where)
            else:
                name = _decode_name(key, self.index_path)
                where = f"{self.index_path}: entry of {name!r}"
                self._entries[name] = _parse(messages.Entry, value, where)
        self._shapes = {n: _shape(e, self._where(n)) for n, e in self._entries.items()}

    def _where(self, name: str) -> str:
        return f"variable {name!r} of checkpoint {self.prefix!r}"

    def _check_header(self, header) -> None:
        if header.num_shards < 1:
            raise DataLossError(f"{self.index_path}: bundle header names {header.num_shards} "
                                "data shards; expected at least 1")
        if header.endianness not in (0, 1):
            raise DataLossError(f"{self.index_path}: bundle header has endianness "
                                f"{header.endianness}; expected 0 (little) or 1 (big)")
        version = header.version
        if version.min_consumer > _BUNDLE_VERSION or _BUNDLE_VERSION in version.bad_consumers:
            raise UnimplementedError(
                f"{self.index_path}: the checkpoint's format version (producer "
                f"{version.producer}, min consumer {version.min_consumer}, bad consumers "
                f"{list(version.bad_consumers)}) rules out this reader (version "
                f"{_BUNDLE_VERSION}); it was written by a newer TensorFlow")
        self._num_shards = header.num_shards
        self._byte_order = "<" if header.endianness == 0 else ">"

    def variable_map(self) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
        """name -> (dtype, shape) of every full tensor, sorted by name. A dtype get_tensor
        cannot read (strings, bfloat16, ...) shows as UNSUPPORTED_DTYPE (numpy's object)."""
        return {name: (_numpy_dtype(self._entries[name].dtype), self._shapes[name])
                for name in sorted(self._entries)}

    def has_tensor(self, name: str) -> bool:
        return name in self._entries

    def get_tensor(self, name: str) -> np.ndarray:
        """A fresh array of the named tensor, whole (a partitioned variable's slices are
        assembled), checksums verified."""
        entry = self._entries.get(name)
        if entry is None:
            close = difflib.get_close_matches(name, list(self._entries), n=3)
            hint = f"; close names: {', '.join(map(repr, close))}" if close else ""
            raise NotFoundError(f"tensor {name!r} not found in checkpoint {self.prefix!r}{hint}")
        if entry.slices:
            return self._assemble(name, entry)
        return self._read_data(name, entry, self._shapes[name])

    def _dtype(self, name: str, entry) -> np.dtype:
        dtype = _numpy_dtype(entry.dtype)
        if dtype is UNSUPPORTED_DTYPE:
            dtype_name = _OTHER_DTYPE_NAMES.get(entry.dtype, f"DataType {entry.dtype}")
            raise UnimplementedError(
                f"{self._where(name)} has dtype {dtype_name}; graphc reads only the numeric "
                "and bool dtypes numpy represents (float16/32/64, (u)int8-64, bool, complex)")
        return dtype.newbyteorder(self._byte_order)

    def _locate(self, name: str, entry, shape: tuple[int, ...]) -> tuple[str, np.dtype]:
        """(data file, stored dtype) of the bytes `entry` points at, once checked to be there
        in the size that dtype and `shape` need (so nothing is allocated for a bad size)."""
        dtype = self._dtype(name, entry)
        where = self._where(name)
        expected = dtype.itemsize * math.prod(shape)
        if entry.size != expected:
            raise DataLossError(f"{where}: the index gives {entry.size} bytes of data; "
                                f"expected {expected} for dtype {dtype} and shape {shape}")
        if not 0 <= entry.shard_id < self._num_shards or entry.offset < 0:
            raise DataLossError(f"{where}: the index points at shard {entry.shard_id}, offset "
                                f"{entry.offset}; expected a shard in [0, {self._num_shards})")
        path = f"{self.prefix}.data-{entry.shard_id:05d}-of-{self._num_shards:05d}"
        try:
            file_size = os.stat(path).st_size
        except FileNotFoundError:
            raise NotFoundError(f"{where}: data shard file {path} does not exist") from None
        if entry.offset + entry.size > file_size:
            raise DataLossError(
                f"{where}: {path} is truncated; expected bytes [{entry.offset}, "
                f"{entry.offset + entry.size}) but the file has {file_size}")
        return path, dtype

    def _read_data(self, name: str, entry, shape: tuple[int, ...]) -> np.ndarray:
        """The bytes entry points at, checked (size, crc32c) and viewed as `shape`."""
        path, dtype = self._locate(name, entry, shape)
        with open(path, "rb") as f:
            f.seek(entry.offset)
            raw = f.read(entry.size)
        if len(raw) != entry.size or _mask(self._crc32c.value(raw)) != entry.crc32c:
            raise DataLossError(
                f"{self._where(name)}: checksum mismatch in {path} (bytes [{entry.offset}, "
                f"{entry.offset + entry.size})); the data is corrupt")
        return np.frombuffer(raw, dtype).reshape(shape).astype(dtype.newbyteorder("="))

    def _assemble(self, name: str, entry) -> np.ndarray:
        """The full tensor of a partitioned variable, from the slices its entry lists; every
        slice is located before the full array is allocated."""
        shape, where = self._shapes[name], self._where(name)
        parts = [self._slice_part(name, entry, proto, shape) for proto in entry.slices]
        covered = sum(math.prod(part_shape) for _, _, part_shape in parts)
        if covered < math.prod(shape):
            raise DataLossError(f"{where}: its slices hold {covered} elements; expected at "
                                f"least the {math.prod(shape)} of shape {shape}")
        out = np.empty(shape, self._dtype(name, entry).newbyteorder("="))
        filled = np.zeros(shape, bool)
        for index, stored, part_shape in parts:
            out[index] = self._read_data(name, stored, part_shape)
            filled[index] = True
        if not filled.all():
            raise DataLossError(f"{where}: its slices cover {int(filled.sum())} of "
                                f"{filled.size} elements")
        return out

    def _slice_part(self, name: str, entry, proto, shape: tuple[int, ...]):
        """(index into the full tensor, stored entry, shape) of one slice `entry` lists."""
        where = self._where(name)
        extents = tuple((e.start, e.length) if e.HasField("length") else (0, -1)
                        for e in proto.extent)
        if len(extents) != len(shape):
            raise DataLossError(f"{where}: a slice has {len(extents)} extents; expected "
                                f"one per dimension of shape {shape}")
        index = tuple(slice(0, dim) if length < 0 else slice(start, start + length)
                      for (start, length), dim in zip(extents, shape))
        if any(not 0 <= s.start <= s.stop <= dim for s, dim in zip(index, shape)):
            raise DataLossError(f"{where}: slice {_extents_text(extents)} lies outside "
                                f"shape {shape}")
        stored = self._slices.get((name, extents))
        if stored is None:
            raise DataLossError(f"{where}: the index lists slice {_extents_text(extents)} "
                                "but has no entry for it")
        if stored.dtype != entry.dtype:
            raise DataLossError(f"{where}: slice {_extents_text(extents)} has DataType "
                                f"{stored.dtype}; expected {entry.dtype}, the tensor's")
        part_shape = tuple(s.stop - s.start for s in index)
        self._locate(name, stored, part_shape)
        return index, stored, part_shape


# --- optional dependencies and protobuf messages --------------------------------------------
def _dependencies():
    """(google_crc32c, the message classes); ImportError naming the extra when missing."""
    try:
        import google_crc32c
        from google.protobuf import descriptor_pb2  # noqa: F401 (checked before building)
    except ImportError as e:
        raise ImportError(MISSING_EXTRA) from e
    return google_crc32c, _messages()


@functools.cache
def _messages():
    """BundleHeaderProto and BundleEntryProto classes, built in a private descriptor pool."""
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    pool.Add(_bundle_file_descriptor())

    def make(name):
        descriptor = pool.FindMessageTypeByName(f"graphc_tf_bundle.{name}")
        if hasattr(message_factory, "GetMessageClass"):   # protobuf >= 4.22
            return message_factory.GetMessageClass(descriptor)
        return message_factory.MessageFactory(pool).GetPrototype(descriptor)

    return types.SimpleNamespace(Header=make("BundleHeaderProto"),
                                 Entry=make("BundleEntryProto"))


def _bundle_file_descriptor():
    """The messages of tensor_bundle.proto, tensor_shape.proto, tensor_slice.proto and
    versions.proto that a bundle index holds, wire-compatible, under package
    graphc_tf_bundle. Enum fields (dtype, endianness) are declared int32, which shares the
    varint encoding and keeps values TF may add later readable."""
    from google.protobuf import descriptor_pb2

    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="graphc_tf_bundle.proto", package="graphc_tf_bundle", syntax="proto3")
    repeated = F.LABEL_REPEATED

    def message(name, fields, parent=None):
        """Add a message of fields (number, name, type[, message type name][, label])."""
        msg = (parent.nested_type if parent else file.message_type).add(name=name)
        for number, field, kind, *rest in fields:
            f = msg.field.add(name=field, number=number, type=kind, label=F.LABEL_OPTIONAL)
            for item in rest:
                if isinstance(item, str):
                    f.type_name = f".graphc_tf_bundle.{item}"
                else:
                    f.label = item
        return msg

    message("VersionDef", [(1, "producer", F.TYPE_INT32), (2, "min_consumer", F.TYPE_INT32),
                           (3, "bad_consumers", F.TYPE_INT32, repeated)])
    shape = message("TensorShapeProto", [
        (2, "dim", F.TYPE_MESSAGE, "TensorShapeProto.Dim", repeated),
        (3, "unknown_rank", F.TYPE_BOOL)])
    message("Dim", [(1, "size", F.TYPE_INT64), (2, "name", F.TYPE_STRING)], parent=shape)
    tensor_slice = message("TensorSliceProto", [
        (1, "extent", F.TYPE_MESSAGE, "TensorSliceProto.Extent", repeated)])
    extent = message("Extent", [(1, "start", F.TYPE_INT64), (2, "length", F.TYPE_INT64)],
                     parent=tensor_slice)
    # An absent length means "the whole dimension": TF puts it in a oneof so presence shows.
    extent.oneof_decl.add(name="has_length")
    extent.field[1].oneof_index = 0
    message("BundleHeaderProto", [
        (1, "num_shards", F.TYPE_INT32), (2, "endianness", F.TYPE_INT32),
        (3, "version", F.TYPE_MESSAGE, "VersionDef")])
    message("BundleEntryProto", [
        (1, "dtype", F.TYPE_INT32), (2, "shape", F.TYPE_MESSAGE, "TensorShapeProto"),
        (3, "shard_id", F.TYPE_INT32), (4, "offset", F.TYPE_INT64), (5, "size", F.TYPE_INT64),
        (6, "crc32c", F.TYPE_FIXED32),
        (7, "slices", F.TYPE_MESSAGE, "TensorSliceProto", repeated)])

    return file


def _parse(cls, data: bytes, where: str):
    from google.protobuf.message import DecodeError

    msg = cls()
    try:
        msg.ParseFromString(data)
    except DecodeError as e:
        raise DataLossError(f"{where}: cannot be parsed as {cls.DESCRIPTOR.name} ({e})") from None
    return msg


def _shape(entry, where: str) -> tuple[int, ...]:
    if entry.shape.unknown_rank or any(d.size < 0 for d in entry.shape.dim):
        raise DataLossError(f"{where}: the index gives an invalid shape "
                            f"{[d.size for d in entry.shape.dim]} (unknown rank: "
                            f"{entry.shape.unknown_rank}); expected known sizes >= 0")
    return tuple(d.size for d in entry.shape.dim)


def _extents_text(extents) -> str:
    """TF's slice notation: start,length per dimension, '-' for a whole one ("0,4:-")."""
    return ":".join("-" if length < 0 else f"{start},{length}" for start, length in extents)


def _numpy_dtype(data_type: int) -> np.dtype:
    code = _NUMPY_DTYPES.get(data_type)
    return UNSUPPORTED_DTYPE if code is None else np.dtype(code)


def _mask(crc: int) -> int:
    """LevelDB's masked crc32c: rotate right 15 bits, add a constant. (A crc stored beside
    the data it covers would otherwise be easy to confuse with crcs of that data.)"""
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


# --- the SSTable --------------------------------------------------------------------------
def _varint(buf: bytes, pos: int, where: str) -> tuple[int, int]:
    """(value, position after it) of the base-128 varint at `pos`."""
    value = shift = 0
    while pos < len(buf) and shift <= 63:
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7
    raise DataLossError(f"{where}: malformed varint")


def _read_table(data: bytes, path: str, crc32c) -> dict[bytes, bytes]:
    """Every key -> value of an SSTable file's contents, block checksums verified."""
    if len(data) < _FOOTER_SIZE:
        raise DataLossError(f"{path}: the file is {len(data)} bytes, shorter than the "
                            f"{_FOOTER_SIZE}-byte SSTable footer; it is truncated")
    footer = data[-_FOOTER_SIZE:]
    if struct.unpack("<Q", footer[-8:])[0] != _TABLE_MAGIC:
        raise DataLossError(f"{path}: no SSTable magic number at the end; the file is "
                            "truncated or not a TensorFlow checkpoint index")
    where = f"{path}: footer"
    offset, pos = _varint(footer, 0, where)
    size, pos = _varint(footer, pos, where)
    # TF's metaindex block is empty (no filters); it is read only to verify its checksum.
    _read_block(data, offset, size, path, crc32c, "metaindex block")
    offset, pos = _varint(footer, pos, where)
    size, _ = _varint(footer, pos, where)
    table = {}
    for _, handle in _read_block(data, offset, size, path, crc32c, "index block"):
        offset, pos = _varint(handle, 0, f"{path}: index block")
        size, _ = _varint(handle, pos, f"{path}: index block")
        table.update(_read_block(data, offset, size, path, crc32c, f"data block at {offset}"))
    return table


def _read_block(data: bytes, offset: int, size: int, path: str, crc32c, what: str):
    """The (key, value) entries of the block at data[offset:offset + size].

    A block is prefix-compressed entries (varints shared, non_shared, value_length, then the
    key's new suffix and the value), then a uint32 array of restart offsets and its length;
    after the block come its compression type byte and the masked crc32c of block + type."""
    where = f"{path}: {what}"
    end = offset + size + _BLOCK_TRAILER_SIZE
    if offset < 0 or end > len(data) - _FOOTER_SIZE:
        raise DataLossError(f"{where}: bytes [{offset}, {end}) lie outside the file's "
                            f"{len(data) - _FOOTER_SIZE} bytes of blocks")
    block, kind = data[offset:offset + size], data[offset + size]
    stored_crc = struct.unpack("<I", data[end - 4:end])[0]
    if _mask(crc32c.value(data[offset:offset + size + 1])) != stored_crc:
        raise DataLossError(f"{where}: block checksum mismatch; the index is corrupt")
    if kind != 0:
        raise DataLossError(f"{where}: compression type {kind} (1 is snappy); TensorFlow "
                            "writes checkpoint indexes uncompressed (0), and graphc reads "
                            "only those")
    if size < 4:
        raise DataLossError(f"{where}: {size} bytes, too short to hold its restart count")
    num_restarts = struct.unpack("<I", block[-4:])[0]
    limit = size - 4 * (num_restarts + 1)
    if limit < 0:
        raise DataLossError(f"{where}: {num_restarts} restart points do not fit in its "
                            f"{size} bytes")
    entries, key, pos = [], b"", 0
    while pos < limit:
        shared, pos = _varint(block, pos, where)
        non_shared, pos = _varint(block, pos, where)
        value_length, pos = _varint(block, pos, where)
        if shared > len(key) or pos + non_shared + value_length > limit:
            raise DataLossError(f"{where}: bad entry at byte {pos}")
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos:pos + value_length]))
        pos += value_length
    return entries


# --- OrderedCode, as EncodeTensorNameSlice uses it ------------------------------------------
def _decode_name(key: bytes, path: str) -> str:
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        raise DataLossError(f"{path}: tensor name {key!r} is not UTF-8") from None


def _decode_slice_key(key: bytes, path: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """(name, ((start, length), ...)) of a slice key: OrderedCode's NumIncreasing(0), the
    name as String, NumIncreasing(rank), then SignedNumIncreasing start and length per
    dimension. A negative length means the whole dimension, normalized to (0, -1)."""
    where = f"{path}: slice key {key!r}"
    zero, pos = _read_num_increasing(key, 0, where)
    name, pos = _read_ordered_string(key, pos, where)
    rank, pos = _read_num_increasing(key, pos, where)
    if zero != 0 or rank == 0:
        raise DataLossError(f"{where}: expected leading 0 and a rank > 0; found {zero} and "
                            f"{rank}")
    extents = []
    for _ in range(rank):
        start, pos = _read_signed_num(key, pos, where)
        length, pos = _read_signed_num(key, pos, where)
        extents.append((start, length) if length >= 0 else (0, -1))
    if pos != len(key):
        raise DataLossError(f"{where}: {len(key) - pos} bytes left after the last extent")
    return _decode_name(name, path), tuple(extents)


def _read_num_increasing(buf: bytes, pos: int, where: str) -> tuple[int, int]:
    """A length byte, then that many big-endian bytes."""
    if pos >= len(buf) or buf[pos] > 8 or pos + 1 + buf[pos] > len(buf):
        raise DataLossError(f"{where}: malformed number at byte {pos}")
    n = buf[pos]
    return int.from_bytes(buf[pos + 1:pos + 1 + n], "big"), pos + 1 + n


def _read_ordered_string(buf: bytes, pos: int, where: str) -> tuple[bytes, int]:
    """Bytes up to the terminator 00 01; 00 ff stands for 00 and ff 00 for ff."""
    out = bytearray()
    while pos + 1 < len(buf):
        byte, nxt = buf[pos], buf[pos + 1]
        if byte == 0x00 and nxt == 0x01:
            return bytes(out), pos + 2
        if byte in (0x00, 0xFF):
            if (byte, nxt) not in ((0x00, 0xFF), (0xFF, 0x00)):
                break
            out.append(byte)
            pos += 2
        else:
            out.append(byte)
            pos += 1
    raise DataLossError(f"{where}: malformed string at byte {pos}")


def _read_signed_num(buf: bytes, pos: int, where: str) -> tuple[int, int]:
    """An n-byte (1 <= n <= 10) big-endian two's complement number whose top n bits are
    flipped: they then read as n copies of the sign bit (1 for >= 0) before the value's own
    sign bit, so the run of equal leading bits gives the length."""
    head = int.from_bytes(buf[pos:pos + 2].ljust(2, b"\x00"), "big")
    sign = head >> 15
    n = 1
    while n < 10 and (head >> (15 - n)) & 1 == sign:
        n += 1
    if n == 10 or pos + n > len(buf):
        raise DataLossError(f"{where}: malformed signed number at byte {pos}")
    bits = 8 * n
    raw = int.from_bytes(buf[pos:pos + n], "big") ^ (((1 << n) - 1) << (bits - n))
    return (raw - (1 << bits) if raw >> (bits - 1) else raw), pos + n
