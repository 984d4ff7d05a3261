"""tf.train: optimizers, learning-rate schedules, the global step."""

from graphc.train.adaptive import (AdagradOptimizer, AdamOptimizer,  # noqa: F401
                                   AdamWOptimizer, RMSPropOptimizer)
from graphc.train.optimizer import (GradientDescentOptimizer,  # noqa: F401
                                    MomentumOptimizer, Optimizer)
from graphc.train.schedules import (cosine_decay, create_global_step,  # noqa: F401
                                    exponential_decay, get_global_step,
                                    get_or_create_global_step, piecewise_constant)
