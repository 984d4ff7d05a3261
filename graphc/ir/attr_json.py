"""Attribute values as tagged JSON: the encoding of graph documents (saving/graph_io.py) and
of stored plans' random draws (runtime/plan_store.py).

Numbers, strings, booleans and null stand as themselves; {"float": hex} (exact bits: nan,
-0.0), {"tuple": [...]}, {"dtype": name}, {"slice": [start, stop, step]}, {"array": key}
(the document's arrays) and {"region": {"params": [ids], "results": [ids]}} (its nodes).
Decoding builds values only; nothing in a document is executed.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes
from graphc.ir.node import Region


class GraphFormatError(ValueError):
    """A graph document graphc cannot read (another format or version, or malformed)."""


def encode_attribute(value):
    """An attribute value without arrays or regions as tagged JSON (`encode`);
    GraphFormatError for a value it cannot hold."""
    arrays: dict = {}
    encoded = encode(value, {}, arrays)
    if arrays:
        raise GraphFormatError("an array attribute needs the document's arrays")
    return encoded


def decode_attribute(value):
    """The attribute value encode_attribute wrote; GraphFormatError if unreadable."""
    return decode(value, [], {})


def encode(value, ids: dict, arrays: dict):
    """`value` as tagged JSON: a region's nodes by their ids in `ids`, an array as a key
    of `arrays`, where it is added."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return {"float": value.hex()}
    if isinstance(value, tuple):
        return {"tuple": [encode(v, ids, arrays) for v in value]}
    if isinstance(value, dtypes.DType):
        return {"dtype": value.name}
    if isinstance(value, slice):
        return {"slice": [encode(v, ids, arrays) for v in (value.start, value.stop,
                                                              value.step)]}
    if isinstance(value, np.ndarray):
        key = f"c{len(arrays)}"
        arrays[key] = value
        return {"array": key}
    if isinstance(value, Region):
        return {"region": {"params": [ids[p] for p in value.params],
                           "results": [ids[r] for r in value.results]}}
    raise GraphFormatError(f"cannot save an attribute of type {type(value).__name__}: "
                           f"{value!r}")


def decode(value, nodes: list, arrays):
    """The value `encode` wrote, its region ids taken from `nodes` (only ids before
    len(nodes)) and its array keys from `arrays`; GraphFormatError if unreadable."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        raise GraphFormatError(f"unreadable attribute value {value!r}")
    (tag, body), = value.items()
    if tag == "float":
        return float.fromhex(body)
    if tag == "tuple":
        return tuple(decode(v, nodes, arrays) for v in body)
    if tag == "dtype":
        return dtypes.as_dtype(body)
    if tag == "slice":
        return slice(*(decode(v, nodes, arrays) for v in body))
    if tag == "array":
        return np.asarray(arrays[body])
    if tag == "region":
        n = len(nodes)
        return Region([nodes[j] for j in earlier_ids(body["params"], n)],
                      [nodes[j] for j in earlier_ids(body["results"], n)])
    raise GraphFormatError(f"unknown attribute tag {tag!r}")


def earlier_ids(ids: list, i: int) -> list:
    """Ids of earlier nodes only (a document cannot make a cycle or refer ahead)."""
    for j in ids:
        if not isinstance(j, int) or not 0 <= j < i:
            raise GraphFormatError(f"node {i} refers to node {j!r}, which is not before it")
    return ids
