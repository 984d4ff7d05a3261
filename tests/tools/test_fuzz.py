"""The differential fuzzer: a fixed sample agrees everywhere, the generator draws the patterns
that once broke graphc, and a planted bug is found, minimized and printed as a program that
reproduces it."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as tf
from graphc.tools.fuzz import (
    CONFIGS,
    DEFAULT_CONFIGS,
    close,
    disagreement,
    fuzz,
    generate,
    minimize,
    rounded_alike,
    run,
    widened,
)
from graphc.tools.fuzz_program import Input, Program, Ref, Step, build, to_source


def test_a_fixed_sample_agrees_on_every_configuration():
    report = fuzz(24, seed=20261205)  # (the suite's share: `graphc fuzz` runs at scale)
    assert report.mismatches == [], report.summary()
    assert report.programs + report.invalid == 24 and report.invalid <= 2
    assert set(report.runs) == {c.name for c in DEFAULT_CONFIGS}
    assert "cuda" not in report.runs  # the GPU configuration runs only when named
    assert report.gradients > 24  # gradients are compared, not only values


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
    # 250 programs: log, one of five positive-domain functions in one unary draw of four,
    # first shows up at seed 175
    fns = {_fn(p, i) for p in _programs(250) for i in range(len(p.values))}
    for name in ("matmul", "reduce_sum", "reduce_max", "reduce_prod", "argmax", "transpose",
                 "reshape", "slice", "strided_slice", "concat", "gather", "pad", "tile",
                 "broadcast_to", "cast", "where", "floordiv", "mod", "nn.softmax",
                 "nn.log_softmax", "gradients", "one_hot", "reduce_any", "exp", "log",
                 "nn.convolution", "nn.depthwise_conv2d", "nn.conv2d_transpose",
                 "nn.max_pool", "nn.avg_pool", "cumsum", "cumprod", "gather_nd",
                 "scatter_nd", "tensor_scatter_nd_add", "nn.top_k", "nn.in_top_k", "bitcast",
                 "bitwise.bitwise_xor", "bitwise.left_shift", "bitwise.right_shift"):
        assert name in fns, name


def test_the_generator_differentiates_through_convolutions_and_pooling():
    through = {"nn.convolution": 0, "nn.max_pool": 0, "nn.avg_pool": 0,
               "nn.conv2d_transpose": 0}
    for p in _programs(150):
        for i, v in enumerate(p.values):
            if not isinstance(v, Input) and v.fn == "gradients":
                upstream = {_fn(p, j) for j in p.reachable([i])}
                for name in through:
                    through[name] += name in upstream
    assert all(n >= 2 for n in through.values()), through


def test_the_generator_draws_convolutions_that_read_their_input_in_place():
    """Convolutions over 16+ channels into more than 32 (the indirect GEMM's, in float32),
    some of them over more than 32, whose input gradient reads windows of the output
    gradient in place, with a gradient taken through them."""
    forward = backward = 0
    for p in _programs(300):
        for i, v in enumerate(p.values):
            if _fn(p, i) != "nn.convolution":
                continue
            w = p.values[p.refs(i)[1]]
            shape = w.shape if isinstance(w, Input) else w.args[0].shape
            if shape[-2] >= 16 and shape[-1] > 32:
                forward += 1
                backward += shape[-2] > 32 and any(
                    _fn(p, j) == "gradients" and i in p.reachable([j])
                    for j in range(i + 1, len(p.values)))
    assert forward >= 4 and backward >= 2, (forward, backward)


def test_the_generator_differentiates_through_scans_nd_indexing_and_top_k():
    through = {"cumsum": 0, "cumprod": 0, "gather_nd": 0, "scatter_nd": 0,
               "tensor_scatter_nd_add": 0, "nn.top_k": 0}
    top_k_indices = 0
    for p in _programs(150):
        for i, v in enumerate(p.values):
            if isinstance(v, Input):
                continue
            if v.fn == "gradients":
                upstream = {_fn(p, j) for j in p.reachable([i])}
                for name in through:
                    through[name] += name in upstream
            top_k_indices += v.fn == "nn.top_k" and v.pick == 1 and i in p.outputs
    assert all(n >= 2 for n in through.values()) and top_k_indices >= 2, \
        (through, top_k_indices)


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


# seed 600292 (minimized): d/dx of a function of reduce_sum(softmax(x)), which is 1 whatever
# x is, so the gradient is exactly 0; the float32 reference rounds 1 - sum(softmax) to about
# 1e-7 and multiplies it by large products, leaving 0.004 where graphc computes 0
_X = [1.28541100025177, -0.4135287404060364, -1.2476321458816528]
_A = [[-0.1377955824136734, -1.3958507776260376, 0.5820195078849792, -1.8962674140930176,
       2.253844738006592],
      [-1.4789983034133911, 0.047801412642002106, -0.44464826583862305, -2.6959500312805176,
       -1.3206785917282104],
      [-1.1364129781723022, -0.8989812135696411, 0.4307885766029358, 0.021525707095861435,
       0.17642122507095337],
      [-1.2238658666610718, -2.034376621246338, -0.9827035665512085, -0.48411324620246887,
       1.3684924840927124]]
_B = [[0.8399361371994019, -0.06744828820228577, -0.19482651352882385, 0.2597845494747162],
      [-0.5789724588394165, -0.9047688245773315, -1.436299204826355, 1.7953295707702637],
      [0.9400051236152649, -0.5540566444396973, -0.8174002170562744, -0.3189355432987213],
      [1.0319808721542358, -0.49972134828567505, 0.2644966244697571, 0.1297454684972763],
      [0.35026609897613525, 1.4302594661712646, 1.7868291139602661, -0.46796950697898865]]
_W = [[-0.35048165917396545, -1.234980583190918, -0.2868224084377289, 0.17329289019107819],
      [-0.4789661765098572, -1.1063297986984253, -0.022212618961930275, 0.25865715742111206],
      [-0.3449667692184448, -0.37399405241012573, -0.2262100726366043, -0.40857598185539246],
      [0.4696250557899475, -0.17084768414497375, 0.9209098219871521, 0.08603213727474213]]


def _cancelling_program() -> Program:
    def feed(v):
        return Input("float32", np.array(v, np.float32))

    def mm(a, b, tb=False):
        return Step("matmul", (Ref(a), Ref(b)), (("transpose_b", tb),))
    # softmax as e / sum(e), the form seed 600292 found it in (nn.softmax now scales by
    # 1 / sum, whose float32 gradient here lands within tolerance of the exact 0)
    return Program([feed(_X), Step("reduce_max", (Ref(0),)), Step("subtract", (Ref(0), Ref(1))),
                    Step("exp", (Ref(2),)), Step("reduce_sum", (Ref(3),)),
                    Step("truediv", (Ref(3), Ref(4))),
                    Step("reduce_sum", (Ref(5),), (("axis", 0),)), feed(_A), feed(_B), feed(_W),
                    Step("add", (Ref(6), Ref(8))), mm(10, 10, True), mm(11, 7, True), mm(7, 12),
                    mm(13, 13), Step("add", (Ref(13), Ref(14))),
                    Step("multiply", (Ref(15), Ref(9))), Step("reduce_sum", (Ref(16),)),
                    Step("gradients", (Ref(17), [Ref(0)]), pick=0)], [18], 600292)


def test_the_references_float32_rounding_is_judged_by_float64():
    program = _cancelling_program()
    want = run(tf, program, "reference")[0]
    exact = run(tf, widened(program), "reference")[0]
    assert exact.dtype == np.float64 and np.abs(exact).max() < 1e-9
    assert close(np.zeros(3, np.float32), want) is not None  # the reference is off
    rounding: list = []
    assert disagreement(tf, program, CONFIGS[1], rounding=rounding) is None
    assert rounding == ["v18"]


def test_the_float64_judgement_does_not_hide_a_wrong_value():
    exact = np.array([0.0, 1.0, -2.0])
    want = np.array([0.004, 1.0, -2.0], np.float32)  # the reference's rounding: 0.004
    assert rounded_alike(np.array([0.0, 1.0, -2.0], np.float32), want, exact)
    assert rounded_alike(np.array([0.01, 1.0, -2.0], np.float32), want, exact)
    assert not rounded_alike(np.array([0.0, 1.5, -2.0], np.float32), want, exact)
    assert not rounded_alike(np.array([0.5, 1.0, -2.0], np.float32), want, exact)


def test_widened_programs_are_float64_throughout():
    program = Program([Input("float32", np.ones(2, np.float32)),
                       Step("cast", (Ref(0), "float32")),
                       Step("multiply", (Ref(1), np.float32(2.0))),
                       Step("add", (Ref(2), np.ones(2, np.float32)))], [3])
    wide = widened(program)
    assert wide.values[0].dtype == "float64" and wide.values[0].value.dtype == np.float64
    assert wide.values[1].args == (Ref(0), "float64")
    assert type(wide.values[2].args[1]) is np.float64
    assert wide.values[3].args[1].dtype == np.float64
    assert run(tf, wide, "reference")[0].dtype == np.float64


def _printing_program() -> Program:
    x = Input("float32", np.array([[0.5, -1.0], [2.0, 0.25]], np.float32))
    w = Input("float32", np.array([0.75, -0.5], np.float32))
    return Program([x, w, Step("tools.fuzz_control.loop", (Ref(0), Ref(1), 2, "printed", 3)),
                    Step("tools.fuzz_control.branch", (Ref(1), Ref(0), Ref(1), "printed",
                                                       "damped")),
                    Step("add", (Ref(2), Ref(3))), Step("reduce_sum", (Ref(4),)),
                    Step("gradients", (Ref(5), [Ref(0)]), pick=0)], [4, 6], 7)


def test_what_prints_print_is_compared_with_the_reference(monkeypatch):
    program = _printing_program()
    want = run(tf, program, "reference")
    x, w = program.values[0].value, program.values[1].value
    h1 = np.tanh(x * w + x)
    # the loop's two iterations (p0), then the taken branch (p1), once each: the backward
    # pass prints nothing
    assert len(want) == 4
    np.testing.assert_allclose(want[2], np.concatenate([h1, np.tanh(h1 * w + x)], None),
                               rtol=1e-6)
    np.testing.assert_allclose(want[3], np.tanh(x * w + x).reshape(-1), rtol=1e-6)
    assert disagreement(tf, program, CONFIGS[0], want) is None
    from graphc.runtime import host_calls
    monkeypatch.setattr(host_calls, "emit", lambda state, node, values: None)
    assert disagreement(tf, program, CONFIGS[0], want) == \
        "printed under 0 tags where the reference printed under 2"
