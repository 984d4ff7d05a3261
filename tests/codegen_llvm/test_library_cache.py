"""The shared library's cache key: the source of the code that writes its IR, so a warm
cache loads it without rendering the IR, and any change to that source (or to llvmlite)
gives another key."""

from __future__ import annotations

import pytest

from graphc.codegen_llvm import library
from graphc.runtime.cache import CodeCache


@pytest.fixture
def fresh(monkeypatch):
    library.library_object.cache_clear()
    yield
    library.library_object.cache_clear()


def test_a_warm_cache_loads_the_library_without_rendering_its_ir(tmp_path, monkeypatch,
                                                                 fresh):
    cache = CodeCache(str(tmp_path))
    first = library.library_object(cache)
    library.library_object.cache_clear()

    def no_render(*args, **kwargs):
        raise AssertionError("the library's IR was rendered")
    monkeypatch.setattr(library, "library_ir", no_render)
    assert library.library_object(cache) == first


def test_the_key_follows_the_source(tmp_path, monkeypatch, fresh):
    cache = CodeCache(str(tmp_path))
    library.library_object(cache)
    library.library_object.cache_clear()
    assert len(list(cache._entries())) == 1
    monkeypatch.setattr(library, "_source_digest", lambda: "another source")
    library.library_object(cache)  # a miss: compiled again, stored under a second key
    assert len(list(cache._entries())) == 2


def test_unreadable_sources_key_by_the_ir(tmp_path, monkeypatch, fresh):
    cache = CodeCache(str(tmp_path))
    monkeypatch.setattr(library, "_source_digest", lambda: None)
    rendered = []
    real = library.library_ir
    monkeypatch.setattr(library, "library_ir",
                        lambda *a, **k: rendered.append(1) or real(*a, **k))
    library.library_object(cache)
    assert rendered  # the IR is the key (and compiled once: rendered for the key only)


def test_the_digest_covers_every_module_of_the_package():
    digest = library._source_digest()
    assert isinstance(digest, str) and len(digest) == 32
    assert library._source_digest() == digest


def test_each_part_is_its_own_entry(tmp_path, fresh):
    cache = CodeCache(str(tmp_path))
    runtime = library.library_object(cache, "runtime")
    narrow = library.library_object(cache, "gemm_narrow_f64")
    assert runtime != narrow
    assert len(list(cache._entries())) == 2
    assert b"graphc_parallel_for" in runtime and b"graphc_parallel_for" not in narrow


def test_an_unknown_part_is_named():
    with pytest.raises(ValueError, match=r"unknown library parts \['gemm_f16'\]; the parts "
                                         r"are \['runtime', 'gemm_f32'"):
        library.library_ir(parts=("gemm_f16",))


def test_a_plan_calls_the_parts_it_names():
    text = ('declare void @"graphc_gemm_narrow_f64"(i64 %M)\n'
            'declare void @"graphc_parallel_for"(ptr %f)\n')
    assert library.parts_called([text]) == ("runtime", "gemm_narrow_f64")
    assert library.parts_called([b"\0graphc_gemm_f32\0", b""]) == ("runtime", "gemm_f32")
    assert library.parts_called([]) == ("runtime",)


_PARTS_LOADED = """
import numpy as np, graphc as tf
from graphc.codegen_llvm import library
dtype = {dtype!r}
a = tf.placeholder(dtype, (None, 64))
y = tf.matmul(a, tf.constant(np.ones((64, {cols}), dtype)))
with tf.Session() as s:
    s.run(y, {{a: np.ones((8, 64), dtype)}})
print(sorted(p for p in library.PARTS if p in library._LOADED))
"""


@pytest.mark.parametrize("dtype, cols, parts", [
    ("float32", 64, ["gemm_f32", "runtime"]),
    ("float64", 64, ["gemm_f32", "gemm_f64", "runtime"]),
])
def test_a_process_loads_the_parts_its_plans_call(dtype, cols, parts):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", _PARTS_LOADED.format(dtype=dtype, cols=cols)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == str(parts)


def test_starting_a_load_does_not_wait_for_one_in_progress(monkeypatch):
    """begin_loading returns while another load holds the library's lock (compiling a part,
    about 1 s), so that a plan's compile is not held up behind the library's."""
    import threading
    calls, started = [], []
    monkeypatch.setattr(library, "library_loaded", lambda parts=(): False)
    monkeypatch.setattr(library, "load_library", lambda cache, parts: calls.append(parts))
    with library._LOCK:  # a load in progress
        starter = threading.Thread(target=lambda: started.append(
            library.begin_loading("cache", ("gemm_f64",))))
        starter.start()
        starter.join(timeout=30)
        assert not starter.is_alive() and len(started) == 1
    assert started[0].result(timeout=30) is None
    assert calls == [("gemm_f64",)]


_ALL_PARTS = """
from graphc.codegen_llvm import library
from graphc.codegen_llvm.gemm import narrow_blocking, thin_blocking, vector_width
from graphc.runtime.cache import default_cache
from graphc.options import Options
library.load_library(default_cache(Options()), tuple(library.PARTS))
assert library.library_loaded(tuple(library.PARTS))
thin = thin_blocking("f32", vector_width("f32")) is not None
narrow = narrow_blocking("f32", vector_width("f32")) is not None
assert ("gemm_thin_f32" in library._LOADED) == thin == library.has_code("gemm_thin_f32")
assert ("gemm_indirect_narrow_f32" in library._LOADED) == narrow
print(sorted(library._LOADED))
"""


def test_every_part_loads_where_this_cpu_has_its_code():
    # (an AVX2 machine has no thin tile: its part exports nothing and is skipped)
    import ast
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", _ALL_PARTS], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    loaded = set(ast.literal_eval(out.stdout))
    assert {"runtime", "gemm_f32", "gemm_f64", "gemm_narrow_f64"} <= loaded


def test_loading_an_unknown_part_is_named():
    with pytest.raises(ValueError, match=r"unknown library parts \['gemm_f16'\]"):
        library.load_library(None, ("gemm_f16",))
