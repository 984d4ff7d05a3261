"""graphc's checkpoint file: one safetensors file, `PREFIX.safetensors`, holding every saved
variable under its TF1 name (`dense/kernel`), with a hash (XXH3-64) of each tensor's bytes
in the file's metadata.

    write_tensors(path, arrays)   atomic: a temporary file beside `path`, flushed and
                                  fsync'ed, then renamed over it (and the directory synced),
                                  so a crash leaves the old file or the new one, never half
    TensorFile(path)              reads the header once; get(name) reads one tensor's bytes
                                  (a read, not a mapping) and checks its hash

A truncated or corrupted file is a DataLossError naming the file (and the variable, when one
tensor's bytes are wrong). safetensors is data only: reading never executes code.
"""

from __future__ import annotations

import difflib
import json
import os
import struct
import tempfile
import zlib

import numpy as np

from graphc.errors import DataLossError, NotFoundError
from graphc.progress import Quiet, progress

SUFFIX = ".safetensors"
FORMAT = "graphc-checkpoint-1"  # metadata "format": what wrote the file
# metadata key prefix: "xxh3_64:<name>" -> the XXH3-64 hash of the tensor's bytes (16 hex
# digits; about 16 GB/s, where zlib's CRC-32 runs at 2.3); "crc32:<name>" (decimal CRC-32)
# is read too
_SUM_KEY, _CRC_KEY = "xxh3_64:", "crc32:"
_BAR_BYTES = 256 << 20  # files this large show progress on a terminal
_QUIET = Quiet()


def checkpoint_file(prefix: str) -> str:
    return prefix + SUFFIX


def write_tensors(path: str, arrays: dict, extra: dict | None = None) -> None:
    """Write `arrays` (name -> numpy array) to the safetensors file `path` atomically (a
    progress bar on a terminal for large files)."""
    arrays = {name: np.require(np.asarray(a), requirements="C") for name, a in arrays.items()}
    metadata = {"format": FORMAT, **(extra or {})}
    total = sum(a.nbytes for a in arrays.values())
    bar = progress(2 * total, f"writing {os.path.basename(path)}") if total >= _BAR_BYTES \
        else _QUIET
    with bar:
        for name, a in arrays.items():
            metadata[_SUM_KEY + name] = _digest(memoryview(a).cast("B") if a.nbytes else b"")
            bar.update(a.nbytes)
        _write_file(path, arrays, metadata)
        bar.update(total)


def _write_file(path: str, arrays: dict, metadata: dict) -> None:
    from safetensors.numpy import save_file
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    os.close(fd)
    try:
        save_file(arrays, tmp, metadata=metadata)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _sync_directory(directory)


def _sync_directory(directory: str) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class TensorFile:
    """The tensors of one graphc checkpoint file, read on demand."""

    def __init__(self, path: str):
        self.path = path
        if not os.path.isfile(path):
            raise NotFoundError(f"checkpoint file {path} does not exist")
        self._header, self._data_start = _read_header(path)
        self.metadata = self._header.pop("__metadata__", None) or {}

    def names(self) -> list:
        return sorted(self._header)

    def dtype(self, name: str) -> np.dtype:
        return _DTYPES[self._entry(name)["dtype"]]

    def shape(self, name: str) -> tuple:
        return tuple(self._entry(name)["shape"])

    def has(self, name: str) -> bool:
        return name in self._header

    def get(self, name: str) -> np.ndarray:
        """A fresh array of tensor `name`, its hash checked."""
        entry = self._entry(name)
        begin, end = entry["data_offsets"]
        raw = self._read(self._data_start + begin, end - begin)
        if not self._intact(name, raw):
            raise DataLossError(f"checkpoint file {self.path} is corrupted: the bytes of "
                                f"variable '{name}' fail their checksum")
        dtype = _DTYPES[entry["dtype"]]
        return np.frombuffer(raw, dtype).reshape(entry["shape"]).copy()

    def _intact(self, name: str, raw) -> bool:
        want = self.metadata.get(_SUM_KEY + name)
        if want is not None:
            return _digest(raw) == want
        want = self.metadata.get(_CRC_KEY + name)
        return want is None or str(zlib.crc32(raw) if len(raw) else 0) == want

    def _entry(self, name: str) -> dict:
        entry = self._header.get(name)
        if entry is None:
            close = difflib.get_close_matches(name, list(self._header), n=3)
            hint = f"; close names: {', '.join(close)}" if close else ""
            raise NotFoundError(f"Key {name} not found in checkpoint {self.path}{hint}")
        return entry

    def _read(self, at: int, size: int) -> bytes:
        """`size` bytes of the file from offset `at`. Read, not mapped: a mapped file that
        something truncates meanwhile would end the process (SIGBUS); a short read is a
        DataLossError."""
        try:
            with open(self.path, "rb") as f:
                f.seek(at)
                raw = f.read(size)
        except OSError as e:
            raise DataLossError(f"checkpoint file {self.path} cannot be read: {e}") from None
        if len(raw) != size:
            raise DataLossError(f"checkpoint file {self.path} is truncated: {size} bytes "
                                f"at offset {at} expected, {len(raw)} there")
        return raw


def _digest(data) -> str:
    import xxhash
    return f"{xxhash.xxh3_64_intdigest(data):016x}"


# safetensors dtype names -> numpy dtypes (bfloat16 has no numpy dtype and is refused)
_DTYPES = {"F16": np.dtype(np.float16), "F32": np.dtype(np.float32),
           "F64": np.dtype(np.float64), "I8": np.dtype(np.int8), "I16": np.dtype(np.int16),
           "I32": np.dtype(np.int32), "I64": np.dtype(np.int64), "U8": np.dtype(np.uint8),
           "U16": np.dtype(np.uint16), "U32": np.dtype(np.uint32),
           "U64": np.dtype(np.uint64), "BOOL": np.dtype(np.bool_)}


def _read_header(path: str) -> tuple:
    """(header dict, offset of the data) of a safetensors file, every entry checked to lie
    inside the file: a truncated or garbled file is a DataLossError, never a crash."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise DataLossError(f"checkpoint file {path} is truncated ({size} bytes): not a "
                                "safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, 100 << 20):
            raise DataLossError(f"checkpoint file {path} is truncated or not a safetensors "
                                f"file: its header claims {n} bytes, the file has {size}")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataLossError(f"checkpoint file {path} is corrupted: its header is not "
                                f"valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise DataLossError(f"checkpoint file {path} is corrupted: its header is not a table")
    start, data_size = 8 + n, size - 8 - n
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        _check_entry(path, name, entry, data_size)
    return header, start


def _check_entry(path: str, name: str, entry, data_size: int) -> None:
    try:
        dtype = _DTYPES[entry["dtype"]]
        shape = [int(d) for d in entry["shape"]]
        begin, end = (int(x) for x in entry["data_offsets"])
    except (KeyError, TypeError, ValueError):
        kind = entry.get("dtype") if isinstance(entry, dict) else None
        raise DataLossError(f"checkpoint file {path}: variable '{name}' has an unreadable "
                            f"entry (dtype {kind!r}; graphc reads {', '.join(_DTYPES)})"
                            ) from None
    count = int(np.prod(shape)) if shape else 1
    if min(shape, default=0) < 0 or end - begin != count * dtype.itemsize or begin < 0:
        raise DataLossError(f"checkpoint file {path} is corrupted: variable '{name}' of "
                            f"shape {shape} has {end - begin} bytes")
    if end > data_size:
        raise DataLossError(f"checkpoint file {path} is truncated: variable '{name}' ends at "
                            f"byte {end} of the data, which has {data_size}")
