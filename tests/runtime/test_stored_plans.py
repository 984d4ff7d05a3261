"""A session's plans kept whole in the disk cache (runtime/plan_key.py, runtime/plan_store.py
save_session / load_session): a second session (or process) building the same graph runs the
stored plan, to the same bits; anything that changes the plan misses; a damaged entry
compiles again; a failing check in a stored plan reports what a compiled plan reports."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import graphc as tf
from graphc.errors import InvalidArgumentError
from graphc.runtime.llvm import LLVMExecutor

RNG = np.random.default_rng(5)


@pytest.fixture(autouse=True)
def storing(monkeypatch, tmp_path):
    """Plans stored (however fast they build) in a cache of this test's own."""
    monkeypatch.setattr(LLVMExecutor, "stores_plans", True)
    monkeypatch.setattr(LLVMExecutor, "store_after", 0.0)
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def plans(sess) -> list:
    return [plan for plan, _ in sess._executor.compiled_plans()]


def run_twice(build, feeds_of, fetch_names=None, steps: int = 1, init: bool = True):
    """Build the graph twice (fresh graphs, so fresh nodes and uids) and run `steps` runs
    in a session on each: (values of the first, of the second, the second's plans)."""
    results, last = [], None
    for _ in range(2):
        graph = tf.Graph()
        with graph.as_default():
            fetches, feeds = build()
            inits = tf.global_variables_initializer() if init else None
        with tf.Session(graph=graph, target="llvm") as sess:
            if inits is not None:
                sess.run(inits)
            out = [sess.run(fetches, feeds_of(feeds)) for _ in range(steps)]
            results.append(out)
            last = plans(sess)
    return results[0], results[1], last


def assert_same_bits(a, b):
    for x, y in zip(a, b):
        if isinstance(x, (list, tuple)):
            assert_same_bits(x, y)
        elif x is not None:
            assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


W = RNG.standard_normal((3, 3, 3, 8)).astype(np.float32)
FC = RNG.standard_normal((8 * 4 * 4, 5)).astype(np.float32)
X = RNG.standard_normal((2, 8, 8, 3)).astype(np.float32)


def cnn():
    x = tf.placeholder(tf.float32, [2, 8, 8, 3], name="x")
    h = tf.nn.relu(tf.nn.conv2d(x, tf.constant(W), [1, 1, 1, 1], "SAME"))
    h = tf.nn.max_pool(h, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
    logits = tf.matmul(tf.reshape(h, [2, -1]), tf.constant(FC))
    return [logits, tf.reshape(logits, [10])], [x]


def reference_cnn(x):
    pad = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    conv = np.zeros((2, 8, 8, 8), np.float64)
    for i in range(3):
        for j in range(3):
            conv += np.einsum("nhwc,cd->nhwd", pad[:, i:i + 8, j:j + 8], W[i, j])
    h = np.maximum(conv, 0).reshape(2, 4, 2, 4, 2, 8).max(axis=(2, 4))
    return h.reshape(2, -1) @ FC


def test_a_second_session_runs_the_stored_plan_to_the_same_bits(storing):
    first, second, last = run_twice(cnn, lambda f: {f[0]: X}, init=False)
    assert [p.stored for p in last] == [True]
    assert_same_bits(first, second)
    np.testing.assert_allclose(second[0][0], reference_cnn(X), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(second[0][1], second[0][0].reshape(10))
    assert len(os.listdir(storing / "plans")) == 1


def test_a_training_step_over_variables_runs_stored_for_many_steps():
    data = RNG.standard_normal((16, 6)).astype(np.float32)
    labels = RNG.standard_normal((16, 4)).astype(np.float32)
    w0 = RNG.standard_normal((6, 4)).astype(np.float32)

    def build():
        x = tf.placeholder(tf.float32, [16, 6])
        y = tf.placeholder(tf.float32, [16, 4])
        w = tf.Variable(w0, name="w")
        b = tf.Variable(np.zeros(4, np.float32), name="b")
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
        step = tf.train.AdamOptimizer(0.01).minimize(loss)
        return [loss, step, w], [x, y]

    first, second, last = run_twice(build, lambda f: {f[0]: data, f[1]: labels}, steps=5)
    assert last and all(p.stored for p in last)
    assert_same_bits(first, second)
    assert second[-1][0] < second[0][0]  # it trains


def test_inference_over_variables_packs_them_ahead_in_a_stored_plan():
    w1 = RNG.standard_normal((64, 512)).astype(np.float32)
    xs = RNG.standard_normal((4, 64)).astype(np.float32)

    def build():
        x = tf.placeholder(tf.float32, [4, 64])
        w = tf.Variable(w1, name="w")
        return [tf.nn.relu(tf.matmul(x, w))], [x]

    first, second, last = run_twice(build, lambda f: {f[0]: xs}, steps=2)
    (plan,) = [p for p in last if p.stored and p.packed]
    assert_same_bits(first, second)
    np.testing.assert_allclose(second[0][0], np.maximum(xs @ w1, 0), rtol=1e-5, atol=1e-5)


def test_a_changed_variable_is_packed_again_in_a_stored_plan():
    w1 = RNG.standard_normal((64, 512)).astype(np.float32)
    xs = RNG.standard_normal((4, 64)).astype(np.float32)
    for _ in range(2):
        graph = tf.Graph()
        with graph.as_default():
            x = tf.placeholder(tf.float32, [4, 64])
            w = tf.Variable(w1, name="w")
            y = tf.matmul(x, w)
        with tf.Session(graph=graph, target="llvm") as sess:
            sess.run(w.initializer)
            np.testing.assert_allclose(sess.run(y, {x: xs}), xs @ w1, rtol=1e-5, atol=1e-5)
            w.load(2 * w1, sess)
            np.testing.assert_allclose(sess.run(y, {x: xs}), xs @ (2 * w1), rtol=1e-5,
                                       atol=1e-5)
    assert any(p.stored and p.packed for p in plans(sess))


def test_a_while_loop_runs_stored():
    def build():
        x = tf.placeholder(tf.float32, [3])
        _, h = tf.while_loop(lambda i, h: i < 5, lambda i, h: (i + 1, h * 1.5 + 1.0), [0, x])
        return [h], [x]

    xs = np.array([1, -2, 0.5], np.float32)
    first, second, last = run_twice(build, lambda f: {f[0]: xs}, init=False)
    assert [p.stored for p in last] == [True] and last[0].program is not None
    want = xs.astype(np.float64)
    for _ in range(5):
        want = want * 1.5 + 1.0
    assert_same_bits(first, second)
    np.testing.assert_allclose(second[0][0], want, rtol=1e-6)


def test_a_loop_with_an_operand_packed_ahead_runs_stored():
    """An RNN-like training step: the loop's product by a weight the step updates after the
    loop reads a copy packed before it (compiler/pack_ahead.py), stored and loaded."""
    wv = (RNG.standard_normal((40, 40)) * 0.2).astype(np.float32)

    def build():
        x = tf.placeholder(tf.float32, [4, 40])
        w = tf.Variable(wv)
        _, h = tf.while_loop(lambda i, h: i < 6,
                             lambda i, h: (i + 1, tf.tanh(tf.matmul(h, w) + x)), [0, x],
                             maximum_iterations=6)
        loss = tf.reduce_sum(h * h)
        return [loss, tf.train.GradientDescentOptimizer(0.01).minimize(loss)], [x]

    xs = RNG.standard_normal((4, 40)).astype(np.float32)
    first, second, last = run_twice(build, lambda f: {f[0]: xs}, steps=3)
    assert all(p.stored for p in last)
    assert any(k.name == "k_pack" for p in last for k in p.kernels)
    assert_same_bits([r[0] for r in first], [r[0] for r in second])


def test_a_feed_read_as_a_shape_keys_the_plan_by_its_value():
    values = []
    for shape in ([2, 3], [3, 2], [2, 3]):
        graph = tf.Graph()
        with graph.as_default():
            s = tf.placeholder(tf.int32, [2])
            y = tf.reshape(tf.range(6.0), s) * 2.0
        with tf.Session(graph=graph, target="llvm") as sess:
            values.append((sess.run(y, {s: shape}), [p.stored for p in plans(sess)]))
    np.testing.assert_array_equal(values[0][0], np.arange(6.0).reshape(2, 3) * 2)
    np.testing.assert_array_equal(values[1][0], np.arange(6.0).reshape(3, 2) * 2)
    assert [v[1] for v in values] == [[False], [False], [True]]


@pytest.mark.parametrize("change", ["constant", "stride", "fed shape", "dtype", "threads"])
def test_anything_that_changes_the_plan_misses(change):
    def build(variant: bool):
        n = 3 if change == "fed shape" and variant else 2
        dtype = tf.float64 if change == "dtype" and variant else tf.float32
        x = tf.placeholder(dtype, [n, 8, 8, 3])
        w = W * (2 if change == "constant" and variant else 1)
        stride = 2 if change == "stride" and variant else 1
        return tf.reduce_sum(tf.nn.conv2d(x, tf.constant(w.astype(dtype.np)),
                                          [1, stride, stride, 1], "SAME")), x

    got = []
    for variant in (False, True):
        graph = tf.Graph()
        with graph.as_default():
            y, x = build(variant)
        threads = 2 if change == "threads" and variant else 1
        with tf.Session(graph=graph, target="llvm", config=tf.Options(threads=threads)) as sess:
            xs = np.ones(x.shape.as_list(), x.dtype.as_numpy_dtype)
            got.append((float(sess.run(y, {x: xs})), plans(sess)[0].stored))
    assert [stored for _, stored in got] == [False, False]
    if change == "constant":
        np.testing.assert_allclose(got[1][0], 2 * got[0][0], rtol=1e-5)


def test_names_and_uids_do_not_change_the_key():
    from graphc.runtime.plan_key import plan_key
    keys = []
    for name in ("a", "b"):
        with tf.Graph().as_default():
            tf.Variable(np.zeros(3, np.float32), name="other")  # a uid drawn before
            x = tf.placeholder(tf.float32, [3], name=name)
            v = tf.Variable(np.ones(3, np.float32), name=name + "v")
            y = tf.assign_add(v, x * 2.0)
            keys.append(plan_key([y.node], {x.node: (3,)}, None, ("test",))[0])
    assert keys[0] == keys[1]


def test_random_draws_in_a_stored_plan_are_the_compiled_plans_draws():
    def build():
        x = tf.placeholder(tf.float32, [4, 6])
        return [tf.nn.dropout(x, rate=0.5, seed=3), tf.random_normal([6], seed=2),
                tf.random_uniform([2], seed=5)], [x]

    first, second, last = run_twice(build, lambda f: {f[0]: np.ones((4, 6), np.float32)},
                                    steps=3, init=False)
    assert [p.stored for p in last] == [True]
    assert [s.kind for s in last[0].slots].count("host") == 3
    assert_same_bits(first, second)
    assert np.asarray(second[0][0]).tobytes() != np.asarray(second[1][0]).tobytes()  # fresh
    dropped = np.concatenate([step[0].ravel() for step in second])
    assert set(np.unique(dropped)) == {0.0, 2.0}  # kept (scaled by 2) or dropped


def test_plans_that_print_and_call_collectives_run_stored(storing, capfd):
    # host calls: the code passes the uid process A's nodes had; the manifest maps each to
    # the user's node at its key position, so process B's callbacks find their own nodes
    from graphc.distributed.ops import local_collective

    def build():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        shown = tf.Print(x * 2.0, [x, tf.shape(x)], "x is ", first_n=2, summarize=6)
        summed = local_collective(shown + 1.0, "allreduce")
        gathered = local_collective(summed, "allgather")
        return [gathered, tf.reduce_sum(gathered)], [x]

    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    first, second, last = run_twice(build, lambda f: {f[0]: value}, steps=3, init=False)
    assert [p.stored for p in last] == [True]
    assert_same_bits(first, second)
    np.testing.assert_array_equal(second[0][0], value * 2.0 + 1.0)
    printed = capfd.readouterr().err.splitlines()
    # first_n=2 counts per session, so each session prints twice
    assert printed == ["x is [[0 1 2][3 4 5]][2 3]"] * 4, printed


@pytest.mark.parametrize("damage", ["truncated constants", "changed constants", "no code"])
def test_a_damaged_entry_compiles_again(storing, damage):
    run_twice(cnn, lambda f: {f[0]: X}, init=False)  # stored, and the second session loaded it
    (blob,) = os.listdir(storing / "plans")
    path = storing / "plans" / blob
    if damage == "truncated constants":
        path.write_bytes(path.read_bytes()[:-4])
    elif damage == "changed constants":
        data = bytearray(path.read_bytes())
        data[100] ^= 1
        path.write_bytes(bytes(data))
    else:  # every object file gone: the manifest names code the cache no longer has
        removed = 0
        for folder in os.listdir(storing):
            if folder != "plans" and os.path.isdir(storing / folder):
                for entry in os.listdir(storing / folder):
                    if len(entry) == 64 and not entry.startswith("."):
                        text = (storing / folder / entry).read_bytes()
                        if b"graphc_run" in text:
                            os.unlink(storing / folder / entry)
                            removed += 1
        assert removed
    graph = tf.Graph()
    with graph.as_default():
        (logits, _), (x,) = cnn()
    with tf.Session(graph=graph, target="llvm") as sess:
        got = sess.run(logits, {x: X})
        assert [p.stored for p in plans(sess)] == [False]
    np.testing.assert_allclose(got, reference_cnn(X), rtol=1e-4, atol=1e-4)


def test_a_stored_plan_runs_on_when_its_constants_file_is_truncated_in_place(storing):
    # the constants are read at load, not mapped: a mapped file cut short under a running
    # plan would end the process (SIGBUS) at its next run
    _, second, _ = run_twice(cnn, lambda f: {f[0]: X}, init=False)
    graph = tf.Graph()
    with graph.as_default():
        fetches, (x,) = cnn()
    with tf.Session(graph=graph, target="llvm") as sess:
        first = sess.run(fetches, {x: X})
        assert [p.stored for p in plans(sess)] == [True]
        (blob,) = os.listdir(storing / "plans")
        with open(storing / "plans" / blob, "r+b") as f:
            f.truncate(0)
        again = sess.run(fetches, {x: X})
    assert_same_bits([first, again], [second[0], second[0]])


def test_a_failed_check_in_a_stored_plan_reports_what_a_compiled_plan_reports():
    def build():
        i = tf.placeholder(tf.int32, [2])
        table = tf.constant(np.arange(4, dtype=np.float32))
        return [tf.gather(table, i) * 2.0], [i]

    for stored in (False, True):
        graph = tf.Graph()
        with graph.as_default():
            (y,), (i,) = build()
        with tf.Session(graph=graph, target="llvm") as sess:
            np.testing.assert_array_equal(sess.run(y, {i: [3, 1]}), [6, 2])
            assert plans(sess)[0].stored is stored
            with pytest.raises(InvalidArgumentError, match=r"index 4 is out of range \[0, 4\)"):
                sess.run(y, {i: [0, 4]})


def test_a_traced_run_of_a_stored_plan_names_its_kernels():
    names = []
    for _ in range(2):
        graph = tf.Graph()
        with graph.as_default():
            (logits, _), (x,) = cnn()
        with tf.Session(graph=graph, target="llvm") as sess:
            sess.run(logits, {x: X})
            meta = tf.RunMetadata()
            sess.run(logits, {x: X}, options=tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE),
                     run_metadata=meta)
            names.append([s.node_name for d in meta.step_stats.dev_stats for s in d.node_stats])
    assert plans(sess)[0].stored and names[0] and names[0] == names[1]


SCRIPT = """
import numpy as np, graphc as tf
from graphc.runtime.llvm import LLVMExecutor
LLVMExecutor.store_after = 0.0
tf.Variable(np.zeros(2, np.float32))  # another uid count than the first process
x = tf.placeholder(tf.float32, [5, 7])
w = tf.constant(np.arange(21, dtype=np.float32).reshape(7, 3))
y = tf.nn.softmax(tf.matmul(x, w) / 10.0)
with tf.Session(target="llvm") as sess:
    out = sess.run(y, {x: np.linspace(-1, 1, 35, dtype=np.float32).reshape(5, 7)})
    print(sess._executor.compiled_plans()[0][0].stored, out.tobytes().hex())
"""


def test_another_process_runs_the_stored_plan(storing):
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(storing))
    outs = [subprocess.run([sys.executable, "-c", SCRIPT.replace(
        "tf.Variable(np.zeros(2, np.float32))", "pass" if k else
        "tf.Variable(np.zeros(2, np.float32))")], env=env, capture_output=True, text=True,
        check=True).stdout.split() for k in range(2)]
    assert outs[0][0] == "False" and outs[1][0] == "True" and outs[0][1] == outs[1][1]


def test_the_constants_keep_to_their_budget(storing, monkeypatch):
    from graphc.runtime import plan_store
    values = []
    for scale in (1.0, 2.0, 1.0):  # the third finds the first's constants gone
        graph = tf.Graph()
        with graph.as_default():
            x = tf.placeholder(tf.float32, [2, 8, 8, 3])
            y = tf.reduce_sum(tf.nn.conv2d(x, tf.constant(W * scale), 1, "SAME")) + \
                tf.reduce_sum(tf.constant(FC))
        with tf.Session(graph=graph, target="llvm") as sess:
            values.append((float(sess.run(y, {x: X})), plans(sess)[0].stored))
        (blob,) = os.listdir(storing / "plans")  # room for one plan's constants
        monkeypatch.setattr(plan_store, "PLANS_BUDGET_BYTES",
                            os.path.getsize(storing / "plans" / blob) * 3 // 2)
    assert [stored for _, stored in values] == [False, False, False]
    assert values[0][0] == values[2][0]
    np.testing.assert_allclose(values[1][0] - FC.sum(), 2 * (values[0][0] - FC.sum()),
                               rtol=1e-4)


def test_a_store_that_fails_warns_and_the_program_goes_on(storing, monkeypatch):
    from graphc.runtime import plan_store
    from graphc.runtime.cache import CacheWarning

    def broken(*args):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(plan_store, "save_session", broken)
    graph = tf.Graph()
    with graph.as_default():
        (logits, _), (x,) = cnn()
    with pytest.warns(CacheWarning, match="a plan in .* failed: RuntimeError: disk on fire"):
        with tf.Session(graph=graph, target="llvm") as sess:
            np.testing.assert_allclose(sess.run(logits, {x: X}), reference_cnn(X), rtol=1e-4,
                                       atol=1e-4)
    assert not os.path.exists(storing / "plans")


def test_make_callable_runs_a_stored_plan():
    data = RNG.standard_normal((8, 6)).astype(np.float32)
    w0 = RNG.standard_normal((6, 3)).astype(np.float32)
    results = []
    for _ in range(2):
        graph = tf.Graph()
        with graph.as_default():
            x = tf.placeholder(tf.float32, [8, 6])
            w = tf.Variable(w0, name="w")
            loss = tf.reduce_sum(tf.square(tf.matmul(x, w)))
            step = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
        with tf.Session(graph=graph, target="llvm") as sess:
            sess.run(w.initializer)
            f = sess.make_callable([loss, step], [x])
            results.append([f(data)[0] for _ in range(4)] + [sess.run(w)])
            stored = [p.stored for p in plans(sess)]
    assert stored[-1] is True
    assert_same_bits(results[0], results[1])
    assert results[1][3] < results[1][0]
