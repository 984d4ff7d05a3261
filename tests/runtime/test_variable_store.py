"""The session's variable store (runtime/state.py): a version per value, read-only arrays."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.runtime.state import VariableStore


def test_every_change_gives_a_new_version():
    store = VariableStore({"a": np.zeros(3)})
    first = store.version("a")
    assert first is not None and store.version("b") is None
    store["a"] = np.ones(3)
    second = store.version("a")
    assert second != first
    store.touch("a")
    third = store.version("a")
    assert third not in (first, second)
    store.update({"a": np.ones(3)}, b=np.ones(2))
    assert store.version("a") not in (first, second, third) and store.version("b") is not None
    assert store.setdefault("c", np.zeros(1)).shape == (1,) and store.version("c") is not None
    del store["c"]
    assert store.version("c") is None and "c" not in store
    store.pop("b")
    assert store.version("b") is None
    store.clear()
    assert store.version("a") is None and not store


def test_values_are_read_only_except_between_writable_and_touch():
    store = VariableStore()
    store["a"] = np.zeros(3)
    with pytest.raises(ValueError, match="read-only"):
        store["a"][0] = 1.0
    before = store.version("a")
    array = store.writable("a")
    array[0] = 2.0
    store.touch("a")
    assert store.version("a") != before and store["a"][0] == 2.0
    with pytest.raises(ValueError, match="read-only"):
        store["a"][1] = 1.0


def test_a_view_of_read_only_memory_is_written_through_a_copy():
    base = np.zeros(4)
    base.flags.writeable = False
    store = VariableStore()
    store["a"] = base[:2]
    array = store.writable("a")
    array[:] = 5.0
    store.touch("a")
    np.testing.assert_array_equal(store["a"], [5.0, 5.0])
    np.testing.assert_array_equal(base, np.zeros(4))
