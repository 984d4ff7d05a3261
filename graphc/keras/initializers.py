"""tf.keras.initializers: graphc's init_ops under Keras's names and defaults.

`get` resolves what `kernel_initializer=` holds: a name ('glorot_uniform', 'zeros', ...),
an Initializer, or any callable `f(shape, dtype=None)`.
"""

from __future__ import annotations

from graphc.errors import user_location
from graphc.ops import init_ops
from graphc.ops.init_ops import (  # noqa: F401 (re-exported under Keras's names)
    Constant,
    Initializer,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
)


def glorot_uniform(seed=None):
    return init_ops.glorot_uniform_initializer(seed)


def glorot_normal(seed=None):
    return init_ops.glorot_normal_initializer(seed)


he_uniform, he_normal = init_ops.he_uniform, init_ops.he_normal
lecun_uniform, lecun_normal = init_ops.lecun_uniform, init_ops.lecun_normal
GlorotUniform, GlorotNormal = glorot_uniform, glorot_normal
zeros, ones, constant = Zeros, Ones, Constant

_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "orthogonal": Orthogonal,
    "random_normal": RandomNormal, "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal,
    "he_uniform": he_uniform, "he_normal": he_normal, "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
}
for _name, _cls in list(_BY_NAME.items()):  # Keras also takes the class names
    _BY_NAME.setdefault("".join(p.title() for p in _name.split("_")), _cls)


def get(identifier):
    """None stays None (get_variable's default); a name makes its initializer."""
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ValueError(f"Unknown initializer {identifier!r}; expected a callable or one of "
                     f"{sorted(k for k in _BY_NAME if k.islower())} (at {user_location()})")
