"""Memory planning (graphc/passes/memory.py) and its use in LLVM plans."""

import numpy as np
import pytest

import graphc as tf
from graphc.passes.memory import ALIGN, plan_memory


def _lifetimes(kernels, live_out, n):
    life = {}
    for k, (writes, reads) in enumerate(kernels):
        for b in (*writes, *reads):
            first, _ = life.get(b, (k, k))
            life[b] = (first, k)
    for b in live_out:
        life[b] = (life[b][0], n)
    return life


def _assert_disjoint(plan, kernels, sizes, live_out):
    life = _lifetimes(kernels, live_out, len(kernels))
    pairs = {frozenset(p) for p in plan.in_place.values()}
    buffers = sorted(plan.offsets)
    for i, a in enumerate(buffers):
        assert plan.offsets[a] % ALIGN == 0
        assert plan.offsets[a] + sizes[a] <= plan.arena_bytes
        for b in buffers[i + 1:]:
            if frozenset((a, b)) in pairs:
                continue
            overlap_time = life[a][0] <= life[b][1] and life[b][0] <= life[a][1]
            oa, ob = plan.offsets[a], plan.offsets[b]
            overlap_space = oa < ob + sizes[b] and ob < oa + sizes[a]
            assert not (overlap_time and overlap_space), (a, b)


def test_a_chain_reuses_two_regions():
    # k0 writes a; k1 reads a writes b; k2 reads b writes c; k3 reads c writes d (fetched)
    kernels = [(["a"], []), (["b"], ["a"]), (["c"], ["b"]), (["d"], ["c"])]
    sizes = {b: 1000 for b in "abcd"}
    plan = plan_memory(kernels, sizes, {"d"})
    assert plan.offsets == {"a": 0, "b": 1024, "c": 0, "d": 1024}
    assert (plan.arena_bytes, plan.naive_bytes, plan.reused) == (2048, 4096, 2)
    _assert_disjoint(plan, kernels, sizes, {"d"})


def test_in_place_outputs_take_the_dying_input():
    kernels = [(["a"], []), (["a2"], []), (["b"], ["a"]), (["c"], ["b", "a2"])]
    sizes = {"a": 256, "a2": 256, "b": 256, "c": 256}
    plan = plan_memory(kernels, sizes, {"c"}, {2: [("b", "a")], 3: [("c", "a2")]})
    assert plan.in_place == {2: ("b", "a"), 3: ("c", "a2")}
    assert plan.offsets["b"] == plan.offsets["a"] and plan.offsets["c"] == plan.offsets["a2"]
    assert plan.arena_bytes == 512
    _assert_disjoint(plan, kernels, sizes, {"c"})


def test_no_in_place_over_an_input_still_needed():
    kernels = [(["a"], []), (["b"], ["a"]), (["c"], ["a", "b"])]
    sizes = {"a": 64, "b": 64, "c": 64}
    plan = plan_memory(kernels, sizes, {"c"}, {1: [("b", "a")]})
    assert plan.in_place == {} and plan.offsets["b"] != plan.offsets["a"]
    _assert_disjoint(plan, kernels, sizes, {"c"})


@pytest.mark.parametrize("seed", range(30))
def test_random_programs_never_overlap_live_buffers(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 25))
    kernels, sizes, made = [], {}, []
    for k in range(n):
        reads = list(rng.choice(made, size=min(len(made), int(rng.integers(0, 3))),
                                replace=False)) if made else []
        out = f"t{k}"
        sizes[out] = int(rng.integers(1, 5000))
        kernels.append(([out], reads))
        made.append(out)
    live_out = set(rng.choice(made, size=2, replace=False))
    candidates = {k: [(w[0], r) for r in reads if sizes[r] == sizes[w[0]]]
                  for k, (w, reads) in enumerate(kernels)}
    plan = plan_memory(kernels, sizes, live_out, candidates)
    _assert_disjoint(plan, kernels, sizes, live_out)
    assert plan.arena_bytes <= plan.naive_bytes


def test_an_mlp_forward_needs_less_memory_and_computes_the_same():
    rng = np.random.default_rng(0)
    x = tf.placeholder(tf.float32, [64, 100])
    h = x
    for _ in range(4):
        w = tf.constant(rng.standard_normal((100, 100)).astype(np.float32) * 0.1)
        h = tf.nn.relu(tf.matmul(h, w) + 0.1)
    y = tf.matmul(h, w)
    value = rng.standard_normal((64, 100)).astype(np.float32)
    with tf.Session(target="llvm", config=tf.Options(threads=2)) as sess:
        got = sess.run(y, {x: value})
        plan = next(iter(sess._executor._plans.values()))
    with tf.Session(target="reference") as sess:
        np.testing.assert_allclose(got, sess.run(y, {x: value}), rtol=1e-4, atol=1e-5)
    memory = plan.memory
    assert memory["in_place"] == 4  # each relu(matmul + 0.1) over its matmul's output
    assert memory["arena_bytes"] <= memory["naive_bytes"] // 3
    assert [k.name for k in plan.kernels] == ["k_matmul_maximum"] * 4 + ["k_matmul"]
    data = [b for b in plan.kernels[1].params if b.size.value > 1]  # besides the constants
    assert len(data) == 3  # reads h and w, writes the product and the relu into one buffer


def test_training_steps_with_planned_memory_match_the_reference():
    def train(target):
        tf.reset_default_graph()
        rng = np.random.default_rng(3)
        x = tf.placeholder(tf.float32, [32, 20])
        labels = tf.placeholder(tf.int32, [32])
        w1 = tf.Variable(rng.standard_normal((20, 16)).astype(np.float32) * 0.3)
        w2 = tf.Variable(rng.standard_normal((16, 5)).astype(np.float32) * 0.3)
        logits = tf.matmul(tf.tanh(tf.matmul(x, w1)), w2)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits))
        step = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
        feed = {x: rng.standard_normal((32, 20)).astype(np.float32),
                labels: rng.integers(0, 5, 32).astype(np.int32)}
        with tf.Session(target=target) as sess:
            sess.run(tf.global_variables_initializer())
            losses = [sess.run([loss, step], feed)[0] for _ in range(4)]
            return losses, sess.run(w1)
    got, want = train("llvm"), train("reference")
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-6)


def test_a_wider_result_is_never_written_over_a_narrower_input():
    # selu unfused: select(x > 0, x, ...) produces float32 from a bool condition that dies
    # there; writing the float32 result in place over the 1-byte bools overwrote conditions
    # not read yet (found by graphc fuzz, seed 15)
    import graphc as tf
    x = tf.placeholder(tf.float32, [5])
    y = tf.nn.selu(x)
    xv = np.array([0.5, -1.0, 2.0, 0.3, -0.2], np.float32)
    want = 1.0507009873554805 * np.where(xv > 0, xv, 1.6732632423543772 * np.expm1(xv))
    for options in (tf.Options(opt_level=0, fuse=False), tf.Options(fuse=False)):
        with tf.Session(config=options) as sess:
            np.testing.assert_allclose(sess.run(y, {x: xv}), want, rtol=1e-6)
    assert plan_memory([((1,), (0,))], {0: 5, 1: 20}, {1}, {0: [(1, 0)]}).in_place == {}


def test_a_result_is_never_written_over_an_input_of_another_dtype():
    # an int32 slice cast to float32 in place: the merged buffer was declared float32 and
    # the CUDA code read the ints as floats (found by graphc fuzz, seed 200808)
    import graphc as tf
    x = tf.placeholder(tf.int32, [5, 5])
    y = tf.unstack(tf.cast(tf.slice(x, [3, 1], [2, 2]), tf.float32), axis=0)[0]
    xv = np.arange(25, dtype=np.int32).reshape(5, 5)
    for target in ("llvm", "cuda-emulated"):
        with tf.Session(target=target) as sess:
            np.testing.assert_array_equal(sess.run(y, {x: xv}), [16.0, 17.0])
