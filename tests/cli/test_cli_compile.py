"""`graphc compile FILE.py` (no :FUNCTION needed) and `graphc run` of what it wrote, with
progress on a terminal only."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from cli_support import MODEL, MODEL_OUTPUT, graphc, graphc_on_terminal

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)")


def test_compile_shows_progress_on_a_terminal_and_the_library_runs(tmp_path):
    # the script's only function is its obvious entry point, whatever its name
    (tmp_path / "model.py").write_text(MODEL.replace("def build", "def make_model"))
    out = tmp_path / "out"
    result = graphc_on_terminal("compile", "model.py", "-o", out, "--name", "mlp", "--cpu",
                                "generic", "--threads", "1", cwd=tmp_path)
    assert result.code == 0, result
    assert result.out.split() == [str(out / f) for f in
                                  ("libmlp.so", "libmlp.a", "mlp.h", "mlp.json")]
    assert "graphc compile: loading model.py..." in result.err
    assert "graphc compile: compiling and linking libmlp.so..." in result.err
    assert result.err.endswith("\r\x1b[K")  # the status line is erased at the end
    np.save(tmp_path / "x.npy", np.ones((2, 3), np.float32))
    run = graphc("run", out / "libmlp.so", "--input", "x=x.npy", cwd=tmp_path)
    assert (run.code, run.out, run.err) == (0, MODEL_OUTPUT, "")


def test_compile_needs_a_function_name_when_the_script_has_no_obvious_one(tmp_path):
    two = MODEL.replace("def build", "def make") + "\n\ndef other():\n    pass\n"
    (tmp_path / "two.py").write_text(two)
    assert graphc("compile", tmp_path / "two.py", "-o", tmp_path / "o").user_error(
        "compile", "defines several functions (make, other): name the one that builds the "
        "model, as in ", "two.py:make")
    (tmp_path / "none.py").write_text("import graphc\n")
    assert graphc("compile", tmp_path / "none.py", "-o", tmp_path / "o").user_error(
        "compile", "defines no build() function")
