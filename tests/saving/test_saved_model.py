"""Saved models: a trained graph as a directory of data, loaded into a new graph and
session, through TF1's loader, and compiled ahead of time by `graphc compile DIR`."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import graphc as tf
from graphc import saved_model
from graphc.cli import main as graphc_main


def _trained(tmp_path):
    """A small classifier trained a few steps, saved; (export dir, batch, its probs)."""
    rng = np.random.default_rng(3)
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    labels = tf.placeholder(tf.int32, [None], name="labels")
    hidden = tf.nn.relu(
        tf.matmul(x, tf.Variable(rng.normal(0, 0.5, (4, 8)).astype(np.float32), name="w1")))
    logits = tf.matmul(hidden, tf.Variable(rng.normal(0, 0.5, (8, 3)).astype(np.float32),
                                           name="w2"))
    probs = tf.nn.softmax(logits, name="probs")
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    data = rng.standard_normal((16, 4)).astype(np.float32)
    classes = data[:, :3].argmax(1).astype(np.int32)
    export_dir = str(tmp_path / "model")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(5):
            sess.run(train, {x: data, labels: classes})
        want = sess.run(probs, {x: data})
        saved_model.save(sess, export_dir, inputs={"x": x}, outputs={"probs": probs})
    return export_dir, data, want


def test_load_gives_the_trained_model(tmp_path):
    export_dir, data, want = _trained(tmp_path)
    assert sorted(os.listdir(export_dir)) == ["constants.safetensors", "saved_model.json",
                                              "variables.safetensors"]
    tf.reset_default_graph()
    model = saved_model.load(export_dir)
    np.testing.assert_array_equal(model(x=data)["probs"], want)
    np.testing.assert_array_equal(model(data)["probs"], want)
    assert model.signature.inputs["x"].shape == [None, 4]
    with pytest.raises(TypeError, match="the model takes inputs x; missing x; unknown y"):
        model(y=data)
    model.close()


def test_tf1_loader_into_a_session(tmp_path):
    export_dir, data, want = _trained(tmp_path)
    tf.reset_default_graph()
    with tf.Session() as sess:
        info = tf.saved_model.loader.load(sess, [tf.saved_model.tag_constants.SERVING],
                                          export_dir)
        sig = info.signature_def[tf.saved_model.signature_constants
                                 .DEFAULT_SERVING_SIGNATURE_DEF_KEY]
        got = sess.run(sig.outputs["probs"].name, {sig.inputs["x"].name: data})
    np.testing.assert_array_equal(got, want)


def test_export_dir_must_be_new_or_empty_and_inputs_tensors(tmp_path):
    x = tf.placeholder(tf.float32, [2], name="x")
    y = x * 2
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("")
    with tf.Session() as sess:
        with pytest.raises(ValueError, match="Export directory already exists, and isn't "
                           "empty"):
            saved_model.save(sess, str(tmp_path / "full"), {"x": x}, {"y": y})
        with pytest.raises(TypeError, match=r"outputs\['y'\] must be a tensor of the "
                           "session's graph, got 3"):
            saved_model.save(sess, str(tmp_path / "m"), {"x": x}, {"y": 3})
        (tmp_path / "empty").mkdir()
        tf.saved_model.simple_save(sess, str(tmp_path / "empty"), {"x": x}, {"y": y})
    assert not os.path.exists(tmp_path / "m")
    assert tf.saved_model.loader.maybe_saved_model_directory(str(tmp_path / "empty"))


def test_a_damaged_model_is_a_clear_error(tmp_path):
    export_dir, _, _ = _trained(tmp_path)
    path = os.path.join(export_dir, "saved_model.json")
    model = json.load(open(path))
    model["version"] = 7
    json.dump(model, open(path, "w"))
    tf.reset_default_graph()
    with pytest.raises(ValueError, match="format 'graphc-saved-model' version 7; this graphc "
                       "reads graphc-saved-model version 1"):
        saved_model.load(export_dir)
    with pytest.raises(OSError, match="SavedModel file does not exist"):
        saved_model.load(str(tmp_path))


def test_graphc_compile_takes_a_saved_model_directory(tmp_path, capsys):
    export_dir, data, want = _trained(tmp_path)
    out = str(tmp_path / "lib")
    assert graphc_main(["compile", export_dir, "-o", out, "--threads", "1"]) == 0
    assert os.path.join(out, "libmodel.so") in capsys.readouterr().out
    library = tf.load(out)
    np.testing.assert_allclose(library(x=data), want, rtol=1e-6, atol=1e-7)
    assert graphc_main(["compile", str(tmp_path), "-o", out]) == 2
    assert "a directory without saved_model.json" in capsys.readouterr().err
