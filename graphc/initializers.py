"""tf.initializers / tf.keras.initializers names for the initializers of graphc.ops.init_ops."""

from graphc.ops.init_ops import (  # noqa: F401
                                 Constant,
                                 Initializer,
                                 Ones,
                                 Orthogonal,
                                 RandomNormal,
                                 RandomUniform,
                                 TruncatedNormal,
                                 VarianceScaling,
                                 Zeros,
                                 glorot_normal_initializer,
                                 glorot_uniform_initializer,
                                 he_normal,
                                 he_uniform,
                                 lecun_normal,
                                 lecun_uniform,
)

zeros = Zeros
ones = Ones
constant = Constant
random_normal = RandomNormal
random_uniform = RandomUniform
truncated_normal = TruncatedNormal
variance_scaling = VarianceScaling
orthogonal = Orthogonal
glorot_uniform = glorot_uniform_initializer
glorot_normal = glorot_normal_initializer
xavier_uniform = glorot_uniform_initializer
xavier_normal = glorot_normal_initializer
