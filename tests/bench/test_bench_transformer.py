"""W6, the Transformer encoder layer, at its small size: graphc's Keras block with the
workload's weights loaded, and each installed peer's version (torch, jax, onnxruntime),
compute what the numpy twin computes. Nothing here is timed."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.bench import transformer as tr
from graphc.bench.workloads import WORKLOADS


@pytest.fixture(scope="module")
def case():
    (w6,) = WORKLOADS["W6"].cases("small")
    return w6


@pytest.mark.parametrize("target", ["reference", "llvm"])
def test_graphc_matches_the_numpy_twin(case, target):
    graph = tf.Graph()
    with graph.as_default():
        out, placeholders = case.build(tf)
        init = tf.global_variables_initializer()
    with tf.Session(target=target, graph=graph) as sess:
        sess.run(init)
        case.setup(sess)
        got = sess.run(out, dict(zip(placeholders, case.feed_values)))
    np.testing.assert_allclose(got, case.numpy(case.arrays)(), rtol=1e-4, atol=1e-4)


def test_the_numpy_twin_ends_in_a_layer_norm(case):
    """Post-LN: the output is LayerNorm(...) * gamma + beta, so each row, with gamma and
    beta undone, has mean 0 and variance 1 (less the epsilon's share)."""
    out = case.numpy(case.arrays)()
    assert out.shape == case.arrays["x"].shape
    rows = (out - case.arrays["ln2_beta"]) / case.arrays["ln2_gamma"]
    np.testing.assert_allclose(rows.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(rows.var(-1), 1, rtol=1e-3)
    assert case.flops == tr.transformer_flops(case.arrays) > 0


def peer_result(name, case):
    if name == "torch":
        return tr.transformer_torch(pytest.importorskip("torch"), case.arrays)()
    if name == "jax":
        return tr.transformer_jax(pytest.importorskip("jax"), case.arrays)()
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(tr.transformer_onnx(case.arrays).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {"x": case.arrays["x"]})[0]


@pytest.mark.parametrize("name", ["torch", "jax", "onnxruntime"])
def test_peers_match_the_numpy_twin(case, name):
    np.testing.assert_allclose(peer_result(name, case), case.numpy(case.arrays)(), rtol=1e-4,
                               atol=1e-4)
