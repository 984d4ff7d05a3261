"""check: the compiled program against the reference target, value by value, and on a
disagreement the pass that caused it.

    graphc.check(fetches, feed_dict) -> CheckReport        (graphc check script.py)

Values compared: the fetches, every value the LLVM plan writes to a buffer between kernels
(fetched as the user's node it stands for: a value with a buffer anyway changes little of
the plan when fetched), and the variables as the run leaves them. Both targets start from
the same variable values and the same random draws (unseeded random ops get a fixed seed).
The first disagreement in the graph's order is reported, later ones usually follow from it;
where a kernel computes several of the user's ops, they are fetched one by one to name the
first that disagrees.

Then the culprit is bisected: the same values at -O0 (no passes); if they still disagree,
the fault is after the passes: "fusion" when -O0 without fusion (Options.fuse=False)
agrees, else "lowering/codegen". Otherwise the selected passes are bisected by prefix
(options.disable_passes leaves the others out) to the first prefix that disagrees: its last
pass is the culprit, reported with the rules it fired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from graphc.ir.node import topo_sort
from graphc.runtime.state import RuntimeState
from graphc.tools.compare import Difference, compare
from graphc.tools.request import Request, initial_variables, resolve

# nodes whose values are inputs, not computed: never worth a probe
_SOURCES = ("placeholder", "constant", "variable", "read")


@dataclass
class CheckReport:
    ok: bool
    compared: int  # values compared in the run as optimized
    differences: list  # Difference per disagreeing value, in graph order
    first: Optional[Difference] = None  # the value reported: the first that disagrees
    inside: Optional[Difference] = None  # when `first` was found inside its kernel: that value
    culprit: Optional[str] = None  # a pass name, "fusion" or "lowering/codegen"
    rules: dict = field(default_factory=dict)  # rules the culprit pass fired
    trials: list = field(default_factory=list)  # (what was compiled, agreed) of the bisection
    opt_level: int = 2

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.ok:
            agree = "1 value agrees" if self.compared == 1 else f"{self.compared} values agree"
            return f"graphc check: ok, {agree} with the reference target (-O{self.opt_level})\n"
        lines = [f"graphc check: MISMATCH in {len(self.differences)} of {self.compared} "
                 f"value{'s' * (self.compared != 1)} (-O{self.opt_level}) against the "
                 "reference target",
                 f"  first: {self.first}"]
        if self.inside is not None:
            lines.append(f"  (an op computed in the kernel of '{self.inside.name}', fetched "
                         "alone)")
        if self.culprit in ("fusion", "lowering/codegen"):
            lines.append(f"  culprit: {self.culprit} (-O0 disagrees too)")
        elif self.culprit:
            fired = ", ".join(f"{k} x{v}" for k, v in sorted(self.rules.items())) or "none"
            lines.append(f"  culprit: pass '{self.culprit}' (rules it fired: {fired})")
        if self.trials:
            lines.append("  bisection: " + "; ".join(
                f"{what} {'agrees' if ok else 'disagrees'}" for what, ok in self.trials))
        return "\n".join(lines) + "\n"


def check(fetches, feed_dict=None, *, session=None, options=None, rtol: float = None,
          atol: float = None) -> CheckReport:
    """Run `fetches` fed `feed_dict` on the LLVM target and on the reference target and
    compare them value by value (see the module docstring). rtol / atol override the
    tolerances by dtype (graphc.tools.compare.TOLERANCES); ints and bools compare exactly.
    Variables start from `session`'s values where given, else from their initializers;
    neither the session nor the graph is changed."""
    request = resolve(fetches, feed_dict, session, options)
    runs = _Runs(request, rtol, atol)
    trace: dict = {}
    nodes = list(dict.fromkeys(request.nodes + _probes(request, trace)))
    differences, compared = runs.differences(nodes, request.options)
    report = CheckReport(not differences, compared, differences,
                         opt_level=request.options.opt_level)
    if differences:
        report.first = _narrow(runs, request, trace, differences[0])
        if report.first is not differences[0]:
            report.inside = differences[0]
        report.culprit, report.trials = _bisect(runs, nodes, request.options)
        report.rules = _rules_fired(request, nodes, report.culprit)
    return report


class _Runs:
    """Runs on either target from the same starting state; reference values are cached."""

    def __init__(self, request: Request, rtol, atol):
        self.request, self.rtol, self.atol = request, rtol, atol
        self.variables = initial_variables(request)
        self.reference: dict = {}

    def run(self, target: str, nodes: list, options) -> dict:
        """{node or variable: value} after one run of `nodes` on `target`."""
        from graphc.runtime.targets import make_executor
        state = _SeededState()
        state.variables = {k: np.array(v, copy=True) for k, v in self.variables.items()}
        executor = make_executor(target, state, options, self.request.describe)
        values = executor.run(nodes, dict(self.request.feeds))
        out = {n: v for n, v in zip(nodes, values) if n.dtype is not None}
        assigned = {n.inputs[0] for n in topo_sort(nodes) if n.op.name == "assign"}
        out.update((v, state.variables[v]) for v in assigned if v in state.variables)
        return out

    def expected(self, nodes: list) -> dict:
        missing = [n for n in nodes if n not in self.reference]
        if missing:
            self.reference.update(self.run("reference", missing, self.request.options))
        return self.reference

    def differences(self, nodes: list, options) -> tuple:
        """(the Differences in graph order, the number of values compared)."""
        actual = self.run("llvm", nodes, options)
        expected = self.expected(nodes)
        order = {n: i for i, n in enumerate(topo_sort(nodes, stop=frozenset(
            self.request.feeds)))}
        keys = sorted(actual, key=lambda n: (n.op.name == "variable", order.get(n, 0)))
        found = []
        for key in keys:
            name, where = self.request.name_and_location(key)
            diff = compare(actual[key], expected[key], self.rtol, self.atol)
            if diff is not None:
                found.append(diff.named(key, name, where))
        return found, len(keys)


class _SeededState(RuntimeState):
    """Runtime state whose unseeded random ops draw from a seed of their own (their uid), so
    that both targets draw the same values. Its runs repeat the user's: they print nothing."""

    def __init__(self):
        super().__init__()
        self._fixed: dict = {}
        self.prints = False

    def rng(self, node) -> np.random.Generator:
        if None not in (node.attrs["seed"], node.attrs["seed2"]):
            return super().rng(node)
        if node not in self._fixed:
            self._fixed[node] = np.random.Generator(np.random.PCG64(node.attrs.get("uid", 0)))
        return self._fixed[node]


def _probes(request: Request, trace: dict) -> list:
    """The user's nodes whose values the LLVM plan writes to buffers (fills `trace`)."""
    from graphc.compiler import build_plan
    plan, _, _ = build_plan(request.nodes, request.fed_shapes, request.describe, 1,
                            request.options, trace=trace)
    user = set(topo_sort(request.nodes, stop=frozenset(request.feeds)))
    out = []
    for slot in plan.slots:
        node = trace["origin"].get(slot.node, slot.node) if slot.kind == "arena" else None
        if node in user and node.dtype is not None and node.op.name not in _SOURCES:
            out.append(node)
    return list(dict.fromkeys(out))


def _narrow(runs: _Runs, request: Request, trace: dict, first: Difference) -> Difference:
    """The first disagreeing of the user's ops in the kernel that computes `first`,
    fetched one by one; `first` itself when none of them disagrees alone."""
    from graphc.tools.fusion import FusedGraph
    if first.node.op.name == "variable" or not trace:
        return first
    origin = trace["origin"]
    fused = FusedGraph(trace, [])
    members = []
    for n in trace["order"]:
        if origin.get(n) is first.node:
            group = fused.group_of.get(n)
            members += group.members if group else [n]
    ops = [origin.get(n) for n in fused.contents(members)]
    ops = [u for u in dict.fromkeys(ops) if u is not None and u is not first.node
           and u.dtype is not None and u.op.name not in _SOURCES]
    if not ops:
        return first
    differences, _ = runs.differences(list(dict.fromkeys(request.nodes + ops)),
                                      request.options)
    for diff in differences:
        if diff.node in ops:
            return diff
    return first


def _bisect(runs: _Runs, nodes: list, options) -> tuple:
    """(culprit, trials): see the module docstring."""
    from graphc.passes.pipeline import passes_for
    trials = []

    def agrees(opts, what) -> bool:
        ok = not runs.differences(nodes, opts)[0]
        trials.append((what, ok))
        return ok

    names = [p.name for p in passes_for(options)]
    if not names or not agrees(options.replace(opt_level=0), "-O0"):
        if options.fuse and agrees(options.replace(opt_level=0, fuse=False),
                                   "-O0 without fusion"):
            return "fusion", trials
        return "lowering/codegen", trials
    good, bad = 0, len(names)  # prefixes of the passes: good agrees, bad does not
    while bad - good > 1:
        mid = (good + bad) // 2
        prefix = options.replace(disable_passes=tuple(options.disable_passes) + tuple(
            names[mid:]))
        if agrees(prefix, f"passes up to {names[mid - 1]}"):
            good = mid
        else:
            bad = mid
    return names[bad - 1], trials


def _rules_fired(request: Request, nodes: list, culprit: Optional[str]) -> dict:
    """The rules the culprit pass fired on the graph as compared."""
    from graphc.passes.pipeline import PASS_NAMES, run_pipeline
    from graphc.passes.specialize import specialize
    if culprit not in PASS_NAMES:
        return {}
    spec, origin = specialize(nodes, request.fed_shapes, request.describe)
    records = run_pipeline(spec, origin, request.options, stop_after=culprit).records
    return dict(records[-1].fired) if records else {}
