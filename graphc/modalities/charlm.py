"""The built-in character language model: a small LSTM trained on the Python standard
library's source (graphc/modalities/train_charlm.py), shipped as
graphc/modalities/weights/charlm.safetensors. See docs/charlm-default.md.

`generate_text(prompt, ...)` returns the prompt followed by the characters the model wrote.
`load_default()` gives the `CharLM` behind it: the model, its tokenizer, the graph the model
lives in and a session holding the trained weights, for building other graphs on it.

The weights file is safetensors (read without running code): the variables under names
relative to the model's variable scope, stored as float16 and read back as float32, and
string metadata: `format`, `architecture` (JSON: the model class and its shape), `tokenizer`
(the CharTokenizer's JSON document, as CharTokenizer.save writes it), `steps`,
`validation_loss` and `unigram_entropy` (nats per character, on the held-out last tenth of
the training text) and a description of that text.

Generation graphs are built once per (prompt length, max_new_tokens, top_k) and kept: the
temperature (a scalar) and the sampling noise (NumPy uniform numbers from `seed`) are fed,
so changing them compiles nothing. The pad and unknown tokens are masked out of every
draw, so the continuation is made of vocabulary characters only.
"""

from __future__ import annotations

import json
import numbers
import os
import threading

import numpy as np

import graphc as tf
from graphc.models.text import LSTMLM, CharTokenizer, TransformerLM, TransformerLMConfig
from graphc.models.text.generation import LanguageModel, uniform_noise
from graphc.models.text.tokenizers import CHAR_FORMAT

FORMAT = "graphc-charlm-1"
DEFAULT_WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights",
                               "charlm.safetensors")
SCOPE = "charlm"  # the variable scope of the model, stripped from the names in the file
ARCHITECTURES = ("LSTMLM", "TransformerLM")
MIN_TEMPERATURE = 1e-3  # below it (but above 0) 1 / temperature overflows the logits
_MASKED = -1e9  # added to the pad and unknown tokens' logits: never drawn


# --- the file's parts -----------------------------------------------------------------------
def tokenizer_to_json(tokenizer: CharTokenizer) -> str:
    """The JSON document CharTokenizer.save writes, as a string."""
    return json.dumps({"format": CHAR_FORMAT, "version": 1, "pad_token": tokenizer.pad_token,
                       "unk_token": tokenizer.unk_token, "chars": tokenizer.tokens[2:]},
                      ensure_ascii=False)


def tokenizer_from_json(text: str, where: str = "tokenizer") -> CharTokenizer:
    doc = json.loads(text)
    if not isinstance(doc, dict) or doc.get("format") != CHAR_FORMAT:
        raise ValueError(f"{where}: not a graphc character tokenizer (no \"format\": "
                         f"\"{CHAR_FORMAT}\")")
    return CharTokenizer(doc["chars"], doc["pad_token"], doc["unk_token"])


def _vocab_size(architecture) -> int:
    kind = architecture.get("class") if isinstance(architecture, dict) else None
    if kind not in ARCHITECTURES:
        raise ValueError(f"charlm: the architecture's class must be one of {ARCHITECTURES}, "
                         f"got {kind!r}")
    return architecture["vocab_size"] if kind == "LSTMLM" else \
        architecture["config"]["vocab_size"]


def build_model(architecture: dict):
    """A fresh model, its variables made in the default graph under the scope SCOPE, from
    an architecture record: {"class": "LSTMLM", "vocab_size", "units", "num_layers",
    "embedding_dim"} or {"class": "TransformerLM", "config": {TransformerLMConfig fields}}."""
    kind = architecture.get("class") if isinstance(architecture, dict) else None
    if kind == "LSTMLM":
        fields = {k: architecture[k] for k in ("vocab_size", "units", "num_layers",
                                               "embedding_dim")}
        model = LSTMLM(**fields, name=SCOPE)
        # the cells make their variables on their first call
        model.logits(tf.placeholder(tf.int32, [1, 1], name="charlm_probe"))
        return model
    if kind == "TransformerLM":
        return TransformerLM(TransformerLMConfig(**architecture["config"]), name=SCOPE)
    raise ValueError(f"charlm: the architecture's class must be one of {ARCHITECTURES}, got "
                     f"{kind!r}")


def model_variables(graph) -> dict:
    """{name in the file: variable}: the trainable variables under SCOPE in `graph`."""
    prefix = SCOPE + "/"
    found = {}
    for v in graph.get_collection("trainable_variables"):
        name = v.name.split(":")[0]
        if name.startswith(prefix):
            found[name[len(prefix):]] = v
    return found


def read_weights(path) -> tuple:
    """({name: float32 array}, metadata dict) of a character-LM safetensors file."""
    from safetensors import safe_open
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"charlm: no weights file at {path} (write one with python -m "
                                f"graphc.modalities.train_charlm)")
    with safe_open(path, framework="np") as f:
        metadata = dict(f.metadata() or {})
        arrays = {name: f.get_tensor(name) for name in f.keys()}
    if metadata.get("format") != FORMAT:
        raise ValueError(f"charlm: {path} is not a graphc character-LM file (metadata format "
                         f"{metadata.get('format')!r}, expected {FORMAT!r})")
    for key in ("architecture", "tokenizer"):
        if key not in metadata:
            raise ValueError(f"charlm: {path} has no '{key}' in its metadata")
    bad = [n for n, a in arrays.items() if a.dtype.kind != "f"]
    if bad:
        raise ValueError(f"charlm: {path}: weights {bad} are not floating-point")
    return {n: a.astype(np.float32) for n, a in arrays.items()}, metadata


def _check_match(path, variables: dict, arrays: dict) -> None:
    missing = sorted(set(variables) - set(arrays))
    unknown = sorted(set(arrays) - set(variables))
    wrong = [f"{n}: file {tuple(arrays[n].shape)}, model {tuple(v.shape.as_list())}"
             for n, v in sorted(variables.items())
             if n in arrays and tuple(arrays[n].shape) != tuple(v.shape.as_list())]
    if missing or unknown or wrong:
        raise ValueError(f"charlm: {path} does not match its architecture: missing "
                         f"{missing}, unknown {unknown}, wrong shape {wrong}")


# --- generation with a fed temperature ------------------------------------------------------
class _Steered(LanguageModel):
    """`model` with each step's logits multiplied by a fed 1 / temperature and the pad and
    unknown tokens masked out. Top-k keeps the same tokens for any positive scale, and the
    Gumbel-max draw of scaled logits at temperature 1 is the draw at that temperature."""

    def __init__(self, model, inv_temperature, mask):
        self.model, self.inv_temperature, self.mask = model, inv_temperature, mask
        self.vocab_size, self.max_len, self.name = model.vocab_size, model.max_len, model.name

    def _steer(self, logits):
        return logits * self.inv_temperature + self.mask

    def _prefill(self, prompt):
        logits, state = self.model._prefill(prompt)
        return self._steer(logits), state

    def _step(self, token, position, state):
        logits, state = self.model._step(token, position, state)
        return self._steer(logits), state


class CharLM:
    """A trained character language model ready to run: `model` (an LSTMLM or
    TransformerLM), `tokenizer` (a CharTokenizer), `graph` (where the model's variables
    live: build more graphs on it under `with lm.graph.as_default():`), `session` (holding
    the weights) and `metadata` (what the file says about its training)."""

    def __init__(self, model, tokenizer, graph, session, metadata: dict):
        self.model, self.tokenizer, self.graph, self.session = model, tokenizer, graph, session
        self.metadata = metadata
        self._generators, self._losses = {}, {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path=DEFAULT_WEIGHTS) -> "CharLM":
        """The model of a weights file (train_charlm writes them) in a new graph and
        session."""
        arrays, raw = read_weights(path)
        architecture = json.loads(raw["architecture"])
        tokenizer = tokenizer_from_json(raw["tokenizer"], f"charlm: {path}'s tokenizer")
        if _vocab_size(architecture) != tokenizer.vocab_size:
            raise ValueError(f"charlm: {path}: the architecture's vocab_size "
                             f"{_vocab_size(architecture)} differs from the tokenizer's "
                             f"{tokenizer.vocab_size}")
        graph = tf.Graph()
        with graph.as_default():
            model = build_model(architecture)
            variables = model_variables(graph)
        _check_match(path, variables, arrays)
        session = tf.Session(graph=graph)
        for name, variable in variables.items():
            variable.load(arrays[name], session)
        metadata = dict(raw, architecture=architecture)
        for key, kind in (("steps", int), ("validation_loss", float),
                          ("unigram_entropy", float)):
            if key in metadata:
                metadata[key] = kind(metadata[key])
        return cls(model, tokenizer, graph, session, metadata)

    def __repr__(self):
        return (f"<CharLM {self.metadata['architecture']['class']} "
                f"vocab_size={self.tokenizer.vocab_size}>")

    # --- loss -----------------------------------------------------------------------------
    def loss(self, ids) -> float:
        """Mean cross-entropy (nats per character) of predicting ids[:, t + 1] from
        ids[:, :t + 1] for every t, for token ids [batch, time] (time >= 2)."""
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.shape[1] < 2 or ids.dtype.kind not in "iu":
            raise ValueError(f"CharLM.loss: ids must be integers [batch, time >= 2], got "
                             f"{ids.dtype} {ids.shape}")
        if ids.size and not 0 <= ids.min() <= ids.max() < self.tokenizer.vocab_size:
            raise ValueError(f"CharLM.loss: ids must be in [0, {self.tokenizer.vocab_size})")
        with self._lock:
            if ids.shape[1] not in self._losses:
                with self.graph.as_default():
                    windows = tf.placeholder(tf.int32, [None, ids.shape[1]])
                    self._losses[ids.shape[1]] = windows, self.model.loss(windows)
            windows, loss = self._losses[ids.shape[1]]
            return float(self.session.run(loss, {windows: ids.astype(np.int32)}))

    # --- generation -----------------------------------------------------------------------
    def generate(self, prompt: str, max_new_tokens: int = 200, temperature: float = 0.8,
                 top_k=None, seed=None) -> str:
        """`prompt` followed by `max_new_tokens` characters the model wrote (see
        generate_text)."""
        ids = self._prompt_ids(prompt)
        n, top_k = self._check(max_new_tokens, temperature, top_k, seed)
        inv_temperature = 1.0 if temperature == 0 else 1.0 / float(temperature)
        with self._lock:
            prompt_in, noise_in, inv_in, tokens = self._generator(
                len(ids), n, "greedy" if temperature == 0 else top_k)
            feeds = {prompt_in: np.asarray([ids], np.int32), inv_in: inv_temperature}
            if noise_in is not None:
                feeds[noise_in] = uniform_noise(n, 1, self.tokenizer.vocab_size, seed)
            out = self.session.run(tokens, feeds)
        return prompt + self.tokenizer.decode(out[0])

    def _prompt_ids(self, prompt) -> list:
        if not isinstance(prompt, str):
            raise TypeError(f"generate_text: prompt must be a str, got {type(prompt).__name__}")
        if not prompt:
            raise ValueError("generate_text: the prompt is empty; the model needs at least one "
                             "character to continue (e.g. '\\n' to start a fresh line)")
        return self.tokenizer.encode(prompt)

    def _check(self, max_new_tokens, temperature, top_k, seed):
        if not _is_int(max_new_tokens) or max_new_tokens < 1:
            raise ValueError(f"generate_text: max_new_tokens must be an int >= 1, got "
                             f"{max_new_tokens!r}")
        if not isinstance(temperature, numbers.Real) or isinstance(temperature, bool) or not (
                temperature == 0 or MIN_TEMPERATURE <= temperature < float("inf")):
            raise ValueError(f"generate_text: temperature must be 0 (greedy) or a finite number "
                             f">= {MIN_TEMPERATURE}, got {temperature!r}")
        vocab = self.tokenizer.vocab_size
        if top_k is not None and (not _is_int(top_k) or not 1 <= top_k <= vocab):
            raise ValueError(f"generate_text: top_k must be None or an int in [1, {vocab}], "
                             f"got {top_k!r}")
        if seed is not None and (not _is_int(seed) or seed < 0):
            raise ValueError(f"generate_text: seed must be None or an int >= 0, got {seed!r}")
        return int(max_new_tokens), None if top_k is None else int(top_k)

    def _generator(self, length: int, max_new_tokens: int, top_k):
        """(prompt, noise or None, 1 / temperature, new tokens) placeholders and output of
        the generation graph for these sizes, built on first use. top_k 'greedy': argmax."""
        key = (length, max_new_tokens, top_k)
        if key not in self._generators:
            with self.graph.as_default():
                prompt = tf.placeholder(tf.int32, [1, length], name="charlm_prompt")
                inv = tf.placeholder(tf.float32, [], name="charlm_inv_temperature")
                mask = np.zeros(self.tokenizer.vocab_size, np.float32)
                mask[[self.tokenizer.pad_id, self.tokenizer.unk_id]] = _MASKED
                steered = _Steered(self.model, inv, mask)
                if top_k == "greedy":
                    noise = None
                    tokens = steered.generate(prompt, max_new_tokens, temperature=0)
                else:
                    noise = tf.placeholder(
                        tf.float32, [max_new_tokens, 1, self.tokenizer.vocab_size],
                        name="charlm_noise")
                    tokens = steered.generate(prompt, max_new_tokens, temperature=1.0,
                                              top_k=top_k, noise=noise)
            self._generators[key] = prompt, noise, inv, tokens
        return self._generators[key]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


_default = None
_default_lock = threading.Lock()


def load_default() -> CharLM:
    """The shipped model (graphc/modalities/weights/charlm.safetensors), loaded once per
    process and shared."""
    global _default
    with _default_lock:
        if _default is None:
            _default = CharLM.load(DEFAULT_WEIGHTS)
        return _default


def generate_text(prompt: str, max_new_tokens: int = 200, temperature: float = 0.8,
                  top_k=None, seed=None) -> str:
    """`prompt` followed by `max_new_tokens` characters written by the shipped character
    model.

    prompt: a non-empty str; characters outside the model's vocabulary are read as its
    unknown token (and kept as they are in the returned text). temperature: 0 for greedy
    decoding, else a finite number >= 0.001 (lower: more predictable). top_k: draw among
    the k most likely characters only. seed: the same seed (an int >= 0) gives the same
    text; None draws fresh noise. The continuation never holds the pad or unknown token."""
    return load_default().generate(prompt, max_new_tokens, temperature, top_k, seed)
