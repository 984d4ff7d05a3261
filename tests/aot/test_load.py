"""graphc.load: artifacts back in Python through ctypes, checked like Session feeds."""

from __future__ import annotations

import ctypes
import threading

import numpy as np
import pytest
from aot_support import requires_cc, shared, stats_inputs

import graphc as tf
from graphc.errors import InvalidArgumentError

pytestmark = requires_cc


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    return shared("mlp", tmp_path_factory)


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    return shared("stats", tmp_path_factory)


def test_round_trip_equals_session_run(mlp, stats):
    model = tf.load(mlp.artifact.shared)
    x = np.random.default_rng(0).normal(size=(21, 16)).astype(np.float32)
    np.testing.assert_allclose(model(x), mlp.reference({"x": x})["probs"], rtol=1e-5,
                               atol=1e-7)
    values = stats_inputs(5)
    got = dict(zip([p.name for p in tf.load(stats.artifact.directory).outputs],
                   tf.load(stats.artifact.manifest_path)(**values)))
    for name, value in stats.reference(values).items():
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
        assert got[name].dtype == value.dtype


def test_the_model_describes_itself(mlp):
    model = tf.load(mlp.artifact.directory)
    assert model.name == "mlp" and model.version == tf.__version__
    assert [(p.name, p.dtype, p.shape) for p in model.inputs] == [("x", "float32", (None, 16))]
    assert model.max_batch == 2**31 - 1
    assert "probs: float32[None, 4]" in repr(model)


def test_inputs_are_checked_in_python(mlp, stats):
    model = tf.load(mlp.artifact.shared)
    with pytest.raises(ValueError, match=r"must have shape \['batch', 16\], got \[3, 15\]"):
        model(np.zeros((3, 15), np.float32))
    with pytest.raises(TypeError, match="takes 1 inputs"):
        model()
    with pytest.raises(TypeError, match="would lose data"):
        model(np.zeros((3, 16), np.complex64))
    with pytest.raises(ValueError, match="out of range"):
        model(np.zeros((0, 16), np.float32))
    assert model(np.zeros((2, 16))).dtype == np.float32  # float64 zeros convert losslessly
    values = stats_inputs(4)
    values["idx"] = values["idx"][:3]
    with pytest.raises(ValueError, match="same leading dimension"):
        tf.load(stats.artifact.shared)(**values)
    with pytest.raises(TypeError, match="missing"):
        tf.load(stats.artifact.shared)(x=values["x"])


def test_a_failed_check_is_an_invalid_argument_error(stats):
    values = stats_inputs(3)
    values["idx"][2] = 6
    with pytest.raises(InvalidArgumentError, match=r"out of range \[0, 6\)"):
        tf.load(stats.artifact.shared)(**values)


def test_python_threads_share_a_model(mlp):
    model = tf.load(mlp.artifact.shared)
    xs = [np.random.default_rng(i).normal(size=(33, 16)).astype(np.float32) for i in range(4)]
    expected = [model(x) for x in xs]
    errors = []

    def work(i):
        for _ in range(25):
            if not np.array_equal(model(xs[i]), expected[i]):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_fixed_shape_artifact_runs_with_run_not_run_batch(tmp_path):
    x = tf.placeholder(tf.float64, [None, 2], name="x")
    with tf.Session() as sess:
        a = tf.export({"total": tf.reduce_sum(x)}, x, tmp_path, name="fixed", session=sess,
                      batch_size=3)
    model = tf.load(a.shared)
    assert model.max_batch == 0 and model.inputs[0].shape == (3, 2)
    assert model(np.ones((3, 2))) == 6.0
    lib = ctypes.CDLL(a.shared)
    lib.fixed_create.restype = ctypes.c_void_p
    lib.fixed_error.restype = ctypes.c_char_p
    lib.fixed_error.argtypes = [ctypes.c_void_p]
    lib.fixed_run_batch.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p,
                                    ctypes.c_void_p]
    lib.fixed_destroy.argtypes = [ctypes.c_void_p]
    ctx = lib.fixed_create()
    assert lib.fixed_run_batch(ctx, 3, None, None) == 2  # GRAPHC_ERROR_BATCH
    assert b"call fixed_run" in lib.fixed_error(ctx)
    lib.fixed_destroy(ctx)


def test_every_dtype_crosses_the_boundary(tmp_path):
    h = tf.placeholder(tf.float16, [None, 3], name="h")
    i = tf.placeholder(tf.int64, [None, 3], name="i")
    b = tf.placeholder(tf.bool, [None, 3], name="b")
    fetches = {"h2": h * 2.0, "pos": tf.logical_and(b, i > 0),
               "sel": tf.where(b, tf.cast(i, tf.float64), tf.cast(h, tf.float64)),
               "n": tf.cast(tf.reduce_sum(tf.cast(b, tf.int32), axis=1), tf.int32)}
    values = [np.array([[1, -2, 3.5]] * 6, np.float16), np.array([[1, -2, 3]] * 6, np.int64),
              np.array([[True, False, True], [False, True, True]] * 3)]
    with tf.Session() as sess:
        a = tf.export(fetches, [h, i, b], tmp_path, name="dt", session=sess,
                      batch_blocks=(4, 1))
        expected = sess.run(fetches, dict(zip([h, i, b], values)))
    got = tf.load(a.shared)(*values)
    for value, (name, want) in zip(got, expected.items()):
        assert value.dtype == want.dtype and np.array_equal(value, want), name


def test_a_convolutional_model_exports(tmp_path):
    """Implicit-GEMM convolutions (packed operands, epilogues, the narrow GEMM) in an
    artifact: the shared library computes what the session does, batch fixed or not."""
    rng = np.random.default_rng(3)
    x = tf.placeholder(tf.float32, [None, 9, 9, 3], name="images")
    w1 = tf.constant(rng.standard_normal((3, 3, 3, 20)).astype(np.float32))
    w2 = tf.constant(rng.standard_normal((1, 1, 20, 10)).astype(np.float32))
    h = tf.nn.relu(tf.nn.conv2d(x, w1, 2, "SAME") + 0.5)
    h = tf.nn.max_pool(h, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
    y = tf.reduce_mean(tf.nn.conv2d(h, w2, 1, "VALID"), axis=[1, 2])
    images = rng.standard_normal((3, 9, 9, 3)).astype(np.float32)
    with tf.Session() as sess:
        want = sess.run(y, {x: images})
        tf.export(y, x, tmp_path / "cnn", name="cnn", session=sess)
    np.testing.assert_allclose(tf.load(tmp_path / "cnn")(images), want, rtol=1e-5, atol=1e-5)


def test_a_convolution_read_in_place_exports(tmp_path, monkeypatch):
    """A float32 convolution of 20 channels into 40 reads its input in place (the indirect
    GEMM), its segments' offsets in a table among the artifact's constants: the shared
    library computes what the session does, for a batch size it was not built for too."""
    from graphc.codegen_llvm import prepack
    tables, original = [], prepack.index_table

    def spy(s, *args):
        out = original(s, *args)
        tables.append(out is not s)
        return out
    monkeypatch.setattr(prepack, "index_table", spy)
    rng = np.random.default_rng(4)
    x = tf.placeholder(tf.float32, [None, 7, 6, 20], name="maps")
    w = tf.constant((rng.standard_normal((3, 3, 20, 40)) / 12).astype(np.float32))
    y = tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME") - 0.1)
    maps = rng.standard_normal((3, 7, 6, 20)).astype(np.float32)
    with tf.Session() as sess:
        want = sess.run(y, {x: maps})
        tables.clear()
        tf.export(y, x, tmp_path / "wide", name="wide", session=sess)
    assert tables and all(tables)  # (one per batch block of the artifact)
    np.testing.assert_allclose(tf.load(tmp_path / "wide")(maps), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tf.load(tmp_path / "wide")(maps[:2]), want[:2], rtol=1e-5,
                               atol=1e-5)
