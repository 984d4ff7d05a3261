"""The character-level example, small: a tiny Transformer LM trained on standard-library
source for 60 steps gets below the unigram entropy on held-out text, and its
generation graph, exported to a shared library, draws the same tokens as the JIT for the
same noise."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import graphc as tf
from graphc.models.text import CharTokenizer, TransformerLM, TransformerLMConfig, uniform_noise
from graphc.models.text.data import (
    random_windows,
    split_ids,
    stdlib_source,
    unigram_entropy,
)


def test_stdlib_source_is_deterministic():
    a, b = stdlib_source(max_chars=5000), stdlib_source(max_chars=5000)
    assert a == b and len(a) == 5000
    with pytest.raises(FileNotFoundError, match="no_such_module.py is not in this Python"):
        stdlib_source(["no_such_module.py"])


def test_data_helpers():
    train, val = split_ids(np.arange(10), 0.2)
    np.testing.assert_array_equal(val, [8, 9])
    windows = random_windows(np.arange(100), 4, 5, np.random.default_rng(0))
    assert windows.shape == (4, 5) and (np.diff(windows, axis=1) == 1).all()
    assert unigram_entropy([0, 1, 0, 1], 3) == pytest.approx(np.log(2))


@pytest.mark.skipif(shutil.which("cc") is None, reason="export needs a C compiler")
def test_char_transformer_learns_and_exports(tmp_path):
    text = stdlib_source(max_chars=40_000)
    tokenizer = CharTokenizer.from_text(text)
    train, val = split_ids(tokenizer.encode(text), 0.1)
    vocab = tokenizer.vocab_size
    tf.set_random_seed(0)
    lm = TransformerLM(TransformerLMConfig(vocab_size=vocab, d_model=32, num_heads=2,
                                           num_layers=1, max_len=32))
    windows = tf.placeholder(tf.int32, [None, 33])
    loss = lm.loss(windows)
    step = tf.train.AdamOptimizer(5e-3).minimize(loss)
    prompt = tf.placeholder(tf.int32, [1, 4], name="prompt")
    noise = tf.placeholder(tf.float32, [12, 1, vocab], name="noise")
    generated = lm.generate(prompt, 12, temperature=0.8, top_k=10, noise=noise)

    rng = np.random.default_rng(0)
    held_out = random_windows(val, 64, 33, np.random.default_rng(1))
    feeds = {prompt: [tokenizer.encode("def ")], noise: uniform_noise(12, 1, vocab, seed=2)}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        before = sess.run(loss, {windows: held_out})
        for _ in range(60):
            sess.run(step, {windows: random_windows(train, 16, 33, rng)})
        after = sess.run(loss, {windows: held_out})
        jit = sess.run(generated, feeds)
        artifact = tf.export(generated, [prompt, noise], tmp_path / "lib", name="char_lm",
                             session=sess)
    assert after < unigram_entropy(val, vocab) < before
    library = tf.load(artifact.shared)
    np.testing.assert_array_equal(library(feeds[prompt], feeds[noise]), jit)
    assert len(tokenizer.decode(jit[0])) == 12
