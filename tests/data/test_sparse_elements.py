"""SparseTensors through sessions and tf.data: fetches and feeds, VarLenFeature parsing, and
batching, unbatching and caching sparse elements, against Python references of TF's
semantics."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.data import Dataset, TFRecordDataset
from graphc.data import tf_io as tfio
from graphc.errors import DTypeError, InvalidArgumentError, ShapeError
from graphc.framework.sparse_tensor import SparseTensor, SparseTensorValue, sparse_placeholder

pytest.importorskip("google.protobuf")
pytest.importorskip("google_crc32c")


def example(values, label) -> bytes:
    feature = tf.train.Feature
    return tf.train.Example(features=tf.train.Features(feature={
        "v": feature(int64_list=tf.train.Int64List(value=values)),
        "w": feature(float_list=tf.train.FloatList(value=[0.5 * x for x in values])),
        "y": feature(float_list=tf.train.FloatList(value=[label]))})).SerializeToString()


FEATURES = {"v": tfio.VarLenFeature(tf.int64), "w": tfio.VarLenFeature(tf.float32),
            "y": tfio.FixedLenFeature([], tf.float32)}


def reference(lists, batched):
    """TF's SparseTensor of VarLenFeature lists: entry j of example b at [b, j]."""
    if not batched:
        (values,) = lists
        return [[j] for j in range(len(values))], list(values), [len(values)]
    indices = [[b, j] for b, v in enumerate(lists) for j in range(len(v))]
    values = [x for v in lists for x in v]
    return indices, values, [len(lists), max((len(v) for v in lists), default=0)]


def check(value, lists, batched):
    indices, values, shape = reference(lists, batched)
    assert isinstance(value, SparseTensorValue)
    assert value.indices.dtype == np.int64 and value.dense_shape.dtype == np.int64
    assert value.indices.reshape(-1, len(shape)).tolist() == indices
    assert value.values.tolist() == values and value.dense_shape.tolist() == shape


LISTS = [[3, 1, 4], [], [1, 5], [9, 2, 6, 5], [3]]


@pytest.fixture
def records(tmp_path):
    path = tmp_path / "sparse.tfrecord"
    with tfio.TFRecordWriter(str(path)) as w:
        for i, values in enumerate(LISTS):
            w.write(example(values, float(i)))
    return str(path)


def test_parse_varlen_outside_a_pipeline():
    serialized = [example(v, 0.0) for v in LISTS]
    for v, s in zip(LISTS, serialized):
        check(tfio.parse_single_example(s, FEATURES)["v"], [v], batched=False)
    parsed = tfio.parse_example(serialized, FEATURES)
    check(parsed["v"], LISTS, batched=True)
    check(parsed["w"], [[0.5 * x for x in v] for v in LISTS], batched=True)
    assert parsed["w"].values.dtype == np.float32
    check(tfio.parse_example(serialized[1:2], FEATURES)["v"], [[]], batched=True)


def test_parse_inside_map_single_and_batched(records):
    single = TFRecordDataset(records).map(lambda s: tfio.parse_single_example(s, FEATURES))
    assert single.output_classes["v"] is SparseTensor
    assert single.output_types["v"] is tf.int64
    assert single.output_shapes["v"].as_list() == [None]
    for got, values in zip(single, LISTS):
        check(got["v"], [values], batched=False)
    batched = TFRecordDataset(records).batch(2).map(lambda s: tfio.parse_example(s, FEATURES))
    assert batched.output_shapes["v"].as_list() == [None, None]
    got = list(batched)
    for k, element in enumerate(got):
        check(element["v"], LISTS[2 * k:2 * k + 2], batched=True)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_batch_of_sparse_elements_matches_tf(records, size):
    ds = TFRecordDataset(records).map(lambda s: tfio.parse_single_example(s, FEATURES))
    batched = ds.batch(size)
    assert batched.element_spec["v"].shape.as_list() == [None, None]
    for k, element in enumerate(batched):
        check(element["v"], LISTS[k * size:(k + 1) * size], batched=True)
        assert element["y"].tolist() == list(range(k * size, min(len(LISTS), (k + 1) * size)))
    dropped = ds.batch(2, drop_remainder=True)
    assert dropped.output_shapes["v"].as_list() == [2, None]
    assert len(list(dropped)) == 2


def test_unbatch_restores_the_elements_with_the_batch_dense_shape(records):
    ds = TFRecordDataset(records).batch(2).map(lambda s: tfio.parse_example(s, FEATURES))
    rows = list(ds.unbatch())
    assert len(rows) == len(LISTS)
    for k, (row, values) in enumerate(zip(rows, LISTS)):
        batch = LISTS[k - k % 2:k - k % 2 + 2]
        longest = max(len(v) for v in batch)
        assert row["v"].values.tolist() == values
        assert row["v"].indices.reshape(-1).tolist() == list(range(len(values)))
        assert row["v"].dense_shape.tolist() == [longest]  # the slice of the batch's shape


def test_iterator_gives_a_sparse_tensor_the_graph_uses(records):
    ds = TFRecordDataset(records).map(lambda s: tfio.parse_single_example(s, FEATURES))
    nxt = ds.batch(2).make_one_shot_iterator().get_next()
    sp = nxt["v"]
    assert isinstance(sp, SparseTensor) and sp.shape.as_list() == [None, None]
    total = tf.reduce_sum(sp.values) + tf.cast(tf.reduce_sum(sp.dense_shape), tf.int64)
    with tf.Session() as sess:
        for k in range(3):
            value, t = sess.run([sp, total])
            batch = LISTS[2 * k:2 * k + 2]
            check(value, batch, batched=True)
            _, _, shape = reference(batch, True)
            assert t == sum(map(sum, batch)) + sum(shape)
        with pytest.raises(tf.errors.OutOfRangeError):
            sess.run(total)


def test_map_can_build_and_transform_sparse_elements():
    ds = Dataset.range(4).map(lambda i: SparseTensor(
        tf.reshape(tf.stack([i * 0, i]), [1, 2]), tf.reshape(tf.cast(i, tf.float32), [1]),
        tf.stack([tf.constant(1, tf.int64), i + 1])))
    got = list(ds)
    for i, value in enumerate(got):
        assert value.indices.tolist() == [[0, i]] and value.values.tolist() == [float(i)]
        assert value.dense_shape.tolist() == [1, i + 1]
    scaled = list(ds.map(lambda sp: SparseTensor(sp.indices, sp.values * 2.0,
                                                 sp.dense_shape)))
    assert [v.values.tolist() for v in scaled] == [[0.0], [2.0], [4.0], [6.0]]
    kept = list(ds.filter(lambda sp: tf.reduce_sum(sp.values) > 1.5))
    assert [v.values.tolist() for v in kept] == [[2.0], [3.0]]


def test_from_tensors_cache_and_refusals(tmp_path):
    value = SparseTensorValue([[0, 1], [1, 0]], np.array([1.5, 2.5], np.float32), [2, 2])
    ds = Dataset.from_tensors(value)
    assert ds.element_spec.shape.as_list() == [2, 2]
    (got,) = list(ds)
    assert got.indices.dtype == np.int64 and got.indices.tolist() == [[0, 1], [1, 0]]
    cached = ds.repeat(2).cache(str(tmp_path / "c"))
    for _ in range(2):
        again = list(cached)
        assert [g.values.tolist() for g in again] == [[1.5, 2.5]] * 2
    with pytest.raises(TypeError, match="padded_batch: the elements hold a SparseTensor"):
        ds.padded_batch(2)
    with pytest.raises(NotImplementedError, match="slicing a SparseTensor"):
        Dataset.from_tensor_slices(value)


def test_batch_refuses_mixed_ranks():
    ds = Dataset.from_tensors(SparseTensorValue([[0]], [1], [3])).concatenate(
        Dataset.from_tensors(SparseTensorValue([[0, 0]], [1], [2, 2])))
    with pytest.raises(InvalidArgumentError, match="different ranks in component 0"):
        list(ds.batch(2))


# --- sessions -----------------------------------------------------------------------------------
VALUE = SparseTensorValue(np.array([[0, 1], [2, 3]]), np.array([1.0, 2.0], np.float32),
                          np.array([3, 4]))


def test_session_fetches_and_feeds_sparse_tensors():
    sp = sparse_placeholder(tf.float32, [None, 4], name="sp")
    assert sp.shape.as_list() == [None, 4]
    y = tf.reduce_sum(sp.values) * 2.0
    with tf.Session() as sess:
        got, total = sess.run([sp, y], {sp: VALUE})
        assert isinstance(got, SparseTensorValue) and total == 6.0
        assert got.indices.tolist() == [[0, 1], [2, 3]] and got.dense_shape.tolist() == [3, 4]
        again = sess.run({"s": sp}, {sp: tuple(VALUE)})["s"]
        assert again.values.tolist() == [1.0, 2.0]
        f = sess.make_callable([y, sp.dense_shape], [sp])
        for shape in ([3, 4], [5, 4]):
            t, s = f(VALUE._replace(dense_shape=np.array(shape)))
            assert t == 6.0 and s.tolist() == shape
        with pytest.raises(TypeError, match="fed a SparseTensorValue or a tuple"):
            sess.run(y, {sp: VALUE.values})


def test_a_fixed_dense_shape_is_checked_not_fed():
    sp = sparse_placeholder(tf.float32, [3, 4])
    assert sp.shape.as_list() == [3, 4]
    with tf.Session() as sess:
        assert sess.run(sp.dense_shape, {sp: VALUE}).tolist() == [3, 4]
        with pytest.raises(ValueError, match=r"Cannot feed dense_shape \[2, 4\] to the "
                                             r"SparseTensor .* fixed at \[3, 4\]"):
            sess.run(sp.values, {sp: VALUE._replace(dense_shape=[2, 4])})


def test_construction_errors_name_the_part():
    with pytest.raises(ShapeError, match="indices must be 2-D"):
        SparseTensor([0, 1], [1.0, 2.0], [3])
    with pytest.raises(ShapeError, match="one entry count"):
        SparseTensor([[0], [1]], [1.0], [3])
    with pytest.raises(ShapeError, match="dense_shape .* has 2 entries"):
        SparseTensor([[0], [1]], [1.0, 2.0], [3, 3])
    with pytest.raises(DTypeError, match="dense_shape must be integers"):
        SparseTensor([[0]], [1.0], [3.5])
