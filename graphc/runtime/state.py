"""What a Session keeps between runs: variable values and random generators."""

from __future__ import annotations

import numpy as np

from graphc.ir.node import Node


class RuntimeState:
    def __init__(self):
        self.variables: dict[Node, np.ndarray] = {}
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
