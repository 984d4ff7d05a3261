"""GEMM epilogues (fuse.gemm_epilogues): a matmul and its first reading kernel, when that is
elementwise (or an assignment) over the product's shape, become one kernel whose GEMM applies
the consumer to each finished block of C."""

import shutil

import numpy as np
import pytest
from conftest import llvm_plan

import graphc as tf
from graphc.compiler.kernels import lone_gemm
from graphc.errors import VerifyError
from graphc.ir import kernel as K
from graphc.ir.kernel_tools import format_kernel, interpret, verify_kernel

RNG = np.random.default_rng(7)


def _const(shape, dtype=np.float32):
    return tf.constant(RNG.standard_normal(shape).astype(dtype))


def _feed(shape, dtype=np.float32):
    return tf.placeholder(dtype, shape), RNG.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("threads", [1, 2])
def test_dense_bias_relu_is_one_kernel(threads):
    x, xv = _feed((96, 80))
    y = tf.nn.relu(tf.matmul(x, _const((80, 72))) + _const((72,)))
    names, _ = llvm_plan(y, {x: xv}, threads=threads)
    assert names == ["k_matmul_maximum"]


@pytest.mark.parametrize("rows", [1, 5])
def test_an_epilogue_writes_over_the_product(rows):
    """The epilogue's value takes C's place in the memory plan (nothing else reads C), also
    for a single row, whose size-1 axis the epilogue's load of C leaves out of its index."""
    x, xv = _feed((rows, 64))
    h = tf.nn.relu(tf.matmul(x, _const((64, 32))) + 1.0)
    y = tf.matmul(h, _const((32, 8))) * 2.0
    names, plan = llvm_plan(y, {x: xv}, rtol=1e-4, atol=1e-4)
    first = names.index("k_matmul_maximum")
    out, c = plan.merged[first]
    assert lone_gemm(plan.kernels[first].body).buffers[2] == f"s{out}" and out != c


def test_row_blocks_of_threads_see_their_own_rows():
    # big enough for the GEMM to split its rows over two threads; the residual is a full
    # (m, n) tensor, so an epilogue given the wrong rows reads the wrong residual
    x, xv = _feed((130, 64))
    r, rv = _feed((130, 96))
    y = tf.tanh(tf.matmul(x, _const((64, 96))) + r)
    names, _ = llvm_plan(y, {x: xv, r: rv}, threads=2)
    assert names == ["k_matmul_tanh"]


@pytest.mark.parametrize("transpose_b", [False, True])
def test_column_blocks_of_threads_see_their_own_columns(transpose_b):
    # wider than tall, deep K: the threads split C's columns (intrinsics.COLUMN_SPLIT_MIN_K);
    # a full residual catches an epilogue given the wrong columns
    x, xv = _feed((40, 256))
    r, rv = _feed((40, 300))
    w = _const((300, 256) if transpose_b else (256, 300))
    y = tf.nn.relu(tf.matmul(x, w, transpose_b=transpose_b) + r)
    names, _ = llvm_plan([y, tf.matmul(x, w, transpose_b=transpose_b)], {x: xv, r: rv},
                         threads=2)
    assert names[0] == "k_matmul_maximum"


def test_batched_and_transposed_operands_and_f64():
    a, av = _feed((3, 20, 12), np.float64)
    b = _const((3, 16, 12), np.float64)
    y = tf.sigmoid(tf.matmul(a, b, transpose_b=True) * 0.5 + _const((16,), np.float64))
    names, _ = llvm_plan(y, {a: av}, rtol=1e-12, atol=1e-12)
    assert names == ["k_matmul_sigmoid"]


def test_a_product_also_read_later_keeps_its_buffer():
    x, xv = _feed((16, 24))
    mm = tf.matmul(x, _const((24, 8)))
    h = tf.nn.relu(mm + 1.0)
    total = tf.reduce_sum(mm * h, axis=0)  # reads the product after the fused kernel
    names, plan = llvm_plan([h, total, mm], {x: xv})
    assert names[0] == "k_matmul_maximum" and "k_matmul" not in names
    assert len(names) == 2


def test_a_view_of_the_product_before_its_consumer():
    # the reshape takes the product's buffer before the fused kernel's place in the plan
    x, xv = _feed((7, 30))
    mm = tf.matmul(x, x, transpose_a=True)
    flat = tf.reshape(mm, [-1])
    names, _ = llvm_plan([flat, tf.negative(mm), mm], {x: xv})
    assert names == ["k_matmul_neg"]


def test_only_the_first_reading_kernel_is_applied():
    x, xv = _feed((16, 24))
    mm = tf.matmul(x, _const((24, 8)))
    first = tf.reduce_max(mm, axis=0)  # a reduction reads it first: no epilogue
    later = tf.exp(mm) + first
    names, _ = llvm_plan([later], {x: xv})
    assert names[0] == "k_matmul"


def test_an_integer_matmul_has_no_epilogue():
    x = tf.placeholder(tf.int32, (4, 5))
    y = tf.abs(tf.matmul(x, tf.constant(np.arange(15, dtype=np.int32).reshape(5, 3))) - 7)
    names, _ = llvm_plan(y, {x: np.arange(20, dtype=np.int32).reshape(4, 5) - 9})
    assert names == ["k_matmul", "k_abs"]


def test_the_product_dies_in_the_kernel_so_the_output_takes_its_place():
    x, xv = _feed((32, 40))
    h = tf.nn.relu(tf.matmul(x, _const((40, 48))) - 0.25)
    y = tf.matmul(h, _const((48, 8)))
    names, plan = llvm_plan(y, {x: xv})
    assert names == ["k_matmul_maximum", "k_matmul"]
    assert plan.memory["in_place"] == 1
    fused = plan.kernels[0]
    data = [b.name for b in fused.params if b.size.value > 1]
    assert len(data) == 3  # x, w and one buffer for the product and the relu


def test_sgd_updates_run_in_the_weight_gradient_gemm():
    tf.reset_default_graph()
    x, xv = _feed((12, 6))
    w = tf.Variable(RNG.standard_normal((6, 5)).astype(np.float32))
    loss = tf.reduce_sum(tf.square(tf.matmul(x, w)))
    train = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
    values = {}
    for target in ("llvm", "reference"):
        with tf.Session(target=target) as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(3):
                sess.run(train, {x: xv})
            values[target] = sess.run(w)
            if target == "llvm":
                plan = next(p for p in sess._executor._plans.values()
                            if any(k.name == "k_matmul_assign" for k in p.kernels))
    np.testing.assert_allclose(values["llvm"], values["reference"], rtol=1e-5, atol=1e-6)
    assert sum(k.name == "k_matmul_assign" for k in plan.kernels) == 1


def test_mlp_training_step_kernels():
    from graphc.bench.workloads import mlp_step_numpy, w4_cases
    tf.reset_default_graph()
    case = w4_cases("small")[0]
    (train, loss), (x, labels) = case.build(tf)
    feeds = {x: case.arrays["x"], labels: case.arrays["labels"]}
    step = mlp_step_numpy(case.arrays)
    with tf.Session(target="llvm") as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            np.testing.assert_allclose(sess.run([train, loss], feeds)[1], step(), rtol=1e-5)
        plan = max(sess._executor._plans.values(), key=lambda p: len(p.kernels))
    names = [k.name for k in plan.kernels]
    # forward: two dense+relu and the logits' bias; backward: two relu gradients; three
    # weight gradients carrying their SGD updates
    assert names.count("k_matmul_maximum") == 2
    assert names.count("k_matmul_add") == 1
    assert names.count("k_matmul_select") == 2
    assert names.count("k_matmul_assign") == 3
    assert "k_matmul" not in names


def test_fusion_off_keeps_them_apart():
    x, xv = _feed((8, 8))
    y = tf.nn.relu(tf.matmul(x, _const((8, 8))))
    with tf.Session(target="llvm", config=tf.Options(fuse=False)) as sess:
        sess.run(y, {x: xv})
        plan = next(iter(sess._executor._plans.values()))
    assert [k.name for k in plan.kernels] == ["k_matmul", "k_maximum"]


# --- the L2 contract ------------------------------------------------------------------------
def _l2_gemm(epilogue):
    call = K.Intrinsic("gemm", ("a", "b", "c"), tuple(K.Const(v) for v in (
        2, 3, 4, 0, 4, 1, 0, 3, 1, 0)), epilogue)
    buffers = tuple(K.Buffer(n, "f32", K.Const(s)) for n, s in
                    (("a", 8), ("b", 12), ("c", 6), ("out", 6)))
    return K.Kernel("k", buffers, (), (call,))


def _relu_epilogue():
    i, j = K.Var("i"), K.Var("j")
    at = K.add(K.mul(i, 3), j)
    value = K.Binary("max", K.Load("c", at, "f32"), K.Const(0.0, "f32"), "f32")
    return K.nest(["i", "j"], [2, 3], [K.Store("out", at, value)])


def test_the_interpreter_runs_the_epilogue_after_the_routine():
    kernel = _l2_gemm(_relu_epilogue())
    verify_kernel(kernel)
    a = RNG.standard_normal(8).astype(np.float32)
    b = RNG.standard_normal(12).astype(np.float32)
    mem = {"a": a, "b": b, "c": np.zeros(6, np.float32), "out": np.zeros(6, np.float32)}

    def gemm(bufs, args):
        bufs[2][:] = (bufs[0].reshape(2, 4) @ bufs[1].reshape(4, 3)).ravel()
    interpret(kernel, mem, intrinsics={"gemm": gemm})
    np.testing.assert_allclose(mem["out"], np.maximum(a.reshape(2, 4) @ b.reshape(4, 3), 0)
                               .ravel(), rtol=1e-6)
    assert "gemm(a, b, c, 2, 3, 4, 0, 4, 1, 0, 3, 1, 0) then, per block of C:" \
        in format_kernel(kernel)


def test_the_verifier_wants_a_row_loop_around_a_column_loop():
    flat = (K.Loop("i", K.Const(0), K.Const(6), (
        K.Store("out", K.Var("i"), K.Load("c", K.Var("i"), "f32")),)),)
    with pytest.raises(VerifyError, match="an epilogue must be one row loop around one "
                                          "column loop of a gemm"):
        verify_kernel(_l2_gemm(flat))


# --- regressions: a consumer reading two products (x@W + h@U) -------------------------------
ALL_TARGETS = ["reference", "llvm", "cuda-emulated"]


def _sum_of_products(dtype):
    x = tf.placeholder(dtype, [2, 3])
    z = tf.placeholder(dtype, [2, 2])
    y = tf.matmul(x, tf.constant(np.ones((3, 2), dtype))) + \
        tf.matmul(z, tf.constant(np.ones((2, 2), dtype)))
    return y, {x: np.ones((2, 3), dtype), z: np.ones((2, 2), dtype)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target", ALL_TARGETS)
@pytest.mark.parametrize("fuse", [True, False])
def test_sum_of_two_products_on_every_target(target, dtype, fuse):
    y, feeds = _sum_of_products(dtype)
    with tf.Session(target=target, config=tf.Options(fuse=fuse, opt_level=0)) as sess:
        np.testing.assert_array_equal(sess.run(y, feeds), np.full((2, 2), 5, dtype))
    with tf.Session(target=target) as sess:
        np.testing.assert_array_equal(sess.run(y, feeds), np.full((2, 2), 5, dtype))


def test_sum_of_two_products_takes_one_epilogue():
    y, feeds = _sum_of_products(np.float32)
    names, plan = llvm_plan(y, feeds)
    # the second product is a GEMM of its own, the first carries the sum as its epilogue
    assert sorted(names) == sorted(["k_matmul", "k_matmul_add"])


@pytest.mark.parametrize("threads", [1, 2])
def test_rnn_cell_with_variables_at_sizes_that_use_threads(threads):
    x, xv = _feed((64, 128))
    h, hv = _feed((64, 256))
    w = tf.Variable(RNG.standard_normal((128, 256)).astype(np.float32))
    u = tf.Variable(RNG.standard_normal((256, 256)).astype(np.float32))
    y = tf.tanh(tf.matmul(x, w) + tf.matmul(h, u) + tf.zeros([256]))
    z = tf.matmul(x, w) + tf.matmul(x, tf.zeros([128, 256]))
    with tf.Session(config=tf.Options(threads=threads)) as sess:
        sess.run(tf.global_variables_initializer())
        got_y, got_z = sess.run([y, z], {x: xv, h: hv})
        wv, uv = sess.run([w, u])
    # sums of 384 products of unit normals: float32 summation orders differ by ~3e-5 (the
    # GEMM's blocking follows the machine's caches), so the reference is float64
    exact = np.tanh(xv.astype(np.float64) @ wv + hv.astype(np.float64) @ uv)
    np.testing.assert_allclose(got_y, exact, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_z, xv @ wv, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target", ALL_TARGETS)
def test_gradient_summing_two_products(target, dtype):
    a = tf.placeholder(dtype, [3, 3])
    loss = tf.reduce_sum(tf.matmul(tf.matmul(a, a, transpose_b=True), a))
    (grad,) = tf.gradients(loss, [a])
    av = np.random.default_rng(0).standard_normal((3, 3)).astype(dtype)
    # d/da sum((a a^T) a) = 1 1^T a^T ... written out: with G = ones, P = a a^T,
    # dL/dP = G a^T, dL/da = P^T G + (dL/dP) a + (dL/dP)^T a
    g = np.ones((3, 3), dtype)
    dp = g @ av.T
    want = (av @ av.T).T @ g + dp @ av + dp.T @ av
    with tf.Session(target=target) as sess:
        got = sess.run(grad, {a: av})
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_exported_library_sums_two_products(tmp_path):
    y, feeds = _sum_of_products(np.float32)
    x, z = feeds
    tf.export({"y": y}, {"x": x, "z": z}, tmp_path / "sum", name="sum", threads=1)
    model = tf.load(tmp_path / "sum")
    np.testing.assert_array_equal(model(feeds[x], feeds[z]), np.full((2, 2), 5, np.float32))
