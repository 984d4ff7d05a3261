"""graphc.gfile (tf.gfile / tf.io.gfile) against the real file system under tmp_path: every
function, both spellings, GFile's modes and methods, and TF's error classes with messages
naming the operation, the path, what was expected and the caller's line."""

from __future__ import annotations

import os

import pytest

from graphc import gfile
from graphc.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    NotFoundError,
    OpError,
    PermissionDeniedError,
    UnimplementedError,
)

AT = r"\(at test_gfile\.py:\d+\)"


@pytest.fixture
def tree(tmp_path):
    """tmp_path/a.txt, tmp_path/.hidden, tmp_path/sub/b.bin, tmp_path/sub/deep/c.txt"""
    (tmp_path / "a.txt").write_text("one\ntwo\nthree")
    (tmp_path / ".hidden").write_text("h")
    (tmp_path / "sub" / "deep").mkdir(parents=True)
    (tmp_path / "sub" / "b.bin").write_bytes(b"\x00\x01")
    (tmp_path / "sub" / "deep" / "c.txt").write_text("c")
    return tmp_path


def test_exists_isdir_stat(tree):
    assert gfile.Exists(tree / "a.txt") and gfile.exists(str(tree / "sub"))
    assert not gfile.Exists(tree / "nope")
    assert gfile.IsDirectory(tree / "sub") and not gfile.isdir(tree / "a.txt")
    assert gfile.Exists(f"file://{tree}/a.txt") and gfile.Exists(os.fsencode(tree / "a.txt"))
    st = gfile.Stat(tree / "a.txt")
    assert (st.length, st.is_directory) == (13, False)
    assert st.mtime_nsec == os.stat(tree / "a.txt").st_mtime_ns
    assert gfile.stat(tree / "sub").is_directory
    with pytest.raises(NotFoundError, match=rf"Stat\('.*nope'\): expected an existing file or "
                       rf"directory, found no such file or directory {AT}"):
        gfile.Stat(tree / "nope")


def test_list_glob_walk(tree):
    assert gfile.ListDirectory(tree) == [".hidden", "a.txt", "sub"]
    assert gfile.listdir(tree / "sub") == ["b.bin", "deep"]
    with pytest.raises(NotFoundError, match=rf"ListDirectory\('.*a\.txt'\): expected a "
                       rf"directory, found a file {AT}"):
        gfile.ListDirectory(tree / "a.txt")
    with pytest.raises(NotFoundError, match="found no such directory"):
        gfile.listdir(tree / "nope")
    assert gfile.Glob(str(tree / "*.txt")) == [str(tree / "a.txt")]
    assert gfile.glob(str(tree / "*")) == [str(tree / n) for n in (".hidden", "a.txt", "sub")]
    assert gfile.Glob([str(tree / "*.txt"), str(tree / "sub" / "*.bin")]) == [
        str(tree / "a.txt"), str(tree / "sub" / "b.bin")]
    assert gfile.Glob(str(tree / "*.none")) == []
    top = str(tree)
    walked = list(gfile.Walk(top))
    assert walked == [(top, ["sub"], [".hidden", "a.txt"]),
                      (os.path.join(top, "sub"), ["deep"], ["b.bin"]),
                      (os.path.join(top, "sub", "deep"), [], ["c.txt"])]
    assert list(gfile.Walk(top, in_order=False)) == walked[::-1]
    assert list(gfile.walk(top, topdown=False)) == walked[::-1]
    assert list(gfile.Walk(tree / "nope")) == []
    errors = []
    assert list(gfile.walk(tree / "nope", onerror=errors.append)) == []
    assert isinstance(errors[0], NotFoundError)


def test_make_and_remove_directories(tree):
    gfile.MakeDirs(tree / "x" / "y" / "z")
    gfile.makedirs(tree / "x" / "y")  # existing: fine
    assert gfile.IsDirectory(tree / "x" / "y" / "z")
    with pytest.raises(FailedPreconditionError, match=rf"MakeDirs\('.*a\.txt'\): expected a "
                       rf"directory or no file, found a file {AT}"):
        gfile.MakeDirs(tree / "a.txt")
    gfile.MkDir(tree / "m")
    with pytest.raises(FailedPreconditionError, match=r"found a file where the path needs a "
                       r"directory"):
        gfile.MkDir(tree / "a.txt" / "m")
    gfile.mkdir(tree / "m" / "n")
    with pytest.raises(AlreadyExistsError, match=rf"MkDir\('.*m'\): expected a path that "
                       rf"does not exist yet, found that it already exists {AT}"):
        gfile.MkDir(tree / "m")
    with pytest.raises(FailedPreconditionError, match=r"found a file where the path needs a "
                       r"directory"):
        gfile.MkDir(tree / "a.txt" / "m")
    with pytest.raises(NotFoundError, match="expected an existing parent directory"):
        gfile.mkdir(tree / "no" / "parent")
    gfile.DeleteRecursively(tree / "x")
    assert not gfile.Exists(tree / "x")
    gfile.rmtree(tree / "sub" / "b.bin")  # a single file, as TF
    assert not gfile.Exists(tree / "sub" / "b.bin")
    with pytest.raises(NotFoundError, match=rf"DeleteRecursively\('.*x'\): expected an existing "
                       rf"directory, found no such file or directory {AT}"):
        gfile.DeleteRecursively(tree / "x")


def test_remove(tree):
    gfile.Remove(tree / "a.txt")
    assert not gfile.Exists(tree / "a.txt")
    gfile.remove(tree / ".hidden")
    with pytest.raises(NotFoundError, match=rf"Remove\('.*a\.txt'\): expected an existing "
                       rf"file, found no such file or directory {AT}"):
        gfile.Remove(tree / "a.txt")
    with pytest.raises(FailedPreconditionError, match=r"expected a file, found a directory"):
        gfile.Remove(tree / "sub")


def test_rename_and_copy(tree):
    src, dst = tree / "a.txt", tree / "b.txt"
    gfile.Copy(src, dst)
    assert dst.read_text() == src.read_text()
    with pytest.raises(AlreadyExistsError, match=rf"Copy\('.*b\.txt'\): expected no file "
                       rf"at the destination \(pass overwrite=True to replace it\), found an "
                       rf"existing file {AT}"):
        gfile.copy(src, dst)
    (tree / "sub" / "deep" / "c.txt").write_text("new")
    gfile.Copy(tree / "sub" / "deep" / "c.txt", dst, overwrite=True)
    assert dst.read_text() == "new"
    with pytest.raises(NotFoundError, match=r"Copy\('.*nope'\): expected an existing source"):
        gfile.Copy(tree / "nope", tree / "q")
    with pytest.raises(FailedPreconditionError, match=r"expected a file, found a directory"):
        gfile.Copy(tree / "sub", tree / "q")
    gfile.Rename(dst, tree / "c.txt")
    assert not dst.exists() and (tree / "c.txt").read_text() == "new"
    with pytest.raises(AlreadyExistsError, match=r"Rename.*found an existing file"):
        gfile.rename(tree / "c.txt", src)
    gfile.Rename(tree / "c.txt", src, overwrite=True)
    assert src.read_text() == "new"
    gfile.rename(tree / "sub", tree / "moved")
    assert gfile.IsDirectory(tree / "moved" / "deep")
    with pytest.raises(NotFoundError, match=r"Rename\('.*nope'\): expected an existing source"):
        gfile.Rename(tree / "nope", tree / "q")


def test_gfile_text_and_binary(tree):
    path = tree / "f.txt"
    with gfile.GFile(path, "w") as f:
        f.write("héllo\n")
        f.write("wörld\r\nend")
        f.flush()
        assert f.tell() == len("héllo\nwörld\r\nend".encode())
    assert path.read_bytes() == "héllo\nwörld\r\nend".encode()  # no newline translation
    with gfile.GFile(path) as f:
        assert f.readline() == "héllo\n"
        assert f.read() == "wörld\r\nend"
        assert f.read() == ""
        f.seek(0)
        assert f.read(1) == "h"
        f.seek(position=7)
        assert f.readlines() == ["wörld\r\n", "end"]
        assert f.size() == path.stat().st_size
    assert list(gfile.Open(path)) == ["héllo\n", "wörld\r\n", "end"]
    with gfile.FastGFile(path, "rb") as f:
        assert f.read(3) == b"h\xc3\xa9" and f.tell() == 3
    with gfile.GFile(path, "a") as f:
        f.write("!")
    with gfile.GFile(path, "wb") as f:
        f.write(b"\x00\xff")
    with gfile.GFile(path, "ab") as f:
        f.write(b"\x01")
    with gfile.GFile(path, "rb") as f:
        assert f.read() == b"\x00\xff\x01"
    g = gfile.GFile(path, "r+b")
    g.write(b"\x07")
    g.seek(0)
    assert g.read() == b"\x07\xff\x01"
    g.close()
    assert g.closed


def test_gfile_errors(tree):
    with pytest.raises(NotFoundError, match=rf"GFile\('.*nope'\): expected a file to open in "
                       rf"mode 'r', found no such file or directory {AT}"):
        gfile.GFile(tree / "nope")
    with pytest.raises(ValueError, match=r"GFile\('.*a\.txt', mode='x'\): expected a mode among "
                       r"r, rb, w, wb, a, ab, .* found 'x'"):
        gfile.GFile(tree / "a.txt", "x")
    with gfile.GFile(tree / "w.txt", "w") as f:
        with pytest.raises(PermissionDeniedError, match=r"expected a file open for reading, "
                           r"found mode 'w'"):
            f.read()
    with gfile.GFile(tree / "a.txt") as f:
        with pytest.raises(PermissionDeniedError, match=r"open for writing, found mode 'r'"):
            f.write("x")
    with pytest.raises(FailedPreconditionError, match=r"expected a file to open in mode 'r', "
                       r"found a directory"):
        gfile.GFile(tree / "sub").read()


@pytest.mark.parametrize("call", [
    lambda p: gfile.Exists(p), lambda p: gfile.GFile(p), lambda p: gfile.Glob(p + "/*"),
    lambda p: gfile.MakeDirs(p), lambda p: gfile.ListDirectory(p), lambda p: gfile.Copy(p, p),
    lambda p: list(gfile.walk(p)), lambda p: gfile.stat(p),
])
@pytest.mark.parametrize("scheme", ["gs", "s3", "hdfs"])
def test_remote_paths_are_refused(call, scheme):
    path = f"{scheme}://bucket/data"
    with pytest.raises(UnimplementedError, match=rf"\('{path}.*'\): expected a local path "
                       rf"\(graphc's gfile has no remote file systems\), found the scheme "
                       rf"'{scheme}://' {AT}"):
        call(path)
    assert issubclass(UnimplementedError, OpError)
