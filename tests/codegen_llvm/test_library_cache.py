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

    def no_render(*args):
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
    monkeypatch.setattr(library, "library_ir", lambda *a: rendered.append(1) or real(*a))
    library.library_object(cache)
    assert rendered  # the IR is the key (and compiled once: rendered for the key only)


def test_the_digest_covers_every_module_of_the_package():
    digest = library._source_digest()
    assert isinstance(digest, str) and len(digest) == 32
    assert library._source_digest() == digest
