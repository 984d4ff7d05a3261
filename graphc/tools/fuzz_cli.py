"""`graphc fuzz` (also `python -m graphc.tools.fuzz`): the differential fuzzer from the
command line. Exit status 0: no mismatch; 1: mismatches (each printed as a program); 2: bad
arguments."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time

from graphc.tools.fuzz import CONFIGS, FuzzReport, Mismatch, fuzz

DESCRIPTION = """Generate random graphs over graphc's primitive table (matmuls with every
transpose, shared operands and sums of products, broadcasts, reductions over several axes,
views and data movement, gathers, casts, integer and bool ops, row ops, scans, n-d gathers
and scatters, top_k), fetch their values and the gradients of a scalar loss with respect to
every float input (second derivatives for about a third of them), and compare the reference
target with each compiled configuration. Each mismatch is minimized and printed as a graphc
program that reproduces it; program i of a run is drawn from seed SEED + i."""


def add_fuzz_parser(subparsers) -> None:
    p = subparsers.add_parser("fuzz", help="compare compiled random graphs with the reference "
                              "target (values and gradients)", description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(func=run_fuzz)


def add_arguments(p) -> None:
    p.add_argument("--n", type=int, default=100, metavar="N",
                   help="number of programs (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first program (default 0)")
    p.add_argument("--jobs", type=int, default=1, metavar="J",
                   help="worker processes sharing the programs (default 1)")
    p.add_argument("--config", action="append", metavar="NAME",
                   choices=[c.name for c in CONFIGS],
                   help="only this configuration (repeatable): " +
                   ", ".join(repr(c.name) for c in CONFIGS) + " ('cuda' needs a GPU and runs "
                   "only when named)")
    p.add_argument("--every-config", action="store_true",
                   help="run every selected configuration on every program (by default the "
                   "slower ones run on a share)")
    p.add_argument("--no-minimize", action="store_true", help="print mismatches unminimized")
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    p.add_argument("--shard", default="0/1", help=argparse.SUPPRESS)
    p.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)


def _configs(args) -> tuple:
    chosen = [c for c in CONFIGS if (c.name in args.config if args.config else not c.device)]
    if args.every_config:
        chosen = [dataclasses.replace(c, every=1) for c in chosen]
    return tuple(chosen)


def run_fuzz(args: argparse.Namespace) -> int:
    from graphc.scripts import UsageError
    if args.n < 1 or args.jobs < 1:
        raise UsageError(f"--n and --jobs must be at least 1, got --n {args.n} --jobs "
                         f"{args.jobs}")
    try:
        k, of = (int(x) for x in args.shard.split("/"))
    except ValueError:
        raise UsageError(f"--shard K/N, got {args.shard!r}") from None
    if args.jobs > 1:
        start = time.perf_counter()
        report = _in_workers(args)
        report.seconds = time.perf_counter() - start  # wall time, not the workers' sum
    else:
        log = _progress(args) if of == 1 else _mark(args.json)
        report = fuzz(args.n, args.seed, _configs(args), not args.no_minimize, (k, of),
                      log=log, first=args.first)
    if args.json:
        _write(args.json, report)
    if of == 1:
        print(report.summary(), end="")
    return 1 if report.mismatches or report.crashes else 0


def _progress(args):
    if not sys.stderr.isatty():
        return None
    first = args.seed

    def log(seed, _report):
        print(f"\rprogram {seed - first + 1}/{args.n}", end="", file=sys.stderr, flush=True)
    return log


def _mark(path):
    """A worker notes the seed it is on, and the report of the programs before it, beside
    its report: if it crashes, that seed is the program to replay and the rest is kept."""
    if not path:
        return None

    def log(seed, report):
        _write(path + ".partial", report)
        with open(path + ".current", "w", encoding="utf-8") as f:
            f.write(str(seed))
    return log


def _write(path, report) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(report.to_json(), f)
    os.replace(path + ".tmp", path)


def _in_workers(args) -> FuzzReport:
    """Shards of the programs in `args.jobs` processes, their reports merged. A worker that
    dies (a crash in native code) is reported with the seed it was on and restarted after
    it."""
    report = FuzzReport()
    with tempfile.TemporaryDirectory() as tmp:
        running = [_worker(args, tmp, k, 0, 0) for k in range(args.jobs)]
        while running:
            done = [w for w in running if w[0].poll() is not None]
            if not done:
                time.sleep(0.2)
                continue
            proc, out, k, attempt = done[0]
            running.remove(done[0])
            if os.path.exists(out):
                report.merge(_report_from(out))
                continue
            seed = _current_seed(out)
            if os.path.exists(out + ".partial"):  # the programs it finished
                report.merge(_report_from(out + ".partial"))
            report.crashes.append(f"seed {seed}: the worker process died (status "
                                  f"{proc.returncode}); replay: graphc fuzz --n 1 --seed "
                                  f"{seed}")
            if seed is not None and seed - args.seed + args.jobs < args.n:
                running.append(_worker(args, tmp, k, seed - args.seed + args.jobs,
                                       attempt + 1))
    return report


def _worker(args, tmp: str, k: int, first: int, attempt: int) -> tuple:
    out = os.path.join(tmp, f"{k}.{attempt}.json")
    argv = [sys.executable, "-m", "graphc.tools.fuzz", "--n", str(args.n), "--seed",
            str(args.seed), "--shard", f"{k}/{args.jobs}", "--first", str(first),
            "--json", out]
    argv += [a for c in args.config or () for a in ("--config", c)]
    argv += ["--every-config"] * args.every_config + ["--no-minimize"] * args.no_minimize
    return subprocess.Popen(argv), out, k, attempt


def _current_seed(out: str):
    try:
        with open(out + ".current", encoding="utf-8") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def _report_from(path) -> FuzzReport:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    data["mismatches"] = [Mismatch(**m) for m in data["mismatches"]]
    return FuzzReport(**data)


def main(argv=None) -> int:
    from graphc.scripts import UsageError
    parser = argparse.ArgumentParser(prog="python -m graphc.tools.fuzz",
                                     description=DESCRIPTION)
    add_arguments(parser)
    try:
        return run_fuzz(parser.parse_args(argv))
    except UsageError as err:
        print(f"graphc fuzz: error: {err}", file=sys.stderr)
        return 2
