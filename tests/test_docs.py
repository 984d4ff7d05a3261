"""The documentation stays true: its examples run, and its tables match the code.

- Every ```python block of README.md and docs/*.md runs. A file's blocks run in order in
  one namespace (a later block may use an earlier block's imports and values), each in a
  fresh default graph. Blocks are compiled with the Markdown file's name and line numbers,
  so a failure points at the line of the document.
- Every `tf.name` in the first column of docs/api-coverage.md exists in graphc, and every
  public name of graphc/__init__.py and graphc/nn.py is listed there.
- The primitive tables of docs/ir.md list exactly the registered primitives, with their
  fusion kinds, input counts and statefulness.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import graphc
import graphc as tf
from graphc import options as graphc_options
from graphc.ir import ops as prims

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DOC_FILES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path):
    """(first line number, code) of each ```python block."""
    text = path.read_text()
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


def table_rows(text: str):
    """The cells of each Markdown table row (header and separator rows included)."""
    for line in text.splitlines():
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            yield [c.strip() for c in cells]


# --- examples run ---------------------------------------------------------------------------
@pytest.fixture
def restore_global_settings():
    saved = graphc_options.default_options()
    yield
    graphc_options.set_default_options(saved)
    tf.reset_default_graph()


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.name)
def test_python_blocks_run(path, restore_global_settings):
    namespace = {"__name__": f"docs_{path.stem}"}
    for line, code in python_blocks(path):
        tf.reset_default_graph()
        # pad with newlines so tracebacks and graph locations give the Markdown line
        exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)  # noqa: S102


def test_there_are_examples():
    counts = {p.name: len(python_blocks(p)) for p in DOC_FILES}
    for name in ("getting-started.md", "ir.md", "README.md"):
        assert counts.get(name, 0) > 0, counts


def test_relative_links_resolve():
    for path in DOC_FILES:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", path.read_text()):
            assert (path.parent / target).is_file(), f"{path.name} links to missing {target}"


# --- the API coverage table -----------------------------------------------------------------
def listed_names() -> list:
    """Every `tf.x` / `tf.x.y` in the first column of the coverage tables."""
    names = []
    for cells in table_rows((DOCS / "api-coverage.md").read_text()):
        names += re.findall(r"`(tf(?:\.\w+)+)`", cells[0])
    return names


def resolve(dotted: str):
    obj = graphc
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def public_names(path: Path) -> set:
    """Names a module binds at its top level (imports, assignments, defs), not private."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            found.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            found.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.AnnAssign,)) and isinstance(node.target, ast.Name):
            found.add(node.target.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found.add(node.name)
    return {n for n in found if not n.startswith("_")}


def test_coverage_table_is_not_empty():
    names = listed_names()
    assert len(names) > 150
    assert "tf.placeholder" in names and "tf.nn.relu" in names


def test_every_listed_name_exists():
    missing = []
    for name in listed_names():
        try:
            resolve(name)
        except AttributeError:
            missing.append(name)
    assert not missing, f"docs/api-coverage.md lists names graphc lacks: {missing}"


def test_no_name_is_listed_twice():
    names = listed_names()
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_every_public_name_is_listed():
    listed = set(listed_names())
    package = ROOT / "graphc"
    expected = {f"tf.{n}" for n in public_names(package / "__init__.py")}
    expected |= {f"tf.{n}" for n in getattr(graphc, "__all__", ())}
    expected |= {f"tf.nn.{n}" for n in public_names(package / "nn.py")}
    missing = sorted(expected - listed)
    assert not missing, f"add these to docs/api-coverage.md: {missing}"


def test_public_names_are_found():
    found = public_names(ROOT / "graphc" / "__init__.py")
    assert {"placeholder", "Session", "nn", "bool", "range", "reduce_mean"} <= found


# --- the primitive tables of ir.md ----------------------------------------------------------
def documented_primitives() -> dict:
    """name -> (kind, inputs, stateful) from every table headed | primitive | kind | ..."""
    rows, in_table = {}, False
    for cells in table_rows((DOCS / "ir.md").read_text()):
        if cells[:4] == ["primitive", "kind", "inputs", "stateful"]:
            in_table = True
            continue
        if not in_table or set(cells[0]) <= set("-: "):
            continue
        name = cells[0].strip("`")
        if name in rows:
            raise AssertionError(f"docs/ir.md lists primitive {name} twice")
        rows[name] = (cells[1], cells[2], cells[3] == "yes")
    return rows


def inputs_text(p) -> str:
    if p.arity is not None:
        return str(p.arity)
    if p.max_inputs is None:
        return f"{p.min_inputs}+"
    return f"{p.min_inputs}-{p.max_inputs}"


def test_ir_doc_lists_every_primitive():
    documented = documented_primitives()
    actual = {name: (p.kind, inputs_text(p), p.stateful) for name, p in prims.PRIMITIVES.items()}
    assert sorted(set(actual) - set(documented)) == [], "primitives missing from docs/ir.md"
    assert sorted(set(documented) - set(actual)) == [], "docs/ir.md lists unknown primitives"
    wrong = {name: (documented[name], actual[name]) for name in actual
             if documented[name] != actual[name]}
    assert not wrong, f"(documented, actual) kind/inputs/stateful differ: {wrong}"


def test_ir_doc_fusion_kinds_are_the_real_ones():
    text = (DOCS / "ir.md").read_text()
    for kind in prims.FUSION_KINDS:
        assert f"| {kind} |" in text
