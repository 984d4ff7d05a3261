"""Text as a modality: text files and strings to token ids and back (docs/text.md).

- `train_tokenizer(texts or files, kind)`: "char" (graphc's CharTokenizer, no dependency),
  "bpe" (BPE over characters, SentencePiece style), "byte-level" (GPT-2's byte-level BPE,
  SubwordTokenizer's "bpe") or "wordpiece" (BERT's); the subword kinds need the
  `tokenizers` package (pip install 'graphc[text]'). `load_tokenizer(path)` reads either
  kind's JSON.
- `encode(texts, tokenizer, ...)` -> {"input_ids", "attention_mask"}, int32 [batch, length],
  padded and truncated as a Hugging Face tokenizer call does; `decode(ids, tokenizer)`.
- `read_text` / `write_text`: UTF-8 files, with errors that name the file.
- `save_beside(tokenizer, model_path)` / `load_beside(model_path)`: the vocabulary kept
  next to the model it belongs to.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from graphc.modalities.files import optional
from graphc.models.text.tokenizers import CHAR_FORMAT, CharTokenizer, SubwordTokenizer

KINDS = ("char", "bpe", "byte-level", "wordpiece")
PADDING = ("longest", "max_length", False)
SIDES = ("right", "left")
SUBWORD_VOCAB_SIZE = 1000


# --- text files -------------------------------------------------------------------------------
def read_text(path, allow_empty: bool = False) -> str:
    """The text of a UTF-8 file, exactly (no newline translation; a leading byte-order mark
    is dropped). A missing file is a FileNotFoundError, bytes that are not UTF-8 a
    ValueError saying where, and an empty file a ValueError unless `allow_empty`; each
    names the file."""
    p = Path(path)
    if not p.is_file():
        what = "is a directory, not a file" if p.is_dir() else "does not exist"
        raise FileNotFoundError(f"text file {str(path)!r} {what}")
    data = p.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"text file {str(path)!r} is not UTF-8: byte {e.start} "
                         f"(0x{data[e.start]:02x}): {e.reason}") from None
    if not text and not allow_empty:
        raise ValueError(f"text file {str(path)!r} is empty (pass allow_empty=True to accept "
                         f"an empty text)")
    return text


def write_text(path, text: str) -> None:
    """Write `text` to `path` as UTF-8, exactly (no newline translation, no byte-order
    mark). The folder must exist."""
    if not isinstance(text, str):
        raise TypeError(f"text file {str(path)!r}: text must be a str, got "
                        f"{type(text).__name__}")
    folder = Path(path).parent
    if not folder.is_dir():
        raise FileNotFoundError(f"text file {str(path)!r}: the folder {str(folder)!r} does "
                                f"not exist")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"text file {str(path)!r}: character {e.start} of the text "
                         f"({text[e.start]!r}) cannot be written as UTF-8: {e.reason}") from None
    Path(path).write_bytes(data)


# --- tokenizers -------------------------------------------------------------------------------
def _tokenizers(kind: str):
    return optional("tokenizers", f"the {kind!r} tokenizer", "'graphc[text]'")


def _corpus(texts, files) -> list:
    """The training texts: `texts` (an iterable of strings) or the contents of `files`."""
    if (texts is None) == (files is None):
        raise ValueError("train_tokenizer: give exactly one of texts= and files=")
    if files is not None:
        if isinstance(files, (str, os.PathLike)):
            files = [files]
        return [read_text(f, allow_empty=True) for f in files]
    if isinstance(texts, str):
        return [texts]
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"train_tokenizer: texts[{i}] is {type(t).__name__}, not str")
    return texts


def train_tokenizer(texts=None, files=None, kind: str = "byte-level", vocab_size=None,
                    min_frequency: int = 2, special_tokens=("<pad>", "<unk>", "<eos>"),
                    pad_token="<pad>", unk_token: str = "<unk>"):
    """A tokenizer learnt from `texts` (a string or an iterable of strings) or `files`
    (paths of UTF-8 text files, read with read_text).

    kind="char": a CharTokenizer, one id per character (id 0 pads, id 1 is unknown);
    `vocab_size` (counting those two) keeps the most frequent characters, None all.
    The subword kinds make a SubwordTokenizer of `vocab_size` entries (None: 1000) whose
    merges occur at least `min_frequency` times, `special_tokens` first:
    "byte-level": GPT-2's byte-level BPE (every byte is in the alphabet: no text is
    unknown and decode(encode(text)) == text); "bpe": BPE over characters, with spaces
    marked "▁" as SentencePiece does (characters never seen become `unk_token`; decoding
    restores the spaces, not a leading one); "wordpiece": BERT's WordPiece over words and
    punctuation (decoding rejoins words with single spaces)."""
    if kind not in KINDS:
        raise ValueError(f"train_tokenizer: kind must be one of {KINDS}, got {kind!r}")
    if kind != "char":
        _tokenizers(kind)
    corpus = _corpus(texts, files)
    if kind == "char":
        return CharTokenizer.from_text(corpus, max_size=vocab_size)
    size = SUBWORD_VOCAB_SIZE if vocab_size is None else vocab_size
    if kind != "bpe":
        return SubwordTokenizer.train(texts=corpus, kind="bpe" if kind == "byte-level" else kind,
                                      vocab_size=size, min_frequency=min_frequency,
                                      special_tokens=special_tokens, pad_token=pad_token,
                                      unk_token=unk_token)
    specials = list(special_tokens)
    for token in (pad_token, unk_token):
        if token is not None and token not in specials:
            raise ValueError(f"train_tokenizer: {token!r} must be one of special_tokens "
                             f"{specials}")
    tk = _tokenizers(kind)
    tokenizer = tk.Tokenizer(tk.models.BPE(unk_token=unk_token))
    tokenizer.pre_tokenizer = tk.pre_tokenizers.Metaspace()
    tokenizer.decoder = tk.decoders.Metaspace()
    trainer = tk.trainers.BpeTrainer(vocab_size=size, min_frequency=min_frequency,
                                     special_tokens=specials, show_progress=False)
    tokenizer.train_from_iterator(iter(corpus), trainer)
    return SubwordTokenizer(tokenizer, pad_token)


def _json_document(path) -> dict:
    if not Path(path).is_file():
        raise FileNotFoundError(f"tokenizer file {str(path)!r} does not exist")
    text = read_text(path)
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ValueError(f"tokenizer file {str(path)!r} is not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ValueError(f"tokenizer file {str(path)!r} is not a tokenizer: the JSON is a "
                         f"{type(doc).__name__}, not an object")
    return doc


def load_tokenizer(path, pad_token="auto"):
    """The tokenizer saved at `path`: a CharTokenizer for graphc's character-tokenizer
    JSON, a SubwordTokenizer for the `tokenizers` package's JSON (what SubwordTokenizer
    saves, or a Hugging Face tokenizer.json). pad_token="auto" takes the file's padding
    token, else "<pad>" where the vocabulary has it, else none; or name one, or None.
    The file's own padding and truncation settings are turned off: encode() does both."""
    doc = _json_document(path)
    if doc.get("format") == CHAR_FORMAT:
        return CharTokenizer.load(path)
    if "model" not in doc:
        raise ValueError(f"tokenizer file {str(path)!r} is neither a graphc character "
                         f"tokenizer (\"format\": \"{CHAR_FORMAT}\") nor a tokenizers JSON "
                         f"(\"model\")")
    tk = _tokenizers("subword")
    try:
        tokenizer = tk.Tokenizer.from_str(json.dumps(doc))
    except Exception as e:   # the Rust side raises its own exception type
        raise ValueError(f"tokenizer file {str(path)!r} could not be loaded: {e}") from e
    if pad_token == "auto":
        padding = doc.get("padding") or {}
        pad_token = padding.get("pad_token") if isinstance(padding, dict) else None
        if pad_token is None and tokenizer.token_to_id("<pad>") is not None:
            pad_token = "<pad>"
    # encode() pads and truncates; the file's own settings would cut single texts
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return SubwordTokenizer(tokenizer, pad_token)


# --- encoding ---------------------------------------------------------------------------------
def _check_tokenizer(tokenizer, op: str):
    if not (hasattr(tokenizer, "encode") and hasattr(tokenizer, "decode")
            and hasattr(tokenizer, "pad_id")):
        raise TypeError(f"{op}: expected a CharTokenizer or SubwordTokenizer, got "
                        f"{type(tokenizer).__name__}")


def _cut(row: list, length, truncation, i: int) -> list:
    if length is None or len(row) <= length:
        return row
    if truncation is False:
        raise ValueError(f"encode: text {i} has {len(row)} tokens, more than length={length} "
                         f"(pass truncation=True to cut it)")
    return row[-length:] if truncation == "left" else row[:length]


def encode(texts, tokenizer, length=None, padding="longest", truncation=True, side="right",
           pad_id=None) -> dict:
    """Token ids of a batch of texts (one string is a batch of one) as a Hugging Face
    tokenizer call gives them: {"input_ids": int32 [batch, L], "attention_mask": int32
    [batch, L]}, the mask 1 on tokens and 0 on padding.

    length: the most tokens a text keeps. truncation: True or "right" cuts longer texts
    to their first `length` tokens, "left" to their last, False makes a longer text an
    error. padding: "longest" pads to the longest row, "max_length" to `length` (needed),
    False pads nothing (all rows must then be equally long). side: where the pads go
    ("left" for generating after a prompt). pad_id: the padding id (default: the
    tokenizer's pad_id; one is needed only when a row is padded)."""
    _check_tokenizer(tokenizer, "encode")
    if padding is not False and padding not in ("longest", "max_length"):
        raise ValueError(f"encode: padding must be one of {PADDING}, got {padding!r}")
    if truncation is not True and truncation is not False and truncation not in SIDES:
        raise ValueError(f"encode: truncation must be True, False, 'right' or 'left', got "
                         f"{truncation!r}")
    if side not in SIDES:
        raise ValueError(f"encode: side must be one of {SIDES}, got {side!r}")
    integer = isinstance(length, (int, np.integer)) and not isinstance(length, bool)
    if length is not None and not (integer and length >= 1):
        raise ValueError(f"encode: length must be an int >= 1 or None, got {length!r}")
    if padding == "max_length" and length is None:
        raise ValueError("encode: padding='max_length' needs length=")
    texts = [texts] if isinstance(texts, str) else list(texts)
    rows = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"encode: text {i} is {type(text).__name__}, not str")
        rows.append(_cut(list(tokenizer.encode(text)), length, truncation, i))
    width = length if padding == "max_length" else max(map(len, rows), default=0)
    if padding is False and len({len(r) for r in rows}) > 1:
        raise ValueError(f"encode: padding=False needs rows of one length, got lengths "
                         f"{sorted({len(r) for r in rows})}")
    return _pad(rows, width, tokenizer.pad_id if pad_id is None else pad_id, side)


def _pad(rows, width: int, pad_id, side: str) -> dict:
    ids = np.zeros((len(rows), width), np.int32)
    mask = np.zeros((len(rows), width), np.int32)
    for i, row in enumerate(rows):
        if len(row) < width and pad_id is None:
            raise ValueError(f"encode: text {i} needs padding and the tokenizer has no pad "
                             f"token: pass pad_id=")
        start = width - len(row) if side == "left" else 0
        ids[i] = pad_id if len(row) < width else 0
        ids[i, start:start + len(row)] = row
        mask[i, start:start + len(row)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def decode(ids, tokenizer, skip_special_tokens: bool = True, attention_mask=None):
    """Text of token ids: one row [L] gives a str, a batch [batch, L] a list of them.
    Positions where `attention_mask` is 0 are left out; skip_special_tokens leaves out the
    pad token and the other special tokens (a CharTokenizer shows unknown characters as
    U+FFFD)."""
    _check_tokenizer(tokenizer, "decode")
    ids = np.asarray(ids)
    if ids.ndim not in (1, 2) or not (ids.dtype.kind in "iu" or ids.size == 0):
        raise ValueError(f"decode: ids must be integers [length] or [batch, length], got "
                         f"{ids.dtype} of shape {ids.shape}")
    if attention_mask is not None:
        attention_mask = np.asarray(attention_mask)
        if attention_mask.shape != ids.shape:
            raise ValueError(f"decode: attention_mask has shape {attention_mask.shape}, the "
                             f"ids {ids.shape}")
    rows = ids if ids.ndim == 2 else ids[None]
    masks = attention_mask if attention_mask is None or ids.ndim == 2 else attention_mask[None]
    texts = [tokenizer.decode(row if masks is None else row[masks[i] != 0],
                              skip_special_tokens=skip_special_tokens)
             for i, row in enumerate(rows)]
    return texts if ids.ndim == 2 else texts[0]


# --- vocabularies saved beside models -----------------------------------------------------------
def beside_paths(model_path) -> list:
    """Where the tokenizer of the model at `model_path` is kept, first choice first:
    `tokenizer.json` inside a saved-model directory; beside a model file
    `<name without its last extension>.tokenizer.json` (model.onnx: model.tokenizer.json),
    then the folder's `tokenizer.json`."""
    p = Path(model_path)
    if p.is_dir():
        return [p / "tokenizer.json"]
    return [p.with_name(f"{p.stem}.tokenizer.json"), p.with_name("tokenizer.json")]


def save_beside(tokenizer, model_path) -> Path:
    """Save `tokenizer` where load_beside(model_path) finds it first (beside_paths) and
    return that path."""
    _check_tokenizer(tokenizer, "save_beside")
    target = beside_paths(model_path)[0]
    if not target.parent.is_dir():
        raise FileNotFoundError(f"save_beside: the folder {str(target.parent)!r} of model "
                                f"{str(model_path)!r} does not exist")
    tokenizer.save(target)
    return target


def load_beside(model_path, pad_token="auto"):
    """The tokenizer kept with the model at `model_path` (beside_paths, in order), loaded
    with load_tokenizer; a FileNotFoundError naming the places looked at if none is
    there."""
    candidates = beside_paths(model_path)
    for path in candidates:
        if path.is_file():
            return load_tokenizer(path, pad_token)
    raise FileNotFoundError(f"no tokenizer for model {str(model_path)!r}: looked for "
                            f"{', '.join(repr(str(c)) for c in candidates)}")
