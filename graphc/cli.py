"""Command-line interface: `graphc <subcommand>` (also `python -m graphc`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

import graphc


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

        print("graph:")
        print(tf.get_default_graph())

        x_val = np.array([[1, 2, 3], [-4, 0, 1]], np.float32)
        with tf.Session() as sess:
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

    def missing_action(_args: argparse.Namespace) -> int:  # `graphc cache` alone: show usage
        cache.print_help()
        return 2

    cache.set_defaults(func=missing_action)
    actions = cache.add_subparsers(dest="cache_command", metavar="<action>")
    info = actions.add_parser("info", parents=[where], help="print location, entries and bytes")
    info.set_defaults(func=run_cache_info)
    clear = actions.add_parser("clear", parents=[where], help="remove every entry")
    clear.set_defaults(func=run_cache_clear)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphc", description="A TF1-style static computation-graph compiler."
    )
    parser.add_argument("--version", action="version", version=f"graphc {graphc.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")

    demo = subparsers.add_parser("demo", help="build and run a small example graph")
    demo.set_defaults(func=run_demo)
    add_cache_parser(subparsers)
    from graphc.aot.cli import add_aot_parsers
    add_aot_parsers(subparsers)
    from graphc.bench.cli import add_parser as add_bench_parser
    add_bench_parser(subparsers)
    from graphc.tools.cli import add_parsers as add_tools_parsers
    add_tools_parsers(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
