"""tf.map_fn, tf.scan, tf.foldl, tf.foldr: loops over the first dimension of tensors, built
on tf.while_loop and TensorArrays as TF1 builds them.

The number of elements is the first dimension of `elems`; when it is known when the graph
is built, it is also the loop's maximum_iterations, so the loops are differentiable.
"""

from __future__ import annotations

from graphc.errors import user_location
from graphc.ir import dtypes
from graphc.ops import array_ops, nest
from graphc.ops.control_flow import while_loop
from graphc.ops.tensor import convert_to_tensor
from graphc.ops.tensor_array import TensorArray


class _Sequence:
    """The elements along the first dimension of `elems` (a nest of tensors), read from
    TensorArrays: `n` (an int when known, else a tensor), `at(i)` the element at step i
    (from the end with `reverse`), and `start(initializer)`: the accumulator's first value
    and the first step (the first element and step 1 without an initializer, as TF1)."""

    def __init__(self, elems, what: str, reverse: bool = False):
        flat = [convert_to_tensor(e) for e in nest.flatten(elems)]
        if not flat:
            raise ValueError(f"{what}: elems must hold at least one tensor "
                             f"({user_location()})")
        for e in flat:
            if e.node.shape is None or not e.node.shape:
                raise ValueError(f"{what}: every element of elems must have at least one "
                                 f"dimension, got {e.name} of shape {e.shape} "
                                 f"({user_location()})")
        n = flat[0].node.shape[0]
        for e in flat[1:]:
            if n is not None and e.node.shape[0] is not None and e.node.shape[0] != n:
                raise ValueError(f"{what}: the elements of elems have different first "
                                 f"dimensions ({n} and {e.node.shape[0]}) "
                                 f"({user_location()})")
        self.n = n if n is not None else array_ops.shape(flat[0])[0]
        self.elems, self.reverse = elems, reverse
        self.inputs = [TensorArray(e.dtype, size=self.n).unstack(e) for e in flat]

    def index(self, i):
        return (self.n - 1 - i) if self.reverse else i

    def at(self, i):
        return nest.pack_sequence_as(self.elems, [ta.read(self.index(i)) for ta in self.inputs])

    def start(self, initializer):
        """(the accumulator's first value as tensors in its structure, the first step)."""
        if initializer is None:
            return nest.map_structure(convert_to_tensor, self.at(0)), 1
        return nest.map_structure(convert_to_tensor, initializer), 0


def map_fn(fn, elems, dtype=None, parallel_iterations=None, back_prop=True,
           swap_memory=False, infer_shape=True, name=None):
    """fn applied to each element along the first dimension of `elems` (a nest of
    tensors); the results stacked. `dtype` gives the results' structure and dtypes where
    they differ from elems'."""
    seq = _Sequence(elems, "map_fn")
    n = seq.n
    out_structure = elems if dtype is None else dtype
    outputs = [TensorArray(dtypes.as_dtype(d) if not hasattr(d, "dtype") else d.dtype,
                           size=n, infer_shape=infer_shape)
               for d in nest.flatten(out_structure)]

    def body(i, outs):
        result = nest.flatten(fn(seq.at(i)))
        if len(result) != len(outs):
            raise ValueError(f"map_fn: fn returned {len(result)} values where dtype says "
                             f"{len(outs)} ({user_location()})")
        return i + 1, [ta.write(i, r) for ta, r in zip(outs, result)]

    with _scope(name or "map"):
        _, outs = while_loop(lambda i, _: i < n, body, [0, outputs],
                             maximum_iterations=n, back_prop=back_prop)
    return nest.pack_sequence_as(out_structure, [ta.stack() for ta in outs])


def scan(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
         swap_memory=False, infer_shape=True, reverse=False, name=None):
    """The successive values of a = fn(a, element) over the first dimension of `elems`,
    stacked; `a` starts at `initializer` (default: the first element, which is then not
    scanned, as TF1)."""
    seq = _Sequence(elems, "scan", reverse)
    n = seq.n
    init, start = seq.start(initializer)
    outputs = [TensorArray(a.dtype, size=n, infer_shape=infer_shape)
               for a in nest.flatten(init)]
    if start:
        outputs = [ta.write(seq.index(0), a) for ta, a in zip(outputs, nest.flatten(init))]

    def body(i, acc, outs):
        acc = nest.flatten(fn(nest.pack_sequence_as(init, acc), seq.at(i)))
        return i + 1, acc, [ta.write(seq.index(i), a) for ta, a in zip(outs, acc)]

    with _scope(name or "scan"):
        _, _, outs = while_loop(lambda i, *_: i < n, body,
                                [start, nest.flatten(init), outputs],
                                maximum_iterations=n, back_prop=back_prop)
    return nest.pack_sequence_as(init, [ta.stack() for ta in outs])


def foldl(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """a = fn(a, element) over the first dimension of `elems`, first to last; the last a."""
    return _fold(fn, elems, initializer, back_prop, False, name or "foldl")


def foldr(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """a = fn(a, element) over the first dimension of `elems`, last to first; the last a."""
    return _fold(fn, elems, initializer, back_prop, True, name or "foldr")


def _fold(fn, elems, initializer, back_prop, reverse, name):
    seq = _Sequence(elems, name, reverse)
    n = seq.n
    init, start = seq.start(initializer)

    def body(i, acc):
        return i + 1, nest.flatten(fn(nest.pack_sequence_as(init, acc), seq.at(i)))

    with _scope(name):
        _, acc = while_loop(lambda i, _: i < n, body, [start, nest.flatten(init)],
                            maximum_iterations=n, back_prop=back_prop)
    return nest.pack_sequence_as(init, acc)


def _scope(name):
    from graphc.framework.graph import get_default_graph
    return get_default_graph().name_scope(name)
