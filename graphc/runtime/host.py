"""Work a Session does on the host around a compiled run: fetches computed from graph values
(summaries, iterator initializers) and placeholders it fills itself (tf.data iterators).

    HostFetch  a fetchable object: Session.run evaluates its `host_inputs()` (tensors) with
               the other fetches in one run, then returns `host_finish(session, values)`.
    HostFeed   placeholders the session feeds: at each run that needs any of `tensors` and
               does not feed it, `next_values(session)` gives one value per tensor (an
               iterator's next element), or raises OutOfRangeError.

    HostTap    host work after any run that computes `node` (a learned unigram sampler
               counts its classes): its `tensors` are fetched with that run and
               `after_run(session, values)` gets their values.

Graphs without host feeds or taps, and fetches without host objects, never reach this
module: the fast paths of Session.run and make_callable stay as they are.
"""

from __future__ import annotations


class HostFetch:
    """Base of fetches computed on the host (see the module docstring)."""

    graph = None  # the Graph it belongs to

    def host_inputs(self) -> list:
        return []

    def host_finish(self, session, values: list):
        raise NotImplementedError


class HostFeed:
    """Base of placeholder groups the session fills (see the module docstring)."""

    tensors: tuple = ()  # the placeholders (Tensors), in the order next_values returns them

    def next_values(self, session) -> list:
        raise NotImplementedError


class HostTap:
    """Base of host work done after runs that compute `node` (see the module docstring)."""

    node = None  # the graph node whose computation triggers the tap
    tensors: tuple = ()  # fetched with the run, passed to after_run

    def after_run(self, session, values: list) -> None:
        raise NotImplementedError


def register_host_tap(graph, tap: HostTap) -> None:
    """Make `graph`'s sessions call `tap.after_run` after each run computing `tap.node`."""
    graph._host_taps[tap.node] = tap


def has_host_work(graph) -> bool:
    return bool(graph._host_feeds or graph._host_taps)


def register_host_feed(graph, feed: HostFeed) -> None:
    """Make `graph`'s sessions fill `feed.tensors` themselves."""
    for tensor in feed.tensors:
        graph._host_feeds[tensor.node] = feed


def session_store(session) -> dict:
    """Per-session host state (iterator positions), keyed by the object that owns it."""
    return session._state.host


def run_hosted(session, leaves: list, feed_dict) -> list:
    """Session.run when host objects are involved: one compiled run for every tensor the
    fetches need, then each HostFetch finished from its share of the values. Returns the
    value of each leaf, in order."""
    plain, spans = [], []
    for leaf in leaves:
        if isinstance(leaf, HostFetch):
            if leaf.graph is not None and leaf.graph is not session.graph:
                raise ValueError(f"Fetch {leaf!r} is not an element of this graph.")
            inputs = list(leaf.host_inputs())
            spans.append((leaf, len(plain), len(inputs)))
            plain += inputs
        else:
            spans.append((None, len(plain), 1))
            plain.append(leaf)
    unique = list(dict.fromkeys(session._fetch_node(x)[0] for x in plain))
    taps = _taps(session, unique)
    first_tap = len(plain)
    for tap in taps:
        plain += list(tap.tensors)
        unique += [session._fetch_node(t)[0] for t in tap.tensors]
    feeds = session._feeds(feed_dict)
    feeds.update(_pull(session, unique, feeds))
    values = session._run_flat(plain, feeds) if plain else []
    at = first_tap
    for tap in taps:
        tap.after_run(session, values[at:at + len(tap.tensors)])
        at += len(tap.tensors)
    return [values[start] if fetch is None else
            fetch.host_finish(session, values[start:start + n]) for fetch, start, n in spans]


def _taps(session, unique: list) -> list:
    """The taps whose nodes the fetched nodes depend on, in the order they were made."""
    taps_of = session.graph._host_taps
    if not taps_of:
        return []
    key = ("taps", tuple(unique), len(taps_of))
    found = session._host_needs.get(key)
    if found is None:
        reached = _reached(unique)
        found = session._host_needs[key] = [t for n, t in taps_of.items() if n in reached]
    return found


def _reached(roots: list) -> set:
    """Every node a run of `roots` computes: inputs and control dependencies."""
    seen, stack = set(), list(roots)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(node.inputs)
            stack.extend(node.deps)
    return seen


def _pull(session, unique: list, fed: dict) -> dict:
    """Arrays for the host-fed placeholders the run needs and the caller did not feed:
    one next element per HostFeed, whichever of its nodes are needed."""
    feeds_of = session.graph._host_feeds
    if not feeds_of:
        return {}
    key = (tuple(unique), len(feeds_of))
    needed = session._host_needs.get(key)
    if needed is None:
        needed = session._host_needs[key] = _needed(unique, feeds_of)
    out: dict = {}
    for feed, nodes in needed:
        if all(n in fed for n in nodes):
            continue
        values = feed.next_values(session)
        for tensor, value in zip(feed.tensors, values):
            node = tensor.node
            if node in nodes and node not in fed:
                out[node] = session._convert_feed(tensor, value, "fill (from its iterator)")
    return out


def needed_feeds(graph, roots: list) -> list:
    """[(HostFeed, its nodes reachable from `roots`)] of `graph`."""
    return _needed(roots, graph._host_feeds) if graph._host_feeds else []


def _needed(roots: list, feeds_of: dict) -> list:
    """[(HostFeed, set of its nodes reachable from `roots`)]."""
    found: dict = {}
    for node in _reached(roots):
        feed = feeds_of.get(node)
        if feed is not None:
            found.setdefault(feed, set()).add(node)
    return list(found.items())
