"""Structured control flow: `while` and `cond` own regions (graphc.ir.node.Region), `param`
is a region's input and `item` picks one value of a control node's tuple of results.

    while(inits..., captures...; cond, body)   both regions take (loop vars..., captures...);
        cond gives one bool scalar, body the next loop vars. Results: the final loop vars.
        attrs["unread_inits"] (optional): loop vars whose initial value nothing reads (a
        stack of saved values whose rows the loop writes before anything reads them:
        autodiff/control.py); the compile driver leaves their slots unfilled.
    cond(pred, captures...; then, else)        both regions take the captures and give
        results of the same dtypes. Results: the taken branch's.

A control node's own dtype is None and its shape () (it is a tuple, as no_op is an effect):
only its `item`s are values. Loop-carried values keep their dtype, and their shape is the
body param's: a dim the loop may change (shape_invariants) is None there. None of these ops
has a numpy reference: each runtime runs regions itself (runtime/reference.py, the compile
driver's sub-programs).
"""

from __future__ import annotations

from graphc.errors import DTypeError, ShapeError
from graphc.ir import dtypes
from graphc.ir.node import Region
from graphc.ir.ops.primitive import Primitive, register
from graphc.ir.shapes import format_shape


def _fits(shape, declared) -> bool:
    """Whether a value of `shape` can stand where `declared` (None dims: any) is expected."""
    if declared is None:
        return True
    if shape is None:
        return False
    return len(shape) == len(declared) and all(d is None or d == s
                                               for s, d in zip(shape, declared))


def _region(attrs, key: str) -> Region:
    region = attrs.get(key)
    if not isinstance(region, Region):
        raise DTypeError(f"attribute {key!r} must be a Region, got {type(region).__name__}")
    return region


def _check_params(region: Region, name: str, inputs) -> None:
    if len(region.params) != len(inputs):
        raise ShapeError(f"the {name} region takes {len(region.params)} params for "
                         f"{len(inputs)} inputs")
    for i, (p, x) in enumerate(zip(region.params, inputs)):
        if p.op.name != "param":
            raise DTypeError(f"{name} param {i} is a {p.op.name} node, not a param")
        if p.dtype is not x.dtype or not _fits(x.shape, p.shape):
            raise DTypeError(f"{name} param {i} is {p.dtype}{format_shape(p.shape)}, its input "
                             f"{x.dtype}{format_shape(x.shape)}")


def _while_dtype(inputs, attrs):
    cond, body = _region(attrs, "cond"), _region(attrs, "body")
    _check_params(cond, "cond", inputs)
    _check_params(body, "body", inputs)
    (pred,) = cond.results if len(cond.results) == 1 else (None,)
    if pred is None or pred.dtype is not dtypes.bool_ or pred.shape != ():
        raise DTypeError("the cond region must give one bool scalar")
    for i, (r, p) in enumerate(zip(body.results, body.params)):
        if r.dtype is not p.dtype:
            raise DTypeError(f"loop var {i} enters as {p.dtype} and the body returns {r.dtype}")
        if not _fits(r.shape, p.shape):
            raise ShapeError(f"loop var {i} enters with shape {format_shape(p.shape)} and the "
                             f"body returns shape {format_shape(r.shape)}")
    unread = attrs.get("unread_inits", ())
    if any(not 0 <= j < len(body.results) for j in unread):
        raise DTypeError(f"unread_inits {tuple(unread)} names a loop var the loop does not "
                         f"have ({len(body.results)} loop vars)")
    return None


def _cond_dtype(inputs, attrs):
    if inputs[0].dtype is not dtypes.bool_ or inputs[0].shape not in ((), None):
        raise DTypeError("the predicate must be a bool scalar")
    then, other = _region(attrs, "then"), _region(attrs, "else")
    _check_params(then, "then", inputs[1:])
    _check_params(other, "else", inputs[1:])
    if len(then.results) != len(other.results):
        raise DTypeError(f"the branches give {len(then.results)} and {len(other.results)} "
                         "values")
    for i, (a, b) in enumerate(zip(then.results, other.results)):
        if a.dtype is not b.dtype:
            raise DTypeError(f"value {i} is {a.dtype} in the true branch and {b.dtype} in the "
                             "false branch")
    return None


def merged_shape(a, b):
    """The most specific shape both `a` and `b` fit (a dim they disagree on is None)."""
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else None for x, y in zip(a, b))


def results_of(node) -> list:
    """(dtype, shape) of each value of a control node."""
    if node.op.name == "while":
        return [(p.dtype, p.shape) for p in node.attrs["body"].params[:loop_count(node)]]
    then, other = node.attrs["then"].results, node.attrs["else"].results
    return [(a.dtype, merged_shape(a.shape, b.shape)) for a, b in zip(then, other)]


def loop_count(node) -> int:
    """How many of a while node's inputs are loop vars (the rest are captures)."""
    return len(node.attrs["body"].results)


def regions(node) -> tuple:
    """The regions a node owns, in a fixed order (none for ordinary nodes)."""
    if node.op.name == "while":
        return node.attrs["cond"], node.attrs["body"]
    if node.op.name == "cond":
        return node.attrs["then"], node.attrs["else"]
    return ()


def _item_dtype(inputs, attrs):
    (node,) = inputs
    if node.op.name not in CONTROL_OPS:
        raise DTypeError(f"item takes a control-flow node, got {node.op.name}")
    values = results_of(node)
    if not 0 <= attrs["index"] < len(values):
        raise DTypeError(f"index {attrs['index']} out of range for {len(values)} values")
    return values[attrs["index"]][0]


def _item_shape(inputs, attrs):
    return results_of(inputs[0])[attrs["index"]][1]


CONTROL_OPS = ("while", "cond")
REGION_KEYS = {"while": ("cond", "body"), "cond": ("then", "else")}

register(Primitive("param", "source", 0, lambda inputs, attrs: attrs["dtype"],
                   lambda inputs, attrs: attrs["shape"], None, stateful=True,
                   doc="a region's input: a loop var, a captured value or a branch's operand"))
register(Primitive("while", "opaque", None, _while_dtype, lambda inputs, attrs: (), None,
                   handles_unknown_rank=True, min_inputs=1,
                   doc="runs the body region while the cond region gives true; its items are "
                       "the final loop vars"))
register(Primitive("cond", "opaque", None, _cond_dtype, lambda inputs, attrs: (), None,
                   handles_unknown_rank=True, min_inputs=1,
                   doc="runs the then or the else region as the predicate says; its items "
                       "are that region's results"))
register(Primitive("item", "opaque", 1, _item_dtype, _item_shape, None,
                   handles_unknown_rank=True,
                   doc="value attrs['index'] of a while or cond node"))
