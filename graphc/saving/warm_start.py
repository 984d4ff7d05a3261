"""tf.train.init_from_checkpoint: variables initialized from a checkpoint instead of their
initializers (warm starting, fine-tuning), by TF1's assignment_map rules:

    {"old/var": "new/var"}       one tensor of the checkpoint into the variable named new/var
    {"old/var": variable}        ... into that Variable object
    {"old_scope/": "new_scope/"} every variable under new_scope/ from the same relative name
                                 under old_scope/ ("/" as the key: the checkpoint's root)

Each variable's initializer becomes an assignment of the checkpoint's value, so
`tf.global_variables_initializer()` built afterwards loads it (as in TF1, call this before
building the initializer op). Every shape and dtype is checked before any initializer
changes.
"""

from __future__ import annotations

import numpy as np

from graphc.saving.reader import load_checkpoint


def init_from_checkpoint(ckpt_dir_or_file, assignment_map) -> None:
    from graphc.ops.variables import Variable, global_variables
    reader = load_checkpoint(ckpt_dir_or_file)
    entries = reader.entries()
    variables = {v.op.name: v for v in global_variables()}
    plan = []  # (checkpoint name, variable)
    for key, target in dict(assignment_map).items():
        if isinstance(target, Variable):
            plan.append((key, target))
        elif isinstance(target, (list, tuple)):  # a partitioned variable's parts
            raise ValueError(f"init_from_checkpoint: '{key}' maps to a list of variables; "
                             "graphc has no partitioned variables, map it to one variable")
        elif key.endswith("/") or key == "/":
            plan += _scope_pairs(key, str(target), variables, entries, reader.prefix)
        else:
            if target not in variables:
                raise ValueError(f"init_from_checkpoint: no variable named '{target}' in the "
                                 f"graph (mapped from checkpoint tensor '{key}')")
            plan.append((key, variables[target]))
    checked = [(var, _checked(reader, entries, key, var)) for key, var in plan]
    for var, value in checked:
        _initialize_with(var, value)


def _scope_pairs(key: str, scope: str, variables: dict, entries: dict, where: str) -> list:
    """(checkpoint name, variable) for each variable under `scope`, named in the checkpoint
    by `key` + its name relative to the scope."""
    old = "" if key == "/" else key
    new = "" if scope in ("", "/") else scope if scope.endswith("/") else scope + "/"
    pairs = []
    for name, var in sorted(variables.items()):
        if not name.startswith(new):
            continue
        wanted = old + name[len(new):]
        if wanted not in entries:
            raise ValueError(f"init_from_checkpoint: Tensor {wanted} (for variable {name}) "
                             f"is not found in {where} checkpoint")
        pairs.append((wanted, var))
    if not pairs:
        raise ValueError(f"init_from_checkpoint: no variable of the graph is under scope "
                         f"'{new}' (mapped from '{key}')")
    return pairs


def _checked(reader, entries: dict, key: str, var) -> np.ndarray:
    if key not in entries:
        raise ValueError(f"init_from_checkpoint: Tensor {key} is not found in "
                         f"{reader.prefix} checkpoint")
    dtype, shape = entries[key]
    if tuple(shape) != tuple(var.shape.as_list()):
        raise ValueError(f"init_from_checkpoint: shape of variable {var.op.name} "
                         f"({var.shape.as_list()}) doesn't match with shape of tensor {key} "
                         f"({list(shape)}) from checkpoint reader.")
    if np.dtype(dtype) != var.dtype.np:
        raise ValueError(f"init_from_checkpoint: variable {var.op.name} is {var.dtype.name}, "
                         f"tensor {key} of the checkpoint is {np.dtype(dtype).name}")
    return reader.get_tensor(key)


def _initialize_with(var, value: np.ndarray) -> None:
    from graphc.ops.tensor import constant, make_tensor
    graph = var.graph
    with graph.as_default(), graph.name_scope(var.op.name + "/"), \
            graph.control_dependencies(None):
        init = constant(value, dtype=var.dtype, name="checkpoint_value")
        var._initial_value = init
        var._init = make_tensor("assign", (var._handle, init), {"mode": "set"}, "Assign",
                                graph, control=False)
