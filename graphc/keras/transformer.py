"""The Transformer encoder block (Vaswani et al. 2017) as a Keras layer built from
tf.keras.layers' MultiHeadAttention, LayerNormalization, Dense and Dropout.

Post-LN, as the paper (and `graphc bench` W6):
    h = LayerNorm(x + Dropout(MultiHeadAttention(x, x)))
    y = LayerNorm(h + Dropout(Dense(d_model)(activation(Dense(d_ff)(h)))))
Pre-LN (norm_first=True), which trains deep stacks without a warm-up:
    h = x + Dropout(MultiHeadAttention(LayerNorm(x), LayerNorm(x)))
    y = h + Dropout(Dense(d_model)(activation(Dense(d_ff)(LayerNorm(h)))))

The sublayers are named as in KerasNLP's TransformerEncoder (`self_attention`,
`self_attention_layer_norm`, `feedforward_intermediate_dense`, `feedforward_output_dense`,
`feedforward_layer_norm`), under the block's name scope, so their variables read
`transformer_encoder_block/self_attention/query/kernel`.
"""

from __future__ import annotations

from graphc.keras.attention import MultiHeadAttention
from graphc.keras.base_layer import layer_error
from graphc.keras.layers import Dense, Dropout, LayerNormalization, Wrapper
from graphc.layers.attention import leading_dims
from graphc.layers.utils import positive_int, serialize
from graphc.ops import array_ops as A
from graphc.ops.tensor import TensorShape


class TransformerEncoderBlock(Wrapper):
    """One encoder layer: self-attention and a position-wise feed-forward network, each
    with a residual connection and layer normalization (after it, or before with
    norm_first). Call as `block(x, attention_mask=None, training=None,
    use_causal_mask=False)` on [batch, T, d_model]; the mask is MultiHeadAttention's."""

    def __init__(self, num_heads, d_ff, key_dim=None, dropout=0.0, activation="relu",
                 norm_first=False, layer_norm_epsilon=1e-5, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.num_heads = positive_int(num_heads, "num_heads", self.name)
        self.d_ff = positive_int(d_ff, "d_ff", self.name)
        self.key_dim = None if key_dim is None else positive_int(key_dim, "key_dim", self.name)
        self.dropout, self.activation = dropout, activation
        self.norm_first, self.layer_norm_epsilon = bool(norm_first), float(layer_norm_epsilon)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        dense = dict(kernel_initializer=kernel_initializer, bias_initializer=bias_initializer)
        self.attention_norm = LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                 name="self_attention_layer_norm")
        self.intermediate = Dense(self.d_ff, activation=activation,
                                  name="feedforward_intermediate_dense", **dense)
        self.feedforward_norm = LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                   name="feedforward_layer_norm")
        self.attention_dropout = Dropout(dropout, name="self_attention_dropout")
        self.feedforward_dropout = Dropout(dropout, name="feedforward_dropout")
        self.attention = self.output_dense = None  # sized by build, from d_model

    def _sublayers(self) -> list:
        return [layer for layer in (self.attention, self.attention_norm, self.intermediate,
                                    self.output_dense, self.feedforward_norm)
                if layer is not None]

    def __call__(self, inputs, attention_mask=None, training=None, use_causal_mask=False):
        if attention_mask is not None:  # one structure of tensors, as a functional model
            inputs = {"inputs": inputs, "attention_mask": attention_mask}  # replays it
        return super().__call__(inputs, training=training, use_causal_mask=use_causal_mask)

    def build(self, input_shape):
        shape = TensorShape(input_shape["inputs"] if isinstance(input_shape, dict)
                            else input_shape)
        d_model = shape.dims[-1] if shape.ndims == 3 else None
        if d_model is None:
            raise layer_error(self.name, f"expects [batch, T, d_model] inputs with a known "
                                         f"d_model, got shape {shape}")
        key_dim = self.key_dim
        if key_dim is None:
            if d_model % self.num_heads:
                raise layer_error(self.name, f"d_model={d_model} is not divisible by "
                                             f"num_heads={self.num_heads}; give key_dim")
            key_dim = d_model // self.num_heads
        self.attention = MultiHeadAttention(
            self.num_heads, key_dim, dropout=self.dropout, name="self_attention",
            kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer)
        self.output_dense = Dense(d_model, name="feedforward_output_dense",
                                  kernel_initializer=self.kernel_initializer,
                                  bias_initializer=self.bias_initializer)
        self.built = True

    def call(self, inputs, training=None, use_causal_mask=False):
        mask = None
        if isinstance(inputs, dict):
            inputs, mask = inputs["inputs"], inputs["attention_mask"]
        x = self.attention_norm(inputs) if self.norm_first else inputs
        h = self.attention(x, x, attention_mask=mask, training=training,
                           use_causal_mask=use_causal_mask)
        h = inputs + self.attention_dropout(h, training=training)
        if not self.norm_first:
            h = self.attention_norm(h)
        x = self.feedforward_norm(h) if self.norm_first else h
        # the feed-forward network on the [B*T, d_model] rows: 2-D Dense layers, whose
        # bias and activation the compiler applies in the GEMM's epilogue
        rows = A.reshape(x, [-1, x.shape.dims[-1]])
        y = A.reshape(self.output_dense(self.intermediate(rows)), leading_dims(x, 3))
        y = h + self.feedforward_dropout(y, training=training)
        return y if self.norm_first else self.feedforward_norm(y)

    def compute_output_shape(self, input_shape):
        return TensorShape(input_shape["inputs"] if isinstance(input_shape, dict)
                           else input_shape)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "d_ff": self.d_ff,
                "key_dim": self.key_dim, "dropout": self.dropout,
                "activation": serialize(self.activation), "norm_first": self.norm_first,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer)}

def encoder_block(x, num_heads, d_ff, attention_mask=None, training=False,
                  use_causal_mask=False, name=None, **kwargs):
    """A new TransformerEncoderBlock applied to `x` once; returns its output (the block is
    `history_of(output)`'s layer, or build it yourself to call it again)."""
    block = TransformerEncoderBlock(num_heads, d_ff, name=name, **kwargs)
    return block(x, attention_mask=attention_mask, training=training,
                 use_causal_mask=use_causal_mask)
