"""`graphc bench`: argument parsing and dispatch; graphc/cli.py only calls add_parser."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from graphc.bench.adhoc import BenchError, op_case, parse_attrs, parse_shape, script_case
from graphc.bench.workloads import SIZES, WORKLOADS, matmul_case
from graphc.scripts import is_script

DESCRIPTION = """\
Time graphc on standard workloads, one op, a matmul or your own graph, side by side with
other libraries (each only when installed), and print a table (stdout), a progress bar
(stderr, on a terminal) and optionally JSON.

WHAT is one of:
  W1 .. W9, all       the standard workloads (one not available in this build is
                      an error when named, exit status 2; `all` skips it and says why)
  matmul              --shape MxNxK: (M, K) @ (K, N), with --dtype
  op NAME             one API function (graphc.NAME or graphc.nn.NAME) on --shape inputs
  FILE.py[:FUNCTION]  your model script (docs/cli.md): its build function returns
                      {"fetches": ..., "feeds": {placeholder: array}}, optionally with
                      "flops", "bytes" (the work of one run) and "numpy" (a function of the
                      fed arrays computing the same result)
  MODEL.onnx          an ONNX model file, imported (docs/onnx.md) and fed random inputs
                      of its shapes (symbolic dims: --dim NAME=SIZE, else 1); compare
                      with --compare onnxruntime, which runs the same file
  machine             this machine's peak f32 FMA rate and copy bandwidth
  diff A.json B.json  compare two runs' medians

Exit status: 0 done; 1 some case failed (listed under the table); 2 a user error.
"""


def add_parser(subparsers) -> None:
    """Register `graphc bench` on the top-level CLI's subparsers."""
    p = subparsers.add_parser("bench", help="benchmark workloads, ops or scripts vs peers",
                              description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", nargs="+", metavar="WHAT", help="what to benchmark (see above)")
    p.add_argument("--target", default="llvm", help="graphc target: llvm (default), "
                   "reference, cuda, cuda-emulated, where graphc can run it")
    p.add_argument("--threads", default=None, metavar="N[,N...]",
                   help="thread counts to run with (default: every allowed CPU); a one-thread "
                   "run pins the process to one CPU")
    p.add_argument("--repeat", type=int, default=10, help="timed samples per system (10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first (2)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--compare", default="numpy", metavar="PEERS",
                   help="comma-separated peers: numpy, torch, jax, onnxruntime, or none "
                   "(default numpy); peers not installed are reported as skipped")
    p.add_argument("--shape", action="append", default=[], metavar="AxBx...",
                   help="matmul: MxNxK; op: input shape (repeat for one per input)")
    p.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                   help="MODEL.onnx: the size of a symbolic input dim (repeatable; default 1)")
    p.add_argument("--dtype", default="float32", help="matmul and op inputs (float32)")
    p.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE",
                   help="op: a keyword argument, as a Python literal (axis=1)")
    p.add_argument("--size", choices=SIZES, default="full",
                   help="small: tiny arrays, for smoke tests")
    p.add_argument("--cold", action="store_true",
                   help="compile into an empty code cache, so compile times are cold")
    p.add_argument("--fast-math", action="store_true",
                   help="compile graphc's side with Options(fast_math=True) (see docs/passes.md)")
    p.add_argument("--min-sample-ms", type=float, default=5.0,
                   help="fast calls are repeated within a sample to last this long (5)")
    p.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    """BenchError (a UsageError) reaches graphc/cli.py's main, which prints it and exits 2."""
    _quiet_openblas_threads(args)
    return _dispatch(args)


def _quiet_openblas_threads(args: argparse.Namespace) -> None:
    """From the command line, rerun with OPENBLAS_THREAD_TIMEOUT=1 where numpy runs on
    several threads: OpenBLAS's workers otherwise spin for about 0.1 s after each call and
    take the CPUs from whatever runs next, which in an interleaved run is graphc (its
    two-thread GEMM measured 150 instead of 300 GFLOP/s that way). The variable is read
    when OpenBLAS loads, hence the new process; the report shows its value."""
    multithreaded = args.threads is None or any(int(t) > 1 for t in
                                                str(args.threads).split(",") if t.isdigit())
    if os.environ.get("OPENBLAS_THREAD_TIMEOUT") is not None or "bench" not in sys.argv[1:3] \
            or "numpy" not in (args.compare or "").split(",") or not multithreaded:
        return
    env = dict(os.environ, OPENBLAS_THREAD_TIMEOUT="1")
    os.execve(sys.executable, [sys.executable, "-m", "graphc", *sys.argv[1:]], env)


def _dispatch(args: argparse.Namespace) -> int:
    from graphc.bench import report

    what = args.what
    if what[0] == "diff":
        if len(what) != 3:
            raise BenchError("diff takes two JSON files: graphc bench diff A.json B.json")
        text, _ = report.diff(*(_load_json(path) for path in what[1:]))
        print(text)
        return 0
    runner = _runner(args)
    if what == ["machine"]:
        doc = runner.run([], measure_machine_only=True)
    else:
        cases, unavailable = select(args)
        runner.doc["unavailable"] = unavailable
        doc = runner.run(cases)
    print(report.render(doc))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, default=str)
    return 1 if doc["errors"] else 0


def _runner(args: argparse.Namespace):
    from graphc.bench.peers_optional import all_peers
    from graphc.bench.run import Runner, Settings

    _check_target(args.target)
    known = all_peers()
    compare = [] if args.compare in ("", "none") else args.compare.split(",")
    for name in compare:
        if name not in known:
            raise BenchError(f"unknown peer {name!r}: expected some of "
                             f"{', '.join(known)} (comma-separated), or none")
    if args.repeat < 1 or args.warmup < 0:
        raise BenchError("--repeat must be at least 1 and --warmup at least 0")
    settings = Settings(target=args.target, repeat=args.repeat, warmup=args.warmup,
                        compare=compare, size=args.size, cold=args.cold,
                        min_sample_s=args.min_sample_ms / 1e3, fast_math=args.fast_math)
    if args.threads:
        settings.threads = _thread_counts(args.threads)
    return Runner(settings, command=_command(args))


def _check_target(target: str) -> None:
    """Fail early, with the target's own explanation, where graphc cannot run `target`
    (an unknown name, or a device target without its device or driver)."""
    import graphc

    try:
        graphc.Session(target=target, graph=graphc.Graph()).close()
    except Exception as err:
        raise BenchError(f"target {target!r} is not available here: {err}") from err


def _thread_counts(text: str) -> list:
    try:
        counts = [int(t) for t in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise BenchError(f"--threads {text!r}: expected positive counts like 1 or 1,2")
    return counts


def select(args: argparse.Namespace) -> tuple:
    """(cases to run, [unavailable workload records]) for the WHAT arguments."""
    what = args.what
    if what[0] == "matmul":
        if len(what) != 1 or len(args.shape) != 1 or len(parse_shape(args.shape[0])) != 3:
            raise BenchError("matmul takes one --shape MxNxK, like --shape 1024x1024x1024")
        m, n, k = parse_shape(args.shape[0])
        return [matmul_case(m, n, k, args.dtype)], []
    if what[0] == "op":
        if len(what) != 2:
            raise BenchError("op takes one op name: graphc bench op softmax --shape 4096x4096")
        shapes = [parse_shape(s) for s in args.shape]
        return [op_case(what[1], shapes, args.dtype, parse_attrs(args.attr))], []
    cases, unavailable = [], []
    for item in what:
        if is_script(item):
            cases.append(script_case(item))
            continue
        if item.lower().endswith(".onnx"):
            from graphc.bench.onnx_model import onnx_case, parse_dims
            cases.append(onnx_case(item, parse_dims(args.dim)))
            continue
        for name in _workload_names(item):
            workload = WORKLOADS[name]
            if workload.available:
                cases += workload.cases(args.size)
            elif item.lower() != "all":  # asked for by name: the run cannot do what was asked
                raise BenchError(f"{name} ({workload.title}) is {workload.missing}; the "
                                 f"available workloads are {', '.join(_available())}")
            else:
                print(f"skipping {name} ({workload.title}): {workload.missing}",
                      file=sys.stderr)
                unavailable.append({"workload": name, "title": workload.title,
                                    "reason": workload.missing})
    return cases, unavailable


def _workload_names(item: str) -> list:
    if item.lower() == "all":
        return list(WORKLOADS)
    if item.upper() not in WORKLOADS:
        raise BenchError(f"unknown workload {item!r}: expected one of "
                         f"{', '.join(WORKLOADS)}, all, matmul, op NAME, machine, "
                         f"diff A.json B.json, a model script FILE.py[:FUNCTION] or an "
                         f"ONNX model MODEL.onnx")
    return [item.upper()]


def _available() -> list:
    return [name for name, w in WORKLOADS.items() if w.available]


def _load_json(path: str) -> dict:
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as err:
        raise BenchError(f"cannot read {path!r}: {err.strerror}") from err
    except json.JSONDecodeError as err:
        raise BenchError(f"{path!r} is not JSON: {err}") from err
    if not isinstance(doc, dict) or "results" not in doc:
        raise BenchError(f"{path!r} is not the JSON of a graphc bench run")
    return doc


def _command(args: argparse.Namespace) -> str:
    """A command line that repeats this run."""
    words = ["graphc", "bench", *args.what]
    defaults = {"target": "llvm", "threads": None, "repeat": 10, "warmup": 2, "json": None,
                "compare": "numpy", "dtype": "float32", "size": "full", "cold": False,
                "min_sample_ms": 5.0, "fast_math": False}
    for key, default in defaults.items():
        value = getattr(args, key)
        if value != default:
            flag = "--" + key.replace("_", "-")
            words += [flag] if value is True else [flag, str(value)]
    for key in ("shape", "attr", "dim"):
        for value in getattr(args, key):
            words += [f"--{key}", value]
    return shlex.join(words)
