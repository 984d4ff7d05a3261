"""Ops that ONNX itself defines as functions of other ops (Attention, SoftmaxCrossEntropyLoss,
RotaryEmbedding, the window functions...): where graphc has no converter of its own, the
node is replaced by the function body its schema gives for the model's opset, and that
body is imported like any other nodes. Such an op is supported exactly when every op in
its body is.

Expanding renames the body's internal values under a prefix unique to the node, binds its
formal inputs and outputs to the node's, and resolves attribute references against the
node's attributes (or the schema's defaults). The body keeps its own opset imports.
"""

from __future__ import annotations

from typing import Optional

from graphc.onnx import registry
from graphc.onnx.model_file import subgraphs_of


def function_of(proto, opset: int, types: dict):
    """The FunctionProto that defines this node at `opset`, or None if its op has none.
    `types` maps value names to (element type, dims): some bodies depend on them."""
    from onnx import FunctionProto, TypeProto, helper
    domain = "" if proto.domain in registry.DEFAULT_DOMAINS else proto.domain
    schema = registry.schema_of(proto.op_type, opset, domain)
    if schema is None:
        return None
    plain = sorted(schema.function_opset_versions)
    dependent = sorted(schema.context_dependent_function_opset_versions)
    body = FunctionProto()
    if plain:
        body.ParseFromString(schema.get_function_with_opset_version(_pick(plain, opset)))
        return body
    if not dependent:
        return None
    inputs = []
    for name in proto.input:
        if not name:
            inputs.append(TypeProto().SerializeToString())
            continue
        elem, dims = types.get(name, (0, None))
        inputs.append(helper.make_tensor_type_proto(elem or 1, dims).SerializeToString())
    with_defaults = _with_defaults(proto, schema)
    try:
        data = schema.get_context_dependent_function_with_opset_version(
            _pick(dependent, opset), with_defaults.SerializeToString(), inputs)
    except Exception:  # the schema could not build a body for these inputs
        return None
    body.ParseFromString(data)
    return body


def _pick(versions: list, opset: int) -> int:
    """The newest function version not newer than the model's opset."""
    usable = [v for v in versions if v <= opset]
    return usable[-1] if usable else versions[0]


def _with_defaults(proto, schema):
    """The node with every attribute its schema defaults filled in (bodies read them)."""
    from onnx import NodeProto
    node = NodeProto()
    node.CopyFrom(proto)
    have = {a.name for a in node.attribute}
    for name, attr in schema.attributes.items():
        if name not in have and attr.default_value is not None and attr.default_value.type:
            node.attribute.append(attr.default_value)
    return node


def body_opsets(function, outer: dict) -> dict:
    opsets = dict(outer)
    for o in function.opset_import:
        opsets["" if o.domain in registry.DEFAULT_DOMAINS else o.domain] = o.version
    return opsets


def expand(proto, function, prefix: str, opset: int) -> list:
    """The body's nodes, renamed and with attribute references resolved for `proto`."""
    schema = registry.schema_of(proto.op_type, opset, "" if proto.domain in
                                registry.DEFAULT_DOMAINS else proto.domain)
    node = _with_defaults(proto, schema) if schema is not None else proto
    attrs = {a.name: a for a in node.attribute}
    names = {}
    for i, formal in enumerate(function.input):
        names[formal] = proto.input[i] if i < len(proto.input) else ""
    for i, formal in enumerate(function.output):
        if i < len(proto.output) and proto.output[i]:
            names[formal] = proto.output[i]
    internal = {o for n in function.node for o in n.output}

    def rename(name: str) -> str:
        if name in names:
            return names[name]
        return prefix + name if name in internal else name
    return [_renamed(n, rename, attrs) for n in function.node]


def _renamed(node, rename, attrs):
    from onnx import AttributeProto, NodeProto
    out = NodeProto()
    out.CopyFrom(node)
    del out.input[:]
    del out.output[:]
    del out.attribute[:]
    out.input.extend(rename(x) if x else "" for x in node.input)
    out.output.extend(rename(x) if x else "" for x in node.output)
    for attr in node.attribute:
        if attr.ref_attr_name:
            source = attrs.get(attr.ref_attr_name)
            if source is None:
                continue  # an optional attribute the node leaves out
            new = AttributeProto()
            new.CopyFrom(source)
            new.name = attr.name
            out.attribute.append(new)
            continue
        new = AttributeProto()
        new.CopyFrom(attr)
        for g in subgraphs_of(new):
            _rename_graph(g, rename, attrs)
        out.attribute.append(new)
    return out


def _rename_graph(graph, rename, attrs) -> None:
    """Rename, inside a subgraph of the body, the body values it reads from outside."""
    local = {vi.name for vi in graph.input} | {t.name for t in graph.initializer}
    local |= {o for n in graph.node for o in n.output}

    def inner(name: str) -> str:
        return name if name in local else rename(name)
    nodes = [_renamed(n, inner, attrs) for n in graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    for vi in graph.output:
        vi.name = inner(vi.name)


def expansion(proto, opsets: dict, types: dict, prefix: str) -> Optional[tuple]:
    """(body nodes, their opsets) for a node graphc has no converter for, or None."""
    domain = "" if proto.domain in registry.DEFAULT_DOMAINS else proto.domain
    if domain not in opsets:
        return None
    function = function_of(proto, opsets[domain], types)
    if function is None or not len(function.node):
        return None
    return expand(proto, function, prefix, opsets[domain]), body_opsets(function, opsets)


def function_ops(converted: set) -> set:
    """The ops without a converter (domain-prefixed outside the default domain:
    "ai.onnx.preview:FlexAttention") whose function body uses only ops in
    `converted` or other such ops. A body may depend on the inputs' ranks and on
    attributes: it is built for float inputs of rank 3 and 4, with and without the
    optional inputs, required attributes set to 1; one body of supported ops suffices."""
    from onnx import defs
    found: set = set()
    pending = {}
    for schema in defs.get_all_schemas():
        key = schema.name if schema.domain in registry.DEFAULT_DOMAINS else \
            f"{schema.domain}:{schema.name}"
        if key in converted:
            continue
        if schema.function_opset_versions or schema.context_dependent_function_opset_versions:
            bodies = _probe(schema)
            if bodies:
                pending[key] = bodies
    changed = True
    while changed:  # a body may use another function op
        changed = False
        for name, bodies in list(pending.items()):
            if any(ops <= converted | found for ops in bodies):
                found.add(name)
                del pending[name]
                changed = True
    return found


def _probe(schema) -> list:
    """The op-type sets of the bodies built for a few typical nodes of the schema's op."""
    from onnx import AttributeProto, defs, helper
    required = [i for i in schema.inputs
                if i.option != defs.OpSchema.FormalParameterOption.Optional]
    attrs = {}
    for name, attr in schema.attributes.items():
        if attr.required:
            attrs[name] = {AttributeProto.INT: 1, AttributeProto.FLOAT: 1.0}.get(attr.type)
    if None in attrs.values():
        return []
    bodies = []
    for count in {len(required), len(schema.inputs)}:
        for rank in (3, 4):
            node = helper.make_node(schema.name, [f"in{i}" for i in range(count)],
                                    [f"out{i}" for i in range(len(schema.outputs))],
                                    domain=schema.domain, **attrs)
            types = {f"in{i}": (1, (2,) * rank) for i in range(count)}
            opsets = {"": defs.onnx_opset_version(), schema.domain: schema.since_version}
            body = expansion(node, opsets, types, "f/")
            if body is not None:
                bodies.append({n.op_type for n in body[0]})
    return bodies
