"""tf.train: optimizers, learning-rate schedules, the global step."""

from graphc.train.adaptive import AdagradOptimizer, AdamOptimizer, AdamWOptimizer, RMSPropOptimizer  # noqa: F401
from graphc.train.optimizer import GradientDescentOptimizer, MomentumOptimizer, Optimizer  # noqa: F401
from graphc.train.schedules import (  # noqa: F401
                                   cosine_decay,
                                   create_global_step,
                                   exponential_decay,
                                   get_global_step,
                                   get_or_create_global_step,
                                   piecewise_constant,
)
