"""`graphc explain FILE.py` and `graphc check FILE.py`; graphc/cli.py calls add_parsers.

The script follows the contract of every command (graphc/scripts.py, docs/cli.md); its
"feeds" must give an example value for each placeholder, since check runs the graph and
explain compiles it for the fed shapes.
"""

from __future__ import annotations

import argparse

from graphc.scripts import UsageError

SCRIPT_HELP = ("the model script, FILE.py or FILE.py:FUNCTION, whose build function returns "
               "{\"fetches\": ..., \"feeds\": {placeholder: array}} (docs/cli.md)")


def add_parsers(subparsers) -> None:
    explain = subparsers.add_parser(
        "explain", help="print what the compiler does with a graph: passes, kernels, fusion, "
        "memory", description="Print how the LLVM target compiles the graph of SCRIPT: the "
        "passes that ran, each kernel with your ops in it, why values between kernels were "
        "not fused, and the memory plan. Nothing is run.")
    explain.add_argument("script", metavar="FILE.py[:FUNCTION]", help=SCRIPT_HELP)
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
        "it. Exit status 0: agreed; 1: disagreed; 2: a user error.")
    check.add_argument("script", metavar="FILE.py[:FUNCTION]", help=SCRIPT_HELP)
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
    try:
        return default_options().replace(**changes)
    except ValueError as err:  # e.g. an unknown pass name
        raise UsageError(str(err)) from err


def _load(args, progress):
    """(model, feed_dict, options) of the command's script."""
    from graphc.tools.request import load_script
    options = _options(args)
    progress.step(f"loading {args.script}")
    model, feed_dict = load_script(args.script, f"graphc {args.command}")
    for note in model.notes:
        progress.note(f"graphc: warning: {note}")
    return model, feed_dict, options


def run_explain(args: argparse.Namespace) -> int:
    from graphc.scripts import Progress, model_errors
    from graphc.tools.explain import analyze
    with Progress("graphc explain") as progress:
        model, feed_dict, options = _load(args, progress)
        progress.step("compiling")
        with model_errors(model.path, "explaining the graph"):
            explanation = analyze(model.fetches, feed_dict, session=model.session,
                                  options=options)
    n = len(explanation.kernels)
    bad = [k for k in args.kernel or () if not 0 <= k < n]
    if bad:
        raise UsageError(f"--kernel {bad[0]}: the kernels are #0..#{n - 1}")
    print(explanation.format(args.l2, args.llvm, args.kernel), end="")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from graphc.scripts import Progress, model_errors
    from graphc.tools.check import check
    with Progress("graphc check") as progress:
        model, feed_dict, options = _load(args, progress)
        progress.step("compiling and comparing")
        with model_errors(model.path, "checking the graph"):
            report = check(model.fetches, feed_dict, session=model.session, options=options,
                           rtol=args.rtol, atol=args.atol)
    print(report, end="")
    return 0 if report.ok else 1
