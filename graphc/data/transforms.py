"""Datasets that reorder, group and count elements: batch, padded_batch, unbatch, shuffle,
repeat, take, skip, shard, enumerate, interleave (and flat_map, an interleave of one)."""

from __future__ import annotations

from itertools import islice

import numpy as np

from graphc.data import structure
from graphc.data.dataset import AUTOTUNE, Context, Dataset, register, scalar_arg, static_int
from graphc.data.sources import Rows, flatten_up_to
from graphc.data.structure import TensorSpec
from graphc.errors import InvalidArgumentError
from graphc.framework.tensor import Tensor, TensorShape
from graphc.ir import dtypes
from graphc.ops.tensor import is_tensor_like


def _check_dataset(value, what: str) -> Dataset:
    if not isinstance(value, Dataset):
        raise TypeError(f"{what} needs a Dataset, found {type(value).__name__}")
    return value


def _positive(ctx: Context, value, what: str) -> int:
    n = int(ctx.value(value))
    if n <= 0:
        raise InvalidArgumentError(f"{what} must be greater than zero, found {n}")
    return n


class _Unary(Dataset):
    """A dataset reading one input, with that input's element structure unless it says."""

    def __init__(self, input_dataset: Dataset, *symbols):
        self._input = _check_dataset(input_dataset, type(self).__name__.lower())
        self._parents = (self._input,)
        self._symbols = tuple(s for s in symbols if isinstance(s, Tensor))
        self._template = self._input._template
        self._specs = list(self._input._specs)


def _batched(spec: TensorSpec, lead) -> TensorSpec:
    dims = spec.shape.dims
    return TensorSpec(None if dims is None else (lead,) + dims, spec.dtype)


def stack(parts: list, k: int):
    """Component k of a batch: the parts stacked on a new first axis (object arrays for
    tf.string components)."""
    first = parts[0]
    if isinstance(first, bytes) or first.dtype == object:
        out = np.empty((len(parts),) + structure.shape_of(first), dtype=object)
        for i, p in enumerate(parts):
            out[i] = p
        return out
    for i, p in enumerate(parts):
        if p.shape != first.shape:
            raise InvalidArgumentError(
                f"Cannot batch tensors with different shapes in component {k}. First element "
                f"had shape {list(first.shape)} and element {i} had shape {list(p.shape)}; "
                "use padded_batch to pad them to a common shape")
    return np.stack(parts)


def batched_specs(template, specs: list, lead) -> list:
    """The specs of a batch of `lead` elements of `specs`: each component stacked, each
    sparse leaf one sparse tensor of rank one more (TF's batching of SparseTensors)."""
    out = [_batched(s, lead) for s in specs]
    for at in structure.sparse_positions(template):
        dense = specs[at + 2].dense
        dims = None if dense is None or dense.dims is None else (lead,) + tuple(dense.dims)
        if dims is None:
            rank = specs[at + 2].shape.dims[0] if specs[at + 2].shape.dims else None
            dims = None if rank is None else (lead,) + (None,) * rank
        out[at:at + 3] = structure.sparse_specs(specs[at + 1].dtype, dims)
    return out


def batch_components(template, chunk: list) -> tuple:
    """One batch of the elements `chunk`: each component stacked, each sparse leaf's
    entries gathered into one sparse tensor whose first index is the element's position
    and whose dense shape is the largest of the elements' (as tf.data batches them)."""
    columns = [list(parts) for parts in zip(*chunk)]
    out = [None] * len(columns)
    starts = structure.sparse_positions(template)
    for at in starts:
        out[at:at + 3] = _batch_sparse(*columns[at:at + 3], at)
    taken = {at + k for at in starts for k in range(3)}
    for k, parts in enumerate(columns):
        if k not in taken:
            out[k] = stack(parts, k)
    return tuple(out)


def _batch_sparse(indices: list, values: list, shapes: list, k: int) -> list:
    rank = len(shapes[0])
    for i, s in enumerate(shapes):
        if len(s) != rank:
            raise InvalidArgumentError(
                f"Cannot batch sparse tensors of different ranks in component {k}: the first "
                f"element has dense shape {list(shapes[0])} and element {i} {list(s)}")
    rows = [np.concatenate([np.full((len(ix), 1), i, np.int64), ix.reshape(len(ix), rank)], 1)
            for i, ix in enumerate(indices)]
    dense = np.max(np.stack(shapes), axis=0)
    return [np.concatenate(rows), np.concatenate(values),
            np.concatenate([[len(shapes)], dense]).astype(np.int64)]


def unbatch_rows(template, element: tuple):
    """(n, row(i)) for one element of unbatch: component rows, and for each sparse leaf the
    entries whose first index is i, that index dropped."""
    starts = structure.sparse_positions(template)
    taken = {at + k for at in starts for k in range(3)}
    dense = [c for k, c in enumerate(element) if k not in taken]
    sizes = [len(c) for c in dense] + [int(element[at + 2][0]) for at in starts]
    if any(n != sizes[0] for n in sizes):
        raise InvalidArgumentError("unbatch: the components of an element have different "
                                   f"first dimensions {sizes}")
    one = Rows(dense).one
    owners = [np.asarray(element[at])[:, 0] for at in starts]

    def row(i: int) -> tuple:
        plain, out = iter(one(i)), []
        k = 0
        while k < len(element):
            if k in starts:
                mine = owners[starts.index(k)] == i
                indices, values, shape = element[k:k + 3]
                out += [indices[mine][:, 1:], values[mine], shape[1:].copy()]
                k += 3
            else:
                out.append(next(plain))
                k += 1
        return tuple(out)
    return sizes[0], row


@register
class Batch(_Unary):
    """batch(n): n consecutive elements stacked; a shorter last batch unless drop_remainder
    (then the batch dimension is known statically)."""

    def __init__(self, input_dataset, batch_size, drop_remainder):
        size = scalar_arg(batch_size, "batch_size")
        super().__init__(input_dataset, size)
        if static_int(size) is not None and size <= 0:
            raise ValueError(f"batch_size must be greater than zero, found {size}")
        self._size, self._drop = size, bool(drop_remainder)
        lead = static_int(size) if self._drop else None
        self._specs = batched_specs(self._template, self._specs, lead)

    def _iter(self, ctx: Context):
        n = _positive(ctx, self._size, "batch_size")
        inner = self._input._indices(ctx)
        if inner is not None:  # rows of arrays: gather each batch at once
            rows, indices = inner[0], Blocks(inner[1])
            while True:
                chunk = indices.take(n)
                if not len(chunk) or (self._drop and len(chunk) < n):
                    return
                yield rows.many(chunk)
        it = self._input._iter(ctx)
        while True:
            chunk = list(islice(it, n))
            if not chunk or (self._drop and len(chunk) < n):
                return
            yield batch_components(self._template, chunk)


@register
class PaddedBatch(_Unary):
    """padded_batch: as batch, each component padded (at the end of each dimension) to the
    component's padded shape; unknown dims (None or -1) pad to the batch's longest."""

    def __init__(self, input_dataset, batch_size, padded_shapes, padding_values,
                 drop_remainder):
        size = scalar_arg(batch_size, "batch_size")
        super().__init__(input_dataset, size)
        if structure.sparse_positions(self._template):
            raise TypeError("padded_batch: the elements hold a SparseTensor, which "
                            "padded_batch does not pad (as in TensorFlow); use batch, which "
                            "batches sparse tensors to the largest dense shape")
        self._size, self._drop = size, bool(drop_remainder)
        template, specs = self._template, self._specs
        shapes = [s.shape for s in specs] if padded_shapes is None else [
            TensorShape(s) for s in flatten_up_to(template, padded_shapes, "padded_shapes")]
        self._shapes = []
        for k, (shape, spec) in enumerate(zip(shapes, specs)):
            if shape.dims is None:
                raise ValueError(f"padded_batch: component {k} has an unknown rank; give its "
                                 "padded_shapes")
            if spec.shape.dims is not None and len(spec.shape.dims) != len(shape.dims):
                raise ValueError(f"padded_batch: padded shape {shape} of component {k} does "
                                 f"not have the rank of the component's shape {spec.shape}")
            self._shapes.append(tuple(None if d is None or d < 0 else d for d in shape.dims))
        values = [None] * len(specs) if padding_values is None else flatten_up_to(
            template, padding_values, "padding_values")
        self._values = [_padding_value(v, s, k) for k, (v, s) in enumerate(zip(values, specs))]
        lead = static_int(size) if self._drop else None
        self._specs = [TensorSpec((lead,) + shape, s.dtype)
                       for shape, s in zip(self._shapes, specs)]

    def _iter(self, ctx: Context):
        n = _positive(ctx, self._size, "batch_size")
        it = self._input._iter(ctx)
        while True:
            chunk = list(islice(it, n))
            if not chunk or (self._drop and len(chunk) < n):
                return
            yield tuple(self._pad(list(parts), k) for k, parts in enumerate(zip(*chunk)))

    def _pad(self, parts: list, k: int):
        want = self._shapes[k]
        longest = [max(structure.shape_of(p)[d] for p in parts) for d in range(len(want))]
        shape = tuple(m if w is None else w for w, m in zip(want, longest))
        for i, p in enumerate(parts):
            have = structure.shape_of(p)
            if len(have) != len(shape) or any(h > s for h, s in zip(have, shape)):
                raise InvalidArgumentError(
                    f"padded_batch: element {i} of the batch has shape {list(have)} in "
                    f"component {k}, larger than its padded shape {list(shape)}")
        out = np.full((len(parts),) + shape, self._values[k],
                      dtype=object if self._specs[k].dtype is structure.string
                      else self._specs[k].dtype.np)
        for i, p in enumerate(parts):
            out[(i,) + tuple(slice(0, h) for h in structure.shape_of(p))] = p
        return out


def _padding_value(value, spec: TensorSpec, k: int):
    if spec.dtype is structure.string:
        return b"" if value is None else structure.to_component(value, "padding_values")
    if value is None:
        return spec.dtype.np.type(0)
    if is_tensor_like(value):  # tf.constant(-1, tf.int64), as TF programs write it
        from graphc.ops.array_ops import static_value
        known = static_value(value._as_graph_tensor() if hasattr(value, "_as_graph_tensor")
                             else value)
        if known is None:
            raise TypeError(f"padded_batch: padding value {value!r} of component {k} must be "
                            "known when the pipeline is built (a constant or a number)")
        value = known
    arr = np.asarray(value)
    if arr.ndim or not dtypes.can_cast_losslessly(arr, spec.dtype):
        raise TypeError(f"padded_batch: padding value {value!r} of component {k} must be a "
                        f"scalar convertible to {spec.dtype}")
    return arr.astype(spec.dtype.np)[()]


@register
class Unbatch(_Unary):
    """unbatch: each element split along its first dimension into that many elements."""

    def __init__(self, input_dataset):
        super().__init__(input_dataset)
        for k, s in enumerate(self._specs):
            if s.shape.dims == ():
                raise ValueError(f"unbatch: component {k} is a scalar; every component needs "
                                 "a first dimension")
        specs = self._specs
        self._specs = [TensorSpec(None if s.shape.dims is None else s.shape.dims[1:],
                                  s.dtype) for s in specs]
        for at in structure.sparse_positions(self._template):
            dense = specs[at + 2].dense
            inner = None if dense is None or dense.dims is None else dense.dims[1:]
            rank = specs[at + 2].shape.dims[0] if specs[at + 2].shape.dims else None
            if inner is None and rank is not None:
                inner = (None,) * (rank - 1)
            self._specs[at:at + 3] = structure.sparse_specs(specs[at + 1].dtype, inner)

    def _iter(self, ctx: Context):
        template = self._template
        for element in self._input._iter(ctx):
            n, row = unbatch_rows(template, element)
            for i in range(n):
                yield row(i)


@register
class Shuffle(_Unary):
    """shuffle(buffer_size): TF's algorithm. A buffer is filled with the first buffer_size
    elements; each output is a uniformly random slot of the buffer, which is then refilled
    from the input (or, once the input ends, given the last slot's element). Random numbers
    come from a numpy Generator seeded with (graph seed, op seed, epoch): the same seeds
    give the same order (not TensorFlow's own order), and with reshuffle_each_iteration
    each epoch (each new iterator over this dataset, e.g. under repeat) another one."""

    def __init__(self, input_dataset, buffer_size, seed, reshuffle_each_iteration):
        from graphc.ops.random_ops import get_seed
        size = scalar_arg(buffer_size, "buffer_size")
        super().__init__(input_dataset, size)
        if static_int(size) is not None and size <= 0:
            raise ValueError(f"buffer_size must be greater than zero, found {size}")
        self._size, self._reshuffle = size, bool(reshuffle_each_iteration)
        self._seeds = get_seed(None if seed is None else int(seed))

    def _rng(self, ctx: Context) -> np.random.Generator:
        epoch = ctx.next_epoch(self) if self._reshuffle else 0
        base = [ctx.entropy] if self._seeds[0] is None else \
            [s % 2**64 for s in self._seeds]
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(base + [epoch])))

    def _iter(self, ctx: Context):
        n = _positive(ctx, self._size, "buffer_size")
        return shuffled(self._input._iter(ctx), n, self._rng(ctx))

    def _indices(self, ctx: Context):
        inner = self._input._indices(ctx)
        if inner is None:
            return None
        n = _positive(ctx, self._size, "buffer_size")
        return inner[0], shuffled_indices(inner[1], n, self._rng(ctx))


def shuffled(it, size: int, rng: np.random.Generator):
    """The items of `it` in the order of TF's shuffle buffer (see Shuffle): while the input
    lasts, a uniformly random slot is output and refilled. Once the input is exhausted the
    rest of the buffer comes out in the order of one rng.permutation: draining the buffer
    slot by slot at random gives every order of it with equal probability, so this is the
    same distribution at numpy's speed."""
    it = iter(it)
    buffer = list(islice(it, size))
    randoms: list = []
    while len(buffer) == size:
        try:
            fresh = next(it)
        except StopIteration:
            break
        if not randoms:
            randoms = rng.random(1024).tolist()
        j = int(randoms.pop() * size)
        item, buffer[j] = buffer[j], fresh
        yield item
    for k in rng.permutation(len(buffer)).tolist():
        yield buffer[k]


CHUNK = 256  # picks shuffled_indices computes at once


class _Randoms:
    """The random numbers `shuffled` consumes, in its order (blocks of 1024, each used from
    its end), handed out as arrays."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.left = rng, np.empty(0)

    def take(self, k: int) -> np.ndarray:
        parts = []
        while k:
            if not len(self.left):
                self.left = self.rng.random(1024)[::-1]
            part, self.left = self.left[:k], self.left[k:]
            parts.append(part)
            k -= len(part)
        return np.concatenate(parts) if len(parts) != 1 else parts[0]


_NONE = np.zeros(0, dtype=np.int64)


class Blocks:
    """Row numbers in order, given as an iterator of non-empty int64 arrays (blocks of any
    sizes: the `_indices` protocol of graphc/data/dataset.py), read k at a time."""

    def __init__(self, blocks):
        self._it, self._left = iter(blocks), _NONE

    def take(self, k: int) -> np.ndarray:
        """The next k row numbers (fewer only at the end)."""
        parts, have = [], 0
        while have < k:
            if not len(self._left):
                self._left = next(self._it, _NONE)
                if not len(self._left):
                    break
            part, self._left = self._left[:k - have], self._left[k - have:]
            parts.append(part)
            have += len(part)
        return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else _NONE


def head(blocks, n: int):
    """The blocks of the first n row numbers."""
    for block in blocks:
        if n <= 0:
            return
        if len(block) > n:
            block = block[:n]
        n -= len(block)
        yield block


def tail(blocks, n: int):
    """The blocks of all but the first n row numbers."""
    for block in blocks:
        if n >= len(block):
            n -= len(block)
            continue
        yield block[n:] if n else block
        n = 0


def shuffled_indices(blocks, size: int, rng: np.random.Generator):
    """`shuffled` for row numbers (blocks of them, see Blocks), the same order from the
    same generator, CHUNK picks at a time with numpy instead of one by one in Python;
    yields blocks.

    While the input lasts, the buffer keeps `size` slots and a chunk's picks are slots j[t]
    drawn at once: pick t gets the input that the last earlier pick of the same slot put
    there, or the slot's value before the chunk when no earlier pick took it (found by
    sorting the picks by slot, then by t). Once the input is exhausted, the buffer comes
    out permuted, as in `shuffled`."""
    stream = Blocks(blocks)
    buf = stream.take(size).copy()
    randoms = _Randoms(rng)
    n = len(buf)
    while n == size:
        fresh = stream.take(CHUNK)
        m = len(fresh)
        if m:
            j = (randoms.take(m) * size).astype(np.int64)
            order = np.lexsort((np.arange(m), j))
            slots = j[order]
            after_same = np.zeros(m, dtype=bool)
            after_same[1:] = slots[1:] == slots[:-1]
            out = np.empty(m, dtype=np.int64)
            out[order] = np.where(after_same, fresh[np.roll(order, 1)], buf[slots])
            last = np.ones(m, dtype=bool)
            last[:-1] = slots[1:] != slots[:-1]
            buf[slots[last]] = fresh[order[last]]
            yield out
        if m < CHUNK:
            break
    if n:
        yield buf[randoms.rng.permutation(n)]


def _epochs(make, count: int):
    """The items of `count` iterators made by `make` (forever when count < 0), stopping
    early when one is empty (a repeated empty dataset ends, as in TF)."""
    epoch = 0
    while count < 0 or epoch < count:
        empty = True
        for item in make():
            empty = False
            yield item
        if empty:
            return
        epoch += 1


@register
class Repeat(_Unary):
    """repeat(count): the input `count` times (forever for None or -1; 0 times is empty)."""

    def __init__(self, input_dataset, count):
        self._count = scalar_arg(count, "count")
        super().__init__(input_dataset, self._count)

    def _iter(self, ctx: Context):
        return _epochs(lambda: self._input._iter(ctx), int(ctx.value(self._count)))

    def _indices(self, ctx: Context):
        count = int(ctx.value(self._count))
        first = self._input._indices(ctx) if count != 0 else None
        if first is None:
            return None if count != 0 else (Rows([]), iter(()))
        made = [first[1]]

        def make():
            return made.pop() if made else self._input._indices(ctx)[1]
        return first[0], _epochs(make, count)


class _Cut(_Unary):
    """take / skip: a slice of the input's elements (`_cut`), applied to index streams too."""

    def __init__(self, input_dataset, count):
        self._count = scalar_arg(count, "count")
        super().__init__(input_dataset, self._count)

    def _iter(self, ctx: Context):
        return self._cut(ctx, self._input._iter(ctx))

    def _indices(self, ctx: Context):
        inner = self._input._indices(ctx)
        return None if inner is None else (inner[0], self._cut_rows(ctx, inner[1]))


@register
class Take(_Cut):
    """take(count): the first `count` elements (all of them for -1)."""

    def _cut(self, ctx, it):
        n = int(ctx.value(self._count))
        return it if n < 0 else islice(it, n)

    def _cut_rows(self, ctx, blocks):
        n = int(ctx.value(self._count))
        return blocks if n < 0 else head(blocks, n)


@register
class Skip(_Cut):
    """skip(count): all but the first `count` elements (nothing for -1)."""

    def _cut(self, ctx, it):
        n = int(ctx.value(self._count))
        return islice(it, 0) if n < 0 else islice(it, n, None)

    def _cut_rows(self, ctx, blocks):
        n = int(ctx.value(self._count))
        return iter(()) if n < 0 else tail(blocks, n)


@register
class Shard(_Unary):
    """shard(num_shards, index): the elements whose position i (from 0) has i % num_shards
    == index (data parallelism: process `index` of `num_shards` reads its share)."""

    def __init__(self, input_dataset, num_shards, index):
        self._num = scalar_arg(num_shards, "num_shards")
        self._index = scalar_arg(index, "index")
        super().__init__(input_dataset, self._num, self._index)
        num, at = static_int(self._num), static_int(self._index)
        if num is not None and at is not None:
            _shard_args(num, at)

    def _args(self, ctx: Context):
        return _shard_args(int(ctx.value(self._num)), int(ctx.value(self._index)))

    def _iter(self, ctx: Context):
        num, at = self._args(ctx)
        return islice(self._input._iter(ctx), at, None, num)

    def _indices(self, ctx: Context):
        inner = self._input._indices(ctx)
        if inner is None:
            return None
        num, at = self._args(ctx)

        def blocks():
            position = 0  # of the block's first row in the input
            for block in inner[1]:
                picked = block[(at - position) % num::num]
                position += len(block)
                if len(picked):
                    yield picked
        return inner[0], blocks()


def _shard_args(num: int, at: int) -> tuple:
    if num <= 0:
        raise InvalidArgumentError(f"shard: num_shards must be greater than zero, found {num}")
    if not 0 <= at < num:
        raise InvalidArgumentError(f"shard: index must be in [0, num_shards) = [0, {num}), "
                                   f"found {at}")
    return num, at


@register
class Enumerate(_Unary):
    """enumerate(start): elements (i, element), i an int64 counting from `start`."""

    def __init__(self, input_dataset, start):
        super().__init__(input_dataset)
        self._start = int(start)
        self._template = (None, self._input._template)
        self._specs = [TensorSpec((), dtypes.int64)] + self._specs

    def _iter(self, ctx: Context):
        for i, element in enumerate(self._input._iter(ctx), self._start):
            yield (np.array(i, np.int64),) + element


@register
class Interleave(_Unary):
    """interleave(map_func, cycle_length, block_length): `map_func` (traced once, see
    graphc/data/mapping.py) maps each input element to a dataset; up to cycle_length of
    those are open at once and block_length elements are taken from each in turn. An
    exhausted one is replaced, in its slot, by the next input element's dataset. The order
    is TF's (its sequential InterleaveDataset)."""

    def __init__(self, input_dataset, map_func, cycle_length, block_length):
        from graphc.data.mapping import DatasetFunction
        super().__init__(input_dataset)
        self._function = DatasetFunction(map_func, self._input, "interleave")
        cycle = int(cycle_length)
        self._cycle = cycle if cycle > 0 else (4 if cycle == AUTOTUNE else 0)
        self._block = int(block_length)
        if self._cycle <= 0 or self._block <= 0:
            raise ValueError(f"interleave: cycle_length and block_length must be positive, "
                             f"found {cycle_length} and {block_length}")
        self._template = self._function.dataset._template
        self._specs = list(self._function.dataset._specs)

    def _iter(self, ctx: Context):
        inputs = self._input._iter(ctx)
        slots = [None] * self._cycle
        at, block, open_count, inputs_left = 0, 0, 0, True
        while inputs_left or open_count:
            current = slots[at]
            if current is not None:
                item = next(current, None)
                if item is not None:
                    yield item
                    block += 1
                    if block == self._block:
                        at, block = (at + 1) % self._cycle, 0
                    continue
                slots[at] = None
                open_count -= 1
                at, block = (at + 1) % self._cycle, 0
            elif inputs_left:
                element = next(inputs, None)
                if element is None:
                    inputs_left = False
                else:
                    slots[at] = self._function.iterate(ctx, element)
                    open_count += 1
            else:
                at, block = (at + 1) % self._cycle, 0
