"""Graphs as data: random programs (control flow, gradients, assignments) survive a round
trip through the graph document and compute the same values; meta graph files; bad
documents are refused with clear errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import graphc as tf
from graphc.saving.graph_io import GraphFormatError, decode_graph, encode_graph
from graphc.tools.fuzz import generate
from graphc.tools.fuzz_program import build


def _run_by_name(names, feeds_by_name):
    with tf.Session(target="reference") as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(names, feeds_by_name)


@pytest.mark.parametrize("seed", range(3000, 3040))
def test_random_programs_round_trip(seed):
    program = generate(tf, seed)
    tf.reset_default_graph()
    _, built, feeds = build(tf, program)
    names = [built[i].name for i in program.outputs]
    by_name = {t.name: v for t, v in feeds.items()}
    want = _run_by_name(names, by_name)
    doc, arrays = encode_graph(tf.get_default_graph())
    doc = json.loads(json.dumps(doc))  # what a file holds
    tf.reset_default_graph()
    decode_graph(doc, arrays, tf.get_default_graph())
    got = _run_by_name(names, by_name)
    for name, g, w in zip(names, got, want):
        np.testing.assert_array_equal(g, w, err_msg=name)


def test_names_variables_scopes_and_collections_come_back(tmp_path):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    with tf.variable_scope("layer"):
        w = tf.get_variable("w", [3, 2], initializer=tf.ones_initializer())
    frozen = tf.Variable(1.5, trainable=False, name="frozen")
    y = tf.identity(tf.matmul(x, w) * frozen, name="y")
    tf.add_to_collection("outputs", y)
    tf.add_to_collection("notes", "hello")
    tf.set_random_seed(5)
    meta = tf.train.export_meta_graph(str(tmp_path / "g.meta"))
    assert meta.doc["format"] == "graphc-graph" and meta.doc["version"] == 1
    tf.reset_default_graph()
    tf.train.import_meta_graph(str(tmp_path / "g.meta"))
    g = tf.get_default_graph()
    assert [v.name for v in tf.global_variables()] == ["layer/w:0", "frozen:0"]
    assert [v.name for v in tf.trainable_variables()] == ["layer/w:0"]
    assert g.get_collection("notes") == ["hello"]
    assert g.get_collection("outputs")[0].name == "y:0"
    assert g.seed == 5
    with tf.variable_scope("layer", reuse=True):
        assert tf.get_variable("w").name == "layer/w:0"
    again = tf.identity(g.get_tensor_by_name("y:0"), name="y")  # names stay unique
    assert again.name == "y_1:0"
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run("y:0", {"x:0": np.ones((2, 3), np.float32)}),
                                   np.full((2, 2), 4.5))


def test_saver_writes_the_meta_graph_and_training_resumes_in_a_new_graph(tmp_path):
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    w = tf.Variable(np.zeros((2, 1), np.float32), name="w")
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - 1.0), name="loss")
    step = tf.train.get_or_create_global_step()
    train = tf.train.MomentumOptimizer(0.1, 0.9).minimize(loss, global_step=step)
    tf.add_to_collection("train_op", train)
    data = {x: np.array([[1, 0], [0, 1], [1, 1]], np.float32)}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run(train, data)
        prefix = tf.train.Saver().save(sess, str(tmp_path / "m"), global_step=step)
        want = [sess.run([train, loss], data)[1] for _ in range(3)]
    assert os.path.isfile(prefix + ".meta")
    tf.reset_default_graph()
    saver = tf.train.import_meta_graph(prefix + ".meta")
    g = tf.get_default_graph()
    with tf.Session() as sess:
        saver.restore(sess, prefix)
        op = g.get_collection("train_op")[0]
        got = [sess.run([op, "loss:0"], {"x:0": data[x]})[1] for _ in range(3)]
        assert sess.run(tf.train.get_global_step()) == 6
    np.testing.assert_array_equal(got, want)


def test_bad_documents_are_refused(tmp_path):
    tf.constant(1.0, name="c")
    doc, arrays = encode_graph(tf.get_default_graph())
    with pytest.raises(GraphFormatError, match="version 99; this graphc reads version 1"):
        decode_graph({**doc, "version": 99}, arrays, tf.Graph())
    with pytest.raises(GraphFormatError, match="not a graphc graph document"):
        decode_graph({"format": "other"}, arrays, tf.Graph())
    bad = json.loads(json.dumps(doc))
    bad["nodes"][0]["op"] = "launch_missiles"
    with pytest.raises(GraphFormatError, match="node 0: unknown op 'launch_missiles'"):
        decode_graph(bad, arrays, tf.Graph())
    bad = json.loads(json.dumps(doc))
    bad["nodes"].append({"op": "neg", "in": [5], "deps": [], "attrs": {}})
    with pytest.raises(GraphFormatError, match="refers to node 5, which is not before it"):
        decode_graph(bad, arrays, tf.Graph())
    with pytest.raises(GraphFormatError, match="already has ops named c"):
        decode_graph(doc, arrays, tf.get_default_graph())
    (tmp_path / "x.meta").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(GraphFormatError, match="not a graphc meta graph file"):
        tf.train.import_meta_graph(str(tmp_path / "x.meta"))
