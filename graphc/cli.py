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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphc", description="A TF1-style static computation-graph compiler."
    )
    parser.add_argument("--version", action="version", version=f"graphc {graphc.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")

    demo = subparsers.add_parser("demo", help="build and run a small example graph")
    demo.set_defaults(func=run_demo)
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
