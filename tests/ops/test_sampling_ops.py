"""graphc.ops.sampling_ops and graphc.ops.sampled_losses: the candidate samplers (host draws
seeded like graphc's random ops, TF's distributions and expected-count formulas), and
nce_loss / sampled_softmax_loss against a numpy transcription of TF's
_compute_sampled_logits, their gradients, and a small word2vec-style model that nce_loss
trains."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, run

import graphc as tf
from graphc.errors import DTypeError, ShapeError
from graphc.ops.sampling_ops import _log_uniform, _uniform, _weighted, draw
from graphc.test import gradcheck

RNG = np.random.default_rng(20261208)
FLT_MAX = np.finfo(np.float32).max


def log_uniform_p(k, range_max):
    return np.log((k + 2.0) / (k + 1.0)) / np.log(range_max + 1.0)


def expected(p, tries, num_sampled):
    """TF's ExpectedCountHelper, in float32."""
    p = np.float32(p)
    if tries == num_sampled:
        return p * np.float32(num_sampled)
    return -np.expm1(np.float32(tries) * np.log1p(-p))


# --- the host draws -------------------------------------------------------------------------
def test_draws_follow_tfs_distributions():
    gen = np.random.default_rng(0)
    n = 40000
    for sample, p in ((_log_uniform(10), log_uniform_p(np.arange(10), 10)),
                      (_uniform(10), np.full(10, 0.1)),
                      (_weighted(np.array([1.0, 0.0, 3.0, 4.0])), np.array([1, 0, 3, 4]) / 8)):
        values, tries = draw(gen, sample, n, unique=False)
        assert tries == n and values.dtype == np.int64
        freq = np.bincount(values, minlength=len(p)) / n
        assert np.all(np.abs(freq - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-9), (freq, p)


def test_unique_draws_are_distinct_in_first_seen_order():
    gen = np.random.default_rng(1)
    values, tries = draw(gen, _log_uniform(8), 8, unique=True)
    assert sorted(values.tolist()) == list(range(8)) and tries >= 8
    again, _ = draw(np.random.default_rng(1), _log_uniform(8), 8, unique=True)
    assert again.tolist() == values.tolist()


# --- the samplers in a graph ----------------------------------------------------------------
def test_log_uniform_sampler_counts_follow_tfs_formula(target):
    tf.set_random_seed(7)
    labels = tf.placeholder(tf.int64, [None, 2])
    sampled, true_count, sampled_count = tf.random.log_uniform_candidate_sampler(
        labels, num_true=2, num_sampled=6, unique=True, range_max=30)
    tries = tf.get_default_graph().get_tensor_by_name(
        "log_uniform_candidate_sampler/num_tries:0")
    true = np.array([[0, 5], [29, 3], [1, 1]], np.int64)
    runs = []
    with tf.Session(target) as sess:
        for _ in range(3):
            runs.append(sess.run([sampled, true_count, sampled_count, tries], {labels: true}))
    for s, tc, sc, n in runs:
        assert s.dtype == np.int64 and len(set(s.tolist())) == 6 and s.min() >= 0 \
            and s.max() < 30 and n >= 6
        assert tc.dtype == np.float32 and tc.shape == (3, 2) and sc.shape == (6,)
        want_tc = [[expected(log_uniform_p(c, 30), n, 6) for c in row] for row in true]
        assert_close(tc, np.array(want_tc, np.float32), rtol=1e-5)
        assert_close(sc, np.array([expected(log_uniform_p(c, 30), n, 6) for c in s],
                                  np.float32), rtol=1e-5)
    assert any(runs[0][0].tolist() != r[0].tolist() for r in runs[1:])  # fresh each run
    with tf.Session(target) as sess:  # a new session replays the seeded sequence
        assert sess.run(sampled, {labels: true}).tolist() == runs[0][0].tolist()


def test_unseeded_samplers_differ_between_sessions_and_nn_spellings_match():
    labels = tf.constant([[1]], tf.int64)
    s, t, c = tf.nn.uniform_candidate_sampler(labels, 1, 8, unique=False, range_max=1000)
    firsts = [run(s).tolist() for _ in range(2)]
    assert firsts[0] != firsts[1]
    assert run(c).tolist() == [np.float32(8 / 1000)] * 8  # p * num_sampled: no rejection
    assert tf.nn.log_uniform_candidate_sampler is tf.random.log_uniform_candidate_sampler


def test_fixed_unigram_sampler_reads_a_vocab_file(tmp_path, target):
    vocab = tmp_path / "vocab.csv"
    vocab.write_text("the,9\nof,4\nand,1\nzebra,0\nto,16\n")
    labels = tf.constant([[0], [4], [7]], tf.int64)
    # reserved ids 0, 1 weigh 0; distortion 0.5 takes square roots: weights 0 0 3 2 1 0 4
    s, t, c = tf.random.fixed_unigram_candidate_sampler(
        labels, 1, 3, unique=True, range_max=7, vocab_file=str(vocab), distortion=0.5,
        num_reserved_ids=2, seed=3)
    tries = tf.get_default_graph().get_tensor_by_name(
        "fixed_unigram_candidate_sampler/num_tries:0")
    p = np.array([0, 0, 3, 2, 1, 0, 4], np.float32) / 10
    for _ in range(3):
        got, tc, sc, n = run([s, t, c, tries], None, target)
        assert set(got.tolist()) <= {2, 3, 4, 6} and len(set(got.tolist())) == 3
        assert_close(tc[:, 0], np.array([expected(p[0], n, 3), expected(p[4], n, 3),
                                         0.0], np.float32), rtol=1e-5)  # 7: outside: p 0
        assert_close(sc, np.array([expected(p[v], n, 3) for v in got], np.float32),
                     rtol=1e-5)
    sharded = tf.nn.fixed_unigram_candidate_sampler(labels, 1, 2, False, 3,
                                                    unigrams=[1, 2, 3, 4, 5, 6],
                                                    num_shards=2, shard=1)
    assert set(run(sharded[0]).tolist()) <= {0, 1, 2}  # ids 1, 3, 5 of the table


def test_learned_unigram_sampler_learns_the_true_classes():
    labels = tf.placeholder(tf.int64, [None, 1])
    s, t, c = tf.nn.learned_unigram_candidate_sampler(labels, 1, 4, unique=False,
                                                      range_max=10, seed=5)
    with tf.Session() as sess:
        first = sess.run(t, {labels: [[6]] * 5})  # drawn before this run's update
        second = sess.run(t, {labels: [[6]] * 5})
        counts = np.bincount(np.concatenate([sess.run(s, {labels: [[6]] * 5})
                                             for _ in range(30)]), minlength=10)
    assert_close(first, np.full((5, 1), 4 * 0.1, np.float32))
    assert_close(second, np.full((5, 1), 4 * 6 / 15, np.float32))
    assert counts[6] > counts.sum() * 0.7


def test_all_candidate_sampler():
    s, t, c = tf.random.all_candidate_sampler(tf.constant([[2], [0]], tf.int64), 1, 4, True)
    got = run([s, t, c])
    assert got[0].tolist() == [0, 1, 2, 3] and got[1].tolist() == [[1.0], [1.0]]
    assert got[2].tolist() == [1.0] * 4


def test_sampler_errors():
    labels = tf.constant([[1, 2]], tf.int64)
    with pytest.raises(ValueError, match="unique=True cannot draw 6 distinct classes from 5"):
        tf.nn.log_uniform_candidate_sampler(labels, 2, 6, True, 5)
    with pytest.raises(ShapeError, match=r"true_classes must be a \[batch_size, num_true=1\]"):
        tf.nn.uniform_candidate_sampler(labels, 1, 2, True, 5)
    with pytest.raises(DTypeError, match="true_classes must be int64"):
        tf.nn.uniform_candidate_sampler(tf.constant([[1.0]]), 1, 2, True, 5)
    with pytest.raises(ValueError, match="range_max is 4 but the weights have 3 entries"):
        tf.nn.fixed_unigram_candidate_sampler(labels, 2, 2, True, 4, unigrams=[1, 2, 3])
    with pytest.raises(ValueError, match="exactly one of vocab_file and unigrams"):
        tf.nn.fixed_unigram_candidate_sampler(labels, 2, 2, True, 4)


# --- the sampled losses ---------------------------------------------------------------------
def np_sampled_logits(w, b, labels, x, sampled, true_count, sampled_count, remove):
    """TF's _compute_sampled_logits, in numpy."""
    num_true = labels.shape[1]
    true_logits = (x[:, None, :] * w[labels]).sum(-1) + b[labels]
    sampled_logits = x @ w[sampled].T + b[sampled]
    if remove:
        hit = (labels[:, :, None] == sampled[None, None, :]).any(1)
        sampled_logits = sampled_logits + np.where(hit, -FLT_MAX, 0).astype(x.dtype)
    true_logits = true_logits - np.log(true_count)
    sampled_logits = sampled_logits - np.log(sampled_count)
    logits = np.concatenate([true_logits, sampled_logits], 1)
    targets = np.concatenate([np.full(true_logits.shape, 1.0 / num_true),
                              np.zeros(sampled_logits.shape)], 1)
    return logits, targets


def np_nce(logits, z):
    return (np.maximum(logits, 0) - logits * z + np.log1p(np.exp(-np.abs(logits)))).sum(1)


def np_softmax_xent(logits, z):
    shifted = logits - logits.max(1, keepdims=True)
    return -(z * (shifted - np.log(np.exp(shifted).sum(1, keepdims=True)))).sum(1)


@pytest.mark.parametrize("dtype, shards, strategy, remove", [
    ("float32", 1, "mod", False), ("float64", 3, "mod", True), ("float32", 2, "div", True)])
def test_losses_match_tfs_formula(target, dtype, shards, strategy, remove):
    classes, dim, batch = 11, 4, 3
    w = RNG.standard_normal((classes, dim)).astype(dtype)
    b = RNG.standard_normal(classes).astype(dtype)
    x = RNG.standard_normal((batch, dim)).astype(dtype)
    labels = np.array([[3, 7], [0, 3], [10, 10]], np.int64)
    sampled = np.array([7, 1, 10, 4, 3], np.int64)  # 7, 10 and 3 hit true classes
    true_count = RNG.uniform(0.1, 1.0, (batch, 2)).astype(np.float32)
    sampled_count = RNG.uniform(0.1, 1.0, 5).astype(np.float32)
    parts = [w[i::shards] for i in range(shards)] if strategy == "mod" else \
        np.array_split(w, shards)
    xs, bs = (tf.placeholder(dtype, a.shape) for a in (x, b))
    feed = {xs: x, bs: b}
    values = (sampled, true_count, sampled_count)
    kw = dict(num_sampled=5, num_classes=classes, num_true=2, sampled_values=values,
              partition_strategy=strategy, remove_accidental_hits=remove)
    shard_consts = [tf.constant(p) for p in parts] if shards > 1 else tf.constant(w)
    nce = tf.nn.nce_loss(shard_consts, bs, labels, xs, **kw)
    ssm = tf.nn.sampled_softmax_loss(shard_consts, bs, labels, xs, **kw)
    got_nce, got_ssm = run([nce, ssm], feed, target)
    logits, z = np_sampled_logits(w.astype(np.float64), b.astype(np.float64), labels,
                                  x.astype(np.float64), sampled, true_count.astype(np.float64),
                                  sampled_count.astype(np.float64), remove)
    assert got_nce.dtype == np.dtype(dtype) and got_nce.shape == (batch,)
    tol = 1e-5 if dtype == "float32" else 1e-10
    assert_close(got_nce, np_nce(logits, z).astype(dtype), rtol=tol)
    assert_close(got_ssm, np_softmax_xent(logits, z).astype(dtype), rtol=tol)


def test_loss_gradients_reach_weights_biases_and_inputs(target):
    sampled_values = (np.array([2, 0, 5], np.int64), np.full((2, 1), 0.4, np.float32),
                      np.array([0.3, 0.9, 0.2], np.float32))
    labels = np.array([[4], [2]], np.int64)

    def loss(fn, remove):
        return lambda w, b, x: fn(w, b, labels, x, 3, 6, sampled_values=sampled_values,
                                  remove_accidental_hits=remove)
    arrays = [RNG.standard_normal((6, 3)), RNG.standard_normal(6), RNG.standard_normal((2, 3))]
    gradcheck(loss(tf.nn.nce_loss, False), arrays, target=target)
    gradcheck(loss(tf.nn.sampled_softmax_loss, True), arrays, target=target)
    w, b, x = (tf.Variable(a) for a in arrays)
    grads = tf.gradients(tf.reduce_sum(loss(tf.nn.nce_loss, False)(w, b, x)), [w, b, x])
    gw, gb, gx = run(grads, None, target)
    touched = sorted({2, 0, 5, 4})  # only the rows looked up get a gradient
    assert np.all(gw[touched] != 0) and np.all(np.delete(gw, touched, 0) == 0)
    assert np.all(gb[touched] != 0) and np.all(gx != 0)


def test_a_word2vec_toy_trains_with_nce_loss():
    vocab, dim = 30, 6
    tf.set_random_seed(11)
    center = tf.placeholder(tf.int64, [None])
    context = tf.placeholder(tf.int64, [None, 1])
    emb = tf.Variable(tf.random_uniform([vocab, dim], -1.0, 1.0))
    nce_w = tf.Variable(tf.truncated_normal([vocab, dim], stddev=0.3))
    nce_b = tf.Variable(tf.zeros([vocab]))
    loss = tf.reduce_mean(tf.nn.nce_loss(nce_w, nce_b, context,
                                         tf.nn.embedding_lookup(emb, center),
                                         num_sampled=6, num_classes=vocab))
    step = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    words = np.arange(60) % vocab
    feed = {center: words, context: ((words * 7 + 3) % vocab)[:, None]}  # a fixed pairing
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        start = np.mean([sess.run(loss, feed) for _ in range(10)])
        for _ in range(300):
            sess.run(step, feed)
        end = np.mean([sess.run(loss, feed) for _ in range(10)])
    assert end < 0.5 * start, (start, end)
