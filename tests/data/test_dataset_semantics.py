"""Every Dataset transformation against a plain-Python statement of its semantics, through
as_numpy_iterator (no session): order, remainders, padding, seeds, edge counts."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest

import graphc as tf
from graphc.data import Dataset
from graphc.errors import InvalidArgumentError


def values(ds) -> list:
    """The elements as plain Python (ints, floats, lists, tuples, dicts)."""
    def plain(x):
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, tuple):
            return tuple(plain(v) for v in x)
        return np.asarray(x).tolist() if not isinstance(x, bytes) else x
    return [plain(e) for e in ds]


def test_from_tensor_slices_specs_and_conversion():
    ds = Dataset.from_tensor_slices(np.zeros((100, 5), np.float32))
    assert ds.output_types is tf.float32 and ds.output_shapes == tf.TensorShape([5])
    ds = Dataset.from_tensor_slices(([1.0, 2.0], [1, 2], {"a": [[True], [False]]}))
    assert ds.output_types == (tf.float32, tf.int32, {"a": tf.bool})
    assert values(ds) == [(1.0, 1, {"a": [True]}), (2.0, 2, {"a": [False]})]
    with pytest.raises(ValueError, match="same first dimension"):
        Dataset.from_tensor_slices((np.zeros(3), np.zeros(4)))
    with pytest.raises(ValueError, match="scalar"):
        Dataset.from_tensor_slices(3.0)


def test_from_tensors_range_zip_concatenate_enumerate():
    assert values(Dataset.from_tensors([1, 2])) == [[1, 2]]
    assert Dataset.from_tensors([1, 2]).output_shapes == tf.TensorShape([2])
    assert values(Dataset.range(5)) == list(range(5))
    assert values(Dataset.range(2, 9, 3)) == list(range(2, 9, 3))
    assert Dataset.range(3).output_types is tf.int64
    zipped = Dataset.zip((Dataset.range(3), Dataset.range(10, 100)))
    assert values(zipped) == [(0, 10), (1, 11), (2, 12)]  # the shortest decides
    both = Dataset.range(2).concatenate(Dataset.range(5, 7))
    assert values(both) == [0, 1, 5, 6]
    with pytest.raises(TypeError, match="same structure and dtypes"):
        Dataset.range(2).concatenate(Dataset.from_tensor_slices([1.0]))
    assert values(Dataset.range(3).enumerate(5)) == [(5, 0), (6, 1), (7, 2)]


def test_from_generator_checks_types_and_shapes():
    def gen(n):
        for i in range(int(n)):
            yield i, [float(i)] * (i + 1)
    ds = Dataset.from_generator(gen, (tf.int64, tf.float32), ([], [None]), args=(3,))
    assert ds.output_shapes == (tf.TensorShape([]), tf.TensorShape([None]))
    assert values(ds) == [(0, [0.0]), (1, [1.0, 1.0]), (2, [2.0, 2.0, 2.0])]
    bad = Dataset.from_generator(lambda: iter([[1.5]]), tf.int32)
    with pytest.raises(TypeError, match="int32"):
        values(bad)


def reference_batches(items, n, drop):
    out = [items[i:i + n] for i in range(0, len(items), n)]
    return [b for b in out if len(b) == n] if drop else out


@pytest.mark.parametrize("n,drop", [(3, False), (3, True), (5, False), (7, True), (1, False)])
def test_batch_remainders(n, drop):
    ds = Dataset.range(10).batch(n, drop_remainder=drop)
    assert values(ds) == reference_batches(list(range(10)), n, drop)
    assert ds.output_shapes == tf.TensorShape([n if drop else None])
    sliced = Dataset.from_tensor_slices(np.arange(10)).batch(n, drop)  # the gathering path
    assert values(sliced) == reference_batches(list(range(10)), n, drop)


def test_batch_of_different_shapes_is_an_error():
    ds = Dataset.from_generator(lambda: iter([[1], [1, 2]]), tf.int32, [None]).batch(2)
    with pytest.raises(InvalidArgumentError, match="different shapes in component 0"):
        values(ds)


def test_padded_batch():
    rows = [[1], [2, 2], [], [4, 4, 4]]
    ds = Dataset.from_generator(lambda: iter(rows), tf.int32, [None])
    assert values(ds.padded_batch(2)) == [[[1, 0], [2, 2]], [[0, 0, 0], [4, 4, 4]]]
    fixed = ds.padded_batch(3, padded_shapes=[4], padding_values=-1)
    assert values(fixed) == [[[1, -1, -1, -1], [2, 2, -1, -1], [-1] * 4], [[4, 4, 4, -1]]]
    assert fixed.output_shapes == tf.TensorShape([None, 4])
    constant = ds.padded_batch(3, padded_shapes=[4], padding_values=tf.constant(-1))
    assert values(constant) == values(fixed)  # a constant tensor as TF programs give it
    with pytest.raises(TypeError, match="must be known when the pipeline is built"):
        ds.padded_batch(3, padded_shapes=[4], padding_values=tf.placeholder(tf.int32, []))
    with pytest.raises(InvalidArgumentError, match="larger than its padded shape"):
        values(ds.padded_batch(4, padded_shapes=[2]))
    pairs = Dataset.zip((ds, Dataset.range(4))).padded_batch(4, drop_remainder=True)
    assert pairs.output_shapes == (tf.TensorShape([4, None]), tf.TensorShape([4]))


def test_unbatch_inverts_batch():
    ds = Dataset.from_tensor_slices((np.arange(7), np.arange(7) * 2.0)).batch(3).unbatch()
    assert values(ds) == [(i, 2.0 * i) for i in range(7)]
    assert ds.output_shapes == (tf.TensorShape([]), tf.TensorShape([]))


def reference_shuffle(items, size, rng):
    """TF's buffer algorithm with rng's numbers (blocks of 1024, each used from its end):
    while the input lasts, a random slot is output and refilled; then the rest of the
    buffer in the order of rng.permutation (the same distribution as draining it slot by
    slot at random)."""
    items, buffer, out, block = iter(items), [], [], []
    for x in items:
        buffer.append(x)
        if len(buffer) == size:
            break
    for x in items:
        if not block:
            block = list(rng.random(1024))
        j = int(block.pop() * size)
        out.append(buffer[j])
        buffer[j] = x
    return out + [buffer[k] for k in rng.permutation(len(buffer))]


def tf_drain(items, size, random):
    """TF's own algorithm, draining the buffer slot by slot, with Python's random."""
    items, buffer, out = iter(items), [], []
    for x in items:
        buffer.append(x)
        if len(buffer) == size:
            break
    pending = True
    while buffer:
        j = int(random.random() * len(buffer))
        out.append(buffer[j])
        if pending:
            try:
                buffer[j] = next(items)
            except StopIteration:
                pending = False
        if not pending:
            buffer[j] = buffer[-1]
            buffer.pop()
    return out


def test_shuffle_is_tf_algorithm_with_seeds():
    from graphc.data.transforms import shuffled

    expected = reference_shuffle(range(20), 4, np.random.default_rng(5))
    assert list(shuffled(range(20), 4, np.random.default_rng(5))) == expected
    one = values(Dataset.range(50).shuffle(10, seed=1))
    assert sorted(one) == list(range(50)) and one != list(range(50))
    assert values(Dataset.range(50).shuffle(10, seed=1)) == one  # reproducible
    assert values(Dataset.range(50).shuffle(10, seed=2)) != one  # another seed
    assert values(Dataset.range(5).shuffle(1, seed=3)) == list(range(5))  # buffer 1: order


def test_shuffle_orders_have_tfs_distribution():
    """Every order of 5 items through a 3-slot buffer, counted over 12,000 shuffles, by
    graphc (permuting the drained buffer) and by TF's slot-by-slot drain: the frequencies
    agree within sampling error (a chi-square-like bound on each of the 120 orders)."""
    import collections
    import random

    from graphc.data.transforms import shuffled
    runs = 12000
    ours = collections.Counter(tuple(shuffled(range(5), 3, np.random.default_rng(seed)))
                               for seed in range(runs))
    theirs = collections.Counter(tuple(tf_drain(range(5), 3, random.Random(seed)))
                                 for seed in range(runs))
    assert set(ours) == set(theirs)
    for order in theirs:
        p = (ours[order] + theirs[order]) / (2 * runs)
        sigma = (2 * p * (1 - p) / runs) ** 0.5
        assert abs(ours[order] - theirs[order]) / runs < 5 * sigma + 1e-3, order


@pytest.mark.parametrize("size, count", [(4, 20), (10, 3), (7, 7), (300, 2000), (1, 600),
                                         (1000, 1000), (257, 514)])
def test_shuffled_indices_gives_the_buffer_algorithms_order(size, count):
    from graphc.data.transforms import shuffled_indices
    expected = reference_shuffle(range(count), size, np.random.default_rng(9))
    cuts = np.sort(np.random.default_rng(count).integers(0, count, 5))  # uneven blocks
    blocks = [b for b in np.split(np.arange(count, dtype=np.int64), cuts) if len(b)]
    got = list(shuffled_indices(iter(blocks), size, np.random.default_rng(9)))
    assert all(b.dtype == np.int64 and len(b) for b in got)
    assert np.concatenate(got).tolist() == expected
    first = np.concatenate(list(islice(shuffled_indices(iter(blocks), size,
                                                        np.random.default_rng(9)), 2)))
    assert first.tolist() == expected[:len(first)]


def test_row_blocks_take_head_and_tail():
    from graphc.data.transforms import Blocks, head, tail
    blocks = [np.arange(0, 3), np.arange(3, 4), np.arange(4, 9)]
    stream = Blocks(iter(blocks))
    assert [stream.take(k).tolist() for k in (2, 3, 1, 5, 2)] == [
        [0, 1], [2, 3, 4], [5], [6, 7, 8], []]
    for n in range(11):
        assert np.concatenate(list(head(blocks, n)) or [[]]).tolist() == list(range(min(n, 9)))
        assert np.concatenate(list(tail(blocks, n)) or [[]]).tolist() == list(range(n, 9))
        assert all(len(b) for b in list(head(blocks, n)) + list(tail(blocks, n)))


def test_shuffle_graph_seed_and_reshuffle_per_epoch():
    tf.set_random_seed(7)
    a = values(Dataset.range(30).shuffle(30).repeat(2))
    tf.reset_default_graph()
    tf.set_random_seed(7)
    assert values(Dataset.range(30).shuffle(30).repeat(2)) == a  # graph seed: reproducible
    assert sorted(a[:30]) == sorted(a[30:]) == list(range(30))
    assert a[:30] != a[30:]  # reshuffled each epoch
    same = values(Dataset.range(30).shuffle(30, seed=1, reshuffle_each_iteration=False)
                  .repeat(2))
    assert same[:30] == same[30:]
    unseeded = [values(Dataset.range(30).shuffle(30)) for _ in range(2)]
    tf.reset_default_graph()
    assert unseeded[0] != unseeded[1]


@pytest.mark.parametrize("count", [0, 1, 3])
def test_repeat_counts(count):
    assert values(Dataset.range(3).repeat(count)) == list(range(3)) * count


def test_repeat_forever_take_skip_edges():
    assert values(Dataset.range(3).repeat().take(7)) == [0, 1, 2, 0, 1, 2, 0]
    assert values(Dataset.range(3).repeat(-1).take(4)) == [0, 1, 2, 0]
    assert values(Dataset.range(0).repeat()) == []  # an empty dataset repeated ends
    assert values(Dataset.range(5).take(0)) == []
    assert values(Dataset.range(5).take(-1)) == list(range(5))
    assert values(Dataset.range(5).take(9)) == list(range(5))
    assert values(Dataset.range(5).skip(0)) == list(range(5))
    assert values(Dataset.range(5).skip(2)) == [2, 3, 4]
    assert values(Dataset.range(5).skip(-1)) == []
    assert values(Dataset.range(5).skip(9)) == []
    rows = Dataset.from_tensor_slices(np.arange(6)).skip(1).take(3).repeat(2).batch(4)
    assert values(rows) == [[1, 2, 3, 1], [2, 3]]  # the row-number path


def test_filter():
    ds = Dataset.range(10).filter(lambda x: tf.equal(x % 3, 0))
    assert values(ds) == [0, 3, 6, 9]
    with pytest.raises(TypeError, match="scalar tf.bool"):
        Dataset.range(3).filter(lambda x: x)


def reference_interleave(inputs, make, cycle, block):
    """TF's sequential interleave (InterleaveDatasetOp), in plain Python."""
    inputs, slots, out = iter(inputs), [None] * cycle, []
    at = used = opened = 0
    more = True
    while more or opened:
        if slots[at] is not None:
            x = next(slots[at], None)
            if x is not None:
                out.append(x)
                used += 1
                if used == block:
                    at, used = (at + 1) % cycle, 0
                continue
            slots[at], opened = None, opened - 1
            at, used = (at + 1) % cycle, 0
        elif more:
            x = next(inputs, None)
            if x is None:
                more = False
            else:
                slots[at], opened = iter(make(x)), opened + 1
        else:
            at, used = (at + 1) % cycle, 0
    return out


@pytest.mark.parametrize("cycle,block", [(1, 1), (2, 1), (2, 3), (3, 2), (5, 1)])
def test_interleave_order(cycle, block):
    sizes = [3, 1, 4, 2]
    ds = Dataset.from_tensor_slices(np.array(sizes, np.int64)).interleave(
        lambda n: Dataset.from_tensors(n).repeat(n), cycle_length=cycle, block_length=block)
    assert values(ds) == reference_interleave(sizes, lambda n: [n] * n, cycle, block)


def test_flat_map():
    ds = Dataset.range(1, 4).flat_map(lambda n: Dataset.from_tensor_slices(tf.fill([3], n)))
    assert values(ds) == [1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_memmap_streams_without_copying(tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.arange(4000, dtype=np.float32).reshape(1000, 4))
    data = np.load(path, mmap_mode="r")
    ds = Dataset.from_tensor_slices(data)
    assert ds._leaves[0] is data  # the dataset keeps the memmap itself
    first = next(iter(ds))
    assert type(first) is np.ndarray and not np.shares_memory(first, data)
    assert first.tolist() == [0, 1, 2, 3]
    batch = next(iter(ds.shuffle(100, seed=0).batch(8)))
    assert type(batch) is np.ndarray and batch.shape == (8, 4)
    assert not np.shares_memory(batch, data)  # rows copied out of the file's mapping
    assert all(row[0] % 4 == 0 and row.tolist() == list(range(int(row[0]), int(row[0]) + 4))
               for row in batch)
