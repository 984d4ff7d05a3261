"""The op tables of tests/ops on target='cuda-emulated': the CUDA code's numbers, on the CPU.

A host compile of a plan costs about a second, so each test builds one graph holding many
cases (every op x dtype of a table, at small shapes) and runs it once: one plan, one
compile. Expected values are float64 numpy, as in tests/ops; failures are listed by case.
Shapes include rows longer than a block (strided block reductions) and matrices larger than
one 128x128 GEMM tile.
"""

from __future__ import annotations

import importlib.util
import math
import os

import numpy as np
import pytest
from conftest import assert_close

import graphc as tf

TARGET = "cuda-emulated"
HERE = os.path.dirname(__file__)


def _load(name):
    path = os.path.join(HERE, "..", "ops", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_emulated_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MATH = _load("test_math_ops")
NN = _load("test_nn_ops")


def _data(rng, shape, dtype, low=-3.0, high=3.0):
    return MATH._data(rng, shape, dtype, low, high)


def _tol(dtype):
    return {"rtol": 2e-3, "atol": 2e-3} if np.dtype(dtype) == np.float16 else {}


def run_cases(cases, targets=(TARGET,)):
    """cases: (name, build(*placeholders) -> tensor, inputs, expected, tolerances). All in
    one graph and one run; every failing case is reported."""
    feed, fetches = {}, []
    for _, build, inputs, _, _ in cases:
        ps = [tf.placeholder(x.dtype, x.shape) for x in inputs]
        feed.update(zip(ps, inputs))
        fetches.append(build(*ps))
    for target in targets:
        with tf.Session(target=target) as sess:
            sess.run(tf.global_variables_initializer())
            got = sess.run(fetches, feed)
        failures = []
        for (name, _, _, expected, tol), actual in zip(cases, got):
            try:
                assert_close(actual, expected, **tol)
            except AssertionError as e:
                failures.append(f"{name}: {str(e)[:300]}")
        assert not failures, f"{len(failures)} of {len(cases)} cases differ on {target}:\n" + \
            "\n".join(failures)


def _in_f64(ref, *xs, dtype=None):
    return MATH._in_f64(ref, *xs, dtype=dtype)


def test_unary_ops():
    rng, cases = np.random.default_rng(0), []
    for name, fn, ref, domain, half in MATH.UNARY_FLOAT:
        for dt in [np.float32, np.float64] + ([np.float16] if half else []):
            x = _data(rng, (2, 3, 4), dt, *domain)
            cases.append((f"{name}-{np.dtype(dt).name}", fn, [x], _in_f64(ref, x), _tol(dt)))
    for name, fn, ref in MATH.UNARY_NUMERIC:
        for dt in MATH.NUMERIC + [np.float16]:
            x = MATH._round_data(rng, (5,), dt) if name == "round" else _data(rng, (5,), dt)
            x.flat[0] = 0
            cases.append((f"{name}-{np.dtype(dt).name}", fn, [x], _in_f64(ref, x), _tol(dt)))
    run_cases(cases)


@pytest.mark.parametrize("shapes", [((3, 1), (1, 4)), ((2, 3), (3,))], ids=str)
def test_binary_ops_with_broadcast(shapes):
    rng, cases = np.random.default_rng(2), []
    for name, fn, ref, gens, dts in MATH.BINARY:
        for dt in dts:
            gen_a, gen_b = gens or (None, None)
            a = (gen_a or MATH._data)(rng, shapes[0], dt)
            b = (gen_b or MATH._data)(rng, shapes[1], dt)
            empty = np.zeros(0, dt)
            expected = _in_f64(ref, a, b, dtype=ref(empty, empty).dtype)
            cases.append((f"{name}-{np.dtype(dt).name}", fn, [a, b], expected, _tol(dt)))
    for name, fn, ref in MATH.COMPARE:
        for dt in MATH.NUMERIC:
            a, b = (_data(rng, s, np.int32, -2, 2).astype(dt) for s in shapes)
            cases.append((f"{name}-{np.dtype(dt).name}", fn, [a, b], ref(a, b), {}))
    for name, fn, ref in MATH.LOGICAL:
        a, b = (_data(rng, s, np.bool_) for s in shapes)
        cases.append((name, fn, [a, b], ref(a, b), {}))
    run_cases(cases)


def test_integer_floordiv_mod_and_casts():
    pairs = [(a, b) for a in (-7, -6, -1, 0, 1, 6, 7) for b in (-3, -2, -1, 0, 1, 2, 3)]
    cases = []
    for dt in MATH.INTS:
        a, b = (np.array([p[i] for p in pairs], dt) for i in (0, 1))
        div = np.array([x // y if y else 0 for x, y in pairs], dt)
        mod = np.array([x % y if y else 0 for x, y in pairs], dt)
        cases += [(f"floordiv-{dt.__name__}", tf.floordiv, [a, b], div, {}),
                  (f"mod-{dt.__name__}", tf.mod, [a, b], mod, {})]
    x = np.array([np.nan, np.inf, -np.inf, 3.7, -3.7, 1e10, -1e10, 0.5], np.float32)
    for dt in (np.int32, np.int64, np.bool_, np.float16, np.float64):
        with np.errstate(all="ignore"):
            expected = x.astype(np.float64).astype(dt) if dt not in (np.int32, np.int64) else \
                np.array([0, np.iinfo(dt).max, np.iinfo(dt).min, 3, -3]
                         + ([np.iinfo(dt).max, np.iinfo(dt).min] if dt == np.int32
                            else [10 ** 10, -10 ** 10]) + [0], dt)
        cases.append((f"cast-{np.dtype(dt).name}", lambda p, d=dt: tf.cast(p, d), [x],
                      expected, {}))
    run_cases(cases)


def test_reductions():
    rng, cases = np.random.default_rng(9), []
    for name, fn, ref, _, domain in MATH.REDUCE:
        for dt in MATH.NUMERIC:
            for axis in (None, 0, -1, [0, 2]):
                x = _data(rng, (2, 3, 4), dt, *domain)
                np_axis = None if axis is None else tuple(np.atleast_1d(axis).tolist())
                if name == "mean" and np.dtype(dt).kind == "i":
                    continue
                cases.append((f"{name}-{np.dtype(dt).name}-{axis}",
                              lambda p, f=fn, a=axis: f(p, a), [x],
                              _in_f64(lambda v, r=ref, a=np_axis: r(v, axis=a), x), {}))
    for length in (300, 1000):  # rows longer than a block of 256 threads
        x = _data(rng, (3, length), np.float32)
        row_sums = x.sum(-1, np.float64).astype(np.float32)
        cases += [(f"sum-row-{length}", lambda p: tf.reduce_sum(p, -1), [x], row_sums, {}),
                  (f"max-{length}", lambda p: tf.reduce_max(p), [x], x.max(), {})]
    half = _data(rng, (3, 300), np.float16)
    cases += [("max-f16-row", lambda p: tf.reduce_max(p, -1), [half], half.max(-1), {}),
              ("sum-f16-row", lambda p: tf.reduce_sum(p, -1), [half],
               half.astype(np.float64).sum(-1).astype(np.float16), _tol(np.float16))]
    ones = np.ones((2, 4096), np.float16)
    cases.append(("sum-f16-accumulates-in-f32", lambda p: tf.reduce_sum(p, -1), [ones],
                  np.full(2, 4096, np.float16), {}))
    b = np.random.default_rng(10).random((2, 3, 40)) < 0.05
    for fn, ref in ((tf.reduce_any, np.any), (tf.reduce_all, np.all)):
        for axis in (None, -1, 1):
            cases.append((f"{ref.__name__}-{axis}", lambda p, f=fn, a=axis: f(p, a), [b],
                          ref(b, axis=axis), {}))
    ints = _data(rng, (3, 4, 5), np.int32, -2, 2).astype(np.float32)
    for fn, ref in ((tf.argmax, np.argmax), (tf.argmin, np.argmin)):
        for axis in (0, -1):
            cases.append((f"{ref.__name__}-{axis}", lambda p, f=fn, a=axis: f(p, a), [ints],
                          ref(ints, axis=axis), {}))
    run_cases(cases)


def test_matmul():
    rng, cases = np.random.default_rng(12), []
    for sa, sb, ta, tb in MATH.MATMUL:
        for dt in (np.float32, np.float64, np.int32, np.float16):
            a, b = _data(rng, sa, dt, -1, 1), _data(rng, sb, dt, -1, 1)
            ea = np.swapaxes(a, -1, -2) if ta else a
            eb = np.swapaxes(b, -1, -2) if tb else b
            tol = {"atol": 1e-5} if dt == np.float32 else _tol(dt)
            cases.append((f"{sa}@{sb}-{ta}{tb}-{np.dtype(dt).name}",
                          lambda x, y, ta=ta, tb=tb: tf.matmul(x, y, transpose_a=ta,
                                                               transpose_b=tb),
                          [a, b], _in_f64(np.matmul, ea, eb), tol))
    a, b = _data(rng, (2, 130, 70), np.float32, -1, 1), _data(rng, (70, 150), np.float32, -1, 1)
    cases.append(("batched tiles", tf.matmul, [a, b], _in_f64(np.matmul, a, b), {"atol": 1e-4}))
    run_cases(cases)


def test_nn_activations_and_rows():
    rng, cases = np.random.default_rng(3), []
    for name, fn, ref, half in NN.ACTIVATIONS:
        for dt in [np.float32, np.float64] + ([np.float16] if half else []):
            x = _data(rng, (2, 3, 4), dt)
            cases.append((f"{name}-{np.dtype(dt).name}", fn, [x], NN._expected(ref, x)
                          if hasattr(NN, "_expected") else _in_f64(ref, x), _tol(dt)))
    for shape in ((4, 7), (3, 300), (2, 2, 1000)):
        x = _data(rng, shape, np.float32, -5, 5)
        wide = x.astype(np.float64)
        cases += [(f"softmax{shape}", tf.nn.softmax, [x],
                   NN._softmax(wide).astype(np.float32), {}),
                  (f"log_softmax{shape}", tf.nn.log_softmax, [x],
                   NN._log_softmax(wide).astype(np.float32), {"atol": 1e-5})]
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        cases.append((f"layer_norm{shape}",
                      lambda p: (p - tf.reduce_mean(p, -1, keepdims=True)) * tf.rsqrt(
                          tf.reduce_mean(tf.square(p - tf.reduce_mean(p, -1, keepdims=True)),
                                         -1, keepdims=True) + 1e-5),
                      [x], (x - mean) / np.sqrt(var + 1e-5), {"rtol": 1e-4, "atol": 1e-4}))
    labels = np.eye(300, dtype=np.float32)[rng.integers(0, 300, 5)]
    logits = _data(rng, (5, 300), np.float32)
    expected = -(labels * NN._log_softmax(logits.astype(np.float64))).sum(-1)
    expected = expected.astype(np.float32)
    cases.append(("cross_entropy", lambda y, z: tf.nn.softmax_cross_entropy_with_logits_v2(
        labels=y, logits=z), [labels, logits], expected, {"rtol": 1e-5, "atol": 1e-5}))
    run_cases(cases)


def test_array_ops():
    rng, cases = np.random.default_rng(5), []
    x = _data(rng, (5, 3), np.float32)
    cases += [
        ("gather", lambda p, i: tf.gather(p, i), [x, np.array([4, 0, 2, 2], np.int32)],
         x[[4, 0, 2, 2]], {}),
        ("gather-axis1", lambda p, i: tf.gather(p, i, axis=1), [x, np.array([2, 0], np.int64)],
         x[:, [2, 0]], {}),
        ("concat", lambda p: tf.concat([p, 2 * p], 0), [x], np.concatenate([x, 2 * x]), {}),
        ("transpose", lambda p: tf.transpose(p), [x], x.T, {}),
        ("slice", lambda p: p[1:4, ::2], [x], x[1:4, ::2], {}),
        ("pad", lambda p: tf.pad(p, [[1, 2], [0, 1]], "REFLECT"), [x],
         np.pad(x, [[1, 2], [0, 1]], "reflect"), {}),
        ("tile", lambda p: tf.tile(p, [2, 3]), [x], np.tile(x, [2, 3]), {}),
        ("one_hot", lambda i: tf.one_hot(i, 4), [np.array([0, 3, 1], np.int32)],
         np.eye(4, dtype=np.float32)[[0, 3, 1]], {}),
        ("where", lambda c, a: tf.where(c, a, -a), [x > 0, x], np.where(x > 0, x, -x), {}),
    ]
    # the gradient of a gather is a scatter-add (a read-modify-write: one GPU thread)
    cases.append(("scatter_add", lambda p, i: tf.gradients(
        tf.reduce_sum(tf.gather(p, i) * 3.0), p)[0], [x, np.array([4, 0, 4, 4], np.int32)],
        np.array([[3.0] * 3, [0] * 3, [0] * 3, [0] * 3, [9.0] * 3], np.float32), {}))
    run_cases(cases)


def test_gather_out_of_range_is_reported_like_the_cpu_target():
    p = tf.placeholder(tf.float32, [5, 3])
    i = tf.placeholder(tf.int32, [2])
    with tf.Session(target=TARGET) as sess:
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"index 7 is out of range \[0, 5\)"):
            sess.run(tf.gather(p, i), {p: np.zeros((5, 3), np.float32),
                                       i: np.array([1, 7], np.int32)})


def test_training_keeps_variables_on_the_device():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((16, 8)).astype(np.float32), rng.integers(0, 3, 16)
    results = {}
    for target in ("llvm", TARGET):
        tf.reset_default_graph()
        px = tf.placeholder(tf.float32, [16, 8])
        py = tf.placeholder(tf.int64, [16])
        w1 = tf.Variable(np.random.default_rng(1).standard_normal((8, 32)).astype(np.float32))
        w2 = tf.Variable(np.random.default_rng(2).standard_normal((32, 3)).astype(np.float32))
        h = tf.nn.relu(tf.matmul(px, w1))
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=py, logits=tf.matmul(h, w2)))
        step = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        with tf.Session(target=target) as sess:
            sess.run(tf.global_variables_initializer())
            losses = [sess.run([loss, step], {px: x, py: y})[0] for _ in range(3)]
            results[target] = losses + [sess.run(w2)]
    for a, b in zip(results["llvm"], results[TARGET]):
        assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert results[TARGET][2] < results[TARGET][0]


def test_variable_set_from_the_host_is_uploaded_again():
    v = tf.Variable(np.zeros(4, np.float32))
    with tf.Session(target=TARGET) as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(tf.assign_add(v, np.ones(4, np.float32)))
        v.load(np.full(4, 5.0, np.float32), sess)
        assert_close(sess.run(v * 2.0), np.full(4, 10.0, np.float32))
        assert math.isclose(float(sess.run(tf.reduce_sum(v))), 20.0)


def test_a_plan_is_compiled_once_then_taken_from_the_code_cache():
    from graphc.runtime.cache import default_cache
    x = tf.placeholder(tf.float32, [3, 70])
    y = tf.nn.log_softmax(x) * 2.0
    data = np.random.default_rng(4).standard_normal((3, 70)).astype(np.float32)
    cache = default_cache()
    outs, entries = [], []
    for _ in range(2):
        with tf.Session(target=TARGET) as sess:
            outs.append(sess.run(y, {x: data}))
        entries.append(cache.info()["entries"])
    assert entries[0] == entries[1] and entries[0] >= 1
    np.testing.assert_array_equal(outs[0], outs[1])


def test_only_feeds_and_fetches_cross_the_bus_in_a_training_step():
    x = tf.placeholder(tf.float32, [8, 4])
    w = tf.Variable(np.ones((4, 3), np.float32))
    loss = tf.reduce_sum(tf.square(tf.matmul(x, w)))
    step = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
    data = np.random.default_rng(5).standard_normal((8, 4)).astype(np.float32)
    with tf.Session(target=TARGET) as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(step, {x: data})  # compiles: constants go up once
        device = sess._executor.device
        moved = []
        download, upload = device.download, device.upload
        device.download = lambda p, dtype, shape: moved.append(("down", shape)) or \
            download(p, dtype, shape)
        device.upload = lambda p, a: moved.append(("up", a.shape)) or upload(p, a)
        for _ in range(3):
            sess.run(step, {x: data})
        # per step: the feed up, the error word reset up and read down; no weights
        assert sorted(set(moved)) == [("down", (1,)), ("up", (1,)), ("up", (8, 4))]
        assert len(moved) == 9
        moved.clear()
        host = sess._state.variables[w.handle.node]  # read from the host: downloaded
        assert moved == [("down", (4, 3))]
        assert_close(host, sess.run(w))


def test_prints_download_their_values_where_the_program_reaches_them(capsys):
    x = tf.placeholder(tf.float32, [3])

    def body(i, h):
        with tf.control_dependencies([tf.print("step", i, h)]):
            return i + 1, h * 2.0 + 1.0
    _, h = tf.while_loop(lambda i, h: i < 2, body, [0, x], maximum_iterations=2)
    checked = tf.debugging.assert_less(h, 1.5, message="h too large")
    with tf.Session(target=TARGET) as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match="h too large"):
            sess.run(checked, {x: [0.0, 1.0, 2.0]})
    text = capsys.readouterr().err  # printed once each: the failed run is not run again
    assert text == "step 0 [0 1 2]\nstep 1 [1 3 5]\n"
