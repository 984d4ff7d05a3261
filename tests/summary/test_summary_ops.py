"""tf.summary ops: their names and tags, the Summary protos they give when fetched, and what
TensorBoard's own reader finds in the event files."""

from __future__ import annotations

import io
import sys
import wave

import numpy as np
import pytest

import graphc as tf
from graphc import summary
from graphc.summary import encode, protos

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.compat.proto.summary_pb2 import Summary  # noqa: E402


def read(logdir) -> EventAccumulator:
    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    return acc


def fetch(op, feed=None) -> Summary:
    with tf.Session() as sess:
        return Summary.FromString(sess.run(op, feed))


def test_scalars_reach_tensorboard_with_their_steps(tmp_path):
    x = tf.placeholder(tf.float32, [None], name="x")
    with tf.name_scope("train"):
        loss = summary.scalar("loss", tf.reduce_mean(x))
    merged = summary.merge_all()
    with tf.Session() as sess, summary.FileWriter(tmp_path) as writer:
        for step in range(3):
            writer.add_summary(sess.run(merged, {x: [1.0, 2.0, 3.0 * step]}), 10 * step)
    events = read(tmp_path).Scalars("train/loss")
    assert [(e.step, e.value) for e in events] == [(0, 1.0), (10, 2.0), (20, 3.0)]
    assert (loss.name, loss.op.name, loss.op.type) == ("train/loss:0", "train/loss",
                                                       "ScalarSummary")


def test_tags_are_unique_scoped_names_as_in_tf1():
    x = tf.constant(1.0, name="loss")
    first = summary.scalar("loss", x)
    second = summary.scalar("loss", x)
    fam = summary.scalar("lr", x, family="opt")
    odd = summary.scalar("bad name!", x)
    assert [first.op.name, second.op.name, fam.op.name, odd.op.name] == [
        "loss_1", "loss_2", "opt/lr", "bad_name_"]
    tags = [v.tag for v in fetch(summary.merge([first, second, fam, odd])).value]
    assert tags == ["loss_1", "loss_2", "opt/opt/lr", "bad_name_"]


def test_summaries_and_tensors_come_from_one_run():
    v = tf.Variable(2.0)
    step = tf.assign_add(v, 1.0)
    s = summary.scalar("v", step)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        raw, value = sess.run([s, step])
    assert value == 3.0 and Summary.FromString(raw).value[0].simple_value == 3.0


def test_scalar_needs_a_scalar_tensor():
    with pytest.raises(ValueError, match=r"tf.summary.scalar\('s'\) needs a scalar tensor "
                                         r"\(shape \(\)\), got 'Const:0' of shape \(2,\) "
                                         r"\(at test_summary_ops.py:\d+\)"):
        summary.scalar("s", tf.constant([1.0, 2.0]))


# --- histograms ------------------------------------------------------------------------------
def test_bucket_limits_follow_tf():
    limits = encode.BUCKET_LIMITS
    middle = len(limits) // 2
    assert limits[middle] == 0.0 and limits[middle + 1] == 1e-12
    assert limits[-1] == sys.float_info.max and limits[0] == -sys.float_info.max
    np.testing.assert_array_equal(limits[:middle], -limits[:middle:-1])
    growth = limits[middle + 2:-1] / limits[middle + 1:-2]
    np.testing.assert_allclose(growth, 1.1, rtol=1e-12)
    assert 1e20 / 1.1 <= limits[-2] < 1e20


def test_histogram_counts_min_max_and_collapsed_buckets():
    values = np.array([0.0, 1.0, 1.0, -1.0, 3.5], dtype=np.float32)
    proto = fetch(summary.histogram("h", tf.constant(values))).value[0].histo
    assert (proto.min, proto.max, proto.num, proto.sum, proto.sum_squares) == (
        -1.0, 3.5, 5.0, 4.5, 15.25)
    limits, counts = np.array(proto.bucket_limit), np.array(proto.bucket)
    assert counts.sum() == 5 and sorted(counts[counts > 0]) == [1, 1, 1, 2]
    # each value lies below its bucket's limit and at or above the previous limit
    full = encode.BUCKET_LIMITS
    for v in values:
        b = np.searchsorted(full, v, side="right")
        k = list(limits).index(full[b])
        assert counts[k] >= 1 and full[b - 1] <= v < full[b]
    # between nonzero buckets, one empty entry per run of empty buckets
    assert all(counts[i] or counts[i + 1] for i in range(len(counts) - 1))
    assert limits[-1] == sys.float_info.max and counts[-1] == 0


def test_empty_histogram_has_one_entry():
    fields = encode.histogram_fields(np.zeros((0,)))
    assert fields["bucket_limit"] == [sys.float_info.max] and fields["bucket"] == [0.0]
    assert fields["min"] == sys.float_info.max and fields["max"] == -sys.float_info.max


def test_histogram_of_nan_fails_as_tf(tmp_path):
    x = tf.placeholder(tf.float32, [2])
    h = summary.histogram("weights", x)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"Nan in summary histogram for: weights \(summary op 'weights' "
                             r"\(HistogramSummary created at test_summary_ops.py:\d+\)\)"):
        fetch(h, {x: [1.0, np.inf]})


def test_histograms_in_tensorboard(tmp_path):
    x = tf.placeholder(tf.float32, [None])
    h = summary.histogram("acts", x)
    with tf.Session() as sess, summary.FileWriter(tmp_path) as writer:
        writer.add_summary(sess.run(h, {x: np.linspace(-2, 2, 101)}), 7)
    event = read(tmp_path).Histograms("acts")[0]
    assert event.step == 7 and event.histogram_value.num == 101
    assert sum(event.histogram_value.bucket) == 101
    assert (event.histogram_value.min, event.histogram_value.max) == (-2.0, 2.0)


# --- images, audio, text ----------------------------------------------------------------------
def png_pixels(value) -> np.ndarray:
    from PIL import Image
    return np.array(Image.open(io.BytesIO(value.image.encoded_image_string)))


def test_float_images_scale_per_image_as_tf():
    images = np.array([[[[0.0], [0.5]], [[1.0], [0.25]]],          # all >= 0: x * 255
                       [[[-1.0], [0.0]], [[1.0], [np.nan]]]],      # some < 0: x*127 + 128
                      dtype=np.float32)
    values = fetch(summary.image("im", tf.constant(images), max_outputs=5)).value
    assert [v.tag for v in values] == ["im/image/0", "im/image/1"]
    assert (values[0].image.width, values[0].image.height, values[0].image.colorspace) == (
        2, 2, 1)
    np.testing.assert_array_equal(png_pixels(values[0]), [[0, 127], [255, 63]])
    np.testing.assert_array_equal(png_pixels(values[1]), [[1, 128], [255, 255]])


def test_nonfinite_pixels_are_red_and_int_images_are_uint8():
    rgb = np.zeros((1, 1, 2, 3), dtype=np.float32)
    rgb[0, 0, 1] = [np.inf, 0.0, 0.0]
    rgb[0, 0, 0] = [0.5, 0.25, 1.0]
    value = fetch(summary.image("rgb", tf.constant(rgb))).value[0]
    assert value.tag == "rgb/image"
    np.testing.assert_array_equal(png_pixels(value), [[[127, 63, 255], [255, 0, 0]]])
    ints = np.array([[[[0, 10, 300, 255]]]], dtype=np.int32).reshape(1, 1, 1, 4)
    value = fetch(summary.image("rgba", tf.constant(ints))).value[0]
    np.testing.assert_array_equal(png_pixels(value), [[[0, 10, 255, 255]]])


def test_images_in_tensorboard_and_max_outputs(tmp_path):
    batch = tf.placeholder(tf.float32, [None, 4, 6, 3])
    s = summary.image("batch", batch, max_outputs=2)
    with tf.Session() as sess, summary.FileWriter(tmp_path) as writer:
        writer.add_summary(sess.run(s, {batch: np.random.rand(5, 4, 6, 3)}), 1)
    acc = read(tmp_path)
    assert acc.Tags()["images"] == ["batch/image/0", "batch/image/1"]
    event = acc.Images("batch/image/1")[0]
    assert (event.width, event.height, event.step) == (6, 4, 1)


def test_image_shape_is_checked():
    with pytest.raises(ValueError, match=r"tf.summary.image\('im'\) needs a 4-D tensor "
                                         r"\[batch, height, width, channels\] with 1, 3 or 4 "
                                         r"channels, got 'zeros:0' of shape \(1, 2, 2, 2\)"):
        summary.image("im", tf.zeros([1, 2, 2, 2]))


def test_audio_is_16_bit_wav():
    clip = np.array([[0.0, 0.5, -1.0, 2.0]], dtype=np.float32)
    value = fetch(summary.audio("sound", tf.constant(clip), 8000)).value[0]
    assert (value.tag, value.audio.sample_rate, value.audio.num_channels,
            value.audio.length_frames, value.audio.content_type) == (
        "sound/audio", 8000.0, 1, 4, "audio/wav")
    with wave.open(io.BytesIO(value.audio.encoded_audio_string)) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnframes()) == (8000, 2, 4)
        samples = np.frombuffer(wav.readframes(4), dtype="<i2")
    np.testing.assert_array_equal(samples, [0, 16384, -32768, 32767])


def test_text_summaries(tmp_path):
    s = summary.text("notes", ["first", "second"])
    with tf.Session() as sess, summary.FileWriter(tmp_path) as writer:
        writer.add_summary(sess.run(s), 0)
    tensor = read(tmp_path).Tensors("notes")[0].tensor_proto
    assert list(tensor.string_val) == [b"first", b"second"]
    assert [d.size for d in tensor.tensor_shape.dim] == [2]


def test_text_needs_python_strings():
    with pytest.raises(TypeError, match=r"tf.summary.text\('t'\) needs strings, and graphc "
                                        r"has no string tensors"):
        summary.text("t", tf.constant(1.0))
    with pytest.raises(TypeError, match=r"needs a str, bytes or a list of them, got \[1, 2\]"):
        summary.text("t", [1, 2])


# --- merging and collections ------------------------------------------------------------------
def test_merge_all_respects_collections_and_scope():
    assert summary.merge_all() is None
    x = tf.constant(2.0)
    with tf.name_scope("a"):
        summary.scalar("s", x)
    summary.scalar("b", x)
    summary.scalar("hidden", x, collections=[])
    summary.scalar("other", x, collections=["mine"])
    assert [v.tag for v in fetch(summary.merge_all()).value] == ["a/s", "b"]
    assert [v.tag for v in fetch(summary.merge_all(scope="a")).value] == ["a/s"]
    mine = summary.merge_all("mine", name="merged")
    assert mine.op.name == "merged/merged"
    assert [v.simple_value for v in fetch(mine).value] == [2.0]


def test_merge_of_merges_and_duplicate_tags():
    x = tf.placeholder(tf.float32, [])
    a, b = summary.scalar("a", x), summary.scalar("b", x * 2)
    both = summary.merge([summary.merge([a]), b])
    assert both.op.name == "Merge_1/MergeSummary"
    assert [(v.tag, v.simple_value) for v in fetch(both, {x: 1.5}).value] == [
        ("a", 1.5), ("b", 3.0)]
    twice = summary.merge([a, a])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"Duplicate tag a found in summary inputs \(summary op "
                             r"'Merge_2/MergeSummary'"):
        fetch(twice, {x: 1.0})
    with pytest.raises(TypeError, match=r"tf.summary.merge takes summary ops"):
        summary.merge([x])


def test_proto_classes_come_from_tensorboard():
    manual = summary.Summary(value=[summary.Summary.Value(tag="t", simple_value=1.0)])
    assert manual.value[0].tag == "t" and summary.Event.__name__ == "Event"
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        summary.Nope  # noqa: B018


def test_missing_tensorboard_names_the_extra(monkeypatch):
    monkeypatch.setattr(protos, "_LOADED", [])
    monkeypatch.setattr(protos.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"tf.summary.scalar needs the optional extra "
                                          r"graphc\[tensorboard\] \(pip install "
                                          r"'graphc\[tensorboard\]'\)"):
        summary.scalar("s", tf.constant(1.0))
