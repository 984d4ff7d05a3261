"""The L1 pass pipeline: every graph-level pass, in the order it runs, and the one function
that runs them.

Each pass is a pure function `(roots, origin, options) -> Rewritten`: new roots of the same
dtypes and shapes, and the provenance of the new graph (every rewritten node maps to the
user's node it stands for, so errors still name the user's op). `options.opt_level` picks
the passes (a pass runs from its `level` up: -O0 none, -O1 the exact clean-ups, -O2 and -O3
everything), `options.disable_passes` leaves named ones out, and `options.fast_math` adds
the rules that assume no nan, inf or signed zeros. With `options.debug` the verifier runs
after every pass.

`run_pipeline` records, per pass: its name, wall time, node counts before and after, and
how often each rule fired; it can stop after a named pass or a number of passes (to bisect
a wrong result to the pass that caused it) and keep the IR text before and after named
passes. The compile driver (graphc/compiler/driver.py) runs it after specialize.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Union

from graphc.ir.node import topo_sort
from graphc.ir.printer import format_nodes
from graphc.ir.rewrite import RewriteError
from graphc.ir.verify import verify
from graphc.passes.canonicalize import canonicalize
from graphc.passes.dce import dce
from graphc.passes.fold_constants import fold_constants
from graphc.passes.layout import layout
from graphc.passes.simplify import simplify, stabilize


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable  # (roots, origin, options) -> Rewritten
    level: int  # the lowest opt level that runs it

    @property
    def summary(self) -> str:
        """The first line of the docstring of the pass's module."""
        doc = (sys.modules[self.run.__module__].__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


PASSES = (
    Pass("canonicalize", canonicalize, 1),  # exact: one spelling per computation
    Pass("fold_constants", fold_constants, 1),  # exact: the numpy reference computes it
    Pass("layout", layout, 2),  # moves data: channels-last convolutions, transposes cancelled
    Pass("simplify", simplify, 2),  # IEEE-exact algebra (fast-math rules on request)
    Pass("stabilize", stabilize, 2),  # more accurate forms of the same functions
    Pass("dce", dce, 1),  # exact: control dependencies only on effects
)
PASS_NAMES = tuple(p.name for p in PASSES)


def passes_for(options) -> list:
    """The passes `options` select, in pipeline order."""
    disabled = set(getattr(options, "disable_passes", ()))
    return [p for p in PASSES if p.level <= options.opt_level and p.name not in disabled]


@dataclass
class PassRecord:
    """What one pass did."""

    name: str
    seconds: float
    nodes_before: int
    nodes_after: int
    fired: dict  # rule name -> times it fired
    before: Optional[str] = None  # the IR text, when the pass was asked to be dumped
    after: Optional[str] = None


@dataclass
class PipelineResult:
    roots: tuple
    origin: dict
    records: list = field(default_factory=list)

    def report(self) -> str:
        """One line per pass: time, node counts and the rules that fired."""
        lines = []
        for r in self.records:
            rules = ", ".join(f"{k} x{v}" for k, v in sorted(r.fired.items())) or "-"
            lines.append(f"{r.name:<15} {r.seconds * 1e3:8.2f} ms  {r.nodes_before:5d} -> "
                         f"{r.nodes_after:5d} nodes  {rules}")
        return "\n".join(lines)


def run_pipeline(roots: Sequence, origin: Optional[dict], options,
                 stop_after: Union[str, int, None] = None, dump=()) -> PipelineResult:
    """Run the passes `options` select on the graph of `roots`.

    stop_after: a pass name (run up to and including it) or a count of selected passes.
    dump: pass names (or "all") whose IR before and after is kept in their records.
    """
    selected = passes_for(options)
    if isinstance(stop_after, str):
        names = [p.name for p in selected]
        if stop_after not in names:
            raise ValueError(f"stop_after={stop_after!r} is not a selected pass; the selected "
                             f"passes are {names}")
        selected = selected[:names.index(stop_after) + 1]
    elif stop_after is not None:
        selected = selected[:stop_after]
    roots, origin = tuple(roots), dict(origin or {})
    result = PipelineResult(roots, origin)
    count = len(topo_sort(roots))
    for p in selected:
        keep = dump == "all" or p.name in dump
        before = format_nodes(roots) if keep else None
        start = time.perf_counter()
        out = p.run(roots, origin, options)
        seconds = time.perf_counter() - start
        _check_roots(p.name, roots, out.roots)
        if options.debug:
            verify(out.roots)
        after_count = len(topo_sort(out.roots))
        result.records.append(PassRecord(p.name, seconds, count, after_count, dict(out.fired),
                                         before, format_nodes(out.roots) if keep else None))
        roots, origin, count = out.roots, out.origin, after_count
    result.roots, result.origin = roots, origin
    return result


def _check_roots(name: str, old, new) -> None:
    if len(old) != len(new):
        raise RewriteError(f"pass {name} returned {len(new)} roots for {len(old)}")
    for a, b in zip(old, new):
        if a.dtype is not b.dtype or a.shape != b.shape:
            raise RewriteError(f"pass {name} changed the root {a!r} into {b!r}")
