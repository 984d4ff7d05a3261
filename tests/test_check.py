"""graphc.check: correct graphs agree with the reference; a wrong rewrite injected into the
pipeline is found and named with the node it broke; faults after the passes are told apart
(fusion or lowering/codegen); tolerances by dtype; `graphc check script.py`."""

import os
import textwrap

import numpy as np
import pytest

import graphc as tf
from graphc import options
from graphc.cli import main
from graphc.ir import kernel as K
from graphc.ir.rewrite import P, Rule, RuleTable, make, rewrite, var
from graphc.passes import lower, pipeline
from graphc.tools.compare import compare

HERE = os.path.basename(__file__)
RNG = np.random.default_rng(1)


def _graph():
    """z = sum_rows(tanh(2 exp(x)) * x): tanh is computed inside the reduction's kernel."""
    x = tf.placeholder(tf.float32, [4, 8], name="x")
    h = tf.exp(x, name="h") * 2.0
    y = tf.tanh(h, name="y")
    z = tf.reduce_sum(y * x, axis=0, name="z")
    return z, {x: RNG.random((4, 8), np.float32)}


def _mlp_step():
    x = tf.placeholder(tf.float32, [8, 6], name="x")
    labels = tf.placeholder(tf.int64, [8], name="labels")
    w1 = tf.Variable(RNG.standard_normal((6, 5)).astype(np.float32), name="w1")
    b1 = tf.Variable(np.zeros(5, np.float32), name="b1")
    w2 = tf.Variable(RNG.standard_normal((5, 3)).astype(np.float32), name="w2")
    logits = tf.matmul(tf.nn.relu(tf.matmul(x, w1) + b1), w2)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits))
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    feeds = {x: RNG.random((8, 6), np.float32), labels: RNG.integers(0, 3, 8)}
    return [train, loss], feeds, w1


# --- correct graphs ---------------------------------------------------------------------------
def test_a_correct_training_step_agrees():
    fetches, feeds, _ = _mlp_step()
    report = tf.check(fetches, feeds)
    assert report.ok and bool(report) and report.first is None and report.culprit is None
    assert report.compared > 5  # the loss, values between kernels, updated variables
    assert str(report).startswith("graphc check: ok,")


def test_variables_come_from_the_session_and_are_left_alone():
    fetches, feeds, w1 = _mlp_step()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w1.load(np.full((6, 5), 0.5, np.float32), sess)
        before = sess.run(w1)
        assert tf.check(fetches, feeds, session=sess).ok
        np.testing.assert_array_equal(sess.run(w1), before)


def test_unseeded_random_ops_draw_the_same_on_both_targets():
    x = tf.placeholder(tf.float32, [16], name="x")
    y = tf.exp(x * tf.random_uniform([16]))
    assert tf.check(y, {x: np.ones(16, np.float32)}).ok


# --- a wrong pass ---------------------------------------------------------------------------
WRONG = RuleTable([Rule("tanh_as_sigmoid", P("tanh", var("x")),
                        lambda x: make("sigmoid", x))])


def wrong_pass(roots, origin, options):
    """A pass with a wrong rule (tanh(x) -> sigmoid(x)), for check to find."""
    return rewrite(roots, WRONG, origin)


@pytest.fixture
def wrong_pipeline(monkeypatch):
    passes = list(pipeline.PASSES)
    passes.insert(passes.index(next(p for p in passes if p.name == "stabilize")),
                  pipeline.Pass("wrong", wrong_pass, 2))
    monkeypatch.setattr(pipeline, "PASSES", tuple(passes))
    monkeypatch.setattr(pipeline, "PASS_NAMES", tuple(p.name for p in passes))
    monkeypatch.setattr(options, "PASS_NAMES", tuple(p.name for p in passes))


def test_a_wrong_rule_is_traced_to_its_pass_and_node(wrong_pipeline):
    z, feeds = _graph()
    report = tf.check(z, feeds)
    assert not report.ok and report.culprit == "wrong"
    assert report.rules == {"tanh_as_sigmoid": 1}
    # z disagrees; y, computed inside z's kernel, is the first op that does
    assert report.inside.name == "z"
    assert report.first.name == "y" and report.first.location.startswith(f"{HERE}:")
    assert report.first.max_abs > 1e-3 and report.first.bad == 32
    # bisected: the pass before it agrees, up to it does not
    assert ("-O0", True) in report.trials and ("passes up to wrong", False) in report.trials
    assert ("passes up to simplify", True) in report.trials
    text = str(report)
    assert "MISMATCH" in text and "'y' (tanh at" in text and "pass 'wrong'" in text
    assert "tanh_as_sigmoid x1" in text


def test_the_wrong_pass_disabled_agrees(wrong_pipeline):
    z, feeds = _graph()
    assert tf.check(z, feeds, options=tf.Options(disable_passes=["wrong"])).ok


# --- faults after the passes ------------------------------------------------------------------
def test_a_wrong_lowering_is_lowering_or_codegen(monkeypatch):
    monkeypatch.setitem(lower._UNARY, "tanh", "sigmoid")
    z, feeds = _graph()
    report = tf.check(z, feeds)
    assert report.culprit == "lowering/codegen" and report.first.name == "y"
    assert report.trials == [("-O0", False), ("-O0 without fusion", False)]
    assert "lowering/codegen (-O0 disagrees too)" in str(report)


def test_a_fault_only_in_fused_code_is_fusion(monkeypatch):
    load = lower.Lowering.load

    def wrong_when_inlined(self, node, out_idx, out_shape):
        value = load(self, node, out_idx, out_shape)
        if node in self.inlined and node.op.name == "tanh":
            return K.Unary("neg", value, value.dtype)
        return value
    monkeypatch.setattr(lower.Lowering, "load", wrong_when_inlined)
    z, feeds = _graph()
    report = tf.check(z, feeds)
    assert report.culprit == "fusion"
    assert report.first.name == "z"  # y fetched alone is not inlined, and right
    assert report.trials == [("-O0", False), ("-O0 without fusion", True)]


# --- comparing values -------------------------------------------------------------------------
def test_compare_by_dtype():
    f32 = np.float32
    assert compare(np.array([1.0, 2.0], f32), np.array([1.0, 2.00001], f32)) is None
    diff = compare(np.array([1.0, 2.1], f32), np.array([1.0, 2.0], f32))
    assert diff.bad == 1 and diff.max_abs == pytest.approx(0.1, rel=1e-5)
    assert diff.max_rel == pytest.approx(0.05, rel=1e-4)
    assert compare(np.array([1.0, 2.1], f32), np.array([1.0, 2.0], f32), rtol=0.1) is None
    assert compare(np.array([np.nan, np.inf], f32), np.array([np.nan, np.inf], f32)) is None
    assert compare(np.array([np.inf], f32), np.array([1e30], f32)).max_abs == np.inf
    assert compare(np.array([np.nan], f32), np.array([0.0], f32)).bad == 1
    assert compare(np.array([3, 4]), np.array([3, 5])).bad == 1  # ints: exact
    assert compare(np.array([True]), np.array([True])) is None
    assert compare(np.zeros(3, f32), np.zeros(4, f32)).bad == 4
    assert compare(np.float16(1.001), np.float16(1.0)) is None  # f16: rtol 1e-2


def test_compare_scales_the_relative_tolerance_by_the_values_largest_magnitude():
    """A near-zero element of a float32 matmul carries its neighbours' rounding (a CI run
    once saw 1.18e-5 off an element of 0.011 beside elements of order 1)."""
    f32 = np.float32
    want = np.array([0.011, 1.3, -2.0], f32)
    assert compare(want + np.array([1.18e-5, 0, 0], f32), want) is None
    off = compare(want + np.array([1e-3, 0, 0], f32), want)  # a real error still shows
    assert off.bad == 1 and off.max_abs == pytest.approx(1e-3, rel=1e-3)
    big = np.array([1000.0, 0.5], f32)  # scale 1000: 0.05 is within 1e-4 * 1000.5
    assert compare(big + np.array([0, 0.05], f32), big) is None
    assert compare(big + np.array([0, 0.2], f32), big).bad == 1


# --- the command line ------------------------------------------------------------------------
SCRIPT = textwrap.dedent("""\
    import numpy as np
    import graphc as tf


    def build():
        x = tf.placeholder(tf.float32, [4, 8], name="x")
        y = tf.tanh(tf.exp(x) * 2.0, name="y")
        return {"fetches": tf.reduce_sum(y * x, axis=0),
                "feeds": {x: np.ones((4, 8), np.float32)}}
    """)


def test_cli_check(tmp_path, capsys, monkeypatch):
    path = tmp_path / "model.py"
    path.write_text(SCRIPT)
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().out.startswith("graphc check: ok,")
    monkeypatch.setitem(lower._UNARY, "tanh", "sigmoid")
    assert main(["check", str(path), "-O", "1"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "'y' (tanh at model.py:7)" in out
    assert main(["check", str(tmp_path / "missing.py")]) == 2
