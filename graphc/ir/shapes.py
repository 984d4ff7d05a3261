"""Static-shape helpers shared by the primitive rules, the API and the runtime.

A static shape is a tuple of ints and Nones (unknown dims) or None (unknown rank).
"""

from __future__ import annotations

from graphc.errors import ShapeError, format_shape  # noqa: F401 (shapes' own word for it)


def broadcast_shapes(*shapes):
    """numpy broadcasting of static shapes; None dims are unknown until run time.

    A known dim other than 1 wins over an unknown one (the unknown one must then be 1 or
    equal at run time, which the runtime checks).
    """
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ShapeError("cannot broadcast shapes "
                             + " and ".join(format_shape(s) for s in shapes))
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    """A non-negative axis in [0, rank); negative axes count from the end, as in numpy."""
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise ShapeError(f"{what} must be an int, got {axis!r}")
    if not -rank <= axis < rank:
        raise ShapeError(f"{what} {axis} is out of range for a tensor of rank {rank}")
    return axis % rank


def num_elements(shape):
    """The number of elements, or None when some dim (or the rank) is unknown."""
    if shape is None or any(d is None for d in shape):
        return None
    n = 1
    for d in shape:
        n *= d
    return n


def is_compatible(actual, static) -> bool:
    """Whether a concrete shape `actual` matches the static shape `static`."""
    if static is None:
        return True
    return len(actual) == len(static) and all(s is None or s == a for a, s in zip(actual, static))


def merge_shapes(a, b):
    """The most specific shape compatible with both (None = unknown); ShapeError if none is."""
    if a is None:
        return None if b is None else tuple(b)
    if b is None:
        return tuple(a)
    if len(a) != len(b):
        raise ShapeError(f"shapes {format_shape(a)} and {format_shape(b)} have different ranks")
    out = []
    for x, y in zip(a, b):
        if x is not None and y is not None and x != y:
            raise ShapeError(f"shapes {format_shape(a)} and {format_shape(b)} are incompatible")
        out.append(x if x is not None else y)
    return tuple(out)
