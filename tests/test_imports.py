"""graphc's levels import downward only, and no import circle joins its modules.

Levels, lowest first: the base (errors, options, version), ir (nodes, primitives, kernel IR),
passes and autodiff, codegen, runtime, the TF1 API (graph building, ops, train, Session,
AOT export), and tools and command lines, with the `graphc` namespace itself (its
__init__, which gathers everything users reach as `tf.*`) on top. A module may import its
own level or a lower one.

The imports are parsed from the source, function-level ones included (importing a
submodule always runs graphc/__init__.py, so a run-time sys.modules check cannot see them),
except those under `if TYPE_CHECKING:` (never run) and `if __name__ == "__main__":` (an
entry point, not a dependency). `from package import name` depends on the submodule `name`
when there is one, else on the package's own __init__.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]

BASE, IR, PASSES, COMPILER, CODEGEN, RUNTIME, API, TOOLS = range(8)
LEVEL_NAMES = ("base", "ir", "passes", "compiler", "codegen", "runtime", "api", "tools")
# longest prefix wins; "graphc." is every module not named otherwise, "graphc" the package
LEVELS = {
    "graphc.errors": BASE, "graphc.options": BASE, "graphc.version": BASE,
    "graphc.ir": IR, "graphc.framework": API,
    "graphc.passes": PASSES, "graphc.autodiff": PASSES, "graphc.compiler": COMPILER,
    "graphc.codegen_llvm": CODEGEN, "graphc.codegen_cuda": CODEGEN,
    "graphc.runtime": RUNTIME,
    "graphc.": API, "graphc.runtime.session": API, "graphc.aot": API,
    "graphc": TOOLS,  # the namespace: graphc/__init__.py
    "graphc.tools": TOOLS, "graphc.cli": TOOLS, "graphc.__main__": TOOLS,
    "graphc.scripts": TOOLS, "graphc.bench": TOOLS, "graphc.aot.cli": TOOLS,
    "graphc.distributed.cli": TOOLS,
    # applications of the whole API (`import graphc as tf`): the conversion pipelines, their
    # built-in models and command line
    **{f"graphc.modalities.{m}": TOOLS for m in (
        "convert", "pipelines", "cli", "compiled", "user_models", "digits", "train_digits",
        "charlm", "train_charlm")},
}

# Upward imports not yet removed (issue: downward-only imports). Shrink this list; the test
# fails when a new upward import appears and when a listed one is gone (delete it here).
KNOWN_UPWARD: set = set()


def level(module: str) -> int:
    if module in LEVELS:
        return LEVELS[module]
    parts = module.split(".")
    for n in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LEVELS and prefix != "graphc":
            return LEVELS[prefix]
    if module.startswith("graphc."):
        return LEVELS["graphc."]
    raise KeyError(f"{module}: no level in LEVELS")


def modules() -> dict:
    found = {}
    for path in sorted((ROOT / "graphc").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _skipped(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` and `if __name__ == "__main__":` blocks."""
    if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
        return True
    return isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) \
        and test.left.id == "__name__"


def _imports(tree: ast.AST):
    """The Import and ImportFrom nodes that run, wherever they stand."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _skipped(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> nx.DiGraph:
    mods = modules()
    graph = nx.DiGraph()
    for name, path in mods.items():
        graph.add_node(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in node.names]
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph.add_edge(name, target, line=node.lineno)
    return graph


def upward_imports(graph) -> set:
    return {(a, b) for a, b in graph.edges if level(b) > level(a)}


def test_every_module_has_a_level():
    for name in modules():
        level(name)


def test_levels_import_downward_only():
    graph = import_graph()
    found = upward_imports(graph)
    new = sorted(found - KNOWN_UPWARD)
    assert not new, "upward imports: " + "; ".join(
        f"{a} ({LEVEL_NAMES[level(a)]}, line {graph.edges[a, b]['line']}) imports {b} "
        f"({LEVEL_NAMES[level(b)]})" for a, b in new)
    gone = sorted(KNOWN_UPWARD - found)
    assert not gone, f"no longer upward, delete from KNOWN_UPWARD: {gone}"


def test_no_import_circle():
    circles = [sorted(c) for c in nx.strongly_connected_components(import_graph())
               if len(c) > 1]
    assert not circles, f"import circles: {circles}"
