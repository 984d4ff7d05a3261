"""Cases made on the command line: one API op on given shapes, and a user's own script.

`graphc bench op NAME --shape S [--shape S2 ...] [--dtype D] [--attr key=value ...]`
  NAME is any function of the API: `graphc.NAME` (exp, add, matmul, reduce_sum, ...) or
  `graphc.nn.NAME` (softmax, relu, ...), also written `nn.NAME`. Every required positional
  argument not given by --attr becomes a placeholder fed with an array of its --shape (one
  --shape for all, or one per argument, in order); --attr values are Python literals
  (`--attr axis=1`). Floats are drawn uniformly from [0.5, 1.5), so log, sqrt and division
  are defined; integers from [0, 10). Work counted: bytes, one read of each input and one
  write of the result; matmul also counts 2 m n k flops.

`graphc bench script.py` (or script.py:FUNCTION)
  A model script, the contract of every command (graphc/scripts.py, docs/cli.md). Its build
  function is called inside a fresh default graph (once per thread count) and returns
  {"fetches": ..., "feeds": {placeholder: array}}, optionally with "flops" and/or "bytes"
  (the work of one run, for GFLOP/s and GB/s) and "numpy" (a function of the fed arrays, in
  the feeds' order, computing the same result: the numpy peer). Variables are initialized
  before timing.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
from typing import Callable

import numpy as np

from graphc.bench.workloads import Case
from graphc.scripts import UsageError


class BenchError(UsageError):
    """A mistake in what was asked for; the CLI prints the message and exits with 2."""


def parse_shape(text: str) -> tuple:
    """'4096x4096' -> (4096, 4096); '' or 'scalar' -> ()."""
    if text in ("", "scalar", "()"):
        return ()
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        dims = ()
    if not dims or any(d < 0 for d in dims):
        raise BenchError(f"cannot read shape {text!r}: expected sizes joined by 'x', like "
                         f"4096x4096")
    return dims


def parse_attrs(items: list) -> dict:
    attrs = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise BenchError(f"cannot read --attr {item!r}: expected key=value, like axis=1")
        try:
            attrs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            attrs[key] = value  # a bare word: a string
    return attrs


# --- op ----------------------------------------------------------------------------------------
def resolve_op(name: str) -> Callable:
    import graphc

    short = name.split(".")[-1]
    for where in ([graphc.nn] if name.startswith("nn.") else [graphc, graphc.nn]):
        fn = getattr(where, short, None)
        if callable(fn) and not isinstance(fn, type) and not short.startswith("_"):
            return fn
    raise BenchError(f"unknown op {name!r}: expected a function of graphc or graphc.nn, like "
                     f"exp, add, matmul, reduce_sum or softmax")


def _random(shape: tuple, dtype: str, rng) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        return rng.uniform(0.5, 1.5, shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) < 0.5
    return rng.integers(0, 10, shape).astype(dtype)


def op_case(name: str, shapes: list, dtype: str = "float32", attrs: dict | None = None) -> Case:
    import graphc as tf

    fn, attrs = resolve_op(name), attrs or {}
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
              and p.default is p.empty and p.name not in attrs]
    if not shapes:
        raise BenchError(f"op {name} needs --shape (one, or one per input: "
                         f"{', '.join(p.name for p in params)})")
    if len(shapes) not in (1, len(params)):
        raise BenchError(f"op {name} takes {len(params)} inputs "
                         f"({', '.join(p.name for p in params)}), got {len(shapes)} shapes")
    shapes = shapes * len(params) if len(shapes) == 1 else shapes
    rng = np.random.default_rng(0)
    arrays = {p.name: _random(s, dtype, rng) for p, s in zip(params, shapes)}

    def build(g):
        holders = [g.placeholder(g.as_dtype(dtype), arrays[p.name].shape, name=p.name)
                   for p in params]
        return fn(*holders, **attrs), holders
    try:
        with tf.Graph().as_default():
            result, _ = build(tf)
    except Exception as err:  # the op's own message says what was wrong
        raise BenchError(f"op {name} on shapes {shapes} with {attrs}: {err}") from err
    if not isinstance(result, tf.Tensor) or result.shape.num_elements() is None:
        raise BenchError(f"op {name} returns {type(result).__name__}, not one tensor of known "
                         f"shape; benchmark it from a script instead")
    out_bytes = result.shape.num_elements() * np.dtype(result.dtype.as_numpy_dtype).itemsize
    flops = None
    if resolve_op("matmul") is fn and len(shapes) == 2 and len(shapes[0]) == 2:
        flops = 2.0 * shapes[0][0] * shapes[0][1] * shapes[1][-1]
    twin = array_op(np, name.split(".")[-1], attrs)
    shown = ", ".join("x".join(map(str, s)) or "scalar" for s in shapes)
    return Case("op", f"op {name} {shown} {dtype}", arrays, list(arrays), build,
                numpy=None if twin is None else lambda arr: lambda: twin(*arr.values()),
                flops=flops, bytes=float(sum(a.nbytes for a in arrays.values()) + out_bytes),
                params={"op": name.split(".")[-1], "attrs": attrs})


def array_op(xp, name: str, attrs: dict) -> Callable | None:
    """The API op `name` written with the array module `xp` (numpy or jax.numpy), or None."""
    def softmax(x, axis=-1):
        e = xp.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    table = {"softmax": softmax, "relu": lambda x: xp.maximum(x, 0),
             "sigmoid": lambda x: 1 / (1 + xp.exp(-x)), "rsqrt": lambda x: 1 / xp.sqrt(x),
             "reduce_sum": xp.sum, "reduce_mean": xp.mean, "reduce_max": xp.max,
             "reduce_min": xp.min, "reduce_prod": xp.prod, "truediv": xp.divide,
             "div": xp.divide, "pow": xp.power, "tensordot": xp.tensordot}
    fn = table.get(name) or getattr(xp, name, None)
    if not callable(fn):
        return None
    return (lambda *args: fn(*args, **attrs)) if attrs else fn


# --- script ------------------------------------------------------------------------------------
def script_case(spec: str) -> Case:
    """The case of a model script (FILE.py[:FUNCTION]). Its entry point runs once here, so
    a script that breaks the contract is a usage error before anything is timed, and again
    for each build; every feed needs an example value."""
    import graphc
    from graphc import scripts
    script = scripts.load(spec)
    case = Case("script", f"script {os.path.basename(script.path)}", {}, [], None)
    notes = []

    def build(tf):
        model = script.build_here(tf.get_default_graph())
        notes[:] = model.notes
        values = model.feed_dict("graphc bench")
        case.arrays = {f"feed{i}": v for i, v in enumerate(values.values())}
        case.feeds = list(case.arrays)
        case.flops, case.bytes = model.flops, model.bytes
        twin = model.numpy
        case.numpy = None if twin is None else lambda arr: lambda: twin(*arr.values())
        return model.fetches, list(values)

    case.build = build
    with graphc.Graph().as_default():
        build(graphc)
    for note in notes:
        print(f"graphc: warning: {note}", file=sys.stderr)
    return case
