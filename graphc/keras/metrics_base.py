"""The tf.keras.metrics Metric base class and the reducing metrics (TF 1.15, graph mode).

A Metric holds its state in zero-initialized local variables (collections LOCAL_VARIABLES
and METRIC_VARIABLES, named `<metric name>/<weight>`), so `tf.local_variables_initializer()`
or `tf.variables_initializer(metric.variables)` starts it and `reset_states()` zeroes it
through Keras's session. In graph mode:

    update_op = metric.update_state(y_true, y_pred, sample_weight)   # an op: run per batch
    value = metric.result()                                          # a tensor: read it
    value = metric(y_true, y_pred)      # both: the result read after the update

`result()` reads the variables with `read_value()`, so under a control dependency on the
update (as `__call__` builds it) it sees the updated state within the same run.

Shapes follow Keras's `squeeze_or_expand_dimensions`: y_pred of shape [N, 1] meets y_true of
shape [N] (the trailing 1 is dropped), and sample weights one rank short of the values are
expanded on the last axis, one rank long squeezed, then broadcast to the values.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError, user_location
from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.keras import backend
from graphc.layers.base import to_snake_case, unique_layer_name
from graphc.metrics.state import broadcast_weights, div_no_nan, metric_variable
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops.control_flow_ops import control_dependencies, group
from graphc.ops.tensor import convert_to_tensor


def metric_error(metric, message: str, kind=ValueError) -> Exception:
    return kind(f"metric '{metric}': {message} (at {user_location()})")


# --- Keras's shape rules ------------------------------------------------------------------------
def squeeze_pair(y_pred, y_true):
    """(y_pred, y_true) with a trailing dimension of 1 dropped from the longer one when their
    ranks differ by one (Keras's squeeze_or_expand_dimensions without weights)."""
    pr, tr = y_pred.shape.ndims, y_true.shape.ndims
    if pr is None or tr is None:
        return y_pred, y_true
    if pr - tr != 1 or y_pred.shape.dims[-1] == 1:
        if pr - tr == 1 and y_pred.shape.dims[-1] == 1:
            y_pred = A.squeeze(y_pred, [-1])
        elif tr - pr == 1 and y_true.shape.dims[-1] == 1:
            y_true = A.squeeze(y_true, [-1])
    return y_pred, y_true


def match_weights(values, weights, metric: str):
    """Weights one rank longer than `values` lose their last axis, one rank shorter gain one
    (a scalar stays a scalar); weights that still outrank the values are an error."""
    wr, vr = weights.shape.ndims, values.shape.ndims
    if not wr or vr is None:
        return weights
    if wr - vr == 1 and weights.shape.dims[-1] in (1, None):
        weights = A.squeeze(weights, [-1])
    elif vr - wr == 1:
        weights = A.expand_dims(weights, -1)
    if weights.shape.ndims > vr:
        raise metric_error(metric, f"sample_weight of shape {weights.shape} does not fit "
                                   f"values of shape {values.shape} (the per-sample values "
                                   "have fewer dimensions than the weights)")
    return weights


# --- the base class -------------------------------------------------------------------------------
class Metric:
    """Base of the Keras metrics: subclasses create their state with add_weight (in
    __init__, or at the first update when it depends on the data's shape) and define
    update_state(...) -> op and result() -> tensor."""

    def __init__(self, name=None, dtype=None, **kwargs):
        unknown = set(kwargs) - {"trainable"}
        if unknown:
            raise TypeError(f"{type(self).__name__}: keyword argument(s) not understood: "
                            f"{sorted(unknown)}")
        base = to_snake_case(type(self).__name__)
        self._name = str(name) if name else unique_layer_name(base)
        self._dtype = dtypes.as_dtype(dtype or backend.floatx())
        self._variables: list = []
        self._scope = None  # the variables' name scope ("auc/"), fixed by the first weight

    @property
    def name(self) -> str:
        return self._name

    @property
    def dtype(self) -> str:
        return self._dtype.name

    @property
    def variables(self) -> list:
        return list(self._variables)

    weights = non_trainable_weights = non_trainable_variables = variables

    @property
    def trainable_weights(self) -> list:
        return []

    def add_weight(self, name, shape=(), dtype=None, initializer=None, **kwargs):
        """A local variable `<metric>/<name>` of zeros (or `initializer`'s values), made at
        the graph's root, outside any control dependency."""
        graph = get_default_graph()
        self._check_graph()
        dtype = dtypes.as_dtype(dtype or self._dtype)
        with graph.name_scope(None), graph.control_dependencies(None):
            with graph.name_scope(self._scope or self.name) as scope:
                self._scope = scope
                if initializer in (None, "zeros"):
                    variable = metric_variable(list(shape), dtype, name)
                else:
                    variable = _initialized_variable(name, list(shape), dtype, initializer)
        self._variables.append(variable)
        return variable

    def _check_graph(self) -> None:
        graph = get_default_graph()
        if self._variables and self._variables[0].graph is not graph:
            raise metric_error(self.name, "its variables belong to another graph; make a new "
                                          "metric object for each graph")

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must define result")

    def __call__(self, *args, **kwargs):
        """The update, then the result read after it (one tensor to fetch per batch)."""
        update = self.update_state(*args, **kwargs)
        with control_dependencies([update]):
            return self.result()

    def reset_states(self) -> None:
        """Every state variable back to zero, in Keras's session."""
        backend.batch_set_value([(v, np.zeros(v.shape.as_list(), v.dtype.np))
                                 for v in self._variables])

    reset_state = reset_states

    def _read(self, variable):
        """The variable's value, ordered after the control dependencies in scope."""
        return variable.read_value()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} '{self.name}'>"


def _initialized_variable(name, shape, dtype, initializer):
    from graphc.keras import initializers
    from graphc.metrics.state import METRIC_VARIABLES
    from graphc.ops.variables import GraphKeys, Variable
    init = initializers.get(initializer)
    return Variable(lambda: init(shape, dtype=dtype), trainable=False, name=name,
                    collections=[GraphKeys.LOCAL_VARIABLES, METRIC_VARIABLES])


# --- reducing metrics ---------------------------------------------------------------------------
class Reduce(Metric):
    """total += sum(values * weights); Mean also keeps count += sum(weights) (or the number
    of values) and reports total / count (0 while count is 0)."""

    _mean = True

    def __init__(self, name=None, dtype=None, **kwargs):
        super().__init__(name, dtype, **kwargs)
        self.total = self.add_weight("total")
        self.count = self.add_weight("count") if self._mean else None

    def update_state(self, values, sample_weight=None):
        self._check_graph()
        values = m.cast(convert_to_tensor(values), self._dtype)
        weights = None
        if sample_weight is not None:
            weights = match_weights(values, m.cast(convert_to_tensor(sample_weight),
                                                   self._dtype), self.name)
            try:
                weights = broadcast_weights(weights, values, self.name, self._dtype)
            except ShapeError:
                # Keras: values reduced to the weights' rank when they do not broadcast
                axes = list(range(weights.shape.ndims, values.shape.ndims))
                reduce = m.reduce_mean if self._mean else m.reduce_sum
                values = reduce(values, axis=axes)
            values = values * weights
        update_total = self.total.assign_add(m.reduce_sum(values))
        if not self._mean:
            return update_total
        counted = m.cast(m.size(values), self._dtype) if weights is None else \
            m.reduce_sum(weights)
        return group(update_total, self.count.assign_add(counted))

    def result(self):
        if not self._mean:
            return A.identity(self._read(self.total))
        return div_no_nan(self._read(self.total), self._read(self.count))


class Sum(Reduce):
    """The (weighted) sum of every value seen."""

    _mean = False

    def __init__(self, name="sum", dtype=None, **kwargs):
        super().__init__(name, dtype, **kwargs)


class Mean(Reduce):
    """The (weighted) mean of every value seen."""

    def __init__(self, name="mean", dtype=None, **kwargs):
        super().__init__(name, dtype, **kwargs)


class MeanMetricWrapper(Mean):
    """The mean of `fn(y_true, y_pred, **kwargs)` over the samples seen (weighted)."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", None), dtype)
        self._fn, self._fn_kwargs = fn, kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = m.cast(convert_to_tensor(y_true), self._dtype)
        y_pred = m.cast(convert_to_tensor(y_pred), self._dtype)
        y_pred, y_true = squeeze_pair(y_pred, y_true)
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        return super().update_state(values, sample_weight)

    def get_config(self) -> dict:
        return {**self._fn_kwargs, **super().get_config()}


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of the squared element errors."""

    def __init__(self, name="root_mean_squared_error", dtype=None, **kwargs):
        super().__init__(name, dtype, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = m.cast(convert_to_tensor(y_true), self._dtype)
        y_pred = m.cast(convert_to_tensor(y_pred), self._dtype)
        y_pred, y_true = squeeze_pair(y_pred, y_true)
        return super().update_state(m.square(y_pred - y_true), sample_weight)

    def result(self):
        return m.sqrt(super().result())
