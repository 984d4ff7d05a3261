"""tf.train: optimizers, learning-rate schedules, the global step, checkpoints."""

from graphc.saving.checkpoint_object import Checkpoint, CheckpointManager  # noqa: F401
from graphc.saving.meta_graph import export_meta_graph  # noqa: F401
from graphc.saving.reader import CheckpointReader as NewCheckpointReader  # noqa: F401
from graphc.saving.reader import (  # noqa: F401
    checkpoint_exists,
    get_checkpoint_state,
    latest_checkpoint,
    list_variables,
    load_checkpoint,
    load_variable,
)
from graphc.saving.saver import Saver, import_meta_graph  # noqa: F401
from graphc.saving.state import CheckpointState, update_checkpoint_state  # noqa: F401
from graphc.saving.warm_start import init_from_checkpoint  # noqa: F401
from graphc.train.adaptive import (  # noqa: F401
    AdadeltaOptimizer,
    AdagradOptimizer,
    AdamOptimizer,
    AdamWOptimizer,
    FtrlOptimizer,
    ProximalAdagradOptimizer,
    ProximalGradientDescentOptimizer,
    RMSPropOptimizer,
)
from graphc.train.optimizer import GradientDescentOptimizer, MomentumOptimizer, Optimizer  # noqa: F401
from graphc.train.schedules import (  # noqa: F401
    cosine_decay,
    cosine_decay_restarts,
    create_global_step,
    exponential_decay,
    get_global_step,
    get_or_create_global_step,
    inverse_time_decay,
    linear_cosine_decay,
    natural_exp_decay,
    piecewise_constant,
    polynomial_decay,
)
