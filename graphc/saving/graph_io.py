"""A graph as data: versioned JSON for its structure, named arrays for its constants.

    encode_graph(graph) -> (doc, arrays)   doc: JSON-ready dict; arrays: {"c<k>": ndarray}
    decode_graph(doc, arrays, graph)       rebuilds the nodes, names, variables and
                                           collections into `graph` (empty, or without the
                                           names the document uses)

The document (format "graphc-graph", version 1):

    nodes        [{"op", "in": [ids], "deps": [ids], "attrs": {...}}], producers first;
                 a node's id is its position. Nodes inside loop bodies and branches are
                 listed too (a region attribute refers to its params and results by id).
    names        [[name, id, location]]: every name the graph gave (TF1's op names)
    variables    [{"name", "handle", "initial_value", "init", "read", "trainable"}] (ids)
    get_variable {"full/name": index into variables}: what tf.get_variable shares
    collections  {key: [item]}, item: {"variable": i} | {"tensor": id, "name"} |
                 {"operation": id, "name"} | {"value": JSON number or string}
    seed         the graph-level seed (tf.set_random_seed) or null

Attribute values are tagged JSON: numbers, strings, booleans and null as themselves, and
{"float": hex} (exact bits: nan, -0.0), {"tuple": [...]}, {"dtype": name},
{"slice": [start, stop, step]}, {"array": key}, {"region": {"params": [ids],
"results": [ids]}}. A stateful node's "uid" is not stored: importing gives it a fresh one,
so imported state never aliases state built in this process. Decoding runs each op's shape
and dtype rules again (make_node), so a document that does not describe a valid graph is
refused with the op's own error; nothing in a document is executed.
"""

from __future__ import annotations

import json

from graphc.ir import ops as prims
from graphc.ir.attr_json import GraphFormatError, earlier_ids
from graphc.ir.attr_json import decode as _decode
from graphc.ir.attr_json import encode as _encode
from graphc.ir.node import Node, Region, make_node

FORMAT, VERSION = "graphc-graph", 1


def read_document(path: str, fmt: str, version: int, error=GraphFormatError) -> dict:
    """The JSON document at `path`, checked to be `fmt` at `version`: `error` (a ValueError
    class) names the file when it is not valid JSON or is another format or version."""
    with open(path) as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as err:
            raise error(f"{path} is not valid JSON ({err})") from None
    if doc.get("format") != fmt or doc.get("version") != version:
        raise error(f"{path}: format {doc.get('format')!r} version {doc.get('version')!r}; "
                    f"this graphc reads {fmt} version {version}")
    return doc


# --- encoding ---------------------------------------------------------------------------------
def encode_graph(graph) -> tuple:
    roots = list(graph.nodes) + list(graph._names.values())
    order = _order(roots)
    ids = {node: i for i, node in enumerate(order)}
    arrays: dict = {}
    nodes = [{"op": n.op.name, "in": [ids[x] for x in n.inputs],
              "deps": [ids[x] for x in n.deps],
              "attrs": {k: _encode(v, ids, arrays) for k, v in n.attrs.items() if k != "uid"}}
             for n in order]
    names = [[name, ids[node], _location(graph, node)] for name, node in graph._names.items()]
    variables, index = _encode_variables(graph, ids)
    store = graph._variable_store.get("vars", {})
    doc = {"format": FORMAT, "version": VERSION, "nodes": nodes, "names": names,
           "variables": variables,
           "get_variable": {k: index[id(v)] for k, v in store.items() if id(v) in index},
           "collections": _encode_collections(graph, ids, index),
           "seed": graph.seed}
    return doc, arrays


def _location(graph, node) -> str:
    info = graph.info(node)
    return info.location if info else ""


def _children(node: Node) -> list:
    """What `node` needs built first: inputs, deps, and its regions' params and results."""
    out = list(node.inputs) + list(node.deps)
    for value in node.attrs.values():
        for region in _regions(value):
            out += list(region.params) + list(region.results)
    return out


def _regions(value) -> list:
    if isinstance(value, Region):
        return [value]
    if isinstance(value, tuple):
        return [r for v in value for r in _regions(v)]
    return []


def _order(roots: list) -> list:
    """Every node reachable from `roots`, each after its children (iterative DFS)."""
    order, done = [], set()
    for root in roots:
        if root in done:
            continue
        stack = [(root, iter(_children(root)))]
        pending = {root}
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in done and child not in pending:
                    pending.add(child)
                    stack.append((child, iter(_children(child))))
                    break
            else:
                stack.pop()
                done.add(node)
                order.append(node)
    return order


def _encode_variables(graph, ids: dict) -> tuple:
    from graphc.ops.variables import Variable
    seen, variables, index = set(), [], {}
    for items in graph._collections.values():
        for v in items:
            if isinstance(v, Variable) and id(v) not in seen:
                seen.add(id(v))
                index[id(v)] = len(variables)
                variables.append({"name": v._name, "handle": ids[v._handle.node],
                                  "initial_value": ids[v._initial_value.node],
                                  "init": ids[v._init.node], "read": ids[v._read.node],
                                  "trainable": v.trainable})
    return variables, index


def _encode_collections(graph, ids: dict, index: dict) -> dict:
    """Collections of variables, tensors, operations and plain values; other objects
    (summaries, iterators: host-side Python objects) are left out."""
    from graphc.ops.tensor import Operation, Tensor
    from graphc.ops.variables import Variable
    out = {}
    for key, items in graph._collections.items():
        kept = []
        for v in items:
            if isinstance(v, Variable) and id(v) in index:
                kept.append({"variable": index[id(v)]})
            elif isinstance(v, Tensor) and v.node in ids:
                kept.append({"tensor": ids[v.node], "name": v._op_name})
            elif isinstance(v, Operation) and v.node in ids:
                kept.append({"operation": ids[v.node], "name": v.name})
            elif isinstance(v, (str, int, float)) and not isinstance(v, bool):
                kept.append({"value": v})
        out[str(key)] = kept
    return out


# --- decoding ---------------------------------------------------------------------------------
def decode_graph(doc: dict, arrays, graph) -> dict:
    """Rebuild `doc` into `graph`; returns {"nodes": [...], "variables": [Variable]}."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise GraphFormatError(f"not a graphc graph document (format "
                               f"{doc.get('format') if isinstance(doc, dict) else None!r})")
    if doc.get("version") != VERSION:
        raise GraphFormatError(f"graph document version {doc.get('version')!r}; this graphc "
                               f"reads version {VERSION}")
    try:
        nodes = _decode_nodes(doc["nodes"], arrays)
        taken = [n for n, _, _ in doc["names"] if n in graph._names]
        if taken:
            raise GraphFormatError(f"the graph already has ops named {', '.join(taken[:5])}: "
                                   "import into an empty graph")
        _register_names(graph, doc["names"], nodes)
        variables = _decode_variables(graph, doc["variables"], nodes)
        store = graph._variable_store.setdefault("vars", {})
        for name, i in doc["get_variable"].items():
            store[name] = variables[i]
        _decode_collections(graph, doc["collections"], nodes, variables)
    except (KeyError, IndexError, TypeError) as err:
        raise GraphFormatError(f"malformed graph document: {type(err).__name__} {err}"
                               ) from None
    if doc.get("seed") is not None and graph.seed is None:
        graph.seed = int(doc["seed"])
    return {"nodes": nodes, "variables": variables}


def _decode_nodes(records: list, arrays) -> list:
    nodes: list = []
    for i, rec in enumerate(records):
        try:
            op = prims.get(rec["op"])
        except KeyError:
            raise GraphFormatError(f"node {i}: unknown op {rec['op']!r}") from None
        attrs = {k: _decode(v, nodes, arrays) for k, v in rec["attrs"].items()}
        nodes.append(make_node(op, [nodes[j] for j in earlier_ids(rec["in"], i)], attrs,
                               [nodes[j] for j in earlier_ids(rec["deps"], i)]))
    return nodes


def _register_names(graph, names: list, nodes: list) -> None:
    from graphc.framework.graph import NodeInfo
    with graph._lock:
        for name, i, location in names:
            node = nodes[i]
            graph._names[name] = node
            graph._names_in_use[name.lower()] = max(graph._names_in_use.get(name.lower(), 0), 1)
            parts = name.split("/")
            for k in range(1, len(parts)):  # scopes in use, as building them would mark
                scope = "/".join(parts[:k]).lower()
                graph._names_in_use.setdefault(scope, 1)
            if node not in graph._nodes:
                graph._nodes[node] = NodeInfo(name, location)


def _decode_variables(graph, records: list, nodes: list) -> list:
    from graphc.ops.tensor import Tensor
    from graphc.ops.variables import Variable
    out = []
    for rec in records:
        var = Variable.__new__(Variable)
        var.graph, var.trainable, var._name = graph, bool(rec["trainable"]), rec["name"]

        def tensor(key, var=var):
            node = nodes[rec[key]]
            info = graph.info(node)
            return Tensor(node, graph, info.name if info else var._name)
        var._handle, var._initial_value = tensor("handle"), tensor("initial_value")
        var._init, var._read = tensor("init"), tensor("read")
        out.append(var)
    return out


def _decode_collections(graph, collections: dict, nodes: list, variables: list) -> None:
    from graphc.ops.tensor import Operation, Tensor
    for key, items in collections.items():
        ref = graph.get_collection_ref(key)
        for item in items:
            if "variable" in item:
                ref.append(variables[item["variable"]])
            elif "tensor" in item:
                ref.append(Tensor(nodes[item["tensor"]], graph, item["name"]))
            elif "operation" in item:
                ref.append(Operation(nodes[item["operation"]], graph, item["name"]))
            else:
                ref.append(item["value"])
