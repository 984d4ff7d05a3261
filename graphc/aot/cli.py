"""`graphc compile` and `graphc run`: ahead-of-time compilation from the command line.

    graphc compile model.py:build -o out/ [--name NAME] [--cpu CPU] [--threads N]
                   [--batch-size N]
    graphc run out/libNAME.so --input x=x.npy [--input ...] [--output-dir DIR]

`build` is a function of the user's file, called without arguments in a fresh default graph;
it returns (feeds, fetches) or (feeds, fetches, session), feeds and fetches as
graphc.export takes them. Without a session, the variables the fetches read get their
initial values in a fresh one. Importing the file runs it: it is the user's own code.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

import numpy as np


def _load_builder(spec: str):
    path, sep, function = spec.rpartition(":")
    if not sep or not path or not function:
        raise SystemExit(f"graphc compile: expected FILE.py:FUNCTION, got {spec!r}")
    if not os.path.isfile(path):
        raise SystemExit(f"graphc compile: no such file: {path}")
    module_name = "graphc_model_" + os.path.splitext(os.path.basename(path))[0]
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        module_spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    builder = getattr(module, function, None)
    if not callable(builder):
        raise SystemExit(f"graphc compile: {path} has no function {function}")
    return builder


def run_compile(args: argparse.Namespace) -> int:
    """Build the user's graph and export it; print the files written."""
    import graphc as tf
    from graphc.aot import ExportError, ToolchainError, export
    builder = _load_builder(args.model)
    graph = tf.Graph()
    with graph.as_default():
        built = builder()
        if not isinstance(built, tuple) or len(built) not in (2, 3):
            raise SystemExit(f"graphc compile: {args.model} must return (feeds, fetches) or "
                             f"(feeds, fetches, session), got {type(built).__name__}")
        feeds, fetches = built[:2]
        session = built[2] if len(built) == 3 else None
        if session is None and tf.global_variables():
            session = tf.Session(graph=graph)
            session.run(tf.global_variables_initializer())
        try:
            artifact = export(fetches, feeds, args.output, name=args.name, session=session,
                              cpu=args.cpu, threads=args.threads, batch_size=args.batch_size)
        except (ExportError, ToolchainError, ValueError) as e:
            print(f"graphc compile: {e}", file=sys.stderr)
            return 1
    for path in (artifact.shared, artifact.static, artifact.header, artifact.manifest_path):
        print(path)
    return 0


def _parse_inputs(pairs: list) -> dict:
    feeds = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"graphc run: expected --input NAME=FILE.npy, got {pair!r}")
        feeds[name] = np.load(path, allow_pickle=False)
    return feeds


def run_run(args: argparse.Namespace) -> int:
    """Run an artifact on .npy inputs; print the outputs or save them as .npy files."""
    from graphc.aot import load
    from graphc.errors import InvalidArgumentError
    model = load(args.library)
    feeds = _parse_inputs(args.input or [])
    try:
        results = model(**feeds)
    except (TypeError, ValueError, InvalidArgumentError) as e:
        print(f"graphc run: {e}", file=sys.stderr)
        return 1
    results = results if isinstance(results, tuple) else (results,)
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
    for port, value in zip(model.outputs, results):
        if args.output_dir:
            path = os.path.join(args.output_dir, f"{port.name}.npy")
            np.save(path, value)
            print(path)
        else:
            print(f"{port.name} {value.dtype} {list(value.shape)}:")
            print(np.array2string(value, threshold=sys.maxsize, precision=9))
    return 0


def add_aot_parsers(subparsers) -> None:
    """Register `compile` and `run` with the graphc command's subparsers."""
    comp = subparsers.add_parser(
        "compile", help="export a model to a shared library with a C header",
        description="Export FILE.py:FUNCTION (returning (feeds, fetches[, session])) to "
                    "lib<name>.so, lib<name>.a, <name>.h and <name>.json. See docs/aot.md.")
    comp.add_argument("model", metavar="FILE.py:FUNCTION")
    comp.add_argument("-o", "--output", required=True, metavar="DIR")
    comp.add_argument("--name", default="model", help="the C prefix and file names")
    comp.add_argument("--cpu", default="native",
                      help="native (default), generic (any x86-64) or an LLVM CPU name")
    comp.add_argument("--threads", type=int, default=None, help="thread pool size")
    comp.add_argument("--batch-size", type=int, default=None,
                      help="fix a leading None dimension instead of keeping it symbolic")
    comp.set_defaults(func=run_compile)
    run = subparsers.add_parser("run", help="run an exported library on .npy inputs")
    run.add_argument("library", metavar="LIBRARY", help="lib<name>.so, <name>.json or a dir")
    run.add_argument("--input", action="append", metavar="NAME=FILE.npy")
    run.add_argument("--output-dir", metavar="DIR", help="save NAME.npy files here")
    run.set_defaults(func=run_run)
