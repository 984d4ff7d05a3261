"""The Optimizer base class and the plain first-order methods (SGD, momentum).

An optimizer turns `loss` into one train op: gradients (graph-to-graph, graphc.autodiff)
plus one update per variable, all in the same graph, so `Session.run(train_op)` is a whole
training step: forward, backward and update. Slot variables (momentum accumulators, Adam
moments) are ordinary non-trainable graph variables named `<var>/<Optimizer>[_n]`,
initialized by `global_variables_initializer` like any other.
"""

from __future__ import annotations

from graphc.framework.graph import get_default_graph
from graphc.ops import math_ops as M
from graphc.ops.array_ops import zeros_like
from graphc.ops.control_flow_ops import control_dependencies, group
from graphc.ops.gradients import gradients
from graphc.ops.tensor import Operation, convert_to_tensor
from graphc.ops.variables import GraphKeys, Variable, trainable_variables


class Optimizer:
    """Base class. Subclasses define `_apply_dense(grad, var)` returning the update op."""

    def __init__(self, use_locking: bool = False, name: str = "Optimizer"):
        self._name = name
        self._slots: dict = {}  # slot name -> {var: slot variable}
        self._non_slot: dict = {}

    def get_name(self) -> str:
        return self._name

    # --- the TF1 interface ----------------------------------------------------------------
    def compute_gradients(self, loss, var_list=None, gate_gradients=1, aggregation_method=None,
                          colocate_gradients_with_ops=False, grad_loss=None,
                          stop_gradients=None) -> list:
        """[(gradient or None, variable)] for the trainable variables (or var_list)."""
        var_list = list(var_list) if var_list is not None else trainable_variables()
        if not var_list:
            raise ValueError("No variables to optimize.")
        for v in var_list:
            if not isinstance(v, Variable):
                raise TypeError(f"var_list must hold tf.Variable objects, got {v!r}")
        grads = gradients(loss, var_list, grad_ys=grad_loss, stop_gradients=stop_gradients)
        return list(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars, global_step=None, name=None) -> Operation:
        """One op applying every (gradient, variable) update, then incrementing global_step."""
        grads_and_vars = list(grads_and_vars)  # may be a one-shot iterator such as zip()
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            names = [v.name for _, v in grads_and_vars]
            raise ValueError(f"No gradients provided for any variable, check your graph for "
                             f"ops that do not support gradients, between variables {names} "
                             "and loss.")
        graph = get_default_graph()
        with graph.name_scope(name or self._name) as scope:
            self._prepare()
            with graph.control_dependencies(None):
                for _, v in pairs:
                    self._create_slots(v)
                self._create_non_slots([v for _, v in pairs])
            updates = [_constrained(self._apply_dense(convert_to_tensor(g), v), v)
                       for g, v in pairs]
            finish = self._finish(updates)
            if global_step is not None:
                with control_dependencies([finish]):
                    finish = global_step.assign_add(1)
            # the op returned is named after the scope, as TF1's ("GradientDescent", "Adam")
            return group(finish, name=scope)

    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=1,
                 aggregation_method=None, colocate_gradients_with_ops=False, name=None,
                 grad_loss=None) -> Operation:
        grads_and_vars = self.compute_gradients(loss, var_list, grad_loss=grad_loss)
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)

    # --- slots ----------------------------------------------------------------------------
    def _slot(self, var: Variable, slot_name: str, initial=None) -> Variable:
        """The slot variable `slot_name` of var, created on first use (zeros by default)."""
        per_var = self._slots.setdefault(slot_name, {})
        if var not in per_var:
            value = zeros_like(var.initial_value) if initial is None else initial
            base = var.name[:-2]
            per_var[var] = Variable(value, trainable=False, name=f"{base}/{self._name}/",
                                    dtype=var.dtype, collections=[GraphKeys.GLOBAL_VARIABLES])
        return per_var[var]

    def _non_slot_variable(self, name: str, initial_value) -> Variable:
        if name not in self._non_slot:
            self._non_slot[name] = Variable(initial_value, trainable=False, name=name,
                                            collections=[GraphKeys.GLOBAL_VARIABLES])
        return self._non_slot[name]

    def get_slot(self, var: Variable, name: str):
        return self._slots.get(name, {}).get(var)

    def get_slot_names(self) -> list:
        return sorted(self._slots)

    def variables(self) -> list:
        return [v for slots in self._slots.values() for v in slots.values()] + \
            list(self._non_slot.values())

    # --- hooks for subclasses -------------------------------------------------------------
    def _prepare(self) -> None:
        pass

    def _create_slots(self, var: Variable) -> None:
        pass

    def _create_non_slots(self, var_list) -> None:
        pass

    def _apply_dense(self, grad, var):
        raise NotImplementedError

    def _finish(self, updates) -> Operation:
        return group(*updates, name="apply")

    @staticmethod
    def _as(value, var):
        """A hyperparameter (number or tensor) in the variable's dtype: a Python number goes
        straight to it (not through float32, which would round 0.1 for float64 variables)."""
        if isinstance(value, (int, float)):
            return convert_to_tensor(value, dtype=var.dtype)
        return M.cast(convert_to_tensor(value), var.dtype)


class GradientDescentOptimizer(Optimizer):
    """var -= learning_rate * grad."""

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        super().__init__(use_locking, name)
        self._lr = learning_rate

    def _apply_dense(self, grad, var):
        return var.assign_sub(self._as(self._lr, var) * grad)


class MomentumOptimizer(Optimizer):
    """accum = momentum * accum + grad; var -= lr * accum
    (nesterov: var -= lr * (grad + momentum * accum), with the new accum)."""

    def __init__(self, learning_rate, momentum, use_locking=False, name="Momentum",
                 use_nesterov=False):
        super().__init__(use_locking, name)
        self._lr, self._momentum, self._nesterov = learning_rate, momentum, use_nesterov

    def _create_slots(self, var):
        self._slot(var, "momentum")

    def _apply_dense(self, grad, var):
        lr, mu = self._as(self._lr, var), self._as(self._momentum, var)
        accum = self._slot(var, "momentum")
        accum_t = accum.assign(mu * accum + grad)
        step = grad + mu * accum_t if self._nesterov else accum_t
        return var.assign_sub(lr * step)


def _constrained(update, var):
    """The update, then var's constraint applied to the updated value (TF1's optimizers
    project a variable that has a constraint after each update)."""
    if var.constraint is None:
        return update
    with control_dependencies([update]):
        return var.assign(var.constraint(var.read_value()))
