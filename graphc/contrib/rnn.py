"""tf.contrib.rnn: TF1's other spelling of the cells of tf.nn.rnn_cell and the RNN drivers
(graphc/ops/rnn_cell.py, graphc/ops/rnn_static.py)."""

from graphc import unsupported as _unsupported
from graphc.ops.rnn_cell import (  # noqa: F401
    BasicLSTMCell,
    BasicRNNCell,
    DeviceWrapper,
    DropoutWrapper,
    GRUCell,
    LSTMCell,
    LSTMStateTuple,
    MultiRNNCell,
    ResidualWrapper,
    RNNCell,
)
from graphc.ops.rnn_static import static_bidirectional_rnn, static_rnn  # noqa: F401

# TF1 names graphc lacks raise an AttributeError that says so (graphc/unsupported.py).
__getattr__ = _unsupported.module_getattr(__name__, "tf.contrib.rnn")
