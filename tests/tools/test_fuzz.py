"""The differential fuzzer: a fixed sample agrees everywhere, the generator draws the patterns
that once broke graphc, and a planted bug is found, minimized and printed as a program that
reproduces it."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.tools.fuzz import CONFIGS, close, fuzz, generate, minimize
from graphc.tools.fuzz_program import Input, Program, Ref, Step, build, to_source


def test_a_fixed_sample_agrees_on_every_configuration():
    report = fuzz(36, seed=20261205)
    assert report.mismatches == [], report.summary()
    assert report.programs + report.invalid == 36 and report.invalid <= 2
    assert set(report.runs) == {c.name for c in CONFIGS}
    assert report.gradients > 36  # gradients are compared, not only values


def _programs(n):
    return [generate(tf, seed) for seed in range(n)]


def _fn(program, i):
    v = program.values[i]
    return None if isinstance(v, Input) else v.fn


def test_the_generator_draws_sums_of_products_shared_operands_and_their_gradients():
    sums = shared = through = second = 0
    for p in _programs(150):
        for i, v in enumerate(p.values):
            if isinstance(v, Input):
                continue
            refs = p.refs(i)
            if v.fn == "add" and len(refs) == 2 and all(_fn(p, r) == "matmul" for r in refs):
                sums += 1
            if v.fn == "matmul" and refs[0] == refs[1] and dict(v.kwargs)["transpose_b"] \
                    != dict(v.kwargs)["transpose_a"]:
                shared += 1
            if v.fn == "gradients":
                upstream = {_fn(p, j) for j in p.reachable([i])}
                through += "matmul" in upstream
                second += "gradients" in upstream
    assert sums >= 3 and shared >= 3 and through >= 10 and second >= 5, \
        (sums, shared, through, second)


def test_the_generator_covers_the_primitive_families():
    fns = {_fn(p, i) for p in _programs(150) for i in range(len(p.values))}
    for name in ("matmul", "reduce_sum", "reduce_max", "reduce_prod", "argmax", "transpose",
                 "reshape", "slice", "strided_slice", "concat", "gather", "pad", "tile",
                 "broadcast_to", "cast", "where", "floordiv", "mod", "nn.softmax",
                 "nn.log_softmax", "gradients", "one_hot", "reduce_any", "exp", "log"):
        assert name in fns, name


def test_close_is_exact_for_ints_and_scaled_for_floats():
    assert close(np.array([1, 2], np.int32), np.array([1, 2], np.int32)) is None
    assert "1 of 2 elements differ" in close(np.array([1, 3], np.int32),
                                             np.array([1, 2], np.int32))
    big = np.array([1e4, 1e-3], np.float32)
    assert close(big + np.array([0, 1e-1], np.float32), big) is None  # within 1e-4 of 1e4
    assert close(np.array([np.nan], np.float32), np.array([np.nan], np.float32)) is None
    assert "float64" in close(np.zeros(2), np.zeros(2, np.float32))
    assert close(np.array([1.0 + 1e-8]), np.array([1.0])) is not None  # float64: 1e-9


@pytest.fixture
def minimum_renders_as_max(monkeypatch):
    """A planted codegen bug: the LLVM target computes minimum as maximum."""
    from graphc.passes import lower
    monkeypatch.setitem(lower._BINARY, "minimum", "max")


def test_a_planted_bug_is_found_minimized_and_printed(minimum_renders_as_max):
    x = Input("float32", np.array([[1.0, -2.0], [3.0, 0.5]], np.float32))
    program = Program([x, Step("tanh", (Ref(0),)), Step("minimum", (Ref(1), 0.0)),
                       Step("reduce_sum", (Ref(2),)), Step("gradients", (Ref(3), [Ref(0)]),
                                                             pick=0)], [1, 2, 3, 4], 7)
    config = CONFIGS[1]
    small = minimize(tf, program, config)
    assert small.count() < program.count()
    assert any(_fn(small, i) == "minimum" for i in small.reachable())
    source = to_source(small, config.options, config.target)
    with pytest.raises(AssertionError):  # the printed program reproduces the bug ...
        exec(compile(source, "repro.py", "exec"), {})
    tf.reset_default_graph()


def test_the_printed_program_runs_and_passes_without_the_bug():
    program = generate(tf, 5)
    source = to_source(program, CONFIGS[1].options)
    exec(compile(source, "repro.py", "exec"), {})


def test_a_fuzz_run_reports_the_planted_bug(minimum_renders_as_max):
    report = fuzz(12, seed=100, configs=CONFIGS[1:2])
    assert report.mismatches, report.summary()
    first = report.mismatches[0]
    assert first.steps <= first.original_steps and "tf.minimum" in first.source or \
        "tf.nn." in first.source or "tf.clip_by_value" in first.source
    assert f"seed {first.seed}" in report.summary()


def test_build_replays_a_program_in_any_graph():
    program = generate(tf, 3)
    tf.reset_default_graph()
    _, first, _ = build(tf, program)
    tf.reset_default_graph()
    _, again, _ = build(tf, program)
    assert [(t.dtype, t.shape.as_list()) for t in first if t is not None] == \
        [(t.dtype, t.shape.as_list()) for t in again if t is not None]
