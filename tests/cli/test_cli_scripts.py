"""The model-script contract, driven through the command line: one script serves every
command, the old tuple forms still work with a deprecation note, and every way a script
can be wrong is one line with exit status 2."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from cli_support import MODEL, MODEL_OUTPUT, graphc


def write(tmp_path, text: str, name: str = "model.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.fixture
def model(tmp_path):
    return write(tmp_path, MODEL)


def test_one_script_serves_run_explain_check_and_bench(model):
    run = graphc("run", model)
    assert (run.code, run.out, run.err) == (0, MODEL_OUTPUT, "")
    explain = graphc("explain", model)
    assert explain.code == 0 and explain.out.startswith("graphc explain: 1 fetch, 1 feed")
    check = graphc("check", f"{model}:build")
    assert check.code == 0 and check.out.startswith("graphc check: ok,")
    bench = graphc("bench", model, "--size", "small", "--threads", "1", "--repeat", "1",
                   "--warmup", "0", "--compare", "none")
    assert bench.code == 0 and "script model.py" in bench.out


def test_run_takes_inputs_by_name_and_saves_outputs(model, tmp_path):
    np.save(tmp_path / "x.npy", np.full((1, 3), 2.0, np.float32))
    result = graphc("run", model, "--input", f"x={tmp_path}/x.npy", "--output-dir",
                    tmp_path / "res", "--target", "reference")
    assert result.code == 0 and result.out == f"{tmp_path}/res/y.npy\n"
    np.testing.assert_array_equal(np.load(tmp_path / "res" / "y.npy"), [[8.0, 14.0]])
    assert graphc("run", model, "--input", f"z={tmp_path}/x.npy").user_error(
        "run", "has no input named 'z'; its inputs are x")


OLD_FORMS = """\
    import numpy as np
    import graphc as tf


    def checked():  # explain, check and bench used to want (fetches, {placeholder: array})
        x = tf.placeholder(tf.float32, [2], name="x")
        return tf.exp(x, name="e"), {x: np.zeros(2, np.float32)}


    def compiled():  # compile used to want (feeds, fetches)
        x = tf.placeholder(tf.float32, [2], name="x")
        return x, {"e": tf.exp(x)}
    """


def test_old_forms_work_with_a_deprecation_note(tmp_path):
    path = write(tmp_path, OLD_FORMS)
    result = graphc("run", f"{path}:checked")
    assert result.code == 0 and result.out.startswith("e float32 [2]:\n[1. 1.]")
    assert result.err.startswith("graphc: warning: ") and "deprecated" in result.err
    assert '{"fetches": ..., "feeds":' in result.err
    # the compile form gives no example values: run names the input and how to give it
    assert graphc("run", f"{path}:compiled").user_error(
        "run", "gives no value for input 'x'", "--input NAME=FILE.npy")


@pytest.mark.parametrize("command", ["explain", "check"])
def test_syntax_error(tmp_path, command):
    path = write(tmp_path, "import graphc as tf\n\ndef build(:\n    pass\n")
    assert graphc(command, path).user_error(command, "model.py:3: syntax error")


def test_empty_feed_dict(tmp_path):
    path = write(tmp_path, """\
        import graphc as tf


        def build():
            x = tf.placeholder(tf.float32, [4], name="x")
            return {"fetches": tf.exp(x), "feeds": {}}
        """)
    for command in ("explain", "check"):
        assert graphc(command, path).user_error(
            command, "You must feed a value for placeholder 'x'", "model.py:5",
            "example value in the script's \"feeds\"")


@pytest.mark.parametrize("text, fragment", [
    ("x = 1\n", "defines no build() function"),
    ("def a():\n    pass\n\n\ndef b():\n    pass\n", "several functions (a, b)"),
    ("def build():\n    return 3\n", "build() returned int; return {\"fetches\""),
    ("def build():\n    return {\"fetch\": 1}\n", "unknown key 'fetch'"),
    ("import graphc as tf\n\n\ndef build():\n    return {\"fetches\": tf.estimator}\n",
     "model.py:5: build() raised UnsupportedAPIError"),
    ("import graphc as tf\n\n\ndef build():\n    return {\"fetches\": tf.matmul(tf.ones([2, 3]),"
     " tf.ones([2, 3]))}\n", "model.py:5: build() raised ShapeError: matmul"),
    ("raise RuntimeError('no data here')\n", "model.py:1: importing it raised RuntimeError"),
])
def test_scripts_that_break_the_contract(tmp_path, text, fragment):
    assert graphc("run", write(tmp_path, text)).user_error("run", fragment)


def test_unsupported_tf1_name_in_a_script(tmp_path):
    path = write(tmp_path, """\
        import graphc as tf


        def build():
            x = tf.placeholder(tf.float32, [1, 8, 8, 1], name="x")
            y = tf.nn.ctc_loss(x, 1)
            return {"fetches": y, "feeds": [x]}
        """)
    assert graphc("explain", path).user_error(
        "explain", "model.py:6:", "tf.nn.ctc_loss is a TensorFlow 1 API "
        "that graphc "
        "does not support yet", "docs/api-coverage.md")


RESHAPE = """\
    import numpy as np
    import graphc as tf


    def build():
        x = tf.placeholder(tf.float32, [None], name="x")
        shape = tf.placeholder(tf.int32, [2], name="shape")
        y = tf.reshape(x, shape, name="y")
        return {"fetches": y, "feeds": {x: np.arange(6, dtype=np.float32),
                                        shape: np.array([2, 3], np.int32)}}
    """


def test_reshape_to_a_fed_shape_runs_on_every_target(tmp_path):
    path = write(tmp_path, RESHAPE)
    for target in ("reference", "llvm"):
        result = graphc("run", path, "--target", target)
        assert result.code == 0 and "y float32 [2, 3]:" in result.out, result
