"""Fuzz programs: a random graph as data, so it can be built, shrunk and printed as Python.

A Program is a list of values: fed placeholders first (Input), then Steps, each one call of
the public API (`tf.matmul(v0, v1, transpose_b=True)`) on earlier values and literals. The
same Program builds the same graph in any default graph (`build`), prints as a standalone
graphc program (`to_source`), and shrinks by replacing a step with a placeholder fed the
value it had (`cut`). Fetched values are listed in `outputs`; gradients are ordinary steps
(`tf.gradients` with the index of the gradient taken).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

FLOATS = ("float32", "float64")


@dataclass(frozen=True)
class Ref:
    """An argument that is an earlier value of the program."""
    index: int


@dataclass(frozen=True)
class Input:
    """A placeholder and the array fed to it."""
    dtype: str
    value: np.ndarray = field(compare=False)

    @property
    def shape(self) -> tuple:
        return tuple(self.value.shape)


@dataclass(frozen=True)
class Step:
    """`fn(*args, **kwargs)`, `fn` a dotted name under `tf` ("matmul", "nn.softmax"); args
    are Refs, literals, numpy arrays or lists of those. `pick`: the index taken from a
    function returning a list (split, unstack, gradients)."""
    fn: str
    args: tuple = ()
    kwargs: tuple = ()  # (name, value) pairs
    pick: Optional[int] = None


@dataclass
class Program:
    values: list  # Input or Step, numbered v0, v1, ... in order
    outputs: list  # indices of fetched values
    seed: int = 0

    def refs(self, i: int) -> list:
        """The indices value i reads."""
        v = self.values[i]
        return [] if isinstance(v, Input) else _refs((v.args, v.kwargs))

    def reachable(self, outputs=None) -> list:
        """Indices of the values the outputs depend on, in order."""
        seen, stack = set(), list(self.outputs if outputs is None else outputs)
        while stack:
            i = stack.pop()
            if i not in seen:
                seen.add(i)
                stack.extend(self.refs(i))
        return sorted(seen)

    def reads(self) -> list:
        """The outputs fetched again before the program's own run and after its variables
        are loaded with reloaded() values (all but its assignments), when it has variables
        and no random draws (a loop draws rows for its maximum iterations, which later
        runs do not repeat as the reference does); else []. What a session keeps between
        runs, a plan's weights packed ahead among it, must follow the variables' values."""
        from graphc.tools.fuzz_control import DRAWS
        reached = [self.values[i] for i in self.reachable()]
        if not any(getattr(v, "fn", None) == "Variable" for v in reached) or any(
                DRAWS & _strings(v) for v in reached):
            return []
        return [i for i in self.outputs if getattr(self.values[i], "fn", None) != "assign_sub"]

    def reloaded(self) -> dict:
        """{index of a Variable step: the value it is loaded with before the second reads}:
        its initial value reversed, halved and shifted, the same on every target (a value an
        assignment computed is not: comparisons and bit casts of it would differ)."""
        return {i: (np.flip(v.args[0]) * 0.5 + 0.25).astype(v.args[0].dtype)
                for i, v in ((i, self.values[i]) for i in self.reachable())
                if getattr(v, "fn", None) == "Variable"}

    def cut(self, i: int, value: np.ndarray, dtype: str) -> "Program":
        """The program with value i fed as a placeholder holding `value`."""
        values = list(self.values)
        values[i] = Input(dtype, np.array(value))
        return dataclasses.replace(self, values=values)

    def with_step(self, i: int, step: Step) -> "Program":
        values = list(self.values)
        values[i] = step
        return dataclasses.replace(self, values=values)

    def substitute(self, old: int, new: int) -> "Program":
        """The program reading value `new` wherever it read `old`."""
        def swap(x):
            if isinstance(x, Ref):
                return Ref(new) if x.index == old else x
            if isinstance(x, (tuple, list)):
                return type(x)(swap(item) for item in x)
            return x
        values = [v if isinstance(v, Input) else dataclasses.replace(
            v, args=swap(v.args), kwargs=swap(v.kwargs)) for v in self.values]
        outputs = [new if o == old else o for o in self.outputs]
        return dataclasses.replace(self, values=values, outputs=outputs)

    def keep(self, outputs) -> "Program":
        return dataclasses.replace(self, outputs=list(outputs))

    def count(self) -> int:
        return len(self.reachable())


def _strings(x) -> set:
    """The string literals among a step's arguments (nested), e.g. a control step's op."""
    if isinstance(x, Step):
        return _strings((x.args, x.kwargs))
    if isinstance(x, str):
        return {x}
    if isinstance(x, (tuple, list)):
        return set().union(*(_strings(item) for item in x)) if x else set()
    return set()


def _refs(x) -> list:
    if isinstance(x, Ref):
        return [x.index]
    if isinstance(x, (tuple, list)):
        return [i for item in x for i in _refs(item)]
    return []


def _resolve(x, built):
    if isinstance(x, Ref):
        return built[x.index]
    if isinstance(x, tuple):
        return tuple(_resolve(item, built) for item in x)
    if isinstance(x, list):
        return [_resolve(item, built) for item in x]
    return x


def function(tf, name: str):
    obj = tf
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def apply(tf, step: Step, built: list):
    """Build one step on the already built values."""
    out = function(tf, step.fn)(*_resolve(step.args, built),
                                **{k: _resolve(v, built) for k, v in step.kwargs})
    return out[step.pick] if step.pick is not None else out


def build(tf, program: Program, only=None):
    """(placeholders {index: tensor}, built values, feeds) in the default graph; only the
    values in `only` (default: those the outputs reach) are built."""
    wanted = set(program.reachable() if only is None else only)
    built: list = [None] * len(program.values)
    placeholders, feeds = {}, {}
    for i, v in enumerate(program.values):
        if i not in wanted:
            continue
        if isinstance(v, Input):
            built[i] = tf.placeholder(getattr(tf, v.dtype), list(v.shape), name=f"v{i}")
            placeholders[i] = built[i]
            feeds[built[i]] = v.value
        else:
            built[i] = apply(tf, v, built)
    return placeholders, built, feeds


# --- printing --------------------------------------------------------------------------------
def literal(x) -> str:
    """Python source for an argument."""
    if isinstance(x, Ref):
        return f"v{x.index}"
    if isinstance(x, np.ndarray):
        return f"np.array({x.tolist()!r}, np.{x.dtype.name})"
    if isinstance(x, np.generic):
        return f"np.{x.dtype.name}({x.item()!r})"
    if isinstance(x, list):
        return "[" + ", ".join(literal(i) for i in x) + "]"
    if isinstance(x, tuple):
        return "(" + ", ".join(literal(i) for i in x) + ("," if len(x) == 1 else "") + ")"
    return repr(x)


def statement(i: int, v) -> str:
    if isinstance(v, Input):
        return f"v{i} = tf.placeholder(tf.{v.dtype}, {list(v.shape)})"
    args = [literal(a) for a in v.args] + [f"{k}={literal(a)}" for k, a in v.kwargs]
    pick = f"[{v.pick}]" if v.pick is not None else ""
    return f"v{i} = tf.{v.fn}({', '.join(args)}){pick}"


def to_source(program: Program, options: str, target: str = "llvm") -> str:
    """A standalone program: the graph, its feeds, the run on `target` with `options` (the
    source of a graphc.Options call) compared with the reference target by the fuzzer's own
    test (graphc.tools.fuzz.close), so the program fails exactly where the fuzzer did."""
    keep = program.reachable()
    lines = ["import numpy as np", "import graphc as tf",
             "import graphc.tools.fuzz_control  # noqa: F401  (control-flow steps)",
             "import graphc.tools.fuzz_ops_sparse  # noqa: F401  (sparse steps)",
             "from graphc.tools.fuzz import close", ""]
    lines += [statement(i, program.values[i]) for i in keep]
    feeds = [i for i in keep if isinstance(program.values[i], Input)]
    lines.append("feeds = {" + ", ".join(f"v{i}: {literal(program.values[i].value)}"
                                         for i in feeds) + "}")
    lines.append("fetches = [" + ", ".join(f"v{i}" for i in program.outputs) + "]")
    reads = program.reads()
    lines.append("names = [str(f) for f in fetches]")
    runs = ["    sess.run(tf.global_variables_initializer())"]
    if reads:  # fetched again before the run and after loading new values (Program.reads)
        lines.append("reads = [" + ", ".join(f"v{i}" for i in reads) + "]")
        lines.append("names += [f'{r} before the run' for r in reads] + "
                     "[f'{r} after the load' for r in reads]")
        runs += ["    before = sess.run(reads, feeds)", "    values = sess.run(fetches, feeds)"]
        runs += [f"    v{i}.load({literal(value)}, sess)"
                 for i, value in program.reloaded().items()]
        runs.append("    out = values + before + sess.run(reads, feeds)")
    else:
        runs.append("    out = sess.run(fetches, feeds)")
    lines += ["with tf.Session(target='reference') as sess:", *runs, "    want = out",
              f"with tf.Session(target={target!r}, config={options}) as sess:", *runs,
              "    got = out",
              "for i, g, w in zip(names, got, want):",
              "    assert close(g, w) is None, f'{i}: {close(g, w)}'", ""]
    return "\n".join(lines)
