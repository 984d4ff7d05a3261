"""graphc check on the example programs that train: the docs' examples and the programs of
tests/test_tf1_programs.py and tests/test_train_digits.py run with every distinct
Session.run first compared value by value with the reference target (graphc.check, which
names the culprit pass on a disagreement)."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest

import graphc as tf
from graphc import options as graphc_options
from graphc.runtime.session import Session

ROOT = Path(__file__).resolve().parents[2]
TRAINING_DOCS = [p for p in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
                 if "minimize(" in p.read_text() or "apply_gradients(" in p.read_text()]


@pytest.fixture
def checked_runs(monkeypatch):
    """Every distinct (fetches, feed keys) a Session runs on the llvm target is first checked
    against the reference from the session's current state; returns the reports."""
    reports, seen = [], set()
    original = Session.run

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        key = (id(self.graph), repr(fetches), tuple(map(repr, (feed_dict or {}).keys())))
        # runs fed by tf.data iterators are not checked: checking would consume elements
        if self.target_name == "llvm" and key not in seen and not self.graph._host_feeds:
            seen.add(key)
            reports.append((repr(fetches)[:80], tf.check(fetches, feed_dict, session=self)))
        return original(self, fetches, feed_dict, options, run_metadata)
    monkeypatch.setattr(Session, "run", run)
    saved = graphc_options.default_options()
    yield reports
    graphc_options.set_default_options(saved)
    tf.reset_default_graph()


def _assert_all_agree(reports):
    assert reports, "no run was checked"
    bad = [f"{what}:\n{report}" for what, report in reports if not report.ok]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", TRAINING_DOCS, ids=lambda p: p.name)
def test_the_training_examples_of_the_docs_agree_with_the_reference(path, checked_runs):
    from test_docs import python_blocks
    namespace = {"__name__": f"docs_{path.stem}"}
    for line, code in python_blocks(path):
        tf.reset_default_graph()
        exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
    _assert_all_agree(checked_runs)


def _tf1_programs():
    out = []
    for file in ("test_tf1_programs.py", "test_train_digits.py"):
        spec = importlib.util.spec_from_file_location(file[:-3], ROOT / "tests" / file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        out += [(name, f) for name, f in vars(module).items()
                if name.startswith("test_") and callable(f)]
    return out


@pytest.mark.parametrize("name,program", _tf1_programs(), ids=lambda x: x
                         if isinstance(x, str) else "")
def test_the_tf1_programs_agree_with_the_reference(name, program, checked_runs):
    tf.reset_default_graph()
    params = inspect.signature(program).parameters
    program(**({"target": "llvm"} if "target" in params else {}))
    _assert_all_agree(checked_runs)
