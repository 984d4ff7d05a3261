"""Plans of many kernels are rendered in parts (render.render_modules), optimized in several
compile workers at once and linked: the same values as one module, kernels of equal names
in different plans kept apart, and the parts dealt out as documented."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.codegen_llvm.intrinsics import INTRINSICS
from graphc.codegen_llvm.render import host_vector_bits, render_modules
from graphc.compiler import build_plan
from graphc.runtime import llvm as llvm_runtime

RNG = np.random.default_rng(0)


@pytest.fixture
def parts(monkeypatch):
    """Every plan of 2 kernels or more is compiled in 2 parts (in 2 workers)."""
    monkeypatch.setattr(llvm_runtime, "PARALLEL_COMPILE_KERNELS", 2)
    monkeypatch.setattr(llvm_runtime.LLVMExecutor, "_compile_parts", lambda self, k:
                        2 if len(k) >= llvm_runtime.PARALLEL_COMPILE_KERNELS else 1)


def _chain(scale: float):
    """matmuls with epilogues, and a softmax: four kernels."""
    x = tf.placeholder(tf.float32, [8, 8])
    w = tf.constant(RNG.standard_normal((8, 8)).astype(np.float32))
    h = tf.tanh(tf.matmul(x, w) + 1.0)
    h = tf.transpose(h) * scale
    h = tf.exp(tf.matmul(h, w) * 0.1)
    return x, tf.nn.softmax(tf.matmul(h, w))


def test_a_plan_in_parts_computes_the_reference_values(parts, tmp_path):
    x, h = _chain(2.0)
    feed = {x: RNG.standard_normal((8, 8)).astype(np.float32)}
    with tf.Session(target="reference") as sess:
        want = sess.run(h, feed)
    with tf.Session(target="llvm", config=tf.Options(cache_dir=str(tmp_path))) as sess:
        got = sess.run(h, feed)
        plan = next(iter(sess._executor._plans.values()))
    assert len(plan.module.parts) == 2  # graphc_run's module and two of kernels
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # from the disk cache, the same
    with tf.Session(target="llvm", config=tf.Options(cache_dir=str(tmp_path))) as sess:
        np.testing.assert_allclose(sess.run(h, feed), want, rtol=1e-5, atol=1e-6)


def test_kernels_of_the_same_name_in_two_plans_stay_apart(parts, tmp_path):
    # both plans have kernels of the same names and different code (the scale differs):
    # each plan's graphc_run must call its own parts, before and after the other loads
    options = tf.Options(cache_dir=str(tmp_path))
    x1, h1 = _chain(2.0)
    x2, h2 = _chain(-3.0)
    feed = RNG.standard_normal((8, 8)).astype(np.float32)
    with tf.Session(target="reference") as sess:
        want1, want2 = sess.run(h1, {x1: feed}), sess.run(h2, {x2: feed})
    assert not np.allclose(want1, want2)
    with tf.Session(target="llvm", config=options) as a, \
            tf.Session(target="llvm", config=options) as b:
        np.testing.assert_allclose(a.run(h1, {x1: feed}), want1, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b.run(h2, {x2: feed}), want2, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a.run(h1, {x1: feed}), want1, rtol=1e-5, atol=1e-6)


def test_kernels_are_dealt_out_in_turn():
    x, h = _chain(2.0)
    _, kernels, slots_of = build_plan([h.node], {x.node: (8, 8)}, str, 1, tf.Options(),
                                      vector_bits=host_vector_bits(), direct_commits=True)
    modules = render_modules(kernels, slots_of, INTRINSICS, 2)
    assert len(kernels) == 4 and len(modules) == 3

    def defined(m, linkage):
        return sorted(f.name.split("_")[0] for f in m.functions if not f.is_declaration
                      and f.name.startswith("kernel") and "." not in f.name
                      and f.linkage == linkage)
    # graphc_run's module declares them all and defines none; the parts take the unique
    # kernels in turn (external)
    assert defined(modules[0], "internal") == defined(modules[0], "external") == []
    assert defined(modules[1], "external") == ["kernel0", "kernel2"]
    assert defined(modules[2], "external") == ["kernel1", "kernel3"]
    declared = [f.name for f in modules[0].functions if f.is_declaration]
    assert sum(name.startswith("kernel") for name in declared) == 4
    one = render_modules(kernels, slots_of, INTRINSICS, 1)
    assert len(one) == 1
