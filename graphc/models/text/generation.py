"""What every language model here shares: the next-token loss, and generation as one
compiled `tf.while_loop` that samples a token per iteration.

A model supplies `logits(ids)` for training and two pieces for generation: `_prefill(prompt)`
runs the whole prompt at once and returns the last position's logits and the state a step
needs (a Transformer's key/value cache, an LSTM's cell state), and `_step(token, position,
state)` advances that state by one token. Generation is the prefill, then a loop over the
new tokens; the loop carries the last token, the state and a TensorArray of the tokens
drawn, so the whole of it, however many tokens, runs inside the one native call that
`Session.run` (or an exported library) makes.

Sampling is the Gumbel-max trick: argmax(logits / temperature + g) with g = -log(-log(u)),
u uniform in (0, 1), draws a token with probability softmax(logits / temperature). The
uniform numbers are an input of the graph ([max_new_tokens, batch, vocab]: a placeholder the
caller feeds, or `tf.random_uniform` drawn once before the loop), so the same graph exports
ahead of time, where random ops are refused, and gives the same tokens for the same noise
everywhere. Temperature 0 is greedy decoding: argmax(logits), no noise at all.
"""

from __future__ import annotations

import numbers

import numpy as np

from graphc.ir import dtypes
from graphc.ops import array_ops as A
from graphc.ops import control_flow as cf
from graphc.ops import math_ops as m
from graphc.ops import nn_losses, random_ops
from graphc.ops.extra_ops import top_k
from graphc.ops.tensor import convert_to_tensor
from graphc.ops.tensor_array import TensorArray

# u is clipped into [TINY, 1 - 2**-24] so both logarithms of the Gumbel transform are finite
_TINY = 1e-20
_ALMOST_ONE = 1.0 - 2.0 ** -24


def uniform_noise(max_new_tokens: int, batch: int, vocab_size: int, seed=None) -> np.ndarray:
    """Uniform numbers in [0, 1) of the shape the generation graph's noise input takes, from
    NumPy's generator: what a caller feeds to a graph (or a library) that samples."""
    rng = np.random.default_rng(seed)
    return rng.random((max_new_tokens, batch, vocab_size), dtype=np.float32)


def gumbel(uniform):
    """-log(-log(u)): Gumbel(0, 1) noise from uniform noise."""
    u = m.clip_by_value(uniform, _TINY, _ALMOST_ONE)
    return -m.log(-m.log(u))


def kth_largest(scores, k: int):
    """The k-th largest value of each row of `scores` [..., V], as [..., 1] (ties counted
    separately): the last of tf.nn.top_k's values, O(k V) per row."""
    return top_k(scores, k).values[..., k - 1:k]


def top_k_filter(scores, k: int):
    """scores with every value below the row's k-th largest set to the dtype's lowest
    finite value (not -inf, so adding Gumbel noise stays finite)."""
    lowest = float(np.finfo(scores.dtype.as_numpy_dtype).min)
    return m.where(scores >= kth_largest(scores, k), scores, lowest)


def sample(logits, temperature: float, top_k=None, uniform=None):
    """Token ids [...] (int32) drawn from logits [..., V]: argmax at temperature 0, else the
    Gumbel-max draw over logits / temperature restricted to the top_k largest."""
    if temperature == 0:
        return m.argmax(logits, axis=-1, output_type=dtypes.int32)
    scores = logits / temperature
    if top_k is not None:
        scores = top_k_filter(scores, top_k)
    return m.argmax(scores + gumbel(m.cast(uniform, scores.dtype)), axis=-1,
                    output_type=dtypes.int32)


class LanguageModel:
    """The training and generation interface of the text models (see the module
    docstring). Subclasses set `vocab_size`, `max_len` (None: unbounded) and `name`, and
    implement `logits`, `_prefill` and `_step`."""

    vocab_size: int
    max_len: int | None = None
    name: str = "lm"

    def logits(self, ids, training=False):
        raise NotImplementedError

    def _prefill(self, prompt):
        raise NotImplementedError

    def _step(self, token, position, state):
        raise NotImplementedError

    def loss(self, ids, weights=None, training=False):
        """Mean cross-entropy of predicting ids[:, t + 1] from ids[:, :t + 1] for every t.
        `weights` [batch, time - 1] (e.g. 0 where the target is padding) weighs each
        prediction; the mean is then over the weights' sum."""
        ids = self._ids(ids, "loss")
        logits = self.logits(ids[:, :-1], training=training)
        per_token = nn_losses.sparse_softmax_cross_entropy_with_logits(labels=ids[:, 1:],
                                                                       logits=logits)
        if weights is None:
            return m.reduce_mean(per_token)
        weights = m.cast(weights, per_token.dtype)
        return m.reduce_sum(per_token * weights) / m.maximum(m.reduce_sum(weights), 1e-12)

    def generate(self, prompt, max_new_tokens: int, temperature: float = 1.0, top_k=None,
                 noise=None, seed=None):
        """New token ids [batch, max_new_tokens] (int32) following `prompt` [batch, P].

        temperature 0: greedy (no noise used). Otherwise each token is drawn with the
        Gumbel-max trick from `noise` ([max_new_tokens, batch, vocab] uniform numbers in
        [0, 1): a placeholder to feed, e.g. with `uniform_noise`), or, when noise is None,
        from `tf.random_uniform` with `seed` (JIT only: exported libraries refuse random
        ops). top_k: sample among the k most likely tokens only."""
        prompt = self._ids(prompt, "generate")
        steps = self._check_generate(prompt, max_new_tokens, temperature, top_k)
        noise = self._noise(noise, prompt, steps, temperature, seed)
        length = prompt.node.shape[1]

        def draw(logits, i):
            return sample(logits, temperature, top_k,
                          None if noise is None else A.gather(noise, i))

        last, state = self._prefill(prompt)
        first = draw(last, 0)
        # every row starts as the first token (so the buffer takes a batch unknown until run
        # time); the loop writes rows 1.. in place
        tokens = TensorArray(dtypes.int32, size=steps).unstack(
            A.tile(A.expand_dims(first, 0), [steps, 1]))

        def body(i, token, state, tokens):
            logits, state = self._step(token, length + i - 1, state)
            token = draw(logits, i)
            return i + 1, token, state, tokens.write(i, token)

        _, _, _, tokens = cf.while_loop(lambda i, *_: i < steps, body,
                                        [convert_to_tensor(1), first, state, tokens],
                                        maximum_iterations=steps)
        return A.transpose(tokens.stack(), [1, 0], name=f"{self.name}_generated")

    # --- argument checks ----------------------------------------------------------------
    def _ids(self, ids, what):
        ids = convert_to_tensor(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"{self.name}.{what}: token ids must be integers, got {ids.dtype}")
        if ids.node.rank != 2:
            raise ValueError(f"{self.name}.{what}: token ids must be [batch, time], got shape "
                             f"{ids.shape}")
        return m.cast(ids, dtypes.int32) if ids.dtype is not dtypes.int32 else ids

    def _check_generate(self, prompt, max_new_tokens, temperature, top_k):
        where = f"{self.name}.generate"
        length = prompt.node.shape[1]
        if length is None or length < 1:
            raise ValueError(f"{where}: the prompt's length must be known and >= 1, got shape "
                             f"{prompt.shape}")
        if not _is_int(max_new_tokens) or max_new_tokens < 1:
            raise ValueError(f"{where}: max_new_tokens must be an int >= 1, got "
                             f"{max_new_tokens!r}")
        if self.max_len is not None and length + max_new_tokens - 1 > self.max_len:
            raise ValueError(f"{where}: a prompt of {length} tokens and {max_new_tokens} new "
                             f"tokens need {length + max_new_tokens - 1} positions, more than "
                             f"max_len={self.max_len}")
        if not isinstance(temperature, numbers.Real) or not temperature >= 0:
            raise ValueError(f"{where}: temperature must be a number >= 0 (0: greedy), got "
                             f"{temperature!r}")
        if top_k is not None and (not _is_int(top_k) or not 1 <= top_k <= self.vocab_size):
            raise ValueError(f"{where}: top_k must be None or an int in [1, vocab_size="
                             f"{self.vocab_size}], got {top_k!r}")
        return int(max_new_tokens)

    def _noise(self, noise, prompt, steps, temperature, seed):
        if temperature == 0:
            return None
        if noise is None:
            shape = A.stack([steps, A.shape(prompt)[0], self.vocab_size])
            return random_ops.random_uniform(shape, seed=seed, name=f"{self.name}_noise")
        noise = convert_to_tensor(noise)
        want = (steps, prompt.node.shape[0], self.vocab_size)
        got = tuple(noise.node.shape) if noise.node.rank is not None else None
        if got is None or len(got) != 3 or any(
                g is not None and w is not None and g != w for g, w in zip(got, want)):
            raise ValueError(f"{self.name}.generate: noise must be [max_new_tokens, batch, "
                             f"vocab_size] = {list(want)}, got shape {noise.shape}")
        if noise.dtype.kind != "f":
            raise TypeError(f"{self.name}.generate: noise must be floating-point uniform "
                            f"numbers in [0, 1), got {noise.dtype}")
        return noise


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
