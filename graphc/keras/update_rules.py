"""The update rules behind tf.keras.optimizers, where Keras's formula is not tf.train's.

Each rule is a graphc tf.train Optimizer (slots, apply_gradients) given the learning rate as
a tensor (the rate variable, or a schedule's value at the step) and the Keras optimizer's
`iterations` variable, from which the bias corrections take the step t = iterations + 1
(TF 1.15's `local_step`). The Keras optimizer increments `iterations` after the updates.
"""

from __future__ import annotations

from graphc.ops import math_ops as M
from graphc.ops.control_flow_ops import control_dependencies, group
from graphc.ops.tensor import constant
from graphc.train import adaptive
from graphc.train.optimizer import Optimizer


class _KerasRule(Optimizer):
    """A rule knowing the optimizer's iterations (an int64 variable)."""

    def __init__(self, lr, iterations, name):
        super().__init__(False, name)
        self._lr, self._iterations = lr, iterations

    def _local_step(self, var, ahead=1):
        """t = iterations + ahead, in the variable's dtype."""
        return M.cast(self._iterations + ahead, var.dtype)


class Momentum(_KerasRule):
    """Keras's SGD with momentum (TF's ApplyKerasMomentum): the accumulator holds
    lr-scaled steps, so a learning rate that changes (a schedule) scales only new steps:
        m = momentum m - lr g;  var += m   (nesterov: var += momentum m - lr g)"""

    def __init__(self, lr, iterations, momentum, nesterov, name):
        super().__init__(lr, iterations, name)
        self._momentum, self._nesterov = momentum, nesterov

    def _create_slots(self, var):
        self._slot(var, "momentum")

    def _apply_dense(self, grad, var):
        lr, mu = self._as(self._lr, var), self._as(self._momentum, var)
        accum = self._slot(var, "momentum")
        accum_t = accum.assign(accum * mu - grad * lr)
        step = accum_t * mu - grad * lr if self._nesterov else accum_t
        return var.assign_add(step)


class Adam(_KerasRule):
    """Keras's Adam (TF 1.15 OptimizerV2; Keras 3 the same), with t = iterations + 1:
        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        amsgrad: vhat = max(vhat, v), used for v below
        var -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon)
    With weight_decay (AdamW, Keras 3's decoupled decay, applied before the step with the
    same rate): var -= var * weight_decay * lr, for the variables `decays(var)` accepts."""

    def __init__(self, lr, iterations, beta_1, beta_2, epsilon, amsgrad, name,
                 weight_decay=None, decays=None):
        super().__init__(lr, iterations, name)
        self._beta_1, self._beta_2, self._eps = beta_1, beta_2, epsilon
        self._amsgrad, self._weight_decay = amsgrad, weight_decay
        self._decays = decays or (lambda var: True)

    def _create_slots(self, var):
        self._slot(var, "m")
        self._slot(var, "v")
        if self._amsgrad:
            self._slot(var, "vhat")

    def _apply_dense(self, grad, var):
        lr = self._as(self._lr, var)
        b1, b2 = self._as(self._beta_1, var), self._as(self._beta_2, var)
        t = self._local_step(var)
        alpha = lr * M.sqrt(1 - M.pow(b2, t)) / (1 - M.pow(b1, t))
        m, v = self._slot(var, "m"), self._slot(var, "v")
        m_t = m.assign(m * b1 + grad * (1 - b1))
        v_t = v.assign(v * b2 + grad * grad * (1 - b2))
        if self._amsgrad:
            vhat = self._slot(var, "vhat")
            v_t = vhat.assign(M.maximum(vhat, v_t))
        step = alpha * m_t / (M.sqrt(v_t) + self._as(self._eps, var))
        if self._weight_decay is not None and self._decays(var):
            step = step + var * self._as(self._weight_decay, var) * lr
        return var.assign_sub(step)


class Adamax(_KerasRule):
    """Adam's infinity-norm variant, as TF's ApplyAdaMax kernel (Keras's Adamax):
        m = b1 m + (1 - b1) g;  v = max(b2 v, |g|)
        var -= lr / (1 - b1^t) * m / (v + epsilon)"""

    def __init__(self, lr, iterations, beta_1, beta_2, epsilon, name):
        super().__init__(lr, iterations, name)
        self._beta_1, self._beta_2, self._eps = beta_1, beta_2, epsilon

    def _create_slots(self, var):
        self._slot(var, "m")
        self._slot(var, "v")

    def _apply_dense(self, grad, var):
        b1, b2 = self._as(self._beta_1, var), self._as(self._beta_2, var)
        m, v = self._slot(var, "m"), self._slot(var, "v")
        m_t = m.assign(m * b1 + grad * (1 - b1))
        v_t = v.assign(M.maximum(v * b2, M.abs(grad)))
        rate = self._as(self._lr, var) / (1 - M.pow(b1, self._local_step(var)))
        return var.assign_sub(rate * (m_t / (v_t + self._as(self._eps, var))))


class Nadam(_KerasRule):
    """Dozat's Nesterov Adam as TF 1.15's Keras computes it, with a momentum schedule
    mu_t = b1 (1 - 0.5 * 0.96^(schedule_decay t)) and its running product, the
    'momentum_cache' (starting at 1, times mu_t each step):
        prod_t = cache mu_t;  prod_next = prod_t mu_{t+1}
        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        m_bar = (1 - mu_t) g / (1 - prod_t) + mu_{t+1} m / (1 - prod_next)
        var -= lr m_bar / (sqrt(v / (1 - b2^t)) + epsilon)"""

    def __init__(self, lr, iterations, beta_1, beta_2, epsilon, schedule_decay, name):
        super().__init__(lr, iterations, name)
        self._beta_1, self._beta_2, self._eps = beta_1, beta_2, epsilon
        self._schedule_decay = schedule_decay
        self._mu_t = None

    def _create_slots(self, var):
        self._slot(var, "m")
        self._slot(var, "v")

    def _create_non_slots(self, var_list):
        self._non_slot_variable("momentum_cache", constant(1.0, var_list[0].dtype))

    def _mu(self, var, ahead):
        decay = self._as(self._schedule_decay, var)
        return self._as(self._beta_1, var) * (1 - 0.5 * M.pow(
            self._as(0.96, var), decay * self._local_step(var, ahead)))

    def _apply_dense(self, grad, var):
        b1, b2 = self._as(self._beta_1, var), self._as(self._beta_2, var)
        mu_t, mu_next = self._mu(var, 1), self._mu(var, 2)
        prod_t = self._as(self._non_slot["momentum_cache"], var) * mu_t
        prod_next = prod_t * mu_next
        self._mu_t = mu_t
        m, v = self._slot(var, "m"), self._slot(var, "v")
        m_t = m.assign(m * b1 + grad * (1 - b1))
        v_t = v.assign(v * b2 + grad * grad * (1 - b2))
        m_bar = (1 - mu_t) * grad / (1 - prod_t) + mu_next * m_t / (1 - prod_next)
        v_hat = v_t / (1 - M.pow(b2, self._local_step(var)))
        return var.assign_sub(self._as(self._lr, var) * m_bar /
                              (M.sqrt(v_hat) + self._as(self._eps, var)))

    def _finish(self, updates):
        cache = self._non_slot["momentum_cache"]
        with control_dependencies(updates):
            advance = cache.assign(cache * M.cast(self._mu_t, cache.dtype))
        return group(*updates, advance, name="apply")


class Adadelta(adaptive.AdadeltaOptimizer):
    """tf.train's Adadelta (the same ApplyAdadelta kernel) under Keras's slot names."""

    _slot_names = ("accum_grad", "accum_var")


class RMSprop(adaptive.RMSPropOptimizer):
    """Keras's RMSprop formula: tf.train's mean square from zeros, a momentum slot only
    with momentum, and without it epsilon outside the root:
        var -= lr g / (sqrt(ms) + eps)"""

    def __init__(self, lr, rho, momentum, epsilon, centered, name):
        super().__init__(lr, rho, momentum, epsilon, centered=centered, name=name)

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


class Adagrad(adaptive.AdagradOptimizer):
    """Keras's Adagrad: epsilon added to the root of the accumulator (which may start at
    0, unlike tf.train's)."""

    def __init__(self, lr, initial_accumulator_value, epsilon, name):
        Optimizer.__init__(self, False, name)
        self._lr, self._initial, self._eps = lr, initial_accumulator_value, epsilon

    def _apply_dense(self, grad, var):
        accum = self._slot(var, "accumulator")
        accum_t = accum.assign_add(grad * grad)
        return var.assign_sub(self._as(self._lr, var) * grad /
                              (M.sqrt(accum_t) + self._as(self._eps, var)))
