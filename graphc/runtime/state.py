"""What a Session keeps between runs: variable values and random generators."""

from __future__ import annotations

import itertools

import numpy as np

from graphc.ir.node import Node


class RuntimeState:
    def __init__(self):
        self.variables: dict[Node, np.ndarray] = VariableStore()
        self._rngs: dict[Node, np.random.Generator] = {}
        self.host: dict = {}  # host-side state of the session's iterators (runtime/host.py)
        self.prints = True  # print nodes write (graphc check's repeated runs do not)

    def rng(self, node: Node) -> np.random.Generator:
        """The generator of one random node, seeded from its (seed, seed2) attributes, or
        from the operating system when they are None (an unseeded op: new in each Session)."""
        gen = self._rngs.get(node)
        if gen is None:
            seeds = node.attrs["seed"], node.attrs["seed2"]
            seq = np.random.SeedSequence(None if None in seeds else list(seeds))
            gen = self._rngs[node] = np.random.Generator(np.random.PCG64(seq))
        return gen


_VERSIONS = itertools.count(1)  # never reused, so a version names one value of one variable


class VariableStore(dict):
    """variable node -> its value, with a version that changes whenever the value may have:
    on every entry set (load, restore, a run's commit of a new shape) and on every touch
    (a run that wrote the array in place). What is derived from a value and kept between
    runs (a plan's prepacked copy of a weight, codegen_llvm/prepack.py) is valid while the
    version it was made from is current.

    The arrays are read-only to numpy, so a value changes only through this store: a write
    that would bypass it fails loudly instead of leaving derived copies stale. Compiled
    code writes a variable's array through its address (a commit); the executor touches the
    variable then, and rewrites an array in place only inside `writable`."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self._versions: dict = {}
        self.update(*args, **kwargs)

    def version(self, var):
        """The current version of var's value, or None when it has none."""
        return self._versions.get(var)

    def touch(self, var) -> None:
        """var's array was written in place (a run's commit, or after writable(var))."""
        array = dict.get(self, var)
        if array is not None:
            if isinstance(array, np.ndarray):
                array.flags.writeable = False
            self._versions[var] = next(_VERSIONS)

    def writable(self, var) -> np.ndarray:
        """var's array, writeable until the next touch(var), which the writer must make."""
        array = dict.__getitem__(self, var)
        try:
            array.flags.writeable = True
        except ValueError:  # a view of read-only memory: the value moves to a copy
            array = array.copy()
            dict.__setitem__(self, var, array)
        return array

    def __setitem__(self, var, value) -> None:
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
        dict.__setitem__(self, var, value)
        self._versions[var] = next(_VERSIONS)

    def __delitem__(self, var) -> None:
        dict.__delitem__(self, var)
        del self._versions[var]

    def pop(self, var, *default):
        self._versions.pop(var, None)
        return dict.pop(self, var, *default)

    def popitem(self):
        var, value = dict.popitem(self)
        self._versions.pop(var, None)
        return var, value

    def clear(self) -> None:
        dict.clear(self)
        self._versions.clear()

    def setdefault(self, var, default=None):
        if not dict.__contains__(self, var):
            self[var] = default
        return dict.__getitem__(self, var)

    def update(self, *args, **kwargs) -> None:
        for var, value in dict(*args, **kwargs).items():
            self[var] = value
