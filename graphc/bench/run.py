"""The run: for each thread count, place the process, set every system's threads, then build,
check and time each case, graphc and its peers interleaved; the result is one JSON-ready
document (its schema is in docs/benchmarks.md, "JSON").

Machine limits are measured once per thread count, with the process placed as for the
workloads, and only when some case counts flops or bytes.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import tempfile
from dataclasses import dataclass, field

import numpy as np

from graphc.bench import machine
from graphc.bench.harness import CPU_TARGETS, Placement, measure
from graphc.bench.peers import graphc_systems
from graphc.bench.peers_optional import all_peers
from graphc.progress import Quiet
from graphc.progress import progress as progress_bar

SCHEMA = "graphc-bench/1"


@dataclass
class Settings:
    target: str = "llvm"
    threads: list = field(default_factory=lambda: [_allowed_cpus()])
    repeat: int = 10
    warmup: int = 2
    compare: list = field(default_factory=lambda: ["numpy"])
    size: str = "full"
    cold: bool = False  # compile into an empty code cache, so compile times are cold
    min_sample_s: float = 0.005
    fast_math: bool = False  # graphc's Options(fast_math=True)


def progress(message: str) -> None:
    """A line on stderr (errors: printed whether or not it is a terminal)."""
    print(message, file=sys.stderr, flush=True)


class Runner:
    def __init__(self, settings: Settings, command: str = ""):
        self.settings = settings
        self.placement = Placement()
        known = all_peers()
        self.peers = {name: known[name] for name in settings.compare}
        self.doc = {"schema": SCHEMA, "command": command,
                    "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                    "host": host_info(), "settings": vars(settings).copy(),
                    "placement": {}, "graphc": {"target": settings.target, "threads": {}},
                    "peers": {n: {"status": p.status(), "threads": {}}
                              for n, p in self.peers.items()},
                    "machine": [], "results": [], "errors": [], "unavailable": []}
        self._limits: dict = {}
        self._cache_dir = tempfile.mkdtemp(prefix="graphc-bench-") if settings.cold else None
        self._bar = Quiet()

    def active_peers(self) -> dict:
        return {n: p for n, p in self.peers.items() if self.doc["peers"][n]["status"] == "ok"}

    def limits(self, threads: int):
        """This machine's limits for `threads` threads (measured on first use)."""
        if threads not in self._limits:
            self._bar.set_description(f"measuring machine limits, {threads} thread(s)")
            limits = machine.measure(threads, small=self.settings.size == "small")
            self._limits[threads] = limits
            self.doc["machine"].append(limits.as_dict())
        return self._limits[threads]

    def run(self, cases: list, measure_machine_only: bool = False) -> dict:
        """Measure every case at every thread count; a progress bar on a terminal (stderr),
        nothing elsewhere but the errors."""
        total = len(cases) * len(self.settings.threads)
        self._bar = bar = progress_bar(total, "graphc bench", unit="case")
        try:
            with bar:
                for threads in self.settings.threads:
                    self._place(threads)
                    if measure_machine_only:
                        self.limits(threads)
                    for case in cases:
                        bar.set_description(f"{case.label}, {threads} thread(s)")
                        self.run_case(case, threads)
                        bar.update(1)
            for name, peer in self.active_peers().items():
                self.doc["peers"][name]["config"] = _safe(peer.config)
            self.doc["host"]["load_after"] = _load()
        finally:
            self.placement.restore()
            for peer in self.active_peers().values():
                _safe(peer.restore)
        return self.doc

    def _place(self, threads: int) -> None:
        self.doc["placement"][str(threads)] = self.placement.pin(threads)
        fast = ", fast_math=True" if self.settings.fast_math else ""
        self.doc["graphc"]["threads"][str(threads)] = f"Options(threads={threads}{fast})"
        for name, peer in self.active_peers().items():
            self.doc["peers"][name]["threads"][str(threads)] = _safe(peer.set_threads, threads)

    def run_case(self, case, threads: int) -> None:
        s = self.settings
        try:
            systems, session = graphc_systems(case, s.target, threads, self._cache_dir,
                                              s.fast_math)
        except Exception as err:  # reported in the output, the run goes on
            self._error(case, threads, "graphc", err)
            return
        for name, peer in self.active_peers().items():
            try:
                systems += peer.systems(case)
            except Exception as err:
                self._error(case, threads, name, err)
        agrees, diffs = check_agreement(systems, case)
        limits = self.limits(threads) if case.flops or case.bytes else None
        stats = measure(systems, s.repeat, s.warmup, s.min_sample_s)
        session.close()
        rows = [result_row(case, threads, system, stats[system.name],
                           limits if system.peer != "graphc" or s.target in CPU_TARGETS
                           else None, agrees.get(system.name), diffs.get(system.name))
                for system in systems]
        add_speedups(rows)
        self.doc["results"] += rows

    def _error(self, case, threads: int, system: str, err: Exception) -> None:
        message = f"{type(err).__name__}: {err}"
        progress(f"  {system} failed on {case.label}: {message}")
        self.doc["errors"].append({"case": case.label, "threads": threads, "system": system,
                                   "error": message})


def _safe(fn, *args):
    try:
        return fn(*args)
    except Exception as err:  # a peer's introspection must never stop the run
        return f"unknown ({type(err).__name__}: {err})"


def host_info() -> dict:
    import llvmlite
    import llvmlite.binding as llvm

    import graphc
    return {"cpu": llvm.get_host_cpu_name(), "cores": os.cpu_count(),
            "allowed_cpus": _allowed_cpus(), "machine": platform.machine(),
            "python": platform.python_version(), "graphc": graphc.__version__,
            "llvmlite": llvmlite.__version__, "numpy": np.__version__,
            "load_before": _load()}


def _allowed_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _load():
    """The 1-minute load average: other work on the machine, which makes timings noisy."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def check_agreement(systems: list, case) -> tuple:
    """({system name: whether one call's result matches graphc's}, {system name: the
    largest absolute difference}); systems not compared are left out. Training steps
    compare their first steps' results (the loss from the same weights)."""
    if not systems or (case.stateful and systems[0].first is None):
        return {}, {}

    def result(system):
        value = system.first if case.stateful else system.fn()
        if isinstance(value, (list, tuple)):  # several outputs (an ONNX model's), which
            # may differ in shape: compared as one flat vector
            return np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)) for v in value])
        return value
    try:
        ref = np.asarray(result(systems[0]), dtype=np.float64)
    except (TypeError, ValueError):
        return {}, {}
    answer, diffs = {}, {}
    for system in systems[1:]:
        if case.stateful and system.first is None:
            continue
        try:
            got = np.asarray(result(system), dtype=np.float64)
        except (TypeError, ValueError):
            continue
        scale = float(np.abs(ref).max()) if ref.size else 1.0
        same_shape = got.shape == ref.shape
        answer[system.name] = bool(same_shape and np.allclose(
            got, ref, rtol=2e-3, atol=2e-3 * max(scale, 1.0), equal_nan=True))
        if same_shape and ref.size:
            diffs[system.name] = float(np.nanmax(np.abs(got - ref)))
    return answer, diffs


def result_row(case, threads: int, system, stats, limits, agrees, diff=None) -> dict:
    median = stats.median
    gflops = case.flops / median / 1e9 if case.flops else None
    gbs = case.bytes / median / 1e9 if case.bytes else None
    fraction = None
    if limits is not None:
        fraction = gflops / limits.fma_gflops if gflops else gbs / limits.copy_gbs
    return {"case": case.label, "workload": case.workload, "threads": threads,
            "system": system.name, "peer": system.peer, "outputs": system.outputs,
            "compile_s": system.compile_s, **stats.as_dict(), "latency": case.latency,
            "flops": case.flops, "bytes": case.bytes, "gflops": gflops, "gbs": gbs,
            "peak_fraction": fraction, "graphc_speedup": None, "agrees_with_graphc": agrees,
            "max_abs_diff": diff}


def add_speedups(rows: list) -> None:
    """Each peer row's time over graphc's (its out= row for reused outputs, if any): the
    median over rounds of the two systems' times in the same round (measure interleaves
    them round by round), so a machine that gets slower or faster during the run changes
    both sides of each ratio alike; the ratio of medians where rounds are missing."""
    graphc = {r["outputs"]: r for r in rows if r["peer"] == "graphc"}
    fallback = graphc.get("fresh") or graphc.get("in place")
    for row in rows:
        if row["peer"] != "graphc":
            ref = graphc.get(row["outputs"]) or fallback
            if ref is None or ref["median_s"] <= 0:
                continue
            mine, theirs = row.get("rounds_s") or [], ref.get("rounds_s") or []
            if mine and len(mine) == len(theirs) and min(theirs) > 0:
                row["graphc_speedup"] = float(np.median([a / b for a, b in
                                                         zip(mine, theirs)]))
            else:
                row["graphc_speedup"] = row["median_s"] / ref["median_s"]
