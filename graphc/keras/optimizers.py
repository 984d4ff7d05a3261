"""tf.keras.optimizers: TF 1.15's OptimizerV2 classes, their defaults and formulas.

| class | defaults | update (graphc/keras/update_rules.py, graphc/train/adaptive.py) |
| --- | --- | --- |
| SGD | lr 0.01, momentum 0 | var -= lr g; with momentum Keras's m = momentum m - lr g |
| Adam | lr 0.001, betas 0.9 / 0.999, epsilon 1e-7 | tf.train's formula, bias corrections from t |
| RMSprop | lr 0.001, rho 0.9, epsilon 1e-7 | mean square from zeros, epsilon outside the root |
| Adagrad | lr 0.001, accumulator 0.1, epsilon 1e-7 | epsilon outside the root |
| Adadelta | lr 0.001, rho 0.95, epsilon 1e-7 | TF's ApplyAdadelta |
| Adamax | lr 0.001, betas 0.9 / 0.999, epsilon 1e-7 | TF's ApplyAdaMax |
| Nadam | lr 0.001, betas 0.9 / 0.999, epsilon 1e-7 | momentum schedule with a momentum cache |
| AdamW | lr 0.001, weight_decay 0.004 | Keras 3's: var -= var wd lr, then Adam |

Every optimizer owns, per graph, an int64 `iterations` variable (the steps applied) and, for
a numeric learning rate, a learning-rate variable (`optimizer.lr`) that callbacks set
between steps without rebuilding the step. A LearningRateSchedule is instead evaluated at
`iterations` inside the step. `decay` divides the rate by (1 + decay * iterations).
Gradients are clipped in apply_gradients (so custom loops clip too): each by its norm
(clipnorm), all by their global norm (global_clipnorm), then each element (clipvalue).
"""

from __future__ import annotations

import re
import weakref

from graphc.errors import user_location
from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.keras import backend, schedules  # schedules: tf.keras.optimizers.schedules too
from graphc.keras import update_rules as rules
from graphc.ops import math_ops as M
from graphc.ops.gradients import gradients
from graphc.ops.tensor import constant
from graphc.ops.variables import GraphKeys, Variable
from graphc.train.clip import clip_by_global_norm, clip_by_norm
from graphc.train.optimizer import GradientDescentOptimizer, Optimizer

_CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")


class _GraphState:
    """What an optimizer holds in one graph: its variables and its update rule."""

    def __init__(self, lr_var, iterations):
        self.lr_var, self.iterations, self.rule = lr_var, iterations, None


def _epsilon(value):
    return backend.epsilon() if value is None else value


class OptimizerV2:
    """Base: hyperparameters, the per-graph variables, clipping, and the step through
    one update rule (a graphc tf.train optimizer) per graph."""

    _defaults = {"learning_rate": 0.001}

    def __init__(self, learning_rate=None, name=None, **kwargs):
        lr = kwargs.pop("lr", None)  # Keras's former name
        for key, value in kwargs.items():
            if key not in ("decay",) + _CLIPS:
                raise TypeError(f"Unexpected keyword argument passed to optimizer "
                                f"{type(self).__name__}: {key!r}")
            if value is not None and value < 0:
                raise ValueError(f"{type(self).__name__}: expected {key} >= 0, received: "
                                 f"{value}")
        if kwargs.get("clipnorm") is not None and kwargs.get("global_clipnorm") is not None:
            raise ValueError(f"{type(self).__name__}: cannot accept both `clipnorm` and "
                             "`global_clipnorm`, pass one of them")
        self._clips = {k: kwargs.get(k) for k in _CLIPS}
        self._decay = float(kwargs.get("decay") or 0.0)
        value = learning_rate if learning_rate is not None else lr
        self._set_rate(self._defaults["learning_rate"] if value is None else value)
        self._name = name or type(self).__name__
        self._graphs: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    def _set_rate(self, value) -> None:
        if isinstance(value, schedules.LearningRateSchedule):
            self._schedule, self._initial_lr = value, None
        elif callable(value):
            raise TypeError(f"{type(self).__name__}: learning_rate must be a number or a "
                            f"tf.keras.optimizers.schedules.LearningRateSchedule, got {value!r}")
        else:
            self._schedule, self._initial_lr = None, float(value)

    # --- per-graph variables ------------------------------------------------------------
    def _state(self, graph=None) -> _GraphState:
        """The optimizer's variables in `graph` (default: the default graph), created on
        first use outside any name scope or control dependency."""
        graph = graph or get_default_graph()
        state = self._graphs.get(graph)
        if state is None:
            with graph.name_scope(None), graph.control_dependencies(None):
                lr_var = None
                if self._schedule is None:
                    lr_var = Variable(constant(self._initial_lr), trainable=False,
                                      name=f"{self._name}/learning_rate",
                                      collections=[GraphKeys.GLOBAL_VARIABLES])
                iterations = Variable(constant(0, dtypes.int64), trainable=False,
                                      name=f"{self._name}/iter",
                                      collections=[GraphKeys.GLOBAL_VARIABLES])
            state = self._graphs[graph] = _GraphState(lr_var, iterations)
        return state

    def _lr_variable(self):
        """The learning-rate variable of the default graph (None for a schedule)."""
        return self._state().lr_var

    @property
    def iterations(self):
        """The int64 variable counting the steps applied in the default graph."""
        return self._state().iterations

    @property
    def learning_rate(self):
        """The schedule, else the variable once the optimizer has one in the default graph
        (read or set it with tf.keras.backend.get_value / set_value), else the number."""
        if self._schedule is not None:
            return self._schedule
        state = self._graphs.get(get_default_graph())
        return state.lr_var if state is not None else self._initial_lr

    @learning_rate.setter
    def learning_rate(self, value):
        switching = isinstance(value, schedules.LearningRateSchedule) or \
            self._schedule is not None
        if switching and len(self._graphs):
            raise ValueError(f"{self._name}: cannot replace the learning rate with "
                             f"{value!r} once the training step is built: a schedule is "
                             "part of the step. Set it before compiling, or set a number "
                             "on an optimizer made with a number")
        self._set_rate(value)
        for state in list(self._graphs.values()):
            backend.set_value(state.lr_var, self._initial_lr)

    lr = learning_rate

    def _decayed_lr(self, state):
        """This step's learning rate, a scalar tensor."""
        if self._schedule is not None:
            lr = self._schedule(state.iterations)
        else:
            lr = state.lr_var.value()
        if self._decay > 0:
            lr = lr / (1.0 + self._decay * M.cast(state.iterations, lr.dtype))
        return lr

    # --- the step -----------------------------------------------------------------------
    def _make(self, lr, iterations) -> Optimizer:
        """The update rule, given the rate tensor and the iterations variable."""
        raise NotImplementedError

    def get_gradients(self, loss, params) -> list:
        """The gradients of loss for params; an error names the first without one."""
        grads = gradients(loss, params)
        for g, p in zip(grads, params):
            if g is None:
                raise ValueError(f"{self._name}: variable {p.name} has None for gradient. "
                                 "Please make sure that all of your ops have a gradient "
                                 "defined (i.e. are differentiable). Common ops without "
                                 "gradient: K.argmax, K.round, K.eval.")
        return grads

    def _clip(self, grads) -> list:
        clipnorm, clipvalue, global_clipnorm = (self._clips[k] for k in _CLIPS)
        if clipnorm is not None:
            grads = [clip_by_norm(g, clipnorm) for g in grads]
        if global_clipnorm is not None:
            grads, _ = clip_by_global_norm(grads, global_clipnorm)
        if clipvalue is not None:
            grads = [M.clip_by_value(g, -clipvalue, clipvalue) for g in grads]
        return grads

    def apply_gradients(self, grads_and_vars, name=None):
        """One op: the (clipped) updates of every (gradient, variable) pair whose
        gradient is not None, then iterations += 1."""
        pairs = list(grads_and_vars)
        kept = [(g, v) for g, v in pairs if g is not None]
        if not kept:
            raise ValueError(f"{self._name}: no gradients provided for any variable: "
                             f"{[v.name for _, v in pairs]} (at {user_location()})")
        graph = get_default_graph()
        state = self._state(graph)
        if state.rule is None:
            with graph.name_scope(None), graph.control_dependencies(None):
                state.rule = self._make(self._decayed_lr(state), state.iterations)
        grads = self._clip([g for g, _ in kept])
        return state.rule.apply_gradients(zip(grads, [v for _, v in kept]),
                                          global_step=state.iterations, name=name)

    def minimize(self, loss, var_list, grad_loss=None, name=None):
        """One op: gradients of `loss` for `var_list`, then apply_gradients."""
        var_list = list(var_list() if callable(var_list) else var_list)
        with get_default_graph().name_scope("training"):
            grads = gradients(loss, var_list, grad_ys=grad_loss)
            return self.apply_gradients(zip(grads, var_list), name=name)

    # --- slots and weights --------------------------------------------------------------
    def _rule(self):
        state = self._graphs.get(get_default_graph())
        return None if state is None else state.rule

    def get_slot_names(self) -> list:
        """The slot names of the update rule ([] before the first step is built)."""
        rule = self._rule()
        return [] if rule is None else rule.get_slot_names()

    def get_slot(self, var, slot_name):
        rule = self._rule()
        slot = None if rule is None else rule.get_slot(var, slot_name)
        if slot is None:
            raise KeyError(f"{self._name}: no slot {slot_name!r} for variable {var.name}; "
                           f"the slots are {self.get_slot_names()}")
        return slot

    @property
    def weights(self) -> list:
        """iterations, then the rule's slot and other variables, in the default graph."""
        state = self._graphs.get(get_default_graph())
        if state is None:
            return []
        return [state.iterations] + ([] if state.rule is None else state.rule.variables())

    def get_weights(self) -> list:
        return backend.batch_get_value(self.weights)

    def set_weights(self, weights) -> None:
        params = self.weights
        if len(params) != len(weights):
            raise ValueError(f"{self._name}: set_weights got {len(weights)} values for "
                             f"{len(params)} weights ({[p.name for p in params]})")
        backend.batch_set_value(zip(params, weights))

    # --- config -------------------------------------------------------------------------
    def _config_lr(self):
        """The schedule's config, else the rate variable's value (callbacks may have set
        it), else the number given."""
        if self._schedule is not None:
            return schedules.serialize(self._schedule)
        states = list(self._graphs.values())
        return float(backend.get_value(states[0].lr_var)) if states else self._initial_lr

    def get_config(self) -> dict:
        config = {"name": self._name, "learning_rate": self._config_lr(), "decay": self._decay}
        config.update({k: v for k, v in self._clips.items() if v is not None})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if "lr" in config:
            config["learning_rate"] = config.pop("lr")
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"],
                                                            custom_objects)
        return cls(**config)


class SGD(OptimizerV2):
    _defaults = {"learning_rate": 0.01}

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        if momentum < 0 or momentum > 1:
            raise ValueError(f"`momentum` must be between [0, 1], got {momentum}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _make(self, lr, iterations):
        if self.momentum:
            return rules.Momentum(lr, iterations, self.momentum, self.nesterov, self._name)
        return GradientDescentOptimizer(lr, name=self._name)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(OptimizerV2):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name="Adam", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, _epsilon(epsilon)
        self.amsgrad = bool(amsgrad)

    def _make(self, lr, iterations):
        return rules.Adam(lr, iterations, self.beta_1, self.beta_2, self.epsilon,
                          self.amsgrad, self._name)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay, as Keras 3's keras.optimizers.AdamW (the same as
    tf.keras 2.11+): before each Adam step, var -= var * weight_decay * lr, with lr this
    step's learning rate (so the decay follows a schedule). Variables named by
    exclude_from_weight_decay are not decayed."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, name="AdamW", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name, **kwargs)
        if not isinstance(weight_decay, (int, float)):
            raise ValueError(f"AdamW: argument `weight_decay` must be a float, received: "
                             f"weight_decay={weight_decay!r}")
        self.weight_decay = float(weight_decay)
        self._excluded_vars, self._excluded_names = [], []

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Leave these variables (or those whose name contains one of var_names as a
        regular expression) undecayed; call it before the training step is built."""
        if len(self._graphs):
            raise ValueError("AdamW: exclude_from_weight_decay must be called before the "
                             "training step is built (before fit or minimize)")
        self._excluded_vars = list(var_list or [])
        self._excluded_names = list(var_names or [])

    def _decays(self, var) -> bool:
        if any(var is v for v in self._excluded_vars):
            return False
        return not any(re.search(name, var.name) for name in self._excluded_names)

    def _make(self, lr, iterations):
        return rules.Adam(lr, iterations, self.beta_1, self.beta_2, self.epsilon,
                          self.amsgrad, self._name, self.weight_decay, self._decays)

    def get_config(self):
        return {**super().get_config(), "weight_decay": self.weight_decay}


class RMSprop(OptimizerV2):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, name="RMSprop", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.rho, self.momentum, self.epsilon = rho, momentum, _epsilon(epsilon)
        self.centered = bool(centered)

    def _make(self, lr, iterations):
        return rules.RMSprop(lr, self.rho, self.momentum, self.epsilon, self.centered,
                             self._name)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(OptimizerV2):
    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 name="Adagrad", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        if initial_accumulator_value < 0:
            raise ValueError(f"Adagrad: initial_accumulator_value must be non-negative: "
                             f"{initial_accumulator_value}")
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = _epsilon(epsilon)

    def _make(self, lr, iterations):
        return rules.Adagrad(lr, self.initial_accumulator_value, self.epsilon, self._name)

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(OptimizerV2):
    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name="Adadelta",
                 **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.rho, self.epsilon = rho, _epsilon(epsilon)

    def _make(self, lr, iterations):
        return rules.Adadelta(lr, self.rho, self.epsilon, name=self._name)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adamax(OptimizerV2):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="Adamax", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, _epsilon(epsilon)

    def _make(self, lr, iterations):
        return rules.Adamax(lr, iterations, self.beta_1, self.beta_2, self.epsilon,
                            self._name)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Nadam(OptimizerV2):
    """TF 1.15's Nadam: `schedule_decay` (0.004) sets the momentum schedule; the learning
    rate is not decayed (TF 1.15 overwrites `decay` with schedule_decay, so `decay=` is
    refused here). TF 1.15 refuses a schedule as the learning rate; graphc takes one."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="Nadam", schedule_decay=0.004, **kwargs):
        if kwargs.get("decay"):
            raise ValueError("Nadam: `decay` is not used by Nadam (its momentum schedule "
                             "decays by `schedule_decay`, 0.004 by default)")
        kwargs.pop("decay", None)
        super().__init__(learning_rate, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, _epsilon(epsilon)
        self.schedule_decay = float(schedule_decay)

    def _make(self, lr, iterations):
        return rules.Nadam(lr, iterations, self.beta_1, self.beta_2, self.epsilon,
                           self.schedule_decay, self._name)

    def get_config(self):
        config = {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                  "epsilon": self.epsilon, "schedule_decay": self.schedule_decay}
        config.pop("decay")
        return config


_BY_NAME = {cls.__name__.lower(): cls for cls in
            (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam)}


def serialize(optimizer: OptimizerV2) -> dict:
    """{'class_name': ..., 'config': optimizer.get_config()}."""
    if not isinstance(optimizer, OptimizerV2):
        raise TypeError(f"serialize takes a tf.keras optimizer, got {optimizer!r}")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config, custom_objects=None) -> OptimizerV2:
    """The optimizer a serialize() dict describes (class names are case-insensitive)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize takes a dict with 'class_name' and 'config', got "
                         f"{config!r} (at {user_location()})")
    classes = {**_BY_NAME, **{k.lower(): v for k, v in (custom_objects or {}).items()}}
    cls = classes.get(str(config["class_name"]).lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer: {config['class_name']!r}; expected one of "
                         f"{sorted(_BY_NAME)} (at {user_location()})")
    return cls.from_config(config.get("config", {}), custom_objects)


def get(identifier):
    """An optimizer instance (returned as is; a tf.train optimizer keeps a fixed learning
    rate), a name ('sgd', 'adam', 'adamw', 'rmsprop', 'adagrad', 'adadelta', 'adamax',
    'nadam': Keras's defaults), or a serialize() dict."""
    if isinstance(identifier, (OptimizerV2, Optimizer)):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"Unknown optimizer: {identifier!r}; expected an optimizer instance, a "
                     f"config dict or one of {sorted(_BY_NAME)} (at {user_location()})")

