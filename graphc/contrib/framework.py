"""tf.contrib.framework: arg_scope (TF 1.15 semantics) and the model-variable helpers that
tf.contrib.layers builds on.

arg_scope keeps a stack of {op key: {argument: default}}. `with arg_scope([op, ...], **kw)`
pushes a copy of the innermost scope in which each listed op's defaults are updated with
`kw` (an inner scope overrides an outer one argument by argument); an op decorated with
@add_arg_scope merges the innermost scope's defaults for it under the caller's own keyword
arguments (an explicit argument always wins). Scopes are plain dicts: `with arg_scope(sc):`
re-enters a scope captured earlier (`with arg_scope(...) as sc`).

One difference from TF, on purpose: an argument that a listed op does not accept is refused
when the scope is entered (ValueError naming the op and the argument), where TF fails with a
TypeError only when the op is later called inside the scope.
"""

from __future__ import annotations

import functools
import inspect
import re

from graphc import unsupported as _unsupported
from graphc.errors import user_location
from graphc.framework.graph import get_default_graph
from graphc.ops.variables import VariableScope, get_variable
from graphc.train.schedules import (  # noqa: F401  (tf.contrib.framework re-exports them)
    create_global_step,
    get_global_step,
    get_or_create_global_step,
)

# The scope stack. The bottom entry is the empty scope and is never popped.
_ARG_STACK: list = [{}]
# op key -> the keyword arguments its scope may set (the parameters with defaults, as TF)
_DECORATED_OPS: dict = {}

MODEL_VARIABLES = "model_variables"  # tf.GraphKeys.MODEL_VARIABLES
GLOBAL_VARIABLES = "variables"  # tf.GraphKeys.GLOBAL_VARIABLES


# --- arg_scope ------------------------------------------------------------------------------
def arg_scope_func_key(op):
    """The key of `op` in a scope: the undecorated function (shared by its aliases)."""
    return getattr(op, "_arg_scope_key", op)


def _op_name(op) -> str:
    return f"{getattr(op, '__module__', '?')}.{getattr(op, '__name__', repr(op))}"


def _kwarg_names(func) -> tuple:
    """The parameters of `func` that have defaults, in order (TF's list)."""
    params = inspect.signature(func).parameters.values()
    return tuple(p.name for p in params if p.default is not inspect.Parameter.empty
                 and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def _accepts(func, name: str) -> bool:
    params = inspect.signature(func).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return True
    p = params.get(name)
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


def current_arg_scope() -> dict:
    """The innermost scope: {op key: {argument: default}}."""
    return _ARG_STACK[-1]


def has_arg_scope(func) -> bool:
    return arg_scope_func_key(func) in _DECORATED_OPS


def arg_scoped_arguments(func) -> tuple:
    """The keyword arguments an arg_scope may set for `func`."""
    if not has_arg_scope(func):
        raise ValueError(f"arg_scoped_arguments: {_op_name(func)} is not decorated with "
                         f"@add_arg_scope (at {user_location()})")
    return _DECORATED_OPS[arg_scope_func_key(func)]


def add_arg_scope(func):
    """Decorator: `func` takes its defaults from the enclosing arg_scopes."""
    key = arg_scope_func_key(func)

    @functools.wraps(func)
    def func_with_args(*args, **kwargs):
        scoped = current_arg_scope().get(key)
        if scoped:
            kwargs = {**scoped, **kwargs}  # the caller's own arguments win
        return func(*args, **kwargs)
    _DECORATED_OPS.setdefault(key, _kwarg_names(func))
    func_with_args._arg_scope_key = key
    return func_with_args


def _scope_with(ops, kwargs) -> dict:
    """A copy of the innermost scope with each op's defaults updated by kwargs."""
    if not isinstance(ops, (list, tuple)):
        raise TypeError("arg_scope: list_ops_or_scope must be a list or tuple of ops, or a "
                        f"scope (a dict) to re-enter; got {type(ops).__name__} "
                        f"(at {user_location()})")
    scope = dict(current_arg_scope())
    for op in ops:
        if not has_arg_scope(op):
            raise ValueError(f"arg_scope: {_op_name(op)} is not decorated with "
                             f"@add_arg_scope (at {user_location()})")
        unknown = [k for k in kwargs if not _accepts(op, k)]
        if unknown:
            raise ValueError(f"arg_scope: {_op_name(op)} does not accept the argument(s) "
                             f"{', '.join(map(repr, unknown))}; its scoped arguments are "
                             f"{list(_DECORATED_OPS[arg_scope_func_key(op)])} "
                             f"(at {user_location()})")
        key = arg_scope_func_key(op)
        scope[key] = {**scope.get(key, {}), **kwargs}
    return scope


class arg_scope:  # noqa: N801 - TF's name; a class so errors point past it at the caller
    """Defaults for the keyword arguments of the listed ops (decorated with
    @add_arg_scope) while the block runs; `as` gives the scope (a dict) for re-entry."""

    def __init__(self, list_ops_or_scope, **kwargs):
        self._ops, self._kwargs = list_ops_or_scope, kwargs

    def __enter__(self) -> dict:
        if isinstance(self._ops, dict):
            if self._kwargs:
                raise ValueError("arg_scope: when re-entering a scope given as a dict, no "
                                 f"keyword arguments may be passed; got {sorted(self._kwargs)} "
                                 f"(at {user_location()})")
            scope = dict(self._ops)
        else:
            scope = _scope_with(self._ops, self._kwargs)
        _ARG_STACK.append(scope)
        return scope

    def __exit__(self, *exc) -> None:
        _ARG_STACK.pop()


# --- variables ------------------------------------------------------------------------------
def _collections(collections) -> list:
    if collections is None:
        return []
    return [collections] if isinstance(collections, str) else list(collections)


@add_arg_scope
def variable(name, shape=None, dtype=None, initializer=None, regularizer=None, trainable=True,
             collections=None, caching_device=None, device=None, partitioner=None,
             custom_getter=None, use_resource=None, synchronization=None, aggregation=None):
    """get_variable, in `collections` (default: GLOBAL_VARIABLES) and, when trainable, in
    TRAINABLE_VARIABLES."""
    keys = list(dict.fromkeys(_collections(collections))) if collections is not None \
        else [GLOBAL_VARIABLES]
    return get_variable(name, shape=shape, dtype=dtype, initializer=initializer,
                        regularizer=regularizer, trainable=trainable, collections=keys)


@add_arg_scope
def model_variable(name, shape=None, dtype=None, initializer=None, regularizer=None,
                   trainable=True, collections=None, caching_device=None, device=None,
                   partitioner=None, custom_getter=None, use_resource=None,
                   synchronization=None, aggregation=None):
    """A variable that is part of the model: also in MODEL_VARIABLES (what get_model_variables
    returns and what contrib layers create)."""
    keys = _collections(collections) + [GLOBAL_VARIABLES, MODEL_VARIABLES]
    return variable(name, shape=shape, dtype=dtype, initializer=initializer,
                    regularizer=regularizer, trainable=trainable,
                    collections=list(dict.fromkeys(keys)))


def add_model_variable(var) -> None:
    """Put `var` in MODEL_VARIABLES (once)."""
    collection = get_default_graph().get_collection_ref(MODEL_VARIABLES)
    if not any(v is var for v in collection):
        collection.append(var)


def get_variables(scope=None, suffix=None, collection=GLOBAL_VARIABLES) -> list:
    """The variables of `collection` whose names match `scope` (a regular expression matched
    at the start, or a VariableScope) and end with `suffix`."""
    if isinstance(scope, VariableScope):
        scope = scope.name
    if suffix is not None:
        suffix = suffix if ":" in suffix else suffix + ":"
        scope = (scope or "") + ".*" + suffix
    items = get_default_graph().get_collection(collection)
    if scope is None:
        return items
    return [v for v in items if re.match(scope, getattr(v, "name", ""))]


def get_model_variables(scope=None, suffix=None) -> list:
    return get_variables(scope, suffix, MODEL_VARIABLES)


def get_trainable_variables(scope=None, suffix=None) -> list:
    return get_variables(scope, suffix, "trainable_variables")


def get_local_variables(scope=None, suffix=None) -> list:
    return get_variables(scope, suffix, "local_variables")


def get_variables_by_name(given_name, scope=None) -> list:
    """The variables whose short name (after the last '/') is `given_name`."""
    return get_variables(scope=scope, suffix="/" + given_name + ":")


def get_variables_to_restore(include=None, exclude=None) -> list:
    """The global variables under any scope in `include` (all when None) and under none in
    `exclude`."""
    chosen = []
    for scope in include if include is not None else [None]:
        chosen += [v for v in get_variables(scope) if not any(v is c for c in chosen)]
    excluded = [v for scope in exclude or [] for v in get_variables(scope)]
    return [v for v in chosen if not any(v is e for e in excluded)]


# TF1 names graphc lacks raise an AttributeError that says so (graphc/unsupported.py).
__getattr__ = _unsupported.module_getattr(__name__, "tf.contrib.framework")
