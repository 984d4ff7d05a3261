"""Single-threaded throughput of graphc's LLVM GEMM (graphc/codegen_llvm/gemm.py) vs numpy.

    python bench/gemm_kernel.py [--sizes 256 1024 2048] [--dtype f32] [--cpu 1]
                                [--blocking MR,NR,KC,MC,NC[,KU[,FUSE]] ...] [--reps 7]

For each size n it times C = A @ B (n x n, row-major) with the JIT-compiled graphc_gemm and
with numpy's matmul (OpenBLAS), both writing into a preallocated C, and prints the median
GFLOP/s (2 n^3 / seconds) and its fraction of the nominal FMA peak (239 GFLOP/s f32 on one
core of the project's AVX-512 machines, half that for f64) and of the peak measured here and
now by a register-only FMA loop (clock speeds differ between machines and with load).

Fair comparison: the script pins itself to one CPU (os.sched_setaffinity) and re-executes
itself with OPENBLAS_NUM_THREADS=1 and without OPENBLAS_CORETYPE (the environment's
OPENBLAS_CORETYPE=Haswell makes numpy 1.6-1.9x slower on AVX-512 hosts); it prints the exact
command it ran. Besides the wall-clock median it reports the median of thread CPU time, which
is what to trust on a shared machine: time spent descheduled does not count.

With several --blocking values it compares those blockings (the way the defaults in
gemm.default_blocking were chosen); without, it uses the defaults.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

NOMINAL_PEAK_F32 = 239.0  # GFLOP/s, one core, 2 x 512-bit FMA per cycle (DESIGN.md)


def _reexec_if_needed(argv: list[str]) -> None:
    """Run again with the OpenBLAS environment fixed, before numpy is imported."""
    env = dict(os.environ)
    if "OPENBLAS_CORETYPE" not in env and env.get("OPENBLAS_NUM_THREADS") == "1":
        return
    env.pop("OPENBLAS_CORETYPE", None)
    env["OPENBLAS_NUM_THREADS"] = "1"
    cmd = [sys.executable, os.path.abspath(__file__), *argv]
    os.execve(sys.executable, cmd, env)


def _command_line(argv: list[str]) -> str:
    """The command that reproduces this run, environment included."""
    env = []
    if "OPENBLAS_CORETYPE" in os.environ:
        env.append(f"OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']}")
    else:
        env.insert(0, "env -u OPENBLAS_CORETYPE")
    env.append(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '')}")
    script = os.path.relpath(os.path.abspath(__file__))
    return " ".join([*env, "python", shlex.quote(script), *map(shlex.quote, argv)])


def measure_fma_peak(dtype: str) -> float:
    """GFLOP/s of a loop of independent vector FMAs on registers (no memory traffic): the
    `graphc bench machine` loop, which is float32; float64 FMAs do half the lanes."""
    from graphc.bench.machine import fma_peak

    return fma_peak(threads=1) / (1 if dtype == "f32" else 2)


def _parse_blocking(spec: str):
    """GemmBlocking from 'MR,NR,KC,MC,NC[,KU[,FUSE]]'."""
    from graphc.codegen_llvm.gemm import GemmBlocking

    values = [int(v) for v in spec.split(",")]
    if len(values) == 7:
        values[6] = bool(values[6])
    return GemmBlocking(*values)


def _blocking_name(b) -> str:
    return f"{b.mr}x{b.nr} kc{b.kc} nc{b.nc} mc{b.mc} ku{b.ku}{' fused' if b.fuse_b else ''}"


def _time(fn, reps: int, min_seconds: float) -> tuple[float, float]:
    """(median wall seconds, median thread-CPU seconds) of fn() after one warm-up call."""
    import numpy as np

    fn()
    wall, cpu = [], []
    start = time.perf_counter()
    while len(wall) < reps or time.perf_counter() - start < min_seconds:
        w, c = time.perf_counter(), time.thread_time()
        fn()
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - w)
        if len(wall) >= 200:
            break
    return float(np.median(wall)), float(np.median(cpu))


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 2048])
    ap.add_argument("--dtype", choices=["f32", "f64"], default="f32")
    ap.add_argument("--cpu", type=int, default=None,
                    help="CPU to pin to (default: the last one this process may use)")
    ap.add_argument("--blocking", nargs="*", default=[],
                    help="MR,NR,KC,MC,NC[,KU[,FUSE]] blockings to compare: KU the k-loop "
                         "unrolling, FUSE 1 to pack B in the micro-kernel (GemmBlocking.fuse_b)"
                         " (default: gemm.default_blocking)")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--no-reexec", action="store_true",
                    help="keep the current OpenBLAS environment")
    args = ap.parse_args(raw)
    if not args.no_reexec:
        _reexec_if_needed(raw)

    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    print(f"command: {_command_line(raw)}   (pinned to CPU {cpu} by os.sched_setaffinity)")

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import llvmlite
    import llvmlite.binding as llvm
    import numpy as np

    from graphc.codegen_llvm.gemm import HostGemm, host_vector_width

    width = host_vector_width(args.dtype)
    np_dtype = np.float32 if args.dtype == "f32" else np.float64
    nominal = NOMINAL_PEAK_F32 / (1 if args.dtype == "f32" else 2)
    measured = measure_fma_peak(args.dtype)
    print(f"host: {llvm.get_host_cpu_name()}, {width} x {args.dtype} lanes, "
          f"llvmlite {llvmlite.__version__}, numpy {np.__version__}")
    print(f"peak: nominal {nominal:.0f} GFLOP/s, measured now {measured:.1f} GFLOP/s "
          f"(register-only FMA loop)")

    blockings = [_parse_blocking(spec) for spec in args.blocking] or [None]
    gemms = []
    for blk in blockings:
        t0 = time.perf_counter()
        g = HostGemm(args.dtype, width, blk)
        gemms.append(g)
        b = g.blocking
        print(f"compiled {_blocking_name(b)} in "
              f"{time.perf_counter() - t0:.2f} s (workspace "
              f"{g.workspace_elems * np.dtype(np_dtype).itemsize / 2**20:.1f} MiB)")

    head = (f"{'n':>5} {'impl':<44} {'GFLOP/s':>8} {'%239' if args.dtype == 'f32' else '%120':>6}"
            f" {'%meas':>6} {'GFLOP/s(cpu)':>13} {'max|err|':>9}")
    print(head)
    print("-" * len(head))
    rng = np.random.default_rng(0)
    for n in args.sizes:
        a = rng.uniform(-1, 1, (n, n)).astype(np_dtype)
        b = rng.uniform(-1, 1, (n, n)).astype(np_dtype)
        ref = np.empty((n, n), np_dtype)
        flops = 2.0 * n ** 3
        min_s = min(2.0, max(0.3, flops / 40e9))
        rows = []
        wall, cpu_s = _time(lambda: np.matmul(a, b, out=ref), args.reps, min_s)
        rows.append(("numpy (OpenBLAS)", wall, cpu_s, 0.0))
        for g in gemms:
            out = np.empty((n, n), np_dtype)
            wall, cpu_s = _time(lambda g=g, out=out: g(a, b, out), args.reps, min_s)
            err = float(np.abs(out - ref).max())
            blk = g.blocking
            rows.append((f"graphc {_blocking_name(blk)}",
                         wall, cpu_s, err))
        for name, wall, cpu_s, err in rows:
            gf, gf_cpu = flops / wall / 1e9, flops / cpu_s / 1e9
            print(f"{n:>5} {name:<44} {gf:>8.1f} {100 * gf / nominal:>5.0f}% "
                  f"{100 * gf / measured:>5.0f}% {gf_cpu:>13.1f} {err:>9.2g}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
