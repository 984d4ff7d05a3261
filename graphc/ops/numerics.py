"""tf.check_numerics and tf.add_check_numerics_ops: fail a run on NaN or Inf values.

check_numerics is an identity of its input that depends on run-time checks (the asserts of
graphc/ops/check_ops.py), so on every target a bad value raises InvalidArgumentError naming
the check, the user's file:line, the user's message and TF's words: "Tensor had NaN values",
"Tensor had Inf values" or "Tensor had Inf and NaN values". The three checks are chained by
control dependencies so the most complete description is the one reported.
"""

from __future__ import annotations

from graphc.errors import user_location
from graphc.framework.graph import get_default_graph
from graphc.ir import dtypes
from graphc.ir.ops.control import CONTROL_OPS
from graphc.ops import math_ops as M
from graphc.ops.check_ops import check
from graphc.ops.control_flow_ops import group
from graphc.ops.tensor import Operation, Tensor, convert_to_tensor, make_tensor

FLOATING = (dtypes.float16, dtypes.float32, dtypes.float64)
# ops whose outputs add_check_numerics_ops leaves alone: evaluating them would change state
# (assignments) or has no meaning outside a region (params); a variable is checked through
# its read
_UNCHECKED = frozenset({"variable", "assign", "assign_add", "assign_sub", "param"})


def check_numerics(tensor, message, name=None) -> Tensor:
    """`tensor`, checked at run time: InvalidArgumentError if it holds a NaN or an Inf."""
    x = convert_to_tensor(tensor)
    if x.dtype not in FLOATING:
        raise TypeError(f"tf.check_numerics needs a floating tensor (float16, float32, "
                        f"float64), got '{x.name}' of dtype {x.dtype} (at {user_location()})")
    graph = x.graph
    with graph.as_default(), graph.name_scope(name or "CheckNumerics") as scope:
        has_nan = M.reduce_any(M.is_nan(x), name="has_nan")
        has_inf = M.reduce_any(M.is_inf(x), name="has_inf")
        chain = [
            (M.logical_not(M.logical_and(has_nan, has_inf)), "Inf and NaN", "inf_and_nan"),
            (M.logical_not(has_inf), "Inf", "inf"),
            (M.logical_not(has_nan), "NaN", "nan"),
        ]
        last: list = []
        for condition, what, check_name in chain:
            with graph.control_dependencies(last):
                op = check(condition, (), f"{message} : Tensor had {what} values "
                           f"(check_numerics '{scope.rstrip('/')}')", name=check_name)
            last = [op.node]
        with graph.control_dependencies(last):
            return make_tensor("identity", (x,), name=scope)


def add_check_numerics_ops() -> Operation:
    """An operation running check_numerics on every floating tensor of the default graph
    (message: the tensor's name). A tensor's check runs after its inputs' checks, so the
    first op to produce a bad value is the one reported. As TF1, graphs with tf.cond or
    tf.while_loop are refused, and running the operation needs every placeholder it checks
    to be fed."""
    graph = get_default_graph()
    if any(node.op.name in CONTROL_OPS for node in graph.nodes):
        raise ValueError("tf.add_check_numerics_ops() is not compatible with TensorFlow "
                         "control flow operations such as tf.cond() or tf.while_loop() "
                         f"(at {user_location()})")
    checked: dict = {}  # node -> its check's node
    for node in graph.nodes:  # a snapshot: the checks add nodes as they go
        if node.dtype not in FLOATING or node.op.name in _UNCHECKED:
            continue
        info = graph.info(node)
        deps = [checked[i] for i in node.inputs if i in checked]
        with graph.control_dependencies(deps):
            checked[node] = check_numerics(Tensor(node, graph, info.name),
                                           f"{info.name}:0").node
    with graph.as_default():
        return group(*[Tensor(n, graph, graph.info(n).name) for n in checked.values()],
                     name="CheckNumericsOps")
