"""Model scripts: the one contract of every command that takes a Python file (`graphc
compile`, `run`, `explain`, `check` and `bench`), and UsageError, the command line's user
mistake.

A model script is `FILE.py` or `FILE.py:FUNCTION`. Without FUNCTION, the entry point is the
script's `build` function, or else its only public function that takes no arguments. The
entry point is called without arguments inside a fresh default graph and returns a dict:

    {"fetches": y,                    # required: a tensor, operation, list, or dict name -> tensor
     "feeds": {x: np.ones((2, 3))},   # placeholders with example values (or a list of them)
     "session": sess,                 # optional: a Session holding the variables' values
     "flops": 2e9, "bytes": 8e6,      # optional, graphc bench only: the work of one run
     "numpy": fn}                     # optional, graphc bench only: the numpy twin

The old tuple forms, `(feeds, fetches[, session])` of `graphc compile` and
`(fetches, {placeholder: array}[, info])` of explain, check and bench, are still accepted
(recognized by their structure, so neither order is misread) with a deprecation note.
docs/cli.md documents the contract; importing a script runs it: it is the user's own code.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

KEYS = ("fetches", "feeds", "session", "flops", "bytes", "numpy")
CONTRACT = ('return {"fetches": ..., "feeds": {placeholder: example array}} '
            "(see docs/cli.md)")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class UsageError(Exception):
    """A mistake of the user's (a missing file, a script that breaks the contract, an input
    that does not fit, a target that cannot run here). The command line prints the message
    as one line, `graphc COMMAND: error: MESSAGE`, and exits with status 2."""


def is_script(spec: str) -> bool:
    """Whether a command-line argument names a model script (FILE.py or FILE.py:FUNCTION)."""
    return split_spec(spec)[0].endswith(".py")


def split_spec(spec: str) -> tuple:
    """'model.py:build' -> ('model.py', 'build'); 'model.py' -> ('model.py', None)."""
    path, sep, function = spec.rpartition(":")
    if sep and path and function.isidentifier():
        return path, function
    return spec, None


@dataclass
class Model:
    """What a script's entry point built: the graph, its fetches and its feeds."""

    path: str  # the script, as given
    graph: object
    fetches: object
    feeds: dict  # fed tensor -> example value (a numpy array) or None, in the script's order
    session: object = None
    flops: Optional[float] = None
    bytes: Optional[float] = None
    numpy: Optional[Callable] = None
    names: dict = field(default_factory=dict)  # fed tensor -> input name, where not its own
    notes: list = field(default_factory=list)  # deprecation notes for the user

    def input_name(self, tensor) -> str:
        return self.names.get(tensor) or tensor_name(tensor)

    def export_feeds(self):
        """The feeds as graphc.export takes them: a dict where the script named the inputs,
        else a list (export then names them after the placeholders)."""
        return {self.names[t]: t for t in self.feeds} if self.names else list(self.feeds)

    def feed_dict(self, command: str, given: Optional[dict] = None) -> dict:
        """{tensor: value} for every feed: `given` (input name -> array) first, else the
        script's example values. A feed with neither is the user's error."""
        given = dict(given or {})
        known = {self.input_name(t): t for t in self.feeds}
        feeds = dict(self.feeds)
        for name in sorted(given.keys() - known.keys()):  # placeholders the script did not list
            tensor = self._placeholder(name)
            if tensor is None:
                raise UsageError(f"{self.path} has no input named {name!r}; its inputs are "
                                 f"{', '.join(known) or 'none'}")
            feeds[tensor], known[name] = None, tensor
        values = {t: given.get(self.input_name(t), v) for t, v in feeds.items()}
        missing = [self.input_name(t) for t, v in values.items() if v is None]
        if missing:
            raise UsageError(f"{self.path} gives no value for input {missing[0]!r}, which "
                             f"{command} needs: give example values in \"feeds\" "
                             f"({{placeholder: array}})"
                             + (" or --input NAME=FILE.npy" if command == "graphc run" else ""))
        return values

    def _placeholder(self, name: str):
        """The placeholder called `name` in the model's graph, or None."""
        try:
            tensor = self.graph.get_tensor_by_name(f"{name}:0")
        except (KeyError, ValueError):
            return None
        return tensor if tensor.op.type == "placeholder" else None

    def named_fetches(self) -> list:
        """[(name, fetch)] for reporting results: dict keys, else the tensors' names."""
        fetches = self.fetches
        if isinstance(fetches, dict):
            return [(str(k), v) for k, v in fetches.items()]
        items = fetches if isinstance(fetches, (list, tuple)) else [fetches]
        return [(tensor_name(f), f) for f in items]


def tensor_name(tensor) -> str:
    """'x:0' -> 'x' (the name a user gave), 'split:1' -> 'split_1', anything else its str."""
    name = getattr(tensor, "name", None)
    if not isinstance(name, str):
        return str(tensor)
    return name[:-2] if name.endswith(":0") else name.replace(":", "_")


@dataclass
class Script:
    """A loaded model script: its path and entry point."""

    path: str
    function: str
    entry: Callable

    def build(self) -> Model:
        """Call the entry point in a fresh default graph and check what it returns."""
        from graphc.framework.graph import Graph
        graph = Graph()
        with graph.as_default():
            return self.build_here(graph)

    def build_here(self, graph) -> Model:
        """Call the entry point in the current default graph (`graph`)."""
        with _importable_from(self.path):
            try:
                answer = self.entry()
            except Exception as err:
                usage = user_code_error(err, self.path, f"{self.function}()")
                if usage is None:
                    raise  # graphc's own failure: the command line reports an internal error
                raise usage from err
        return interpret(answer, self.path, self.function, graph)


def load(spec: str) -> Script:
    """The script `spec` (FILE.py or FILE.py:FUNCTION) imported and its entry point found.
    Raises UsageError for a missing file, a syntax error, an exception while importing it
    (with the script's own file:line) or an unclear entry point."""
    path, function = split_spec(spec)
    if not os.path.isfile(path):
        what = "no such file" if not os.path.exists(path) else "not a file"
        raise UsageError(f"{path}: {what}; give a model script FILE.py[:FUNCTION]")
    if not path.endswith(".py"):
        raise UsageError(f"{path}: expected a Python model script FILE.py[:FUNCTION]")
    module = _import(path)
    return Script(path, *_entry_point(module, path, function))


def _import(path: str):
    name = "graphc_script_" + "".join(c if c.isalnum() else "_"
                                      for c in os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle look their module up here
    with _importable_from(path):
        try:
            spec.loader.exec_module(module)
        except SyntaxError as err:
            where = f"{os.path.basename(err.filename or path)}:{err.lineno}"
            raise UsageError(f"{where}: syntax error: {err.msg}; fix the script") from err
        except SystemExit as err:
            raise UsageError(f"{path} exited (SystemExit {err.code}) while being imported: "
                             "put its command-line handling under "
                             "`if __name__ == \"__main__\":`") from err
        except Exception as err:
            usage = user_code_error(err, path, "importing it")
            if usage is None:
                raise
            raise usage from err
    return module


@contextlib.contextmanager
def _importable_from(path: str):
    """The script's directory on sys.path, so it can import its neighbours."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        yield
    finally:
        sys.path.pop(0)


def _entry_point(module, path: str, function: Optional[str]) -> tuple:
    """(name, function): the one named, else `build`, else the only public function the
    script itself defines that takes no arguments."""
    own = {n: f for n, f in vars(module).items() if inspect.isfunction(f)
           and f.__module__ == module.__name__ and not n.startswith("_")}
    if function is not None:
        if not callable(getattr(module, function, None)):
            listed = ", ".join(own) or "none"
            raise UsageError(f"{path} has no function {function!r} (its functions: {listed})")
        return function, getattr(module, function)
    if callable(getattr(module, "build", None)):
        return "build", module.build
    candidates = [n for n, f in own.items() if _takes_no_arguments(f)]
    if len(candidates) == 1:
        return candidates[0], own[candidates[0]]
    if not candidates:
        raise UsageError(f"{path} defines no build() function: add one that builds the graph "
                         f"and {CONTRACT}")
    raise UsageError(f"{path} defines several functions ({', '.join(candidates)}): name the "
                     f"one that builds the model, as in {path}:{candidates[0]}")


def _takes_no_arguments(fn) -> bool:
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in inspect.signature(fn).parameters.values())


# --- what the entry point returns ---------------------------------------------------------
def interpret(answer, path: str, function: str, graph) -> Model:
    """The Model that `answer`, the entry point's return value, describes (see the module
    docstring); UsageError naming what is wrong otherwise."""
    where = f"{path}: {function}()"
    if isinstance(answer, dict):
        return _from_dict(answer, where, path, graph)
    if isinstance(answer, tuple) and len(answer) in (2, 3):
        return _from_tuple(answer, where, path, graph)
    raise UsageError(f"{where} returned {type(answer).__name__}; {CONTRACT}")


def _from_dict(answer: dict, where: str, path: str, graph) -> Model:
    unknown = [k for k in answer if k not in KEYS]
    if unknown:
        raise UsageError(f"{where} returned a dict with unknown key {unknown[0]!r}: the keys "
                         f"are {', '.join(KEYS)}; {CONTRACT}")
    if "fetches" not in answer:
        raise UsageError(f"{where} returned a dict without \"fetches\"; {CONTRACT}")
    model = Model(path, graph, answer["fetches"], {}, answer.get("session"),
                  answer.get("flops"), answer.get("bytes"), answer.get("numpy"))
    model.feeds = _feeds(answer.get("feeds"), where)
    return _checked(model, where)


def _from_tuple(answer: tuple, where: str, path: str, graph) -> Model:
    """The deprecated forms, told apart by structure: explain/check/bench returned
    (fetches, {tensor: array}[, info]), compile returned (feeds, fetches[, session])."""
    second = answer[1]
    if isinstance(second, dict) and not any(isinstance(k, str) for k in second):
        info = answer[2] if len(answer) == 3 else {}
        if not isinstance(info, dict):
            raise UsageError(f"{where} returned (fetches, feeds, info) with info a "
                             f"{type(info).__name__}, not a dict; {CONTRACT}")
        model = Model(path, graph, answer[0], _feeds(second, where), None, info.get("flops"),
                      info.get("bytes"), info.get("numpy"))
        old = "(fetches, feeds)"
    else:
        model = Model(path, graph, second, {}, answer[2] if len(answer) == 3 else None)
        feeds = answer[0]
        if isinstance(feeds, dict):  # name -> placeholder: the names of the library's inputs
            model.names = {t: str(n) for n, t in feeds.items()}
            feeds = list(feeds.values())
        model.feeds = _feeds(feeds, where)
        old = "(feeds, fetches)"
    model.notes.append(f"{where} returned a {old} tuple, a form that is deprecated and will "
                       f"be removed: {CONTRACT}")
    return _checked(model, where)


def _feeds(feeds, where: str) -> dict:
    """{tensor: example array or None} from a dict tensor -> value, a list of tensors or one
    tensor (None: no feeds)."""
    from graphc.ops.tensor import Tensor
    if feeds is None:
        return {}
    if isinstance(feeds, Tensor):
        feeds = [feeds]
    pairs = feeds.items() if isinstance(feeds, dict) else \
        [(t, None) for t in feeds] if isinstance(feeds, (list, tuple)) else None
    if pairs is None:
        raise UsageError(f"{where}: \"feeds\" is a {type(feeds).__name__}; expected a dict "
                         "{placeholder: array} or a list of placeholders")
    out = {}
    for tensor, value in pairs:
        if not isinstance(tensor, Tensor):
            raise UsageError(f"{where}: each feed must be a placeholder tensor, got "
                             f"{tensor!r}; expected {{placeholder: array}}")
        out[tensor] = None if value is None else np.asarray(value)
    return out


def _checked(model: Model, where: str) -> Model:
    from graphc.runtime.session import Session
    if model.fetches is None or (isinstance(model.fetches, (list, tuple, dict))
                                 and not model.fetches):
        raise UsageError(f"{where} returned no fetches: give the tensors to compute")
    if model.session is not None and not isinstance(model.session, Session):
        raise UsageError(f"{where}: \"session\" must be a graphc Session, got "
                         f"{type(model.session).__name__}")
    for key in ("flops", "bytes"):
        value = getattr(model, key)
        if value is not None and not isinstance(value, (int, float)):
            raise UsageError(f"{where}: \"{key}\" must be a number, got {value!r}")
    if model.numpy is not None and not callable(model.numpy):
        raise UsageError(f"{where}: \"numpy\" must be a function of the fed arrays")
    return model


# --- errors raised by the user's code -----------------------------------------------------
# Exceptions that graphc raises for a program it cannot accept; any other exception from
# inside graphc's own code is a bug in graphc, not in the script.
_USER_FACING = (ValueError, TypeError, AttributeError, NotImplementedError, ImportError,
                NameError, OSError)


def user_code_error(err: Exception, path: str, doing: str) -> Optional[UsageError]:
    """UsageError for `err`, raised while `doing` (importing the script, calling its entry
    point), naming the script's line where it happened; None when `err` is an internal
    error of graphc (raised inside graphc, of a type graphc never raises on purpose)."""
    from graphc.errors import BuildError, OpError
    frames = traceback.extract_tb(err.__traceback__)
    script = os.path.abspath(path)
    own = [f for f in frames if os.path.abspath(f.filename) == script]
    innermost = os.path.abspath(frames[-1].filename) if frames else script
    internal = innermost.startswith(_PACKAGE_DIR) and not isinstance(
        err, _USER_FACING + (BuildError, OpError))
    if internal:
        return None
    where = f"{os.path.basename(path)}:{own[-1].lineno}" if own else path
    return UsageError(f"{where}: {doing} raised {type(err).__name__}: {err}")


@contextlib.contextmanager
def model_errors(path: str, doing: str):
    """The errors graphc raises about the user's graph or inputs while `doing` something
    with it (running, compiling, exporting), as UsageErrors naming the script."""
    from graphc.errors import OpError
    try:
        yield
    except (OpError, TypeError, ValueError, NotImplementedError) as err:
        raise UsageError(f"{path}: {doing} failed: {with_hint(str(err))}") from err


def with_hint(message: str) -> str:
    """`message` with what to do added, where graphc's own wording leaves it out."""
    if "run-time shape input could not be computed" in message:
        return (f"{message}. Compiled targets make one plan per fed shape and per value of "
                "each small integer feed read as a shape: derive the shape from those (or "
                "from tf.shape(x)), or run on the reference target (docs/api-coverage.md)")
    if message.startswith("You must feed a value for placeholder"):
        return (f"{message}: give it an example value in the script's \"feeds\" "
                "({placeholder: array}), or with graphc run, --input NAME=FILE.npy")
    return message


def session_for(graph, target: Optional[str] = None):
    """A Session for `graph` on `target` (None: the default, $GRAPHC_TARGET included). A
    target that is unknown or cannot run here is the user's error, named with where the
    name came from."""
    from graphc.errors import UnimplementedError
    from graphc.options import ENV_TARGET, resolve_target
    from graphc.runtime.session import Session
    try:
        return Session(target=target or "", graph=graph)
    except UnimplementedError as err:
        name = resolve_target(target)
        source = (f"--target {name}" if target else
                  f"${ENV_TARGET}={name}" if os.environ.get(ENV_TARGET) == name else
                  f"target {name!r}")
        raise UsageError(f"{source}: {err}") from err


# --- progress -----------------------------------------------------------------------------
class Progress:
    """A status line on stderr while a long step runs (`graphc compile: linking... 4.2 s`),
    redrawn every `interval` seconds and erased when the block ends. Only where stderr is a
    terminal: pipes, logs and tests get nothing. Use as `with Progress("graphc compile") as
    p: p.step("building the graph")`."""

    def __init__(self, command: str, stream=None, interval: float = 0.2):
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.command, self.interval = command, interval
        self._text, self._start = "", time.monotonic()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self) -> Progress:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._done.set()
            self._thread.join()
            with self._lock:
                self.stream.write("\r\033[K")
                self.stream.flush()

    def step(self, text: str) -> None:
        self._text = text
        self._draw()

    def note(self, message: str) -> None:
        """Print a line of its own on the stream (the status line is redrawn below it)."""
        with self._lock:
            self.stream.write(("\r\033[K" if self.enabled else "") + message + "\n")
            self.stream.flush()
        self._draw()

    def _tick(self) -> None:
        while not self._done.wait(self.interval):
            self._draw()

    def _draw(self) -> None:
        if not self.enabled or self._done.is_set() or not self._text:
            return
        with self._lock:
            elapsed = time.monotonic() - self._start
            self.stream.write(f"\r\033[K{self.command}: {self._text}... {elapsed:.1f} s")
            self.stream.flush()
