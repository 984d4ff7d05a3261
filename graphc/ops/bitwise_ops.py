"""tf.bitwise: bitwise_and, bitwise_or, bitwise_xor, invert, left_shift, right_shift on
integer tensors (int8 to int64, uint8, uint16), one primitive each.

Both operands of a binary op have one dtype (a Python int becomes that dtype); they
broadcast numpy-style. right_shift is arithmetic for signed types and logical for unsigned
ones. A shift amount outside [0, bits of the type) gives numpy's answer on every target
(TF leaves it implementation-defined): every bit shifted out, so 0, or -1 for a right shift
of a negative value.
"""

from __future__ import annotations

from graphc.errors import DTypeError
from graphc.ops.tensor import convert_to_tensor, make_tensor, promote_operands


def _integer(op: str, *xs):
    for x in xs:
        if x.dtype.kind != "i":
            raise DTypeError(f"{op} takes integer tensors, got {x.dtype}")


def _binary(op: str, x, y, name):
    x, y = promote_operands([x, y], op)
    _integer(op, x, y)
    return make_tensor(op, (x, y), {}, name or op.title().replace("_", ""))


def bitwise_and(x, y, name=None):
    return _binary("bitwise_and", x, y, name)


def bitwise_or(x, y, name=None):
    return _binary("bitwise_or", x, y, name)


def bitwise_xor(x, y, name=None):
    return _binary("bitwise_xor", x, y, name)


def left_shift(x, y, name=None):
    return _binary("left_shift", x, y, name)


def right_shift(x, y, name=None):
    return _binary("right_shift", x, y, name)


def invert(x, name=None):
    x = convert_to_tensor(x)
    _integer("invert", x)
    return make_tensor("invert", (x,), {}, name or "Invert")
