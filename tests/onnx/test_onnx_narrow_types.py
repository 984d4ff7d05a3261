"""The narrow element types the ONNX importer carries in wider ones (graphc/onnx/formats.py):
rounding into bfloat16, float8 and float4 is bit for bit what ml_dtypes' conversion gives
(denormals, ties, overflow, signed zeros, nan), saturation follows ONNX's Cast tables,
float8e8m0 rounds up, down or to nearest; a model that computes in bfloat16 rounds every
result once; 4-bit ints and narrow floats flow in and out of imported and stored models."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ml_dtypes = pytest.importorskip("ml_dtypes")
from onnx import TensorProto, helper  # noqa: E402

import graphc as tf  # noqa: E402
from graphc import onnx as gonnx  # noqa: E402
from graphc.onnx import formats  # noqa: E402

RNG = np.random.default_rng(20261206)


def awkward_floats() -> np.ndarray:
    """Random bit patterns, values at each format's scales, exact ties and specials."""
    bits = RNG.integers(0, 2 ** 32, size=6000, dtype=np.uint64).astype(np.uint32)
    scaled = np.concatenate([RNG.standard_normal(1500) * s
                             for s in (1e-6, 1e-2, 1, 20, 300, 5e4, 1e38)])
    ties = np.array([0.25, 0.75, 2.5, 3.5, 5.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 464, 61440,
                     2 ** -10, 3 * 2 ** -11, 2 ** -134, 3 * 2 ** -134])
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 3.4028235e38, 1.4e-45]
    with np.errstate(over="ignore"):  # 1e38 scaled past float32's range: infinities
        scaled = scaled.astype(np.float32)
    return np.concatenate([bits.view(np.float32), scaled, ties.astype(np.float32),
                           -ties.astype(np.float32), np.array(special, np.float32)])


X = awkward_floats()


def rounded(elem: int, saturate: bool, values=X, dtype=tf.float32) -> np.ndarray:
    x = tf.placeholder(dtype, [values.size])
    with tf.Session() as sess:
        return sess.run(formats.round_to(x, elem, saturate), {x: values})


def same(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal bits, any nan matching any nan."""
    both_nan = np.isnan(got) & np.isnan(want)
    return bool(np.all((got.view(np.uint32) == want.view(np.uint32)) | both_nan))


@pytest.mark.parametrize("elem", sorted(formats.FLOATS),
                         ids=lambda e: formats.FLOATS[e].name)
def test_rounding_is_ml_dtypes_conversion_bit_for_bit(elem):
    f = formats.FLOATS[elem]
    with np.errstate(over="ignore", invalid="ignore"):
        want = X.astype(getattr(ml_dtypes, f.name)).astype(np.float32)
    if f.name == "float4_e2m1fn":  # no nan: onnx's reference makes it -0 (ml_dtypes +0)
        want[np.isnan(X)] = -0.0
    got = rounded(elem, saturate=False)
    assert same(got, want)
    assert got[np.isnan(X)].size and np.isnan(got[np.isnan(X)]).all() == f.nan


@pytest.mark.parametrize("elem", [17, 18, 19, 20], ids=lambda e: formats.FLOATS[e].name)
def test_saturation_clamps_overflow_and_infinities_to_the_largest_value(elem):
    f = formats.FLOATS[elem]
    got, free = rounded(elem, saturate=True), rounded(elem, saturate=False)
    finite = np.isfinite(free) & (np.abs(free) <= f.largest)
    assert same(got[finite], free[finite])
    over = ~finite & ~np.isnan(X)
    assert over.sum() > 100
    np.testing.assert_array_equal(got[over], np.sign(X[over]) * np.float32(f.largest))
    if f.nan:
        assert np.isnan(got[np.isnan(X)]).all()


def test_bfloat16_overflows_to_infinity_whatever_saturate_says():
    got = rounded(16, saturate=True, values=np.array([3.4e38, -3.4e38, np.inf], np.float32))
    np.testing.assert_array_equal(got, [np.inf, -np.inf, np.inf])


def test_float64_and_float16_inputs_round_once():
    wide = np.array([1 + 2 ** -8 + 2 ** -40, 1 + 2 ** -8, 448 + 16 + 2 ** -30, 1e-300])
    got = rounded(16, False, wide, tf.float64)
    # the float64 tie-breaker bit decides: rounding to float32 first would lose it
    np.testing.assert_array_equal(got, np.array([1 + 2 ** -7, 1, 464, 0], np.float32))
    # e4m3fn: just above the tie between 448 and 480, so 480, past the largest: nan
    np.testing.assert_array_equal(rounded(17, False, wide[2:3], tf.float64), [np.nan])
    half = np.array([0.1, 65504, -3e-7], np.float16)
    want = half.astype(np.float32).astype(ml_dtypes.float8_e5m2).astype(np.float32)
    np.testing.assert_array_equal(rounded(19, False, half, tf.float16), want)


def e8m0(values, mode, saturate=True) -> np.ndarray:
    x = tf.placeholder(tf.float32, [len(values)])
    with tf.Session() as sess:
        return sess.run(formats.round_to(x, formats.E8M0, saturate, mode),
                        {x: np.asarray(values, np.float32)})


def test_e8m0_rounds_to_powers_of_two():
    values = [0.124, 0.25, 1.1, 1.5, 3.0, 6.0, 2.0 ** 100 * 1.3]
    np.testing.assert_array_equal(e8m0(values, "up"),
                                  np.float32([0.125, 0.25, 2, 2, 4, 8, 2.0 ** 101]))
    np.testing.assert_array_equal(e8m0(values, "down"),
                                  np.float32([0.0625, 0.25, 1, 1, 2, 4, 2.0 ** 100]))
    # nearest: ties (1.5 * 2^k) go to the even stored exponent k + 127
    np.testing.assert_array_equal(e8m0(values, "nearest"),
                                  np.float32([0.125, 0.25, 1, 2, 2, 8, 2.0 ** 100]))
    specials = [0.0, np.inf, np.nan, 1e-39, 3e38]
    np.testing.assert_array_equal(e8m0(specials, "up"),
                                  np.float32([2.0 ** -127, 2.0 ** 127, np.nan, 2.0 ** -127,
                                              2.0 ** 127]))
    assert np.isnan(e8m0(specials, "up", saturate=False)).all()
    with pytest.raises(ValueError, match=r"round_mode must be one of \('up', 'down', "
                                         r"'nearest'\), got 'odd'"):
        e8m0([1.0], "odd")


def model(nodes, inputs, outputs, opset=23):
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_bfloat16_arithmetic_rounds_each_result_once():
    m = model([helper.make_node("Mul", ["a", "b"], ["p"]),
               helper.make_node("Add", ["p", "a"], ["s"]),
               helper.make_node("Cast", ["s"], ["y"], to=TensorProto.FLOAT)],
              [helper.make_tensor_value_info(n, TensorProto.BFLOAT16, [64]) for n in "ab"],
              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64]),
               helper.make_tensor_value_info("s", TensorProto.BFLOAT16, [64])])
    bf = ml_dtypes.bfloat16
    a = RNG.standard_normal(64).astype(bf)
    b = (RNG.standard_normal(64) * 3).astype(bf)
    y, s = gonnx.load(m)(a, b)
    p = (a.astype(np.float32) * b.astype(np.float32)).astype(bf)
    want = (p.astype(np.float32) + a.astype(np.float32)).astype(bf)
    assert s.dtype == np.dtype(bf)
    np.testing.assert_array_equal(s.astype(np.float32), want.astype(np.float32))
    np.testing.assert_array_equal(y, want.astype(np.float32))


def test_int4_and_float8_values_flow_through_a_stored_model(tmp_path):
    m = model([helper.make_node("Cast", ["q"], ["wide"], to=TensorProto.INT8),
               helper.make_node("Cast", ["x"], ["f8"], to=TensorProto.FLOAT8E4M3FN),
               helper.make_node("Transpose", ["f8"], ["f8t"])],
              [helper.make_tensor_value_info("q", TensorProto.INT4, [2, 3]),
               helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
              [helper.make_tensor_value_info("wide", TensorProto.INT8, [2, 3]),
               helper.make_tensor_value_info("f8t", TensorProto.FLOAT8E4M3FN, [3, 2])])
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    q = np.array([[-8, -1, 0], [1, 5, 7]], ml_dtypes.int4)
    x = np.array([[0.3, -1000, 1e-9], [17, np.nan, -0.0]], np.float32)
    options = tf.Options(cache_dir=str(tmp_path / "cache"))
    for attempt in range(2):  # compiled, then from the store
        loaded = gonnx.load(str(path), options=options)
        wide, f8t = loaded(q, x)
        assert (loaded._proto is None) == (attempt == 1)
        np.testing.assert_array_equal(wide, q.astype(np.int8))
        assert f8t.dtype == np.dtype(ml_dtypes.float8_e4m3fn)
        # 17 is a tie between 16 and 18 in e4m3fn: to even, 16; -1000 saturates
        want = np.float32([[0.3125, -448, 0], [16, np.nan, -0.0]]).T
        np.testing.assert_array_equal(f8t.astype(np.float32), want)


def test_a_float_cast_to_int4_keeps_in_range_values_and_zeroes_the_rest():
    m = model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT4),
               helper.make_node("Cast", ["x"], ["u"], to=TensorProto.UINT2)],
              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [7])],
              [helper.make_tensor_value_info("y", TensorProto.INT4, [7]),
               helper.make_tensor_value_info("u", TensorProto.UINT2, [7])])
    y, u = gonnx.load(m)(np.float32([-9, -8, -2.7, 3.9, 7, 8, np.nan]))
    np.testing.assert_array_equal(y.astype(np.int8), [0, -8, -2, 3, 7, 0, 0])
    np.testing.assert_array_equal(u.astype(np.int8), [0, 0, 0, 3, 0, 0, 0])
