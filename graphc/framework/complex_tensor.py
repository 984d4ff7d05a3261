"""ComplexTensor: a complex value as a pair of real graph tensors.

graphc's tensors hold bool, int and float; a complex value is carried as two real tensors
of one float dtype and shape, `real` and `imag` (float32 parts make a "complex64" value,
float64 parts a "complex128" one). It is not a new kind of node: its arithmetic is written
out on the parts (a product is (ac - bd) + (ad + bc)i), so lowering, fusion and gradients
are the ordinary ones, and `tf.gradients` of a real loss built from the parts just works.

tf.signal's Fourier transforms return ComplexTensors (graphc/modalities/audio_fft.py).
`Session.run` fetches one as a numpy complex64/complex128 array (graphc/runtime/session.py
asks `_fetch_plan` which tensors to fetch and how to join them); a ComplexTensor cannot be
fed, and anything wanting one real tensor (tf.reduce_sum, tf.exp, ...) raises a TypeError
saying to take `tf.math.real`, `tf.math.imag` or `tf.abs` first.
"""

from __future__ import annotations

import builtins
import types

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.framework.tensor import TensorShape
from graphc.ir import dtypes


class ComplexDType:
    """The dtype a ComplexTensor reports: complex64 (float32 parts) or complex128."""

    def __init__(self, name: str, real_dtype, np_dtype):
        self.name, self.real_dtype, self.np = name, real_dtype, np.dtype(np_dtype)

    is_complex, is_floating, is_integer, is_bool = True, False, False, False
    as_numpy_dtype = property(lambda self: self.np.type)
    size = property(lambda self: self.np.itemsize)

    def __eq__(self, other) -> bool:
        return self is other or (isinstance(other, str) and other == self.name)

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"tf.{self.name}"

    def __str__(self) -> str:
        return self.name


complex64 = ComplexDType("complex64", dtypes.float32, np.complex64)
complex128 = ComplexDType("complex128", dtypes.float64, np.complex128)
_BY_PART = {dtypes.float32: complex64, dtypes.float64: complex128}


class ComplexTensor:
    """A complex tensor: `real` + i `imag`, two real tensors of one float dtype and shape.
    Build one with tf.complex(real, imag) (or get one from tf.signal.rfft/fft/stft)."""

    __array_priority__ = 200  # numpy defers `ndarray + complex tensor` to __radd__
    __array_ufunc__ = None

    def __init__(self, real, imag, name=None, _fetch=None):
        from graphc.ops.tensor import Tensor
        for part, what in ((real, "real"), (imag, "imag")):
            if not isinstance(part, Tensor):
                raise TypeError(f"ComplexTensor: the {what} part must be a graph Tensor, found "
                                f"{type(part).__name__}")
        if real.dtype not in _BY_PART or imag.dtype is not real.dtype:
            raise DTypeError(f"ComplexTensor: the parts must both be float32 or both float64, "
                             f"got '{real.name}' of dtype {real.dtype} and '{imag.name}' of "
                             f"dtype {imag.dtype}")
        if not real.shape.is_compatible_with(imag.shape):
            raise ShapeError(f"ComplexTensor: the parts must have one shape, got "
                             f"'{real.name}' {real.shape} and '{imag.name}' {imag.shape}")
        if real.graph is not imag.graph:
            raise ValueError("ComplexTensor: the parts must be from the same graph")
        self._real, self._imag = real, imag
        self._name = f"{name}:0" if name else real.name
        # (tensors to fetch, function of their values giving the complex array); the
        # transforms set it to fetch their result in one piece (audio_fft.py)
        self._fetch = _fetch

    real = property(lambda self: self._real, doc="the real part, a float Tensor")
    imag = property(lambda self: self._imag, doc="the imaginary part, a float Tensor")
    dtype = property(lambda self: _BY_PART[self._real.dtype],
                     doc="complex64 (float32 parts) or complex128 (float64 parts)")
    graph = property(lambda self: self._real.graph)
    name = property(lambda self: self._name)

    @property
    def shape(self) -> TensorShape:
        return self._real.shape

    def get_shape(self) -> TensorShape:
        return self.shape

    def eval(self, feed_dict=None, session=None) -> np.ndarray:
        from graphc.framework.sessions import default_session_for
        return default_session_for(session, self.graph).run(self, feed_dict)

    def _fetch_plan(self):
        """(tensors, join): what Session.run fetches for this value, and the function of
        their numpy values that makes the complex array."""
        if self._fetch is not None:
            return self._fetch
        return [self._real, self._imag], join_parts

    def __repr__(self) -> str:
        return (f"<ComplexTensor '{self.name}' shape={self.shape} dtype={self.dtype.name} "
                f"(real '{self._real.name}', imag '{self._imag.name}')>")

    def __bool__(self):
        raise TypeError("Using a ComplexTensor as a Python bool is not allowed")

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"{self!r} is a pair of real tensors and has no single real value "
                        "here: take tf.math.real, tf.math.imag or tf.abs of it first")

    # `+ - * /` both ways round, unary `-`, abs() and [] (the operators are attached below,
    # once the functions exist)
    def __getitem__(self, key):
        return ComplexTensor(self._real[key], self._imag[key])


def join_parts(real: np.ndarray, imag: np.ndarray):
    """One complex array (complex64 for float32 parts) from the parts' values."""
    kind = np.complex64 if np.asarray(real).dtype == np.float32 else np.complex128
    if np.ndim(real) == 0:
        return kind(builtins.complex(real, imag))
    out = np.empty(np.shape(real), kind)
    out.real, out.imag = real, imag
    return out


def is_complex(value) -> bool:
    return isinstance(value, ComplexTensor)


# --- building and taking apart ------------------------------------------------------------
def complex(real, imag, name=None):  # noqa: A001 - TF's name
    """tf.complex: real + i imag from two float tensors (or numbers) of one dtype; shapes
    broadcast."""
    from graphc.ops import array_ops as A
    from graphc.ops.tensor import convert_to_tensor, graph_of
    with graph_of([v for v in (real, imag) if hasattr(v, "graph")]).as_default():
        re, im = convert_to_tensor(real), convert_to_tensor(imag)
        if re.dtype.kind != "f" or im.dtype.kind != "f":
            raise DTypeError(f"tf.complex: real and imag must be float32 or float64 tensors, "
                             f"got '{re.name}' of dtype {re.dtype} and '{im.name}' of dtype "
                             f"{im.dtype}")
        if re.dtype is not im.dtype:
            raise DTypeError(f"tf.complex: real and imag must have one dtype, got {re.dtype} "
                             f"and {im.dtype}")
        if re.shape.is_fully_defined() and im.shape.is_fully_defined() and \
                re.shape != im.shape:
            try:
                common = list(np.broadcast_shapes(tuple(re.shape.as_list()),
                                                  tuple(im.shape.as_list())))
            except ValueError:
                raise ShapeError(f"tf.complex: the shapes of real {re.shape} and imag "
                                 f"{im.shape} do not broadcast") from None
            re, im = (A.broadcast_to(t, common) if t.shape != common else t
                      for t in (re, im))
        elif not re.shape.is_compatible_with(im.shape):
            raise ShapeError(f"tf.complex: real {re.shape} and imag {im.shape} must have one "
                             "shape (they broadcast only when both are fully known)")
        return ComplexTensor(re, im, name=name)


def real(input, name=None):  # noqa: A002
    """tf.math.real: the real part (a real tensor is its own real part)."""
    return _named(input.real if is_complex(input) else input, name)


def imag(input, name=None):  # noqa: A002
    """tf.math.imag: the imaginary part (zeros for a real tensor)."""
    from graphc.ops import array_ops as A
    if is_complex(input):
        return _named(input.imag, name)
    return A.zeros_like(input, name=name or "Imag")


def conj(x, name=None):
    """tf.math.conj: real - i imag (a real tensor as it is)."""
    from graphc.ops.math_ops import negative as neg
    if not is_complex(x):
        return _named(x, name)
    return ComplexTensor(x.real, neg(x.imag), name=name)


def angle(input, name=None):  # noqa: A002
    """tf.math.angle: atan2(imag, real), in (-pi, pi] (0 or pi for a real tensor)."""
    from graphc.ops import array_ops as A
    from graphc.ops.math_ops import atan2
    if is_complex(input):
        return atan2(input.imag, input.real, name=name or "Angle")
    from graphc.ops.tensor import convert_to_tensor
    x = convert_to_tensor(input)
    return atan2(A.zeros_like(x), x, name=name or "Angle")


def abs_(x, name=None):
    """|x| = sqrt(real^2 + imag^2), a real tensor."""
    from graphc.ops.math_ops import add as plus
    from graphc.ops.math_ops import multiply, sqrt
    re, im = x.real, x.imag
    return sqrt(plus(multiply(re, re), multiply(im, im)), name=name or "ComplexAbs")


def square(x, name=None):
    """x * x = (re^2 - im^2) + 2 re im i."""
    from graphc.ops.math_ops import multiply as times
    from graphc.ops.math_ops import subtract as minus
    re, im = x.real, x.imag
    return ComplexTensor(minus(times(re, re), times(im, im)), times(2.0, times(re, im)),
                         name=name)


def _named(t, name):
    from graphc.ops.array_ops import identity
    return identity(t, name=name) if name else t


# --- arithmetic: each operand a ComplexTensor, a real tensor or number, or a complex number
def _parts(value):
    """(real, imag) of an operand; imag None when it is zero (a real operand)."""
    if is_complex(value):
        return value.real, value.imag
    if isinstance(value, (builtins.complex, np.complexfloating)):
        return float(value.real), float(value.imag)
    if isinstance(value, np.ndarray) and value.dtype.kind == "c":
        return value.real, value.imag
    return value, None


def _fit(part, like):
    """`part` cast to `like`'s dtype and broadcast to its shape: the imaginary part of a
    complex operand after the real parts were combined with a real operand's."""
    from graphc.ops import array_ops as A
    from graphc.ops.tensor import cast, convert_to_tensor
    part = convert_to_tensor(part, graph=like.graph)
    if part.dtype is not like.dtype:
        part = cast(part, like.dtype)
    if like.shape.is_fully_defined():
        if part.shape != like.shape:
            part = A.broadcast_to(part, like.shape.as_list())
        return part
    return A.broadcast_to(part, A.shape(like))


def _result(re, im, name):
    """The ComplexTensor of parts `re` (a tensor) and `im` (a tensor, number or None)."""
    from graphc.ops import array_ops as A
    if im is None:
        im = A.zeros_like(re)
    return ComplexTensor(re, _fit(im, re), name=name)


def _check(op: str, x, y) -> None:
    for v in (x, y):
        if hasattr(v, "dtype") and not is_complex(v) and \
                getattr(v.dtype, "kind", "f") not in "f":
            raise DTypeError(f"{op}: a complex value combines with float tensors only, got "
                             f"{v!r:.80} of dtype {v.dtype}; cast it first with tf.cast")


def add(x, y, name=None):
    from graphc.ops import math_ops as M
    _check("add", x, y)
    (a, b), (c, d) = _parts(x), _parts(y)
    re = M.add(a, c)
    im = d if b is None else b if d is None else M.add(b, d)
    return _result(re, im, name)


def subtract(x, y, name=None):
    from graphc.ops import math_ops as M
    _check("subtract", x, y)
    (a, b), (c, d) = _parts(x), _parts(y)
    re = M.subtract(a, c)
    im = None if b is None and d is None else \
        M.negative(d) if b is None else b if d is None else M.subtract(b, d)
    return _result(re, im, name)


def multiply(x, y, name=None):
    """(a + bi)(c + di) = (ac - bd) + (ad + bc)i."""
    from graphc.ops import math_ops as M
    _check("multiply", x, y)
    (a, b), (c, d) = _parts(x), _parts(y)
    if b is None:
        return _result(M.multiply(a, c), None if d is None else M.multiply(a, d), name)
    if d is None:
        return _result(M.multiply(a, c), M.multiply(b, c), name)
    re = M.subtract(M.multiply(a, c), M.multiply(b, d))
    return _result(re, M.add(M.multiply(a, d), M.multiply(b, c)), name)


def divide(x, y, name=None):
    """(a + bi) / (c + di) = ((ac + bd) + (bc - ad)i) / (c^2 + d^2)."""
    from graphc.ops import math_ops as M
    _check("divide", x, y)
    (a, b), (c, d) = _parts(x), _parts(y)
    if d is None:
        return _result(M.truediv(a, c), None if b is None else M.truediv(b, c), name)
    denominator = M.add(M.multiply(c, c), M.multiply(d, d))
    re = M.multiply(a, c) if b is None else M.add(M.multiply(a, c), M.multiply(b, d))
    im = M.negative(M.multiply(a, d)) if b is None else \
        M.subtract(M.multiply(b, c), M.multiply(a, d))
    return _result(M.truediv(re, denominator), M.truediv(im, denominator), name)


def negative(x, name=None):
    from graphc.ops import math_ops as M
    return ComplexTensor(M.negative(x.real), M.negative(x.imag), name=name)


def binary(op: str, x, y, name=None):
    """math_ops' binary ops with a ComplexTensor operand: + - * / are defined, the others
    (comparisons, powers, maximum, ...) are not."""
    table = {"add": add, "sub": subtract, "mul": multiply, "div": divide,
             "truediv": divide}
    if op not in table:
        raise TypeError(f"{op} is not defined for complex values (a ComplexTensor operand); "
                        "graphc's complex arithmetic is +, -, *, / and tf.abs, tf.math.real, "
                        "tf.math.imag, tf.math.conj, tf.math.angle")
    return table[op](x, y, name)


def unary_error(op: str, x) -> TypeError:
    return TypeError(f"{op} is not defined for complex values ({x!r}); take tf.math.real, "
                     "tf.math.imag or tf.abs of it first")


def map_parts(fn, x, *args, **kwargs):
    """A shape op (reshape, transpose, expand_dims, squeeze) applied to both parts."""
    kwargs.pop("name", None)
    return ComplexTensor(fn(x.real, *args, **kwargs), fn(x.imag, *args, **kwargs))


def _install_operators(cls) -> None:
    for name, fn in (("add", add), ("sub", subtract), ("mul", multiply), ("truediv", divide)):
        setattr(cls, f"__{name}__", lambda self, other, fn=fn: fn(self, other))
        setattr(cls, f"__r{name}__", lambda self, other, fn=fn: fn(other, self))
    cls.__neg__ = lambda self: negative(self)
    cls.__abs__ = lambda self: abs_(self)


_install_operators(ComplexTensor)

# math_ops and array_ops apply these to a ComplexTensor operand (they cannot import this
# module, which builds on them)
ComplexTensor._complex_ops = types.SimpleNamespace(
    binary=binary, divide=divide, negative=negative, abs_=abs_, square=square, conj=conj,
    unary_error=unary_error, map_parts=map_parts)
