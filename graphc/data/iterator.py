"""TF1 iterators over datasets, driven by the Session (graphc/runtime/host.py).

`get_next()` returns placeholders of the current default graph, registered as a HostFeed:
a run that needs them pulls the next element of the iterator's state in that session.
Each get_next() call makes its own placeholders and pulls its own elements (as each of
TF's IteratorGetNext ops does). State lives in `session_store(session)`, so sessions
iterate independently.

- one-shot: its state is made at the first pull in a session; its dataset may not depend
  on placeholders or variables (as in TF1), and other tensors it uses are run then.
- initializable / reinitializable: `initializer` / `make_initializer(dataset)` are
  HostFetches: running one evaluates the dataset's symbolic inputs (with the run's
  feed_dict) and starts a new pass in that session, stopping the old one's threads.
"""

from __future__ import annotations

from graphc.data import structure
from graphc.data.dataset import Context, Dataset, register, symbol_key
from graphc.data.structure import TensorSpec
from graphc.errors import FailedPreconditionError, OutOfRangeError
from graphc.framework.graph import get_default_graph
from graphc.framework.sessions import default_session_for
from graphc.framework.tensor import Tensor, TensorShape
from graphc.runtime.host import HostFeed, HostFetch, register_host_feed, session_store


class _State:
    """One pass of an iterator in one session."""

    def __init__(self, dataset: Dataset, ctx: Context):
        self.ctx, self.elements = ctx, dataset._iter(ctx)

    def close(self) -> None:
        self.ctx.close()


@register
class Iterator(structure.Structured):
    """tf.data.Iterator (TF1): see the module docstring."""

    def __init__(self, template, specs: list, dataset=None, one_shot=False):
        self._template, self._specs = template, specs
        self._dataset, self._one_shot = dataset, one_shot
        self._graph = get_default_graph()
        self._initializer = None

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def one_shot(cls, dataset: Dataset) -> "Iterator":
        for x in dataset._inputs():
            bad = _stateful_input(x)
            if bad is not None:
                raise ValueError(
                    f"make_one_shot_iterator: the dataset depends on {bad}, which a one-shot "
                    "iterator cannot capture (TF1: 'Cannot capture a placeholder ... by "
                    "value'); use make_initializable_iterator() and run its initializer "
                    "with a feed_dict")
        return cls(dataset._template, list(dataset._specs), dataset, one_shot=True)

    @classmethod
    def initializable(cls, dataset: Dataset) -> "Iterator":
        return cls(dataset._template, list(dataset._specs), dataset)

    @staticmethod
    def from_structure(output_types, output_shapes=None, shared_name=None,
                       output_classes=None) -> "Iterator":
        """A reinitializable iterator: make_initializer(dataset) for any dataset of this
        structure and these types (its shapes compatible)."""
        from graphc.data.sources import flatten_up_to
        template, types = structure.split(output_types)
        shapes = [None] * len(types) if output_shapes is None else flatten_up_to(
            template, output_shapes, "from_structure output_shapes")
        specs = [TensorSpec(None if s is None else TensorShape(s), t)
                 for t, s in zip(types, shapes)]
        return Iterator(template, specs)

    # --- properties ---------------------------------------------------------------------------
    @property
    def initializer(self):
        if self._one_shot or self._dataset is None:
            kind = "a one-shot iterator" if self._one_shot else \
                "an iterator made by Iterator.from_structure (use make_initializer(dataset))"
            raise ValueError(f"Iterator.initializer: {kind} has no initializer")
        if self._initializer is None:
            self._initializer = Initializer(self, self._dataset)
        return self._initializer

    def make_initializer(self, dataset: Dataset, name=None) -> "Initializer":
        if not isinstance(dataset, Dataset):
            raise TypeError(f"make_initializer needs a Dataset, found {type(dataset).__name__}")
        fits = structure.same_structure(self._template, dataset._template) and all(
            a.dtype is b.dtype and a.shape.is_compatible_with(b.shape)
            for a, b in zip(self._specs, dataset._specs))
        if not fits:
            raise TypeError(f"make_initializer: the dataset's element types {dataset.output_types}"
                            f" and shapes {dataset.output_shapes} do not fit the iterator's "
                            f"{self.output_types} and {self.output_shapes}")
        return Initializer(self, dataset)

    # --- reading ------------------------------------------------------------------------------
    def get_next(self, name=None):
        """Placeholders for the next element, filled by the session at each run needing
        them (OutOfRangeError at the end)."""
        from graphc.ops.array_ops import placeholder
        name = name or "IteratorGetNext"
        tensors = []
        for k, spec in enumerate(self._specs):
            if spec.dtype is structure.string:
                raise TypeError(
                    f"get_next: component {k} of the element is a tf.string, and graphc "
                    "tensors have no string dtype; parse it inside the pipeline first (e.g. "
                    "dataset.map(lambda s: tf.io.parse_single_example(s, features)))")
            tensors.append(placeholder(spec.dtype, spec.shape.dims,
                                       name=name if k == 0 else f"{name}_{k}"))
        register_host_feed(tensors[0].graph, _NextFeed(self, tuple(tensors)))
        return structure.element(self._template, tensors, self._specs)

    def _state(self, session) -> _State:
        store = session_store(session)
        state = store.get(self)
        if state is None:
            if not self._one_shot:
                raise FailedPreconditionError(
                    "GetNext() failed because the iterator has not been initialized. Ensure "
                    "that you have run the initializer operation for this iterator before "
                    "getting the next element.")
            values = _evaluate(session, self._dataset._inputs(), {})
            state = store[self] = _State(self._dataset, Context(values))
        return state

    def _start(self, session, dataset: Dataset, values: dict) -> None:
        store = session_store(session)
        old = store.get(self)
        if old is not None:
            old.close()
        store[self] = _State(dataset, Context(values))


def _stateful_input(x):
    """A description of a placeholder or variable `x` depends on, else None."""
    if not isinstance(x, Tensor):
        return None
    seen, stack = set(), [x.node]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.op.name in ("placeholder", "placeholder_with_default", "variable"):
            return f"the {node.op.name} {x.graph.describe(node)}"
        stack.extend(node.inputs)
    return None


def _evaluate(session, symbols: list, values: dict) -> dict:
    tensors = [x for x in symbols if isinstance(x, Tensor)]
    if tensors:
        values = dict(values)
        values.update(zip((t.node for t in tensors), session.run(tensors)))
    return values


class Initializer(HostFetch):
    """iterator.initializer / make_initializer(dataset): a fetch (alone or among others)
    that starts a new pass of the dataset in the session running it."""

    def __init__(self, iterator: Iterator, dataset: Dataset):
        self.iterator, self.dataset = iterator, dataset
        self.graph = iterator._graph
        self._tensors = [x for x in dataset._inputs() if isinstance(x, Tensor)]
        for t in self._tensors:
            if t.graph is not self.graph:
                raise ValueError(f"the dataset uses the tensor {t.name} of another graph than "
                                 "the iterator's")
        self.name = "MakeIterator"

    def host_inputs(self) -> list:
        return self._tensors

    def host_finish(self, session, values: list):
        self.iterator._start(session, self.dataset,
                             {symbol_key(t): v for t, v in zip(self._tensors, values)})
        return None

    def run(self, feed_dict=None, session=None) -> None:
        default_session_for(session, self.graph).run(self, feed_dict)

    def __repr__(self) -> str:
        return f"<tf.Operation '{self.name}' (an iterator initializer)>"


class _NextFeed(HostFeed):
    def __init__(self, iterator: Iterator, tensors: tuple):
        self.iterator, self.tensors = iterator, tensors

    def next_values(self, session) -> list:
        try:
            return next(self.iterator._state(session).elements)
        except StopIteration:
            raise OutOfRangeError("End of sequence") from None


def make_one_shot_iterator(dataset: Dataset) -> Iterator:
    """tf.compat.v1.data.make_one_shot_iterator."""
    return dataset.make_one_shot_iterator()


def make_initializable_iterator(dataset: Dataset, shared_name=None) -> Iterator:
    """tf.compat.v1.data.make_initializable_iterator."""
    return dataset.make_initializable_iterator(shared_name)
