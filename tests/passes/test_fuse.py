"""Elementwise fusion: which nodes get kernels of their own (counted on the LLVM plan)."""

import re

import numpy as np
from conftest import llvm_plan

import graphc as tf


def _kernels(fetch, feeds):
    names, plan = llvm_plan(fetch, feeds, rtol=2e-5, atol=1e-6)
    return names, plan.ir_text


def test_an_elementwise_chain_is_one_kernel():
    x = tf.placeholder(tf.float32, [8, 16])
    a = tf.constant(np.linspace(-1, 1, 16, dtype=np.float32))
    z = x * a + 0.5
    y = 0.5 * z * (1 + tf.tanh(0.7978845608 * (z + 0.044715 * z ** 3)))
    names, ir_text = _kernels(y, {x: np.random.default_rng(0).standard_normal((8, 16))})
    assert names == ["k_mul"]
    assert "graphc.tanh.f32" in ir_text and "llvm.pow" not in ir_text  # z**3 is z*z*z


def test_softmax_is_one_kernel_without_an_intermediate_buffer():
    x = tf.placeholder(tf.float32, [4, 32])
    names, ir_text = _kernels(tf.nn.softmax(x),
                              {x: np.random.default_rng(1).standard_normal((4, 32)) * 10})
    assert names == ["k_rows_mul"]  # max, sum of exp and scaling by 1/sum per row (fuse_rows)
    assert "fadd reassoc float" in ir_text  # the sum may be split into vector lanes


def test_a_value_read_by_many_kernels_keeps_its_buffer():
    x = tf.placeholder(tf.float32, [4, 32])
    big = tf.tanh(tf.exp(tf.sin(x) * 2.0) + 1.0)  # too large an expression to recompute
    fetches = [tf.reduce_sum(big, 0), tf.reduce_max(big, 1), big * 3.0, big + 1.0]
    names, _ = _kernels(fetches, {x: np.random.default_rng(2).standard_normal((4, 32))})
    # (the two elementwise readers run as one kernel: compiler/siblings.py)
    assert names == ["k_tanh", "k_reduce_sum", "k_reduce_max", "k_mul_add"]


def test_a_transpose_read_only_by_a_pad_is_read_through_its_index():
    """A channels-first image into a convolution over few channels: the layout pass
    transposes it channels-last, and simplify pads it explicitly (pad_few_channels); the pad
    reads the image through the transpose's permutation, one kernel instead of two."""
    x = tf.placeholder(tf.float32, [2, 3, 9, 8])
    w = tf.constant(np.random.default_rng(4).standard_normal((3, 3, 3, 5)).astype(np.float32))
    y = tf.nn.conv2d(x, w, [1, 1, 2, 1], "SAME", data_format="NCHW")
    names, _ = _kernels(y, {x: np.random.default_rng(3).standard_normal((2, 3, 9, 8))})
    assert names[0] == "k_pad" and "k_transpose" not in names[:2], names


def _padded_pool(x, pads, mode, constant, kind, fmt):
    padded = tf.pad(x, pads, mode=mode, constant_values=constant)
    pool = tf.nn.max_pool if kind == "max" else tf.nn.avg_pool
    return pool(padded, 3, 2, "VALID", data_format=fmt)


def test_a_pad_read_only_by_a_pool_is_read_through_its_index():
    """Keras' ResNet zero-pads before its VALID 3x3/2 max pool: the pool reads the padding's
    value where it falls, with no padded copy written (no k_pad kernel), and every value is
    the one the padded copy gives (the reference's, exactly for max), on 1 and 2 threads."""
    rng = np.random.default_rng(5)
    cases = [("CONSTANT", 0.0, "max", "NHWC"), ("CONSTANT", -1.5, "max", "NHWC"),
             ("CONSTANT", 0.25, "avg", "NHWC"), ("REFLECT", 0.0, "max", "NHWC"),
             ("SYMMETRIC", 0.0, "avg", "NHWC"), ("CONSTANT", 2.0, "max", "NCHW")]
    for mode, constant, kind, fmt in cases:
        shape = (2, 9, 8, 5) if fmt == "NHWC" else (2, 5, 9, 8)
        pads = [[0, 0], [1, 2], [2, 1], [0, 0]] if fmt == "NHWC" else \
            [[0, 0], [0, 0], [1, 2], [2, 1]]
        x = tf.placeholder(tf.float32, shape)
        value = rng.standard_normal(shape).astype(np.float32)
        value[0, 0, 0, 0] = np.nan
        y = _padded_pool(tf.nn.relu(x), pads, mode, constant, kind, fmt)
        for threads in (1, 2):
            names, plan = llvm_plan(y, {x: value}, threads=threads, rtol=1e-6, atol=1e-7)
            assert "k_pad" not in names, (mode, kind, fmt, names)
        if kind == "max":
            with tf.Session() as sess:
                got = sess.run(y, {x: value})
            with tf.Session(target="reference") as sess:
                want = sess.run(y, {x: value})
            np.testing.assert_array_equal(got, want)


def test_a_pad_also_read_elsewhere_keeps_its_kernel():
    x = tf.placeholder(tf.float32, [1, 8, 8, 4])
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    pooled = tf.nn.max_pool(padded, 3, 2, "VALID")
    feeds = {x: np.random.default_rng(6).standard_normal((1, 8, 8, 4))}
    assert _kernels(pooled, feeds)[0] == ["k_pool"]
    assert _kernels([pooled, padded * 2.0], feeds)[0] == ["k_pad", "k_pool", "k_mul"]
    assert _kernels([pooled, padded], feeds)[0] == ["k_pad", "k_pool"]  # fetched: written


def test_a_transcendental_read_by_two_kernels_is_computed_once():
    """sigmoid(x) read by two elementwise kernels is stored, not recomputed in each (it costs
    tens of cycles a vector); x * 2 is cheap and recomputed; a reduction's input is
    recomputed whatever it costs (softmax, above)."""
    x = tf.placeholder(tf.float32, [8, 16])
    feeds = {x: np.random.default_rng(7).standard_normal((8, 16))}
    s = tf.sigmoid(x)
    # (the three kernels run as one, compiler/siblings.py: sigmoid's is stored there and
    # read back, so its code is there once; recomputed, each reader would hold it)
    names, ir_text = _kernels([s * 3.0, s + x], feeds)
    assert names == ["k_sigmoid_mul_add"]
    assert len(re.findall(r'call [^@]*@"graphc\.sigmoid', ir_text)) == 1
    d = x * 2.0
    assert _kernels([d * 3.0, d + x], feeds)[0] == ["k_mul_add"]


def test_slices_read_by_elementwise_kernels_are_read_in_place():
    """An LSTM cell's gates: four column slices of one product, each read by elementwise
    ops of its shape, are read where they lie (no k_slice); a fetched slice is written."""
    x = tf.placeholder(tf.float32, [4, 6])
    w = tf.constant(np.random.default_rng(8).standard_normal((6, 32)).astype(np.float32))
    gates = tf.matmul(x, w) + 1.0
    i, j, f, o = tf.split(gates, 4, axis=1)
    c = tf.sigmoid(f) * 0.5 + tf.sigmoid(i) * tf.tanh(j)
    h = tf.tanh(c) * tf.sigmoid(o)
    feeds = {x: np.random.default_rng(9).standard_normal((4, 6))}
    names, _ = _kernels(h, feeds)
    assert "k_slice" not in names and names[0] == "k_matmul_add", names
    names, _ = _kernels([h, j], feeds)
    assert names.count("k_slice") == 1, names
