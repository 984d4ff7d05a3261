"""tf.keras.optimizers (TF 1.15's OptimizerV2 classes) on graphc's tf.train optimizers.

Keras's defaults differ from tf.train's, and so, for two of them, does the formula:
- SGD(learning_rate=0.01, momentum=0, nesterov=False): GradientDescent, or Momentum
  (Keras's v = m v - lr g; var += v is TF1's accum = m accum + g; var -= lr accum for a
  constant lr; the same holds for Nesterov).
- Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7): tf.train's Adam, whose
  formula is Keras's; only epsilon's default differs (1e-8 there).
- RMSprop(learning_rate=0.001, rho=0.9, momentum=0, epsilon=1e-7, centered=False): the
  mean square starts at zeros (tf.train: ones), and without momentum epsilon is added
  outside the square root: var -= lr g / (sqrt(ms) + eps). With momentum, as tf.train:
  mom = momentum mom + lr g / sqrt(ms + eps); var -= mom.
- Adagrad(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
  accum += g^2; var -= lr g / (sqrt(accum) + eps) (tf.train has no epsilon).

The learning rate is a variable (`optimizer.lr`, `optimizer.learning_rate`) created when the
model compiles, so LearningRateScheduler can change it between steps without a rebuild.
"""

from __future__ import annotations

import weakref

from graphc.errors import user_location
from graphc.framework.graph import get_default_graph
from graphc.ops import math_ops as M
from graphc.ops.tensor import constant
from graphc.ops.variables import GraphKeys, Variable
from graphc.train import adaptive
from graphc.train.optimizer import GradientDescentOptimizer, MomentumOptimizer, Optimizer


class _RMSprop(adaptive.RMSPropOptimizer):
    """Keras's RMSprop formula (see the module docstring): tf.train's mean square from
    zeros, a momentum slot only with momentum, and without it epsilon outside the root."""

    def __init__(self, lr, rho, momentum, epsilon, centered):
        super().__init__(lr, rho, momentum, epsilon, centered=centered, name="RMSprop")

    def _create_slots(self, var):
        self._slot(var, "rms")
        if self._momentum:
            self._slot(var, "momentum")
        if self._centered:
            self._slot(var, "mg")

    def _step(self, grad, var, denom):
        if self._momentum:
            return super()._step(grad, var, denom)
        return var.assign_sub(self._as(self._lr, var) * grad /
                              (M.sqrt(denom) + self._as(self._eps, var)))


class _Adagrad(adaptive.AdagradOptimizer):
    """Keras's Adagrad: epsilon added to the root of the accumulator."""

    def __init__(self, lr, initial_accumulator_value, epsilon):
        super().__init__(lr, initial_accumulator_value, name="Adagrad")
        self._eps = epsilon

    def _apply_dense(self, grad, var):
        accum = self._slot(var, "accumulator")
        accum_t = accum.assign_add(grad * grad)
        return var.assign_sub(self._as(self._lr, var) * grad /
                              (M.sqrt(accum_t) + self._as(self._eps, var)))


class OptimizerV2:
    """Base: hyperparameters, the learning-rate variable, and `minimize` through one
    graphc optimizer made per graph."""

    _defaults = {"learning_rate": 0.001}

    def __init__(self, learning_rate=None, name=None, **kwargs):
        lr = kwargs.pop("lr", None)
        for key in kwargs:
            if key not in ("decay", "clipnorm", "clipvalue"):
                raise TypeError(f"{type(self).__name__}: unexpected keyword argument {key!r}")
            if kwargs[key]:
                raise NotImplementedError(f"{type(self).__name__}({key}=...) is not supported "
                                          "by graphc's Keras")
        value = learning_rate if learning_rate is not None else lr
        self._initial_lr = float(self._defaults["learning_rate"] if value is None else value)
        self._name = name or type(self).__name__
        self._lr_vars: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    def _lr_variable(self):
        """The learning-rate variable of the default graph (created on first use)."""
        graph = get_default_graph()
        var = self._lr_vars.get(graph)
        if var is None:
            with graph.name_scope(None), graph.control_dependencies(None):
                var = Variable(constant(self._initial_lr), trainable=False,
                               name=f"{self._name}/learning_rate",
                               collections=[GraphKeys.GLOBAL_VARIABLES])
            self._lr_vars[graph] = var
        return var

    @property
    def learning_rate(self):
        """The variable once compiled (read or set with tf.keras.backend.get/set_value),
        else the number given."""
        var = self._lr_vars.get(get_default_graph())
        return var if var is not None else self._initial_lr

    @learning_rate.setter
    def learning_rate(self, value):
        from graphc.keras import backend
        self._initial_lr = float(value)
        for var in list(self._lr_vars.values()):
            backend.set_value(var, value)

    lr = learning_rate

    def _make(self, lr):
        raise NotImplementedError

    def minimize(self, loss, var_list):
        """One op: gradients of `loss` for `var_list`, then every update."""
        optimizer = self._make(self._lr_variable())
        with get_default_graph().name_scope("training"):
            return optimizer.minimize(loss, var_list=var_list)

    def get_config(self) -> dict:
        return {"name": self._name, "learning_rate": self._initial_lr}


class SGD(OptimizerV2):
    _defaults = {"learning_rate": 0.01}

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        if momentum < 0 or momentum > 1:
            raise ValueError(f"`momentum` must be between [0, 1], got {momentum}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _make(self, lr):
        if self.momentum or self.nesterov:
            return MomentumOptimizer(lr, self.momentum, use_nesterov=self.nesterov,
                                     name=self._name)
        return GradientDescentOptimizer(lr, name=self._name)


class Adam(OptimizerV2):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name="Adam", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        if amsgrad:
            raise NotImplementedError("Adam(amsgrad=True) is not supported by graphc's Keras")
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _make(self, lr):
        return adaptive.AdamOptimizer(lr, self.beta_1, self.beta_2, self.epsilon,
                                      name=self._name)


class RMSprop(OptimizerV2):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, name="RMSprop", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.rho, self.momentum, self.epsilon = rho, momentum, epsilon
        self.centered = bool(centered)

    def _make(self, lr):
        return _RMSprop(lr, self.rho, self.momentum, self.epsilon, self.centered)


class Adagrad(OptimizerV2):
    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 name="Adagrad", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def _make(self, lr):
        return _Adagrad(lr, self.initial_accumulator_value, self.epsilon)


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier):
    """A name ('sgd', 'adam', 'rmsprop', 'adagrad') or an optimizer instance. A tf.train
    optimizer is taken as is (its learning rate is then fixed)."""
    if isinstance(identifier, (OptimizerV2, Optimizer)):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"Unknown optimizer: {identifier!r}; expected an optimizer instance or "
                     f"one of {sorted(_BY_NAME)} (at {user_location()})")
