"""Character and subword tokenizers: vocabularies, encode/decode, batches padded and
truncated, JSON files, and the errors."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest

from graphc.models.text import CharTokenizer, SubwordTokenizer
from graphc.models.text.tokenizers import pad_batch

TEXTS = ["the quick brown fox jumps over the lazy dog",
         "a quick brown dog naps in the sun", "the fox and the dog are friends"] * 20


# --- characters -------------------------------------------------------------------------------
def test_char_vocabulary_is_sorted_after_the_special_tokens():
    tok = CharTokenizer.from_text(["banana", "cab"])
    assert tok.tokens == ["<pad>", "<unk>", "a", "b", "c", "n"]
    assert (tok.vocab_size, tok.pad_id, tok.unk_id) == (6, 0, 1)
    assert tok.encode("cabbage") == [4, 2, 3, 3, 2, 1, 1]
    assert tok.decode(tok.encode("cabbage")) == "cabba\ufffd\ufffd"
    assert tok.decode([0, 4, 1], skip_special_tokens=False) == "<pad>c<unk>"
    assert tok.decode(np.array([[3, 2], [0, 5]])) == "ban"


def test_char_max_size_keeps_the_most_frequent():
    tok = CharTokenizer.from_text("aaabbbbcd", max_size=4)
    assert tok.tokens[2:] == ["a", "b"]
    tok = CharTokenizer.from_text("dcb", max_size=4)  # ties: the lowest code points
    assert tok.tokens[2:] == ["b", "c"]


def test_char_batches_pad_and_truncate():
    tok = CharTokenizer.from_text("abc")
    batch = tok.encode_batch(["ab", "abcab", ""], length=4)
    assert batch.dtype == np.int32
    np.testing.assert_array_equal(batch, [[2, 3, 0, 0], [2, 3, 4, 2], [0, 0, 0, 0]])
    np.testing.assert_array_equal(tok.encode_batch(["a", "abc"]), [[2, 0, 0], [2, 3, 4]])
    assert tok.decode_batch(batch) == ["ab", "abca", ""]


def test_char_save_and_load(tmp_path):
    tok = CharTokenizer.from_text("héllo wörld\n", pad_token="[PAD]")
    path = tmp_path / "chars.json"
    tok.save(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["format"] == "graphc-char-tokenizer" and doc["pad_token"] == "[PAD]"
    again = CharTokenizer.load(path)
    assert again.tokens == tok.tokens
    assert again.encode("wörld?") == tok.encode("wörld?")


def test_char_errors(tmp_path):
    with pytest.raises(ValueError, match="every vocabulary entry must be one character, got 'ab'"):
        CharTokenizer(["a", "ab"])
    with pytest.raises(ValueError, match="repeats a character"):
        CharTokenizer(["a", "a"])
    with pytest.raises(ValueError, match=r"max_size must be >= 3"):
        CharTokenizer.from_text("abc", max_size=2)
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"id 9 is outside the vocabulary \[0, 5\)"):
        tok.decode([2, 9])
    with pytest.raises(TypeError, match="expected a list of strings, got one string"):
        tok.encode_batch("abc")
    with pytest.raises(ValueError, match="length must be an int >= 0 or None, got -1"):
        tok.encode_batch(["a"], length=-1)
    other = tmp_path / "other.json"
    other.write_text('{"model": {}}')
    with pytest.raises(ValueError, match="is not a graphc character tokenizer"):
        CharTokenizer.load(other)


def test_pad_batch_without_a_pad_id():
    np.testing.assert_array_equal(pad_batch([[1, 2, 3], [4, 5, 6]], 2), [[1, 2], [4, 5]])
    with pytest.raises(ValueError, match="row 1 has 1 ids, fewer than length=2, and the "
                                         "tokenizer has no pad token"):
        pad_batch([[1, 2], [3]], 2)


# --- subwords ---------------------------------------------------------------------------------
needs_tokenizers = pytest.mark.skipif(importlib.util.find_spec("tokenizers") is None,
                                      reason="the tokenizers package is not installed")


@needs_tokenizers
def test_bpe_round_trips_any_text():
    tok = SubwordTokenizer.train(TEXTS, kind="bpe", vocab_size=300, min_frequency=2)
    assert [tok.token_to_id(t) for t in ("<pad>", "<unk>", "<eos>")] == [0, 1, 2]
    assert tok.pad_id == 0 and 256 < tok.vocab_size <= 300
    for text in ("the quick brown fox", "zebra ünïcode 1234 \t!", ""):
        assert tok.decode(tok.encode(text)) == text  # byte-level: nothing is unknown
    # merges were learned: frequent words are fewer tokens than characters
    assert len(tok.encode("the quick brown fox")) < len("the quick brown fox") // 2


@needs_tokenizers
def test_bpe_batches_and_files(tmp_path):
    files = []
    for i in range(3):
        files.append(tmp_path / f"part{i}.txt")
        files[-1].write_text("\n".join(TEXTS[i::3]))
    tok = SubwordTokenizer.train(files=files, vocab_size=280)
    texts = ["the dog", "the quick brown fox jumps"]
    rows = [tok.encode(t) for t in texts]
    batch = tok.encode_batch(texts, length=len(rows[0]) + 2)
    assert batch.dtype == np.int32 and batch.shape == (2, len(rows[0]) + 2)
    np.testing.assert_array_equal(batch[0], rows[0] + [0, 0])
    np.testing.assert_array_equal(batch[1], rows[1][:len(rows[0]) + 2])
    longest = tok.encode_batch(texts)
    assert longest.shape == (2, len(rows[1]))
    assert tok.decode_batch(longest) == texts


@needs_tokenizers
def test_wordpiece_and_unknown_characters():
    tok = SubwordTokenizer.train(TEXTS, kind="wordpiece", vocab_size=120, min_frequency=1)
    ids = tok.encode("the lazy fox naps!")
    assert tok.token_to_id("<unk>") in ids  # '!' was never seen
    assert tok.decode(ids) == "the lazy fox naps"
    assert tok.decode(ids, skip_special_tokens=False) == "the lazy fox naps <unk>"


@needs_tokenizers
def test_subword_save_and_load(tmp_path):
    tok = SubwordTokenizer.train(TEXTS, vocab_size=270)
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    doc = json.loads(path.read_text())
    assert doc["model"]["type"] == "BPE"  # the tokenizers package's own format
    again = SubwordTokenizer.load(path)
    text = "the sun and the fox"
    assert again.encode(text) == tok.encode(text) and again.vocab_size == tok.vocab_size
    with pytest.raises(ValueError, match="the pad token '<PAD>' is not in the vocabulary"):
        SubwordTokenizer.load(path, pad_token="<PAD>")
    bare = SubwordTokenizer.load(path, pad_token=None)
    with pytest.raises(ValueError, match="the tokenizer has no pad token: give pad_id="):
        bare.encode_batch(["the", "the quick fox"])
    np.testing.assert_array_equal(bare.encode_batch(["the", "the the"], pad_id=7)[0, 1:], [7])


@needs_tokenizers
def test_subword_errors():
    with pytest.raises(ValueError, match=r"kind must be one of \('bpe', 'wordpiece'\)"):
        SubwordTokenizer.train(TEXTS, kind="unigram")
    with pytest.raises(ValueError, match="give exactly one of texts= and files="):
        SubwordTokenizer.train()
    with pytest.raises(ValueError, match="'<pad>' must be one of special_tokens"):
        SubwordTokenizer.train(TEXTS, special_tokens=["<unk>"])
    with pytest.raises(FileNotFoundError, match="no such files"):
        SubwordTokenizer.train(files=["/nonexistent/corpus.txt"])
    tok = SubwordTokenizer.train(TEXTS, vocab_size=260)
    with pytest.raises(ValueError, match=r"ids \[9999\] are outside the vocabulary"):
        tok.decode([5, 9999])
    with pytest.raises(TypeError, match="expected a str, got list"):
        tok.encode(["a"])


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import now fails
    with pytest.raises(ImportError, match=r"pip install graphc\[text\]"):
        SubwordTokenizer.train(TEXTS)
    with pytest.raises(ImportError, match=r"pip install graphc\[text\]"):
        SubwordTokenizer.load("tokenizer.json")
