"""tf.bitcast on every target against numpy's views: types of one width keep the shape and
every bit (nan payloads, signed zeros, denormals), a wider type splits into a last axis of
pieces lowest byte first, a narrower one joins that axis; bools and a wrong last axis are
refused by name; no gradient flows through."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run

import graphc as tf


def special_floats(dt) -> np.ndarray:
    info = np.finfo(dt)
    values = np.array([0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, info.max, info.tiny,
                       info.tiny / 4, -info.smallest_subnormal], dt)
    bits = values.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[values.itemsize])
    payload = {2: 0x7E01, 4: 0x7FC12345, 8: 0x7FF8000000ABCDEF}[values.itemsize]
    return np.concatenate([bits, np.array([payload], bits.dtype)]).view(dt)


SAME_WIDTH = [(np.float32, np.int32), (np.int32, np.float32), (np.float64, np.int64),
              (np.int64, np.float64), (np.float16, np.int16), (np.float16, np.uint16),
              (np.uint16, np.float16), (np.int8, np.uint8), (np.uint16, np.int16)]


def sample(dt) -> np.ndarray:
    if np.dtype(dt).kind == "f":
        return special_floats(dt).reshape(1, -1)
    info = np.iinfo(dt)
    return np.array([[info.min, info.max, 0, 1, -1 if info.min else 2, 77]], dt)


def same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    return got.dtype == want.dtype and got.shape == want.shape and \
        got.tobytes() == want.tobytes()


@pytest.mark.parametrize("src, dst", SAME_WIDTH, ids=lambda d: np.dtype(d).name)
def test_one_width_keeps_every_bit(target, src, dst):
    value = sample(src)
    x = tf.placeholder(tf.as_dtype(src), value.shape)
    y = tf.bitcast(x, tf.as_dtype(dst))
    back = tf.bitcast(y, tf.as_dtype(src))
    got, round_trip = run([y, back], {x: value}, target)
    assert same_bits(got, value.view(dst))
    assert same_bits(round_trip, value)


@pytest.mark.parametrize("src, dst", [(np.float32, np.uint8), (np.float32, np.int16),
                                      (np.float64, np.float32), (np.float64, np.int8),
                                      (np.int64, np.uint16), (np.float16, np.int8)],
                         ids=lambda d: np.dtype(d).name)
def test_wider_types_split_and_join_lowest_byte_first(target, src, dst):
    value = np.stack([sample(src)[0], sample(src)[0][::-1]])
    pieces = np.dtype(src).itemsize // np.dtype(dst).itemsize
    x = tf.placeholder(tf.as_dtype(src), value.shape)
    split = tf.bitcast(x, tf.as_dtype(dst))
    joined = tf.bitcast(split, tf.as_dtype(src))
    assert split.shape.as_list() == list(value.shape) + [pieces]
    got, back = run([split, joined], {x: value}, target)
    assert same_bits(got, value.view(dst).reshape(value.shape + (pieces,)))
    assert same_bits(back, value)


def test_bitcast_of_a_constant_folds_to_its_view():
    value = special_floats(np.float32)
    y = tf.bitcast(tf.constant(value), tf.int32)
    assert same_bits(run(y), value.view(np.int32))


def test_no_gradient_flows_through_a_bitcast():
    x = tf.placeholder(tf.float32, [3])
    y = tf.cast(tf.bitcast(x, tf.int32), tf.float32)
    assert tf.gradients(tf.reduce_sum(y * x), x)[0] is not None
    assert tf.gradients(tf.reduce_sum(y), x) == [None]


def test_bad_bitcasts_are_named():
    x = tf.placeholder(tf.uint8, [2, 3])
    with pytest.raises(ValueError, match=r"bitcast from uint8 to float32 needs a last axis "
                                         r"of 4 pieces, got shape \(2, 3\)"):
        tf.bitcast(x, tf.float32)
    with pytest.raises(TypeError, match="bitcast: type is bool"):
        tf.bitcast(x, tf.bool)
    with pytest.raises(TypeError, match="bitcast: input is bool"):
        tf.bitcast(tf.placeholder(tf.bool, [4]), tf.int8)


def test_cuda_emulated_keeps_every_bit_too():
    value = special_floats(np.float32).reshape(1, -1)
    x = tf.placeholder(tf.float32, value.shape)
    h = tf.placeholder(tf.float16, [3])
    half = np.array([1.5, -0.0, np.inf], np.float16)
    fetches = [tf.bitcast(x, tf.int32), tf.bitcast(tf.bitcast(x, tf.int32), tf.float32),
               tf.bitcast(x, tf.uint8), tf.bitcast(h, tf.int16),
               tf.bitcast(tf.bitcast(h, tf.uint16), tf.float16)]
    got = run(fetches, {x: value, h: half}, "cuda-emulated")
    want = [value.view(np.int32), value, value.view(np.uint8).reshape(1, -1, 4),
            half.view(np.int16), half]
    for g, w in zip(got, want):
        assert same_bits(g, w)
