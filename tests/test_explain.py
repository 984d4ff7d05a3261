"""graphc.explain: the report's sections, the ops of each kernel with their source lines,
one test per reason an edge between kernels was not fused, L2 / LLVM IR on request, and
`graphc explain script.py`."""

import os
import textwrap

import numpy as np
import pytest

import graphc as tf
from graphc.cli import main
from graphc.tools.explain import analyze

HERE = os.path.basename(__file__)
RNG = np.random.default_rng(0)


def _x(shape, name="x"):
    return tf.placeholder(tf.float32, shape, name=name), RNG.random(shape, np.float32)


def reasons(fetches, feeds, options=None) -> dict:
    """{(producer's user name, consumer's kernel index): reason} of every unfused edge."""
    ex = analyze(fetches, feeds, options=options)
    out = {}
    for e in ex.edges:
        name, _ = ex.request.name_and_location(ex.origin.get(e.producer, e.producer))
        out[(name, e.consumer)] = e.reason
    return out


def reason_of(fetches, feeds, producer: str, options=None) -> str:
    found = {r for (name, _), r in reasons(fetches, feeds, options).items() if name == producer}
    assert len(found) == 1, found
    return found.pop()


# --- the report -------------------------------------------------------------------------------
def _mlp():
    x, xv = _x((8, 6))
    labels = tf.placeholder(tf.int64, [8], name="labels")
    w1 = tf.Variable(RNG.standard_normal((6, 5)).astype(np.float32), name="w1")
    w2 = tf.Variable(RNG.standard_normal((5, 3)).astype(np.float32), name="w2")
    h = tf.nn.relu(tf.matmul(x, w1), name="hidden")
    logits = tf.matmul(h, w2, name="logits")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits), name="loss")
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    return [train, loss], {x: xv, labels: RNG.integers(0, 3, 8)}


def test_report_has_passes_kernels_edges_and_memory():
    fetches, feeds = _mlp()
    text = tf.explain(fetches, feeds)
    assert text.startswith("graphc explain: 2 fetches, 2 feeds on llvm (-O2")
    for section in ("passes ", "kernels, in run order", "unfused edges:", "memory: workspace"):
        assert section in text, section
    assert "canonicalize" in text and " -> " in text and " ms " in text
    # the user's ops with their names and this file's lines
    assert "hidden" in text and "logits" in text and f"{HERE}:" in text
    assert "kept in memory by fusion" not in text  # every edge has a reason from the rules
    assert "L2 of kernel" not in text and "LLVM IR of" not in text


def test_kernels_list_the_user_ops_they_compute():
    x, xv = _x((4, 8))
    y = tf.nn.relu(x * 2.0 + 1.0, name="act")
    ex = analyze(y, {x: xv})
    assert len(ex.kernels) == 1
    names = [ex.request.name_and_location(u)[0] for u in ex.user_ops(ex.kernels[0])]
    assert names[-1] == "act" and "mul" in names and "add" in names
    softmax = tf.nn.softmax(x, name="sm")
    ex = analyze(softmax, {x: xv})
    (kernel,) = ex.kernels
    assert kernel.group is not None
    ops = {u.op.name for u in ex.user_ops(kernel)}
    assert {"reduce_max", "exp", "reduce_sum"} <= ops


def test_memory_section_reports_the_plan():
    fetches, feeds = _mlp()
    ex = analyze(fetches, feeds)
    assert ex.memory["arena_bytes"] == ex.plan.arena_bytes
    text = str(ex)
    assert "memory: workspace" in text and "bytes" in text
    if "naive_bytes" in ex.memory:
        assert "without reuse" in text


def test_memory_section_counts_assignments_that_write_their_variable():
    tf.reset_default_graph()
    w = tf.Variable(np.ones((4, 3), np.float32), name="w")
    x, xv = _x((5, 4))
    step = tf.train.GradientDescentOptimizer(0.1).minimize(
        tf.reduce_sum(tf.square(tf.matmul(x, w))))
    ex = analyze([step], {x: xv})
    assert ex.memory["direct"] == 1
    assert "1 assignment writing the variable itself (no copy after the run)" in \
        " ".join(str(ex).split())


def test_l2_and_llvm_of_chosen_kernels():
    x, xv = _x((4, 8))
    y = tf.matmul(tf.exp(x), tf.transpose(x), name="gram")
    ex = analyze(y, {x: xv})
    text = ex.format(show_l2=True, show_llvm=True, kernels=[len(ex.kernels) - 1])
    assert text.count("L2 of kernel #") == 1 and text.count("LLVM IR of kernel #") == 1
    assert "kernel k_matmul(" in text and "define " in text
    everything = tf.explain(y, {x: xv}, show_l2=True)
    assert everything.count("L2 of kernel #") == len(ex.kernels)
    with pytest.raises(ValueError, match="kernels #0"):
        ex.format(show_l2=True, kernels=[99])


def test_explain_takes_a_session_and_options():
    fetches, feeds = _mlp()
    with tf.Session() as sess:
        text = tf.explain(fetches, feeds, session=sess, options=tf.Options(opt_level=0))
    assert "passes: none ran" in text and "-O0" in text
    unfused = tf.explain(fetches, feeds, options=tf.Options(fuse=False))
    assert "no fusion" in unfused and "fusion is off" in unfused


def test_unfed_placeholder_is_an_error():
    x, _ = _x((4, 8))
    with pytest.raises(tf.InvalidArgumentError, match="'x'"):
        tf.explain(x * 2.0)


# --- one test per reason ------------------------------------------------------------------------
def test_reason_fetched():
    x, xv = _x((4, 8))
    y = tf.exp(x, name="y")
    z = tf.sin(y, name="z")
    assert reason_of([y, z], {x: xv}, "y") == "fetched: its value is returned"


def test_reason_not_elementwise():
    a, av = _x((4, 8), "a")
    y = tf.reduce_sum(tf.matmul(a, tf.constant(RNG.random((8, 3), np.float32)), name="mm"), 0)
    assert reason_of(y, {a: av}, "mm") == "not elementwise (matmul)"


def test_reason_gemm_epilogue_taken():
    a, av = _x((4, 8), "a")
    mm = tf.matmul(a, tf.constant(RNG.random((8, 3), np.float32)), name="mm")
    y = tf.nn.relu(mm, name="r")
    z = tf.reduce_sum(mm, 0)
    assert reason_of([y, z], {a: av}, "mm") == \
        "its GEMM applies only its first reading kernel, 'r' (maximum), as an epilogue"


def test_reason_read_by_matmul():
    a, av = _x((4, 8), "a")
    e = tf.exp(a, name="e")
    y = tf.matmul(e, tf.constant(RNG.random((8, 3), np.float32)))
    assert reason_of(y, {a: av}, "e") == "read by matmul, which takes its operands from memory"


def test_reason_broadcast():
    x, xv = _x((4, 1))
    z, zv = _x((4, 8), "z")
    e = tf.exp(x, name="e")
    y = e * z
    assert reason_of(y, {x: xv, z: zv}, "e") == \
        "different index space: mul broadcasts it from (4,1) to (4,8)"


def test_reason_transpose():
    x, xv = _x((4, 8))
    z, zv = _x((8, 4), name="z")
    e = tf.exp(x, name="e")
    # (z, of full size and not transposed, keeps the transpose where it is)
    y = tf.sin(tf.transpose(e) + z, name="y")
    assert reason_of(y, {x: xv, z: zv}, "e") == "different index space: read by transpose"


def test_reason_view():
    x, xv = _x((4, 8))
    e = tf.exp(x, name="e")
    y = tf.reduce_max(tf.reshape(e, [32]) * 3.0, axis=0)
    assert reason_of(y, {x: xv}, "e").startswith("read through reshape, a view")


def test_reason_shared_and_too_large_to_recompute():
    x, xv = _x((4, 8))
    y = tf.exp(tf.sin(tf.cos(tf.tanh(x))), name="y")
    fetches = [tf.reduce_sum(y, axis=0), tf.reduce_max(y, axis=0)]
    assert reason_of(fetches, {x: xv}, "y") == \
        "read by 2 kernels and too large to recompute (4 ops, at most 3)"


def test_reason_read_by_too_many_kernels():
    x, xv = _x((4, 8))
    y = tf.exp(x, name="y")
    fetches = [f(y, axis=0) for f in (tf.reduce_sum, tf.reduce_max, tf.reduce_min,
                                      tf.reduce_prod)]
    assert reason_of(fetches, {x: xv}, "y") == \
        "read by 4 kernels before row fusion (recomputed in at most 3)"


def test_reason_non_last_axis_reduction():
    x, xv = _x((4, 8))
    s = tf.reduce_sum(x, axis=0, name="s")
    y = tf.exp(s) * 2.0
    assert reason_of(y, {x: xv}, "s") == "reduction over a non-last axis (axes (0,) of (4,8))"


def test_reason_row_group_ends_at_a_reader_that_does_not_fit():
    x, xv = _x((4, 8))
    sm = tf.nn.softmax(x, name="sm")
    y = tf.matmul(sm, tf.constant(RNG.random((8, 3), np.float32)))
    assert reason_of(y, {x: xv}, "sm") == "row group (4,8) ends here: matmul is not row-wise"


def test_reason_row_group_ended_earlier():
    x, xv = _x((4, 8))
    m = tf.reduce_max(x, axis=1, keepdims=True, name="m")
    c = tf.subtract(x, m, name="c")
    square = tf.reshape(tf.reduce_sum(c, axis=1, name="s"), [2, 2])  # a view ends the group
    y = tf.exp(c - tf.reshape(tf.transpose(square), [4, 1]), name="late")
    text = reason_of(y, {x: xv}, "m")  # (c is recomputed in both kernels)
    assert text.startswith("row group (4,8) ends here: the group ended at 'Reshape' (reshape): "
                           "reshape is a view, and row groups take only views between (4) "
                           "and (4,1)")


def test_reason_last_axis_reduction_without_a_group():
    x, xv = _x((4, 8))
    s = tf.reduce_sum(x, axis=1, name="s")
    y = tf.reduce_sum(-s, name="total")
    assert reason_of(y, {x: xv}, "s").startswith(
        "last-axis reduction whose reader 'Neg' is computed inside another kernel")


def test_reason_too_deep():
    x, xv = _x((4, 8))
    y = x
    for _ in range(60):
        y = tf.sin(y)
    found = set(reasons(y, {x: xv}).values())
    assert found == {"expression deeper than 48 ops: stored to bound kernel size"}


def test_reason_too_large():
    # each value read three times by the next: written out, the expression would hold
    # 3**8 copies of x, so fusion stores some values
    x, xv = _x((4, 8))
    y = x
    for _ in range(8):
        y = tf.sin(y) * y + y
    found = set(reasons(y, {x: xv}).values())
    assert found == {"expression larger than 256 ops written out (a value read twice is "
                     "written twice): stored to bound kernel size"}


def test_reason_fusion_off():
    x, xv = _x((4, 8))
    y = tf.sin(tf.exp(x, name="e"))
    assert reason_of(y, {x: xv}, "e", tf.Options(fuse=False)) == \
        "fusion is off (Options.fuse=False)"


# --- the command line ------------------------------------------------------------------------
SCRIPT = textwrap.dedent("""\
    import numpy as np
    import graphc as tf


    def build():
        x = tf.placeholder(tf.float32, [4, 8], name="x")
        y = tf.nn.softmax(tf.matmul(x, tf.Variable(np.ones((8, 8), np.float32))), name="probs")
        return {"fetches": y, "feeds": {x: np.ones((4, 8), np.float32)}}
    """)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(SCRIPT)
    return str(path)


def test_cli_explain(script, capsys):
    assert main(["explain", script, "--l2", "--kernel", "0"]) == 0
    out = capsys.readouterr().out
    assert "probs" in out and "model.py:7" in out and "L2 of kernel #0" in out
    assert main(["explain", script, "-O", "0", "--no-fuse"]) == 0
    assert "no fusion" in capsys.readouterr().out


def test_cli_explain_refuses_bad_input(script, tmp_path, capsys):
    assert main(["explain", script, "--l2", "--kernel", "7"]) == 2
    assert "--kernel 7" in capsys.readouterr().err
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    assert main(["explain", str(empty)]) == 2
    assert "build()" in capsys.readouterr().err
    assert main(["explain", script, "--disable-pass", "nope"]) == 2
    assert "unknown pass" in capsys.readouterr().err
