"""tf.TensorArray, tf.map_fn, tf.scan, tf.foldl and tf.foldr on every target against numpy,
their gradients against central differences, and their errors (graphc/ops/tensor_array.py,
graphc/ops/functional_ops.py)."""

import numpy as np
import pytest
from conftest import assert_close, run
from test_control_flow import numeric_gradient

import graphc as tf

DATA = np.arange(12, dtype=np.float64).reshape(4, 3) / 7 + 0.1


def test_tensor_array_methods_outside_loops(target):
    x = tf.placeholder(tf.float64, [4, 3])
    ta = tf.TensorArray(tf.float64, size=4).unstack(x)
    written = tf.TensorArray(tf.float64, size=3).write(2, x[0]).write(0, x[3])
    scattered = tf.TensorArray(tf.float64, size=4, element_shape=[3]).scatter([3, 1], x[:2])
    fetches = [ta.read(1), ta.gather([3, 0]), ta.size(), ta.concat(), written.stack(),
               scattered.stack(), written.write(2, x[1]).read(2)]
    got = run(fetches, {x: DATA}, target)
    assert_close(got[0], DATA[1])
    assert_close(got[1], DATA[[3, 0]])
    assert got[2] == 4
    assert_close(got[3], DATA.reshape(-1))
    assert_close(got[4], np.stack([DATA[3], np.zeros(3), DATA[0]]))
    assert_close(got[5], np.stack([np.zeros(3), DATA[1], np.zeros(3), DATA[0]]))
    assert_close(got[6], DATA[1])  # written twice: the last value


def test_tensor_array_as_loop_vars_unwritten_and_declared(target):
    x = tf.placeholder(tf.float64, [4, 3])
    unwritten = tf.TensorArray(tf.float64, size=4)
    declared = tf.TensorArray(tf.float64, size=4, element_shape=[3])

    def body(i, a, b):
        return i + 1, a.write(i, tf.sin(x[i])), b.write(3 - i, x[i] * tf.cast(i, tf.float64))
    _, a, b = tf.while_loop(lambda i, *_: i < 4, body, [0, unwritten, declared],
                            maximum_iterations=4)
    got = run([a.stack(), b.stack()], {x: DATA}, target)
    assert_close(got[0], np.sin(DATA))
    assert_close(got[1], (DATA * np.arange(4)[:, None])[::-1])


def test_gradients_through_tensor_array_reads_and_writes(target):
    x = tf.placeholder(tf.float64, [4, 3])
    inputs = tf.TensorArray(tf.float64, size=4).unstack(x)

    def body(i, out, acc):
        row = inputs.read(i)
        return i + 1, out.write(i, acc * row), acc + tf.tanh(row)
    _, out, _ = tf.while_loop(lambda i, *_: i < 4, body,
                              [0, tf.TensorArray(tf.float64, size=4), tf.ones([3], tf.float64)],
                              maximum_iterations=4)
    loss = tf.reduce_sum(out.stack() ** 2)
    grad = tf.gradients(loss, x)[0]

    def numpy_loss(v):
        acc, total = np.ones(3), 0.0
        for row in v:
            total += np.sum((acc * row) ** 2)
            acc = acc + np.tanh(row)
        return total
    assert_close(run(grad, {x: DATA}, target), numeric_gradient(numpy_loss, DATA),
                 rtol=1e-6, atol=1e-8)


def test_map_fn_scan_foldl_foldr(target):
    x = tf.placeholder(tf.float64, [4, 3])
    pair = (x, x * 2.0)
    fetches = [tf.map_fn(lambda r: tf.reduce_sum(r * r), x),
               tf.map_fn(lambda p: p[0] + p[1], pair, dtype=tf.float64),
               tf.scan(lambda a, r: a * 0.5 + r, x),
               tf.scan(lambda a, r: a + r, x, initializer=tf.zeros([3], tf.float64),
                       reverse=True),
               tf.foldl(lambda a, r: a * r, x),
               tf.foldr(lambda a, r: a - r, x, initializer=tf.zeros([3], tf.float64))]
    got = run(fetches, {x: DATA}, target)
    running = [DATA[0]]
    for r in DATA[1:]:
        running.append(running[-1] * 0.5 + r)
    assert_close(got[0], (DATA ** 2).sum(1))
    assert_close(got[1], DATA * 3)
    assert_close(got[2], np.array(running))
    assert_close(got[3], np.cumsum(DATA[::-1], 0)[::-1])
    assert_close(got[4], DATA.prod(0))
    assert_close(got[5], -DATA.sum(0))


def test_scan_gradient(target):
    x = tf.placeholder(tf.float64, [4, 3])
    w = tf.placeholder(tf.float64, [3])
    ys = tf.scan(lambda a, r: tf.tanh(a * w + r), x)
    grads = tf.gradients(tf.reduce_sum(ys * ys), [x, w])
    wv = np.array([0.5, -0.3, 0.9])

    def numpy_loss(xv, wv):
        a, total = xv[0], np.sum(xv[0] ** 2)
        for r in xv[1:]:
            a = np.tanh(a * wv + r)
            total += np.sum(a * a)
        return total
    got = run(grads, {x: DATA, w: wv}, target)
    assert_close(got[0], numeric_gradient(lambda v: numpy_loss(v, wv), DATA), rtol=1e-6,
                 atol=1e-8)
    assert_close(got[1], numeric_gradient(lambda v: numpy_loss(DATA, v), wv), rtol=1e-6,
                 atol=1e-8)


def test_a_read_out_of_range_fails_at_run_time_naming_the_op(target):
    x = tf.placeholder(tf.float64, [4, 3])
    i = tf.placeholder(tf.int32, [])
    ta = tf.TensorArray(tf.float64, size=4).unstack(x)
    value = ta.read(i)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"gather created at test_tensor_array\.py:\d+\) failed: index "
                             r"(5|an index) .*out of range \[0, 4\)"):
        run(value, {x: DATA, i: 5}, target)
    written = tf.TensorArray(tf.float64, size=2).write(i, x[0])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"put_row created at "
                       r"test_tensor_array\.py:\d+\) failed: .*out of range \[0, 2\)"):
        run(written.stack(), {x: DATA, i: 2}, target)


def test_errors_when_the_graph_is_built():
    with pytest.raises(ValueError, match="TensorArray: size must be given"):
        tf.TensorArray(tf.float32)
    with pytest.raises(ValueError, match="element shape is unknown"):
        tf.TensorArray(tf.float32, size=3).stack()
    with pytest.raises(ValueError, match=r"element shape \(3,\) does not match"):
        tf.TensorArray(tf.float32, size=2, element_shape=[3]).write(0, tf.zeros([4]))
    with pytest.raises(ValueError, match="never written in the body"):
        tf.while_loop(lambda i, ta: i < 2, lambda i, ta: (i + 1, ta),
                      [0, tf.TensorArray(tf.float32, size=2)])
    with pytest.raises(ValueError, match="map_fn: every element of elems must have at least "
                                         "one dimension"):
        tf.map_fn(lambda v: v, tf.constant(1.0))


def test_write_of_an_element_whose_size_is_known_only_at_run_time():
    """The buffer takes the written element's run-time size; unwritten rows are zeros."""
    x = tf.placeholder(tf.int32, [None])
    stacked = tf.TensorArray(tf.int32, size=3).write(1, x).stack()
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(stacked, {x: [4, 5, 6, 7]}),
                                      [[0, 0, 0, 0], [4, 5, 6, 7], [0, 0, 0, 0]])
