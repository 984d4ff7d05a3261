"""Software prefetch in vector loops that evaluate a transcendental over buffers too large
for the cache (render.py, _prefetching_loop): the loop is cut into strips, each prefetching
its streams a fixed distance ahead, then the rest after the last whole strip. The values
must be those of the plain loop on every length, offset and thread count."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.codegen_llvm import render
from graphc.codegen_llvm.intrinsics import INTRINSICS
from graphc.codegen_llvm.render import host_vector_bits, render_module
from graphc.compiler import build_plan
from graphc.tools.fuzz import fuzz


def _ir(build, shape) -> str:
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, shape)
    plan, kernels, slots_of = build_plan([build(x).node], {x.node: shape}, str, 1,
                                         tf.Options(), vector_bits=host_vector_bits(),
                                         direct_commits=True)
    return str(render_module(kernels, slots_of, INTRINSICS, program=plan.program))


def _prefetches(text: str) -> list:
    """The (rw, locality, cache type) of each prefetch call in the IR."""
    calls = [line for line in text.splitlines() if "call void @\"llvm.prefetch" in line]
    return [tuple(int(a.split()[-1]) for a in line.split("(", 1)[1].rstrip(")").split(",")[1:])
            for line in calls]


def test_a_large_transcendental_loop_prefetches_its_input_and_output():
    found = _prefetches(_ir(tf.exp, [1024, 1024]))  # 4 MiB each way
    lines = render.PREFETCH_STRIP // 64
    assert sorted(set(found)) == [(0, 3, 1), (1, 3, 1)]  # reads, and writes
    assert found.count((0, 3, 1)) == found.count((1, 3, 1)) == lines


@pytest.mark.parametrize("build, shape", [
    (tf.exp, [64, 1024]),                      # 256 KiB: stays in cache
    (lambda x: x * 2.0 + 1.0, [1024, 1024]),   # no transcendental: the hardware keeps up
])
def test_small_or_cheap_loops_do_not_prefetch(build, shape):
    assert _prefetches(_ir(build, shape)) == []


def test_a_loop_keeping_a_running_maximum_is_not_cut_into_strips():
    # a sum restarts in each strip and is added after it; a max (with its NaN flag) is not
    assert _prefetches(_ir(lambda x: tf.reduce_max(tf.exp(x), axis=1), [1024, 1024])) == []
    assert len(_prefetches(_ir(lambda x: tf.reduce_sum(tf.exp(x), axis=1), [1024, 1024]))) \
        == render.PREFETCH_STRIP // 64  # x only: the sums stay in registers


def test_a_row_broadcast_operand_is_not_prefetched():
    a = np.linspace(-1, 1, 1024, dtype=np.float32)
    found = _prefetches(_ir(lambda x: tf.tanh(x * tf.constant(a)), [1024, 1024]))
    assert len(found) == 2 * render.PREFETCH_STRIP // 64  # x and the result, not a


def _gelu(z):
    return 0.5 * z * (1 + tf.tanh(0.7978845608 * (z + 0.044715 * z * z * z)))


def _gelu_np(z):
    z = z.astype(np.float64)
    return 0.5 * z * (1 + np.tanh(0.7978845608 * (z + 0.044715 * z ** 3)))


def _softmax_np(x):
    e = np.exp(x.astype(np.float64) - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


CASES = {
    "exp": (lambda x, a: tf.exp(x), lambda x, a: np.exp(x.astype(np.float64))),
    "gelu(x*a+b)": (lambda x, a: _gelu(x * tf.constant(a) + 0.5),
                    lambda x, a: _gelu_np(x * a + np.float32(0.5))),
    "softmax": (lambda x, a: tf.nn.softmax(x), lambda x, a: _softmax_np(x)),
    "log_softmax": (lambda x, a: tf.nn.log_softmax(x),
                    lambda x, a: np.log(_softmax_np(x))),
    "sum of exp by rows": (lambda x, a: tf.reduce_sum(tf.exp(x), axis=1),
                           lambda x, a: np.exp(x.astype(np.float64)).sum(axis=1)),
    "sum of tanh": (lambda x, a: tf.reduce_sum(tf.tanh(x)),
                    lambda x, a: np.tanh(x.astype(np.float64)).sum()),
    "sigmoid of a slice": (lambda x, a: tf.sigmoid(x[:, 3:]),
                           lambda x, a: 1 / (1 + np.exp(-x[:, 3:].astype(np.float64)))),
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(5, 67), (3, 64), (2, 257), (1, 1), (7, 300)])
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_length_gives_the_plain_loops_values(monkeypatch, case, shape, threads):
    """With every buffer counted as large, each length meets the strips (64 f32 lanes) and
    the rest after them: none, all, or some of the loop."""
    monkeypatch.setattr(render, "PREFETCH_MIN_BYTES", 0)
    build, reference = CASES[case]
    rng = np.random.default_rng(sum(shape) + threads)
    x = rng.uniform(-4, 4, shape).astype(np.float32)
    a = rng.uniform(-2, 2, shape[-1]).astype(np.float32)
    tf.reset_default_graph()
    p = tf.placeholder(tf.float32, list(shape))
    y = build(p, a)
    with tf.Session(config=tf.Options(threads=threads)) as sess:
        got = sess.run(y, {p: x})
    # sums: float32 in another order than float64's (vector lanes, strips), ~1e-7 a term
    atol = 1e-6 if "sum" not in case else 1e-6 * x.size
    np.testing.assert_allclose(got, reference(x, a), rtol=2e-6, atol=atol)


def test_a_loop_that_streams_from_memory_gives_numpys_values():
    x = np.random.default_rng(3).uniform(-10, 10, (3, 174763)).astype(np.float32)  # 2 MiB
    tf.reset_default_graph()
    p = tf.placeholder(tf.float32, list(x.shape))
    with tf.Session() as sess:
        got = sess.run(tf.exp(p), {p: x})
    np.testing.assert_allclose(got, np.exp(x.astype(np.float64)), rtol=2e-7)


def test_fuzzed_programs_agree_with_every_buffer_prefetched(monkeypatch):
    monkeypatch.setattr(render, "PREFETCH_MIN_BYTES", 0)
    report = fuzz(10, seed=20261207)
    assert report.mismatches == [], report.summary()
    assert report.programs >= 9
