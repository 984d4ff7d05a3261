"""The primitive record and the table it is registered in (the package's families register
into it on import; graphc.ir.ops re-exports both)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

FUSION_KINDS = ("source", "elementwise", "injective", "reduce", "opaque", "effect")


@dataclass(frozen=True, eq=False)
class Primitive:
    name: str
    kind: str
    arity: Optional[int]  # exact number of inputs; None = variadic (at least min_inputs)
    dtype_rule: Callable  # (inputs, attrs) -> DType | None
    shape_rule: Callable  # (inputs, attrs) -> shape; inputs have known rank unless flagged
    reference: Optional[Callable]  # (*arrays, **attrs) -> np.ndarray; None: runtime state op
    stateful: bool = False
    handles_unknown_rank: bool = False
    min_inputs: int = 0
    max_inputs: Optional[int] = None  # with arity=None: an upper bound, if any
    doc: str = ""

    @property
    def arity_range(self) -> range:
        if self.arity is not None:
            return range(self.arity, self.arity + 1)
        return range(self.min_inputs, (self.max_inputs if self.max_inputs is not None
                                        else 1 << 30) + 1)

    def __repr__(self) -> str:
        return f"<Primitive {self.name} ({self.kind})>"


PRIMITIVES: dict[str, Primitive] = {}


def register(prim: Primitive) -> Primitive:
    if prim.kind not in FUSION_KINDS:
        raise ValueError(f"primitive {prim.name}: unknown fusion kind {prim.kind!r}")
    if prim.name in PRIMITIVES:
        raise ValueError(f"primitive {prim.name} is already registered")
    PRIMITIVES[prim.name] = prim
    return prim


def get(name: str) -> Primitive:
    try:
        return PRIMITIVES[name]
    except KeyError:
        raise KeyError(f"unknown primitive {name!r}") from None
