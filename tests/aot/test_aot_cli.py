"""`graphc compile FILE.py:FUNCTION` and `graphc run lib<name>.so --input NAME=FILE.npy`, in
process (tests/cli/ drives the same commands as subprocesses)."""

from __future__ import annotations

import numpy as np
import pytest
from aot_support import requires_cc

from graphc.cli import main

pytestmark = requires_cc

MODEL = '''
import numpy as np
import graphc as tf


def build():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    w = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
    return {"fetches": {"y": tf.nn.relu(tf.matmul(x, w) - 4.0)}, "feeds": [x]}


def not_a_model():
    return 42
'''


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    work = tmp_path_factory.mktemp("cli")
    (work / "model.py").write_text(MODEL)
    assert main(["compile", f"{work}/model.py:build", "-o", str(work / "out"), "--name",
                 "tiny", "--cpu", "generic", "--threads", "1"]) == 0
    np.save(work / "x.npy", np.ones((2, 3), np.float32))
    return work


def test_compile_writes_the_artifact(compiled, capsys):
    assert sorted(p.name for p in (compiled / "out").iterdir()) == \
        ["libtiny.a", "libtiny.so", "tiny.h", "tiny.json"]


def test_run_prints_the_outputs(compiled, capsys):
    assert main(["run", str(compiled / "out" / "libtiny.so"), "--input",
                 f"x={compiled}/x.npy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("y float32 [2, 2]:") and "[[2. 5.]\n [2. 5.]]" in out


def test_run_saves_the_outputs(compiled, capsys):
    assert main(["run", str(compiled / "out"), "--input", f"x={compiled}/x.npy",
                 "--output-dir", str(compiled / "res")]) == 0
    np.testing.assert_array_equal(np.load(compiled / "res" / "y.npy"), [[2, 5], [2, 5]])


def test_mistakes_are_reported(compiled, capsys):
    assert main(["run", str(compiled / "out"), "--input", f"z={compiled}/x.npy"]) == 2
    assert "missing ['x']" in capsys.readouterr().err
    assert main(["compile", f"{compiled}/model.py:not_a_model", "-o",
                 str(compiled / "bad")]) == 2
    assert "not_a_model() returned int; return {\"fetches\"" in capsys.readouterr().err
    assert main(["compile", f"{compiled}/model.py:missing", "-o", str(compiled / "bad")]) == 2
    assert "has no function 'missing'" in capsys.readouterr().err
