"""What explain and check are given, resolved once as Session.run resolves it (the graph, the
fetched nodes, the feeds, the options), and the model script of `graphc explain` and
`graphc check` (the contract of every command, graphc/scripts.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from graphc.errors import unfed_placeholder
from graphc.framework.graph import Graph, get_default_graph
from graphc.ir.node import Node, topo_sort
from graphc.options import Options, default_options


@dataclass
class Request:
    """Fetches and feeds resolved against one graph."""

    graph: Graph
    nodes: list  # the distinct fetched nodes, in order (operations included)
    feeds: dict  # fed node -> its value, converted to the node's dtype
    options: Options
    variables: dict  # variable node -> value, from the caller's session (may be empty)

    @property
    def fed_shapes(self) -> dict:
        return {n: v.shape for n, v in self.feeds.items()}

    @property
    def threads(self) -> int:
        return self.options.threads or os.cpu_count() or 1

    def describe(self, node: Node) -> str:
        return self.graph.describe(node)

    def name_and_location(self, node: Node) -> tuple:
        """(the user's name for node, its file:line), or (op name, "") for nodes built
        outside the graph (by a rewrite)."""
        info = self.graph.info(node)
        return (info.name, info.location) if info else (node.op.name, "")


def resolve(fetches, feed_dict=None, session=None, options=None) -> Request:
    """A Request for `fetches` (anything Session.run takes) fed `feed_dict`. The session, if
    given, supplies the graph, the options (unless `options` is given) and variable values;
    otherwise the graph is the fetches' own."""
    from graphc.runtime.session import Session
    graph = session.graph if session is not None else _graph_of(fetches)
    resolver = session if session is not None else Session(target="reference", graph=graph)
    _, _, nodes = resolver._resolve_fetches(_graph_values(fetches))
    feeds = resolver._feeds(feed_dict)
    _check_no_iterators(graph, nodes, feeds)
    for node in topo_sort(nodes, stop=frozenset(feeds)):
        if node.op.name == "placeholder" and node not in feeds:
            raise unfed_placeholder(graph.describe(node), node)
    if options is None:
        options = session.options if session is not None else default_options()
    variables = dict(session._state.variables) if session is not None else {}
    return Request(graph, nodes, feeds, options, variables)


def _graph_values(fetches) -> list:
    """The fetches as a flat list of graph values: a fetch finished on the host (a summary)
    stands for the tensors it is computed from."""
    from graphc.runtime.host import HostFetch
    from graphc.runtime.session import _flatten
    leaves: list = []
    _flatten(fetches, leaves)
    out = []
    for leaf in leaves:
        out += list(leaf.host_inputs()) if isinstance(leaf, HostFetch) else [leaf]
    return out


def _check_no_iterators(graph, nodes: list, feeds: dict) -> None:
    """Checking a run that pulls from a tf.data iterator would consume its elements; the
    caller feeds the get_next() tensors instead."""
    from graphc.runtime.host import needed_feeds
    for _, pulled in needed_feeds(graph, nodes):
        unfed = [n for n in pulled if n not in feeds]
        if unfed:
            raise ValueError(f"{graph.describe(unfed[0])} is filled from a tf.data iterator at "
                             "each run; checking would consume its elements: feed it "
                             "explicitly (feed_dict={tensor: value}) to check this run")


def _graph_of(fetches) -> Graph:
    """The graph of the first tensor, operation or variable in a fetch structure."""
    stack = [fetches]
    while stack:
        item = stack.pop(0)
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(getattr(item, "graph", None), Graph):
            return item.graph
    return get_default_graph()


def load_script(spec: str, command: str) -> tuple:
    """(model, feed_dict) of the model script `spec` (FILE.py[:FUNCTION], graphc/scripts.py),
    every feed with a value. Raises graphc.scripts.UsageError when the script cannot be
    loaded, breaks the contract or gives no example value for a feed."""
    from graphc import scripts
    model = scripts.load(spec).build()
    return model, model.feed_dict(command)


def initial_variables(request: Request) -> dict:
    """Variable node -> value for every variable the fetches use: the caller's session's
    values, and for the others their initializers run on the reference target."""
    from graphc.ops.variables import GraphKeys
    from graphc.runtime.session import Session
    needed = [n for n in topo_sort(request.nodes, stop=frozenset(request.feeds))
              if n.op.name == "variable" and n not in request.variables]
    values = {k: np.array(v, copy=True) for k, v in request.variables.items()}
    if not needed:
        return values
    known = request.graph.get_collection(GraphKeys.GLOBAL_VARIABLES) \
        + request.graph.get_collection(GraphKeys.LOCAL_VARIABLES)
    inits = [v.initializer for v in known if v.handle.node in needed]
    if inits:
        with Session(target="reference", graph=request.graph) as sess:
            sess.run(inits)
            values.update({k: v for k, v in sess._state.variables.items() if k in needed})
    return values
