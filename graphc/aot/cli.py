"""`graphc compile` and `graphc run`: ahead-of-time compilation from the command line.

    graphc compile FILE.py[:FUNCTION]|SAVED_MODEL_DIR|MODEL.onnx -o DIR [--name NAME]
                   [--cpu CPU] [--threads N] [--batch-size N]
    graphc run lib<name>.so|<name>.json|DIR [--input NAME=FILE.npy ...] [--output-dir DIR]
    graphc run FILE.py[:FUNCTION] [--input NAME=FILE.npy ...] [--target T] [--output-dir DIR]

The script follows the contract of graphc/scripts.py (docs/cli.md). Variables are read from
the session the script returns, else initialized by their initializers in a fresh one.
Every mistake a user can make is raised as UsageError (one line, exit status 2).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from graphc.scripts import UsageError, is_script


def run_compile(args: argparse.Namespace) -> int:
    """Build the user's graph and export it; print the files written."""
    from graphc import scripts
    from graphc.aot import ExportError, ToolchainError, export
    from graphc.scripts import Progress
    with Progress("graphc compile") as progress:
        progress.step(f"loading {args.model}")
        if os.path.isdir(args.model):
            model = _saved_model(args.model)
        elif args.model.lower().endswith(".onnx"):
            model = _onnx_model(args.model)
        else:
            model = scripts.load(args.model).build()
        _print_notes(model, progress)
        session = model.session
        if session is None and _has_variables(model.graph):  # their initial values, which
            # are the same on every target: the reference target computes them cheapest
            session = _fresh_session(model, "reference", progress)
        progress.step(f"compiling and linking lib{args.name}.so")
        try:
            with model.graph.as_default():
                artifact = export(model.fetches, model.export_feeds(), args.output,
                                  name=args.name, session=session, cpu=args.cpu,
                                  threads=args.threads, batch_size=args.batch_size)
        except (ExportError, ToolchainError, TypeError, ValueError) as err:
            raise UsageError(f"{args.model}: cannot export: {err}") from err
    for path in (artifact.shared, artifact.static, artifact.header, artifact.manifest_path):
        print(path)
    return 0


def _saved_model(path: str):
    """A saved-model directory as a Model: its signature's inputs and outputs, its trained
    variables in the loaded session."""
    from graphc.saving.saved_model import is_saved_model, load
    from graphc.scripts import Model
    if not is_saved_model(path):
        raise UsageError(f"{path}: a directory without saved_model.json; give a model script "
                         "FILE.py[:FUNCTION] or a saved-model directory")
    try:
        loaded = load(path, target="reference")
    except (OSError, ValueError) as err:
        raise UsageError(f"{path}: cannot load the saved model: {err}") from err
    return Model(path, loaded.graph, dict(loaded.outputs),
                 {t: None for t in loaded.inputs.values()}, session=loaded.session,
                 names={t: k for k, t in loaded.inputs.items()})


def _onnx_model(path: str):
    """An ONNX model file as a Model: its initializers constants, its inputs placeholders
    (a symbolic leading dim stays None, the export's variable batch), its outputs fetched
    under their ONNX names (made C identifiers by export)."""
    from graphc.onnx import import_model
    from graphc.scripts import Model
    if not os.path.isfile(path):
        raise UsageError(f"no such ONNX model file: {path}")
    try:
        imported = import_model(path)
    except ImportError as err:  # the onnx package, an optional extra
        raise UsageError(f"{path}: {err}") from err
    except ValueError as err:  # OnnxImportError and its kinds, a bad value in the model
        raise UsageError(f"{path}: cannot import the ONNX model: {err}") from err
    notes = [f"{name} is {dtype} in the model; the library carries it as "
             f"{_port_dtype(imported, name)}" for name, dtype in sorted(imported.narrow.items())]
    return Model(path, imported.graph, dict(imported.outputs),
                 {t: None for t in imported.inputs.values()},
                 names={t: name for name, t in imported.inputs.items()}, notes=notes)


def _port_dtype(imported, name: str) -> str:
    return imported.inputs.get(name, imported.outputs.get(name)).dtype.np.name


def _print_notes(model, progress) -> None:
    for note in model.notes:
        progress.note(f"graphc: warning: {note}")


def _has_variables(graph) -> bool:
    from graphc.ops.variables import GraphKeys
    return bool(graph.get_collection(GraphKeys.GLOBAL_VARIABLES)
                or graph.get_collection(GraphKeys.LOCAL_VARIABLES))


def _fresh_session(model, target, progress):
    """A session on `target` for the model's graph, with its variables initialized."""
    import graphc as tf
    from graphc.scripts import session_for
    session = session_for(model.graph, target)
    if _has_variables(model.graph):
        progress.step("initializing the variables")
        with model.graph.as_default():
            init = [tf.global_variables_initializer(), tf.local_variables_initializer()]
        _user_run(session, init, None, model.path)
    return session


def _user_run(session, fetches, feed_dict, path: str):
    """session.run, its errors about the user's graph or inputs made UsageErrors."""
    from graphc.scripts import model_errors
    with model_errors(path, "running the model"):
        return session.run(fetches, feed_dict)


def _parse_inputs(pairs: list) -> dict:
    """{NAME: array} from --input NAME=FILE.npy arguments."""
    feeds = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--input {pair!r}: expected NAME=FILE.npy, as in "
                             "--input x=x.npy")
        try:
            feeds[name] = np.load(path, allow_pickle=False)
        except FileNotFoundError as err:
            raise UsageError(f"--input {pair}: no such file: {path}") from err
        except (OSError, ValueError, EOFError) as err:
            raise UsageError(f"--input {pair}: cannot read {path} as a .npy array "
                             f"(np.save writes one): {err}") from err
        if not isinstance(feeds[name], np.ndarray):  # an .npz archive
            raise UsageError(f"--input {pair}: {path} holds several arrays (.npz); give one "
                             ".npy file per input")
    return feeds


def run_run(args: argparse.Namespace) -> int:
    """Run an exported library or a model script on .npy inputs; print or save the
    outputs."""
    inputs = _parse_inputs(args.input or [])
    if is_script(args.model):
        outputs = _run_script(args, inputs)
    else:
        if args.target:
            raise UsageError(f"--target is for model scripts; {args.model} is an exported "
                             "library, compiled for the CPU it was exported for")
        outputs = _run_library(args.model, inputs)
    _write_outputs(outputs, args.output_dir)
    return 0


def _run_library(path: str, inputs: dict) -> list:
    from graphc.aot import load
    from graphc.errors import InvalidArgumentError
    what = ("give the lib<name>.so, <name>.json or directory that graphc compile wrote, or "
            "a model script FILE.py")
    if not os.path.exists(path):
        raise UsageError(f"no such library: {path}; {what}")
    try:
        model = load(path)
    except (OSError, ValueError) as err:  # not a graphc export, not loadable
        raise UsageError(f"{err}" if "lib<name>.so" in str(err) else f"{err}; {what}") \
            from err
    try:
        results = model(**inputs)
    except (TypeError, ValueError, InvalidArgumentError) as err:
        raise UsageError(f"{path}: {err}") from err
    results = results if isinstance(results, tuple) else (results,)
    return [(port.name, value) for port, value in zip(model.outputs, results)]


def _run_script(args: argparse.Namespace, inputs: dict) -> list:
    from graphc import scripts
    from graphc.scripts import Progress
    with Progress("graphc run") as progress:
        progress.step(f"loading {args.model}")
        model = scripts.load(args.model).build()
        _print_notes(model, progress)
        feed_dict = model.feed_dict("graphc run", inputs)
        if model.session is not None and args.target:
            progress.note(f"graphc: warning: --target {args.target} is ignored: {model.path} "
                          "returns a session, which runs on its own target")
        session = model.session or _fresh_session(model, args.target, progress)
        progress.step("compiling and running")
        names, fetches = zip(*model.named_fetches())
        values = _user_run(session, list(fetches), feed_dict, model.path)
        if model.session is None:
            session.close()
    return [(name, value) for name, value in zip(names, values) if value is not None]


def _write_outputs(outputs: list, output_dir) -> None:
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
    for name, value in outputs:
        value = np.asarray(value)
        if output_dir:
            path = os.path.join(output_dir, f"{name}.npy")
            np.save(path, value)
            print(path)
        else:
            print(f"{name} {value.dtype} {list(value.shape)}:")
            print(np.array2string(value, threshold=sys.maxsize, precision=9))


def add_aot_parsers(subparsers) -> None:
    """Register `compile` and `run` with the graphc command's subparsers."""
    comp = subparsers.add_parser(
        "compile", help="export a model to a shared library with a C header",
        description="Export the model that FILE.py[:FUNCTION] builds (see docs/cli.md), "
                    "a saved-model directory (docs/checkpoints.md) or an ONNX model file "
                    "(MODEL.onnx, docs/onnx.md) to lib<name>.so, "
                    "lib<name>.a, <name>.h and <name>.json in DIR. Without :FUNCTION the "
                    "script's build() is used, or its only function. See docs/aot.md.")
    comp.add_argument("model", metavar="FILE.py[:FUNCTION]|SAVED_MODEL_DIR|MODEL.onnx",
                      help="the model script and, optionally, its build function; a "
                      "directory written by graphc.saved_model.save; or an ONNX model file")
    comp.add_argument("-o", "--output", required=True, metavar="DIR",
                      help="directory to write the library, header and manifest into "
                      "(created if missing)")
    comp.add_argument("--name", default="model",
                      help="the C prefix and file names: lib<name>.so, <name>.h (model)")
    comp.add_argument("--cpu", default="native",
                      help="native (default), generic (any x86-64) or an LLVM CPU name")
    comp.add_argument("--threads", type=int, default=None,
                      help="thread pool size (default: this machine's cores)")
    comp.add_argument("--batch-size", type=int, default=None,
                      help="fix a leading None dimension instead of keeping it symbolic")
    comp.set_defaults(func=run_compile)
    run = subparsers.add_parser(
        "run", help="run an exported library or a model script on .npy inputs",
        description="Run MODEL on the --input arrays and print each output (name, dtype, "
                    "shape, values) or save it as NAME.npy. MODEL is what graphc compile "
                    "wrote (lib<name>.so, <name>.json or its directory) or a model script "
                    "FILE.py[:FUNCTION], which is built and run here; a script's example "
                    "feeds stand in for inputs not given.")
    run.add_argument("model", metavar="MODEL",
                     help="lib<name>.so, <name>.json, a directory, or FILE.py[:FUNCTION]")
    run.add_argument("--input", action="append", metavar="NAME=FILE.npy",
                     help="the value of input NAME, a .npy file written by np.save "
                     "(repeatable, one per input)")
    run.add_argument("--output-dir", metavar="DIR",
                     help="save each output as DIR/NAME.npy instead of printing it")
    run.add_argument("--target", default=None,
                     help="scripts only: the target to run on (default $GRAPHC_TARGET, "
                     "else llvm)")
    run.set_defaults(func=run_run)
