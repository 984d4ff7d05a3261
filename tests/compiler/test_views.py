"""Concatenations and slices that need no copy (graphc/compiler/views.py), and the memory
plan of buffers placed as parts of another (graphc/passes/memory.py)."""

import numpy as np
import pytest

import graphc as tf
from graphc.passes.memory import plan_memory

RNG = np.random.default_rng(5)


def _run(fetches, feed, threads=1):
    """(values, plan) of an LLVM run, the values checked against the reference target."""
    with tf.Session(config=tf.Options(threads=threads)) as sess:
        got = sess.run(fetches, feed)
        again = sess.run(fetches, feed)  # (the memory a run leaves does not matter)
        plan = next(iter(sess._executor._plans.values()))
    with tf.Session(target="reference") as sess:
        want = sess.run(fetches, feed)
    for g, h, w in zip(got, again, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(g, h)
    return got, plan


def _views(plan) -> list:
    return [k.name for k in plan.kernels if k.notes.get("view")]


def _bucket():
    """A flattened bucket of two computed values, scaled, cut back into them."""
    a = tf.placeholder(tf.float32, [8, 5])
    b = tf.placeholder(tf.float32, [5, 6])
    p, q = tf.matmul(a, b), tf.exp(a) * 2.0
    flat = tf.concat([tf.reshape(p, [-1]), tf.reshape(q, [-1])], 0) * 3.0 + 1.0
    back = tf.reshape(flat[:48], [8, 6]), tf.reshape(flat[48:], [8, 5])
    feed = {a: RNG.standard_normal((8, 5)).astype(np.float32),
            b: RNG.standard_normal((5, 6)).astype(np.float32)}
    return p, q, flat, back, feed


@pytest.mark.parametrize("threads", [1, 2])
def test_a_bucket_is_concatenated_and_cut_without_copies(threads):
    _, _, _, (p2, q2), feed = _bucket()
    out = tf.reduce_sum(p2, axis=1) + tf.reduce_sum(q2, axis=1)
    _, plan = _run([out], feed, threads)
    assert _views(plan) == ["k_concat", "k_slice", "k_slice"]
    assert plan.memory["parts"] == 4  # the concat's two inputs, the two slices


def test_explain_says_which_kernels_copy_nothing():
    _, _, _, (p2, _), feed = _bucket()
    text = str(tf.explain(tf.reduce_sum(p2), feed_dict=feed))
    assert "(no copy: its inputs are computed in their places in its buffer)" in text
    assert "(no copy: a range of its input's buffer)" in text
    assert "values placed in another's buffer (a concat's inputs, slices: no copy)" in \
        " ".join(text.split())


def test_fetched_parts_keep_their_own_buffers():
    # a fetched value may be written into the caller's array: not a part of another
    p, q, flat, (p2, q2), feed = _bucket()
    values, plan = _run([p, p2, tf.reduce_sum(q2)], feed)
    assert _views(plan) == ["k_slice"]  # (q2's: p is fetched, and so is p2)
    a, b = feed.values()
    np.testing.assert_allclose(values[1], (a @ b) * 3 + 1, rtol=1e-5)
    _, plan = _run([flat, tf.reduce_sum(q2)], feed)
    assert _views(plan) == ["k_concat"]  # (a slice of the fetched bucket copies)


def test_a_part_read_for_the_last_time_is_not_written_over():
    # exp(s1) may not take s1's place: s2, beside it in one buffer, is read after it
    x = tf.placeholder(tf.float32, [40])
    r = tf.concat([tf.sin(x), tf.cos(x)], 0)
    s1, s2 = r[:40], r[40:]
    y1 = tf.exp(s1) + 0.5
    y2 = tf.reduce_sum(s2 * y1)
    feed = {x: RNG.standard_normal(40).astype(np.float32)}
    (got,), plan = _run([y2], feed)
    xv = feed[x].astype(np.float64)
    np.testing.assert_allclose(got, np.sum(np.cos(xv) * (np.exp(np.sin(xv)) + 0.5)),
                               rtol=1e-5)
    assert "k_concat" in _views(plan)


@pytest.mark.parametrize("make, why", [
    (lambda x, f: tf.concat([x * 2.0, f], 0), "a feed is not the plan's memory"),
    (lambda x, f: tf.concat([tf.exp(x)] * 2, 0), "one input twice"),
    (lambda x, f: tf.concat([tf.exp(x), tf.sin(x)], 1), "blocks interleaved along axis 1"),
    (lambda x, f: tf.exp(x)[:, 1:3] * 2.0, "columns: not one range"),
    (lambda x, f: tf.exp(x)[::2] * 2.0, "every other row"),
])
def test_copies_that_are_not_one_range_stay(make, why):
    x = tf.placeholder(tf.float32, [6, 4])
    f = tf.placeholder(tf.float32, [6, 4])
    y = make(x, f)
    feed = {x: RNG.standard_normal((6, 4)).astype(np.float32),
            f: RNG.standard_normal((6, 4)).astype(np.float32)}
    _, plan = _run([tf.reduce_sum(y * y, axis=-1)], feed)
    assert _views(plan) == [], why


def test_slices_of_slices_and_leading_unit_axes():
    x = tf.placeholder(tf.float32, [1, 12, 3])
    y = tf.exp(x)
    inner = y[:, 2:10][:, 3:5]  # rows 5..6 of the 12
    out = tf.reduce_sum(inner * 2.0, axis=-1)
    feed = {x: RNG.standard_normal((1, 12, 3)).astype(np.float32)}
    (got,), plan = _run([out], feed)
    assert _views(plan) == ["k_slice", "k_slice"]
    np.testing.assert_allclose(got, 2 * np.exp(feed[x][:, 5:7]).sum(-1), rtol=1e-5)


def test_the_memory_plan_places_parts_inside_their_buffer():
    # a, b parts of c (at 0 and 400); d a part of e (at 800); f written over e in place
    kernels = [(["a"], []), (["b"], ["a"]), (["x"], ["b"]), (["e"], ["c", "x"]),
               (["f"], ["e", "d"]), (["g"], ["f"])]
    sizes = {"a": 400, "b": 600, "c": 1000, "x": 1000, "d": 100, "e": 1000, "f": 1000,
             "g": 64}
    parts = {"a": ("c", 0), "b": ("c", 400), "d": ("e", 800)}
    plan = plan_memory(kernels, sizes, {"g"}, {4: [("f", "e"), ("g", "d")]}, parts=parts)
    o = plan.offsets
    assert (o["a"], o["b"], o["d"]) == (o["c"], o["c"] + 400, o["e"] + 800)
    assert o["x"] != o["c"]  # c lives while x is written
    assert plan.in_place == {4: ("f", "e")}  # e dies at kernel 4; d, a part, takes nothing
    assert plan.parts == 3
