"""The Layer base class of tf.layers (TF 1.15's `tf.compat.v1.layers.Layer`) and InputSpec.

A layer is configured by its constructor, creates its variables in `build(input_shape)` the
first time it is called, and computes in `call(inputs, ...)`. TF1's scoping rules:

- `layer.name` is unique per graph among layers of one class ("dense", "dense_1", ...)
  unless `name=` is given.
- At its first call a layer opens the variable scope `<current scope>/<name>` (made unique by
  the scope's default-name counter, or taken as is under `_reuse`) and remembers it with the
  name scope opened beside it. Variables are `get_variable`s in that scope (`dense/kernel`);
  ops are built in that name scope (`dense/MatMul`, then `dense/MatMul_1`).
- Calling the layer again re-enters the scope with reuse=True: the same variables.
  A functional form (`tf.layers.dense(..., name="fc", reuse=True)`) shares by name.
- Regularization penalties of new variables go to `layer.losses` and to
  GraphKeys.REGULARIZATION_LOSSES; updates (batch norm's moving averages) to
  `layer.updates` and GraphKeys.UPDATE_OPS.

The class is kept free of tf.layers-only policy where it costs nothing: a Keras face can
override `_open_scope` (Keras names variables by name scope) and reuse the rest.
"""

from __future__ import annotations

import re
import weakref

import numpy as np

from graphc.errors import ShapeError
from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.layers.utils import layer_error, serialize
from graphc.ops import array_ops as A
from graphc.ops import math_ops as m
from graphc.ops import nest
from graphc.ops.tensor import TensorShape, convert_to_tensor
from graphc.ops.variables import GraphKeys, get_variable, global_variables, variable_scope

# graph -> {base name: how many layers took it}; weak, so a dropped graph frees its entry
_LAYER_NAME_COUNTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

_ALLOWED_KWARGS = {"_scope", "_reuse", "input_shape", "batch_input_shape", "batch_size",
                   "weights", "activity_regularizer", "autocast"}


def to_snake_case(name: str) -> str:
    """'Conv2DTranspose' -> 'conv2d_transpose', as TF names layers after their class."""
    partial = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    snake = re.sub(r"([a-z])([A-Z])", r"\1_\2", partial).lower()
    return snake if snake[0] != "_" else "private" + snake


def unique_layer_name(base: str) -> str:
    """base, base_1, base_2, ... per default graph (Keras's unique_object_name)."""
    counts = _LAYER_NAME_COUNTS.setdefault(get_default_graph(), {})
    counts[base] = counts.get(base, 0) + 1
    return base if counts[base] == 1 else f"{base}_{counts[base] - 1}"


class InputSpec:
    """What a layer accepts: dtype, rank (ndim, min_ndim, max_ndim), a full shape, or the
    sizes of some axes ({axis: size}, negative axes counting from the end)."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None,
                 axes=None):
        self.dtype = None if dtype is None else dtypes.as_dtype(dtype)
        self.shape = None if shape is None else tuple(shape)
        self.ndim = len(self.shape) if shape is not None else ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.axes = dict(axes or {})

    def __repr__(self) -> str:
        parts = [f"{k}={v}" for k, v in (("dtype", self.dtype), ("shape", self.shape),
                                         ("ndim", self.ndim), ("max_ndim", self.max_ndim),
                                         ("min_ndim", self.min_ndim), ("axes", self.axes))
                 if v]
        return f"InputSpec({', '.join(parts)})"


def assert_input_compatibility(specs, inputs, layer: str) -> None:
    """Raise ShapeError (a ValueError) naming the layer, what it expects and the shape it
    got, when an input does not meet its spec."""
    if specs is None:
        return
    specs = nest.flatten(specs)
    inputs = nest.flatten(inputs)
    if len(specs) != len(inputs):
        raise layer_error(layer, f"expects {len(specs)} input(s), but it received "
                                 f"{len(inputs)} input tensors")
    for i, (spec, x) in enumerate(zip(specs, inputs)):
        if spec is None:
            continue
        shape = x.shape
        rank = shape.ndims
        head = f"Input {i} of layer {layer} is incompatible with the layer:"
        full = f"Full shape received: {shape}"
        if spec.ndim is not None and rank != spec.ndim:
            raise ShapeError(f"{head} expected ndim={spec.ndim}, found ndim={rank}. {full}")
        if spec.max_ndim is not None and rank is not None and rank > spec.max_ndim:
            raise ShapeError(f"{head} expected max_ndim={spec.max_ndim}, found ndim={rank}. "
                             f"{full}")
        if spec.min_ndim is not None and rank is not None and rank < spec.min_ndim:
            raise ShapeError(f"{head} expected min_ndim={spec.min_ndim}, found ndim={rank}. "
                             f"{full}")
        if spec.dtype is not None and x.dtype is not spec.dtype:
            raise ShapeError(f"{head} expected dtype={spec.dtype}, found dtype={x.dtype}")
        if rank is None:
            continue
        for axis, size in spec.axes.items():
            got = shape.dims[axis] if -rank <= axis < rank else "out of range"
            if size is not None and got not in (size, None):
                raise ShapeError(f"{head} expected axis {axis} of input shape to have value "
                                 f"{size} but received input with shape {shape}")
        if spec.shape is not None:
            for want, got in zip(spec.shape, shape.dims):
                if want is not None and got is not None and want != got:
                    raise ShapeError(f"{head} expected shape={spec.shape}, found shape="
                                     f"{shape}")


class Layer:
    """Base class of tf.layers: subclasses define build(input_shape) and call(inputs)."""

    def __init__(self, trainable=True, name=None, dtype=None, **kwargs):
        unknown = set(kwargs) - _ALLOWED_KWARGS
        if unknown:
            raise TypeError(f"{type(self).__name__}: keyword argument(s) not understood: "
                            f"{sorted(unknown)}")
        self.trainable = bool(trainable)
        self.built = False
        self.input_spec = None
        self.supports_masking = False
        self._dtype = None if dtype is None else dtypes.as_dtype(dtype)
        self._reuse = kwargs.get("_reuse")
        self._activity_regularizer = kwargs.get("activity_regularizer")
        self._trainable_weights, self._non_trainable_weights = [], []
        self._losses, self._updates = [], []  # updates: (tensor, inputs or None) pairs
        self._call_inputs = None  # the input of the call in progress (for add_update)
        self._scope = None  # the VariableScope, fixed at the first call
        self._name_scope = None  # the name scope opened beside it, "dense/"
        base = to_snake_case(type(self).__name__)
        if name:
            self._name, self._base_name = str(name), str(name)
        else:
            self._name, self._base_name = unique_layer_name(base), base
        scope = kwargs.get("_scope")
        if scope:
            self._open_scope(scope)

    # --- identity and weights --------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def dtype(self):
        return self._dtype

    @property
    def scope_name(self) -> str:
        if self._scope is None:
            raise ValueError(f"No name available for layer scope because the layer "
                             f"'{self._name}' has not been used yet. The scope name is "
                             "determined the first time the layer instance is called.")
        return self._scope.name

    @property
    def activity_regularizer(self):
        return self._activity_regularizer

    @property
    def trainable_weights(self) -> list:
        return list(self._trainable_weights) if self.trainable else []

    @property
    def non_trainable_weights(self) -> list:
        if self.trainable:
            return list(self._non_trainable_weights)
        return self._trainable_weights + self._non_trainable_weights

    @property
    def weights(self) -> list:
        return self.trainable_weights + self.non_trainable_weights

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    @property
    def losses(self) -> list:
        return list(self._losses)

    @property
    def updates(self) -> list:
        return [u for u, _ in self._updates]

    def get_updates_for(self, inputs) -> list:
        """The updates of calls on `inputs` (None: those made without an input)."""
        return [u for u, x in self._updates if x is inputs or (inputs is not None and
                                                               x is not None and
                                                               x.node is inputs.node)]

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on {self.name}, but the "
                             "layer isn't built. Call the layer on an input first.")
        return int(sum(np.prod(v.shape.as_list(), dtype=np.int64) for v in self.weights))

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": None if self._dtype is None else self._dtype.name}
        if self._activity_regularizer is not None:
            config["activity_regularizer"] = serialize(self._activity_regularizer)
        return config

    # --- scopes ---------------------------------------------------------------------------
    def _open_scope(self, scope=None) -> None:
        """Fix the layer's variable scope and name scope (once): `scope` as given, else a
        fresh default-named one; under `_reuse`, the layer's name as is."""
        if self._scope is not None:
            return
        graph = get_default_graph()
        if self._reuse:
            opened = variable_scope(scope if scope is not None else self._base_name)
        else:
            opened = variable_scope(scope, default_name=self._base_name)
        with opened as captured:
            self._scope = captured
            self._name_scope = graph.current_scope + "/"

    def _in_scope(self, reuse):
        """Re-enter the layer's variable scope (with `reuse`), its names unchanged."""
        return variable_scope(self._scope, reuse=reuse, auxiliary_name_scope=False,
                              initializer=self._scope.initializer,
                              regularizer=self._scope.regularizer, dtype=self._scope.dtype)

    # --- building blocks for subclasses ----------------------------------------------------
    def add_weight(self, name, shape, dtype=None, initializer=None, regularizer=None,
                   trainable=None, constraint=None, partitioner=None, use_resource=None,
                   synchronization=None, aggregation=None, **kwargs):
        """The variable `<layer scope>/<name>`: created, or the existing one when the layer
        is built or reuses; a regularizer's penalty is added once, for a new variable.
        A constraint becomes the variable's: tf.train's optimizers apply it after each
        update, as TF1's do."""
        for key in kwargs:
            if key not in ("experimental_autocast", "getter"):
                raise TypeError(f"add_weight: unknown keyword argument {key!r}")
        trainable = True if trainable is None else bool(trainable)
        dtype = dtypes.as_dtype(dtype) if dtype is not None else (self._dtype or
                                                                     dtypes.float32)
        self._open_scope()
        graph = get_default_graph()
        existing = set(map(id, global_variables()))
        with self._in_scope(self.built or self._reuse):
            with graph.name_scope(self._name_scope):
                variable = get_variable(name, shape, dtype=dtype, initializer=initializer,
                                        trainable=trainable and self.trainable,
                                        constraint=constraint)
                if regularizer is not None and id(variable) not in existing:
                    with graph.name_scope(f"{name}/Regularizer"):
                        self.add_loss(regularizer(variable))
        if trainable and self.trainable:
            self._trainable_weights.append(variable)
        else:
            self._non_trainable_weights.append(variable)
        return variable

    def add_loss(self, losses, inputs=None) -> None:
        """Record penalties (None entries skipped) here and in REGULARIZATION_LOSSES."""
        graph = get_default_graph()
        for loss in nest.flatten(losses):
            if loss is None:
                continue
            loss = convert_to_tensor(loss)
            self._losses.append(loss)
            graph.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)

    def add_update(self, updates, inputs=None) -> None:
        """Record state updates (UPDATE_OPS receives them when the call returns)."""
        owner = None if inputs is None or inputs is True else inputs
        if inputs is True:
            owner = self._call_inputs
        for update in nest.flatten(updates):
            self._updates.append((update, owner))

    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs, **kwargs):
        return inputs

    def compute_output_shape(self, input_shape):
        raise NotImplementedError(f"{type(self).__name__}.compute_output_shape")

    # --- calling --------------------------------------------------------------------------
    def __call__(self, inputs, *args, **kwargs):
        """Build on the first call (under the layer's scopes), check the inputs against
        input_spec, call, and publish new updates to GraphKeys.UPDATE_OPS."""
        scope = kwargs.pop("scope", None)
        inputs = nest.map_structure(convert_to_tensor, inputs)
        first = nest.flatten(inputs)[0]
        self._open_scope(scope)
        graph = get_default_graph()
        before = len(self._updates)
        with self._in_scope(True if self.built else self._reuse):
            with graph.name_scope(self._name_scope):
                assert_input_compatibility(self.input_spec, inputs, self.name)
                if self._dtype is None:
                    self._dtype = first.dtype  # TF1's "infer" policy
                inputs = nest.map_structure(self._cast_input, inputs)
                if not self.built:
                    shapes = nest.map_structure(lambda x: x.shape, inputs)
                    self.build(shapes)
                    self.built = True
                self._call_inputs = nest.flatten(inputs)[0]
                outputs = self.call(inputs, *args, **kwargs)
                if outputs is None:
                    raise layer_error(self.name, "call returned None; a layer must return "
                                                 "its output tensor(s)")
                if self._activity_regularizer is not None:
                    self._regularize_activity(outputs)
        collection = graph.get_collection_ref(GraphKeys.UPDATE_OPS)
        for update, _ in self._updates[before:]:
            if not any(update is u for u in collection):
                collection.append(update)
        return outputs

    apply = __call__

    def _cast_input(self, x):
        """A floating layer casts numeric inputs of another dtype to its own (fed float64,
        a float32 layer computes in float32 rather than promoting its weights)."""
        if self._dtype.kind == "f" and x.dtype.kind in "fiu" and x.dtype is not self._dtype:
            return m.cast(x, self._dtype)
        return x

    def _regularize_activity(self, outputs) -> None:
        """The activity penalty of each output, divided by the batch size (as Keras)."""
        with get_default_graph().name_scope("ActivityRegularizer"):
            for out in nest.flatten(outputs):
                penalty = convert_to_tensor(self._activity_regularizer(out))
                batch = m.cast(A.shape(out)[0], penalty.dtype)
                self.add_loss(m.truediv(penalty, batch), inputs=out)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} '{self.name}'>"


def input_shape_of(input_shape) -> TensorShape:
    """A TensorShape of known rank from what build/compute_output_shape receives."""
    shape = TensorShape(input_shape)
    if shape.ndims is None:
        raise ShapeError(f"a layer needs inputs of known rank, got shape {shape}")
    return shape


def functional(cls, doc: str):
    """tf.layers' function for a layer class that owns variables: build the layer with its
    variable scope named `name` (shared under reuse=True or tf.AUTO_REUSE) and apply it
    once to `inputs`. Other arguments are the class's, in its order."""
    def apply(inputs, *args, name=None, reuse=None, **kwargs):
        return cls(*args, name=name, _scope=name, _reuse=reuse, **kwargs).apply(inputs)
    apply.__name__ = apply.__qualname__ = to_snake_case(cls.__name__)
    apply.__doc__ = doc
    return apply
