"""TF1's RunOptions and RunMetadata as plain Python records, and the tracing Session.run
does with them.

Session.run(options=, run_metadata=) accepts both. When the options ask for a trace
(trace_level above NO_TRACE), run_metadata.step_stats receives one device entry holding
a node entry for the whole run (host work, the compiled plan's native call and the copies
out) with its start time and wall duration in microseconds, the unit TF's NodeExecStats
uses. On the LLVM target one entry per kernel that ran follows, named after the kernel and
the op it computes: the plan's graphc_run adds each kernel call's cycles to counters the
traced run hands it (codegen_llvm/render.py, trace_slot), scaled to time by the cycle
counter's rate over the run. The kernels are laid end to end from the run's start, in
run order. Other targets give the whole run only. partition_graphs, function_graphs and
cost_graph stay empty (graphc has no GraphDef). timeout_in_ms is accepted and not enforced.
"""

from __future__ import annotations

import time


class _Message:
    """A protocol-buffer-like record: fields set by keyword, unknown fields refused."""

    _FIELDS: dict = {}

    def __init__(self, **fields):
        self.Clear()
        for key, value in fields.items():
            if key not in self._FIELDS:
                raise ValueError(f'Protocol message {type(self).__name__} has no "{key}" '
                                 f"field (expected one of {', '.join(self._FIELDS)})")
            setattr(self, key, value)

    def Clear(self) -> None:  # noqa: N802 - the protobuf method's name
        """Every field back to its default, as protobuf's Clear."""
        for key, default in self._FIELDS.items():
            setattr(self, key, default() if callable(default) else default)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and all(
            getattr(self, k) == getattr(other, k) for k in self._FIELDS)

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._FIELDS)
        return f"{type(self).__name__}({body})"


class RunOptions(_Message):
    """TF1's RunOptions: trace_level (NO_TRACE to FULL_TRACE) decides whether Session.run
    fills the RunMetadata it is given; the other fields are accepted and have no effect."""

    NO_TRACE, SOFTWARE_TRACE, HARDWARE_TRACE, FULL_TRACE = 0, 1, 2, 3
    _FIELDS = {"trace_level": 0, "timeout_in_ms": 0, "inter_op_thread_pool": 0,
               "output_partition_graphs": False, "report_tensor_allocations_upon_oom": False}


class NodeExecStats(_Message):
    """One timed piece of a run: start in microseconds since the epoch, the rest relative
    to it (TF's NodeExecStats fields)."""

    _FIELDS = {"node_name": "", "all_start_micros": 0, "op_start_rel_micros": 0,
               "op_end_rel_micros": 0, "all_end_rel_micros": 0, "timeline_label": "",
               "thread_id": 0}


class DeviceStepStats(_Message):
    _FIELDS = {"device": "", "node_stats": list}


class StepStats(_Message):
    _FIELDS = {"dev_stats": list}


class CostGraphDef(_Message):
    _FIELDS = {"node": list}


class RunMetadata(_Message):
    """TF1's RunMetadata: step_stats filled by a traced run (see the module docstring)."""

    _FIELDS = {"step_stats": StepStats, "cost_graph": CostGraphDef, "partition_graphs": list,
               "function_graphs": list}


def traced(run, options, run_metadata, target: str, fetches: int, executor=None,
           describe=None):
    """run() (a Session.run without options), then `run_metadata` refilled as TF refills it
    on each run: cleared, and given the run's timing when `options` ask for a trace, with
    each kernel's where the executor counts them (trace_begin / trace_end: the LLVM
    target). describe(node) names a kernel's source op."""
    if run_metadata is None:
        return run()
    if not isinstance(run_metadata, RunMetadata):
        raise TypeError(f"run_metadata must be a tf.RunMetadata, got "
                        f"{type(run_metadata).__name__}")
    level = 0 if options is None else options.trace_level
    counting = level > RunOptions.NO_TRACE and hasattr(executor, "trace_begin")
    kernels = []
    start = time.time()
    begin = time.perf_counter()
    if counting:
        executor.trace_begin()
    try:
        result = run()
    finally:
        if counting:
            kernels = executor.trace_end()
    micros = int(round((time.perf_counter() - begin) * 1e6))
    run_metadata.Clear()
    if level > RunOptions.NO_TRACE:
        stats = [NodeExecStats(node_name="graphc_run", all_start_micros=int(start * 1e6),
                               op_end_rel_micros=micros, all_end_rel_micros=micros,
                               timeline_label=f"graphc_run: {fetches} fetches on {target}")]
        stats += _kernel_stats(kernels, int(start * 1e6), describe)
        run_metadata.step_stats.dev_stats.append(DeviceStepStats(
            device=_device(target), node_stats=stats))
    return result


def _kernel_stats(kernels: list, start: int, describe) -> list:
    """One NodeExecStats per kernel that ran, laid end to end from `start` in run order
    (kernels run one after another; the time between them is not counted)."""
    out, at = [], start
    for index, (kernel, origin, calls, seconds) in enumerate(kernels):
        micros = max(int(round(seconds * 1e6)), 0)
        source = describe(origin) if describe is not None and origin is not None else ""
        label = f"{kernel.name}{': ' + source if source else ''}"
        if calls > 1:
            label += f" ({calls} calls)"
        out.append(NodeExecStats(node_name=f"{kernel.name}#{index}", all_start_micros=at,
                                 op_end_rel_micros=micros, all_end_rel_micros=micros,
                                 timeline_label=label))
        at += micros
    return out


def _device(target: str) -> str:
    kind = "GPU" if target.startswith("cuda") else "CPU"
    return f"/job:localhost/replica:0/task:0/device:{kind}:0"
