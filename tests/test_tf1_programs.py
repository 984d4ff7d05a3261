"""Whole TF1 programs, written the way a TF1 user writes them, checked against numpy.

Each test is one script: build the graph at "module level", open a Session, run it. They
exercise the API together (variables, feeds, fetch structures, control dependencies, scopes)
rather than one op at a time.
"""

from __future__ import annotations

import collections

import numpy as np

import graphc as tf


def test_counter_and_accumulator():
    counter = tf.Variable(0, name="counter")
    total = tf.Variable(tf.zeros([3]), name="total")
    x = tf.placeholder(tf.float32, shape=[3], name="x")

    increment = tf.assign_add(counter, 1)
    accumulate = total.assign_add(x)
    reset = tf.group(counter.assign(0), total.assign(tf.zeros([3])))
    init = tf.global_variables_initializer()

    rng = np.random.default_rng(0)
    expected_total = np.zeros(3, np.float32)
    with tf.Session() as sess:
        sess.run(init)
        assert sess.run(counter) == 0
        for step in range(1, 6):
            batch = rng.standard_normal(3).astype(np.float32)
            count, acc = sess.run([increment, accumulate], feed_dict={x: batch})
            expected_total += batch
            assert count == step
            np.testing.assert_allclose(acc, expected_total, rtol=1e-6)
            # A plain read between updates sees the committed values.
            assert sess.run(counter) == step
            np.testing.assert_allclose(sess.run(total), expected_total, rtol=1e-6)
        assert sess.run(reset) is None
        assert sess.run(counter) == 0
        np.testing.assert_array_equal(sess.run(total), np.zeros(3, np.float32))
        # The running mean of a counted stream, with assign_sub undoing a bad step.
        sess.run(accumulate, {x: [100.0, 100.0, 100.0]})
        sess.run(tf.assign_sub(total, tf.constant([100.0, 100.0, 100.0])))
        np.testing.assert_array_equal(sess.run(total), np.zeros(3, np.float32))


def test_nested_fetches_with_feeds():
    a = tf.placeholder(tf.float32, [None], name="a")
    b = tf.placeholder(tf.int32, [], name="b")
    total = tf.reduce_sum(a)
    scaled = a * tf.cast(b, tf.float32)
    biggest = tf.reduce_max(a)
    Summary = collections.namedtuple("Summary", ["total", "scaled", "extra"])

    fetches = {
        "pairs": [(total, scaled), (biggest, b)],
        "summary": Summary(total=total, scaled=scaled, extra={"b": b, "ops": [tf.no_op()]}),
        "name": "a:0",
    }
    values = np.array([1.0, -2.0, 5.0], np.float32)
    with tf.Session() as sess:
        out = sess.run(fetches, feed_dict={a: values, b: 3})

    assert set(out) == {"pairs", "summary", "name"}
    assert isinstance(out["pairs"], list) and len(out["pairs"]) == 2
    assert all(isinstance(p, tuple) for p in out["pairs"])
    (t, s), (m, bb) = out["pairs"]
    np.testing.assert_allclose(t, values.sum())
    np.testing.assert_allclose(s, values * 3)
    assert m == 5.0 and bb == 3
    summary = out["summary"]
    assert isinstance(summary, Summary)
    np.testing.assert_allclose(summary.total, values.sum())
    np.testing.assert_allclose(summary.scaled, values * 3)
    assert summary.extra == {"b": 3, "ops": [None]}
    np.testing.assert_array_equal(out["name"], values)


def test_control_dependencies_order_assignments():
    v = tf.Variable(3.0, name="v")
    a = v.assign(v * 2)
    with tf.control_dependencies([a]):
        b = v.assign_add(1)
    with tf.control_dependencies([b]):
        after = tf.identity(v)  # reads v once b has run
    init = tf.global_variables_initializer()

    with tf.Session() as sess:
        sess.run(init)
        x = 3.0
        for _ in range(4):
            x = 2 * x + 1
            assert sess.run(b) == x
            assert sess.run(v) == x
        # Fetching the identity runs a then b first, and sees their result.
        x = 2 * x + 1
        assert sess.run(after) == x
        assert sess.run(v) == x


def test_read_value_under_control_dependencies_sees_the_assignment():
    w = tf.Variable(tf.constant([1.0, 2.0]), name="w")
    update = w.assign(w * 10.0)
    with tf.control_dependencies([update]):
        fresh = w.read_value()
        doubled = tf.identity(w) * 2.0
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(fresh), [10.0, 20.0])
        np.testing.assert_array_equal(sess.run(doubled), [200.0, 400.0])
        np.testing.assert_array_equal(sess.run(w), [100.0, 200.0])


def _linear_model(x, n_features):
    """y = x @ W + b, its variables shared through get_variable."""
    with tf.variable_scope("linear", reuse=tf.AUTO_REUSE):
        W = tf.get_variable("W", shape=[n_features, 1], initializer=tf.zeros_initializer())
        b = tf.get_variable("b", shape=[1], initializer=tf.zeros_initializer())
    return tf.matmul(x, W) + b, W, b


def test_linear_regression_by_gradient_descent():
    rng = np.random.default_rng(42)
    n, d = 256, 3
    true_w = np.array([[2.0], [-3.0], [0.5]], np.float32)
    true_b = np.float32(1.25)
    data_x = rng.standard_normal((n, d)).astype(np.float32)
    data_y = (data_x @ true_w + true_b + 0.01 * rng.standard_normal((n, 1))).astype(np.float32)

    x = tf.placeholder(tf.float32, [None, d], name="x")
    y = tf.placeholder(tf.float32, [None, 1], name="y")
    learning_rate = tf.placeholder_with_default(tf.constant(0.1), shape=[], name="lr")
    with tf.name_scope("model"):
        pred, W, b = _linear_model(x, d)
    # The same variables again, from a second call (reuse), for an evaluation graph.
    eval_pred, W_again, b_again = _linear_model(x, d)
    assert W_again is W and b_again is b
    assert W.name == "linear/W:0" and b.name == "linear/b:0"

    with tf.name_scope("loss"):
        err = pred - y
        loss = tf.reduce_mean(tf.square(err))
    with tf.name_scope("gradients"):
        batch = tf.cast(tf.shape(x)[0], tf.float32)
        grad_W = 2.0 * tf.matmul(tf.transpose(x), err) / batch
        grad_b = 2.0 * tf.reduce_sum(err, axis=0) / batch
    with tf.name_scope("train"):
        train_op = tf.group(W.assign_sub(learning_rate * grad_W),
                            b.assign_sub(learning_rate * grad_b))
    assert loss.name.startswith("loss/")
    assert train_op.name.startswith("train/")

    losses = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for step in range(200):
            lo = step % 4 * 64
            feed = {x: data_x[lo:lo + 64], y: data_y[lo:lo + 64]}
            _, value = sess.run([train_op, loss], feed)
            losses.append(value)
        w_fit, b_fit = sess.run([W, b])
        final = sess.run(eval_pred, {x: data_x})

    assert losses[-1] < 1e-3 < losses[0]
    np.testing.assert_allclose(w_fit, true_w, atol=0.01)
    np.testing.assert_allclose(b_fit, [true_b], atol=0.01)
    np.testing.assert_allclose(final, data_x @ w_fit + b_fit, rtol=1e-5, atol=1e-5)


def test_classifier_with_unknown_batch_reshape_softmax_and_accuracy():
    rng = np.random.default_rng(7)
    images = rng.random((10, 2, 3)).astype(np.float32)  # ten 2x3 "images"
    weights = rng.standard_normal((6, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 10).astype(np.int64)

    x = tf.placeholder(tf.float32, [None, 2, 3], name="images")
    y = tf.placeholder(tf.int64, [None], name="labels")
    W = tf.Variable(weights, name="W")
    flat = tf.reshape(x, [-1, 6])
    logits = tf.matmul(flat, W)
    probs = tf.nn.softmax(logits)
    predictions = tf.argmax(probs, axis=1)
    correct = tf.equal(predictions, y)
    accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
    assert flat.shape.as_list() == [None, 6]
    assert probs.shape.as_list() == [None, 4]

    expected_logits = images.reshape(-1, 6) @ weights
    e = np.exp(expected_logits - expected_logits.max(axis=1, keepdims=True))
    expected_probs = e / e.sum(axis=1, keepdims=True)
    expected_pred = expected_probs.argmax(axis=1)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for batch in (10, 3, 1):  # one graph, several batch sizes
            p, pred, acc = sess.run([probs, predictions, accuracy],
                                    {x: images[:batch], y: labels[:batch]})
            np.testing.assert_allclose(p, expected_probs[:batch], rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(pred, expected_pred[:batch])
            assert pred.dtype == np.int64
            np.testing.assert_allclose(acc, np.mean(expected_pred[:batch] == labels[:batch]))


def test_gram_matrix_and_row_operations():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    gram = tf.matmul(tf.transpose(x), x)
    rows = tf.unstack(x, num=2)
    flipped = tf.reverse(x, axis=[1])
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    with tf.Session() as sess:
        g, r, f = sess.run([gram, rows, flipped], {x: data})
    np.testing.assert_allclose(g, data.T @ data)
    assert [row.tolist() for row in r] == data.tolist()
    np.testing.assert_array_equal(f, data[:, ::-1])
