"""tf.nest: nested structures of values (lists, tuples, namedtuples, dicts) as flat lists.

Control flow takes loop vars and branch results as such structures (an LSTM state is a
namedtuple of two tensors). Dicts flatten in sorted key order, as in TF. Tensors, Variables,
arrays and numbers are leaves.
"""

from __future__ import annotations


def _is_namedtuple(value) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields")


def is_nested(value) -> bool:
    return isinstance(value, (list, tuple, dict))


def flatten(structure) -> list:
    """The leaves of `structure`, depth first."""
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in flatten(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [leaf for part in structure for leaf in flatten(part)]
    return [structure]


def pack_sequence_as(structure, flat_sequence):
    """`structure` with its leaves replaced, in order, by the values of `flat_sequence`."""
    flat = list(flat_sequence)
    count = len(flatten(structure))
    if len(flat) != count:
        raise ValueError(f"the structure has {count} leaves, but {len(flat)} values were "
                         "given")
    packed, _ = _pack(structure, flat, 0)
    return packed


def _pack(structure, flat, at):
    if isinstance(structure, dict):
        out = {}
        for key in sorted(structure):
            out[key], at = _pack(structure[key], flat, at)
        return type(structure)((k, out[k]) for k in structure), at
    if isinstance(structure, (list, tuple)):
        parts = []
        for part in structure:
            value, at = _pack(part, flat, at)
            parts.append(value)
        if _is_namedtuple(structure):
            return type(structure)(*parts), at
        return type(structure)(parts), at
    return flat[at], at + 1


def map_structure(fn, *structures):
    """`fn` applied leaf by leaf to structures of the same structure."""
    if not structures:
        raise ValueError("map_structure needs at least one structure")
    for other in structures[1:]:
        assert_same_structure(structures[0], other)
    flats = [flatten(s) for s in structures]
    return pack_sequence_as(structures[0], [fn(*leaves) for leaves in zip(*flats)])


def _shape_of(structure):
    """The structure with every leaf replaced by None (what assert_same_structure compares)."""
    if isinstance(structure, dict):
        return ("dict", tuple((k, _shape_of(structure[k])) for k in sorted(structure)))
    if isinstance(structure, (list, tuple)):
        kind = type(structure).__name__ if _is_namedtuple(structure) else "sequence"
        return (kind, tuple(_shape_of(s) for s in structure))
    return None


def assert_same_structure(nest1, nest2, check_types=True) -> None:
    """Raise ValueError unless both have the same nesting (and namedtuple types)."""
    if _shape_of(nest1) != _shape_of(nest2):
        raise ValueError("The two structures don't have the same nested structure.\n\n"
                         f"First structure: {_describe(nest1)}\n\n"
                         f"Second structure: {_describe(nest2)}")


def _describe(structure) -> str:
    if isinstance(structure, dict):
        return "{" + ", ".join(f"{k!r}: {_describe(v)}" for k, v in sorted(structure.items())) \
            + "}"
    if isinstance(structure, (list, tuple)):
        inner = ", ".join(_describe(s) for s in structure)
        name = type(structure).__name__
        return f"{name}({inner})" if _is_namedtuple(structure) else (
            f"[{inner}]" if isinstance(structure, list) else f"({inner})")
    return "."
