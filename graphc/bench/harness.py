"""Timing: warm-up, interleaved repetitions, robust statistics, and thread placement.

Contract of `measure`: every system is warmed up `warmup` times, then timed in `repeat`
rounds; in each round every system runs one sample, in an order rotated by one each round,
so slow drift of the machine (other load, clock changes) falls on all systems alike. A
sample is `calls` back-to-back calls, `calls` chosen per system so that a sample lasts at
least `min_sample_s` (1 for anything slower than that; many for a dispatch benchmark), and
its time is divided by `calls`. Before each sample the process waits until its threads are
idle (`settle`): a peer's worker threads that spin after a call would otherwise take the CPU
from whatever is timed next. Reported: the median, min, max and quartiles of the per-call
seconds, CPU seconds of the whole process over wall seconds while the system ran (about 1
for one thread, up to N with N busy threads; time spent waiting counts in wall only), and the
median CPU seconds per call.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


@dataclass
class System:
    """One contender on one case: `fn()` runs it once."""
    name: str  # "graphc", "graphc out=", "numpy", "torch", ...
    peer: str  # who provides it: "graphc", "numpy", "torch", "jax", "onnxruntime", "user"
    fn: Callable[[], object]
    outputs: str  # "fresh" (allocated per call), "reused (out=)", "in place" (training state)
    compile_s: Optional[float] = None  # build/compile + first call, where there is one
    first: object = None  # a training step's first result (the loss from the same weights)


@dataclass
class Stats:
    """Seconds per call over the samples of one system."""
    median: float
    min: float
    max: float
    q1: float
    q3: float
    samples: int
    calls_per_sample: int
    cpu_over_wall: float
    cpu_median: float  # process CPU seconds per call: on a busy machine, time spent
    # descheduled inflates the wall time of a one-thread run but not this
    rounds: tuple = ()  # wall seconds per call of each round, in round order (measure's)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def as_dict(self) -> dict:
        return {"median_s": self.median, "min_s": self.min, "max_s": self.max,
                "q1_s": self.q1, "q3_s": self.q3, "iqr_s": self.iqr, "samples": self.samples,
                "calls_per_sample": self.calls_per_sample, "cpu_over_wall": self.cpu_over_wall,
                "cpu_median_s": self.cpu_median, "rounds_s": list(self.rounds)}


def calls_per_sample(fn: Callable, min_sample_s: float) -> int:
    """How many calls make a sample of at least `min_sample_s` (from one timed call)."""
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    if once >= min_sample_s:
        return 1
    return min(100_000, max(1, math.ceil(min_sample_s / max(once, 1e-8))))


def measure(systems: list[System], repeat: int, warmup: int,
            min_sample_s: float = 0.005) -> dict[str, Stats]:
    """Stats per system name, timed interleaved as the module docstring says."""
    for system in systems:
        for _ in range(warmup):
            system.fn()
    calls = [calls_per_sample(s.fn, min_sample_s) for s in systems]
    samples: list[list[float]] = [[] for _ in systems]
    cpu_samples: list[list[float]] = [[] for _ in systems]
    for round_ in range(repeat):
        for k in range(len(systems)):
            i = (k + round_) % len(systems)
            fn, n = systems[i].fn, calls[i]
            settle()
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                fn()
            w1, c1 = time.perf_counter(), time.process_time()
            samples[i].append((w1 - w0) / n)
            cpu_samples[i].append((c1 - c0) / n)
    return {system.name: summarize(samples[i], cpu_samples[i], calls[i])
            for i, system in enumerate(systems)}


def settle(window_s: float = 0.002, limit_s: float = 0.2) -> float:
    """Wait until this process's threads have been idle for a window of `window_s` (CPU time
    under a tenth of it), at most `limit_s`; returns the seconds waited. jax's XLA threads
    keep spinning for some milliseconds after a call: on one pinned CPU that halved the
    speed of the graphc call timed after them (W2 4.2 -> 8.3 ms in 2 of 3 calls)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        c0 = time.process_time()
        time.sleep(window_s)
        if time.process_time() - c0 < window_s / 10:
            break
    return time.perf_counter() - start


def summarize(wall: list, cpu: list, calls: int) -> Stats:
    """Stats of per-call wall seconds `wall` and CPU seconds `cpu`, sample by sample."""
    q1, median, q3 = np.percentile(wall, [25, 50, 75])
    return Stats(median=float(median), min=min(wall), max=max(wall), q1=float(q1), q3=float(q3),
                 samples=len(wall), calls_per_sample=calls,
                 cpu_over_wall=sum(cpu) / sum(wall) if sum(wall) > 0 else 0.0,
                 cpu_median=float(np.median(cpu)), rounds=tuple(wall))


CPU_TARGETS = ("llvm", "reference")  # the measured machine limits are this CPU's: graphc
# rows of other targets (a GPU) get no "of peak", and their CPU/wall says nothing


# --- where threads may run -------------------------------------------------------------------
class Placement:
    """Pins the whole process (every thread that exists, and so every thread created later)
    to `n` CPUs of those it was allowed at construction; `restore` undoes it.

    os.sched_setaffinity(0, ...) moves only the calling thread, while thread pools (OpenBLAS,
    graphc's) may already be running, so each task of /proc/self/task is moved. Pinning is how
    a one-thread run is made fair to libraries that ignore their thread setting.
    """

    def __init__(self):
        self.supported = hasattr(os, "sched_setaffinity")
        self.allowed = sorted(os.sched_getaffinity(0)) if self.supported else []

    @property
    def cores(self) -> int:
        return len(self.allowed) or os.cpu_count() or 1

    def pin(self, n: int) -> str:
        """Restrict the process to n CPUs (the last n allowed); says what was done."""
        if not self.supported:
            return "not pinned (os.sched_setaffinity is not available on this platform)"
        cpus = set(self.allowed[-n:]) if n < len(self.allowed) else set(self.allowed)
        self._set(cpus)
        if len(cpus) == len(self.allowed):
            return f"all {len(cpus)} allowed CPUs"
        return f"pinned to CPU{'s' if len(cpus) > 1 else ''} {','.join(map(str, sorted(cpus)))}"

    def restore(self) -> None:
        if self.supported:
            self._set(set(self.allowed))

    @staticmethod
    def _set(cpus: set) -> None:
        try:
            tasks = [int(t) for t in os.listdir("/proc/self/task")]
        except OSError:
            tasks = [0]
        for task in tasks:
            try:
                os.sched_setaffinity(task, cpus)
            except OSError:  # the thread ended meanwhile
                pass
