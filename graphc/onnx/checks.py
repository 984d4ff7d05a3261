"""Checking a whole model before anything is built: every node (subgraphs and the bodies of
ops ONNX defines as functions included) against the converter table, its attributes
against the op's schema and the converter's own check, every value's element type against
those graphc computes in. One UnsupportedModelError lists every problem, by node name."""

from __future__ import annotations

from typing import Optional

from graphc.onnx import functions, model_file, registry, table
from graphc.onnx.errors import UnsupportedModelError

MIN_OPSET = 6  # ops changed before this opset are read in their opset-6 (or newer) forms


def check_support(graph_proto, opsets: dict, full_types: dict) -> None:
    """Raise UnsupportedModelError listing every node graphc cannot convert, if any.
    full_types: value name -> (ONNX element type, dims or None)."""
    problems: list = []
    _check_graph(graph_proto, opsets, Types(full_types), problems)
    if problems:
        raise UnsupportedModelError(problems)


def node_name(proto, index: int) -> str:
    return proto.name or f"{proto.op_type}_{index}"


def _check_graph(graph_proto, opsets, types, problems) -> None:
    for vi in list(graph_proto.input) + list(graph_proto.output):
        if not model_file.is_tensor_value(vi):
            kind = vi.type.WhichOneof("value")
            problems.append((vi.name, "(graph)", f"value '{vi.name}' is a {kind}; graphc "
                                                  "imports tensors only"))
    for i, proto in enumerate(graph_proto.node):
        reason = _node_problem(proto, opsets, types, node_name(proto, i))
        if reason:
            problems.append((node_name(proto, i), proto.op_type, reason))
        for attr in proto.attribute:
            for g in model_file.subgraphs_of(attr):
                _check_graph(g, opsets, types, problems)


class Types(dict):
    """name -> element type, with the (element type, dims) pairs kept in `full`."""

    def __init__(self, full: dict):
        super().__init__((name, t) for name, (t, _) in full.items())
        self.full = full


def _node_problem(proto, opsets, types, name) -> Optional[str]:
    domain = "" if proto.domain in registry.DEFAULT_DOMAINS else proto.domain
    if domain not in opsets:
        return f"domain '{domain}' is not imported by the model"
    conv = table.lookup(domain, proto.op_type)
    if conv is None:
        return _function_problem(proto, opsets, types, name, domain)
    view = registry.NodeView(proto, opsets[domain], name, types)
    old = _superseded(view)
    if old:
        return old
    for k, x in enumerate(list(proto.input) + list(proto.output)):
        problem = registry.type_problem(types.get(x, 0)) if x else None
        if problem:
            return f"tensor '{x}' has {problem}"
    known = view.schema.attributes if view.schema is not None else {}
    unknown = [a for a in view.attrs if a not in known]
    if unknown:
        return f"unknown attribute(s) {unknown} for {proto.op_type}-{opsets[domain]}"
    return conv.check(view) if conv.check is not None else None


def _function_problem(proto, opsets, types, name, domain) -> Optional[str]:
    """None if the op's function body (ONNX defines some ops as functions) converts."""
    body = functions.expansion(proto, opsets, types.full, name + "/")
    where = f" of domain '{domain}'" if domain else ""
    if body is None:
        return f"graphc has no converter for op {proto.op_type}{where}"
    problems: list = []
    nodes, inner = body
    for i, n in enumerate(nodes):
        reason = _node_problem(n, inner, types, f"{name}/{node_name(n, i)}")
        if reason:
            problems.append(f"{n.op_type}: {reason}")
    if problems:
        return (f"graphc has no converter for op {proto.op_type}{where}, and its ONNX "
                f"function body needs: " + "; ".join(sorted(set(problems))[:3]))
    return None


def _superseded(view) -> Optional[str]:
    """A reason if the node is an op version older than opset 6 that later versions
    changed (graphc reads the opset 6+ forms)."""
    schema = view.schema
    if schema is None or schema.since_version >= MIN_OPSET:
        return None
    newer = registry.schema_of(view.op_type, MIN_OPSET, view.domain)
    if newer is not None and newer.since_version != schema.since_version:
        return (f"{view.op_type}-{schema.since_version} (opset {view.opset}) predates the "
                f"form graphc reads ({view.op_type}-{newer.since_version})")
    return None
