"""The primitive table: every record is complete, and its rules agree with its reference.

SAMPLES holds, per primitive, example inputs and attrs; running the reference on them must give
exactly the dtype and shape that the dtype and shape rules derive. A new primitive needs an
entry here (test_every_primitive_has_a_sample says which are missing).
"""

from __future__ import annotations

import numpy as np
import pytest

from graphc.errors import DTypeError, ShapeError
from graphc.ir import dtypes
from graphc.ir import ops as prims
from graphc.ir.node import make_node
from graphc.runtime.reference import _STATE_OPS

PRIMITIVES = dict(prims.PRIMITIVES)
# Ops whose value lives in the runtime's storage: each runtime implements them itself.
# Control flow: the runtime runs regions itself (a param is a region's input, bound there).
# print writes to the session's streams (runtime/host_calls.py).
RUNTIME_STATE_OPS = {"placeholder", "variable", "read", "assign",
                     "while", "cond", "item", "param", "print"}

F32 = dtypes.float32


def const(value, dtype=None):
    arr = np.asarray(value, dtype=None if dtype is None else dtypes.as_dtype(dtype).np)
    return make_node(prims.get("constant"), (), {"value": arr})


def placeholder(dtype=F32, shape=(2,)):
    return make_node(prims.get("placeholder"), (), {"dtype": dtype, "shape": shape})


# --- every record is complete ---------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_record_is_complete(name):
    p = PRIMITIVES[name]
    assert p.name == name
    assert p.kind in prims.FUSION_KINDS
    assert callable(p.dtype_rule) and callable(p.shape_rule)
    assert p.arity is None or p.arity >= 0
    assert len(p.arity_range) >= 1
    if p.arity is None:
        assert p.max_inputs is None or p.max_inputs >= p.min_inputs
    if p.stateful or p.name in RUNTIME_STATE_OPS:
        return
    assert callable(p.reference), f"pure primitive {name} has no numpy reference"


def test_only_runtime_state_ops_lack_a_reference():
    missing = {name for name, p in PRIMITIVES.items() if p.reference is None}
    assert missing == RUNTIME_STATE_OPS
    # the reference target implements each of them (params are bound by their region)
    assert missing - {"param"} <= set(_STATE_OPS)


def test_sources_take_no_inputs_and_effects_are_marked():
    for p in PRIMITIVES.values():
        if p.kind == "source":
            assert p.arity_range.start <= 1, p.name
    assert PRIMITIVES["assign"].kind == "effect" and PRIMITIVES["assign"].stateful
    assert PRIMITIVES["no_op"].kind == "effect"
    stateful = {name for name, p in PRIMITIVES.items() if p.stateful}
    assert {"placeholder", "placeholder_with_default", "variable", "assign", "random"} <= stateful


def test_registry_rejects_duplicates_and_unknown_kinds():
    add = PRIMITIVES["add"]
    with pytest.raises(ValueError, match="already registered"):
        prims.register(add)
    bogus = prims.Primitive("bogus_kind_test", "fancy", 1, add.dtype_rule, add.shape_rule, None)
    with pytest.raises(ValueError, match="unknown fusion kind 'fancy'"):
        prims.register(bogus)
    assert "bogus_kind_test" not in prims.PRIMITIVES
    with pytest.raises(KeyError, match="unknown primitive 'nope'"):
        prims.get("nope")


# --- rules raise errors that name the op ----------------------------------------------------
# The message is "<op>: <what is wrong>", possibly followed by where the node was built;
# a pattern ending in WHERE is the whole message.
WHERE = r"( \(at [\w.<>-]+:\d+\))?$"


@pytest.mark.parametrize("op, inputs, attrs, error, message", [
    ("add", lambda: (placeholder(shape=(2,)), placeholder(shape=(3,))), {}, ShapeError,
     r"^add: cannot broadcast shapes \(2,\) and \(3,\)" + WHERE),
    ("add", lambda: (placeholder(), placeholder(dtypes.int32)), {}, DTypeError,
     r"^add: inputs have different dtypes float32 and int32" + WHERE),
    ("sqrt", lambda: (placeholder(dtypes.int32),), {}, DTypeError,
     r"^sqrt: expects floating-point inputs, got int32" + WHERE),
    ("logical_and", lambda: (placeholder(), placeholder()), {}, DTypeError,
     r"^logical_and: expects bool inputs, got float32" + WHERE),
    ("select", lambda: (placeholder(), placeholder(), placeholder()), {}, DTypeError,
     r"^select: condition must be bool"),
    ("matmul", lambda: (placeholder(shape=(2, 3)), placeholder(shape=(4, 5))), {}, ShapeError,
     r"^matmul: inner dimensions differ: \(2, 3\) @ \(4, 5\) \(3 != 4\)" + WHERE),
    ("matmul", lambda: (placeholder(shape=(3,)), placeholder(shape=(3, 1))), {}, ShapeError,
     r"^matmul: operands must have rank >= 2"),
    ("reshape", lambda: (placeholder(shape=(2, 3)),), {"shape": (4,)}, ShapeError,
     r"^reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into shape \(4,\)"),
    ("transpose", lambda: (placeholder(shape=(2, 3)),), {"perm": (0, 0)}, ShapeError,
     r"^transpose: perm \(0, 0\) is not a permutation"),
    ("squeeze", lambda: (placeholder(shape=(2, 3)),), {"axes": (0,)}, ShapeError,
     r"^squeeze: cannot squeeze axis 0 of size 2"),
    ("reduce_sum", lambda: (placeholder(shape=(2, 3)),), {"axes": (1, 0), "keepdims": False},
     ShapeError, r"^reduce_sum: axes \(1, 0\) are not sorted distinct axes"),
    ("reduce_any", lambda: (placeholder(),), {"axes": (0,), "keepdims": False}, DTypeError,
     r"^reduce_any: expects a bool input, got float32" + WHERE),
    ("argmax", lambda: (placeholder(),), {"axis": 0, "output_type": F32}, DTypeError,
     r"^argmax: output_type must be int32 or int64, got float32" + WHERE),
    ("concat", lambda: (placeholder(shape=(2, 3)), placeholder(shape=(3, 4))), {"axis": 0},
     ShapeError, r"^concat: dimension 1 differs"),
    ("gather", lambda: (placeholder(), placeholder()), {"axis": 0}, DTypeError,
     r"^gather: indices must be int32 or int64, got float32" + WHERE),
    ("pad", lambda: (placeholder(shape=(2,)),),
     {"paddings": ((3, 0),), "mode": "REFLECT", "constant_value": 0.0}, ShapeError,
     r"^pad: REFLECT padding of 3 is too large for an axis of size 2" + WHERE),
    ("cast", lambda: (placeholder(),), {"dtype": dtypes.int32}, None, None),
])
def test_make_node_errors_name_the_op(op, inputs, attrs, error, message):
    if error is None:
        make_node(prims.get(op), inputs(), attrs)
        return
    with pytest.raises(error, match=message):
        make_node(prims.get(op), inputs(), attrs)


def test_assign_rules():
    var = make_node(prims.get("variable"), (), {"dtype": F32, "shape": (2,)})
    not_var = placeholder()
    with pytest.raises(DTypeError, match="^assign: the first input must be a variable, got a "
                                         "placeholder node" + WHERE):
        make_node(prims.get("assign"), (not_var, placeholder()), {"mode": "set"})
    with pytest.raises(ShapeError, match=r"^assign: value of shape \(3,\) cannot update a "
                                         r"variable of shape \(2,\)" + WHERE):
        make_node(prims.get("assign"), (var, placeholder(shape=(3,))), {"mode": "set"})
    with pytest.raises(DTypeError, match="^assign: mode must be one of"):
        make_node(prims.get("assign"), (var, placeholder()), {"mode": "mul"})


# --- the reference agrees with the rules ----------------------------------------------------
FLOAT_VALUES = np.array([[0.5, 1.5, 2.0], [3.0, 0.25, 4.0]])
INT_VALUES = np.array([[1, 2, 3], [4, 5, 6]])
BOOL_VALUES = np.array([[True, False, True], [False, False, True]])


def sample_array(dtype: dtypes.DType, shape=(2, 3)) -> np.ndarray:
    base = {"f": FLOAT_VALUES, "i": INT_VALUES, "b": BOOL_VALUES}[dtype.kind]
    return np.resize(base, shape).astype(dtype.np)


def elementwise_samples(name):
    """One sample per dtype the dtype rule accepts; binary/ternary inputs broadcast."""
    p = PRIMITIVES[name]
    n = p.arity
    out = []
    for dt in dtypes.ALL_DTYPES:
        shapes = [(2, 3), (3,), (2, 1)][:n] if name != "select" else [(2, 1), (2, 3), (3,)]
        arrays = [sample_array(dt, s) for s in shapes]
        if name == "select":
            arrays[0] = sample_array(dtypes.bool_, shapes[0])
        attrs = {"dtype": dt} if name == "cast" else {}
        if name == "cast":
            arrays = [sample_array(dtypes.float32)]
        try:
            p.dtype_rule([const(a) for a in arrays], attrs)
        except DTypeError:
            continue
        out.append((arrays, attrs))
    return out


def shape_tensor(shape):
    return np.array(shape, np.int32)


# Non-elementwise samples: (input arrays, attrs).
SAMPLES = {
    "reshape": [([sample_array(F32)], {"shape": (3, 2)}), ([sample_array(F32)], {"shape": (-1,)}),
                ([sample_array(F32), shape_tensor((6, 1))], {"shape": (None, 1)})],
    "transpose": [([sample_array(F32)], {"perm": (1, 0)})],
    "expand_dims": [([sample_array(F32)], {"axis": 2})],
    "squeeze": [([sample_array(F32, (2, 1, 3))], {"axes": (1,)})],
    "broadcast_to": [([sample_array(F32, (3,))], {"shape": (2, 3)}),
                     ([sample_array(F32, (3,))], {"shape": (4, 2, 3)}),
                     ([sample_array(F32, (3,)), shape_tensor((5, 3))], {"shape": (None, 3)})],
    "slice": [([sample_array(F32)], {"slices": ((None, None, -1), (1, 3, 1))}),
              ([sample_array(F32)], {"slices": ((0, 1, None),)})],
    "concat": [([sample_array(F32), sample_array(F32, (1, 3))], {"axis": 0})],
    "pad": [([sample_array(F32)], {"paddings": ((1, 0), (0, 2)), "mode": m,
                                   "constant_value": 0.5}) for m in ("CONSTANT", "REFLECT",
                                                                      "SYMMETRIC")],
    "tile": [([sample_array(dtypes.int64)], {"multiples": (2, 1)})],
    "put_row": [([sample_array(F32, (3, 2)), np.array(1, np.int32), sample_array(F32, (2,))],
                 {}),
                ([sample_array(dtypes.int64, (2, 2, 2)), np.array(0, np.int64),
                  sample_array(dtypes.int64, (2, 2))], {})],
    "gather": [([sample_array(F32), np.array([1, 0, 1], np.int64)], {"axis": 0}),
               ([sample_array(F32), np.array([[2]], np.int32)], {"axis": 1})],
    "matmul": [([sample_array(dt), sample_array(dt, (3, 4))], {}) for dt in
               (dtypes.float16, F32, dtypes.float64, dtypes.int32, dtypes.int64)]
    + [([sample_array(F32, (5, 2, 3)), sample_array(F32, (3, 4))], {})],
    "shape": [([sample_array(F32)], {"out_type": dtypes.int64})],
    "argmax": [([sample_array(dt)], {"axis": 1, "output_type": dtypes.int32})
               for dt in (dtypes.float16, F32, dtypes.int64)],
    "argmin": [([sample_array(F32)], {"axis": 0, "output_type": dtypes.int64})],
    "conv": [([sample_array(F32, (1, 3, 4, 2)), sample_array(F32, (2, 2, 1, 4))],
              {"strides": (1, 2), "dilations": (1, 1), "padding": ((1, 0), (0, 1)),
               "groups": 2, "channels_last": True}),
             ([sample_array(dtypes.float16, (2, 3, 5)), sample_array(dtypes.float16,
                                                                     (2, 3, 2))],
              {"strides": (2,), "dilations": (2,), "padding": ((1, 1),), "groups": 1,
               "channels_last": False})],
    "conv_input_grad": [([sample_array(F32, (1, 3, 2, 4)), sample_array(F32, (2, 2, 1, 4)),
                          shape_tensor((1, 3, 4, 2))],
                         {"strides": (1, 2), "dilations": (1, 1),
                          "padding": ((1, 0), (0, 1)), "groups": 2, "channels_last": True,
                          "shape": (1, 3, 4, 2)})],
    "conv_filter_grad": [([sample_array(F32, (1, 3, 4, 2)), sample_array(F32, (1, 3, 2, 4))],
                          {"strides": (1, 2), "dilations": (1, 1),
                           "padding": ((1, 0), (0, 1)), "groups": 2, "channels_last": True,
                           "shape": (2, 2, 1, 4)})],
    "pool": [([sample_array(F32, (1, 3, 4, 2))],
              {"kind": kind, "window": (2, 3), "strides": (1, 2), "padding": ((1, 0), (1, 1)),
               "channels_last": True}) for kind in ("max", "avg")]
    + [([sample_array(dtypes.float16, (2, 2, 5))],
        {"kind": "avg", "window": (2,), "strides": (2,), "padding": ((0, 1),),
         "channels_last": False})],
    "max_pool_grad": [([sample_array(F32, (1, 3, 4, 2)), sample_array(F32, (1, 2, 2, 2))],
                       {"window": (2, 3), "strides": (2, 2), "padding": ((0, 1), (1, 1)),
                        "channels_last": True})],
    "max_pool_pick": [([sample_array(F32, (1, 3, 4, 2)), sample_array(F32, (1, 3, 4, 2))],
                       {"window": (2, 3), "strides": (2, 2), "padding": ((0, 1), (1, 1)),
                        "channels_last": True})],
    "sum_to": [([sample_array(F32), shape_tensor((1, 3))], {"shape": (1, 3)}),
               ([sample_array(dtypes.float16), shape_tensor((3,))], {"shape": (3,)})],
    "slice_grad": [([sample_array(F32, (1, 3)), shape_tensor((2, 3))],
                    {"slices": ((0, 1, None),), "shape": (2, 3)})],
    "scatter_add": [([sample_array(F32), np.array([0, 0], np.int32), shape_tensor((4, 3))],
                     {"axis": 0, "shape": (4, 3)})],
    "custom_gradient": [([sample_array(F32), sample_array(F32)], {"fn_id": 0})],
    "ensure_shape": [([sample_array(F32)], {"shape": (2, None)}),
                     ([sample_array(dtypes.int32)], {"shape": None})],
    "bitcast": [([sample_array(src)], {"dtype": dst}) for src, dst in (
        (F32, dtypes.int32), (dtypes.int64, dtypes.float64), (dtypes.float16, dtypes.uint16),
        (dtypes.int16, dtypes.float16), (dtypes.uint8, dtypes.int8))],
    "constant": [([], {"value": sample_array(dtypes.int32)})],
    "placeholder_with_default": [([sample_array(F32)], {"shape": (None, 3)})],
    "random": [([], {"distribution": d, "dtype": dt, "shape": (2, 3), "seed": 1, "seed2": 2,
                     "minval": 0, "maxval": 5})
               for d, dt in (("uniform", F32), ("normal", dtypes.float64),
                             ("truncated_normal", dtypes.float16),
                             ("uniform_int", dtypes.int64))],
    "no_op": [([], {})],
    # collectives over the process alone (communicator "local", size 1)
    "allreduce": [([sample_array(dt)], {"op": op, "comm": "local", "size": 1, "group": 0})
                  for dt, op in ((F32, "average"), (dtypes.int64, "sum"))],
    "allgather": [([sample_array(dtypes.int32)], {"comm": "local", "size": 1})],
    "broadcast": [([sample_array(dtypes.float64)], {"comm": "local", "size": 1, "root": 0})],
    "assert": [([np.array([True, True]), sample_array(F32)],
                {"message": "fine", "summarize": 3})],
}
for _name in ("reduce_sum", "reduce_prod", "reduce_max", "reduce_min"):
    SAMPLES[_name] = [([sample_array(dt)], {"axes": axes, "keepdims": keep})
                      for dt in (dtypes.float16, F32, dtypes.int32, dtypes.int64)
                      for axes, keep in (((1,), False), ((0, 1), True))]
    SAMPLES[_name].append(([sample_array(F32, (2, 0))], {"axes": (1,), "keepdims": False}))
for _name in ("reduce_any", "reduce_all"):
    SAMPLES[_name] = [([sample_array(dtypes.bool_)], {"axes": (0,), "keepdims": False})]
for _name, _p in PRIMITIVES.items():
    if _p.kind == "elementwise" and _name not in SAMPLES:
        SAMPLES[_name] = elementwise_samples(_name)


def test_every_primitive_has_a_sample():
    missing = sorted(set(PRIMITIVES) - RUNTIME_STATE_OPS - set(SAMPLES))
    assert not missing, f"add samples for {missing} to SAMPLES in {__file__}"
    assert all(SAMPLES[name] for name in set(PRIMITIVES) - RUNTIME_STATE_OPS)


CASES = [(name, i) for name in sorted(SAMPLES) if name in PRIMITIVES
         for i in range(len(SAMPLES[name]))]


@pytest.mark.parametrize("name, i", CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_reference_matches_the_rules(name, i):
    arrays, attrs = SAMPLES[name][i]
    p = PRIMITIVES[name]
    node = make_node(p, [const(a) for a in arrays], attrs)
    kwargs = dict(node.attrs)
    if name == "random":
        kwargs["rng"] = np.random.default_rng(0)
    with np.errstate(all="ignore"):
        out = p.reference(*arrays, **kwargs)
    if node.dtype is None:
        assert out is None
        return
    out = np.asarray(out)
    assert out.dtype == node.dtype.np, f"reference gives {out.dtype}, rules {node.dtype}"
    assert len(out.shape) == len(node.shape)
    assert all(s is None or s == d for s, d in zip(node.shape, out.shape)), \
        f"reference gives shape {out.shape}, rules {node.shape}"
