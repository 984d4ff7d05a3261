"""Adaptive optimizers with TF1's update rules: Adam, AdamW, RMSProp, Adagrad, Adadelta,
Ftrl, ProximalGradientDescent, ProximalAdagrad.

Each `_apply_dense` transcribes the formula of TF's kernel (training_ops: ApplyAdam,
ApplyAdadelta, ApplyFtrl / ApplyFtrlV2, ...), in the kernel's order of operations; tests
check them step by step against a numpy transcription of the same formula. Slot names
(get_slot_names) are TF1's.
"""

from __future__ import annotations

from graphc.ops import math_ops as M
from graphc.ops.array_ops import fill, zeros_like
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


class AdadeltaOptimizer(Optimizer):
    """Zeiler's Adadelta, as TF's ApplyAdadelta kernel computes it:
        accum = rho accum + (1 - rho) g^2
        update = sqrt(accum_update + epsilon) / sqrt(accum + epsilon) * g
        var -= lr update
        accum_update = rho accum_update + (1 - rho) update^2
    Slots 'accum' and 'accum_update' start at zeros."""

    _slot_names = ("accum", "accum_update")  # Keras's Adadelta names them differently

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-8, use_locking=False,
                 name="Adadelta"):
        super().__init__(use_locking, name)
        self._lr, self._rho, self._eps = learning_rate, rho, epsilon

    def _create_slots(self, var):
        for slot_name in self._slot_names:
            self._slot(var, slot_name)

    def _apply_dense(self, grad, var):
        rho, eps = self._as(self._rho, var), self._as(self._eps, var)
        accum, accum_update = (self._slot(var, n) for n in self._slot_names)
        accum_t = accum.assign(accum * rho + grad * grad * (1 - rho))
        update = M.sqrt(accum_update + eps) * M.rsqrt(accum_t + eps) * grad
        var_t = var.assign_sub(update * self._as(self._lr, var))
        update_t = accum_update.assign(accum_update * rho + update * update * (1 - rho))
        return group(var_t, update_t)


def _check_non_negative(**values) -> None:
    for name, value in values.items():
        if isinstance(value, (int, float)) and value < 0:
            raise ValueError(f"{name} {value} needs to be positive or zero")


def _shrink(prox, threshold, l2_scale):
    """TF's proximal step for L1 and L2: sign(p) max(|p| - threshold, 0) / (1 + l2_scale)."""
    return M.sign(prox) * M.maximum(M.abs(prox) - threshold, 0) / (1 + l2_scale)


class FtrlOptimizer(Optimizer):
    """FTRL-Proximal (McMahan et al., "Ad Click Prediction"), as TF's ApplyFtrl and (with
    l2_shrinkage_regularization_strength > 0) ApplyFtrlV2 kernels compute it, with
    p = -learning_rate_power (0.5 by default):
        g_s = g + 2 l2_shrinkage var                  (g_s = g without shrinkage)
        accum_new = accum + g^2                       (the plain gradient, in both kernels)
        linear += g_s - (accum_new^p - accum^p) / lr * var
        var = (l1 sign(linear) - linear) / (accum_new^p / lr + 2 l2)  if |linear| > l1
              else 0
        accum = accum_new
    Slots 'accum' (starting at initial_accumulator_value) and 'linear' (zeros)."""

    def __init__(self, learning_rate, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 use_locking=False, name="Ftrl", accum_name=None, linear_name=None,
                 l2_shrinkage_regularization_strength=0.0):
        super().__init__(use_locking, name)
        if isinstance(learning_rate_power, (int, float)) and learning_rate_power > 0:
            raise ValueError(f"learning_rate_power ({learning_rate_power}) must be a "
                             "non-positive number.")
        _check_non_negative(initial_accumulator_value=initial_accumulator_value,
                            l1_regularization_strength=l1_regularization_strength,
                            l2_regularization_strength=l2_regularization_strength,
                            l2_shrinkage_regularization_strength=(
                                l2_shrinkage_regularization_strength))
        self._lr, self._lr_power = learning_rate, learning_rate_power
        self._initial = initial_accumulator_value
        self._l1, self._l2 = l1_regularization_strength, l2_regularization_strength
        self._l2_shrinkage = l2_shrinkage_regularization_strength
        self._slot_op_names = {"accum": accum_name, "linear": linear_name}

    def _create_slots(self, var):
        initial = fill(var.shape.as_list(), constant(self._initial, var.dtype))
        self._named_slot(var, "accum", initial)
        self._named_slot(var, "linear")

    def _named_slot(self, var, slot_name, initial=None):
        """A slot whose variable is named after accum_name / linear_name when given
        (TF1's arguments), else after the optimizer."""
        op_name = self._slot_op_names[slot_name]
        if op_name is None:
            return self._slot(var, slot_name, initial)
        saved, self._name = self._name, op_name
        try:
            return self._slot(var, slot_name, initial)
        finally:
            self._name = saved

    def _power(self, accum, var):
        """accum ^ -learning_rate_power, as a square root for the default -0.5 (TF's kernel
        special-cases it the same way)."""
        if isinstance(self._lr_power, (int, float)) and self._lr_power == -0.5:
            return M.sqrt(accum)
        return M.pow(accum, -self._as(self._lr_power, var))

    def _apply_dense(self, grad, var):
        lr = self._as(self._lr, var)
        l1, l2 = self._as(self._l1, var), self._as(self._l2, var)
        accum, linear = self._slot(var, "accum"), self._slot(var, "linear")
        shrunk = grad
        if not (isinstance(self._l2_shrinkage, (int, float)) and self._l2_shrinkage == 0):
            shrunk = grad + 2 * self._as(self._l2_shrinkage, var) * var
        accum_new = accum + grad * grad
        new_power = self._power(accum_new, var)
        linear_t = linear.assign_add(shrunk - (new_power - self._power(accum, var)) / lr * var)
        quadratic = new_power / lr + 2 * l2
        value = (l1 * M.sign(linear_t) - linear_t) / quadratic
        var_t = var.assign(M.where(M.greater(M.abs(linear_t), l1), value, zeros_like(value)))
        return group(var_t, accum.assign(accum_new))


class ProximalGradientDescentOptimizer(Optimizer):
    """Gradient descent, then the proximal step of l1 |var| + l2/2 var^2 (TF's
    ApplyProximalGradientDescent): p = var - lr g;
    var = sign(p) max(|p| - lr l1, 0) / (1 + lr l2)  (p / (1 + lr l2) when l1 is 0)."""

    def __init__(self, learning_rate, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, use_locking=False,
                 name="ProximalGradientDescent"):
        super().__init__(use_locking, name)
        _check_non_negative(l1_regularization_strength=l1_regularization_strength,
                            l2_regularization_strength=l2_regularization_strength)
        self._lr, self._l1, self._l2 = (learning_rate, l1_regularization_strength,
                                        l2_regularization_strength)

    def _apply_dense(self, grad, var):
        lr = self._as(self._lr, var)
        prox = var - lr * grad
        return var.assign(_proximal(prox, lr, self._as(self._l1, var),
                                    self._as(self._l2, var), self._l1))


def _proximal(prox, lr, l1, l2, l1_value):
    """The kernels' two branches: the soft threshold only when l1 > 0 (a tensor l1 takes
    the thresholded branch, which equals the other at l1 = 0)."""
    if isinstance(l1_value, (int, float)) and l1_value <= 0:
        return prox / (1 + lr * l2)
    return _shrink(prox, lr * l1, lr * l2)


class ProximalAdagradOptimizer(AdagradOptimizer):
    """Adagrad's step size, then the same proximal step (TF's ApplyProximalAdagrad):
        accum += g^2;  rate = lr / sqrt(accum);  p = var - rate g
        var = sign(p) max(|p| - rate l1, 0) / (1 + rate l2)
    Slot 'accumulator' starts at initial_accumulator_value."""

    def __init__(self, learning_rate, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 use_locking=False, name="ProximalAdagrad"):
        super().__init__(learning_rate, initial_accumulator_value, use_locking, name)
        _check_non_negative(l1_regularization_strength=l1_regularization_strength,
                            l2_regularization_strength=l2_regularization_strength)
        self._l1, self._l2 = l1_regularization_strength, l2_regularization_strength

    def _apply_dense(self, grad, var):
        accum = self._slot(var, "accumulator")
        accum_t = accum.assign_add(grad * grad)
        rate = self._as(self._lr, var) * M.rsqrt(accum_t)
        prox = var - grad * rate
        return var.assign(_proximal(prox, rate, self._as(self._l1, var),
                                    self._as(self._l2, var), self._l1))
