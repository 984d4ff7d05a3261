"""The full converter table: every family of converters loaded, and the questions asked of
it (which converter an op has, which ops graphc imports)."""

from __future__ import annotations

from typing import Optional

from graphc.onnx import (  # noqa: F401 (each family registers its converters on import)
    ops_control,
    ops_conv,
    ops_image,
    ops_index,
    ops_linalg,
    ops_math,
    ops_nn,
    ops_quant,
    ops_reduce,
    ops_resize,
    ops_rnn,
    ops_signal,
    ops_tensor,
)
from graphc.onnx.functions import function_ops
from graphc.onnx.registry import CONVERTERS, DEFAULT_DOMAINS, Converter


def lookup(domain: str, op_type: str) -> Optional[Converter]:
    return CONVERTERS.get(("" if domain in DEFAULT_DOMAINS else domain, op_type))


def supported_ops() -> list:
    """The ONNX op types graphc imports, sorted: those with a converter, and those ONNX
    defines as a function of such ops (graphc/onnx/functions.py). Ops outside the default
    domain are prefixed with it ("ai.onnx.preview:FlexAttention")."""
    converted = {op if domain == "" else f"{domain}:{op}" for domain, op in CONVERTERS}
    return sorted(converted | function_ops(converted))
