"""tf.gfile and tf.io.gfile: TensorFlow's file API over the local file system.

TF1 programs reach files through `tf.gfile` (Exists, GFile, Glob, MakeDirs, ...) and TF 1.14+
through `tf.io.gfile` (exists, GFile, glob, makedirs, ...); both spellings are here, on
Python's os, shutil and glob. Failures raise TF's error classes (NotFoundError for a
missing path, ...) naming the operation, the path, what was expected and the caller's
file:line. Only local paths (and `file://` URLs) are served: a path with another scheme
(`gs://`, `s3://`, `hdfs://`) raises UnimplementedError, graphc having no remote file
systems.

graphc/errors.py has no AlreadyExistsError or PermissionDeniedError; where TF raises them
(MkDir on an existing path, Rename/Copy onto an existing file without overwrite, reading a
file opened for writing), FailedPreconditionError stands in until it has.
"""

from __future__ import annotations

import dataclasses
import glob as _glob
import os
import re
import shutil
import sys

from graphc.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    NotFoundError,
    OpError,
    PermissionDeniedError,
    UnimplementedError,
    user_location,
)

_ALREADY_EXISTS = AlreadyExistsError
_PERMISSION_DENIED = PermissionDeniedError
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def _fail(cls, op: str, path: str, expected: str, found: str) -> OpError:
    return cls(f"{op}({path!r}): expected {expected}, found {found} (at {user_location()})")


def _local(path, op: str) -> str:
    """The local file-system path for `path` (str, bytes or os.PathLike)."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = path.decode("utf-8")
    match = _SCHEME.match(path)
    if match is None:
        return path
    if match.group(1).lower() == "file":
        return path[len("file://"):]
    raise _fail(UnimplementedError, op, path, "a local path (graphc's gfile has no remote "
                "file systems)", f"the scheme '{match.group(1)}://'")


def _os_error(err: OSError, op: str, path: str, expected: str) -> OpError:
    """TF's error class for an OSError from the file system."""
    reason = err.strerror or type(err).__name__
    if isinstance(err, FileNotFoundError):
        return _fail(NotFoundError, op, path, expected, "no such file or directory")
    if isinstance(err, FileExistsError):
        return _fail(_ALREADY_EXISTS, op, path, expected, "that it already exists")
    if isinstance(err, PermissionError):
        return _fail(_PERMISSION_DENIED, op, path, expected, f"permission denied ({reason})")
    if isinstance(err, IsADirectoryError):
        return _fail(FailedPreconditionError, op, path, expected, "a directory")
    if isinstance(err, NotADirectoryError):
        return _fail(FailedPreconditionError, op, path, expected, "a file where the path "
                     "needs a directory")
    return _fail(FailedPreconditionError, op, path, expected, reason.lower())


# --- queries ----------------------------------------------------------------------------------
def Exists(filename) -> bool:  # noqa: N802 - TF1 names
    """True when a file or directory exists at `filename`."""
    return os.path.exists(_local(filename, "Exists"))


def IsDirectory(dirname) -> bool:  # noqa: N802
    return os.path.isdir(_local(dirname, "IsDirectory"))


@dataclasses.dataclass(frozen=True)
class FileStatistics:
    """What Stat returns: size in bytes, modification time in ns, whether a directory."""

    length: int
    mtime_nsec: int
    is_directory: bool


def Stat(filename) -> FileStatistics:  # noqa: N802
    path = _local(filename, "Stat")
    try:
        st = os.stat(path)
    except OSError as err:
        raise _os_error(err, "Stat", path, "an existing file or directory") from None
    return FileStatistics(st.st_size, st.st_mtime_ns, os.path.isdir(path))


def ListDirectory(dirname) -> list:  # noqa: N802
    """The names (not paths) in directory `dirname`, sorted; '.' and '..' excluded."""
    path = _local(dirname, "ListDirectory")
    if not os.path.isdir(path):
        found = "a file" if os.path.exists(path) else "no such directory"
        raise _fail(NotFoundError, "ListDirectory", path, "a directory", found)
    return sorted(os.listdir(path))


def Glob(filename) -> list:  # noqa: N802
    """The paths matching a pattern (or a list of patterns), sorted; [] when none match.
    Hidden files match `*`, as in TF."""
    patterns = [filename] if isinstance(filename, (str, bytes, os.PathLike)) else filename
    hidden = {"include_hidden": True} if sys.version_info >= (3, 11) else {}
    found = set()
    for pattern in patterns:
        found.update(_glob.glob(_local(pattern, "Glob"), **hidden))
    return sorted(found)


def Walk(top, in_order=True):  # noqa: N802
    """(dirname, subdirectory names, file names) for `top` and every directory below it,
    parents first when in_order (else children first); nothing for a missing `top`."""
    return walk(top, topdown=in_order)


def walk(top, topdown=True, onerror=None):
    top = _local(top, "walk")
    try:
        names = ListDirectory(top)
    except NotFoundError as err:
        if onerror is not None:
            onerror(err)
        return
    subdirs = [n for n in names if os.path.isdir(os.path.join(top, n))]
    files = [n for n in names if n not in subdirs]
    if topdown:
        yield top, subdirs, files
    for sub in subdirs:
        yield from walk(os.path.join(top, sub), topdown, onerror)
    if not topdown:
        yield top, subdirs, files


# --- changes ----------------------------------------------------------------------------------
def MakeDirs(dirname) -> None:  # noqa: N802
    """Create `dirname` and any missing parents; an existing directory is fine."""
    path = _local(dirname, "MakeDirs")
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:  # exists, but not as a directory
        raise _fail(FailedPreconditionError, "MakeDirs", path, "a directory or no file",
                    "a file") from None
    except OSError as err:
        raise _os_error(err, "MakeDirs", path, "a path whose parents are directories") from None


def MkDir(dirname) -> None:  # noqa: N802
    """Create the directory `dirname`, whose parent must exist and which must not."""
    path = _local(dirname, "MkDir")
    try:
        os.mkdir(path)
    except FileNotFoundError:
        raise _fail(NotFoundError, "MkDir", path, "an existing parent directory",
                    "no such parent") from None
    except OSError as err:
        raise _os_error(err, "MkDir", path, "a path that does not exist yet") from None


def Remove(filename) -> None:  # noqa: N802
    """Delete the file `filename` (not a directory: see DeleteRecursively)."""
    path = _local(filename, "Remove")
    if os.path.isdir(path):
        raise _fail(FailedPreconditionError, "Remove", path, "a file", "a directory")
    try:
        os.remove(path)
    except OSError as err:
        raise _os_error(err, "Remove", path, "an existing file") from None


def DeleteRecursively(dirname) -> None:  # noqa: N802
    """Delete a directory and everything below it (or a single file, as TF does)."""
    path = _local(dirname, "DeleteRecursively")
    if not os.path.lexists(path):
        raise _fail(NotFoundError, "DeleteRecursively", path, "an existing directory",
                    "no such file or directory")
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    except OSError as err:
        raise _os_error(err, "DeleteRecursively", path, "a deletable directory") from None


def _check_target(op: str, src: str, dst: str, overwrite: bool) -> None:
    if not os.path.exists(src):
        raise _fail(NotFoundError, op, src, "an existing source", "no such file or directory")
    if not overwrite and os.path.exists(dst):
        raise _fail(_ALREADY_EXISTS, op, dst, "no file at the destination (pass "
                    "overwrite=True to replace it)", "an existing file")


def Rename(oldname, newname, overwrite=False) -> None:  # noqa: N802
    src, dst = _local(oldname, "Rename"), _local(newname, "Rename")
    _check_target("Rename", src, dst, overwrite)
    try:
        os.replace(src, dst)
    except OSError as err:
        raise _os_error(err, "Rename", dst, "a destination the source can replace") from None


def Copy(oldpath, newpath, overwrite=False) -> None:  # noqa: N802
    """Copy the file `oldpath` to `newpath` (files only, as TF)."""
    src, dst = _local(oldpath, "Copy"), _local(newpath, "Copy")
    _check_target("Copy", src, dst, overwrite)
    if os.path.isdir(src):
        raise _fail(FailedPreconditionError, "Copy", src, "a file", "a directory")
    try:
        shutil.copyfile(src, dst)
    except OSError as err:
        raise _os_error(err, "Copy", dst, "a writable destination file") from None


# --- files ------------------------------------------------------------------------------------
_MODES = ("r", "rb", "w", "wb", "a", "ab", "r+", "rb+", "w+", "wb+", "a+", "ab+")


class GFile:
    """A file, read and written as TF's GFile: str in text modes ('r', 'w', 'a'), bytes in
    binary ones ('rb', 'wb', 'ab'); '+' adds the other direction. Text is UTF-8 and
    newlines are never translated; read(n), seek and tell count bytes in every mode, as in
    TF. Unlike TF, which opens at the first read or write, the file opens here, so a
    missing file raises NotFoundError from the constructor."""

    def __init__(self, name, mode="r"):
        self.name = _local(name, "GFile")
        mode = mode.replace("t", "")
        canonical = ""
        if mode:
            canonical = mode[0] + ("b" if "b" in mode else "") + ("+" if "+" in mode else "")
        if canonical not in _MODES or len(canonical) != len(mode):
            raise ValueError(f"GFile({self.name!r}, mode={mode!r}): expected a mode among "
                             f"{', '.join(_MODES)}, found {mode!r} (at {user_location()})")
        self.mode, self._binary = mode, "b" in mode
        try:
            self._file = open(self.name, canonical.replace("b", "") + "b")  # noqa: SIM115
        except OSError as err:
            raise _os_error(err, "GFile", self.name, "a file to open in mode " + repr(mode)) \
                from None

    def _out(self, data: bytes):
        return data if self._binary else data.decode("utf-8")

    def _check(self, readable: bool) -> None:
        ok = self._file.readable() if readable else self._file.writable()
        if not ok:
            what = "reading" if readable else "writing"
            raise _fail(_PERMISSION_DENIED, "GFile", self.name, f"a file open for {what}",
                        f"mode {self.mode!r}")

    def read(self, n=-1):
        """Up to n bytes (everything when n is -1 or None), as str in text modes."""
        self._check(True)
        return self._out(self._file.read(-1 if n is None else n))

    def readline(self):
        self._check(True)
        return self._out(self._file.readline())

    def readlines(self):
        self._check(True)
        return [self._out(line) for line in self._file.readlines()]

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def write(self, file_content) -> None:
        self._check(False)
        data = file_content.encode("utf-8") if isinstance(file_content, str) else file_content
        self._file.write(data)

    def seek(self, offset=None, whence=0, position=None) -> int:
        """Move to a byte offset; `position` is TF1's older name for `offset`."""
        offset = position if offset is None else offset
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def size(self) -> int:
        return os.fstat(self._file.fileno()).st_size

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


Open = GFile
FastGFile = GFile  # deprecated in TF1: the same class


# --- tf.io.gfile's spellings ------------------------------------------------------------------
exists = Exists
isdir = IsDirectory
makedirs = MakeDirs
mkdir = MkDir
rmtree = DeleteRecursively
remove = Remove
rename = Rename
copy = Copy
glob = Glob
listdir = ListDirectory
stat = Stat
