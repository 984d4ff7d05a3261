"""tf.contrib: the parts of TF1's contrib that graphc provides: `tf.contrib.rnn`,
`tf.contrib.layers`, `tf.contrib.framework` (arg_scope) and `tf.contrib.seq2seq`
(sequence_loss); see docs/contrib.md."""

from graphc import unsupported as _unsupported
from graphc.contrib import framework, layers, rnn, seq2seq  # noqa: F401

# TF1 names graphc lacks raise an AttributeError that says so (graphc/unsupported.py).
__getattr__ = _unsupported.module_getattr(__name__, "tf.contrib")
