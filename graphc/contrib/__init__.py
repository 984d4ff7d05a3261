"""tf.contrib: the parts of TF1's contrib that graphc provides (`tf.contrib.rnn`)."""

from graphc import unsupported as _unsupported
from graphc.contrib import rnn  # noqa: F401

# TF1 names graphc lacks raise an AttributeError that says so (graphc/unsupported.py).
__getattr__ = _unsupported.module_getattr(__name__, "tf.contrib")
