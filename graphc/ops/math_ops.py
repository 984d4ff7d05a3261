"""Elementwise math, comparisons, reductions and matmul: the TF1 names over L1 primitives.

Binary ops promote their operands with numpy's rules, Python and numpy scalars being weak
(see graphc.ir.dtypes), and insert the casts; the primitives then see equal dtypes.
"""

from __future__ import annotations

import builtins

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.ir import dtypes
from graphc.ir.shapes import normalize_axis
from graphc.ir.values import node_value
from graphc.ops import array_ops as A
from graphc.ops.tensor import (  # noqa: F401 (promote_operands and cast: math_ops' names too)
    Tensor,
    cast,
    constant,
    convert_to_tensor,
    is_tensor_like,
    make_tensor,
    promote_operands,
    scalar,
)


def _complex_of(*values):
    """The operands' complex rules when one is a ComplexTensor, else None. A ComplexTensor
    carries its own (graphc/framework/complex_tensor.py builds on this module)."""
    return next((t._complex_ops for t in map(type, values) if hasattr(t, "_complex_ops")),
                None)


def _binary(op_name, x, y, name):
    if (rules := _complex_of(x, y)) is not None:
        return rules.binary(op_name, x, y, name)
    a, b = promote_operands([x, y], op_name)
    return make_tensor(op_name, (a, b), name=name or op_name)


def _unary(op_name, x, name, float_only=False):
    if (rules := _complex_of(x)) is not None:
        raise rules.unary_error(op_name, x)
    x = convert_to_tensor(x)
    if float_only:
        _check_float(op_name, x)
    return make_tensor(op_name, (x,), name=name or op_name)


def _check_float(op_name, x: Tensor) -> Tensor:
    if x.dtype.kind != "f":
        raise DTypeError(f"{op_name} expects a floating-point tensor, got {x.dtype} "
                         f"('{x.name}'); cast it first with tf.cast")
    return x


# --- elementwise ------------------------------------------------------------------------
def add(x, y, name=None):
    return _binary("add", x, y, name)


def subtract(x, y, name=None):
    return _binary("sub", x, y, name)


def multiply(x, y, name=None):
    return _binary("mul", x, y, name)


def truediv(x, y, name=None):
    """x / y; integer operands divide as float64 (as numpy and TF1's truediv)."""
    if (rules := _complex_of(x, y)) is not None:
        return rules.divide(x, y, name)
    a, b = promote_operands([x, y], "truediv")
    if a.dtype.kind != "f":
        a, b = cast(a, dtypes.float64), cast(b, dtypes.float64)
    return make_tensor("div", (a, b), name=name or "truediv")


def divide(x, y, name=None):
    return truediv(x, y, name=name or "div")


def div(x, y, name=None):
    """TF1's legacy div: floor division for ints, true division for floats."""
    a, b = promote_operands([x, y], "div")
    return floordiv(a, b, name) if a.dtype.kind == "i" else make_tensor("div", (a, b),
                                                                        name=name or "div")


def floordiv(x, y, name=None):
    return _binary("floordiv", x, y, name or "floordiv")


def mod(x, y, name=None):
    return _binary("mod", x, y, name or "mod")


def pow(x, y, name=None):  # noqa: A001 - TF1 name
    return _binary("pow", x, y, name or "pow")


def maximum(x, y, name=None):
    return _binary("maximum", x, y, name or "Maximum")


def minimum(x, y, name=None):
    return _binary("minimum", x, y, name or "Minimum")


def atan2(y, x, name=None):
    return _binary("atan2", y, x, name or "Atan2")


def negative(x, name=None):
    if (rules := _complex_of(x)) is not None:
        return rules.negative(x, name)
    return _unary("neg", x, name or "Neg")


def abs(x, name=None):  # noqa: A001
    if (rules := _complex_of(x)) is not None:  # the magnitude, a real tensor
        return rules.abs_(x, name)
    return _unary("abs", x, name or "Abs")


def sign(x, name=None):
    return _unary("sign", x, name or "Sign")


def square(x, name=None):
    if (rules := _complex_of(x)) is not None:
        return rules.square(x, name)
    x = convert_to_tensor(x)
    return make_tensor("mul", (x, x), name=name or "Square")


def reciprocal(x, name=None):
    return truediv(1, x, name=name or "Reciprocal")


def rsqrt(x, name=None):
    x = _check_float("rsqrt", convert_to_tensor(x))  # name rsqrt, not sqrt, in the error
    return truediv(1, sqrt(x), name=name or "Rsqrt")


def _float_unary(op_name, tf_name):
    def fn(x, name=None):
        return _unary(op_name, x, name or tf_name, float_only=True)
    fn.__name__ = tf_name.lower()
    fn.__doc__ = f"Elementwise {op_name} of a floating-point tensor."
    return fn


sqrt = _float_unary("sqrt", "Sqrt")
exp = _float_unary("exp", "Exp")
log = _float_unary("log", "Log")
log1p = _float_unary("log1p", "Log1p")
expm1 = _float_unary("expm1", "Expm1")
sin = _float_unary("sin", "Sin")
cos = _float_unary("cos", "Cos")
tanh = _float_unary("tanh", "Tanh")
sigmoid = _float_unary("sigmoid", "Sigmoid")
erf = _float_unary("erf", "Erf")
floor = _float_unary("floor", "Floor")
ceil = _float_unary("ceil", "Ceil")
is_nan = _float_unary("is_nan", "IsNan")
is_inf = _float_unary("is_inf", "IsInf")
is_finite = _float_unary("is_finite", "IsFinite")


def round(x, name=None):  # noqa: A001 - half to even, as TF1
    return _unary("round", x, name or "Round")


def to_float(x, name=None):
    return cast(x, dtypes.float32, name)


def to_int32(x, name=None):
    return cast(x, dtypes.int32, name)


def to_int64(x, name=None):
    return cast(x, dtypes.int64, name)


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    t = convert_to_tensor(t)
    return minimum(maximum(t, clip_value_min), clip_value_max, name=name or "clip_by_value")


def _compare(op_name, tf_name):
    def fn(x, y, name=None):
        return _binary(op_name, x, y, name or tf_name)
    fn.__name__ = op_name
    return fn


equal = _compare("equal", "Equal")
not_equal = _compare("not_equal", "NotEqual")
less = _compare("less", "Less")
less_equal = _compare("less_equal", "LessEqual")
greater = _compare("greater", "Greater")
greater_equal = _compare("greater_equal", "GreaterEqual")


def _logical(op_name, tf_name):
    def fn(x, y, name=None):
        return make_tensor(op_name, (_as_bool(x), _as_bool(y)), name=name or tf_name)
    fn.__name__ = op_name
    return fn


def _as_bool(x):
    return convert_to_tensor(x, dtypes.bool_)


logical_and = _logical("logical_and", "LogicalAnd")
logical_or = _logical("logical_or", "LogicalOr")
logical_xor = _logical("logical_xor", "LogicalXor")


def logical_not(x, name=None):
    return make_tensor("logical_not", (_as_bool(x),), name=name or "LogicalNot")


def where(condition, x=None, y=None, name=None):
    """tf.where(cond, x, y): x where cond else y, broadcasting all three."""
    if x is None or y is None:
        raise NotImplementedError("tf.where(condition) with one argument returns a tensor of "
                                  "data-dependent shape, which graphc's static shapes do not "
                                  "support; use the 3-argument form")
    a, b = promote_operands([x, y], "where")
    return make_tensor("select", (_as_bool(condition), a, b), name=name or "Select")


where_v2 = where


# --- reductions -------------------------------------------------------------------------
def _axes(x: Tensor, axis, op_name):
    """Sorted non-negative axes from an int, a list, a constant tensor or None (= all)."""
    if axis is None:
        return tuple(range(x.node.rank))
    if is_tensor_like(axis):
        value = node_value(convert_to_tensor(axis).node)
        if value is None:
            raise ShapeError(f"{op_name}: the axis must be known when the graph is built")
        axis = value.tolist()
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    out = sorted({normalize_axis(int(a), x.node.rank, f"{op_name} axis") for a in axes})
    return tuple(out)


def _reduce(op_name, tf_name, kinds=None):
    def fn(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
           keep_dims=None):
        x = convert_to_tensor(input_tensor)
        if op_name in ("reduce_any", "reduce_all"):
            x = _as_bool(x)
        axis = reduction_indices if axis is None else axis
        keep = bool(keepdims if keepdims is not None else keep_dims)
        if x.node.rank is None:
            if axis is not None or keep:
                raise ShapeError(f"{tf_name}: reducing over given axes needs a tensor of known "
                                 f"rank; '{x.name}' has unknown rank")
            x = make_tensor("reshape", (x,), {"shape": (-1,)}, "Reshape")
        axes = _axes(x, axis, tf_name)
        return make_tensor(op_name, (x,), {"axes": axes, "keepdims": keep}, name or tf_name)
    fn.__name__ = op_name
    fn.__doc__ = f"{tf_name} over `axis` (all axes when None), TF1 signature."
    return fn


reduce_sum = _reduce("reduce_sum", "Sum")
reduce_prod = _reduce("reduce_prod", "Prod")
reduce_max = _reduce("reduce_max", "Max")
reduce_min = _reduce("reduce_min", "Min")
reduce_any = _reduce("reduce_any", "Any")
reduce_all = _reduce("reduce_all", "All")


def reduce_mean(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
                keep_dims=None):
    """Mean over `axis`. Ints stay ints (truncated, as TF1); float16 averages in float32."""
    x = convert_to_tensor(input_tensor)
    kw = dict(axis=axis, keepdims=keepdims, reduction_indices=reduction_indices,
              keep_dims=keep_dims)
    if x.dtype is dtypes.float16:
        work = cast(x, dtypes.float32)
    elif x.dtype.kind != "f":
        work = cast(x, dtypes.float64)
    else:
        work = x
    total = reduce_sum(work, **kw)
    count = _count(work, total)
    if work is x:  # no cast back: the division carries the name
        return truediv(total, count, name=name or "Mean")
    return cast(truediv(total, count), x.dtype, name=name or "Mean")


def _count(x: Tensor, reduced: Tensor):
    """Number of elements reduced into each output element, as a scalar of x's dtype."""
    n_in, n_out = x.shape.num_elements(), reduced.shape.num_elements()
    if n_in is not None and n_out is not None:
        return constant(np.array(n_in // builtins.max(n_out, 1) if n_out else 0,
                                 dtype=x.dtype.np))
    return truediv(cast(size(x), x.dtype), cast(maximum(size(reduced), 1), x.dtype))


def argmax(input, axis=None, name=None, dimension=None, output_type=dtypes.int64):  # noqa: A002
    return _arg("argmax", "ArgMax", input, axis, dimension, output_type, name)


def argmin(input, axis=None, name=None, dimension=None, output_type=dtypes.int64):  # noqa: A002
    return _arg("argmin", "ArgMin", input, axis, dimension, output_type, name)


def _arg(op_name, tf_name, x, axis, dimension, output_type, name):
    x = convert_to_tensor(x)
    axis = dimension if axis is None else axis
    axes = _axes(x, 0 if axis is None else axis, tf_name)
    if len(axes) != 1:
        raise ShapeError(f"{tf_name}: axis must be a single int, got {axis!r}")
    return make_tensor(op_name, (x,), {"axis": axes[0],
                                       "output_type": dtypes.as_dtype(output_type)},
                       name or tf_name)


def count_nonzero(input_tensor, axis=None, keepdims=None, dtype=dtypes.int64, name=None):
    x = convert_to_tensor(input_tensor)
    nonzero = cast(not_equal(x, 0 if x.dtype.kind != "b" else False), dtype)
    return reduce_sum(nonzero, axis=axis, keepdims=keepdims, name=name or "count_nonzero")


# --- matmul -----------------------------------------------------------------------------
def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, name=None):
    """Matrix product over the last two axes, batch axes broadcasting. 1-D operands are
    treated as numpy does (a row or column vector, squeezed from the result)."""
    a, b = promote_operands([a, b], "MatMul")
    squeeze_axes = []
    if a.node.rank == 1:
        a = A.expand_dims(a, 0)
        squeeze_axes.append(-2)
    if b.node.rank == 1:
        b = A.expand_dims(b, 1)
        squeeze_axes.append(-1)
    if transpose_a or adjoint_a:
        a = A.transpose(a, _swap_last_two(a))
    if transpose_b or adjoint_b:
        b = A.transpose(b, _swap_last_two(b))
    out = make_tensor("matmul", (a, b), name=None if squeeze_axes else (name or "MatMul"))
    return A.squeeze(out, squeeze_axes, name=name or "MatMul") if squeeze_axes else out


def _swap_last_two(x):
    rank = x.node.rank
    if rank is None or rank < 2:
        raise ShapeError(f"transposing the matrix axes needs rank >= 2, '{x.name}' has "
                         f"shape {x.shape}")
    return list(range(rank - 2)) + [rank - 1, rank - 2]


def tensordot(a, b, axes, name=None):
    """Sum over the given axes of a and b (an int n: a's last n with b's first n)."""
    a, b = promote_operands([a, b], "Tensordot")
    ra, rb = a.node.rank, b.node.rank
    if isinstance(axes, (int, np.integer)):
        axes_a, axes_b = list(range(ra - axes, ra)), list(range(axes))
    else:
        axes_a, axes_b = [[int(x)] if isinstance(x, (int, np.integer)) else list(x)
                          for x in axes]
    axes_a = [normalize_axis(x, ra, "tensordot axis") for x in axes_a]
    axes_b = [normalize_axis(x, rb, "tensordot axis") for x in axes_b]
    if len(axes_a) != len(axes_b):
        raise ShapeError(f"tensordot: {len(axes_a)} axes of a but {len(axes_b)} axes of b")
    for i, j in zip(axes_a, axes_b):
        da, db = a.node.shape[i], b.node.shape[j]
        if da is not None and db is not None and da != db:
            raise ShapeError(f"tensordot: axis {i} of a (size {da}) and axis {j} of b "
                             f"(size {db}) differ")
    free_a = [i for i in range(ra) if i not in axes_a]
    free_b = [j for j in range(rb) if j not in axes_b]
    k = _product([a.node.shape[i] for i in axes_a])
    at = A.reshape(A.transpose(a, free_a + axes_a), [-1, k if k is not None else -1])
    bt = A.reshape(A.transpose(b, axes_b + free_b), [k if k is not None else -1, -1])
    out_shape = [a.node.shape[i] for i in free_a] + [b.node.shape[j] for j in free_b]
    return A.reshape(matmul(at, bt), _dynamic_dims(out_shape, a, free_a, b, free_b),
                   name=name or "Tensordot")


def _product(dims):
    n = 1
    for d in dims:
        if d is None:
            return None
        n *= d
    return n


def _dynamic_dims(out_shape, a, free_a, b, free_b):
    """The result shape as reshape takes it: known dims as ints (so they stay static),
    unknown ones read from the operands' run-time shapes."""
    if all(d is not None for d in out_shape):
        return out_shape
    sources = [(a, i) for i in free_a] + [(b, j) for j in free_b]
    return [d if d is not None else A.gather(A.shape(x), i)
            for d, (x, i) in zip(out_shape, sources)]


# --- built on array ops -------------------------------------------------------------------
def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """One-hot vectors along a new axis (last by default); out-of-range indices give all off."""
    idx = convert_to_tensor(indices)
    if idx.dtype not in dtypes.INT_DTYPES:
        raise TypeError(f"one_hot: indices must be int32 or int64, got {idx.dtype}")
    if dtype is None:
        dtype = next((v.dtype for v in (on_value, off_value) if isinstance(v, Tensor)),
                     dtypes.float32)
    dtype = dtypes.as_dtype(dtype)
    on = scalar(1, dtype) if on_value is None else convert_to_tensor(on_value, dtype)
    off = scalar(0, dtype) if off_value is None else convert_to_tensor(off_value, dtype)
    axis = -1 if axis is None else axis
    expanded = A.expand_dims(idx, axis)
    rank = expanded.node.rank
    axis = normalize_axis(axis, rank, "one_hot axis")
    positions = A.reshape(A.range(int(depth), dtype=idx.dtype),
                          [-1 if a == axis else 1 for a in builtins.range(rank)])
    return where(equal(expanded, positions), on, off, name=name or "one_hot")


def size(input, name=None, out_type=dtypes.int32) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    n = x.shape.num_elements()
    if n is not None:
        return constant(np.array(n, dtype=dtypes.as_dtype(out_type).np), name=name or "Size")
    return reduce_prod(A.shape(x, out_type=out_type), name=name or "Size")


def rank(input, name=None) -> Tensor:  # noqa: A002
    x = convert_to_tensor(input)
    if x.node.rank is not None:
        return constant(np.int32(x.node.rank), name=name or "Rank")
    return size(A.shape(x), name=name or "Rank")
