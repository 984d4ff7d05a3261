"""What every tf.contrib.layers function shares: its variable scope, the tf.layers classes
under contrib's variable names, the collections its variables and outputs join, and the
normalizer-then-activation tail.

A contrib layer opens `variable_scope(scope, default_name=<contrib name>, reuse=reuse)` and
builds the tf.layers class inside it, taking that scope as the layer's own: so a contrib
fully_connected makes `fully_connected/weights` where tf.layers.dense makes `dense/kernel`,
with one implementation of the math (graphc/layers).
"""

from __future__ import annotations

from graphc import layers as core
from graphc.contrib.framework import add_model_variable
from graphc.errors import user_location
from graphc.framework.graph import get_default_graph
from graphc.ops.variables import get_variable_scope, global_variables, variable_scope

# tf.layers' variable names -> contrib's
RENAMES = {"kernel": "weights", "bias": "biases", "depthwise_kernel": "depthwise_weights",
           "pointwise_kernel": "pointwise_weights"}


class ContribFace:
    """Mixin, listed before a tf.layers class: the enclosing variable scope is the layer's
    scope (no scope of its own), variables take contrib's names, and new ones join
    MODEL_VARIABLES (TF's model_variable)."""

    def _open_scope(self, scope=None) -> None:
        if self._scope is None:
            self._scope = get_variable_scope()
            self._name_scope = get_default_graph().current_scope + "/"

    def add_weight(self, name, shape, **kwargs):
        before = {id(v) for v in global_variables()}
        variable = super().add_weight(RENAMES.get(name, name), shape, **kwargs)
        if id(variable) not in before:
            add_model_variable(variable)
        return variable


class Dense(ContribFace, core.Dense):
    pass


class Conv1D(ContribFace, core.Conv1D):
    pass


class Conv2D(ContribFace, core.Conv2D):
    pass


class Conv3D(ContribFace, core.Conv3D):
    pass


class Conv2DTranspose(ContribFace, core.Conv2DTranspose):
    pass


class SeparableConv2D(ContribFace, core.SeparableConv2D):
    pass


class BatchNormalization(ContribFace, core.BatchNormalization):
    pass


def contrib_scope(scope, default_name: str, reuse=None):
    """TF's `variable_scope(scope, default_name, reuse=reuse)`; reuse needs a named scope."""
    if scope is None and reuse:
        raise ValueError(f"{default_name}: reuse={reuse!r} needs a scope to reuse; pass "
                         f"scope=... (at {user_location()})")
    return variable_scope(scope, default_name=default_name, reuse=reuse)


def as_list(collections) -> list:
    if collections is None:
        return []
    return [collections] if isinstance(collections, str) else list(collections)


def variable_collections(variables_collections, role: str) -> list:
    """The collections for a variable of `role` ('weights', 'biases', 'beta', ...):
    variables_collections is a list for every variable or a dict by role."""
    if isinstance(variables_collections, dict):
        return as_list(variables_collections.get(role))
    return as_list(variables_collections)


def add_to_collections(variable, variables_collections, role: str) -> None:
    """Add `variable` (once) to the collections variables_collections gives `role`."""
    if variable is None:
        return
    graph = get_default_graph()
    for key in variable_collections(variables_collections, role):
        ref = graph.get_collection_ref(key)
        if not any(v is variable for v in ref):
            ref.append(variable)


def collect_outputs(outputs_collections, outputs):
    """Add `outputs` to each of outputs_collections; return it. (TF also records the scope
    name as an alias on the tensor; graphc's tensors carry no aliases.)"""
    graph = get_default_graph()
    for key in as_list(outputs_collections):
        graph.add_to_collection(key, outputs)
    return outputs


def uses_bias(normalizer_fn, biases_initializer) -> bool:
    """A layer has biases only without a normalizer and with an initializer (TF)."""
    return normalizer_fn is None and biases_initializer is not None


def finish(outputs, normalizer_fn, normalizer_params, activation_fn, outputs_collections):
    """normalizer_fn(outputs, **normalizer_params), then activation_fn, then collect."""
    if normalizer_fn is not None:
        outputs = normalizer_fn(outputs, **(normalizer_params or {}))
    if activation_fn is not None:
        outputs = activation_fn(outputs)
    return collect_outputs(outputs_collections, outputs)
