"""The shipped character language model (graphc/modalities/weights/charlm.safetensors):
the file's contents, its loss on held-out standard-library source against a NumPy LSTM
reading the same file and against the unigram entropy, greedy decoding against NumPy's,
seeded sampling, the errors of bad arguments and bad files, and the training script's
file for the other architecture."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from graphc.modalities import charlm, train_charlm
from graphc.models.text.data import split_ids, stdlib_source, unigram_entropy

PROMPT = "def "
NEW = 40
# measured on the 16 windows of 65 characters below: 1.415 nats/char (CPython 3.11.7, whose
# validation text has a unigram entropy of 3.023); the bound leaves room for another
# Python's slightly different library source
LOSS_BOUND = 1.55


@pytest.fixture(scope="module")
def lm():
    return charlm.load_default()


@pytest.fixture(scope="module")
def weights():
    with safe_open(charlm.DEFAULT_WEIGHTS, framework="np") as f:
        return {n: f.get_tensor(n) for n in f.keys()}, f.metadata()


@pytest.fixture(scope="module")
def held_out(lm):
    """16 windows of 65 characters spread evenly over the validation tenth of the text
    the model was trained on (a fresh state at each window's start)."""
    _, val = split_ids(lm.tokenizer.encode(stdlib_source()), 0.1)
    starts = np.linspace(0, len(val) - 65, 16).astype(int)
    return val[starts[:, None] + np.arange(65)], val


# --- NumPy reference: the LSTM of the file --------------------------------------------------
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


class NumpyLSTM:
    """The file's LSTM in float64: [x, h] @ kernel + bias gives gates i, j, f, o;
    c = c * sigmoid(f + 1) + sigmoid(i) * tanh(j), h = tanh(c) * sigmoid(o)."""

    def __init__(self, arrays, architecture):
        w = {n: a.astype(np.float64) for n, a in arrays.items()}
        self.embedding, self.out_kernel, self.out_bias = (
            w["embedding"], w["output/kernel"], w["output/bias"])
        self.layers = [(w[f"rnn/multi_rnn_cell/cell_{i}/lstm_{i}/kernel"],
                        w[f"rnn/multi_rnn_cell/cell_{i}/lstm_{i}/bias"])
                       for i in range(architecture["num_layers"])]
        self.units = architecture["units"]

    def start(self, batch):
        return [(np.zeros((batch, self.units)), np.zeros((batch, self.units)))
                for _ in self.layers]

    def step(self, ids, state):
        """Logits [batch, vocab] after ids [batch], and the new state."""
        x, new = self.embedding[ids], []
        for (kernel, bias), (c, h) in zip(self.layers, state):
            i, j, f, o = np.split(np.concatenate([x, h], 1) @ kernel + bias, 4, axis=1)
            c = c * sigmoid(f + 1.0) + sigmoid(i) * np.tanh(j)
            x = h = np.tanh(c) * sigmoid(o)
            new.append((c, h))
        return x @ self.out_kernel + self.out_bias, new

    def loss(self, ids):
        state, total = self.start(len(ids)), 0.0
        for t in range(ids.shape[1] - 1):
            logits, state = self.step(ids[:, t], state)
            logits = logits - logits.max(1, keepdims=True)
            log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
            total -= log_p[np.arange(len(ids)), ids[:, t + 1]].sum()
        return total / (ids.shape[0] * (ids.shape[1] - 1))

    def greedy(self, ids, steps, banned):
        state = self.start(1)
        for t in ids:
            logits, state = self.step(np.array([t]), state)
        out = []
        for _ in range(steps):
            logits[:, banned] = -np.inf
            out.append(int(logits[0].argmax()))
            logits, state = self.step(np.array(out[-1:]), state)
        return out


@pytest.fixture(scope="module")
def reference(weights):
    arrays, metadata = weights
    return NumpyLSTM(arrays, json.loads(metadata["architecture"]))


# --- the file ---------------------------------------------------------------------------------
def test_shipped_file(weights, lm):
    arrays, metadata = weights
    assert os.path.getsize(charlm.DEFAULT_WEIGHTS) <= 1_500_000
    assert metadata["format"] == charlm.FORMAT and metadata["storage"] == "float16"
    assert {a.dtype for a in arrays.values()} == {np.dtype(np.float16)}
    architecture = json.loads(metadata["architecture"])
    assert architecture["class"] == "LSTMLM"
    assert architecture["vocab_size"] == lm.tokenizer.vocab_size == 163
    assert json.loads(metadata["tokenizer"])["chars"] == lm.tokenizer.tokens[2:]
    assert lm.metadata["architecture"] == architecture
    assert lm.metadata["steps"] == int(metadata["steps"]) >= 1
    # what training measured over the whole held-out tenth
    assert lm.metadata["validation_loss"] < lm.metadata["unigram_entropy"] - 1.5
    # the session holds the file's values, float16 widened exactly to float32
    name = "rnn/multi_rnn_cell/cell_0/lstm_0/kernel"
    variable = charlm.model_variables(lm.graph)[name]
    np.testing.assert_array_equal(lm.session.run(variable), arrays[name].astype(np.float32))


def test_held_out_loss_matches_numpy_and_beats_unigram(lm, reference, held_out):
    windows, val = held_out
    loss = lm.loss(windows)
    np.testing.assert_allclose(loss, reference.loss(windows), rtol=1e-4)
    unigram = unigram_entropy(val, lm.tokenizer.vocab_size)
    assert 2.9 < unigram < 3.2
    assert loss < LOSS_BOUND < unigram - 1.4


# --- generation -------------------------------------------------------------------------------
def test_greedy_matches_numpy(lm, reference):
    text = lm.generate(PROMPT, NEW, temperature=0)
    banned = [lm.tokenizer.pad_id, lm.tokenizer.unk_id]
    want = reference.greedy(lm.tokenizer.encode(PROMPT), NEW, banned)
    assert text == PROMPT + lm.tokenizer.decode(want)


def test_seeded_sampling_is_deterministic():
    first = charlm.generate_text(PROMPT, NEW, seed=1)
    assert charlm.generate_text(PROMPT, NEW, seed=1) == first
    assert charlm.generate_text(PROMPT, NEW, seed=2) != first
    assert first.startswith(PROMPT) and len(first) == len(PROMPT) + NEW


def test_text_is_made_of_vocabulary_characters(lm):
    vocabulary = set(lm.tokenizer.tokens[2:])
    for seed in range(3):
        text = charlm.generate_text(PROMPT, NEW, temperature=1.5, seed=seed)
        assert set(text) <= vocabulary


def test_top_k_1_and_cached_graphs(lm):
    greedy = lm.generate(PROMPT, NEW, temperature=0)
    assert lm.generate(PROMPT, NEW, temperature=0.8, top_k=1, seed=5) == greedy
    assert lm.generate(PROMPT, NEW, temperature=3.0, top_k=1, seed=6) == greedy
    # one graph per (prompt length, new tokens, top_k); temperature and seed are fed
    keys = {k for k in lm._generators if k[:2] == (len(PROMPT), NEW)}
    assert keys == {(len(PROMPT), NEW, "greedy"), (len(PROMPT), NEW, None),
                    (len(PROMPT), NEW, 1)}


def test_unknown_prompt_characters_read_as_unk(lm):
    assert "€" not in lm.tokenizer.tokens and "→" not in lm.tokenizer.tokens
    a = charlm.generate_text("x€y ", NEW, seed=3)
    b = charlm.generate_text("x→y ", NEW, seed=3)
    assert a.startswith("x€y ") and b.startswith("x→y ")
    assert a[4:] == b[4:]


# --- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"prompt": ""}, "the prompt is empty"),
    ({"prompt": b"def"}, "prompt must be a str, got bytes"),
    ({"max_new_tokens": 0}, "max_new_tokens must be an int >= 1, got 0"),
    ({"max_new_tokens": 2.5}, "max_new_tokens must be an int >= 1, got 2.5"),
    ({"temperature": -1}, r"temperature must be 0 \(greedy\) or a finite number >= 0.001"),
    ({"temperature": 1e-5}, "temperature must be 0"),
    ({"temperature": float("nan")}, "temperature must be 0"),
    ({"top_k": 0}, r"top_k must be None or an int in \[1, 163\], got 0"),
    ({"top_k": 164}, r"top_k must be None or an int in \[1, 163\], got 164"),
    ({"seed": -1}, "seed must be None or an int >= 0, got -1"),
])
def test_bad_arguments(kwargs, message):
    args = {"prompt": PROMPT, "max_new_tokens": NEW, **kwargs}
    error = TypeError if isinstance(args["prompt"], bytes) else ValueError
    with pytest.raises(error, match=message):
        charlm.generate_text(**args)


def test_bad_loss_ids(lm):
    with pytest.raises(ValueError, match=r"ids must be integers \[batch, time >= 2\]"):
        lm.loss(np.zeros((2, 1), np.int32))
    with pytest.raises(ValueError, match=r"ids must be in \[0, 163\)"):
        lm.loss(np.full((1, 4), 163))


def test_bad_files(tmp_path, weights):
    arrays, metadata = weights
    with pytest.raises(FileNotFoundError, match="no weights file at .*missing.safetensors"):
        charlm.CharLM.load(tmp_path / "missing.safetensors")
    other = str(tmp_path / "other.safetensors")
    save_file({"w": np.zeros(2, np.float32)}, other, metadata={"format": "something-else"})
    with pytest.raises(ValueError, match="not a graphc character-LM file .*'something-else'"):
        charlm.CharLM.load(other)
    short = str(tmp_path / "short.safetensors")
    save_file({n: a for n, a in arrays.items() if n != "output/bias"}, short, metadata=metadata)
    with pytest.raises(ValueError, match=r"does not match its architecture: missing "
                                         r"\['output/bias'\]"):
        charlm.CharLM.load(short)
    unknown = dict(metadata, architecture=json.dumps({"class": "GRU"}))
    save_file(arrays, str(tmp_path / "gru.safetensors"), metadata=unknown)
    with pytest.raises(ValueError, match=r"class must be one of \(.LSTMLM., .TransformerLM.\), "
                                         r"got .GRU."):
        charlm.CharLM.load(tmp_path / "gru.safetensors")


# --- the training script --------------------------------------------------------------------
def test_consecutive_windows_predict_each_id_once():
    ids = np.arange(11)
    windows = train_charlm.consecutive_windows(ids, 3)
    np.testing.assert_array_equal(windows, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    assert sorted(windows[:, 1:].ravel()) == list(range(1, 10))


def test_training_script_writes_a_loadable_transformer(tmp_path, capsys):
    path = train_charlm.main(["--arch", "transformer", "--steps", "2", "--units", "8",
                              "--heads", "2", "--length", "8", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "vs unigram entropy" in printed and "a sample (temperature 0.8, seed 0)" in printed
    tiny = charlm.CharLM.load(path)
    assert tiny.metadata["steps"] == 2
    assert tiny.metadata["architecture"]["config"]["d_model"] == 8
    with safe_open(path, framework="np") as f:
        assert {f.get_tensor(n).dtype for n in f.keys()} == {np.dtype(np.float16)}
        assert "h0/attn/c_attn/kernel" in f.keys()
    text = tiny.generate("ab", 6, seed=4)
    assert text == tiny.generate("ab", 6, seed=4) and len(text) == 8
