"""tf.keras.optimizers.schedules (TF 1.15): learning rates as functions of the step.

A schedule called with a step (a number, or a tensor such as the optimizer's `iterations`)
gives a graph tensor: the tf.train decay of the same name (graphc/train/schedules.py)
evaluated at that step. A Keras optimizer given a schedule as its learning rate calls it
with its `iterations` variable while the training step is built, so the rate changes
inside the compiled step, with no Python between steps. Each schedule is data: get_config
gives its arguments, and serialize / deserialize wrap them with the class name.
"""

from __future__ import annotations

from graphc.train import schedules as decays


class LearningRateSchedule:
    """Base class: subclasses define __call__(step) -> tensor and get_config()."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must define __call__(step)")

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must define get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _positive_steps(owner: str, argument: str, value) -> None:
    if isinstance(value, (int, float)) and value <= 0:
        raise ValueError(f"{owner}: `{argument}` must be positive, got {value}")


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ^ (step / decay_steps) (floored when staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name=None):
        _positive_steps("ExponentialDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.decay_rate, self.staircase, self.name = decay_rate, staircase, name

    def __call__(self, step):
        return decays.exponential_decay(self.initial_learning_rate, step, self.decay_steps,
                                        self.decay_rate, self.staircase,
                                        self.name or "ExponentialDecay")

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[i] while boundaries[i-1] < step <= boundaries[i] (values[0] up to the first
    boundary, values[-1] after the last)."""

    def __init__(self, boundaries, values, name=None):
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"PiecewiseConstantDecay: the length of boundaries should be 1 "
                             f"less than the length of values, got {len(boundaries)} "
                             f"boundaries and {len(values)} values")
        self.boundaries, self.values, self.name = list(boundaries), list(values), name

    def __call__(self, step):
        return decays.piecewise_constant(step, self.boundaries, self.values,
                                         self.name or "PiecewiseConstant")

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """(initial - end) * (1 - step / decay_steps) ^ power + end; with cycle, the decay
    restarts at each multiple of decay_steps."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001,
                 power=1.0, cycle=False, name=None):
        _positive_steps("PolynomialDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.end_learning_rate, self.power, self.cycle = end_learning_rate, power, cycle
        self.name = name

    def __call__(self, step):
        return decays.polynomial_decay(self.initial_learning_rate, step, self.decay_steps,
                                       self.end_learning_rate, self.power, self.cycle,
                                       self.name or "PolynomialDecay")

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps) (the ratio floored
    when staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name=None):
        _positive_steps("InverseTimeDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.decay_rate, self.staircase, self.name = decay_rate, staircase, name

    def __call__(self, step):
        return decays.inverse_time_decay(self.initial_learning_rate, step, self.decay_steps,
                                         self.decay_rate, self.staircase,
                                         self.name or "InverseTimeDecay")

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """A half cosine from initial_learning_rate down to alpha * initial over decay_steps,
    then flat."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None):
        _positive_steps("CosineDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.alpha, self.name = alpha, name

    def __call__(self, step):
        return decays.cosine_decay(self.initial_learning_rate, step, self.decay_steps,
                                   self.alpha, self.name or "CosineDecay")

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decays with warm restarts (SGDR): periods of first_decay_steps * t_mul^i,
    period i starting from initial_learning_rate * m_mul^i."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name=None):
        _positive_steps("CosineDecayRestarts", "first_decay_steps", first_decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps, self.t_mul, self.m_mul = first_decay_steps, t_mul, m_mul
        self.alpha, self.name = alpha, name

    def __call__(self, step):
        return decays.cosine_decay_restarts(self.initial_learning_rate, step,
                                            self.first_decay_steps, self.t_mul, self.m_mul,
                                            self.alpha, self.name or "SGDRDecay")

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


class LinearCosineDecay(LearningRateSchedule):
    """tf.train.linear_cosine_decay as a schedule (TF 1.15 has it as
    tf.keras.experimental.LinearCosineDecay)."""

    def __init__(self, initial_learning_rate, decay_steps, num_periods=0.5, alpha=0.0,
                 beta=0.001, name=None):
        _positive_steps("LinearCosineDecay", "decay_steps", decay_steps)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.num_periods, self.alpha, self.beta, self.name = num_periods, alpha, beta, name

    def __call__(self, step):
        return decays.linear_cosine_decay(self.initial_learning_rate, step, self.decay_steps,
                                          self.num_periods, self.alpha, self.beta,
                                          self.name or "LinearCosineDecay")

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "num_periods": self.num_periods,
                "alpha": self.alpha, "beta": self.beta, "name": self.name}


_CLASSES = {cls.__name__: cls for cls in (
    ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay, InverseTimeDecay, CosineDecay,
    CosineDecayRestarts, LinearCosineDecay)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """{'class_name': ..., 'config': ...}: what optimizers' get_config hold for a schedule."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"serialize takes a LearningRateSchedule, got {schedule!r}")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config, custom_objects=None) -> LearningRateSchedule:
    """The schedule a serialize() dict describes; custom_objects maps the names of
    user-defined schedule classes to the classes."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize takes a dict with 'class_name' and 'config', got "
                         f"{config!r}")
    classes = {**_CLASSES, **(custom_objects or {})}
    cls = classes.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Unknown learning rate schedule: {config['class_name']!r}; "
                         f"expected one of {sorted(classes)} or a class in custom_objects")
    return cls.from_config(config.get("config", {}))
