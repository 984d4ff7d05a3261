"""The shared L2 schedules (tile, split, parallelize, unroll, vectorize): the loop kinds they
choose, and unchanged results under the L2 interpreter, which runs every kind serially."""

import numpy as np
import pytest

import graphc as tf
from graphc.errors import VerifyError
from graphc.ir import kernel as K
from graphc.ir.kernel_tools import format_kernel, interpret, verify_kernel
from graphc.passes.lower import Lowering
from graphc.passes.schedule import Caps, schedule, split, tile, unroll, vectorize
from graphc.passes.specialize import specialize

_ORIGIN: dict = {}  # specialized node -> the test's node
WIDE = Caps(threads=2, vector_bits=512, min_parallel_work=64, block=40)


def _lower(tensor, shapes):
    """The kernel of the last op of `tensor`, its inputs named b0, b1, ... and output 'out'."""
    (node,), origin = specialize([tensor.node], shapes)
    names = {x: f"b{i}" for i, x in enumerate(node.inputs)}
    names[node] = "out"
    _ORIGIN.update(origin)
    return node, Lowering(lambda n: names[n]).lower(node)


def _run(node, kernel, fed):
    """Interpret `kernel` with its inputs: fed values, by original node, or constants."""
    buffers = {}
    for i, x in enumerate(node.inputs):
        value = x.attrs["value"] if x.op.name == "constant" else fed[_ORIGIN[x]]
        buffers[f"b{i}"] = np.ascontiguousarray(value, dtype=x.dtype.np).reshape(-1)
    buffers["out"] = np.zeros(int(np.prod(node.shape)), node.dtype.np)
    interpret(kernel, buffers)
    return buffers["out"]


def _loops(stmts):
    for s in stmts:
        if isinstance(s, K.Loop):
            yield s
            yield from _loops(s.body)


CASES = [  # one op each over the fed values (and constants)
    ("broadcast_add", lambda a, b: a + b, [(5, 130), (130,)]),
    ("lone_loop", lambda a, b: a - b, [(1000,), (1000,)]),
    ("tanh", lambda a, b: tf.tanh(a), [(9, 70), ()]),
    ("row_sum", lambda a, b: tf.reduce_sum(a, axis=1), [(7, 90), ()]),
    ("row_max", lambda a, b: tf.reduce_max(a, axis=1), [(7, 90), ()]),
    ("column_sum", lambda a, b: tf.reduce_sum(a, axis=0), [(90, 7), ()]),
    ("transpose", lambda a, b: tf.transpose(a), [(33, 70), ()]),
    ("argmax", lambda a, b: tf.argmax(a, axis=1), [(6, 50), ()]),
    ("small_rows", lambda a, b: a * b, [(300, 3), (3,)]),
]


@pytest.mark.parametrize("name,fn,shapes", CASES, ids=[c[0] for c in CASES])
def test_scheduled_kernels_compute_what_lowered_ones_do(name, fn, shapes):
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    xs = [tf.placeholder(tf.float32, s) for s in shapes]
    node, kernel = _lower(fn(*xs), {x.node: s for x, s in zip(xs, shapes)})
    scheduled = schedule(kernel, WIDE)
    verify_kernel(scheduled)
    assert scheduled != kernel or name == "argmax"
    fed = {x.node: v for x, v in zip(xs, values)}
    np.testing.assert_array_equal(_run(node, scheduled, fed), _run(node, kernel, fed))


def test_a_lone_loop_is_split_into_parallel_blocks_of_vector_loops():
    a, b = tf.placeholder(tf.float32, [1000]), tf.placeholder(tf.float32, [1000])
    _, kernel = _lower(a + b, {a.node: (1000,), b.node: (1000,)})
    text = format_kernel(schedule(kernel, WIDE)).splitlines()
    assert text[1:3] == ["  for i0_blk in 0..25 [parallel]:",
                         "    for i0 in mul(i0_blk, 40)..min(add(mul(i0_blk, 40), 40), 1000) "
                         "[vector x16]:"]


def test_a_whole_tensor_reduction_keeps_its_accumulator_on_one_thread():
    # its loop updates a local declared outside it: not independent, so not split or parallel
    x = tf.placeholder(tf.float32, [5000])
    node, kernel = _lower(tf.reduce_sum(x), {x.node: (5000,)})
    scheduled = schedule(kernel, WIDE)
    verify_kernel(scheduled)
    assert not any(isinstance(s, K.Loop) and s.kind == "parallel" for s in scheduled.body)
    value = np.arange(5000, dtype=np.float32) / 5000
    np.testing.assert_allclose(_run(node, scheduled, {x.node: value}), value.sum(), rtol=1e-5)


def test_a_large_whole_tensor_sum_compiles_for_threads():
    x = tf.placeholder(tf.float32, [90000])
    value = np.random.default_rng(1).standard_normal(90000).astype(np.float32)
    with tf.Session(target="llvm", config=tf.Options(threads=2)) as sess:
        got = sess.run(tf.reduce_sum(x), {x: value})
    np.testing.assert_allclose(got, value.astype(np.float64).sum(), rtol=1e-4, atol=1e-3)


def test_the_last_block_is_the_remainder():
    x = tf.placeholder(tf.float32, [1001])
    node, kernel = _lower(x * 2.0, {x.node: (1001,)})
    (outer,) = split(kernel, WIDE).body
    assert outer.stop == K.Const(26)  # 25 full blocks of 40 and one of 1
    value = np.arange(1001, dtype=np.float32)
    np.testing.assert_array_equal(_run(node, split(kernel, WIDE), {x.node: value}), value * 2)


def test_vector_lanes_follow_the_widest_type():
    x = tf.placeholder(tf.float64, [4, 64])
    _, kernel = _lower(x + 1.0, {x.node: (4, 64)})
    (inner,) = [s for s in _loops(vectorize(kernel, WIDE).body) if s.kind == "vector"]
    assert inner.width == 8
    y = tf.placeholder(tf.float32, [4, 64])
    _, kernel = _lower(tf.cast(y, tf.float64), {y.node: (4, 64)})
    (inner,) = [s for s in _loops(vectorize(kernel, WIDE).body) if s.kind == "vector"]
    assert inner.width == 8
    assert vectorize(kernel, Caps(vector_bits=0)) is kernel  # left to the backend


def test_strided_stores_and_short_loops_are_not_vectorized():
    x = tf.placeholder(tf.float32, [70, 33])
    _, kernel = _lower(tf.transpose(x), {x.node: (70, 33)})
    kinds = [s.kind for s in _loops(vectorize(kernel, WIDE).body)]
    assert kinds == ["serial", "serial"]  # the inner loop reads with stride 33
    y = tf.placeholder(tf.float32, [300, 3])
    _, kernel = _lower(y * 2.0, {y.node: (300, 3)})
    kinds = [(s.kind, s.width) for s in _loops(schedule(kernel, WIDE).body)]
    assert kinds == [("parallel", 1), ("unroll", 3)]


def test_select_updates_are_not_reductions_the_backend_may_reorder():
    x = tf.placeholder(tf.float32, [6, 50])
    _, kernel = _lower(tf.argmax(x, axis=1), {x.node: (6, 50)})
    assert all(s.kind != "vector" for s in _loops(vectorize(kernel, WIDE).body))


def test_row_reductions_vectorize():
    x = tf.placeholder(tf.float32, [6, 50])
    _, kernel = _lower(tf.reduce_max(x, axis=1), {x.node: (6, 50)})
    inner = [s for s in _loops(vectorize(kernel, WIDE).body) if s.kind == "vector"]
    assert [s.width for s in inner] == [16]


def test_unroll_marks_constant_short_innermost_loops():
    x = tf.placeholder(tf.float32, [3, 2])
    _, kernel = _lower(tf.reduce_sum(x, axis=1), {x.node: (3, 2)})
    assert [(s.kind, s.width) for s in _loops(unroll(kernel, WIDE).body)] == \
        [("serial", 1), ("unroll", 2)]


def test_the_verifier_rejects_widths_on_other_kinds():
    loop = K.Loop("i", K.Const(0), K.Const(4), (), "serial", width=4)
    kernel = K.Kernel("k", (K.Buffer("x", "f32", K.Const(4)),), (), (loop,))
    with pytest.raises(VerifyError, match="loop i of kind serial has width 4"):
        verify_kernel(kernel)


def test_rendered_vector_loops_carry_their_width_to_llvm():
    from graphc.codegen_llvm.intrinsics import INTRINSICS
    from graphc.codegen_llvm.render import render_module
    x = tf.placeholder(tf.float32, [4, 64])
    _, kernel = _lower(tf.exp(x), {x.node: (4, 64)})
    text = str(render_module([vectorize(kernel, WIDE)], lambda k: [0, 1], INTRINSICS))
    assert '!{ !"llvm.loop.vectorize.width", i32 16 }' in text
    assert "!llvm.loop" in text
    assert '!{ !"llvm.loop.interleave.count", i32 2 }' in text  # exp: two chains at once
    _, plain = _lower(x * 2.0, {x.node: (4, 64)})
    text = str(render_module([vectorize(plain, WIDE)], lambda k: list(range(len(k.params))),
                             INTRINSICS))
    assert "llvm.loop.vectorize.width" in text and "interleave" not in text


def test_in_place_kernels_stay_parallel_but_other_read_write_ones_do_not():
    i = K.Var("i")
    same = K.Store("x", i, K.Binary("mul", K.Load("x", i, "f32"), K.Const(2.0, "f32"), "f32"))
    shifted = K.Store("x", i, K.Load("x", K.Binary("add", i, K.Const(1), K.INDEX), "f32"))
    buffers = (K.Buffer("x", "f32", K.Const(100001)),)
    for store, kind in ((same, "parallel"), (shifted, "serial")):
        loop = K.Loop("i", K.Const(0), K.Const(100000), (store,))
        kernel = K.Kernel("k", buffers, (), (loop,))
        (outer,) = schedule(kernel, Caps(threads=2)).body
        assert outer.kind == kind


def test_a_batch_of_one_gives_its_rows_to_the_threads():
    """A unit top-level loop around the work (a pooling kernel of batch 1) is dropped, its
    variable 0, so that the loop inside runs in parallel; the results are unchanged."""
    x = tf.placeholder(tf.float32, [1, 9, 8, 4])
    node, kernel = _lower(tf.nn.max_pool(x, 3, 2, "SAME"), {x.node: (1, 9, 8, 4)})
    assert [(s.var, s.stop) for s in kernel.body if isinstance(s, K.Loop)] == \
        [("i0", K.Const(1))]
    scheduled = schedule(kernel, WIDE)
    verify_kernel(scheduled)
    (top,) = scheduled.body
    assert (top.var, top.stop, top.kind) == ("i1", K.Const(5), "parallel")
    assert "i0" not in format_kernel(scheduled)
    value = np.random.default_rng(2).standard_normal((1, 9, 8, 4)).astype(np.float32)
    np.testing.assert_array_equal(_run(node, scheduled, {x.node: value}),
                                  _run(node, kernel, {x.node: value}))
    assert schedule(kernel, Caps(threads=1)).body[0].var == "i0"  # one thread: unchanged


# --- tile -----------------------------------------------------------------------------------
TILED = Caps(tile=16)


def test_a_transposing_nest_is_tiled_over_its_two_contiguous_axes():
    # (N, H, W, C) -> (C, H, W, N): the store is contiguous in n, the load in c
    x = tf.placeholder(tf.float32, [40, 3, 2, 33])
    node, kernel = _lower(tf.transpose(x, [3, 1, 2, 0]), {x.node: (40, 3, 2, 33)})
    tiled = tile(kernel, TILED)
    verify_kernel(tiled)
    loops = list(_loops(tiled.body))
    assert [(lp.var, lp.stop) for lp in loops[:4]] == [
        ("i0_tile", K.Const(3)), ("i3_tile", K.Const(3)), ("i1", K.Const(3)), ("i2", K.Const(2))]
    assert [lp.var for lp in loops[4:]] == ["i0", "i3"]
    assert format_kernel(tiled).splitlines()[5].strip() == \
        "for i0 in mul(i0_tile, 16)..min(add(mul(i0_tile, 16), 16), 33) [serial]:"
    value = np.random.default_rng(2).standard_normal((40, 3, 2, 33)).astype(np.float32)
    np.testing.assert_array_equal(_run(node, tiled, {x.node: value}),
                                  value.transpose(3, 1, 2, 0).ravel())
    assert schedule(kernel, WIDE) == schedule(tile(kernel, Caps()), WIDE)  # (untiled)


def test_a_nest_is_tiled_through_the_clamps_of_its_reads():
    # a pad of a transposed value reads x at indices clamped into bounds (and masks them)
    n, w, c = 24, 3, 40
    i0, i1, i2 = K.Var("i0"), K.Var("i1"), K.Var("i2")

    def clamp(e, hi):
        return K.Binary("min", K.Binary("max", e, K.Const(0), K.INDEX), K.Const(hi), K.INDEX)
    column = K.Binary("sub", i1, K.Const(1), K.INDEX)
    inside = K.Binary("and", K.Binary("ge", column, K.Const(0), "bool"),
                      K.Binary("lt", column, K.Const(w), "bool"), "bool")
    read = K.Load("x", K.add(K.add(K.mul(clamp(i2, n - 1), w * c),
                                   K.mul(clamp(column, w - 1), c)), clamp(i0, c - 1)), "f32")
    store = K.Store("out", K.add(K.add(K.mul(i0, (w + 2) * n), K.mul(i1, n)), i2),
                    K.Select(inside, read, K.Const(0.0, "f32"), "f32"))
    kernel = K.Kernel("k_pad", (K.Buffer("x", "f32", K.Const(n * w * c)),
                                K.Buffer("out", "f32", K.Const(c * (w + 2) * n))), (),
                      K.nest(["i0", "i1", "i2"], [c, w + 2, n], [store]))
    tiled = tile(kernel, TILED)
    verify_kernel(tiled)
    assert [lp.var for lp in _loops(tiled.body)] == ["i0_tile", "i2_tile", "i1", "i0", "i2"]
    value = np.random.default_rng(3).standard_normal(n * w * c).astype(np.float32)
    outs = []
    for k in (kernel, tiled):
        buffers = {"x": value, "out": np.zeros(c * (w + 2) * n, np.float32)}
        interpret(k, buffers)
        outs.append(buffers["out"])
    want = np.pad(value.reshape(n, w, c).transpose(2, 1, 0), [(0, 0), (1, 1), (0, 0)])
    np.testing.assert_array_equal(outs[1], want.ravel())
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("shape, perm, tiled", [
    ((64, 40), (1, 0), True),
    ((3, 100), (1, 0), False),  # the store's runs are 3 long: too short to tile
    ((100, 20), (1, 0), False),  # the load's runs are 20 long: less than two tiles
    ((8, 6, 64), (1, 0, 2), False),  # the last axis stays: runs of 64 copied as they are
])
def test_only_nests_whose_load_strides_across_lines_are_tiled(shape, perm, tiled):
    x = tf.placeholder(tf.float32, list(shape))
    _, kernel = _lower(tf.transpose(x, list(perm)), {x.node: shape})
    assert (tile(kernel, TILED) is not kernel) == tiled


def test_transcendentals_make_a_smaller_loop_worth_the_threads():
    """A loop of 32 x 256 elements is below the threads' minimum work as a product, above it
    with five transcendental functions an element (an LSTM cell: schedule.COSTLY_WEIGHT);
    one over 16 x 256 elements is not worth it."""
    from graphc.compiler import build_plan

    def kinds(fn, shape):
        a, b = tf.placeholder(tf.float32, shape), tf.placeholder(tf.float32, shape)
        _, kernels, _ = build_plan([fn(a, b).node], {a.node: shape, b.node: shape}, str, 2,
                                   vector_bits=512)
        (kernel,) = kernels
        return [s.kind for s in kernel.body if isinstance(s, K.Loop)]
    assert kinds(lambda a, b: a * b, (32, 256)) == ["serial"]
    assert kinds(lambda a, b: tf.sigmoid(a) * tf.tanh(b) + tf.sigmoid(b) * tf.tanh(a)
                 * tf.sigmoid(a + b), (32, 256)) == ["parallel"]
    assert kinds(lambda a, b: tf.exp(a) * b, (16, 256)) == ["serial"]
