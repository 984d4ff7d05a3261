"""ONNX export: the part of a graphc graph between feeds and fetches as an ONNX model.

    model = graphc.onnx.export({"probs": probs}, {"x": x}, "model.onnx", session=sess)

What happens, in order:
1. walk the L1 graph from the fetches back to the feeds (regions of while and cond
   included) and check every node: an op with no ONNX mapping, a random draw or an
   assignment is refused, all of them named in one OnnxExportError;
2. read the variables the fetches read from the session (their current values);
3. write the nodes (graphc/onnx/export_ops.py holds one exporter per primitive), constants
   and variables as initializers, placeholders as graph inputs (None dims symbolic, the
   first one "batch"), `while` as Loop and `cond` as If with their regions as subgraphs.
The model passes onnx.checker's full check (with shape inference) before it is returned.
"""

from __future__ import annotations

import itertools
import re
from typing import Optional

import numpy as np

from graphc.framework.tensor import name_of
from graphc.ir import ops as prims
from graphc.ir.node import make_node, topo_sort
from graphc.ir.ops.control import loop_count, regions
from graphc.onnx import export_ops, registry
from graphc.onnx.model_file import require_onnx

DEFAULT_OPSET = 17
MIN_OPSET = 13
# ops that change state or draw random numbers: an ONNX model of them would compute
# something else (no state; another generator)
_REFUSED = {"random": "a random op", "assign": "an assignment"}
# effects a value may depend on without them changing it: dropped
_DROPPED = ("no_op", "assert", "print")
_CONTROL = ("while", "cond", "item", "param")


class OnnxExportError(ValueError):
    """A graph graphc cannot write as ONNX: the message names the ops (by the graph's own
    names) and why."""


def export(fetches, feeds, path=None, opset: Optional[int] = None, session=None,
           name: str = "graphc"):
    """Write the graph computing `fetches` from `feeds` as an ONNX model; return it (an
    onnx.ModelProto), saved to `path` unless that is None.

    fetches: a tensor, a list of tensors, or a dict {output name: tensor}.
    feeds: a placeholder (or any tensor to feed), a list of them, or a dict {input name:
        tensor}; list entries are named by their ops.
    opset: the ONNX opset (13 up to the installed onnx's newest; 17 by default).
    session: the Session whose variable values become the initializers (needed when the
        fetches read variables).
    """
    onnx = require_onnx()
    opset = DEFAULT_OPSET if opset is None else int(opset)
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be between {MIN_OPSET} and {newest}, got {opset}")
    outputs = _named(fetches, "fetches")
    inputs = _named(feeds, "feeds")
    graph = _graph_of(list(outputs.values()) + list(inputs.values()))
    feed_nodes = {t.node: n for n, t in inputs.items()}
    roots = [t.node for t in outputs.values()]
    _check(roots, feed_nodes, graph, opset)
    values = _variable_values(roots, feed_nodes, graph, session)
    writer = _Writer(graph, opset, values)
    model = writer.model(inputs, outputs, name)
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        onnx.save(model, str(path))
    return model


# --- arguments ------------------------------------------------------------------------------
def _named(values, what: str) -> dict:
    from graphc.ops.tensor import convert_to_tensor, is_tensor_like
    if isinstance(values, dict):
        items = list(values.items())
    else:
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        items = [(None, v) for v in values]
    out = {}
    for key, value in items:
        if not is_tensor_like(value):
            raise TypeError(f"{what} must hold tensors, got {type(value).__name__}")
        t = convert_to_tensor(value)
        key = key if key is not None else t.name.split(":")[0]
        if key in out:
            raise ValueError(f"{what} names '{key}' twice")
        out[str(key)] = t
    if not out:
        raise ValueError(f"{what} is empty")
    return out


def _graph_of(tensors):
    graph = tensors[0].graph
    for t in tensors[1:]:
        if t.graph is not graph:
            raise ValueError(f"tensor '{t.name}' is from another graph than "
                             f"'{tensors[0].name}'")
    return graph


def _walk(roots, feeds) -> list:
    """Every node reachable from `roots` (inputs and control deps, into regions), feeds
    not expanded."""
    seen, order, stack = set(), [], [list(roots)]
    while stack:
        for node in topo_sort(stack.pop(), stop=frozenset(feeds)):
            if node in seen:
                continue
            seen.add(node)
            order.append(node)
            for region in regions(node):
                stack.append(list(region.results))
    return order


def _check(roots, feeds, graph, opset: int) -> None:
    """Refuse, all at once, what has no ONNX form; and placeholders not fed."""
    problems = []
    for node in _walk(roots, feeds):
        if node in feeds or node.op.name in _DROPPED:
            continue
        op = node.op.name
        if op in _REFUSED:
            reason = f"{_REFUSED[op]}, which ONNX export refuses (an ONNX model has no state "\
                     "and another random generator)"
        elif op == "placeholder":
            reason = "a placeholder that is not among the feeds"
        elif op in _CONTROL or op in ("constant", "variable", "read",
                                      "placeholder_with_default"):
            continue
        elif op not in export_ops.EXPORTERS:
            reason = f"primitive '{op}' has no ONNX mapping"
        else:
            reason = export_ops.unsupported_reason(node, opset)
            if reason is None:
                continue
        problems.append(f"  '{name_of(node, graph)}' ({op}): {reason}")
    if problems:
        raise OnnxExportError(f"cannot export {len(problems)} op(s) to ONNX:\n"
                              + "\n".join(problems))


def _variable_values(roots, feeds, graph, session) -> dict:
    """variable node -> its current value in `session`."""
    variables = [n for n in _walk(roots, feeds) if n.op.name == "variable"]
    if not variables:
        return {}
    if session is None:
        names = ", ".join(f"'{name_of(v, graph)}'" for v in variables)
        raise ValueError(f"the fetches read variables ({names}): pass session= to export "
                         "their current values")
    if session.graph is not graph:
        raise ValueError("session= runs another graph than the fetches'")
    from graphc.ops.tensor import Tensor
    reads = [Tensor(make_node(prims.get("read"), (v,)), graph, name_of(v, graph))
             for v in variables]
    return dict(zip(variables, session.run(reads)))


# --- writing --------------------------------------------------------------------------------
_UNSAFE = re.compile(r"[^A-Za-z0-9_./\-]")


class _Scope:
    """The ONNX name of each node's value in one (sub)graph, with the enclosing graph's
    visible from inside, as ONNX's outer-scope references are."""

    def __init__(self, parent=None):
        self.parent = parent
        self.names: dict = {}
        self.nodes: list = []  # the NodeProtos of this (sub)graph, in order

    def find(self, node):
        scope = self
        while scope is not None:
            if node in scope.names:
                return scope.names[node]
            scope = scope.parent
        return None


class _Writer:
    def __init__(self, graph, opset: int, variable_values: dict):
        self.graph = graph
        self.opset = opset
        self.values = variable_values
        self.initializers: list = []
        self.constants: dict = {}  # constant or variable node -> initializer name
        self.used: set = set()
        self.counter = itertools.count()
        self.scope = _Scope()
        self.current: Optional[str] = None  # the graphc name of the node being written

    # names
    def unique(self, base: str) -> str:
        base = _UNSAFE.sub("_", base) or "value"
        name, i = base, 1
        while name in self.used:
            name, i = f"{base}_{i}", i + 1
        self.used.add(name)
        return name

    # the interface exporters use
    def node(self, op_type: str, inputs, **attrs) -> str:
        return self.node_n(op_type, inputs, 1, **attrs)[0]

    def node_n(self, op_type: str, inputs, count: int, **attrs) -> list:
        from onnx import helper
        base = self.current or op_type
        outs = [self.unique(f"{base}:{op_type}" if count == 1 else f"{base}:{op_type}{i}")
                for i in range(count)]
        self.scope.nodes.append(helper.make_node(op_type, list(inputs), outs,
                                                 name=self.unique(f"{base}/{op_type}"),
                                                 **attrs))
        return outs

    def const(self, value: np.ndarray, name: str = "const") -> str:
        from onnx import numpy_helper
        name = self.unique(name)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    # the model
    def model(self, inputs: dict, outputs: dict, graph_name: str):
        from onnx import helper
        input_infos = []
        for key, t in inputs.items():
            onnx_name = self.unique(key)
            self.scope.names[t.node] = onnx_name
            input_infos.append(_value_info(onnx_name, t.node, symbolic=True))
        output_infos = []
        for key, t in outputs.items():
            value = self.value(t.node)
            self.current = None
            out = self.unique(key)
            self.scope.nodes.append(helper.make_node("Identity", [value], [out],
                                                     name=self.unique(f"{key}/Identity")))
            output_infos.append(_value_info(out, t.node))
        g = helper.make_graph(self.scope.nodes, graph_name, input_infos, output_infos,
                              self.initializers)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)],
                                 producer_name="graphc")

    def value(self, root) -> str:
        """The ONNX name of `root`'s value in the current scope, writing what it needs
        (through inputs only: control deps are effects an ONNX model has no use for)."""
        done, stack = set(), [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node in done or (not expanded and self.scope.find(node) is not None):
                continue
            if expanded:
                done.add(node)
                if self.scope.find(node) is None:
                    self._write(node)
                continue
            stack.append((node, True))
            stack.extend((x, False) for x in reversed(node.inputs) if x not in done)
        return self.scope.find(root)

    def _write(self, node) -> None:
        op = node.op.name
        self.current = name_of(node, self.graph)
        if op in ("constant", "variable"):
            self.scope.names[node] = self._initializer(node)
            return
        if op == "placeholder":
            raise OnnxExportError(f"placeholder '{self.current}' is not among the feeds")
        ins = [self.scope.find(x) for x in node.inputs]
        if op in ("read", "placeholder_with_default"):
            name = ins[0]
        elif op == "while":
            name = self._loop(node, ins)
        elif op == "cond":
            name = self._if(node, ins)
        elif op == "item":
            name = ins[0][node.attrs["index"]]
        else:
            name = export_ops.EXPORTERS[op](self, node, ins)
        self.scope.names[node] = name

    def _initializer(self, node) -> str:
        if node not in self.constants:
            value = node.attrs["value"] if node.op.name == "constant" else self.values[node]
            self.constants[node] = self.const(
                value, self.current if node.op.name == "variable" else "const")
        return self.constants[node]

    # control flow
    def _subgraph(self, region, param_names):
        """(the scope holding its nodes, its results' names): `region` written in a new
        scope over the current one, its params bound to `param_names`."""
        outer = self.scope
        self.scope = _Scope(outer)
        try:
            self.scope.names.update(zip(region.params, param_names))
            names = [self.value(r) for r in region.results]
            return self.scope, names
        finally:
            self.scope = outer

    def _outputs(self, scope, names, nodes, what: str) -> list:
        """Subgraph outputs: fresh names (an output may not be an outer or input value)."""
        from onnx import helper
        infos = []
        for name, node in zip(names, nodes):
            out = self.unique(f"{self.current}/{what}")
            scope.nodes.append(helper.make_node("Identity", [name], [out],
                                                name=self.unique(f"{out}/Identity")))
            infos.append(_value_info(out, node))
        return infos

    def _if(self, node, ins) -> list:
        from onnx import helper
        here = self.current
        branches = []
        for key in ("then", "else"):
            region = node.attrs[key]
            scope, names = self._subgraph(region, ins[1:])
            self.current = here
            outs = self._outputs(scope, names, region.results, key)
            branches.append(helper.make_graph(scope.nodes, self.unique(f"{here}/{key}"), [],
                                              outs))
        return self.node_n("If", [ins[0]], len(node.attrs["then"].results),
                           then_branch=branches[0], else_branch=branches[1])

    def _loop(self, node, ins) -> list:
        """while(cond, body) as Loop(no trip count, cond(inits)): the body subgraph
        computes the next loop vars, then the cond region on them."""
        from onnx import TensorProto, helper
        here = self.current
        n = loop_count(node)
        cond, body = node.attrs["cond"], node.attrs["body"]
        carried, captures = ins[:n], ins[n:]
        cond_scope, (first,) = self._subgraph(cond, ins)  # the first test, outside
        self.scope.nodes.extend(cond_scope.nodes)
        iteration = self.unique(f"{here}/iteration")
        cond_in = self.unique(f"{here}/cond_in")
        params = [self.unique(f"{here}/var") for _ in range(n)]
        scope, nexts = self._subgraph(body, params + list(captures))
        outer, self.scope = self.scope, scope
        try:
            (test,) = [self.value(r) for r in self._rebound(cond, nexts, captures)]
        finally:
            self.scope = outer
        self.current = here
        outs = self._outputs(scope, [test] + nexts, list(cond.results) + list(body.results),
                             "next")
        body_inputs = [helper.make_tensor_value_info(iteration, TensorProto.INT64, []),
                       helper.make_tensor_value_info(cond_in, TensorProto.BOOL, [])]
        body_inputs += [_value_info(p, param) for p, param in zip(params, body.params[:n])]
        graph = helper.make_graph(scope.nodes, self.unique(f"{here}/body"), body_inputs, outs)
        return self.node_n("Loop", ["", first] + list(carried), n, body=graph)

    def _rebound(self, region, names, captures) -> list:
        """`region`'s results with its params bound to ONNX names in the current scope
        (the cond region over the body's new loop vars)."""
        self.scope.names.update(zip(region.params, list(names) + list(captures)))
        return list(region.results)


def _value_info(name: str, node, symbolic: bool = False):
    """A tensor value info; unknown dims are "batch" (the first) and "<name>_dim<i>" where
    `symbolic` (graph inputs), else left unnamed."""
    from onnx import helper
    shape = node.shape
    dims = None
    if shape is not None:
        dims = []
        for i, d in enumerate(shape):
            if d is not None:
                dims.append(d)
            elif not symbolic:
                dims.append(None)
            else:
                dims.append("batch" if i == 0 else f"{name}_dim{i}")
    return helper.make_tensor_value_info(name, registry.onnx_elem_type(node.dtype), dims)
