"""TFRecord files: the record framing of TensorFlow, so files interoperate with it.

Each record is
    uint64 length (little endian) | uint32 masked crc32c(length bytes) | data |
    uint32 masked crc32c(data)
with crc32c's masking `((crc >> 15 | crc << 17) + 0xa282ead8) mod 2**32`. A file may be
compressed as a whole (GZIP or ZLIB). A checksum mismatch or a record cut short raises
DataLossError naming the file and the record's byte offset (in the uncompressed stream).
Checksums need google-crc32c, part of the optional extra graphc[tf-formats].
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zlib

import numpy as np

from graphc.data import structure
from graphc.data.dataset import Context, Dataset
from graphc.data.structure import TensorSpec
from graphc.errors import DataLossError

EXTRA = "graphc[tf-formats]"
_MASK_DELTA = 0xA282EAD8


def need(module: str, what: str):
    """Import an optional dependency of graphc[tf-formats], or say how to get it."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{what} needs the optional extra {EXTRA} (pip install "
                          f"'{EXTRA}'): the module {module!r} is not installed") from None


def masked_crc(data: bytes) -> int:
    crc = need("google_crc32c", "TFRecord checksums").value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


class TFRecordCompressionType:
    NONE, ZLIB, GZIP = 0, 1, 2


class TFRecordOptions:
    """tf.io.TFRecordOptions: the compression of a TFRecord file."""

    def __init__(self, compression_type=None):
        self.compression_type = compression_name(compression_type)


def compression_name(value) -> str:
    if isinstance(value, TFRecordOptions):
        return value.compression_type
    names = {None: "", "": "", 0: "", "NONE": "", 1: "ZLIB", "ZLIB": "ZLIB", 2: "GZIP",
             "GZIP": "GZIP"}
    key = value.upper() if isinstance(value, str) else value
    if key not in names:
        raise ValueError(f"compression_type must be None, '', 'GZIP' or 'ZLIB', found "
                         f"{value!r}")
    return names[key]


class _ZlibReader(io.RawIOBase):
    """A readable stream of a zlib-compressed file."""

    def __init__(self, raw):
        self.raw, self.inflate, self.pending = raw, zlib.decompressobj(), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending and not self.inflate.eof:
            chunk = self.raw.read(1 << 16)
            if not chunk:
                raise EOFError("the compressed data ends before its end-of-stream marker")
            self.pending = self.inflate.decompress(chunk)
        n = min(len(buffer), len(self.pending))
        buffer[:n], self.pending = self.pending[:n], self.pending[n:]
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def _open(path: str, mode: str, compression: str):
    if compression == "GZIP":
        return gzip.open(path, mode)
    if compression == "ZLIB":
        raw = open(path, mode)
        return io.BufferedReader(_ZlibReader(raw)) if "r" in mode else _ZlibWriter(raw)
    return open(path, mode)


class _ZlibWriter:
    def __init__(self, raw):
        self.raw, self.deflate = raw, zlib.compressobj()

    def write(self, data: bytes) -> None:
        self.raw.write(self.deflate.compress(data))

    def close(self) -> None:
        self.raw.write(self.deflate.flush())
        self.raw.close()


class TFRecordWriter:
    """tf.io.TFRecordWriter(path, options=None): write records (bytes) to a TFRecord file."""

    def __init__(self, path, options=None):
        self.path = os.fspath(path)
        need("google_crc32c", "TFRecordWriter")
        self._file = _open(self.path, "wb", compression_name(options))

    def write(self, record) -> None:
        if isinstance(record, str):
            record = record.encode()
        if not isinstance(record, (bytes, bytearray, memoryview)):
            raise TypeError(f"TFRecordWriter.write takes bytes (e.g. "
                            f"example.SerializeToString()), found {type(record).__name__}")
        record = bytes(record)
        header = struct.pack("<Q", len(record))
        self._file.write(header + struct.pack("<I", masked_crc(header)) + record
                         + struct.pack("<I", masked_crc(record)))

    def flush(self) -> None:
        flush = getattr(self._file, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "TFRecordWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_exactly(f, n: int, path: str, offset: int, what: str) -> bytes:
    try:
        data = f.read(n)
    except (EOFError, OSError, zlib.error) as e:
        raise DataLossError(f"corrupted or truncated compressed TFRecord file {path}: {e} "
                            f"(reading the {what} of the record at byte offset {offset})") \
            from None
    return data


def read_records(path, compression_type=None):
    """The records of one TFRecord file, as bytes (DataLossError on corruption)."""
    path = os.fspath(path)
    need("google_crc32c", "Reading TFRecord files")
    offset = 0
    with _open(path, "rb", compression_name(compression_type)) as f:
        while True:
            head = _read_exactly(f, 12, path, offset, "header")
            if not head:
                return
            if len(head) < 12:
                raise DataLossError(f"truncated record at byte offset {offset} in {path}: "
                                    f"{len(head)} of the 12 header bytes")
            (length,) = struct.unpack("<Q", head[:8])
            if struct.unpack("<I", head[8:])[0] != masked_crc(head[:8]):
                raise DataLossError(f"corrupted record at byte offset {offset} in {path}: "
                                    "the checksum of its length does not match")
            body = _read_exactly(f, length + 4, path, offset, "data")
            if len(body) < length + 4:
                raise DataLossError(f"truncated record at byte offset {offset} in {path}: "
                                    f"{len(body)} of its {length + 4} data and checksum bytes")
            data = body[:length]
            if struct.unpack("<I", body[length:])[0] != masked_crc(data):
                raise DataLossError(f"corrupted record at byte offset {offset} in {path}: "
                                    "the checksum of its data does not match")
            yield data
            offset += 16 + length


def tf_record_iterator(path, options=None):
    """tf.python_io.tf_record_iterator: the records of a file, as bytes."""
    return read_records(path, compression_name(options))


class TFRecordDataset(Dataset):
    """tf.data.TFRecordDataset(filenames, compression_type): each record of each file in
    turn, as a tf.string element (Python bytes). `filenames` is a name, a list of names, or
    inside interleave/flat_map the string element given to the function."""

    def __init__(self, filenames, compression_type=None, buffer_size=None,
                 num_parallel_reads=None):
        self._compression = compression_name(compression_type)
        if hasattr(filenames, "host_key"):  # a HostString inside a traced function
            self._filenames = filenames
            self._symbols = (filenames,)
        else:
            names = [filenames] if isinstance(filenames, (str, bytes, os.PathLike)) else \
                list(np.asarray(filenames, dtype=object).ravel())
            self._filenames = [_name(n) for n in names]
        self._specs = [TensorSpec((), structure.string)]

    def _iter(self, ctx: Context):
        names = ctx.value(self._filenames)
        names = [names] if isinstance(names, bytes) else list(np.asarray(names).ravel())
        for name in names:
            for record in read_records(_name(name), self._compression):
                yield (record,)


def _name(value) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise TypeError(f"TFRecordDataset: expected file names (str or bytes), found {value!r:.60}")
