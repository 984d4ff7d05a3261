"""The rewrite engine: tables of (pattern -> replacement) rules over L1 nodes, run by one
engine to a fixed point.

A rule reads like the algebra it states:

    Rule("mul_one", P("mul", var("x"), const(1), commutative=True), lambda x: x)

`P(op, *inputs)` matches a node of that op (a name or a tuple of names) whose inputs match
the sub-patterns; `var(name)` matches any node and captures it; `const(name, value)` matches
a constant node, optionally only one whose every element equals `value` (bit for bit, so
0.0 and -0.0 differ). A name used twice must capture the same node (interning makes that
structural equality). The replacement is called with the captures as keywords and returns a
node, or None to decline.

`rewrite(roots, rules)` rewrites bottom-up with memoization: a node's inputs and deps are
normalized first, then the rules of its op are tried in table order; a replacement is itself
normalized, so the result is a fixed point (no rule matches anywhere). The engine keeps what
a rule may not silently change:
  - dtype: a replacement of another dtype is a RewriteError (a bug in the rule);
  - shape: a replacement that broadcasts to the node's shape is wrapped in broadcast_to;
  - effects: state nodes (placeholders, variables, reads, assignments, random draws,
    asserts) are never rewritten, and the effects (`has_effect`) of whatever a replacement
    drops are kept as control dependencies of the replacement;
  - provenance: every new node maps, in the returned origin, to the user's node it came from.
It counts the rules that fired, and stops with a RewriteError when a table keeps rewriting
(rules that undo each other).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from graphc.errors import GraphcError, ShapeError
from graphc.ir import ops as prims
from graphc.ir.node import Node, make_node, replace_inputs, topo_sort


class RewriteError(GraphcError):
    """A rule table misbehaved: a replacement of the wrong dtype or shape, or no fixed point."""


# --- building nodes in rules ----------------------------------------------------------------
def make(op: str, *inputs: Node, deps=(), **attrs) -> Node:
    """The node op(inputs; attrs): what replacements are built from."""
    return make_node(prims.get(op), inputs, attrs, deps)


def constant(value, dtype) -> Node:
    """A constant node of `dtype` (a graphc DType) holding `value`."""
    return make("constant", value=np.asarray(value, dtype=dtype.np))


def constant_value(x: Node) -> Optional[np.ndarray]:
    """The array of a constant node, else None."""
    return x.attrs["value"] if x.op.name == "constant" else None


def is_splat(x: Node, value) -> bool:
    """Whether x is a constant whose every element is `value`, with its sign for zeros."""
    arr = constant_value(x)
    if arr is None or arr.size == 0:
        return False
    target = np.asarray(value, dtype=arr.dtype)
    same = arr == target
    if arr.dtype.kind == "f":
        same &= np.signbit(arr) == np.signbit(target)
    return bool(np.all(same))


def splat_of(value: np.ndarray):
    """The one element a non-empty array repeats throughout (bit for bit, so nan counts and
    0.0 differs from -0.0) as a 0-d array, else None."""
    if value.size == 0:
        return None
    # most arrays differ within a few samples: a quick no, before copying a strided view
    if not _repeats_first(np.ascontiguousarray(value.flat[::max(value.size // 64, 1)])):
        return None
    flat = np.ascontiguousarray(value).reshape(-1)
    return flat[0].copy().reshape(()) if _repeats_first(flat) else None


def _repeats_first(flat: np.ndarray) -> bool:
    """Whether every element of a 1-D contiguous array has the first one's bytes."""
    rows = flat.view(np.uint8).reshape(flat.size, -1)
    return bool((rows == rows[:1]).all())


# --- effects --------------------------------------------------------------------------------
_MAY_FAIL = ("gather", "scatter_add")


def is_state(x: Node) -> bool:
    """Nodes no rule may replace: they read or change runtime state, or run for effect."""
    return x.op.stateful or x.op.name == "read" or x.op.kind == "effect"


def has_effect(x: Node) -> bool:
    """Whether running x can be observed beyond its value (state, a random draw, a run-time
    error), so that leaving it out of a run would change what the run does. A variable
    handle and a no_op have none of their own, nor has a placeholder: the only way it can
    fail, unfed, is checked before a run starts."""
    name = x.op.name
    if name in ("variable", "no_op", "placeholder", "placeholder_with_default"):
        return False
    if is_state(x) or name in _MAY_FAIL:
        return True
    if name == "pow":
        return x.dtype.kind == "i"  # negative integer exponents fail at run time
    if name in ("reshape", "broadcast_to"):
        return len(x.inputs) == 2  # a run-time shape that may not fit
    if name == "ensure_shape":
        return x.inputs[0].shape is None or None in x.inputs[0].shape
    return False


# --- patterns -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pat:
    """A pattern over one node; see P, var and const."""

    ops: Optional[frozenset] = None  # op names; None: any op
    inputs: Optional[tuple] = None  # sub-patterns, one per input; None: any inputs
    name: Optional[str] = None  # capture the matched node under this name
    where: Optional[Callable[[Node], bool]] = None
    commutative: bool = False  # two inputs that may match in either order

    def match(self, x: Node, caps: dict) -> Optional[dict]:
        """The captures extended by this match, or None (caps is never modified)."""
        if self.ops is not None and x.op.name not in self.ops:
            return None
        if self.name is not None:
            if self.name in caps and caps[self.name] is not x:
                return None
            caps = {**caps, self.name: x}
        if self.where is not None and not self.where(x):
            return None
        if self.inputs is None:
            return caps
        if len(self.inputs) != len(x.inputs):
            return None
        orders = [x.inputs] + ([x.inputs[::-1]] if self.commutative else [])
        for inputs in orders:
            out = caps
            for pat, child in zip(self.inputs, inputs):
                out = pat.match(child, out)
                if out is None:
                    break
            else:
                return out
        return None


def P(op=None, *inputs: Pat, name=None, where=None, commutative=False) -> Pat:
    """Match an `op` node (a name or tuple of names; None: any) with these input patterns
    (none given: any inputs)."""
    ops = None if op is None else frozenset((op,) if isinstance(op, str) else op)
    return Pat(ops, tuple(inputs) if inputs else None, name, where, commutative)


def var(name: str, where=None) -> Pat:
    """Any node, captured as `name`."""
    return Pat(name=name, where=where)


def const(name=None, value=None, where=None) -> Pat:
    """A constant node; with `value`, only one whose every element is that value."""
    if value is None:
        return Pat(frozenset(("constant",)), None, name, where)
    test = (lambda x: is_splat(x, value)) if where is None else \
        (lambda x: is_splat(x, value) and where(x))
    return Pat(frozenset(("constant",)), None, name, test)


@dataclass(frozen=True)
class Rule:
    """name: pattern -> replacement(**captures) (a node, or None to decline)."""

    name: str
    pattern: Pat
    build: Callable[..., Optional[Node]]


class RuleTable:
    """Rules indexed by the op of their root pattern, tried in the order given."""

    def __init__(self, rules: Sequence[Rule]):
        self.rules = tuple(rules)
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate rule names in {names}")
        self._by_op: dict = {}
        self._any: list = []
        for r in self.rules:
            if r.pattern.ops is None:
                self._any.append(r)
            for op in r.pattern.ops or ():
                self._by_op.setdefault(op, []).append(r)

    def __add__(self, other: "RuleTable") -> "RuleTable":
        return RuleTable(self.rules + other.rules)

    def for_op(self, op: str) -> list:
        return self._by_op.get(op, []) + self._any

    def apply(self, x: Node, fix=None) -> tuple:
        """(rule name, replacement) of the first rule that rewrites x, or (None, None).
        `fix(rule name, x, replacement)` may amend a replacement; one that comes back as x
        itself is no rewrite, and the next rule is tried."""
        for rule in self.for_op(x.op.name):
            caps = rule.pattern.match(x, {})
            out = None if caps is None else rule.build(**caps)
            if out is not None and out is not x and fix is not None:
                out = fix(rule.name, x, out)
            if out is not None and out is not x:
                return rule.name, out
        return None, None


# --- the engine -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Rewritten:
    """What a pass returns: new roots (same order, dtypes and shapes), the provenance of
    every node in the new graph ({node: the user's original node}), and rules fired."""

    roots: tuple
    origin: dict
    fired: Counter


def rewrite(roots: Sequence[Node], rules: RuleTable, origin: Optional[Mapping] = None,
            max_steps: Optional[int] = None) -> Rewritten:
    """Rewrite the graph of `roots` with `rules` to a fixed point (see the module docstring).

    `max_steps` bounds the rules fired (default: 64 per node of the input graph, plus 1000).
    """
    return _Engine(rules, origin or {}, max_steps).run(roots)


class _Engine:
    def __init__(self, rules: RuleTable, origin: Mapping, max_steps: Optional[int]):
        self.rules, self.origin, self.max_steps = rules, origin, max_steps
        self.memo: dict = {}  # node -> its normal form (normal forms map to themselves)
        self.alias: dict = {}  # node -> the replacement it waits for
        self.prov: dict = {}  # new node -> the original node it stands for
        self.fired: Counter = Counter()
        self.recent: list = []

    def provenance(self, x: Node) -> Node:
        return self.origin.get(x) or self.prov.get(x) or x

    def run(self, roots) -> Rewritten:
        if self.max_steps is None:
            self.max_steps = 64 * len(topo_sort(roots)) + 1000
        new_roots = tuple(self.normalize(r) for r in roots)
        origin = {}
        for x in topo_sort(new_roots):
            src = self.provenance(x)
            if src is not x or x in self.origin:
                origin[x] = src
        return Rewritten(new_roots, origin, self.fired)

    def normalize(self, root: Node) -> Node:
        """root's normal form, computed without recursion (graphs may be deep)."""
        memo, alias = self.memo, self.alias
        stack, waiting = [root], set()  # waiting: nodes whose replacement is in progress
        while stack:
            x = stack[-1]
            if x in memo:
                stack.pop()
                continue
            target = alias.get(x)
            if target is not None:
                if target in memo:
                    memo[x] = memo[target]
                    waiting.discard(x)
                    stack.pop()
                elif target in waiting:
                    raise RewriteError(f"the rules rewrite a node back into itself; the last "
                                       f"rules fired were {self.recent}")
                else:
                    waiting.add(x)
                    stack.append(target)
                continue
            pending = [c for c in x.inputs + x.deps if c not in memo]
            if pending:
                src = self.provenance(x)
                for c in pending:
                    if c not in self.origin:
                        self.prov.setdefault(c, src)
                stack.extend(reversed(pending))
                continue
            self.step(x)
        return memo[root]

    def step(self, x: Node) -> None:
        """x's children are normal: rebuild x on them, then try the rules once."""
        rebuilt = self.rebuild(x)
        if rebuilt in self.memo:
            self.memo[x] = self.memo[rebuilt]
            return
        self.prov.setdefault(rebuilt, self.provenance(x))
        name, out = (None, None) if is_state(rebuilt) else \
            self.rules.apply(rebuilt, self.checked)
        if out is None:
            self.memo[x] = self.memo[rebuilt] = rebuilt
            return
        self.fired[name] += 1
        self.recent = (self.recent + [name])[-8:]
        if sum(self.fired.values()) > self.max_steps:
            raise RewriteError(f"no fixed point after {self.max_steps} rewrites; the last "
                               f"rules fired were {self.recent}")
        self.prov.setdefault(out, self.provenance(rebuilt))
        self.alias[x] = self.alias[rebuilt] = out

    def rebuild(self, x: Node) -> Node:
        inputs = tuple(self.memo[c] for c in x.inputs)
        deps = tuple(self.memo[d] for d in x.deps)
        if inputs == x.inputs and deps == x.deps:
            return x
        if not x.inputs and x.op.stateful:
            return x  # a variable or placeholder is the same source whatever it runs after
        return replace_inputs(x, inputs, deps)

    def checked(self, name: str, x: Node, out: Node) -> Node:
        """out, made to keep x's dtype, shape and effects."""
        if out.dtype is not x.dtype:
            raise RewriteError(f"rule {name} replaced {x!r} by {out!r}: dtypes differ")
        if out.shape != x.shape:
            if x.shape is None or None in x.shape or out.shape is None:
                raise RewriteError(f"rule {name} replaced {x!r} by {out!r}: shapes differ")
            try:
                out = make("broadcast_to", out, shape=x.shape)
            except ShapeError:
                raise RewriteError(f"rule {name} replaced {x!r} by {out!r}, which does not "
                                   "broadcast to its shape") from None
        missing = lost_effects(x, out, self.memo)
        if missing:
            if is_state(out) or not out.inputs and out.op.stateful:
                out = make("identity", out, deps=missing)
            else:
                out = replace_inputs(out, out.inputs, out.deps + missing)
        return out


def lost_effects(x: Node, out: Node, normal: Mapping) -> tuple:
    """The effects (has_effect) that running x would run and running out would not, in
    topological order, leaving out those that others of them run anyway. Nodes in
    `normal` are not entered when looking for what out keeps of x's children (the usual
    replacement keeps them, so this costs the size of the new nodes)."""
    seen, stack = set(), [out]
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            if n not in normal:
                stack.extend(n.inputs + n.deps)
    dropped = [c for c in x.inputs + x.deps if c not in seen]
    if not dropped:
        return ()
    effects = [n for n in topo_sort(dropped) if has_effect(n)]
    if not effects:
        return ()
    kept = set(topo_sort([out]))
    missing = [n for n in effects if n not in kept]
    implied = set()
    for n in missing:
        implied.update(c for c in topo_sort([n]) if c is not n)
    return tuple(n for n in missing if n not in implied)
