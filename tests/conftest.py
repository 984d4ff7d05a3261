"""Shared fixtures: every numeric test runs on each available target against numpy."""

from __future__ import annotations

import os

import numpy as np
import pytest

import graphc as tf
from graphc.runtime.targets import DEVICE_TARGETS, TARGETS


@pytest.fixture(autouse=True, scope="session")
def private_code_cache(tmp_path_factory):
    """Compiled code goes to a cache of this test session, not the user's."""
    old = os.environ.get("GRAPHC_CACHE_DIR")
    os.environ["GRAPHC_CACHE_DIR"] = str(tmp_path_factory.mktemp("code-cache"))
    yield
    if old is None:
        os.environ.pop("GRAPHC_CACHE_DIR", None)
    else:
        os.environ["GRAPHC_CACHE_DIR"] = old


@pytest.fixture(autouse=True, scope="session")
def no_stored_plans():
    """Sessions neither store nor look up whole plans in the disk cache (runtime/
    plan_store.py): a test that changes a pass's tunables would otherwise run a plan another
    test stored without the change. tests/runtime/test_stored_plans.py turns them on."""
    from graphc.runtime.llvm import LLVMExecutor
    LLVMExecutor.stores_plans = False
    yield
    LLVMExecutor.stores_plans = True


@pytest.fixture(autouse=True)
def fresh_graph():
    """Each test builds in a new default graph."""
    tf.reset_default_graph()
    yield
    tf.reset_default_graph()


@pytest.fixture(autouse=True)
def isolated_flags():
    """Flags a test defines on the process-wide tf.flags.FLAGS are gone after it: two tests
    that run the same example (the docs' flags example, in test_docs and in
    test_check_examples) would otherwise define its flags twice."""
    flags = tf.flags.FLAGS
    saved = (dict(flags._flags), dict(flags._short), flags._parsed)
    yield
    flags._flags.clear()
    flags._flags.update(saved[0])
    flags._short.clear()
    flags._short.update(saved[1])
    object.__setattr__(flags, "_parsed", saved[2])


def _test_targets() -> list:
    """Every target that runs everywhere, plus the device targets named in
    $GRAPHC_TEST_TARGETS (comma-separated: `GRAPHC_TEST_TARGETS=cuda` on a GPU machine)."""
    extra = [t for t in os.environ.get("GRAPHC_TEST_TARGETS", "").split(",") if t]
    unknown = [t for t in extra if t not in DEVICE_TARGETS]
    if unknown:
        raise pytest.UsageError(f"GRAPHC_TEST_TARGETS: unknown device target(s) {unknown}; "
                                f"expected some of {sorted(DEVICE_TARGETS)}")
    return sorted(TARGETS) + [t for t in extra if t not in TARGETS]


@pytest.fixture(params=_test_targets())
def target(request) -> str:
    """The name of an execution target; tests using it run once per registered target."""
    return request.param


def run(fetches, feed_dict=None, target: str = "reference"):
    """Initialize the variables of the default graph, then run `fetches` once."""
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(fetches, feed_dict)


def assert_close(actual, expected, dtype=None, rtol=None, atol=None):
    """Compare with a tolerance suited to the dtype (exact for ints and bools)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    dtype = np.dtype(dtype or expected.dtype)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    if dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected)
        return
    default = {2: (1e-3, 1e-3), 4: (1e-5, 1e-6), 8: (1e-12, 1e-12)}[dtype.itemsize]
    np.testing.assert_allclose(actual, expected, rtol=rtol or default[0], atol=atol or default[1],
                               equal_nan=True)


def llvm_plan(fetches, feed_dict, threads: int = 1, rtol: float = 3e-5, atol: float = 1e-5):
    """(kernel names, plan) of one LLVM run of `fetches`, its values checked against the
    reference target."""
    with tf.Session(target="llvm", config=tf.Options(threads=threads)) as sess:
        got = sess.run(fetches, feed_dict)
        plan = next(iter(sess._executor._plans.values()))
    with tf.Session(target="reference") as sess:
        want = sess.run(fetches, feed_dict)
    for g, w in zip(got if isinstance(fetches, list) else [got],
                    want if isinstance(fetches, list) else [want]):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return [k.name for k in plan.kernels], plan


def numpy_gemm(bufs, args):
    """The L2 `gemm` intrinsic in numpy, for kernel_tools.interpret."""
    a, b, c = bufs
    m, n, k, oa, rsa, csa, ob, rsb, csb, oc = args
    am = np.lib.stride_tricks.as_strided(a[oa:], (m, k), (rsa * a.itemsize, csa * a.itemsize))
    bm = np.lib.stride_tricks.as_strided(b[ob:], (k, n), (rsb * b.itemsize, csb * b.itemsize))
    c[oc:oc + m * n] = (am @ bm).ravel()


# A separable quadratic loss over two float64 variables, whose gradient is C * v + K: the
# optimizer tests step it and compare every update with a numpy twin of the rule.
W0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]])
B0 = np.array([0.2, -0.4, 0.9])
C = {"w": np.array([[1.0, 2.0, 0.5], [3.0, 0.1, 1.0]]), "b": np.array([2.0, 1.0, 0.3])}
K = {"w": np.array([[0.1, -0.2, 0.3], [0.0, 0.5, -1.0]]), "b": np.array([-0.3, 0.2, 0.1])}


def quadratic_model():
    """(w, b, loss) for the quadratic above, variables named 'w' and 'b'."""
    w = tf.Variable(W0, dtype=tf.float64, name="w")
    b = tf.Variable(B0, dtype=tf.float64, name="b")
    loss = tf.add_n([tf.reduce_sum(v * v * (0.5 * C[k]) + v * K[k])
                     for k, v in (("w", w), ("b", b))])
    return w, b, loss
