"""Adaptive optimizers with TF1's update rules: Adam, AdamW, RMSProp, Adagrad.

Each `_apply_dense` transcribes the published formula; tests check them step by step
against a numpy transcription of the same formula.
"""

from __future__ import annotations

from graphc.ops import math_ops as M
from graphc.ops.array_ops import fill
from graphc.ops.control_flow_ops import control_dependencies, group
from graphc.ops.tensor import constant
from graphc.train.optimizer import Optimizer


class AdamOptimizer(Optimizer):
    """Kingma & Ba, as TF1 computes it:
        lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
        m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
        var -= lr_t * m / (sqrt(v) + epsilon)
    beta1^t and beta2^t are variables (beta1_power, beta2_power) advanced after each step."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 use_locking=False, name="Adam"):
        super().__init__(use_locking, name)
        self._lr, self._beta1, self._beta2, self._eps = learning_rate, beta1, beta2, epsilon

    def _create_slots(self, var):
        self._slot(var, "m")
        self._slot(var, "v")

    def _create_non_slots(self, var_list):
        dtype = var_list[0].dtype
        self._non_slot_variable("beta1_power", constant(self._beta1, dtype))
        self._non_slot_variable("beta2_power", constant(self._beta2, dtype))

    def _adam_step(self, grad, var):
        b1, b2 = self._as(self._beta1, var), self._as(self._beta2, var)
        b1_power = self._as(self._non_slot["beta1_power"], var)
        b2_power = self._as(self._non_slot["beta2_power"], var)
        lr_t = self._as(self._lr, var) * M.sqrt(1 - b2_power) / (1 - b1_power)
        m, v = self._slot(var, "m"), self._slot(var, "v")
        m_t = m.assign(b1 * m + (1 - b1) * grad)
        v_t = v.assign(b2 * v + (1 - b2) * grad * grad)
        return lr_t * m_t / (M.sqrt(v_t) + self._as(self._eps, var))

    def _apply_dense(self, grad, var):
        return var.assign_sub(self._adam_step(grad, var))

    def _finish(self, updates):
        b1_power, b2_power = self._non_slot["beta1_power"], self._non_slot["beta2_power"]
        with control_dependencies(updates):
            advance = [b1_power.assign(b1_power * self._beta1),
                       b2_power.assign(b2_power * self._beta2)]
        return group(*updates, *advance, name="apply")


class AdamWOptimizer(AdamOptimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter), in TF's form:
        var -= weight_decay * var + adam_step
    The decay is not scaled by the learning rate; schedule it alongside the rate if needed."""

    def __init__(self, weight_decay, learning_rate=0.001, beta1=0.9, beta2=0.999,
                 epsilon=1e-8, use_locking=False, name="AdamW"):
        super().__init__(learning_rate, beta1, beta2, epsilon, use_locking, name)
        self._weight_decay = weight_decay

    def _apply_dense(self, grad, var):
        decay = self._as(self._weight_decay, var) * var
        return var.assign_sub(decay + self._adam_step(grad, var))


class RMSPropOptimizer(Optimizer):
    """Hinton's RMSProp, as TF1 computes it (the ms slot starts at ones):
        ms = decay ms + (1 - decay) g^2
        centered: mg = decay mg + (1 - decay) g;  denom = ms - mg^2  (else denom = ms)
        mom = momentum mom + lr g / sqrt(denom + epsilon);  var -= mom"""

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10,
                 use_locking=False, centered=False, name="RMSProp"):
        super().__init__(use_locking, name)
        self._lr, self._decay, self._momentum = learning_rate, decay, momentum
        self._eps, self._centered = epsilon, centered

    def _create_slots(self, var):
        self._slot(var, "rms", fill(var.shape.as_list(), constant(1, var.dtype)))
        self._slot(var, "momentum")
        if self._centered:
            self._slot(var, "mg")

    def _apply_dense(self, grad, var):
        return self._step(grad, var, self._mean_square(grad, var))

    def _mean_square(self, grad, var):
        """The updated ms (centered: ms - mg^2), the slots' assignments in it."""
        rho = self._as(self._decay, var)
        ms = self._slot(var, "rms")
        ms_t = ms.assign(rho * ms + (1 - rho) * grad * grad)
        if not self._centered:
            return ms_t
        mg = self._slot(var, "mg")
        mg_t = mg.assign(rho * mg + (1 - rho) * grad)
        return ms_t - mg_t * mg_t

    def _step(self, grad, var, denom):
        mom = self._slot(var, "momentum")
        step = self._as(self._lr, var) * grad / M.sqrt(denom + self._as(self._eps, var))
        mom_t = mom.assign(self._as(self._momentum, var) * mom + step)
        return var.assign_sub(mom_t)


class AdagradOptimizer(Optimizer):
    """Duchi et al.: accum += g^2; var -= lr g / sqrt(accum) (accum starts at 0.1, as TF1)."""

    def __init__(self, learning_rate, initial_accumulator_value=0.1, use_locking=False,
                 name="Adagrad"):
        super().__init__(use_locking, name)
        if initial_accumulator_value <= 0:
            raise ValueError(f"initial_accumulator_value must be positive: "
                             f"{initial_accumulator_value}")
        self._lr, self._initial = learning_rate, initial_accumulator_value

    def _create_slots(self, var):
        self._slot(var, "accumulator", fill(var.shape.as_list(),
                                             constant(self._initial, var.dtype)))

    def _apply_dense(self, grad, var):
        accum = self._slot(var, "accumulator")
        accum_t = accum.assign_add(grad * grad)
        return var.assign_sub(self._as(self._lr, var) * grad / M.sqrt(accum_t))
