"""cache (memory and file) and prefetch (its thread, errors, no leaks); the optional extra."""

from __future__ import annotations

import gc
import sys
import threading
import time

import numpy as np
import pytest

import graphc as tf
from graphc.data import Dataset


def counting(n: int, calls: list):
    def gen():
        calls.append(1)
        yield from range(n)
    return Dataset.from_generator(gen, tf.int64, [])


def test_memory_cache_reads_the_first_pass_again():
    calls = []
    ds = counting(4, calls).cache().repeat(3)
    assert list(map(int, ds)) == [0, 1, 2, 3] * 3
    assert len(calls) == 1
    calls.clear()
    partial = counting(4, calls).cache()
    two = partial.take(2).concatenate(partial)  # a partial pass is not kept
    assert list(map(int, two)) == [0, 1, 0, 1, 2, 3] and len(calls) == 2


def test_file_cache_is_reused_across_iterators(tmp_path):
    calls = []
    prefix = str(tmp_path / "cache")
    ds = counting(5, calls).map(lambda x: (x, tf.cast(x, tf.float32) / 2)).cache(prefix)
    first = [tuple(map(float, e)) for e in ds]
    assert len(calls) == 1 and (tmp_path / "cache.npz").exists()
    again = [tuple(map(float, e)) for e in ds]  # a new iterator: read from the file
    assert again == first and len(calls) == 1


def test_partial_and_stale_cache_files_are_ignored(tmp_path):
    calls = []
    prefix = str(tmp_path / "c")
    ds = counting(6, calls).cache(prefix)
    assert list(map(int, ds.take(3))) == [0, 1, 2]  # an unfinished pass writes nothing
    assert not (tmp_path / "c.npz").exists() and list(tmp_path.iterdir()) == []
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04 a truncated zip")
    assert list(map(int, ds)) == list(range(6)) and len(calls) == 2
    floats = Dataset.from_tensor_slices(np.arange(3.0)).cache(prefix)  # other specs: stale
    assert [float(v) for v in floats] == [0.0, 1.0, 2.0]
    assert list(map(int, ds)) == list(range(6)) and len(calls) == 3


def test_file_cache_of_strings(tmp_path):
    ds = Dataset.from_tensor_slices(np.array([b"a", b"bc"], dtype=object)).batch(2)
    prefix = str(tmp_path / "s")
    assert [e.tolist() for e in ds.cache(prefix)] == [[b"a", b"bc"]]
    assert [e.tolist() for e in ds.cache(prefix)] == [[b"a", b"bc"]]


def prefetch_threads() -> int:
    return sum(t.name == "graphc-data-prefetch" for t in threading.enumerate())


def wait_for_no_prefetch_threads(before: int) -> bool:
    for _ in range(100):
        gc.collect()
        if prefetch_threads() <= before:
            return True
        time.sleep(0.02)
    return False


def test_prefetch_order_and_producer_errors():
    assert list(map(int, Dataset.range(20).prefetch(3))) == list(range(20))

    def broken():
        yield 1
        raise RuntimeError("the generator broke")
    ds = Dataset.from_generator(broken, tf.int32, []).prefetch(2)
    it = iter(ds)
    assert int(next(it)) == 1
    with pytest.raises(RuntimeError, match="the generator broke"):
        next(it)


def test_prefetch_threads_stop_when_dropped_or_reinitialized():
    before = prefetch_threads()
    it = iter(Dataset.range(10**6).prefetch(2))
    next(it)
    assert prefetch_threads() == before + 1
    del it
    assert wait_for_no_prefetch_threads(before)
    iterator = Dataset.range(10**6).prefetch(1).make_initializable_iterator()
    nxt = iterator.get_next()
    with tf.Session() as sess:
        for _ in range(3):
            sess.run(iterator.initializer)
            assert sess.run(nxt) == 0
        assert wait_for_no_prefetch_threads(before + 1)  # only the latest pass's thread
    del sess
    assert wait_for_no_prefetch_threads(before)


def test_missing_extra_is_named(monkeypatch):
    from graphc.data import tfrecord
    monkeypatch.setitem(sys.modules, "google_crc32c", None)
    with pytest.raises(ImportError, match=r"optional extra graphc\[tf-formats\] \(pip install "
                                          r"'graphc\[tf-formats\]'\)"):
        tfrecord.masked_crc(b"x")
