"""tf.cond, tf.case and tf.while_loop: structured control flow (graphc/ir/ops/control.py).

The user's functions are traced once, on params standing for the loop vars (or on nothing,
for a branch); the traced sub-graphs become the regions of one `while` or `cond` node, and
the values they read from outside become its captured inputs (graphc/ir/regions.py). What
the user gets back are `item`s of that node, packed in the structure of the loop vars or of
the branches' results.
"""

from __future__ import annotations

import itertools

from graphc.errors import user_location
from graphc.framework.graph import get_default_graph
from graphc.framework.tensor import TensorShape
from graphc.ir import dtypes
from graphc.ir.node import topo_sort
from graphc.ir.regions import close_regions
from graphc.ir.values import node_value
from graphc.ops import nest
from graphc.ops.tensor import Tensor, convert_to_tensor, make_tensor
from graphc.ops.tensor_array import TensorArray

_LOOP_IDS = itertools.count(1)


def _tensors(values, what: str, where: str) -> list:
    out = []
    for v in values:
        if v is None or (hasattr(v, "node") and not isinstance(v, Tensor)
                         and not hasattr(v, "_as_graph_tensor")):
            raise TypeError(f"{what} must be tensors; got {v!r} ({where}). graphc runs no "
                            "operations (assignments, groups) inside control flow yet")
        out.append(convert_to_tensor(v))
    return out


def _params(graph, specs, name: str) -> list:
    """One param tensor per (dtype, shape)."""
    return [make_tensor("param", (), {"dtype": dt, "shape": shape}, name=name, graph=graph,
                        control=False) for dt, shape in specs]


def _check_state(graph, before: int, raw_results, params, where: str, what: str,
                 loop=None) -> frozenset:
    """Refuse what regions cannot hold yet, rather than run it wrongly: assignments (state
    changes inside a region), and random draws in a loop's condition, or in its body without
    a constant maximum_iterations (`loop`: (pred node, bound or None)). Returns the random
    nodes of a loop body, which stay in the body (a fresh draw each iteration, as TF). Only
    what the results reach counts: a variable's initializer built while tracing is not part
    of the loop."""
    reached = set(topo_sort(list(raw_results), stop=frozenset(params)))
    draws = []
    for node in graph.nodes[before:]:
        if node not in reached:
            continue
        if node.op.name == "assign":
            raise NotImplementedError(
                f"{what}: an assignment inside control flow ({graph.describe(node)}) is not "
                f"supported yet ({where}); assign after the loop or the cond")
        if loop is not None and node.op.name == "random":
            draws.append(node)
    if draws and loop is not None:
        pred, bound = loop
        in_cond = set(topo_sort([pred], stop=frozenset(params)))
        for node in draws:
            if node in in_cond:
                raise NotImplementedError(
                    f"{what}: a random op in a while_loop's cond ({graph.describe(node)}) is "
                    f"not supported ({where}); draw it in the body or outside the loop")
            if bound is None:
                raise NotImplementedError(
                    f"{what}: a random op inside a while_loop body ({graph.describe(node)}) "
                    f"needs the loop's maximum_iterations as a constant ({where}): the "
                    f"compiled loop draws every iteration's values at once")
    return frozenset(draws)


def _same_structure(a, b, message: str, where: str) -> None:
    try:
        nest.assert_same_structure(a, b)
    except ValueError as e:
        raise ValueError(f"{message} ({where}). {e}") from None


def _unwrap_single(value, strict: bool):
    if not strict and isinstance(value, (list, tuple)) and len(value) == 1 \
            and not hasattr(value, "_fields"):
        return value[0]
    return value


# --- cond and case ---------------------------------------------------------------------------
def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """The value of `true_fn()` where the bool scalar `pred` holds, else of `false_fn()`.
    Only the taken branch runs. Both return the same structure of tensors of the same
    dtypes; a one-element list is unpacked unless `strict`."""
    true_fn = fn1 if true_fn is None else true_fn
    false_fn = fn2 if false_fn is None else false_fn
    where = user_location()
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError(f"cond: true_fn and false_fn must be callable ({where})")
    graph = get_default_graph()
    pred = convert_to_tensor(pred)
    if pred.dtype is not dtypes.bool_ or pred.node.shape not in ((), None):
        raise TypeError(f"cond: pred must be a bool scalar, got {pred.dtype} of shape "
                        f"{pred.shape} ({where})")
    with graph.name_scope(name or "cond"):
        before = len(graph.nodes)
        with graph.control_dependencies(None):
            results = [true_fn(), false_fn()]
        inside = frozenset(graph.nodes[before:])
        for branch, value in zip(("true_fn", "false_fn"), results):
            if value is None:
                raise ValueError(f"cond: {branch} must have a return value ({where})")
        t, f = (_unwrap_single(r, strict) for r in results)
        _same_structure(t, f, "cond: true_fn and false_fn must have the same number, type "
                        "and overall structure of return values", where)
        flat_t = _tensors(nest.flatten(t), "cond: true_fn's results", where)
        flat_f = _tensors(nest.flatten(f), "cond: false_fn's results", where)
        for i, (a, b) in enumerate(zip(flat_t, flat_f)):
            if a.dtype is not b.dtype:
                raise TypeError(f"cond: outputs of true_fn and false_fn must have the same "
                                f"type: value {i} is {a.dtype} and {b.dtype} ({where})")
        _check_state(graph, before, [x.node for x in flat_t + flat_f], [], where, "cond")
        renamed: dict = {}
        (then, other), captures, after = close_regions(
            [], [[x.node for x in flat_t], [x.node for x in flat_f]], inside, renamed)
        graph.inherit(renamed)
        with graph.control_dependencies(after):
            node = graph.create("cond", [pred.node] + captures, {"then": then, "else": other},
                                "cond")[0]
        items = _items(graph, node, len(flat_t), "Merge")
    return nest.pack_sequence_as(t, items)


def _items(graph, node, count: int, name: str) -> list:
    out = []
    for i in range(count):
        item, full = graph.create("item", [node], {"index": i}, name, control=False)
        out.append(Tensor(item, graph, full))
    return out


def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name="case"):
    """The value of the first fn whose predicate holds, else of `default` (TF1: without a
    default, the last pair's fn, whatever its predicate). `exclusive` checks at run time
    that at most one predicate holds."""
    pairs = list(pred_fn_pairs.items()) if isinstance(pred_fn_pairs, dict) \
        else list(pred_fn_pairs)
    where = user_location()
    for pair in pairs:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and callable(pair[1])):
            raise TypeError(f"case: pred_fn_pairs must hold (predicate, callable) pairs, got "
                            f"{pair!r} ({where})")
    graph = get_default_graph()
    guard = None
    if default is None:  # TF1: the last fn, checked at run time that some predicate holds
        if not pairs:
            raise ValueError(f"case: pred_fn_pairs is empty and there is no default ({where})")
        guard = [convert_to_tensor(p) for p, _ in pairs]
        default = pairs.pop()[1]
    preds = [convert_to_tensor(p) for p, _ in pairs]
    with graph.name_scope(name or "case"):
        checks = [_at_most_one(preds)] if exclusive and len(preds) > 1 else []
        if guard is not None:
            checks.append(_any_holds(guard))
        with graph.control_dependencies(checks):
            return _case_chain(list(zip(preds, [f for _, f in pairs])), default, strict)


def _case_chain(pairs, default, strict):
    if not pairs:
        return _unwrap_single(default(), strict)
    (pred, fn), rest = pairs[0], pairs[1:]
    return cond(pred, fn, lambda: _case_chain(rest, default, strict), strict=strict)


def _at_most_one(preds):
    from graphc.ops import math_ops
    from graphc.ops.check_ops import Assert
    from graphc.ops.tensor import cast, stack
    count = math_ops.reduce_sum(cast(stack(preds), dtypes.int32))
    return Assert(math_ops.less_equal(count, 1), [count], name="exclusive_case_check").node


def _any_holds(preds):
    from graphc.ops import math_ops
    from graphc.ops.check_ops import check
    from graphc.ops.tensor import stack
    holds = math_ops.reduce_any(stack(preds))
    return check(holds, [], "Input error: None of conditions evaluated as True", 3,
                 "case_none_true").node


# --- while_loop ------------------------------------------------------------------------------
def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
               back_prop=True, swap_memory=False, name=None, maximum_iterations=None,
               return_same_structure=False):
    """Repeat `loop_vars = body(*loop_vars)` while `cond(*loop_vars)` holds, at most
    `maximum_iterations` times; the final loop vars, in their structure (one loop var comes
    back as a tensor unless `return_same_structure`). A loop var keeps its dtype and shape
    across iterations unless `shape_invariants` gives a less specific shape. Loop vars may
    be TensorArrays. `parallel_iterations` and `swap_memory` are accepted and do nothing."""
    where = user_location()
    if not callable(cond) or not callable(body):
        raise TypeError(f"while_loop: cond and body must be callable ({where})")
    structure, graph = loop_vars, get_default_graph()
    leaves = nest.flatten(structure)
    if not leaves:
        raise ValueError(f"while_loop: no loop variables ({where})")
    loop = _LoopVars(graph, leaves, where)
    shapes = _invariants(structure, shape_invariants, loop.inits, where)
    with graph.name_scope(name or "while"):
        limit, bound = _limit(maximum_iterations)
        before = len(graph.nodes)
        user = loop.make_params(shapes)
        counter = _params(graph, [(dtypes.int32, ())], "Enter")[0] if limit is not None \
            else None
        packed = nest.pack_sequence_as(structure, user)
        args = list(packed) if isinstance(packed, (list, tuple)) and not hasattr(
            packed, "_fields") else [packed]
        with graph.control_dependencies(None):
            pred = _loop_pred(cond(*args), where)
            out = body(*args)
            if limit is not None:
                from graphc.ops import math_ops
                pred = math_ops.logical_and(math_ops.less(counter, limit), pred)
        nexts = _loop_results(structure, out, loop, where)
        params, inits = loop.params, loop.inits
        if counter is not None:
            params, inits = [counter] + params, [convert_to_tensor(0, dtypes.int32)] + inits
            nexts = [counter + 1] + nexts
        raw = [pred.node] + [x.node for x in nexts]
        draws = _check_state(graph, before, raw, [p.node for p in params], where,
                             "while_loop", loop=(pred.node, bound))
        renamed: dict = {}
        (c, b), captures, after = close_regions([p.node for p in params], [raw[:1], raw[1:]],
                                                draws, renamed)
        graph.inherit(renamed)
        attrs = {"cond": c, "body": b, "loop_id": next(_LOOP_IDS),
                 "bound": -1 if bound is None else bound}
        with graph.control_dependencies(after):
            node = graph.create("while", [x.node for x in inits] + captures, attrs, "while")[0]
        items = _items(graph, node, len(inits), "Exit")
    items = loop.repack(items[1:] if counter is not None else items)
    result = nest.pack_sequence_as(structure, items)
    if not return_same_structure and isinstance(result, (list, tuple)) and len(items) == 1 \
            and not hasattr(result, "_fields"):
        return result[0]
    return result


def _limit(maximum_iterations):
    """(limit tensor, its constant value) of maximum_iterations, or (None, None)."""
    if maximum_iterations is None:
        return None, None
    limit = convert_to_tensor(maximum_iterations, dtypes.int32)
    value = node_value(limit.node)
    return limit, None if value is None else max(int(value), 0)


class _LoopVars:
    """The flat loop vars: tensors, and TensorArrays carried as their buffers. A
    TensorArray that enters unwritten (its element shape unknown) becomes a loop var when
    the body first writes it: `start` makes its zeros and its param then."""

    def __init__(self, graph, leaves, where):
        self.graph, self.leaves, self.where = graph, leaves, where
        self.inits = []
        for leaf in leaves:
            if isinstance(leaf, TensorArray):
                if leaf._buffer is None and leaf._element_shape is not None:
                    leaf._materialize(None)  # zeros of the declared shape, outside the loop
                self.inits.append(leaf._buffer)
            else:
                self.inits.extend(_tensors([leaf], "while_loop: loop_vars", where))
        self.params: list = []

    def make_params(self, shapes) -> list:
        """What the cond and body see: a param tensor per loop var, TensorArrays over
        theirs (an unwritten one over none yet)."""
        user = []
        for i, (leaf, init, shape) in enumerate(zip(self.leaves, self.inits, shapes)):
            param = None if init is None else _params(self.graph, [(init.dtype, shape)],
                                                      "Enter")[0]
            self.params.append(param)
            if isinstance(leaf, TensorArray):
                ta = leaf._with(param) if param is not None else _late_array(leaf, self, i)
                user.append(ta)
            else:
                user.append(param)
        return user

    def start(self, ta, shape) -> Tensor:
        """The buffer param of an unwritten TensorArray, now that its element shape is
        known; the loop starts it as zeros."""
        from graphc.ops.tensor_array import _zeros
        with self.graph.control_dependencies(None):
            init = _zeros(ta._size, shape, ta.dtype)
        param = _params(self.graph, [(ta.dtype, init.node.shape)], "Enter")[0]
        self.inits[ta._position], self.params[ta._position] = init, param
        return param

    def repack(self, items) -> list:
        return [leaf._with(item) if isinstance(leaf, TensorArray) else item
                for leaf, item in zip(self.leaves, items)]


def _late_array(leaf, loop: _LoopVars, position: int):
    ta = leaf._with_nothing()
    ta._late, ta._position = loop, position
    return ta


def _invariants(structure, shape_invariants, inits, where) -> list:
    if shape_invariants is None:
        return [None if x is None else x.node.shape for x in inits]
    _same_structure(structure, shape_invariants,
                    "while_loop: shape_invariants must have the structure of loop_vars", where)
    shapes = []
    for x, inv in zip(inits, nest.flatten(shape_invariants)):
        declared = TensorShape(inv)
        if x is None:  # an unwritten TensorArray: its buffer's shape comes from the body
            shapes.append(None)
            continue
        if not declared.is_compatible_with(x.shape) or (
                declared.dims is not None and x.shape.dims is None):
            raise ValueError(f"while_loop: the shape invariant {declared} is not compatible "
                             f"with the initial shape {x.shape} of loop var '{x.name}' "
                             f"({where})")
        shapes.append(None if declared.dims is None else tuple(declared.dims))
    return shapes


def _loop_pred(value, where) -> Tensor:
    pred = convert_to_tensor(value)
    if pred.dtype is not dtypes.bool_ or pred.node.shape not in ((), None):
        raise TypeError(f"while_loop: cond must return a bool scalar, got {pred.dtype} of "
                        f"shape {pred.shape} ({where})")
    return pred


def _loop_results(structure, out, loop: _LoopVars, where) -> list:
    """The body's results as tensors (a TensorArray as its buffer), checked against the
    loop vars' dtypes and shapes."""
    if isinstance(structure, (list, tuple)) and len(nest.flatten(structure)) == 1 \
            and not isinstance(out, (list, tuple)) and not hasattr(structure, "_fields"):
        out = type(structure)([out]) if not isinstance(structure, tuple) else (out,)
    _same_structure(structure, out, "while_loop: body must return the structure of loop_vars",
                    where)
    results = []
    for leaf, value in zip(loop.leaves, nest.flatten(out)):
        if isinstance(leaf, TensorArray):
            if not isinstance(value, TensorArray):
                raise TypeError(f"while_loop: the body returns {value!r} for a TensorArray "
                                f"loop var ({where})")
            if value._buffer is None:
                raise ValueError(f"while_loop: a TensorArray loop var is never written in "
                                 f"the body and its element shape is unknown: pass "
                                 f"element_shape= ({where})")
            results.append(value._buffer)
        else:
            results.extend(_tensors([value], "while_loop: body's results", where))
    for p, r in zip(loop.params, results):
        if r.dtype is not p.dtype:
            raise TypeError(f"while_loop: loop var {p.name} enters the loop as {p.dtype}, but "
                            f"the body returns {r.dtype} ({where})")
        if not p.shape.is_compatible_with(r.shape) or not _fits(r.node.shape, p.node.shape):
            raise ValueError(
                f"while_loop: loop var {p.name} enters the loop with shape {p.shape}, but has "
                f"shape {r.shape} after one iteration. To allow the shape to vary across "
                f"iterations, use the `shape_invariants` argument of tf.while_loop to specify "
                f"a less-specific shape ({where})")
    return results


def _fits(shape, declared) -> bool:
    if declared is None:
        return True
    return shape is not None and len(shape) == len(declared) and all(
        d is None or d == s for s, d in zip(shape, declared))
