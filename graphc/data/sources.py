"""Datasets that make elements: from_tensor_slices, from_tensors, from_generator, range,
zip and concatenate."""

from __future__ import annotations

import numpy as np

from graphc.data import structure
from graphc.data.dataset import Context, Dataset, register
from graphc.data.structure import TensorSpec
from graphc.errors import InvalidArgumentError
from graphc.framework.tensor import Tensor, TensorShape
from graphc.ir import dtypes


def _components(value, what: str) -> tuple:
    template, leaves = structure.split(value)
    if what == "from_tensor_slices" and structure.sparse_positions(template):
        raise NotImplementedError(
            "from_tensor_slices: slicing a SparseTensor is not supported; make the sparse "
            "elements with map (e.g. parse_single_example of each record) or slice dense "
            "arrays and build the SparseTensor in map")
    if not leaves:
        raise ValueError(f"{what}: the structure {value!r:.60} has no components")
    return template, [structure.to_component(v, f"{what} component {i}")
                      for i, v in enumerate(leaves)]


BLOCK = 65536  # row numbers from_tensor_slices hands out at once (see transforms.Blocks)


class Rows:
    """Elements that are rows of in-memory (possibly memory-mapped) arrays. `one(i)` is
    element i, its components copies of rows (so a memmap is never copied whole);
    `many(idx)` the batch of rows `idx` (one gather per component)."""

    def __init__(self, arrays: list):
        self.arrays = arrays

    def one(self, i: int) -> tuple:
        return tuple(a[i] if a.dtype == object and a.ndim == 1 else np.array(a[i])
                     for a in self.arrays)

    def many(self, idx: np.ndarray) -> tuple:
        # indexing with an integer array copies the rows (from a memmap too): no second copy
        return tuple(a[idx] for a in self.arrays)


@register
class TensorSlices(Dataset):
    """Dataset.from_tensor_slices: element i holds row i of every component."""

    def __init__(self, tensors):
        self._template, self._leaves = _components(tensors, "from_tensor_slices")
        self._symbols = tuple(c for c in self._leaves if isinstance(c, Tensor))
        self._specs, rows = [], None
        for i, c in enumerate(self._leaves):
            spec = structure.spec_of(c)
            dims = spec.shape.dims
            if dims == ():
                raise ValueError(f"from_tensor_slices: component {i} is a scalar; each "
                                 "component needs at least one dimension to slice")
            if dims is not None and dims[0] is not None:
                if rows is not None and dims[0] != rows:
                    raise ValueError(f"from_tensor_slices: all components need the same "
                                     f"first dimension; component 0 has {rows} rows, "
                                     f"component {i} has {dims[0]}")
                rows = dims[0]
            self._specs.append(TensorSpec(None if dims is None else dims[1:], spec.dtype))

    def _rows(self, ctx: Context) -> tuple:
        arrays = []
        for c in self._leaves:
            a = ctx.value(c)
            arrays.append(np.asarray(a) if isinstance(c, Tensor) and np.ndim(a) == 0 else a)
        n = len(arrays[0]) if arrays[0].ndim else None
        for i, a in enumerate(arrays):
            if a.ndim == 0 or len(a) != n:
                raise InvalidArgumentError(
                    "from_tensor_slices: all components need the same first dimension at "
                    f"run time; component 0 has shape {arrays[0].shape}, component {i} "
                    f"{a.shape}")
        return Rows(arrays), n

    def _indices(self, ctx: Context):
        rows, n = self._rows(ctx)
        return rows, (np.arange(at, min(n, at + BLOCK), dtype=np.int64)
                      for at in range(0, n, BLOCK))

    def _iter(self, ctx: Context):
        rows, blocks = self._indices(ctx)
        one = rows.one
        return (one(i) for block in blocks for i in block.tolist())


@register
class Tensors(Dataset):
    """Dataset.from_tensors: one element, the given structure."""

    def __init__(self, tensors):
        self._template, self._leaves = _components(tensors, "from_tensors")
        self._symbols = tuple(c for c in self._leaves if isinstance(c, Tensor))
        self._specs = [structure.spec_of(c) for c in self._leaves]
        structure.note_dense_shapes(self._template, self._specs, tensors)

    def _iter(self, ctx: Context):
        yield tuple(_copy(ctx.value(c)) for c in self._leaves)


def _copy(value):
    return value if isinstance(value, bytes) else np.array(value)


def flatten_up_to(template, value, what: str) -> list:
    """The parts of `value` at the leaves of `template` (a leaf takes its part whole)."""
    if template is None:
        return [value]
    if isinstance(template, dict):
        if not isinstance(value, dict) or set(value) != set(template):
            raise ValueError(f"{what}: expected a dict with keys {sorted(template)}, found "
                             f"{value!r:.80}")
        return [x for k in sorted(template) for x in flatten_up_to(template[k], value[k], what)]
    if not isinstance(value, (tuple, list)) or len(value) != len(template):
        raise ValueError(f"{what}: expected a sequence of {len(template)} parts, found "
                         f"{value!r:.80}")
    return [x for t, v in zip(template, value) for x in flatten_up_to(t, v, what)]


def _as_dtype(value):
    return value if value is structure.string else dtypes.as_dtype(value)


@register
class Generator(Dataset):
    """Dataset.from_generator: elements from a Python generator, checked against the
    declared types and shapes."""

    def __init__(self, generator, output_types, output_shapes, args):
        if not callable(generator):
            raise TypeError(f"from_generator: generator must be a callable returning an "
                            f"iterable, found {generator!r:.60}")
        self._generator = generator
        template, types = structure.split(output_types)
        shapes = [None] * len(types) if output_shapes is None else flatten_up_to(
            template, output_shapes, "from_generator output_shapes")
        self._template = template
        self._specs = [TensorSpec(TensorShape(s) if s is not None else None, _as_dtype(t))
                       for t, s in zip(types, shapes)]
        self._args = [structure.to_component(a, f"from_generator args[{i}]")
                      for i, a in enumerate(args or ())]
        self._symbols = tuple(a for a in self._args if isinstance(a, Tensor))

    def _iter(self, ctx: Context):
        args = [ctx.value(a) for a in self._args]
        specs, template = self._specs, self._template
        for n, value in enumerate(self._generator(*args)):
            parts = flatten_up_to(template, value, f"from_generator element {n}")
            yield tuple(structure.check_component(p, s, f"from_generator element {n}")
                        for p, s in zip(parts, specs))


@register
class Range(Dataset):
    """Dataset.range(stop) / (start, stop[, step]): int64 scalars, as Python's range."""

    def __init__(self, args, output_type):
        if not 1 <= len(args) <= 3:
            raise TypeError(f"range takes 1 to 3 arguments (stop, or start, stop[, step]), "
                            f"found {len(args)}")
        self._range = range(*(int(a) for a in args))
        self._dtype = dtypes.int64 if output_type is None else dtypes.as_dtype(output_type)
        self._specs = [TensorSpec((), self._dtype)]

    def _iter(self, ctx: Context):
        dtype = self._dtype.np
        return ((np.array(i, dtype),) for i in self._range)


@register
class Zip(Dataset):
    """Dataset.zip: elements of several datasets side by side, until the shortest ends."""

    def __init__(self, datasets):
        template, parts = structure.split(datasets)
        for p in parts:
            if not isinstance(p, Dataset):
                raise TypeError(f"zip takes a (nested) tuple or dict of Datasets, found "
                                f"{type(p).__name__}")
        self._parents = tuple(parts)
        self._template = structure.pack(template, [p._template for p in parts]) \
            if template is not None else parts[0]._template
        self._specs = [s for p in parts for s in p._specs]

    def _iter(self, ctx: Context):
        iterators = [p._iter(ctx) for p in self._parents]
        while True:
            element = ()
            for it in iterators:
                try:
                    element += next(it)
                except StopIteration:
                    return
            yield element


@register
class Concatenate(Dataset):
    """a.concatenate(b): a's elements, then b's (same structure and dtypes)."""

    def __init__(self, first: Dataset, second: Dataset):
        if not isinstance(second, Dataset):
            raise TypeError(f"concatenate takes a Dataset, found {type(second).__name__}")
        same = structure.same_structure(first._template, second._template) and all(
            a.dtype is b.dtype for a, b in zip(first._specs, second._specs))
        if not same:
            raise TypeError(f"concatenate: the datasets need the same structure and dtypes; "
                            f"found {first.output_types} and {second.output_types}")
        self._parents = (first, second)
        self._template = first._template
        self._specs = [TensorSpec(structure.most_specific_compatible(a.shape, b.shape),
                                  a.dtype) for a, b in zip(first._specs, second._specs)]

    def _iter(self, ctx: Context):
        yield from self._parents[0]._iter(ctx)
        yield from self._parents[1]._iter(ctx)
