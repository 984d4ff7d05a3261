"""Static-shape helpers: broadcasting with unknown dims, axes, element counts, formatting."""

from __future__ import annotations

import pytest

from graphc.errors import ShapeError
from graphc.ir.shapes import (
    broadcast_shapes,
    format_shape,
    is_compatible,
    normalize_axis,
    num_elements,
)


@pytest.mark.parametrize("shapes, expected", [
    (((2, 3), (2, 3)), (2, 3)),
    (((2, 3), (3,)), (2, 3)),
    (((2, 1), (1, 3)), (2, 3)),
    (((), (4,)), (4,)),
    (((), ()), ()),
    (((5, 1, 4), (3, 1)), (5, 3, 4)),
    (((0,), (1,)), (0,)),
    (((2, 3), (2, 3), (1, 3)), (2, 3)),
    # unknown dims: a known dim other than 1 wins; 1 and None stay unknown
    (((None, 3), (2, 1)), (2, 3)),
    (((None,), (None,)), (None,)),
    (((None,), (1,)), (None,)),
    (((None,), (5,)), (5,)),
    (((None, None), (3,)), (None, 3)),
    (((None, 1), (1, None)), (None, None)),
    (((None,), (0,)), (0,)),
])
def test_broadcast_shapes(shapes, expected):
    assert broadcast_shapes(*shapes) == expected
    assert broadcast_shapes(*reversed(shapes)) == expected


@pytest.mark.parametrize("shapes, message", [
    (((2,), (3,)), r"cannot broadcast shapes \(2,\) and \(3,\)"),
    (((2, 3), (4, 3)), r"cannot broadcast shapes \(2, 3\) and \(4, 3\)"),
    (((0,), (2,)), r"\(0,\) and \(2,\)"),
    (((None, 2), (3, 4)), r"\(\?, 2\) and \(3, 4\)"),
    (((2, 1), (1, 3), (4, 1)), r"\(2, 1\) and \(1, 3\) and \(4, 1\)"),
])
def test_broadcast_shapes_errors(shapes, message):
    with pytest.raises(ShapeError, match=message):
        broadcast_shapes(*shapes)


def test_shape_errors_are_value_errors():
    with pytest.raises(ValueError):
        broadcast_shapes((2,), (3,))


@pytest.mark.parametrize("shape, text", [
    ((), "()"), ((3,), "(3,)"), ((2, None, 3), "(2, ?, 3)"), ((None,), "(?,)"),
    (None, "<unknown rank>"),
])
def test_format_shape(shape, text):
    assert format_shape(shape) == text


def test_normalize_axis():
    assert normalize_axis(0, 3) == 0
    assert normalize_axis(-1, 3) == 2
    assert normalize_axis(-3, 3) == 0
    with pytest.raises(ShapeError, match="axis 3 is out of range for a tensor of rank 3"):
        normalize_axis(3, 3)
    with pytest.raises(ShapeError, match="perm -4 is out of range"):
        normalize_axis(-4, 3, "perm")
    with pytest.raises(ShapeError, match="must be an int"):
        normalize_axis(True, 3)
    with pytest.raises(ShapeError, match="must be an int"):
        normalize_axis(1.0, 3)


def test_num_elements():
    assert num_elements(()) == 1
    assert num_elements((2, 3, 4)) == 24
    assert num_elements((2, 0)) == 0
    assert num_elements((2, None)) is None
    assert num_elements(None) is None


def test_is_compatible():
    assert is_compatible((2, 3), (None, 3))
    assert is_compatible((2, 3), None)
    assert is_compatible((), ())
    assert not is_compatible((2, 3), (None, 4))
    assert not is_compatible((2, 3), (2, 3, 1))
    assert not is_compatible((6,), (2, 3))
