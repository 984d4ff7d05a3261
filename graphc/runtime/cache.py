"""The on-disk cache of compiled code: content-addressed, crash-safe, shared between processes.

    cache = default_cache(options)                 # or CodeCache(directory)
    key = CodeCache.key(ir_text, triple, (cpu, features), graphc.__version__, options)
    code = cache.load(key)                         # bytes, or None on a miss
    if code is None:
        code = compile_somehow(...)
        cache.store(key, code)

Contracts:
- A key is the sha256 of a canonical, type-tagged encoding of its parts, so it is the same in
  every process and on every machine, and parts that differ in value, type or grouping give
  different keys. Whatever influences the compiled bytes must be among the parts; the cache
  cannot know.
- An entry is `<key[:2]>/<key>` under the directory: a fixed header (magic, format version,
  payload length, sha256 of the payload, the key) followed by the payload. load() checks all
  of it, so a truncated, corrupted or misplaced entry is a miss: it is deleted and None is
  returned, and the caller rebuilds and stores again. load() never returns wrong bytes.
- The payload is opaque bytes. Nothing here deserializes objects or runs code (no pickle).
- store() writes a temporary file in the entry's own directory, fsyncs it and os.replace()s
  it onto the entry's name. Readers in other processes see the old entry, no entry, or the
  whole new one, never a partial file; concurrent stores of one key all succeed (last wins).
- load() never blocks and never reads more than an entry can hold: it opens the entry only
  if lstat() calls it a regular file (so no FIFO, device or socket, and no symlink, which
  could point at /dev/zero), without following links or waiting for a writer; it reads the
  fixed header, then the payload only when the file's size is exactly the header plus the
  recorded length and that length is at most MAX_PAYLOAD_BYTES. Anything else at an entry's
  path is a miss, and load() makes way for the rebuilt entry (see _make_way): a file or link
  is removed; a directory, which the cache never creates there, is removed when empty and
  otherwise moved aside with a CacheWarning saying where, so nobody's files are deleted.
- The cache is an optimization, so trouble with the disk (unwritable, full, a path through a
  regular file) never reaches the caller: store() warns once per directory with CacheWarning
  and skips, load() reports a miss. Misuse (a malformed key, a payload that is not bytes) is
  still an exception.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import re
import stat
import struct
import tempfile
import time
import warnings
from typing import Optional

from graphc.options import Options, resolve_cache_dir

# Bump FORMAT_VERSION when the header or the key encoding changes: it is part of both, so old
# entries are simply never looked up again (and fail the header check if they were).
FORMAT_VERSION = 1
MAGIC = b"GRAPHCC\x00"
# magic, format version, flags (0), payload length, sha256(payload), key as 32 raw bytes
_HEADER = struct.Struct("<8sHHQ32s32s")
HEADER_SIZE = _HEADER.size
# The largest payload stored or read. Compiled modules are kilobytes to a few megabytes; the
# bound keeps a damaged or foreign file (say a sparse 2 GiB one) from being read whole.
MAX_PAYLOAD_BYTES = 1 << 28
# Opening flags for an entry: never follow a link (the target could be anything, /dev/zero
# included) and never wait for a writer (a FIFO swapped in after the lstat check).
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))

_KEY_RE = re.compile(r"[0-9a-f]{64}")
PLANS_DIR = "plans"  # stored plans' constants (runtime/plan_store.py)
_PLAN_RE = re.compile(r"[0-9a-f]{64}\.bin")
_FANOUT_RE = re.compile(r"[0-9a-f]{2}")
_TEMP_SUFFIX = ".tmp"
# A temporary file this old belongs to a writer that died; a live writer holds one for
# milliseconds. clear() removes only such leftovers so it never breaks a store in progress.
_STALE_TEMP_SECONDS = 3600.0

_warned_dirs: set = set()


class CacheWarning(RuntimeWarning):
    """The compiled-code cache could not be used; graphc carries on without it."""


class CodeCache:
    """Compiled code on disk under `directory`, addressed by `CodeCache.key(...)`.

    Constructing one touches nothing on disk; the directory is created by the first store().
    """

    def __init__(self, directory):
        self.directory = os.path.abspath(os.fspath(directory))

    def __repr__(self) -> str:
        return f"CodeCache({self.directory!r})"

    # --- keys ------------------------------------------------------------------------------
    @staticmethod
    def key(*parts) -> str:
        """The hex sha256 of the parts' canonical encoding (see `_encode` for what is allowed)."""
        digest = hashlib.sha256(b"graphc-code-cache\x00%d\x00" % FORMAT_VERSION)
        digest.update(_encode(parts))
        return digest.hexdigest()

    def path(self, key: str) -> str:
        """Where the entry for `key` lives (whether or not it exists)."""
        _check_key(key)
        return os.path.join(self.directory, key[:2], key)

    # --- entries ---------------------------------------------------------------------------
    def load(self, key: str) -> Optional[bytes]:
        """The payload stored under `key`, or None if there is none or it was damaged."""
        path = self.path(key)
        try:
            payload, found = _read_entry(key, path)
        except (FileNotFoundError, NotADirectoryError):  # no entry there: a plain miss
            return None
        except OSError as e:
            self._warn(f"cannot read {path}: {e}")
            return None
        if payload is None:
            self._make_way(path, found)
        return payload

    def store(self, key: str, data: bytes) -> None:
        """Save `data` under `key`, atomically; on a disk error warn once and skip."""
        final = self.path(key)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"CodeCache.store expects bytes, got {type(data).__name__}")
        payload = bytes(data)
        if len(payload) > MAX_PAYLOAD_BYTES:  # load() would refuse it: do not write it
            warnings.warn(f"graphc compiled-code cache: not storing {len(payload)} bytes under "
                          f"{key}, over the limit of {MAX_PAYLOAD_BYTES} bytes per entry",
                          CacheWarning, stacklevel=2)
            return
        header = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(payload),
                              hashlib.sha256(payload).digest(), bytes.fromhex(key))
        try:
            self._write_atomically(final, header, payload)
        except OSError as e:
            self._warn(f"cannot write {final}: {e}")

    def _write_atomically(self, final: str, header: bytes, payload: bytes) -> None:
        folder = os.path.dirname(final)
        # Two attempts: a concurrent clear() may remove the fan-out folder between our
        # makedirs and mkstemp. makedirs(exist_ok=True) already tolerates a racing creator.
        for attempt in (1, 2):
            os.makedirs(folder, exist_ok=True)
            try:
                fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(final)[:16]}-",
                                            suffix=_TEMP_SUFFIX, dir=folder)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(header)
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())  # the data is on disk before the name points at it
            try:
                os.replace(temp, final)
            except IsADirectoryError:  # a directory squats on the name (see _make_way)
                self._make_way(final, _lstat(final))
                os.replace(temp, final)
            # The folder is not fsynced: after a power loss the entry may be missing, which is
            # a miss, never a torn entry.
        except BaseException:
            _unlink_quietly(temp)
            raise

    # --- the whole cache -------------------------------------------------------------------
    def info(self) -> dict:
        """{"directory": str, "entries": int, "bytes": int, "plans": int, "plans_bytes":
        int}: bytes counts whole entry files; plans and plans_bytes, the stored plans'
        constants files among them (runtime/plan_store.py)."""
        entries = size = plans = plans_size = 0
        for path, _ in self._entries():
            try:
                found = os.lstat(path)
            except FileNotFoundError:  # removed by another process while we looked
                continue
            if stat.S_ISREG(found.st_mode):  # anything else there is no entry (see load)
                size += found.st_size
                entries += 1
                if os.path.basename(os.path.dirname(path)) == PLANS_DIR:
                    plans += 1
                    plans_size += found.st_size
        return {"directory": self.directory, "entries": entries, "bytes": size,
                "plans": plans, "plans_bytes": plans_size}

    def clear(self) -> int:
        """Remove every entry (and leftovers of crashed writers); return how many entries.

        Only names this cache creates are touched (`xx/<64 hex>`, `plans/<64 hex>.bin`), so a
        directory pointed here by mistake loses nothing else.
        """
        removed = 0
        for path, is_entry in self._entries(include_temps=True):
            if not is_entry and not _is_stale(path):
                continue
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as e:
                self._warn(f"cannot remove {path}: {e}")
                continue
            if is_entry:
                removed += 1
        for folder in self._fanout_dirs() + [os.path.join(self.directory, PLANS_DIR)]:
            try:
                os.rmdir(folder)  # only succeeds when empty; a store racing us recreates it
            except OSError:
                pass
        return removed

    def _fanout_dirs(self):
        try:
            names = os.listdir(self.directory)
        except OSError:  # missing, or not a directory: an empty cache
            return []
        return [os.path.join(self.directory, n) for n in sorted(names) if _FANOUT_RE.fullmatch(n)]

    def _entries(self, include_temps: bool = False):
        """(path, is_entry) for each entry file, and each temp file if asked. The stored
        plans' constants (`plans/<64 hex>.bin`, runtime/plan_store.py) are entries too."""
        plans = os.path.join(self.directory, PLANS_DIR)
        try:
            stored = sorted(os.listdir(plans))
        except OSError:
            stored = []
        for name in stored:
            if _PLAN_RE.fullmatch(name):
                yield os.path.join(plans, name), True
            elif include_temps and name.startswith(".") and name.endswith(_TEMP_SUFFIX):
                yield os.path.join(plans, name), False
        for folder in self._fanout_dirs():
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            prefix = os.path.basename(folder)
            for name in sorted(names):
                if _KEY_RE.fullmatch(name) and name.startswith(prefix):
                    yield os.path.join(folder, name), True
                elif include_temps and name.startswith(".") and name.endswith(_TEMP_SUFFIX):
                    yield os.path.join(folder, name), False

    def _make_way(self, path: str, found) -> None:
        """Clear an entry's path of what load() refused, `found` being its lstat() then.

        Only the very object that was examined is touched (same inode and type), so an entry
        a writer has meanwhile put there survives; losing that race only deletes a good
        entry, which costs a rebuild, never a wrong answer. A file, FIFO, socket, device node
        or symlink is unlinked: that removes the name only, never a link's target or a
        device. A directory is no entry of ours: an empty one is removed, and one with
        contents is renamed to `<key>.moved-<time>-<pid>` beside it and reported, since its
        files may matter to someone; clear() leaves that name alone.
        """
        current = _lstat(path)
        if found is None or current is None or (current.st_ino, current.st_dev,
                                                stat.S_IFMT(current.st_mode)) != (
                found.st_ino, found.st_dev, stat.S_IFMT(found.st_mode)):
            return
        if not stat.S_ISDIR(current.st_mode):
            _unlink_quietly(path)
            return
        try:
            os.rmdir(path)
            return
        except OSError:  # not empty (or not ours to remove): move it aside instead
            pass
        aside = f"{path}.moved-{time.time_ns()}-{os.getpid()}"
        try:
            os.rename(path, aside)
        except OSError as e:
            self._warn(f"a directory is in the way of the entry {path} and cannot be moved "
                       f"aside ({e}); remove it to cache this code")
            return
        warnings.warn(f"graphc compiled-code cache: a directory was in the way of the entry "
                      f"{path}; moved it to {aside} (the cache never creates directories "
                      "there; delete it if its contents are not needed)", CacheWarning,
                      stacklevel=3)

    def _warn(self, message: str) -> None:
        # Once per directory per process: a broken cache must not flood the user's output.
        if self.directory in _warned_dirs:
            return
        _warned_dirs.add(self.directory)
        warnings.warn(f"graphc compiled-code cache disabled for this directory: {message}",
                      CacheWarning, stacklevel=3)


def default_cache(options: Optional[Options] = None) -> CodeCache:
    """The cache at `resolve_cache_dir(options)`."""
    return CodeCache(resolve_cache_dir(options))


# --- encoding and checking ------------------------------------------------------------------
def _encode(value) -> bytes:
    """A canonical, injective byte encoding: a type tag, then a length-prefixed body.

    Allowed: str, bytes (bytearray, memoryview), int, bool, float, None, tuple/list (one
    kind: a sequence) and dataclass instances such as graphc.Options (class name and fields
    in declaration order). Length prefixes make ("ab", "c") and ("a", "bc") differ; tags make
    "1", b"1", 1, 1.0 and True differ. Anything else (sets, dicts, arbitrary objects whose
    repr may vary between runs) is refused rather than guessed at.
    """
    if isinstance(value, str):
        return _tagged(b"s", value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _tagged(b"b", bytes(value))
    if isinstance(value, bool):  # before int: bool is an int subclass
        return _tagged(b"t" if value else b"f", b"")
    if isinstance(value, int):
        return _tagged(b"i", str(value).encode("ascii"))
    if isinstance(value, float):
        return _tagged(b"d", value.hex().encode("ascii"))  # exact; keeps -0.0 apart from 0.0
    if value is None:
        return _tagged(b"n", b"")
    if isinstance(value, (tuple, list)):
        return _tagged(b"q", b"".join(_encode(v) for v in value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = tuple((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
        return _tagged(b"c", _encode((type(value).__qualname__, fields)))
    raise TypeError(f"CodeCache.key parts must be str, bytes, int, float, bool, None, tuples "
                    f"of these or dataclasses; got {type(value).__name__}")


def _tagged(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("<Q", len(body)) + body


def _check_key(key) -> None:
    # Keys become file names, so only what key() produces is accepted (no path tricks).
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValueError(f"a cache key is 64 lowercase hex digits from CodeCache.key(), "
                         f"got {key!r}")


def _lstat(path: str):
    try:
        return os.lstat(path)
    except OSError:
        return None


def _read_entry(key: str, path: str):
    """(payload or None, the stat of what was examined at `path`) for the entry of `key`.

    Reads at most HEADER_SIZE + MAX_PAYLOAD_BYTES bytes, and the payload only once the header
    says it belongs to `key` and the file's size agrees with the recorded length. Raises
    FileNotFoundError (or NotADirectoryError) when nothing is there, OSError on a disk error.
    """
    found = os.lstat(path)
    if not stat.S_ISREG(found.st_mode):  # never opened: opening a FIFO or device may block
        return None, found
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        if e.errno != errno.ELOOP:
            raise
        return None, found  # swapped for a link since the lstat: refused all the same
    try:
        # What was opened is what counts: a writer may have replaced the entry since the
        # lstat, which is fine; something other than a regular file is refused.
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            return None, found
        header = _read_exactly(fd, HEADER_SIZE)
        if header is None:
            return None, found
        magic, version, flags, length, digest, stored_key = _HEADER.unpack(header)
        if (magic, version, flags) != (MAGIC, FORMAT_VERSION, 0) \
                or stored_key.hex() != key or length > MAX_PAYLOAD_BYTES \
                or found.st_size != HEADER_SIZE + length:
            return None, found
        payload = _read_exactly(fd, length)
    finally:
        os.close(fd)
    if payload is None or hashlib.sha256(payload).digest() != digest:
        return None, found
    return payload, found


def _read_exactly(fd: int, n: int) -> Optional[bytes]:
    """`n` bytes from `fd`, or None when the file ends sooner (it was cut short)."""
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 24))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _is_stale(path: str) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime > _STALE_TEMP_SECONDS
    except OSError:
        return False


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
