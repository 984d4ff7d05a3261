"""tf.Print and tf.print: values printed by the session after a run that computes the op.

Each op is a graph node with a HostTap (graphc/runtime/host.py): a run that computes the
node also fetches the printed tensors, and the session prints them once the run is over
(TF prints during the run; a run that fails prints nothing). The node must be unique to
its op, so two prints of one tensor stay two prints: it depends on a never-failing assert
whose message names the op (interning would merge plain identities).

Ops traced inside a tf.cond branch or a tf.while_loop body are refused when built: their
nodes live in a region, which no fetch reaches, so they could never print.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from graphc.errors import UnimplementedError, user_location
from graphc.ops.check_ops import check
from graphc.ops.tensor import Operation, convert_to_tensor, graph_of, is_tensor_like, make_tensor
from graphc.runtime.host import HostTap, register_host_tap, session_store

_CONTROL_FLOW_FILE = os.path.join("graphc", "ops", "control_flow.py")


class _PrintTap(HostTap):
    """Prints `render(values)` to `stream` after each run computing `node`, at most
    `first_n` times per session (None: always)."""

    def __init__(self, node, tensors, render, stream, first_n=None):
        self.node, self.tensors = node, tuple(tensors)
        self.render, self.stream, self.first_n = render, stream, first_n

    def after_run(self, session, values: list) -> None:
        if self.first_n is not None:
            store = session_store(session)
            count = store.get(self, 0)
            if count >= self.first_n:
                return
            store[self] = count + 1
        write(self.stream, self.render(values))


def write(stream, text: str) -> None:
    """Write to 'stderr'/'stdout' (the current sys stream, looked up now, as TF writes to
    the process's), 'file://path' (appended), a callable (logging.info) or a file object."""
    if stream in ("stderr", "stdout"):
        out = getattr(sys, stream)
        out.write(text)
        out.flush()
    elif isinstance(stream, str):
        with open(stream[len("file://"):], "a") as f:
            f.write(text)
    elif callable(stream):
        stream(text[:-1] if text.endswith("\n") else text)
    else:
        stream.write(text)


def refuse_in_control_flow(what: str) -> None:
    """UnimplementedError when called while tf.cond/tf.while_loop traces a user function
    (a frame of graphc/ops/control_flow.py is on the stack): see the module docstring."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename.endswith(_CONTROL_FLOW_FILE):
            raise UnimplementedError(
                f"{what} inside a tf.cond branch or a tf.while_loop body (at "
                f"{user_location()}) is not supported: graphc prints after the run, from "
                "tensors fetched outside control flow. Print the loop's or the cond's "
                "results, or fetch the values and print them")
        frame = frame.f_back


def _unique_node(scope: str, inputs, what: str, name: str):
    """A never-failing assert unique to the op named `scope` (see the module docstring)."""
    return check(convert_to_tensor(True), inputs, f"never fails: marks {what} '{scope}'",
                 name=name).node


# --- tf.Print -------------------------------------------------------------------------------
def Print(input_, data, message=None, first_n=None, summarize=None, name=None):  # noqa: N802
    """An identity of `input_` that prints `message` and the values of `data` (a list of
    tensors; up to `summarize`, default 3, elements each) to stderr after each run computing
    it; only the first `first_n` runs of a session print when first_n >= 0."""
    refuse_in_control_flow("tf.Print")
    x = convert_to_tensor(input_)
    if is_tensor_like(data):
        raise TypeError(f"tf.Print's data must be a list of tensors, got {data!r} (at "
                        f"{user_location()})")
    data = [convert_to_tensor(d) for d in data]
    graph = graph_of([x] + data)
    limit = 3 if summarize is None else int(summarize)
    text = "" if message is None else str(message)

    def render(values):
        return text + "".join(f"[{format_v1(v, limit)}]" for v in values) + "\n"
    with graph.as_default(), graph.name_scope(name or "Print") as scope:
        marker = _unique_node(scope, [], "tf.Print", "marker")
        with graph.control_dependencies([marker]):
            out = make_tensor("identity", (x,), name=scope)
    first = None if first_n is None or int(first_n) < 0 else int(first_n)
    register_host_tap(graph, _PrintTap(out.node, data, render, "stderr", first))
    return out


# --- tf.print -------------------------------------------------------------------------------
def print_(*inputs, **kwargs):
    """tf.print (TF1 graph mode): an operation that prints `inputs` (tensors, strings, Python
    structures holding tensors), joined by `sep` and followed by `end`, after each run that
    computes it. Run it, or use it in control_dependencies."""
    refuse_in_control_flow("tf.print")
    options = {"output_stream": None, "summarize": 3, "sep": " ", "end": "\n", "name": None}
    unknown = set(kwargs) - set(options)
    if unknown:
        raise ValueError(f"Unrecognized keyword arguments for tf.print: {sorted(unknown)} "
                         f"(at {user_location()})")
    options.update(kwargs)
    stream = _stream(options["output_stream"])
    limit = 3 if options["summarize"] is None else int(options["summarize"])
    tensors: list = []
    templates = [_template(x, tensors) for x in inputs]
    sep, end = str(options["sep"]), str(options["end"])

    def render(values):
        return sep.join(_fill(t, values, limit) for t in templates) + end
    graph = graph_of(tensors)
    with graph.as_default(), graph.name_scope(options["name"] or "PrintV2") as scope:
        node = _unique_node(scope, tensors, "tf.print", scope)  # named as the scope
    register_host_tap(graph, _PrintTap(node, tensors, render, stream))
    return Operation(node, graph, scope.rstrip("/"))


def _stream(output_stream):
    if output_stream is None or output_stream in (sys.stderr, sys.__stderr__):
        return "stderr"
    if output_stream in (sys.stdout, sys.__stdout__):
        return "stdout"
    if isinstance(output_stream, str):
        if output_stream.startswith("file://"):
            return output_stream
        raise ValueError(f"tf.print's output_stream must be sys.stdout, sys.stderr, a "
                         f"'file://path' string or a logging function, got {output_stream!r} "
                         f"(at {user_location()})")
    if callable(output_stream) or hasattr(output_stream, "write"):
        return output_stream
    raise ValueError(f"tf.print's output_stream must be sys.stdout, sys.stderr, a "
                     f"'file://path' string or a logging function, got {output_stream!r} "
                     f"(at {user_location()})")


class _Slot:
    """Where the value of tensors[index] goes in a printed structure."""

    def __init__(self, index: int):
        self.index = index


def _template(value, tensors: list):
    """`value` with each tensor replaced by a _Slot (the tensor appended to `tensors`)."""
    if is_tensor_like(value):
        tensors.append(convert_to_tensor(value))
        return _Slot(len(tensors) - 1)
    if isinstance(value, (list, tuple)):  # (a namedtuple prints as a tuple)
        items = [_template(v, tensors) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _template(v, tensors) for k, v in value.items()}
    return value


def _fill(template, values, limit: int, top: bool = True) -> str:
    """The printed text of one input: tensors as format_v2, strings as they are (at the top
    level; quoted inside structures, as Python prints them), the rest by str()."""
    if isinstance(template, _Slot):
        return format_v2(values[template.index], limit)
    if isinstance(template, (list, tuple)):
        inner = ", ".join(_fill(v, values, limit, False) for v in template)
        return f"[{inner}]" if isinstance(template, list) else f"({inner})"
    if isinstance(template, dict):
        return "{" + ", ".join(f"{k!r}: {_fill(v, values, limit, False)}"
                               for k, v in template.items()) + "}"
    return str(template) if top or not isinstance(template, str) else repr(template)


# --- formatting tensor values (TF's Tensor::SummarizeValue) ---------------------------------
def format_element(value) -> str:
    """One element as TF prints it: floats in the shortest of %.6g/%.9g (float32, float16)
    or %.15g/%.17g (float64) that reads back exactly, bools as 1/0, ints in decimal."""
    if isinstance(value, (np.bool_, bool)):
        return "1" if value else "0"
    if isinstance(value, np.floating):
        kind = np.float64 if value.dtype == np.float64 else np.float32
        short, full = (15, 17) if kind is np.float64 else (6, 9)
        text = "%.*g" % (short, value)
        if np.isfinite(value) and kind(text) != kind(value):
            text = "%.*g" % (full, value)
        return text
    return str(value)


def format_v1(value, limit: int) -> str:
    """tf.Print's text of a value: its first `limit` elements (-1: all) in nested brackets
    below the outermost dimension, then '...' if some were left out."""
    a = np.asarray(value)
    flat = a.reshape(-1)
    limit = flat.size if limit < 0 else min(limit, flat.size)
    if a.ndim == 0:
        return format_element(flat[0])
    out, at = [], [0]

    def dim(d: int) -> None:
        if d == a.ndim - 1:
            for i in range(a.shape[d]):
                if at[0] >= limit:
                    if d != 0:
                        out.append("...")
                    return
                out.append((" " if i else "") + format_element(flat[at[0]]))
                at[0] += 1
            return
        for _ in range(a.shape[d]):
            opened = at[0] < limit
            if opened:
                out.append("[")
            dim(d + 1)
            if opened:
                out.append("]")
    dim(0)
    return "".join(out) + ("..." if flat.size > limit else "")


def format_v2(value, limit: int) -> str:
    """tf.print's text of a value: numpy-like nested brackets showing the first and last
    `limit` entries of each dimension (-1: all), '...' between."""
    a = np.asarray(value)
    if a.ndim == 0:
        return format_element(a[()])
    n = max(a.shape) if limit < 0 else limit

    def dim(sub: np.ndarray, d: int) -> str:
        if sub.ndim == 0:
            return format_element(sub[()])
        spacing = " " if sub.ndim == 1 else "\n" * (sub.ndim - 1) + " " * (d + 1)
        count = sub.shape[0]
        head = [dim(sub[i], d + 1) for i in range(min(n, count))]
        tail = [dim(sub[i], d + 1) for i in range(max(n, count - n), count)]
        middle = ["..."] if count > 2 * n else []
        return "[" + spacing.join(head + middle + tail) + "]"
    return dim(a, 0)
