"""Tokenizers for the text models: characters (no dependency) and subwords (BPE or WordPiece,
trained and run by the `tokenizers` package, an optional extra: pip install graphc[text]).

Both speak the same small interface: `encode(text) -> list[int]`, `decode(ids) -> str`,
`encode_batch(texts, length=None) -> int32 array [n, length]` padded with `pad_id` and
truncated to `length`, `decode_batch(rows)`, `save(path)` and `load(path)`. Files are JSON:
the character tokenizer's own small document, the subword tokenizer's in the `tokenizers`
package's format (so a `tokenizer.json` from elsewhere loads too). Loading never runs code.
"""

from __future__ import annotations

import collections
import json
import os
from typing import Iterable

import numpy as np

CHAR_FORMAT = "graphc-char-tokenizer"
KINDS = ("bpe", "wordpiece")


def _import_tokenizers():
    """The `tokenizers` package, imported only when a subword tokenizer is used."""
    try:
        import tokenizers
    except ImportError as e:
        raise ImportError("SubwordTokenizer needs the 'tokenizers' package: "
                          "pip install graphc[text]") from e
    return tokenizers


def pad_batch(rows, length=None, pad_id=None, what="encode_batch"):
    """Rows of ids as one int32 array [n, length]: longer rows cut to `length`, shorter ones
    filled with `pad_id` (which only a row that needs filling requires). Without `length`
    the longest row sets it."""
    rows = [list(r) for r in rows]
    if length is None:
        length = max((len(r) for r in rows), default=0)
    elif isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"{what}: length must be an int >= 0 or None, got {length!r}")
    out = np.empty((len(rows), int(length)), np.int32)
    for i, row in enumerate(rows):
        row = row[:length]
        if len(row) < length and pad_id is None:
            raise ValueError(f"{what}: row {i} has {len(row)} ids, fewer than length={length}, "
                             f"and the tokenizer has no pad token: give pad_id=")
        out[i, :len(row)] = row
        out[i, len(row):] = pad_id if pad_id is not None else 0
    return out


def _texts(texts, what):
    if isinstance(texts, str):
        raise TypeError(f"{what}: expected a list of strings, got one string (wrap it in a list)")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{what}: item {i} is {type(t).__name__}, not str")
    return texts


class CharTokenizer:
    """One id per character. ids 0 and 1 are the pad and unknown tokens; the characters
    follow in code-point order, so a vocabulary built from the same text is always the same.
    A character outside the vocabulary encodes to `unk_id` and decodes to U+FFFD."""

    def __init__(self, chars: Iterable[str], pad_token: str = "<pad>", unk_token: str = "<unk>"):
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"CharTokenizer: every vocabulary entry must be one character, "
                                 f"got {c!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer: the vocabulary repeats a character")
        if pad_token == unk_token or min(len(pad_token), len(unk_token)) < 2:
            raise ValueError("CharTokenizer: pad_token and unk_token must be two different "
                             f"strings of 2+ characters, got {pad_token!r} and {unk_token!r}")
        self.pad_token, self.unk_token = pad_token, unk_token
        self.pad_id, self.unk_id = 0, 1
        self.tokens = [pad_token, unk_token] + chars
        self._ids = {c: i for i, c in enumerate(self.tokens) if len(c) == 1}

    @classmethod
    def from_text(cls, texts, max_size: int | None = None, **kwargs) -> "CharTokenizer":
        """The characters of `texts` (a string or an iterable of strings); with `max_size`
        (counting the two special tokens) only the most frequent ones, ties broken by code
        point."""
        counts = collections.Counter()
        for text in [texts] if isinstance(texts, str) else texts:
            counts.update(text)
        chars = sorted(counts)
        if max_size is not None:
            if max_size < 3:
                raise ValueError(f"CharTokenizer.from_text: max_size must be >= 3 (pad, unk and "
                                 f"one character), got {max_size}")
            chars = sorted(sorted(chars, key=lambda c: (-counts[c], c))[:max_size - 2])
        return cls(chars, **kwargs)

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list:
        return [self._ids.get(c, self.unk_id) for c in text]

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        out = []
        for i in np.asarray(ids, np.int64).ravel().tolist():
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"CharTokenizer.decode: id {i} is outside the vocabulary "
                                 f"[0, {len(self.tokens)})")
            if i == self.pad_id and skip_special_tokens:
                continue
            out.append("\ufffd" if i == self.unk_id and skip_special_tokens else self.tokens[i])
        return "".join(out)

    def encode_batch(self, texts, length=None) -> np.ndarray:
        rows = [self.encode(t) for t in _texts(texts, "CharTokenizer.encode_batch")]
        return pad_batch(rows, length, self.pad_id, "CharTokenizer.encode_batch")

    def decode_batch(self, rows, skip_special_tokens: bool = True) -> list:
        return [self.decode(r, skip_special_tokens) for r in rows]

    def save(self, path) -> None:
        doc = {"format": CHAR_FORMAT, "version": 1, "pad_token": self.pad_token,
               "unk_token": self.unk_token, "chars": self.tokens[2:]}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False)

    @classmethod
    def load(cls, path) -> "CharTokenizer":
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if not isinstance(doc, dict) or doc.get("format") != CHAR_FORMAT:
            raise ValueError(f"CharTokenizer.load: {path} is not a graphc character tokenizer "
                             f"(no \"format\": \"{CHAR_FORMAT}\")")
        return cls(doc["chars"], doc["pad_token"], doc["unk_token"])

    def __repr__(self):
        return f"<CharTokenizer vocab_size={self.vocab_size}>"


class SubwordTokenizer:
    """A `tokenizers.Tokenizer` with the interface above. `pad_token` names the token that
    pads batches (None: batches must not need padding, or give `pad_id=` to encode_batch)."""

    def __init__(self, tokenizer, pad_token: str | None = "<pad>"):
        self.tokenizer = tokenizer
        self.pad_token = pad_token
        self.pad_id = None if pad_token is None else tokenizer.token_to_id(pad_token)
        if pad_token is not None and self.pad_id is None:
            raise ValueError(f"SubwordTokenizer: the pad token {pad_token!r} is not in the "
                             f"vocabulary (pass pad_token=None for a tokenizer without one)")

    @classmethod
    def train(cls, texts=None, files=None, kind: str = "bpe", vocab_size: int = 1000,
              min_frequency: int = 2, special_tokens=("<pad>", "<unk>", "<eos>"),
              pad_token: str | None = "<pad>", unk_token: str = "<unk>") -> "SubwordTokenizer":
        """Learn a vocabulary from an iterable of strings `texts` or a list of text `files`.

        kind='bpe': byte-level BPE as GPT-2 uses it (every byte is in the alphabet, so no
        text is ever unknown, and decode(encode(text)) == text). kind='wordpiece': BERT's
        WordPiece over whitespace and punctuation pre-tokens (decoding rejoins the pieces
        with single spaces; unseen characters become `unk_token`)."""
        tk = _import_tokenizers()
        if kind not in KINDS:
            raise ValueError(f"SubwordTokenizer.train: kind must be one of {KINDS}, got {kind!r}")
        if (texts is None) == (files is None):
            raise ValueError("SubwordTokenizer.train: give exactly one of texts= and files=")
        specials = list(special_tokens)
        for token in (pad_token, unk_token):
            if token is not None and token not in specials:
                raise ValueError(f"SubwordTokenizer.train: {token!r} must be one of "
                                 f"special_tokens {specials}")
        tokenizer, trainer = _bpe(tk, vocab_size, min_frequency, specials) if kind == "bpe" \
            else _wordpiece(tk, vocab_size, min_frequency, specials, unk_token)
        if files is not None:
            files = [os.fspath(f) for f in ([files] if isinstance(files, (str, os.PathLike))
                                            else files)]
            missing = [f for f in files if not os.path.isfile(f)]
            if missing:
                raise FileNotFoundError(f"SubwordTokenizer.train: no such files: {missing}")
            tokenizer.train(files, trainer)
        else:
            tokenizer.train_from_iterator(iter(texts), trainer)
        return cls(tokenizer, pad_token)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def token_to_id(self, token: str):
        return self.tokenizer.token_to_id(token)

    def id_to_token(self, i: int):
        return self.tokenizer.id_to_token(i)

    def encode(self, text: str) -> list:
        if not isinstance(text, str):
            raise TypeError(f"SubwordTokenizer.encode: expected a str, got {type(text).__name__}")
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        ids = np.asarray(ids, np.int64).ravel().tolist()
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"SubwordTokenizer.decode: ids {bad[:5]} are outside the "
                             f"vocabulary [0, {self.vocab_size})")
        return self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def encode_batch(self, texts, length=None, pad_id=None) -> np.ndarray:
        texts = _texts(texts, "SubwordTokenizer.encode_batch")
        rows = [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]
        pad = self.pad_id if pad_id is None else pad_id
        return pad_batch(rows, length, pad, "SubwordTokenizer.encode_batch")

    def decode_batch(self, rows, skip_special_tokens: bool = True) -> list:
        return [self.decode(r, skip_special_tokens) for r in rows]

    def save(self, path) -> None:
        self.tokenizer.save(os.fspath(path))

    @classmethod
    def load(cls, path, pad_token: str | None = "<pad>") -> "SubwordTokenizer":
        """A tokenizer JSON in the `tokenizers` format (what save writes, or a Hugging Face
        `tokenizer.json`). A pad_token the vocabulary lacks is an error: pass None."""
        tk = _import_tokenizers()
        return cls(tk.Tokenizer.from_file(os.fspath(path)), pad_token)

    def __repr__(self):
        return f"<SubwordTokenizer vocab_size={self.vocab_size}>"


def _bpe(tk, vocab_size, min_frequency, specials):
    tokenizer = tk.Tokenizer(tk.models.BPE())
    tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                     special_tokens=specials, show_progress=False,
                                     initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet())
    return tokenizer, trainer


def _wordpiece(tk, vocab_size, min_frequency, specials, unk_token):
    tokenizer = tk.Tokenizer(tk.models.WordPiece(unk_token=unk_token))
    tokenizer.normalizer = tk.normalizers.NFC()
    tokenizer.pre_tokenizer = tk.pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = tk.decoders.WordPiece()
    trainer = tk.trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                           special_tokens=specials, show_progress=False)
    return tokenizer, trainer
