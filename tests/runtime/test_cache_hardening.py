"""The compiled-code cache against what may sit at an entry's path instead of an entry: a FIFO,
a huge sparse file, a directory, a symlink. Each is a miss that never blocks and is never read
whole; it is cleared away (a directory with contents is moved aside, not deleted) and the
compile that follows stores a good entry and computes the right numbers."""

from __future__ import annotations

import os
import struct
import threading
import time
import warnings

import numpy as np
import pytest

import graphc as tf
from graphc.runtime import cache as cache_module
from graphc.runtime.cache import FORMAT_VERSION, HEADER_SIZE, MAGIC, CacheWarning, CodeCache

KEY = CodeCache.key("an entry of these tests")
PAYLOAD = bytes(range(256)) * 8


@pytest.fixture
def cache(tmp_path):
    return CodeCache(tmp_path / "cache")


@pytest.fixture
def bytes_read(monkeypatch):
    """A list that collects the size of every os.read the cache makes from now on."""
    sizes: list = []
    real_read = os.read

    def counting_read(fd, n):
        data = real_read(fd, n)
        sizes.append(len(data))
        return data
    monkeypatch.setattr(cache_module.os, "read", counting_read)
    return sizes


def within(seconds: float, fn, fifos=()):
    """fn()'s result, failing the test when it takes longer than `seconds`. A call still
    blocked then (on opening a FIFO) is released by opening each of `fifos` for writing."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # re-raised in the test's thread
            box["error"] = e
    thread = threading.Thread(target=target, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        for path in fifos:
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # wakes a blocked reader
            except OSError:
                pass
        thread.join(10)
        pytest.fail(f"still running after {seconds} s (blocked on a FIFO?)")
    if "error" in box:
        raise box["error"]
    return box["value"], time.monotonic() - start


def stored(cache) -> str:
    cache.store(KEY, PAYLOAD)
    return cache.path(KEY)


def replace_with_fifo(path: str) -> None:
    os.unlink(path)
    os.mkfifo(path)


def assert_usable_again(cache, path: str) -> None:
    cache.store(KEY, PAYLOAD)
    assert os.path.isfile(path) and not os.path.islink(path)
    assert cache.load(KEY) == PAYLOAD


# --- CodeCache.load and store ---------------------------------------------------------------
def test_a_fifo_at_an_entry_is_a_miss_without_blocking(cache):
    path = stored(cache)
    replace_with_fifo(path)
    loaded, _ = within(10, lambda: cache.load(KEY), fifos=[path])
    assert loaded is None
    assert not os.path.lexists(path)  # unlinked: the name only, no writer was waited for
    assert_usable_again(cache, path)


def test_a_symlink_at_an_entry_is_never_followed(cache, tmp_path, bytes_read):
    path = stored(cache)
    target = tmp_path / "elsewhere"
    with open(path, "rb") as f:
        target.write_bytes(f.read())  # a good entry's bytes, but not ours to trust by a link
    os.unlink(path)
    os.symlink(target, path)
    assert cache.load(KEY) is None
    assert bytes_read == []
    assert not os.path.lexists(path) and target.exists()  # the link went, not its target
    os.symlink("/dev/zero", path)  # an endless file if it were opened
    loaded, _ = within(10, lambda: cache.load(KEY))
    assert loaded is None and bytes_read == []
    assert_usable_again(cache, path)


@pytest.mark.parametrize("header", ["zeros", "valid"])
def test_a_sparse_2gib_entry_is_rejected_from_its_header(cache, bytes_read, header):
    path = stored(cache)
    if header == "zeros":  # damage that left a hole: no header at all
        with open(path, "wb") as f:
            f.truncate(2**31)
    else:  # a good header, with the file grown to 2 GiB: its size disagrees with it
        with open(path, "r+b") as f:
            f.truncate(2**31)
    bytes_read.clear()
    loaded, seconds = within(30, lambda: cache.load(KEY))
    assert loaded is None
    assert sum(bytes_read) <= HEADER_SIZE, "read more than the header of a 2 GiB file"
    assert seconds < 5
    assert not os.path.lexists(path)
    assert_usable_again(cache, path)


def test_a_recorded_length_over_the_limit_is_not_read(cache, bytes_read):
    path = stored(cache)
    length = cache_module.MAX_PAYLOAD_BYTES + 1
    header = struct.pack("<8sHHQ32s32s", MAGIC, FORMAT_VERSION, 0, length, bytes(32),
                         bytes.fromhex(KEY))
    with open(path, "wb") as f:  # header and size agree; the length is simply too large
        f.write(header)
        f.truncate(HEADER_SIZE + length)
    bytes_read.clear()
    assert cache.load(KEY) is None
    assert sum(bytes_read) == HEADER_SIZE
    assert not os.path.lexists(path)


def test_a_payload_over_the_limit_is_not_stored(cache, monkeypatch):
    monkeypatch.setattr(cache_module, "MAX_PAYLOAD_BYTES", 100)
    with pytest.warns(CacheWarning, match=r"not storing 101 bytes under [0-9a-f]{64}, over "
                                          r"the limit of 100 bytes per entry"):
        cache.store(KEY, b"x" * 101)
    assert cache.load(KEY) is None
    cache.store(KEY, b"x" * 100)
    assert cache.load(KEY) == b"x" * 100


def test_an_empty_directory_at_an_entry_is_removed(cache):
    path = stored(cache)
    os.unlink(path)
    os.mkdir(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # nothing of anyone's is lost: no noise
        assert cache.load(KEY) is None
        assert not os.path.lexists(path)
        assert_usable_again(cache, path)


def test_a_directory_with_contents_is_moved_aside_and_kept(cache):
    path = stored(cache)
    os.unlink(path)
    os.mkdir(path)
    with open(os.path.join(path, "notes.txt"), "w") as f:
        f.write("someone's")
    with pytest.warns(CacheWarning, match=r"a directory was in the way of the entry .*"
                                          r"; moved it to .*\.moved-"):
        assert cache.load(KEY) is None
    (aside,) = [n for n in os.listdir(os.path.dirname(path)) if ".moved-" in n]
    with open(os.path.join(os.path.dirname(path), aside, "notes.txt")) as f:
        assert f.read() == "someone's"
    assert_usable_again(cache, path)
    assert cache.info()["entries"] == 1
    assert cache.clear() == 1  # the entry; the moved directory is not the cache's to remove
    assert os.path.isdir(os.path.join(os.path.dirname(path), aside))


def test_store_moves_a_directory_aside_without_a_load_first(cache):
    path = cache.path(KEY)
    os.makedirs(os.path.join(path, "sub"))
    with pytest.warns(CacheWarning, match="moved it to"):
        cache.store(KEY, PAYLOAD)
    assert cache.load(KEY) == PAYLOAD


def test_info_counts_only_regular_files(cache):
    path = stored(cache)
    other = cache.path(CodeCache.key("other"))
    os.makedirs(os.path.dirname(other), exist_ok=True)
    os.mkfifo(other)
    assert cache.info()["entries"] == 1
    assert os.path.exists(path)


def test_an_unreadable_entry_is_reported_and_kept(cache):
    path = stored(cache)
    os.chmod(path, 0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as root: permission bits do not stop reads")
        with pytest.warns(CacheWarning, match="cannot read"):
            assert cache.load(KEY) is None
        assert os.path.exists(path)  # a disk problem, not damage: nothing is deleted
    finally:
        os.chmod(path, 0o600)


# --- a compile through the cache ------------------------------------------------------------
def obstruct(path: str, kind: str) -> None:
    os.unlink(path)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "sparse":
        with open(path, "wb") as f:
            f.truncate(2**31)
    elif kind == "directory":
        os.mkdir(path)
        with open(os.path.join(path, "keep.txt"), "w") as f:
            f.write("keep")


@pytest.mark.parametrize("kind", ["fifo", "sparse", "directory"])
def test_a_compile_succeeds_over_an_obstructed_entry(tmp_path, monkeypatch, kind):
    loads: list = []  # (key, seconds) of every CodeCache.load
    real_load = CodeCache.load

    def timed_load(self, key):
        start = time.monotonic()
        try:
            return real_load(self, key)
        finally:
            loads.append((self.path(key), time.monotonic() - start))
    monkeypatch.setattr(CodeCache, "load", timed_load)

    x = tf.placeholder(tf.float32, [None, 3], name="x")
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    y = tf.tanh(tf.matmul(x, tf.constant(w)) * 0.1)
    value = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    expected = np.tanh((value @ w) * 0.1)
    options = tf.Options(cache_dir=str(tmp_path / "cache"))

    def compile_and_run():
        with tf.Session(target="llvm", config=options) as sess:
            return sess.run(y, {x: value})
    np.testing.assert_allclose(compile_and_run(), expected, rtol=1e-5)
    entries = [p for p, _ in loads if os.path.isfile(p)]
    assert entries, "the first compile stored no entry"
    for path in entries:
        obstruct(path, kind)
    loads.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheWarning)  # the moved directory is reported
        got, _ = within(300, compile_and_run, fifos=entries if kind == "fifo" else ())
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    again = [(p, s) for p, s in loads if p in entries]
    assert again, "the second compile did not look its entry up"
    for path, seconds in again:
        assert seconds < 5, f"load of {path} took {seconds:.1f} s"
        assert os.path.isfile(path) and os.path.getsize(path) < 2**30  # a good entry again
    if kind == "directory":
        folders = {os.path.dirname(p) for p in entries}
        assert any(".moved-" in n for f in folders for n in os.listdir(f))
