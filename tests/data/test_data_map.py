"""Dataset.map / filter: traced once into a private graph, compiled, run per element."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.data import Dataset


def test_map_is_traced_once_and_compiled():
    calls = []

    def fn(x, y):
        calls.append((x, y))
        return {"sum": x + tf.cast(y, tf.float32), "y": y * 2}

    ds = Dataset.from_tensor_slices((np.arange(5, dtype=np.float32), np.arange(5))).map(fn)
    assert len(calls) == 1
    x, y = calls[0]
    assert isinstance(x, tf.Tensor) and x.graph is not tf.get_default_graph()
    assert ds.output_types == {"sum": tf.float32, "y": tf.int64}
    got = list(ds)
    assert len(calls) == 1  # running does not trace again
    assert [float(e["sum"]) for e in got] == [0, 2, 4, 6, 8]
    assert [int(e["y"]) for e in got] == [0, 2, 4, 6, 8]
    trace = ds._function.trace
    assert trace.session.target_name == "llvm"


def test_map_sees_static_shapes_with_unknown_dims():
    seen = []
    ds = Dataset.from_tensor_slices(np.zeros((10, 3), np.float32)).batch(4)
    out = ds.map(lambda x: seen.append(x.shape.as_list()) or tf.reduce_sum(x, axis=1))
    assert seen == [[None, 3]]
    assert out.output_shapes == tf.TensorShape([None])
    assert [len(b) for b in out] == [4, 4, 2]


def test_map_converts_python_and_numpy_results():
    ds = Dataset.range(2).map(lambda x: (x, 1.5, np.int64(3)))
    assert ds.output_types == (tf.int64, tf.float32, tf.int64)
    assert [tuple(map(float, e)) for e in ds] == [(0, 1.5, 3), (1, 1.5, 3)]


def test_map_single_dict_argument_and_num_parallel_calls():
    ds = Dataset.from_tensor_slices({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    out = ds.map(lambda d: d["a"] * d["b"], num_parallel_calls=tf.data.experimental.AUTOTUNE)
    assert [float(v) for v in out] == [3.0, 8.0]


def test_map_capturing_another_graphs_tensor_is_an_error():
    outer = tf.placeholder(tf.float32, [], name="outer_scale")
    with pytest.raises(ValueError, match="'outer_scale:0'.*may not capture tensors of "
                                         "another graph"):
        Dataset.range(3).map(lambda x: tf.cast(x, tf.float32) * outer)
    with pytest.raises(ValueError, match="'mul:0'.*captured tensor 'outer_scale:0'"):
        Dataset.range(3).map(lambda x: outer * 2.0)  # built in the outer graph


def test_filter_with_tensor_predicate_is_compiled():
    ds = Dataset.from_tensor_slices(np.arange(10, dtype=np.float32)).filter(
        lambda x: x > 6.5)
    assert [float(v) for v in ds] == [7, 8, 9]
    assert ds._function.trace.session.target_name == "llvm"


def test_map_in_a_session_pipeline():
    it = (Dataset.range(8).map(lambda x: tf.cast(x * x, tf.float32)).batch(3)
          .make_one_shot_iterator())
    nxt = it.get_next()
    with tf.Session() as sess:
        assert sess.run(nxt).tolist() == [0, 1, 4]
        assert sess.run(tf.reduce_sum(nxt)) == 9 + 16 + 25
