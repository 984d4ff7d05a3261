"""Functions over elements, as TF runs them: traced once into a graph, then run per element.

`Dataset.map(fn)` calls `fn` ONCE, in a private graphc.Graph, with placeholders of the
element's dtypes and shapes (unknown dims None), and runs the traced graph per element
through a private llvm Session's make_callable (so `fn` is compiled, and its fast path
replays the plan). filter's predicate and interleave's map_func are traced the same way.

graphc has no string dtype: a tf.string component is given to the function as a
`HostString`. `tf.io.parse_single_example` / `parse_example` called on it (see
graphc/data/example.py) make placeholders for the parsed features and register a host
decoder, so each element's bytes are parsed on the host and fed to the compiled graph.

Tensors of another graph (the user's) cannot be captured: their values live in another
session. Values that are not tensors (numpy arrays, Python numbers) are constants.
"""

from __future__ import annotations

import inspect

import numpy as np

from graphc.data import structure
from graphc.data.dataset import Context, Dataset, register, symbol_key
from graphc.data.structure import TensorSpec
from graphc.framework.graph import Graph
from graphc.framework.tensor import Tensor
from graphc.ops.tensor import convert_to_tensor, is_tensor_like


class HostString:
    """A tf.string component inside a traced function: its bytes stay on the host. Only
    tf.io.parse_single_example / parse_example (and datasets taking file names, e.g.
    TFRecordDataset inside interleave) accept it."""

    def __init__(self, spec: TensorSpec, index: int, trace: "Trace"):
        self.dtype, self.shape, self.index = structure.string, spec.shape, index
        self.trace = trace  # whose graph and decoders parse_example uses
        self.host_key = self

    def __array__(self, *args, **kwargs):
        raise TypeError(f"component {self.index} of the element is a tf.string (shape "
                        f"{self.shape}): graphc tensors have no string dtype, so inside a "
                        "dataset function it can only be parsed with tf.io.parse_example / "
                        "parse_single_example or passed through unchanged")

    def __repr__(self) -> str:
        return f"<HostString component {self.index} shape={self.shape}>"


def _capture_error(what: str, tensor, captured=None) -> ValueError:
    where = getattr(tensor, "location", "<unknown>")
    source = f", computed from the captured tensor '{captured.name}'" \
        if captured is not None and captured is not tensor else ""
    return ValueError(f"Dataset.{what}: the function uses the tensor '{tensor.name}' (created "
                      f"at {where}{source}) of another graph; {what} functions may not capture "
                      "tensors of another graph (the function runs in a graph of its own). Give "
                      "the value as a numpy array or Python number, or put it in the dataset's "
                      "elements")


def _captured(fn, graph):
    """A Tensor of another graph among fn's closure and globals, or None."""
    try:
        names = inspect.getclosurevars(fn)
    except (TypeError, ValueError):
        return None
    for value in list(names.nonlocals.values()) + list(names.globals.values()):
        if isinstance(value, Tensor) and value.graph is not graph:
            return value
        if hasattr(value, "_as_graph_tensor") and value._as_graph_tensor().graph is not graph:
            return value._as_graph_tensor()
    return None


class Trace:
    """`fn` called once on an element of `dataset` in a private graph (see the module
    docstring). `result` is what fn returned; `compile(fetches)` makes `run(element)`."""

    def __init__(self, fn, dataset: Dataset, what: str):
        from graphc.ops.array_ops import placeholder
        if not callable(fn):
            raise TypeError(f"Dataset.{what} needs a callable, found {fn!r:.60}")
        self.what, self.graph = what, Graph()
        self.decoders: list = []  # (HostString, decode(value) -> arrays, placeholders)
        self.args: list = []
        with self.graph.as_default():
            for i, spec in enumerate(dataset._specs):
                self.args.append(HostString(spec, i, self) if spec.dtype is structure.string else
                                 placeholder(spec.dtype, spec.shape.dims, name=f"args_{i}"))
            element = structure.element(dataset._template, self.args, dataset._specs)
            try:
                self.result = fn(*element) if type(element) is tuple else fn(element)
            except ValueError as e:
                if "must be from the same graph" not in str(e):
                    raise
                captured = _captured(fn, self.graph)
                if captured is None:
                    raise ValueError(f"Dataset.{what}: the function mixes tensors of another "
                                     f"graph with its arguments ({e}); {what} functions may "
                                     "not capture tensors of another graph") from None
                raise _capture_error(what, captured) from None
        self.fn = fn

    def add_decoder(self, host: HostString, decode, placeholders: list) -> None:
        self.decoders.append((host, decode, placeholders))

    def tensor(self, value):
        """`value` (a result leaf) as a tensor of this trace's graph."""
        if is_tensor_like(value):
            t = value._as_graph_tensor() if hasattr(value, "_as_graph_tensor") else value
            if t.graph is not self.graph:
                raise _capture_error(self.what, t, _captured(self.fn, self.graph))
            return t
        with self.graph.as_default():
            return convert_to_tensor(value)

    def compile(self, fetches: list) -> None:
        from graphc.runtime.session import Session
        self._numeric = [i for i, a in enumerate(self.args) if isinstance(a, Tensor)]
        feeds = [self.args[i] for i in self._numeric]
        feeds += [p for _, _, placeholders in self.decoders for p in placeholders]
        self.session = Session(target="llvm", graph=self.graph) if fetches else None
        self._call = self.session.make_callable(list(fetches), feeds) if fetches else None

    def run(self, element: tuple) -> list:
        """The fetches' values for one element."""
        if self._call is None:
            return []
        values = [element[i] for i in self._numeric]
        for host, decode, _ in self.decoders:
            values += decode(element[host.index])
        return self._call(*values)


class _Function:
    """A traced function whose result is a structure: each leaf a fetched tensor, a string
    component passed through, or a string constant."""

    def __init__(self, fn, dataset: Dataset, what: str):
        self.trace = Trace(fn, dataset, what)
        template, leaves = structure.split(self.trace.result)
        self.template, self.plan, self.specs, fetches = template, [], [], []
        for leaf in leaves:
            if isinstance(leaf, HostString):
                self.plan.append(("arg", leaf.index))
                self.specs.append(TensorSpec(leaf.shape, structure.string))
            elif isinstance(leaf, (bytes, str)) or (isinstance(leaf, np.ndarray)
                                                    and leaf.dtype.kind in "OSU"):
                value = structure.to_component(leaf, f"{what} result")
                self.plan.append(("const", value))
                self.specs.append(structure.spec_of(value))
            else:
                t = self.trace.tensor(leaf)
                self.plan.append(("fetch", len(fetches)))
                self.specs.append(TensorSpec(t.shape, t.dtype))
                fetches.append(t)
        structure.note_dense_shapes(template, self.specs, self.trace.result)
        self.trace.compile(fetches)

    def __call__(self, element: tuple) -> tuple:
        values = [v if type(v) is np.ndarray else np.asarray(v) for v in self.trace.run(element)]
        return tuple(values[x] if kind == "fetch" else element[x] if kind == "arg" else x
                     for kind, x in self.plan)


@register
class Map(Dataset):
    """map(fn): each element replaced by fn(element), fn traced once and compiled.
    num_parallel_calls is accepted; elements are computed in order on the consuming thread
    (put prefetch after map to overlap it with training)."""

    def __init__(self, input_dataset: Dataset, fn, num_parallel_calls=None):
        self._input = input_dataset
        self._parents = (input_dataset,)
        self._function = _Function(fn, input_dataset, "map")
        self._template, self._specs = self._function.template, self._function.specs

    def _iter(self, ctx: Context):
        function = self._function
        return (function(element) for element in self._input._iter(ctx))


@register
class Filter(Dataset):
    """filter(predicate): the elements for which the traced predicate is True."""

    def __init__(self, input_dataset: Dataset, predicate):
        self._input = input_dataset
        self._parents = (input_dataset,)
        self._template, self._specs = input_dataset._template, list(input_dataset._specs)
        function = _Function(predicate, input_dataset, "filter")
        spec = function.specs[0] if len(function.specs) == 1 else None
        if spec is None or spec.dtype.name != "bool" or spec.shape.dims not in ((), None):
            raise TypeError(f"Dataset.filter: the predicate must return a scalar tf.bool "
                            f"tensor, it returned {function.specs}")
        self._function = function

    def _iter(self, ctx: Context):
        function = self._function
        for element in self._input._iter(ctx):
            if bool(function(element)[0]):
                yield element


class DatasetFunction:
    """interleave's map_func: traced once, returning a Dataset built from the element's
    placeholders (or HostStrings); `iterate(ctx, element)` iterates that dataset with the
    symbolic inputs set from one element."""

    def __init__(self, fn, dataset: Dataset, what: str):
        self.trace = Trace(fn, dataset, what)
        self.dataset = self.trace.result
        if not isinstance(self.dataset, Dataset):
            raise TypeError(f"Dataset.{what}: the function must return a Dataset, it returned "
                            f"{type(self.dataset).__name__}")
        symbols = self.dataset._inputs()
        self.tensors = [self.trace.tensor(x) for x in symbols if isinstance(x, Tensor)]
        self.hosts = [x for x in symbols if isinstance(x, HostString)]
        self.trace.compile(self.tensors)

    def iterate(self, ctx: Context, element: tuple):
        values = dict(zip((t.node for t in self.tensors), self.trace.run(element)))
        values.update((symbol_key(h), element[h.index]) for h in self.hosts)
        child = Context(values)
        child.stops = ctx.stops  # its prefetch threads stop with the parent's
        return self.dataset._iter(child)
