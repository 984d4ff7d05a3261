"""`graphc explain script.py` and `graphc check script.py`; graphc/cli.py calls add_parsers.

The script defines `build()`, called inside a fresh default graph, returning
(fetches, {placeholder: array}) (or (fetches, feeds, info), as for `graphc bench`).
"""

from __future__ import annotations

import argparse
import sys

SCRIPT_HELP = ("a Python file defining build(), which returns (fetches, {placeholder: array}) "
               "as for graphc bench")


def add_parsers(subparsers) -> None:
    explain = subparsers.add_parser(
        "explain", help="print what the compiler does with a graph: passes, kernels, fusion, "
        "memory", description="Print how the LLVM target compiles the graph of SCRIPT: the "
        "passes that ran, each kernel with your ops in it, why values between kernels were "
        "not fused, and the memory plan. Nothing is run.")
    explain.add_argument("script", help=SCRIPT_HELP)
    explain.add_argument("--l2", action="store_true", help="also print each kernel's L2")
    explain.add_argument("--llvm", action="store_true", help="also print each kernel's LLVM IR")
    explain.add_argument("--kernel", type=int, action="append", metavar="N",
                         help="with --l2 / --llvm: only kernel #N (repeatable)")
    _add_options(explain)
    explain.set_defaults(func=run_explain)
    check = subparsers.add_parser(
        "check", help="compare the compiled graph with the reference target, value by value",
        description="Run the graph of SCRIPT compiled (LLVM) and on the reference target and "
        "compare every value kept between kernels, the fetches and the updated variables. On "
        "a disagreement, name the first value and bisect the passes to the one that caused "
        "it. Exit status 0: agreed; 1: disagreed.")
    check.add_argument("script", help=SCRIPT_HELP)
    check.add_argument("--rtol", type=float, help="relative tolerance (default by dtype)")
    check.add_argument("--atol", type=float, help="absolute tolerance (default by dtype)")
    _add_options(check)
    check.set_defaults(func=run_check)


def _add_options(p) -> None:
    p.add_argument("-O", dest="opt_level", type=int, choices=(0, 1, 2, 3),
                   help="optimization level (default 2)")
    p.add_argument("--threads", type=int, help="threads the kernels are scheduled for")
    p.add_argument("--fast-math", action="store_true", help="allow the fast-math rules")
    p.add_argument("--disable-pass", action="append", default=[], metavar="NAME",
                   help="leave a graph pass out (repeatable)")
    p.add_argument("--no-fuse", action="store_true", help="one kernel per op")


def _options(args):
    from graphc.options import default_options
    changes = {"fast_math": True} if args.fast_math else {}
    if args.opt_level is not None:
        changes["opt_level"] = args.opt_level
    if args.threads is not None:
        changes["threads"] = args.threads
    if args.disable_pass:
        changes["disable_passes"] = tuple(args.disable_pass)
    if args.no_fuse:
        changes["fuse"] = False
    return default_options().replace(**changes)


def _load(args):
    """(fetches, feed_dict, options), or None after printing why not."""
    from graphc.bench.adhoc import BenchError
    from graphc.tools.request import load_script
    try:
        options = _options(args)
    except ValueError as err:  # e.g. an unknown pass name
        print(f"graphc {args.command}: {err}", file=sys.stderr)
        return None
    try:
        _, fetches, feed_dict = load_script(args.script)
    except BenchError as err:  # the script does not follow the convention
        print(f"graphc {args.command}: {err}", file=sys.stderr)
        return None
    return fetches, feed_dict, options


def run_explain(args: argparse.Namespace) -> int:
    from graphc.tools.explain import analyze
    loaded = _load(args)
    if loaded is None:
        return 2
    fetches, feed_dict, options = loaded
    explanation = analyze(fetches, feed_dict, options=options)
    n = len(explanation.kernels)
    bad = [k for k in args.kernel or () if not 0 <= k < n]
    if bad:
        print(f"graphc explain: --kernel {bad[0]}: the kernels are #0..#{n - 1}",
              file=sys.stderr)
        return 2
    print(explanation.format(args.l2, args.llvm, args.kernel), end="")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from graphc.tools.check import check
    loaded = _load(args)
    if loaded is None:
        return 2
    fetches, feed_dict, options = loaded
    report = check(fetches, feed_dict, options=options, rtol=args.rtol, atol=args.atol)
    print(report, end="")
    return 0 if report.ok else 1
