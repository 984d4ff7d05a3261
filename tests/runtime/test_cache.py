"""The compiled-code cache: keys, the entry format, damage detection, atomic concurrent writes,
graceful degradation on an unusable directory, info/clear, the CLI and directory resolution."""

from __future__ import annotations

import multiprocessing
import os
import warnings

import pytest

import graphc
from graphc import cli
from graphc import options as graphc_options
from graphc.options import Options, resolve_cache_dir
from graphc.runtime import cache as cache_module
from graphc.runtime.cache import HEADER_SIZE, CacheWarning, CodeCache, default_cache

PARTS = ("define void @k() { ret void }", "x86_64-unknown-linux-gnu", ("znver5", "+avx512f"),
         "0.1.0", Options(opt_level=3))


@pytest.fixture
def cache(tmp_path):
    return CodeCache(tmp_path / "cache")


@pytest.fixture
def restore_default_options():
    saved = graphc_options.default_options()
    yield
    graphc_options.set_default_options(saved)


# --- keys -----------------------------------------------------------------------------------
def test_key_is_stable_hex_sha256():
    key = CodeCache.key(*PARTS)
    assert len(key) == 64 and set(key) <= set("0123456789abcdef")
    assert CodeCache.key(*PARTS) == key
    # Pinned: the encoding must not drift between runs, processes or hash seeds. Changing it
    # on purpose means bumping FORMAT_VERSION and this value together.
    assert CodeCache.key("ir", b"\x00", 7, ("a", -1)) == (
        "2338f10805344305b19a38e86cb1571a1c19f2ffb4a1f3817db9678569927cdc")


@pytest.mark.parametrize("a, b", [
    (("ab", "c"), ("a", "bc")),           # where one part ends matters
    (("1",), (1,)),                       # str vs int
    (("1",), (b"1",)),                    # str vs bytes
    ((1,), (True,)),                      # int vs bool
    ((1,), (1.0,)),                       # int vs float
    ((0.0,), (-0.0,)),
    ((("a", "b"),), ("a", "b")),          # nesting matters
    (("a", "b"), ("b", "a")),             # order matters
    ((), ("",)),
    ((None,), ("",)),
    ((Options(opt_level=2),), (Options(opt_level=3),)),
    ((Options(fast_math=True),), (Options(fast_math=False),)),
])
def test_different_parts_give_different_keys(a, b):
    assert CodeCache.key(*a) != CodeCache.key(*b)


def test_key_refuses_parts_without_a_canonical_encoding():
    with pytest.raises(TypeError, match="set"):
        CodeCache.key({"a", "b"})
    with pytest.raises(TypeError, match="object"):
        CodeCache.key(object())


def test_malformed_keys_are_refused(cache):
    for bad in ("", "../etc/passwd", "A" * 64, "0" * 63, 5):
        with pytest.raises(ValueError, match="64 lowercase hex"):
            cache.load(bad)


# --- entries --------------------------------------------------------------------------------
def test_round_trip(cache):
    key = CodeCache.key(*PARTS)
    assert cache.load(key) is None
    cache.store(key, b"\x7fELF object code")
    assert cache.load(key) == b"\x7fELF object code"
    assert os.path.isfile(cache.path(key))
    cache.store(key, bytearray(b"rebuilt"))  # storing again replaces the entry
    assert cache.load(key) == b"rebuilt"
    empty = CodeCache.key("empty")
    cache.store(empty, b"")
    assert cache.load(empty) == b""


def test_store_refuses_non_bytes(cache):
    with pytest.raises(TypeError, match="bytes"):
        cache.store(CodeCache.key("x"), "text")


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


@pytest.mark.parametrize("damage", [
    lambda d: b"",
    lambda d: d[:HEADER_SIZE - 1],                # header cut short
    lambda d: d[:HEADER_SIZE + 10],               # payload cut short
    lambda d: d + b"x",                           # trailing garbage
    lambda d: flip(d, len(d) - 1),                # payload byte
    lambda d: flip(d, 0),                         # magic
    lambda d: flip(d, 12),                        # payload length
    lambda d: flip(d, HEADER_SIZE - 1),           # stored key
], ids=["empty", "short-header", "short-payload", "trailing", "payload-byte", "magic", "length",
        "key"])
def test_damaged_entry_is_a_miss_and_is_removed(cache, damage):
    key = CodeCache.key(*PARTS)
    payload = bytes(range(256)) * 4
    cache.store(key, payload)
    path = cache.path(key)
    with open(path, "rb") as f:
        good = f.read()
    with open(path, "wb") as f:
        f.write(damage(good))
    assert cache.load(key) is None
    assert not os.path.exists(path)
    cache.store(key, payload)  # the caller rebuilds and stores again
    assert cache.load(key) == payload


def test_entry_under_the_wrong_name_is_a_miss(cache):
    a, b = CodeCache.key("a"), CodeCache.key("b")
    cache.store(a, b"code for a")
    os.makedirs(os.path.dirname(cache.path(b)), exist_ok=True)
    os.replace(cache.path(a), cache.path(b))
    assert cache.load(b) is None


# --- concurrency ----------------------------------------------------------------------------
def store_and_load_many(directory: str, rounds: int) -> int:
    """Run in a spawned process: store and load one shared key, checking every read."""
    warnings.simplefilter("error", CacheWarning)  # a skipped store must fail the test
    cache = CodeCache(directory)
    key = CodeCache.key("shared")
    payload = bytes(range(256)) * 1024  # 256 KiB: big enough that a torn write would show
    for _ in range(rounds):
        cache.store(key, payload)
        loaded = cache.load(key)
        if loaded != payload:
            raise AssertionError(f"read {None if loaded is None else len(loaded)} bytes, "
                                 f"expected {len(payload)}")
    return rounds


def test_two_processes_share_one_key(tmp_path):
    directory = str(tmp_path / "shared")  # not created: both race to make the folders
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        done = pool.starmap(store_and_load_many, [(directory, 100)] * 2)
    assert done == [100, 100]
    cache = CodeCache(directory)
    assert cache.load(CodeCache.key("shared")) == bytes(range(256)) * 1024
    assert cache.info()["entries"] == 1  # no temporary files left behind, none counted
    assert [n for n in os.listdir(os.path.dirname(cache.path(CodeCache.key("shared"))))
            if n.startswith(".")] == []


# --- the whole cache ------------------------------------------------------------------------
def test_info_and_clear(cache):
    assert cache.info() == {"directory": cache.directory, "entries": 0, "bytes": 0,
                            "plans": 0, "plans_bytes": 0}
    assert cache.clear() == 0  # the directory does not exist yet
    keys = [CodeCache.key(i) for i in range(3)]
    for i, key in enumerate(keys):
        cache.store(key, b"x" * (10 * i))
    info = cache.info()
    assert info["entries"] == 3
    assert info["bytes"] == 3 * HEADER_SIZE + 0 + 10 + 20
    assert cache.clear() == 3
    assert cache.info()["entries"] == 0
    assert all(cache.load(k) is None for k in keys)
    cache.store(keys[0], b"again")  # usable after a clear
    assert cache.load(keys[0]) == b"again"


def test_clear_touches_only_cache_files(tmp_path):
    cache = CodeCache(tmp_path)
    (tmp_path / "notes.txt").write_text("keep")
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / "keep.txt").write_text("keep")
    fresh_temp = tmp_path / "ab" / ".abcdef-123.tmp"  # a store in progress elsewhere
    fresh_temp.write_bytes(b"partial")
    cache.store(CodeCache.key("x"), b"code")
    assert cache.clear() == 1
    assert (tmp_path / "notes.txt").exists() and (tmp_path / "ab" / "keep.txt").exists()
    assert fresh_temp.exists()
    os.utime(fresh_temp, (0, 0))  # now a leftover of a writer that died long ago
    assert cache.clear() == 0
    assert not fresh_temp.exists()


# --- an unusable directory ------------------------------------------------------------------
def test_directory_through_a_regular_file_degrades_with_one_warning(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cache = CodeCache(blocker / "cache")
    key = CodeCache.key(*PARTS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache.store(key, b"code")
        cache.store(key, b"code")
        CodeCache(blocker / "cache").store(CodeCache.key("other"), b"code")
    assert [w.category for w in caught] == [CacheWarning]
    assert "cannot write" in str(caught[0].message)
    assert cache.load(key) is None
    assert cache.info()["entries"] == 0 and cache.clear() == 0


def test_read_only_directory_degrades(tmp_path):
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o500)
    try:
        if os.access(directory, os.W_OK):
            pytest.skip("running as root: permission bits do not stop writes (see the "
                        "regular-file test)")
        with pytest.warns(CacheWarning, match="cannot write"):
            CodeCache(directory).store(CodeCache.key("x"), b"code")
    finally:
        directory.chmod(0o700)


def test_warning_state_is_per_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for name in ("a", "b"):
        with pytest.warns(CacheWarning):
            CodeCache(blocker / name).store(CodeCache.key(name), b"code")
    assert str(blocker / "a") in cache_module._warned_dirs


# --- the command line -----------------------------------------------------------------------
def parse_lines(text: str) -> dict:
    return dict(line.split(": ", 1) for line in text.strip().splitlines())


def test_cli_info_and_clear(tmp_path, capsys):
    cache = CodeCache(tmp_path)
    cache.store(CodeCache.key("a"), b"12345")
    cache.store(CodeCache.key("b"), b"")
    os.makedirs(tmp_path / "plans")
    (tmp_path / "plans" / ("ab" * 32 + ".bin")).write_bytes(b"1234")  # a stored plan's
    assert cli.main(["cache", "info", "--dir", str(tmp_path)]) == 0
    assert parse_lines(capsys.readouterr().out) == {
        "location": str(tmp_path), "entries": "3", "bytes": str(2 * HEADER_SIZE + 5 + 4),
        "stored plans": "1 (4 bytes of constants)"}
    assert cli.main(["cache", "clear", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"removed 3 entries from {tmp_path}\n"
    assert cli.main(["cache", "info", "--dir", str(tmp_path)]) == 0
    assert parse_lines(capsys.readouterr().out)["entries"] == "0"


def test_cli_uses_the_resolved_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "from-env"))
    assert cli.main(["cache", "info"]) == 0
    assert parse_lines(capsys.readouterr().out)["location"] == str(tmp_path / "from-env")


def test_cli_cache_without_action_prints_usage(capsys):
    assert cli.main(["cache"]) == 2
    assert "info" in capsys.readouterr().out


# --- where the cache lives ------------------------------------------------------------------
def test_resolve_cache_dir_precedence(tmp_path, monkeypatch, restore_default_options):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GRAPHC_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert resolve_cache_dir() == str(tmp_path / "home" / ".cache" / "graphc")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/xdg")  # invalid per the spec: ignored
    assert resolve_cache_dir() == str(tmp_path / "home" / ".cache" / "graphc")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_cache_dir() == str(tmp_path / "xdg" / "graphc")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", "")  # empty counts as unset
    assert resolve_cache_dir() == str(tmp_path / "xdg" / "graphc")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "env"))
    assert resolve_cache_dir() == str(tmp_path / "env")
    assert resolve_cache_dir(Options()) == str(tmp_path / "env")
    graphc.set_default_options(Options(cache_dir=str(tmp_path / "default")))
    assert resolve_cache_dir() == str(tmp_path / "default")
    assert resolve_cache_dir(Options(cache_dir=str(tmp_path / "opt"))) == str(tmp_path / "opt")
    assert default_cache(Options(cache_dir=str(tmp_path / "opt"))).directory == str(
        tmp_path / "opt")


def test_resolve_cache_dir_expands_and_absolutizes(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert resolve_cache_dir(Options(cache_dir="~/c")) == str(tmp_path / "c")
    assert resolve_cache_dir(Options(cache_dir="rel")) == str(tmp_path / "rel")
