"""tf.summary.FileWriter: event files TensorBoard reads, graphs as GraphDefs, the writer's
lifecycle (close, reopen, context manager) and FileWriterCache."""

from __future__ import annotations

import glob

import pytest

import graphc as tf
from graphc import summary
from graphc.ir import ops as prims
from graphc.ir.node import make_node
from graphc.summary.graph_def import to_graph_def

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing import event_file_loader  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.compat.proto import types_pb2  # noqa: E402


def events(logdir) -> list:
    """Every event of every file in `logdir`, file by file, in order, as written."""
    files = [list(event_file_loader.LegacyEventFileLoader(path).Load())
             for path in glob.glob(f"{logdir}/events.out.tfevents.*")]
    # in the order they were written (two files opened within a second have names that
    # sort by their other parts): by the time of each file's first event
    out = []
    for file_events in sorted(files, key=lambda es: es[0].wall_time if es else 0.0):
        out += file_events
    return out


def build_model():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    with tf.variable_scope("dense"):
        w = tf.get_variable("w", [3, 2])
        y = tf.matmul(x, w, name="logits")
    return x, w, y


def test_graph_view_holds_the_graph(tmp_path):
    x, w, y = build_model()
    loss = summary.scalar("loss", tf.reduce_sum(y))
    with tf.Session() as sess:
        summary.FileWriter(tmp_path, sess.graph).close()
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    nodes = {n.name: n for n in acc.Graph().node}
    assert {"x", "dense/w", "dense/w/read", "dense/logits", "loss"} <= set(nodes)
    assert nodes["dense/logits"].op == "Matmul"
    assert list(nodes["dense/logits"].input) == ["x", "dense/w/read"]
    assert nodes["x"].op == "Placeholder"
    assert nodes["x"].attr["dtype"].type == types_pb2.DT_FLOAT
    dims = [d.size for d in nodes["x"].attr["_output_shapes"].list.shape[0].dim]
    assert dims == [-1, 3]
    assert (nodes["loss"].op, list(nodes["loss"].input)) == ("ScalarSummary", ["Sum"])
    assert loss.op.inputs[0].name == "Sum:0"


def test_control_inputs_and_unnamed_nodes():
    graph = tf.get_default_graph()
    a = tf.placeholder(tf.float32, [], name="a")
    with tf.control_dependencies([tf.no_op(name="first")]):
        tf.identity(a, name="b")
    hidden = make_node(prims.get("exp"), (a.node,))  # built below the API: never named
    graph.create("log", [hidden], name="outer")
    nodes = {n.name: n for n in to_graph_def(graph).node}
    assert list(nodes["b"].input) == ["a", "^first"]
    assert "uid" not in nodes["a"].attr
    (unnamed,) = nodes["outer"].input
    assert unnamed.startswith("_unnamed/Exp_") and list(nodes[unnamed].input) == ["a"]


def test_events_have_steps_times_and_version(tmp_path):
    s = summary.scalar("s", tf.constant(4.0))
    with tf.Session() as sess, summary.FileWriter(tmp_path, filename_suffix=".v1") as writer:
        assert writer.get_logdir() == str(tmp_path)
        writer.add_summary(sess.run(s), global_step=3)
        writer.add_summary(summary.Summary(value=[summary.Summary.Value(
            tag="manual", simple_value=0.5)]))
    found = events(tmp_path)
    assert glob.glob(f"{tmp_path}/*")[0].endswith(".v1")
    assert found[0].file_version == "brain.Event:2"
    assert [(e.step, e.summary.value[0].tag, e.summary.value[0].simple_value)
            for e in found[1:]] == [(3, "s", 4.0), (0, "manual", 0.5)]
    assert found[1].wall_time > 1e9


def test_plugin_metadata_is_written_once_per_tag(tmp_path):
    s = summary.text("notes", "hello")
    with tf.Session() as sess, summary.FileWriter(tmp_path) as writer:
        for step in range(2):
            writer.add_summary(sess.run(s), step)
    first, second = [e.summary.value[0] for e in events(tmp_path)[1:]]
    assert first.metadata.plugin_data.plugin_name == "text"
    assert not second.HasField("metadata") and second.tensor.string_val == [b"hello"]


def test_close_ignores_later_events_and_reopen_starts_a_new_file(tmp_path):
    s = summary.scalar("s", tf.constant(1.0))
    with tf.Session() as sess:
        value = sess.run(s)
    writer = summary.FileWriter(tmp_path)
    writer.add_summary(value, 1)
    writer.close()
    writer.add_summary(value, 2)  # ignored, as TF1
    writer.reopen()
    writer.add_summary(value, 3)
    writer.flush()
    writer.close()
    assert len(glob.glob(f"{tmp_path}/events.out.tfevents.*")) == 2
    assert [e.step for e in events(tmp_path) if e.HasField("summary")] == [1, 3]


def test_add_graph_checks_its_argument(tmp_path):
    with summary.FileWriter(tmp_path) as writer:
        with pytest.raises(TypeError, match=r"add_graph takes a tf.Graph \(such as sess.graph\) "
                                            r"or a GraphDef proto, got <class 'str'>"):
            writer.add_graph("graph")
        with pytest.raises(TypeError, match=r"add_summary takes a Summary proto or its "
                                            r"serialized bytes"):
            writer.add_summary(1.0)
        writer.add_graph(None, graph_def=to_graph_def(tf.get_default_graph()))
    assert sum(e.HasField("graph_def") for e in events(tmp_path)) == 1


def test_file_writer_cache_shares_writers(tmp_path):
    tf.constant(1.0, name="c")
    try:
        first = summary.FileWriterCache.get(tmp_path)
        assert summary.FileWriterCache.get(str(tmp_path)) is first
    finally:
        summary.FileWriterCache.clear()
    assert summary.FileWriterCache.get(tmp_path) is not first
    summary.FileWriterCache.clear()
    graphs = [e for e in events(tmp_path) if e.HasField("graph_def")]
    assert len(graphs) == 2
