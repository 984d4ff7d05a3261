"""A decoder-only Transformer language model (GPT-2's architecture) built from TF1 variables.

Each block is pre-LN: x + attn(ln_1(x)), then x + mlp(ln_2(x)), with causal multi-head
self-attention whose query, key and value come from one projection (`c_attn`, [d, 3d]) and a
two-layer MLP; a final layer norm (`ln_f`) precedes the output projection, which is the
token embedding transposed when the embeddings are tied. Variables live under the model's
variable scope with GPT-2's module names (`h0/attn/c_attn/kernel`, ...), kernels laid out
[in, out] as GPT-2's Conv1D keeps them, so GPT-2 weights load without reshuffling (see
gpt2.py).

Generation (LanguageModel.generate) runs the prompt through the full forward once, keeping
each layer's keys and values, then one token per loop iteration against a key/value cache:
two tensors [layers, batch, heads, max_len, head_dim] carried by the while loop. A step
writes its key and value at its position with a select over a one-hot position mask and
attends to positions <= its own, so no step recomputes the past.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from graphc.ir import dtypes
from graphc.layers.attention import dot_product_attention
from graphc.models.text.generation import LanguageModel
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops import nn_ops
from graphc.ops.init_ops import Ones, RandomNormal, Zeros
from graphc.ops.nn_norm import dropout as nn_dropout
from graphc.ops.tensor import constant
from graphc.ops.variables import get_variable, variable_scope

POSITIONS = ("learned", "sinusoidal")
ACTIVATIONS = {
    "gelu_tanh": lambda x: nn_ops.gelu(x, approximate=True),  # GPT-2's "gelu_new"
    "gelu": nn_ops.gelu,
    "relu": nn_ops.relu,
}


@dataclass(frozen=True)
class TransformerLMConfig:
    """The shape of a TransformerLM. d_ff defaults to 4 * d_model; `activation` is one of
    ACTIVATIONS ('gelu_tanh' is GPT-2's); `dropout` applies to the embeddings, the attention
    weights and each residual branch when training."""
    vocab_size: int
    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int | None = None
    max_len: int = 256
    positions: str = "learned"
    tie_embeddings: bool = True
    activation: str = "gelu_tanh"
    layer_norm_epsilon: float = 1e-5
    dropout: float = 0.0
    init_std: float = 0.02

    def __post_init__(self):
        for field in ("vocab_size", "d_model", "num_heads", "num_layers", "max_len"):
            _positive_int(getattr(self, field), field)
        if self.d_ff is not None:
            _positive_int(self.d_ff, "d_ff")
        if self.d_model % self.num_heads:
            raise ValueError(f"TransformerLMConfig: d_model={self.d_model} must be a multiple "
                             f"of num_heads={self.num_heads}")
        if self.positions not in POSITIONS:
            raise ValueError(f"TransformerLMConfig: positions must be one of {POSITIONS}, got "
                             f"{self.positions!r}")
        if self.positions == "sinusoidal" and self.d_model % 2:
            raise ValueError(f"TransformerLMConfig: sinusoidal positions need an even d_model, "
                             f"got {self.d_model}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"TransformerLMConfig: activation must be one of "
                             f"{sorted(ACTIVATIONS)}, got {self.activation!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"TransformerLMConfig: dropout must be in [0, 1), got "
                             f"{self.dropout!r}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads

    @property
    def ff_dim(self) -> int:
        return self.d_ff if self.d_ff is not None else 4 * self.d_model

    @classmethod
    def gpt2(cls, vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
             n_inner=None, layer_norm_epsilon=1e-5, tie_word_embeddings=True,
             **kwargs) -> "TransformerLMConfig":
        """The configuration matching a Hugging Face GPT2Config with these fields (defaults:
        the 124M-parameter GPT-2): learned positions and tanh GELU; `kwargs` sets the other
        fields (dropout, init_std)."""
        return cls(vocab_size=vocab_size, d_model=n_embd, num_heads=n_head,
                   num_layers=n_layer, d_ff=n_inner, max_len=n_positions, positions="learned",
                   tie_embeddings=tie_word_embeddings, activation="gelu_tanh",
                   layer_norm_epsilon=layer_norm_epsilon, **kwargs)


def _positive_int(value, field):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"TransformerLMConfig: {field} must be an int >= 1, got {value!r}")


def sinusoidal_positions(max_len: int, d_model: int) -> np.ndarray:
    """[max_len, d_model] float32: sin(p / 10000^(2i/d)) in column 2i, cos in 2i + 1."""
    position = np.arange(max_len, dtype=np.float64)[:, None]
    rates = np.exp(-math.log(10000.0) * np.arange(0, d_model, 2) / d_model)
    table = np.zeros((max_len, d_model))
    table[:, 0::2] = np.sin(position * rates)
    table[:, 1::2] = np.cos(position * rates)
    return table.astype(np.float32)


class TransformerLM(LanguageModel):
    """The variables of a TransformerLM (made now, under variable scope `name`) and the
    graphs that read them: `logits(ids)`, `loss(ids)` and `generate(prompt, ...)`."""

    def __init__(self, config: TransformerLMConfig, name: str = "transformer_lm",
                 dtype=dtypes.float32):
        if not isinstance(config, TransformerLMConfig):
            raise TypeError(f"TransformerLM: config must be a TransformerLMConfig, got "
                            f"{type(config).__name__}")
        self.config, self.name = config, name
        self.vocab_size, self.max_len = config.vocab_size, config.max_len
        self.dtype = dtypes.as_dtype(dtype)
        self.variables = {}
        with variable_scope(name):
            self._make_variables()

    # --- variables ------------------------------------------------------------------------
    def _var(self, name, shape, init):
        self.variables[name] = get_variable(name, shape, self.dtype, initializer=init)
        return self.variables[name]

    def _make_variables(self):
        c = self.config
        normal = RandomNormal(stddev=c.init_std)
        # GPT-2 scales the projections into the residual stream by 1/sqrt(2 * layers)
        residual = RandomNormal(stddev=c.init_std / math.sqrt(2 * c.num_layers))
        self._var("wte", [c.vocab_size, c.d_model], normal)
        if c.positions == "learned":
            self._var("wpe", [c.max_len, c.d_model], RandomNormal(stddev=c.init_std / 2))
        for layer in range(c.num_layers):
            self._layer_norm_vars(f"h{layer}/ln_1")
            self._dense_vars(f"h{layer}/attn/c_attn", c.d_model, 3 * c.d_model, normal)
            self._dense_vars(f"h{layer}/attn/c_proj", c.d_model, c.d_model, residual)
            self._layer_norm_vars(f"h{layer}/ln_2")
            self._dense_vars(f"h{layer}/mlp/c_fc", c.d_model, c.ff_dim, normal)
            self._dense_vars(f"h{layer}/mlp/c_proj", c.ff_dim, c.d_model, residual)
        self._layer_norm_vars("ln_f")
        if not c.tie_embeddings:
            self._var("lm_head/kernel", [c.d_model, c.vocab_size], normal)

    def _layer_norm_vars(self, scope):
        self._var(f"{scope}/gamma", [self.config.d_model], Ones())
        self._var(f"{scope}/beta", [self.config.d_model], Zeros())

    def _dense_vars(self, scope, n_in, n_out, init):
        self._var(f"{scope}/kernel", [n_in, n_out], init)
        self._var(f"{scope}/bias", [n_out], Zeros())

    # --- building blocks ------------------------------------------------------------------
    def _dense(self, x, scope):
        v = self.variables
        return m.matmul(x, v[f"{scope}/kernel"]) + v[f"{scope}/bias"]

    def _layer_norm(self, x, scope):
        """(x - mean) / sqrt(var + eps) * gamma + beta over the last axis, the variance
        biased, as torch.nn.LayerNorm (and GPT-2) compute it."""
        mean = m.reduce_mean(x, axis=-1, keepdims=True)
        centered = x - mean
        var = m.reduce_mean(centered * centered, axis=-1, keepdims=True)
        normed = centered * m.rsqrt(var + self.config.layer_norm_epsilon)
        return normed * self.variables[f"{scope}/gamma"] + self.variables[f"{scope}/beta"]

    def _dropout(self, x, training):
        rate = self.config.dropout
        return nn_dropout(x, rate=rate) if training and rate > 0 else x

    def _heads(self, x, length):
        """[batch * length, d] -> [batch, heads, length, head_dim]."""
        c = self.config
        return A.transpose(A.reshape(x, [-1, length, c.num_heads, c.head_dim]), [0, 2, 1, 3])

    def _merge_heads(self, x):
        """[batch, heads, length, head_dim] -> [batch * length, d]."""
        return A.reshape(A.transpose(x, [0, 2, 1, 3]), [-1, self.config.d_model])

    def _block(self, x, layer, length, attend, training):
        """One pre-LN block on x [batch * length, d]. attend(q, k, v) gets [batch, heads,
        length, head_dim] each and returns the attention output of that shape."""
        scope = f"h{layer}"
        qkv = self._dense(self._layer_norm(x, f"{scope}/ln_1"), f"{scope}/attn/c_attn")
        q, k, v = (self._heads(t, length) for t in A.split(qkv, 3, axis=-1))
        attended = self._merge_heads(attend(q, k, v))
        x = x + self._dropout(self._dense(attended, f"{scope}/attn/c_proj"), training)
        hidden = self._dense(self._layer_norm(x, f"{scope}/ln_2"), f"{scope}/mlp/c_fc")
        hidden = ACTIVATIONS[self.config.activation](hidden)
        return x + self._dropout(self._dense(hidden, f"{scope}/mlp/c_proj"), training)

    def _embed(self, ids, positions, training):
        """Token plus position embeddings; `positions` indexes the position table."""
        c = self.config
        table = self.variables["wpe"] if c.positions == "learned" else \
            constant(sinusoidal_positions(c.max_len, c.d_model), self.dtype)
        x = A.gather(self.variables["wte"], ids) + A.gather(table, positions)
        return self._dropout(x, training)

    def _head(self, x):
        """Logits [rows, vocab] from the last block's output [rows, d]."""
        x = self._layer_norm(x, "ln_f")
        if self.config.tie_embeddings:
            return m.matmul(x, self.variables["wte"], transpose_b=True)
        return m.matmul(x, self.variables["lm_head/kernel"])

    # --- graphs ---------------------------------------------------------------------------
    def _forward(self, ids, training):
        """Logits [batch, T, vocab] and each layer's (keys, values) [batch, heads, T, hd]."""
        length = ids.node.shape[1]
        if length is None or length > self.max_len:
            raise ValueError(f"{self.name}: the sequence length must be known and at most "
                             f"max_len={self.max_len}, got ids of shape {ids.shape}")
        x = A.reshape(self._embed(ids, np.arange(length, dtype=np.int32), training),
                      [-1, self.config.d_model])
        rate = self.config.dropout if training else 0.0
        cache = []

        def attend(q, k, v):
            cache.append((k, v))
            return dot_product_attention(q, k, v, causal=True, dropout_rate=rate,
                                         training=bool(training))

        for layer in range(self.config.num_layers):
            x = self._block(x, layer, length, attend, training)
        logits = A.reshape(self._head(x), [-1, length, self.vocab_size])
        return logits, cache

    def logits(self, ids, training=False):
        """Next-token logits [batch, T, vocab] for ids [batch, T] (T known, <= max_len)."""
        return self._forward(self._ids(ids, "logits"), training)[0]

    def _prefill(self, prompt):
        logits, cache = self._forward(prompt, training=False)
        pad = [[0, 0], [0, 0], [0, self.max_len - prompt.node.shape[1]], [0, 0]]
        keys = A.stack([A.pad(k, pad) for k, _ in cache])
        values = A.stack([A.pad(v, pad) for _, v in cache])
        return logits[:, -1], (keys, values)

    def _step(self, token, position, state):
        """Logits [batch, vocab] after `token` [batch] at `position` (a scalar tensor), and
        the cache with this token's keys and values written at that position."""
        keys, values = state
        here = m.equal(np.arange(self.max_len, dtype=np.int32), position)  # one-hot [max_len]
        seen = m.less_equal(np.arange(self.max_len, dtype=np.int32), position)
        here = A.reshape(here, [self.max_len, 1])  # broadcasts over [.., max_len, head_dim]
        x = self._embed(token, position, training=False)
        new_keys, new_values = [], []
        for layer in range(self.config.num_layers):
            def attend(q, k, v, layer=layer):
                new_keys.append(k)
                new_values.append(v)
                k_all = m.where(here, k, keys[layer])
                v_all = m.where(here, v, values[layer])
                return dot_product_attention(q, k_all, v_all, mask=seen)
            x = self._block(x, layer, 1, attend, training=False)
        here = A.reshape(here, [1, 1, 1, self.max_len, 1])
        keys = m.where(here, A.stack(new_keys), keys)
        values = m.where(here, A.stack(new_values), values)
        return self._head(x), (keys, values)
