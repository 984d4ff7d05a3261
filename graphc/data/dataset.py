"""tf.data.Dataset: a description of a pipeline of elements, run on the host.

A Dataset is immutable and knows its element structure and static specs. Iterating it needs
a `Context`: one initialization of an iterator in one session, holding the values of the
symbolic inputs the pipeline was built from (placeholders given to from_tensor_slices,
tensor batch sizes), per-epoch shuffle seeds, memory caches and prefetch threads.

Subclasses (graphc/data/sources.py, transforms.py, pipeline.py, mapping.py) implement
    _iter(ctx)     an iterator of elements, each a flat tuple of components;
    _indices(ctx)  optionally (rows, iterator of row-number blocks: non-empty int64
                   arrays): the elements are rows of in-memory arrays, so shuffle,
                   repeat, take and skip can work on row numbers with numpy and batch
                   can gather whole batches at once (memory-mapped arrays stream).
"""

from __future__ import annotations

import numpy as np

from graphc.data import structure
from graphc.framework.tensor import Tensor
from graphc.ops.tensor import is_tensor_like

AUTOTUNE = -1  # tf.data.experimental.AUTOTUNE


class Context:
    """One run of a pipeline (an iterator initialized in a session). `values` maps each
    symbolic input (a Tensor's node, or a HostString) to its value."""

    def __init__(self, values: dict | None = None):
        self.values = values or {}
        self.epochs: dict = {}  # dataset -> how many iterators it has made (shuffle seeds)
        self.memory: dict = {}  # dataset -> its completed memory cache (a list of elements)
        self.entropy = np.random.SeedSequence().entropy  # for shuffles without a seed
        self.stops: list = []  # prefetch threads' stop events (see close)

    def value(self, x):
        """The value of a dataset argument: itself, or the value of a symbolic input."""
        if isinstance(x, Tensor):
            return self.values[x.node]
        if hasattr(x, "host_key"):
            return self.values[x.host_key]
        return x

    def next_epoch(self, dataset) -> int:
        k = self.epochs.get(dataset, 0)
        self.epochs[dataset] = k + 1
        return k

    def close(self) -> None:
        """Stop this run's prefetch threads (a re-initialized or closed iterator)."""
        for stop in self.stops:
            stop.set()


def symbol_key(x):
    return x.node if isinstance(x, Tensor) else x.host_key


def scalar_arg(value, what: str):
    """An int, or a scalar integer Tensor whose value the Context gives at run time."""
    if is_tensor_like(value):
        t = value._as_graph_tensor() if hasattr(value, "_as_graph_tensor") else value
        if t.dtype.kind != "i" or t.shape.dims not in (None, ()):
            raise TypeError(f"{what} must be a scalar integer, found the tensor {t.name} of "
                            f"dtype {t.dtype} and shape {t.shape}")
        return t
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be an integer, found {value!r}") from None
    if number != value:
        raise TypeError(f"{what} must be an integer, found {value!r}")
    return number


def static_int(value):
    """The value of a scalar_arg when known at build time, else None."""
    return None if isinstance(value, Tensor) else value


_KINDS: dict = {}  # class name -> the dataset (or iterator) class its module registered


def register(cls):
    """Class decorator: make `cls` reachable from Dataset's methods by its name. The
    modules defining sources and transformations import this one, not the other way round;
    graphc/data/__init__.py imports them all, so they are registered before any use."""
    _KINDS[cls.__name__] = cls
    return cls


class Dataset(structure.Structured):
    """A pipeline of elements (tf.data.Dataset). See docs/data.md."""

    _template = None  # the nesting of an element (None: a single component)
    _specs: list = []  # one TensorSpec per component
    _parents: tuple = ()  # the datasets this one reads
    _symbols: tuple = ()  # its own symbolic arguments (Tensors, HostStrings)

    # --- what subclasses provide --------------------------------------------------------------
    def _iter(self, ctx: Context):
        raise NotImplementedError

    def _indices(self, ctx: Context):
        return None

    def _inputs(self) -> list:
        """Every symbolic input of the pipeline (Tensors and HostStrings), each once."""
        found: dict = {}
        for x in self._symbols:
            found.setdefault(symbol_key(x), x)
        for parent in self._parents:
            for x in parent._inputs():
                found.setdefault(symbol_key(x), x)
        return list(found.values())

    # --- element structure ------------------------------------------------------------------
    def _element(self, flat):
        return structure.element(self._template, list(flat))

    # --- sources ------------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors):
        return _KINDS["TensorSlices"](tensors)

    @staticmethod
    def from_tensors(tensors):
        return _KINDS["Tensors"](tensors)

    @staticmethod
    def from_generator(generator, output_types, output_shapes=None, args=None):
        return _KINDS["Generator"](generator, output_types, output_shapes, args)

    @staticmethod
    def range(*args, output_type=None):
        return _KINDS["Range"](args, output_type)

    @staticmethod
    def zip(datasets):
        return _KINDS["Zip"](datasets)

    # --- transformations --------------------------------------------------------------------
    def concatenate(self, dataset):
        return _KINDS["Concatenate"](self, dataset)

    def map(self, map_func, num_parallel_calls=None, deterministic=None):
        return _KINDS["Map"](self, map_func, num_parallel_calls)

    def filter(self, predicate):
        return _KINDS["Filter"](self, predicate)

    def batch(self, batch_size, drop_remainder=False):
        return _KINDS["Batch"](self, batch_size, drop_remainder)

    def padded_batch(self, batch_size, padded_shapes=None, padding_values=None,
                     drop_remainder=False):
        return _KINDS["PaddedBatch"](self, batch_size, padded_shapes, padding_values,
                                     drop_remainder)

    def unbatch(self):
        return _KINDS["Unbatch"](self)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        return _KINDS["Shuffle"](self, buffer_size, seed, reshuffle_each_iteration)

    def repeat(self, count=None):
        return _KINDS["Repeat"](self, -1 if count is None else count)

    def take(self, count):
        return _KINDS["Take"](self, count)

    def skip(self, count):
        return _KINDS["Skip"](self, count)

    def shard(self, num_shards, index):
        return _KINDS["Shard"](self, num_shards, index)

    def enumerate(self, start=0):
        return _KINDS["Enumerate"](self, start)

    def interleave(self, map_func, cycle_length=AUTOTUNE, block_length=1,
                   num_parallel_calls=None):
        return _KINDS["Interleave"](self, map_func, cycle_length, block_length)

    def flat_map(self, map_func):
        return _KINDS["Interleave"](self, map_func, 1, 1)

    def cache(self, filename=""):
        return _KINDS["Cache"](self, filename)

    def prefetch(self, buffer_size):
        return _KINDS["Prefetch"](self, buffer_size)

    def apply(self, transformation_func):
        result = transformation_func(self)
        if not isinstance(result, Dataset):
            raise TypeError(f"apply: the transformation must return a Dataset, it returned "
                            f"{type(result).__name__}")
        return result

    # --- iteration ----------------------------------------------------------------------------
    def make_one_shot_iterator(self):
        return _KINDS["Iterator"].one_shot(self)

    def make_initializable_iterator(self, shared_name=None):
        return _KINDS["Iterator"].initializable(self)

    def as_numpy_iterator(self):
        """The elements as numpy values, without a session (TF2's spelling). Only for
        pipelines without symbolic inputs; prefetch threads stop when it is dropped."""
        symbols = [x for x in self._inputs() if isinstance(x, Tensor)]
        if symbols:
            raise ValueError(f"as_numpy_iterator: this dataset depends on the graph tensor "
                             f"{symbols[0].name}; iterate it in a Session with an iterator")
        return _NumpyIterator(self)

    def __iter__(self):
        return self.as_numpy_iterator()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Dataset element_spec={self.element_spec!r}>"


class _NumpyIterator:
    def __init__(self, dataset: Dataset):
        self._dataset, self._ctx = dataset, Context()
        self._it = dataset._iter(self._ctx)

    def __iter__(self):
        return self

    def __next__(self):
        return self._dataset._element(next(self._it))

    def __del__(self):
        self._ctx.close()
