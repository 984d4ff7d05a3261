"""Command-line interface: `graphc <command>` (also `python -m graphc`). docs/cli.md.

Exit status, the same for every command: 0 done; 1 the work ran and failed (`check` found a
disagreement, a `bench` case failed), or graphc itself failed (an internal error: the
traceback is printed with a request for a bug report); 2 a user error, printed as one line
`graphc COMMAND: error: WHAT` (a bad argument, a missing file, a script that breaks the
contract of graphc/scripts.py, a target or workload that is not available here); 130
interrupted. `--debug`, before or after the command, prints the traceback of user errors too.

Each command lives in its own module, which registers its parser with one call below.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import traceback
from collections.abc import Sequence

import numpy as np

import graphc
from graphc.scripts import Progress, UsageError, session_for  # noqa: F401 (Progress: cli's)

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130


def run_demo(args: argparse.Namespace) -> int:
    """Build a small TF1-style graph, print it, run it once and print the results."""
    import graphc as tf

    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, shape=[None, 3], name="x")
        w = tf.Variable([[1.0], [2.0], [3.0]], name="w")
        b = tf.Variable(0.5, name="b")
        y = tf.nn.relu(tf.matmul(x, w) + b, name="y")
        total = tf.reduce_sum(y, name="total")
        sess = session_for(graph)  # before printing: an unavailable target is reported alone

        print("graph:")
        print(tf.get_default_graph())

        x_val = np.array([[1, 2, 3], [-4, 0, 1]], np.float32)
        with sess:
            sess.run(tf.global_variables_initializer())
            y_val, total_val = sess.run([y, total], feed_dict={x: x_val})
            target = sess.target_name

    print()
    print(f"x (fed):\n{x_val}")
    print(f"y = relu(x @ w + b):\n{y_val}")
    print(f"total = reduce_sum(y): {total_val}")
    print(f"target: {target}")
    return 0


def run_cache_info(args: argparse.Namespace) -> int:
    """Print where the compiled-code cache is and how much it holds, one `name: value` a line."""
    from graphc.runtime.cache import CodeCache, default_cache

    cache = CodeCache(args.dir) if args.dir else default_cache()
    info = cache.info()
    print(f"location: {info['directory']}")
    print(f"entries: {info['entries']}")
    print(f"bytes: {info['bytes']}")
    print(f"stored plans: {info['plans']} ({info['plans_bytes']} bytes of constants)")
    return 0


def run_cache_clear(args: argparse.Namespace) -> int:
    """Remove every compiled-code cache entry and say how many there were."""
    from graphc.runtime.cache import CodeCache, default_cache

    cache = CodeCache(args.dir) if args.dir else default_cache()
    removed = cache.clear()
    print(f"removed {removed} {'entry' if removed == 1 else 'entries'} from {cache.directory}")
    return 0


def add_cache_parser(subparsers) -> None:
    """`graphc cache info|clear [--dir DIR]`; without --dir the directory comes from
    graphc.options.resolve_cache_dir (GRAPHC_CACHE_DIR, XDG_CACHE_HOME, ~/.cache/graphc)."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--dir", metavar="DIR", help="use this cache directory instead")
    cache = subparsers.add_parser("cache", help="inspect or clear the compiled-code cache")

    def missing_action(_args: argparse.Namespace) -> int:  # `graphc cache` alone: its usage
        cache.print_help()
        return EXIT_USAGE

    cache.set_defaults(func=missing_action)
    actions = cache.add_subparsers(dest="cache_command", metavar="<action>")
    info = actions.add_parser("info", parents=[where], help="print location, entries and bytes")
    info.set_defaults(func=run_cache_info)
    clear = actions.add_parser("clear", parents=[where], help="remove every entry")
    clear.set_defaults(func=run_cache_clear)


# --- shell completion ---------------------------------------------------------------------
def add_completion_parser(subparsers, root: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "completion", help="print a bash completion script",
        description="Print a bash completion script for graphc's commands and options. "
        "Enable it with: source <(graphc completion bash), or save it under "
        "~/.local/share/bash-completion/completions/graphc.")
    p.add_argument("shell", choices=["bash"], help="the shell (bash; zsh can load it after "
                   "`autoload bashcompinit && bashcompinit`)")
    p.set_defaults(func=lambda args: print(bash_completion(root), end="") or 0)


def _words(parser: argparse.ArgumentParser) -> tuple:
    """(option strings, {subcommand: its parser}) of one parser."""
    options, commands = [], {}
    for action in parser._actions:
        options += [s for s in action.option_strings if action.help != argparse.SUPPRESS]
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    return options, commands


def bash_completion(root: argparse.ArgumentParser) -> str:
    """A bash completion function generated from the parser, so every command registered
    (now or later) completes: commands, then each command's actions and options; other
    words complete as file names."""
    options, commands = _words(root)
    cases = []
    for name, parser in commands.items():
        sub_options, actions = _words(parser)
        cases.append(f"        {shlex.quote(name)}) words={shlex.quote(' '.join(actions))}; "
                     f"opts={shlex.quote(' '.join(sub_options))};;")
    return "\n".join([
        "# bash completion for graphc (generated by `graphc completion bash`)",
        "_graphc() {",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" words="" opts=""',
        "    if [ \"$COMP_CWORD\" -eq 1 ]; then",
        f"        COMPREPLY=($(compgen -W {shlex.quote(' '.join([*commands, *options]))} "
        '-- "$cur")); return',
        "    fi",
        '    case "${COMP_WORDS[1]}" in',
        *cases,
        "    esac",
        '    if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur"))',
        '    elif [ "$COMP_CWORD" -eq 2 ] && [ -n "$words" ]; then '
        'COMPREPLY=($(compgen -W "$words" -- "$cur"))',
        '    else COMPREPLY=($(compgen -f -- "$cur")); fi',
        "}",
        "complete -o filenames -F _graphc graphc", ""])


# --- the parser and the error policy ------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from graphc.aot.cli import add_aot_parsers
    from graphc.bench.cli import add_parser as add_bench_parser
    from graphc.distributed.cli import add_parser as add_distributed_parser
    from graphc.modalities.cli import add_parser as add_convert_parser
    from graphc.tools.cli import add_parsers as add_tools_parsers
    from graphc.tools.fuzz_cli import add_fuzz_parser

    parser = argparse.ArgumentParser(
        prog="graphc", description="A TF1-style static computation-graph compiler. "
        "Every command that takes a model takes a Python script FILE.py[:FUNCTION]; see "
        "docs/cli.md for the script contract and exit codes.")
    parser.add_argument("--version", action="version", version=f"graphc {graphc.__version__}",
                        help="print graphc's version and exit")
    parser.add_argument("--debug", action="store_true",
                        help="print the Python traceback of every error, user errors included")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    demo = subparsers.add_parser("demo", help="build and run a small example graph",
                                 description="Build a small graph, print its IR, run it on "
                                 "the default target ($GRAPHC_TARGET or llvm) and print the "
                                 "results.")
    demo.set_defaults(func=run_demo)
    # each command module registers its own parser; --debug is added to all of them below
    add_cache_parser(subparsers)
    add_aot_parsers(subparsers)
    add_bench_parser(subparsers)
    add_tools_parsers(subparsers)
    add_fuzz_parser(subparsers)
    add_convert_parser(subparsers)
    add_distributed_parser(subparsers)
    add_completion_parser(subparsers, parser)
    _accept_debug_everywhere(parser)
    return parser


def _accept_debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """`--debug` also after the command (`graphc run m.py --debug`). The default is
    SUPPRESS, so a subcommand without it keeps the value parsed before the command."""
    _, commands = _words(parser)
    for sub in commands.values():
        if "--debug" not in sub._option_string_actions:
            sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="print the Python traceback of every error")
        _accept_debug_everywhere(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except UsageError as err:
        if args.debug:
            traceback.print_exc()
        print(f"graphc {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"graphc {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # a bug in graphc: everything the user can get wrong is above
        traceback.print_exc()
        print(f"graphc {args.command}: internal error: {type(err).__name__}: {err}\n"
              "This is a bug in graphc, not in your model or command line. Please report it "
              "with the command line, graphc's version (graphc --version) and the traceback "
              "above.", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
