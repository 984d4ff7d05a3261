"""tf.Print and tf.print: `print` nodes, which write when the run reaches them.

A print is one primitive (graphc/ir/ops/state.py) whose attributes say everything about the
text: `pieces`, the strings and input indices it is made of (a printed Python structure is
flattened into them when the op is built), the style of a tensor's text (tf.Print's 'v1',
tf.print's 'v2'), `summarize`, the stream and `first_n`. Compiled code calls back into
Python when its program reaches the node (graphc/runtime/host_calls.py), so prints come in
order, inside tf.while_loop bodies (once per iteration) and tf.cond branches too, and those
before a failing op are written before the run fails, as in TF.

The text is made and written by graphc/runtime/printing.py (TF's formats: format_v1 and
format_v2), where a stream given as an object (a logging function, a file object) is kept
under a name ('object:<process>:N').
"""

from __future__ import annotations

import sys

from graphc.errors import user_location
from graphc.ops.tensor import convert_to_tensor, graph_of, is_tensor_like, make_tensor
from graphc.runtime.printing import stream_name


def _print_node(graph, tensors, pieces, style: str, summarize: int, stream: str,
                first_n: int, name: str):
    """The print node of `tensors` (see the module docstring) in `graph`, named `name`."""
    pieces = _merged(pieces)
    with graph.as_default():
        return make_tensor("print", tensors, {
            "pieces": pieces, "style": style, "summarize": int(summarize),
            "stream": stream, "first_n": int(first_n)}, name)


def _merged(pieces) -> tuple:
    """Adjacent strings joined, empty ones dropped."""
    out: list = []
    for p in pieces:
        if isinstance(p, str):
            if not p:
                continue
            if out and isinstance(out[-1], str):
                out[-1] += p
                continue
        out.append(p)
    return tuple(out)


# --- tf.Print -------------------------------------------------------------------------------
def Print(input_, data, message=None, first_n=None, summarize=None, name=None):  # noqa: N802
    """An identity of `input_` that prints `message` and the values of `data` (a list of
    tensors; up to `summarize`, default 3, elements each) to stderr each time a run computes
    it; only the first `first_n` times in a session when first_n >= 0."""
    x = convert_to_tensor(input_)
    if is_tensor_like(data):
        raise TypeError(f"tf.Print's data must be a list of tensors, got {data!r} (at "
                        f"{user_location()})")
    data = [convert_to_tensor(d) for d in data]
    graph = graph_of([x] + data)
    pieces = ["" if message is None else str(message)]
    for i in range(len(data)):
        pieces += ["[", i, "]"]
    first = -1 if first_n is None or int(first_n) < 0 else int(first_n)
    with graph.as_default(), graph.name_scope(name or "Print") as scope:
        printed = _print_node(graph, data, pieces + ["\n"], "v1",
                              3 if summarize is None else summarize, "stderr", first, "print")
        with graph.control_dependencies([printed.node]):
            return make_tensor("identity", (x,), name=scope)


# --- tf.print -------------------------------------------------------------------------------
def print_(*inputs, **kwargs):
    """tf.print (TF1 graph mode): an operation that prints `inputs` (tensors, strings, Python
    structures holding tensors), joined by `sep` and followed by `end`, each time a run
    computes it. Run it, or use it in control_dependencies."""
    options = {"output_stream": None, "summarize": 3, "sep": " ", "end": "\n", "name": None}
    unknown = set(kwargs) - set(options)
    if unknown:
        raise ValueError(f"Unrecognized keyword arguments for tf.print: {sorted(unknown)} "
                         f"(at {user_location()})")
    options.update(kwargs)
    stream = _stream(options["output_stream"])
    limit = 3 if options["summarize"] is None else int(options["summarize"])
    tensors: list = []
    pieces: list = []
    for i, x in enumerate(inputs):
        if i:
            pieces.append(str(options["sep"]))
        pieces += _pieces(x, tensors)
    pieces.append(str(options["end"]))
    graph = graph_of(tensors)
    with graph.as_default(), graph.name_scope(options["name"] or "PrintV2") as scope:
        return _print_node(graph, tensors, pieces, "v2", limit, stream, -1, scope).op


def _stream(output_stream) -> str:
    if output_stream is None or output_stream in (sys.stderr, sys.__stderr__):
        return "stderr"
    if output_stream in (sys.stdout, sys.__stdout__):
        return "stdout"
    if isinstance(output_stream, str):
        if output_stream.startswith("file://"):
            return output_stream
    elif callable(output_stream) or hasattr(output_stream, "write"):
        return stream_name(output_stream)
    raise ValueError(f"tf.print's output_stream must be sys.stdout, sys.stderr, a "
                     f"'file://path' string or a logging function, got {output_stream!r} "
                     f"(at {user_location()})")


def _pieces(value, tensors: list, top: bool = True) -> list:
    """The pieces printing one input: tensors (appended to `tensors`) by index, strings as
    they are at the top level and quoted inside structures (as Python prints them), the
    rest by str()."""
    if is_tensor_like(value):
        tensors.append(convert_to_tensor(value))
        return [len(tensors) - 1]
    if isinstance(value, (list, tuple)):  # (a namedtuple prints as a tuple)
        inner = _joined([_pieces(v, tensors, False) for v in value])
        return ["[" if isinstance(value, list) else "("] + inner + \
            ["]" if isinstance(value, list) else ")"]
    if isinstance(value, dict):
        inner = _joined([[f"{k!r}: "] + _pieces(v, tensors, False) for k, v in value.items()])
        return ["{"] + inner + ["}"]
    return [str(value) if top or not isinstance(value, str) else repr(value)]


def _joined(parts: list) -> list:
    out: list = []
    for i, part in enumerate(parts):
        out += ([", "] if i else []) + part
    return out
