"""The fuzzer's generator: random Programs (fuzz_program) over graphc's whole primitive table.

Each program is built step by step in a scratch graph, so every step's shape and dtype are
the ones graphc infers. The generator keeps, per value, whether it is *exact* (bit for bit
the same on every target: fed values, constants, and exact ops of exact values such as
views, negation, max, integer arithmetic and comparisons) and a bound on its magnitude.
Discontinuous ops (floor, round, sign, comparisons, casts to int, argmax) only read exact
values, so a rounding difference in a GEMM can never flip a comparison into a false alarm;
smooth float ops read anything, with their domains kept safe (log(|x| + 0.5), exp of bounded
values).

Families drawn: elementwise float math (unary, binary with broadcasting, python scalars),
integer and bool arithmetic, comparisons, select, casts, reductions over one or several
axes, views and data movement (reshape, transpose, expand/squeeze, slice, strided slice,
reverse, concat, stack, split, tile, pad, broadcast_to, gather, one_hot), matmuls with every
transpose combination, shared operands (a @ a^T), batches, sums of products, row ops
(softmax, log_softmax) and activations, and the compositions of extra_ops (cumsum, cumprod,
gather_nd, scatter_nd, tensor_scatter_nd_add, top_k, in_top_k: fuzz_ops_extra), and sparse
ops (to_dense, sparse_dense_matmul, unsorted_segment_sum: fuzz_ops_sparse). Then a
scalar loss over the float outputs and its gradients with respect to every float input, and
for a share of programs second derivatives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphc.tools.fuzz_program import FLOATS, Input, Program, Step, apply

MAX_ELEMENTS = 1 << 18  # per value: programs stay quick to run on the reference


def _check_cap(what: str, shape: tuple) -> None:
    """A ValueError (the generator draws again) for a value over MAX_ELEMENTS elements."""
    size = int(np.prod(shape, dtype=np.int64))
    if size > MAX_ELEMENTS:
        raise ValueError(f"{what} of shape {list(shape)} ({size} elements) is over the cap")


@dataclass
class Val:
    index: int
    tensor: object
    dtype: str
    shape: tuple
    exact: bool
    bound: float


class Generator:
    """Draws one program from `seed`; `large` uses sizes at which graphc uses threads."""

    def __init__(self, tf, seed: int, large: bool = False, steps: int = None):
        self.tf, self.seed = tf, seed
        self.rng = np.random.default_rng(seed)
        self.large = large
        self.steps = steps if steps is not None else int(self.rng.integers(4, 16))
        dims = [1, 2, 3, 4, 5] if not large else [1, 3, 67, 130, 300]
        self.dims = sorted(set(self.rng.choice(dims, size=3, replace=False).tolist()))
        self.float = str(self.rng.choice(FLOATS, p=[0.7, 0.3]))
        self.values: list = []
        self.pool: list = []
        self.variables: list = []

    # --- values -----------------------------------------------------------------------
    def shape(self, rank=None) -> tuple:
        """A random shape of at most MAX_ELEMENTS elements."""
        rank = int(self.rng.integers(0, 4)) if rank is None else rank
        for _ in range(8):
            shape = tuple(int(self.rng.choice(self.dims)) for _ in range(rank))
            if np.prod(shape, dtype=np.int64) <= MAX_ELEMENTS:
                return shape
        # large dims only (a rank-3 shape of 67..300 can exceed the cap): ones but the last
        return (1,) * (rank - 1) + (int(self.rng.choice(self.dims)),)

    def array(self, dtype: str, shape: tuple) -> np.ndarray:
        if dtype in ("int32", "int64"):
            return self.rng.integers(-6, 7, size=shape).astype(dtype)
        if dtype in ("int8", "uint8", "int16", "uint16"):  # the whole range: they wrap
            info = np.iinfo(dtype)
            return self.rng.integers(info.min, info.max, size=shape, endpoint=True,
                                     dtype=dtype)
        if dtype == "bool":
            return self.rng.random(shape) < 0.5
        return self.rng.standard_normal(shape).astype(dtype)

    def feed(self, dtype: str, shape: tuple) -> Val:
        _check_cap("a feed", shape)
        value = np.asarray(self.array(dtype, shape))
        self.values.append(Input(dtype, value))
        i = len(self.values) - 1
        t = self.tf.placeholder(getattr(self.tf, dtype), list(shape), name=f"v{i}")
        return self._add(i, t, True, 4.0 if dtype in FLOATS else 6.0)

    def constant(self, dtype: str, shape: tuple) -> Val:
        _check_cap("a constant", shape)
        return self.step(Step("constant", (self.array(dtype, shape),)), True,
                         4.0 if dtype in FLOATS else 6.0)

    def step(self, step: Step, exact: bool, bound: float):
        t = apply(self.tf, step, self._tensors())
        if t.shape.is_fully_defined():
            _check_cap(step.fn, tuple(t.shape.as_list()))
        self.values.append(step)
        return self._add(len(self.values) - 1, t, exact, bound)

    def _tensors(self) -> list:
        out = [None] * len(self.values)
        for v in self.pool:
            out[v.index] = v.tensor
        return out

    def _add(self, i, t, exact, bound) -> Val:
        val = Val(i, t, t.dtype.name, tuple(t.shape.as_list()), exact, float(bound))
        self.pool.append(val)
        return val

    def pick(self, pred=lambda v: True, prefer_recent=True):
        """A pool value satisfying pred (recent values more likely), or None."""
        cands = [v for v in self.pool if pred(v)]
        if not cands:
            return None
        if prefer_recent and self.rng.random() < 0.6:
            cands = cands[-4:]
        return cands[int(self.rng.integers(len(cands)))]

    # --- the program (fuzz_ops_array.draw_program draws it) -------------------------------
    def outputs(self) -> list:
        """The values nothing else reads (the graph's leaves), plus a few inner ones."""
        read = {r for i in range(len(self.values)) for r in
                Program(self.values, []).refs(i)}
        computed = [v.index for v in self.pool if isinstance(self.values[v.index], Step)
                    and self.values[v.index].fn not in ("constant", "Variable")]
        leaves = [i for i in computed if i not in read]
        inner = [i for i in computed if i in read and self.rng.random() < 0.2]
        return sorted(set(leaves + inner)) or computed[-1:]
