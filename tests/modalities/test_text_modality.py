"""graphc/modalities/text.py: UTF-8 text files, tokenizers of the four kinds, encode /
decode against hand-built arrays and the `tokenizers` package's own padding and truncation,
tokenizers saved beside models, an attention mask used in a graph; the errors."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import graphc as tf
from graphc.modalities import text
from graphc.models.text import CharTokenizer, SubwordTokenizer

CORPUS = ["the quick brown fox jumps over the lazy dog",
          "a quick brown dog naps in the sun\nand the fox  sleeps"] * 20


@pytest.fixture(scope="module")
def chars():
    return text.train_tokenizer(CORPUS, kind="char")


@pytest.fixture(scope="module")
def subword():
    """One tokenizer of each subword kind, trained on CORPUS."""
    pytest.importorskip("tokenizers")
    return {kind: text.train_tokenizer(CORPUS, kind=kind, vocab_size=90, min_frequency=2)
            for kind in ("bpe", "byte-level", "wordpiece")}


# --- text files -------------------------------------------------------------------------------
def test_text_round_trip_is_exact(tmp_path):
    body = "naïve café, 東京 🚀\r\nsecond line\nthird\r"
    text.write_text(tmp_path / "a.txt", body)
    assert (tmp_path / "a.txt").read_bytes() == body.encode("utf-8")   # no translation
    assert text.read_text(tmp_path / "a.txt") == body
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfhello")
    assert text.read_text(tmp_path / "bom.txt") == "hello"               # BOM dropped


def test_text_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"text file '.*missing\.txt' does not exist"):
        text.read_text(tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError, match=r"'.*' is a directory, not a file"):
        text.read_text(tmp_path)
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.txt' is not UTF-8: byte 3 \(0xe9\)"):
        text.read_text(tmp_path / "latin1.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.txt' is empty \(pass allow_empty=True"):
        text.read_text(tmp_path / "empty.txt")
    assert text.read_text(tmp_path / "empty.txt", allow_empty=True) == ""
    with pytest.raises(TypeError, match=r"b\.txt': text must be a str, got bytes"):
        text.write_text(tmp_path / "b.txt", b"bytes")
    with pytest.raises(FileNotFoundError, match=r"the folder '.*nowhere' does not exist"):
        text.write_text(tmp_path / "nowhere" / "b.txt", "x")
    with pytest.raises(ValueError, match=r"b\.txt': character 1 of the text \('\\ud800'\)"):
        text.write_text(tmp_path / "b.txt", "a\ud800")


# --- training ---------------------------------------------------------------------------------
def test_char_kind_is_char_tokenizer(chars):
    assert isinstance(chars, CharTokenizer)
    assert chars.tokens == CharTokenizer.from_text(CORPUS).tokens
    small = text.train_tokenizer(CORPUS, kind="char", vocab_size=6)
    assert small.tokens == CharTokenizer.from_text(CORPUS, max_size=6).tokens


def test_byte_level_is_subword_bpe(subword):
    same = SubwordTokenizer.train(CORPUS, kind="bpe", vocab_size=90, min_frequency=2)
    sample = "the lazy fox naps"
    assert subword["byte-level"].encode(sample) == same.encode(sample)
    assert subword["byte-level"].vocab_size == same.vocab_size


def test_subword_kinds_round_trip(subword):
    byte_level, bpe, wordpiece = subword["byte-level"], subword["bpe"], subword["wordpiece"]
    for sample in ("the quick  fox\nsleeps", "Zürich ✓ {x}"):
        assert byte_level.decode(byte_level.encode(sample)) == sample   # every byte known
    assert bpe.decode(bpe.encode("the quick  fox\nsleeps")) == "the quick  fox\nsleeps"
    unk = bpe.token_to_id("<unk>")
    assert bpe.encode("dogZ")[-1] == unk                   # 'Z' never seen
    assert bpe.decode(bpe.encode("dogZ")) == "dog"         # skip_special_tokens drops <unk>
    assert bpe.tokenizer.encode("the dog").tokens[0] == "▁the"
    # WordPiece rejoins words with single spaces
    assert wordpiece.decode(wordpiece.encode("the lazy  fox naps")) == "the lazy fox naps"


def test_training_from_files(subword, tmp_path):
    paths = []
    for i, body in enumerate(CORPUS[:2]):
        text.write_text(tmp_path / f"{i}.txt", body)
        paths.append(tmp_path / f"{i}.txt")
    from_files = text.train_tokenizer(files=paths * 20, kind="bpe", vocab_size=90)
    assert from_files.encode("the quick fox") == subword["bpe"].encode("the quick fox")
    chars = text.train_tokenizer(files=paths[0], kind="char")
    assert chars.tokens == CharTokenizer.from_text(CORPUS[0]).tokens


def test_training_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"kind must be one of \('char', 'bpe', 'byte-level', "
                                         r"'wordpiece'\), got 'unigram'"):
        text.train_tokenizer(CORPUS, kind="unigram")
    with pytest.raises(ValueError, match="give exactly one of texts= and files="):
        text.train_tokenizer(kind="char")
    with pytest.raises(TypeError, match=r"texts\[1\] is int, not str"):
        text.train_tokenizer(["a", 1], kind="char")
    with pytest.raises(FileNotFoundError, match=r"nope\.txt' does not exist"):
        text.train_tokenizer(files=[tmp_path / "nope.txt"], kind="char")
    monkeypatch.setitem(sys.modules, "tokenizers", None)     # as if it were not installed
    for kind in ("bpe", "byte-level", "wordpiece"):
        with pytest.raises(ImportError, match=rf"the '{kind}' tokenizer needs tokenizers: "
                                              r"pip install 'graphc\[text\]'"):
            text.train_tokenizer(CORPUS, kind=kind)


# --- encode / decode --------------------------------------------------------------------------
def rows_of(tokenizer, texts):
    return [tokenizer.encode(t) for t in texts]


def expected_arrays(rows, width, pad, side="right"):
    ids = np.full((len(rows), width), pad, np.int32)
    mask = np.zeros((len(rows), width), np.int32)
    for i, row in enumerate(rows):
        start = width - len(row) if side == "left" else 0
        ids[i, start:start + len(row)] = row
        mask[i, start:start + len(row)] = 1
    return ids, mask


def assert_encoded(out, ids, mask):
    assert set(out) == {"input_ids", "attention_mask"}
    for got, want in ((out["input_ids"], ids), (out["attention_mask"], mask)):
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("side", ["right", "left"])
def test_encode_padding_and_truncation(chars, side):
    texts = ["the dog", "a quick brown fox", "sun"]
    rows = rows_of(chars, texts)
    assert_encoded(text.encode(texts, chars, side=side), *expected_arrays(rows, 17, 0, side))
    cut = [r[:5] for r in rows]
    assert_encoded(text.encode(texts, chars, length=5, side=side),
                   *expected_arrays(cut, 5, 0, side))
    assert_encoded(text.encode(texts, chars, length=20, padding="max_length", side=side),
                   *expected_arrays(rows, 20, 0, side))
    tails = [r[-8:] for r in rows]
    assert_encoded(text.encode(texts, chars, length=8, truncation="left", side=side),
                   *expected_arrays(tails, 8, 0, side))


def test_encode_shapes(chars):
    one = text.encode("the dog", chars)                     # a string is a batch of one
    assert one["input_ids"].shape == (1, 7) and one["attention_mask"].all()
    same = text.encode(["abc", "dog"], chars, padding=False)
    assert_encoded(same, np.array(rows_of(chars, ["abc", "dog"]), np.int32), np.ones((2, 3)))
    assert text.encode([], chars)["input_ids"].shape == (0, 0)
    assert text.encode([], chars, length=4, padding="max_length")["input_ids"].shape == (0, 4)
    assert_encoded(text.encode(["ab", "a"], chars, pad_id=7), *expected_arrays(
        rows_of(chars, ["ab", "a"]), 2, 7))


@pytest.mark.parametrize("kind", ["bpe", "byte-level", "wordpiece"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_encode_matches_the_tokenizers_package(subword, kind, side):
    """The reference: the `tokenizers` package's own padding and truncation."""
    tokenizer = subword[kind]
    texts = ["the dog", "a quick brown fox jumps over", "the sun and the fox"]
    rust = tokenizer.tokenizer
    for length, padding in ((None, "longest"), (4, "longest"), (12, "max_length")):
        rust.enable_padding(direction=side, pad_id=tokenizer.pad_id, pad_token="<pad>",
                            length=length if padding == "max_length" else None)
        if length is None:
            rust.no_truncation()
        else:
            rust.enable_truncation(max_length=length, direction="right")
        encodings = rust.encode_batch(texts, add_special_tokens=False)
        rust.no_padding()
        rust.no_truncation()
        out = text.encode(texts, tokenizer, length=length, padding=padding, side=side)
        assert_encoded(out, np.array([e.ids for e in encodings]),
                       np.array([e.attention_mask for e in encodings]))


def test_decode(chars):
    texts = ["the dog", "sun"]
    enc = text.encode(texts, chars, side="left")
    assert text.decode(enc["input_ids"], chars) == texts
    assert text.decode(enc["input_ids"][1], chars) == "sun"
    kept = text.decode(enc["input_ids"], chars, skip_special_tokens=False)
    assert kept[1] == "<pad>" * 4 + "sun"
    masked = text.decode(enc["input_ids"], chars, skip_special_tokens=False,
                         attention_mask=enc["attention_mask"])
    assert masked == texts
    assert text.decode(np.zeros((2, 0), np.int32), chars) == ["", ""]


def test_encode_decode_errors(chars, subword):
    with pytest.raises(ValueError, match=r"padding must be one of \('longest', 'max_length', "
                                         r"False\), got True"):
        text.encode(["a"], chars, padding=True)
    with pytest.raises(ValueError, match="padding='max_length' needs length="):
        text.encode(["a"], chars, padding="max_length")
    with pytest.raises(ValueError, match="length must be an int >= 1 or None, got 0"):
        text.encode(["a"], chars, length=0)
    with pytest.raises(ValueError, match="side must be one of .*, got 'top'"):
        text.encode(["a"], chars, side="top")
    with pytest.raises(ValueError, match="truncation must be True, False, 'right' or 'left'"):
        text.encode(["a"], chars, truncation="middle")
    with pytest.raises(ValueError, match=r"text 1 has 5 tokens, more than length=3 \(pass "
                                         r"truncation=True"):
        text.encode(["ab", "abcde"], chars, length=3, truncation=False)
    with pytest.raises(ValueError, match=r"padding=False needs rows of one length, got "
                                         r"lengths \[1, 2\]"):
        text.encode(["a", "ab"], chars, padding=False)
    with pytest.raises(TypeError, match="text 0 is int, not str"):
        text.encode([3], chars)
    with pytest.raises(TypeError, match="expected a CharTokenizer or SubwordTokenizer, got dict"):
        text.encode(["a"], {})
    no_pad = SubwordTokenizer(subword["bpe"].tokenizer, pad_token=None)
    with pytest.raises(ValueError, match="text 0 needs padding and the tokenizer has no pad "
                                         "token: pass pad_id="):
        text.encode(["a", "the quick"], no_pad)
    with pytest.raises(ValueError, match=r"ids must be integers .* got float64 of shape \(2,\)"):
        text.decode(np.array([1.0, 2.0]), chars)
    with pytest.raises(ValueError, match=r"attention_mask has shape \(3,\), the ids \(2,\)"):
        text.decode([1, 2], chars, attention_mask=[1, 1, 0])


# --- saving and loading -----------------------------------------------------------------------
def test_load_tokenizer_recognises_both_kinds(chars, subword, tmp_path):
    chars.save(tmp_path / "c.json")
    assert text.load_tokenizer(tmp_path / "c.json").tokens == chars.tokens
    for kind, tokenizer in subword.items():
        tokenizer.save(tmp_path / f"{kind}.json")
        back = text.load_tokenizer(tmp_path / f"{kind}.json")
        assert isinstance(back, SubwordTokenizer) and back.pad_id == tokenizer.pad_id
        assert back.encode("the quick fox") == tokenizer.encode("the quick fox")


def test_load_tokenizer_pad_token(subword, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    rust = tokenizers.Tokenizer.from_str(subword["byte-level"].tokenizer.to_str())
    rust.enable_padding(pad_id=2, pad_token="<eos>")    # a tokenizer.json that pads with eos
    rust.enable_truncation(max_length=2)
    rust.save(str(tmp_path / "eos.json"))
    loaded = text.load_tokenizer(tmp_path / "eos.json")
    assert loaded.pad_id == 2
    assert len(loaded.encode("the quick brown fox")) > 2    # its truncation is turned off
    assert text.load_tokenizer(tmp_path / "eos.json", pad_token=None).pad_id is None
    doc = json.loads(subword["wordpiece"].tokenizer.to_str())
    doc["added_tokens"] = [t for t in doc["added_tokens"] if t["content"] != "<pad>"]
    del doc["model"]["vocab"]["<pad>"]
    (tmp_path / "nopad.json").write_text(json.dumps(doc))
    assert text.load_tokenizer(tmp_path / "nopad.json").pad_id is None


def test_load_tokenizer_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"tokenizer file '.*none\.json' does not "
                                                r"exist"):
        text.load_tokenizer(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json' is not JSON"):
        text.load_tokenizer(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"list\.json' is not a tokenizer: the JSON is a list"):
        text.load_tokenizer(tmp_path / "list.json")
    (tmp_path / "other.json").write_text('{"weights": []}')
    with pytest.raises(ValueError, match=r"other\.json' is neither a graphc character "
                                         r"tokenizer"):
        text.load_tokenizer(tmp_path / "other.json")


def test_save_and_load_beside_a_model(chars, subword, tmp_path):
    model = tmp_path / "lm.onnx"
    model.write_bytes(b"model")
    assert text.save_beside(chars, model) == tmp_path / "lm.tokenizer.json"
    assert text.load_beside(model).tokens == chars.tokens
    saved_model = tmp_path / "export"
    saved_model.mkdir()
    assert text.save_beside(subword["bpe"], saved_model) == saved_model / "tokenizer.json"
    assert text.load_beside(saved_model).encode("the fox") == subword["bpe"].encode("the fox")
    other = tmp_path / "other.so"       # no other.tokenizer.json: the folder's tokenizer.json
    subword["wordpiece"].save(tmp_path / "tokenizer.json")
    assert text.load_beside(other).vocab_size == subword["wordpiece"].vocab_size


def test_beside_errors(chars, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no tokenizer for model '.*m\.onnx': looked "
                                                r"for '.*m\.tokenizer\.json', "
                                                r"'.*tokenizer\.json'"):
        text.load_beside(tmp_path / "m.onnx")
    (tmp_path / "dir").mkdir()
    with pytest.raises(FileNotFoundError, match=r"looked for '.*dir/tokenizer\.json'$"):
        text.load_beside(tmp_path / "dir")
    with pytest.raises(FileNotFoundError, match=r"the folder '.*gone' of model"):
        text.save_beside(chars, tmp_path / "gone" / "m.onnx")


# --- the attention mask in a graph ------------------------------------------------------------
def test_masked_mean_of_embeddings(chars):
    enc = text.encode(["the dog", "a quick brown fox", "sun"], chars, side="left")
    table = np.random.default_rng(3).standard_normal((chars.vocab_size, 4)).astype(np.float32)
    ids = tf.placeholder(tf.int32, [None, None])
    mask = tf.placeholder(tf.int32, [None, None])
    vectors = tf.nn.embedding_lookup(tf.constant(table), ids)
    weights = tf.cast(mask, tf.float32)[:, :, None]
    mean = tf.reduce_sum(vectors * weights, 1) / tf.reduce_sum(weights, 1)
    with tf.Session() as sess:
        out = sess.run(mean, {ids: enc["input_ids"], mask: enc["attention_mask"]})
    expected = [table[chars.encode(t)].mean(0) for t in ["the dog", "a quick brown fox", "sun"]]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
