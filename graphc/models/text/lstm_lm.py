"""An LSTM language model with the Transformer LM's interface: embedding, a stack of
tf.nn.rnn_cell.LSTMCells run by tf.nn.dynamic_rnn, and a dense layer to the vocabulary.

Generation runs the prompt through dynamic_rnn for the final LSTM state, then steps the
same cells one token per iteration of the generation loop, which carries the state (a tuple
of LSTMStateTuple(c, h), one per layer). The cells keep the variables they made on their
first call, so training, the prompt and the steps all read the same weights.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.models.text.generation import LanguageModel
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops.init_ops import RandomUniform, Zeros
from graphc.ops.nn_norm import dropout as nn_dropout
from graphc.ops.rnn_cell import LSTMCell, MultiRNNCell
from graphc.ops.rnn_dynamic import dynamic_rnn
from graphc.ops.variables import get_variable, variable_scope


class LSTMLM(LanguageModel):
    """vocab_size tokens embedded in `embedding_dim` (default: units), `num_layers` LSTMs
    of `units` each, logits from the last layer's output; `dropout` (training only) applies
    to the embeddings and each layer's output."""

    def __init__(self, vocab_size: int, units: int = 256, num_layers: int = 1,
                 embedding_dim: int | None = None, dropout: float = 0.0,
                 name: str = "lstm_lm", dtype=dtypes.float32):
        for field, value in (("vocab_size", vocab_size), ("units", units),
                             ("num_layers", num_layers),
                             ("embedding_dim", embedding_dim or units)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"LSTMLM: {field} must be an int >= 1, got {value!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"LSTMLM: dropout must be in [0, 1), got {dropout!r}")
        self.vocab_size, self.units, self.num_layers = vocab_size, units, num_layers
        self.dropout, self.name, self.dtype = dropout, name, dtypes.as_dtype(dtype)
        scale = 1.0 / np.sqrt(units)
        with variable_scope(name):
            self.embedding = get_variable("embedding", [vocab_size, embedding_dim or units],
                                          self.dtype, RandomUniform(-0.1, 0.1))
            self.kernel = get_variable("output/kernel", [units, vocab_size], self.dtype,
                                       RandomUniform(-scale, scale))
            self.bias = get_variable("output/bias", [vocab_size], self.dtype, Zeros())
        self.cells = [LSTMCell(units, name=f"lstm_{i}") for i in range(num_layers)]
        self._cell = MultiRNNCell(self.cells)

    def _drop(self, x, training):
        return nn_dropout(x, rate=self.dropout) if training and self.dropout > 0 else x

    def _run(self, ids, training, initial_state=None):
        """The last layer's outputs [batch, T, units] and the final state."""
        x = self._drop(A.gather(self.embedding, ids), training)
        if not (training and self.dropout > 0):
            return dynamic_rnn(self._cell, x, initial_state=initial_state, dtype=self.dtype,
                               scope=f"{self.name}/rnn")
        state = initial_state  # dropout between layers: run them one at a time
        finals = []
        for i, cell in enumerate(self.cells):
            x, final = dynamic_rnn(cell, x, dtype=self.dtype, scope=f"{self.name}/rnn/cell_{i}",
                                   initial_state=None if state is None else state[i])
            x = self._drop(x, training)
            finals.append(final)
        return x, tuple(finals)

    def _project(self, outputs):
        """Logits [..., vocab] from outputs [..., units]."""
        flat = A.reshape(outputs, [-1, self.units])
        logits = m.matmul(flat, self.kernel) + self.bias
        return logits if outputs.node.rank == 2 else A.reshape(
            logits, [-1, outputs.node.shape[1], self.vocab_size])

    def logits(self, ids, training=False):
        """Next-token logits [batch, T, vocab] for ids [batch, T] (T known)."""
        ids = self._ids(ids, "logits")
        if ids.node.shape[1] is None:
            raise ValueError(f"{self.name}.logits: the sequence length must be known when the "
                             f"graph is built, got ids of shape {ids.shape}")
        return self._project(self._run(ids, training)[0])

    def _prefill(self, prompt):
        outputs, state = self._run(prompt, training=False)
        return self._project(outputs[:, -1]), state

    def _step(self, token, position, state):
        output, state = self._cell(A.gather(self.embedding, token), state)
        return self._project(output), state
