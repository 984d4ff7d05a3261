"""TFRecord files (framing, corruption, truncation, GZIP) and tf.train.Example parsing."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import graphc as tf
from graphc import data
from graphc.data import Dataset, TFRecordDataset
from graphc.data import example as ex
from graphc.data import tf_io as tfio
from graphc.errors import DataLossError, InvalidArgumentError, UnimplementedError

pytest.importorskip("google_crc32c")
pytest.importorskip("google.protobuf")

RECORDS = [b"", b"a", b"hello world", bytes(range(256)) * 3]


def write(path, records, options=None):
    with tfio.TFRecordWriter(str(path), options) as w:
        for r in records:
            w.write(r)


def test_round_trip_and_framing(tmp_path):
    path = tmp_path / "r.tfrecord"
    write(path, RECORDS)
    raw = path.read_bytes()
    assert len(raw) == sum(16 + len(r) for r in RECORDS)
    assert struct.unpack("<Q", raw[16:24])[0] == 1 and raw[28:29] == b"a"
    assert list(tfio.tf_record_iterator(str(path))) == RECORDS
    assert [e for e in TFRecordDataset(str(path))] == RECORDS
    assert list(TFRecordDataset([str(path), str(path)])) == RECORDS * 2


def test_masked_crc32c():
    from graphc.data.tfrecord import masked_crc
    crc = 0xE3069283  # crc32c of b"123456789", the standard check value
    assert masked_crc(b"123456789") == ((crc >> 15 | crc << 17) + 0xA282EAD8) % 2**32


def test_crc_mismatch_names_file_and_offset(tmp_path):
    path = tmp_path / "bad.tfrecord"
    write(path, RECORDS)
    raw = bytearray(path.read_bytes())
    offset = 16 + 17  # the third record starts after records of 0 and 1 bytes
    raw[offset + 12 + 3] ^= 0x01  # flip a bit of its data
    path.write_bytes(bytes(raw))
    with pytest.raises(DataLossError, match=f"corrupted record at byte offset {offset} in "
                                            f".*bad.tfrecord.*data"):
        list(TFRecordDataset(str(path)))
    raw[offset + 12 + 3] ^= 0x01
    raw[offset + 2] ^= 0x10  # now its length
    path.write_bytes(bytes(raw))
    with pytest.raises(DataLossError, match=f"offset {offset} .*checksum of its length"):
        list(tfio.tf_record_iterator(str(path)))


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.tfrecord"
    write(path, RECORDS)
    raw = path.read_bytes()
    path.write_bytes(raw[:-5])
    last = sum(16 + len(r) for r in RECORDS[:-1])
    with pytest.raises(DataLossError, match=f"truncated record at byte offset {last}"):
        list(TFRecordDataset(str(path)))
    path.write_bytes(raw[:last + 7])
    with pytest.raises(DataLossError, match="7 of the 12 header bytes"):
        list(TFRecordDataset(str(path)))


@pytest.mark.parametrize("kind", ["GZIP", "ZLIB"])
def test_compressed_files(tmp_path, kind):
    path = tmp_path / f"r.{kind}"
    write(path, RECORDS, tfio.TFRecordOptions(kind))
    assert path.read_bytes()[:2] != struct.pack("<H", 0)
    assert list(TFRecordDataset(str(path), compression_type=kind)) == RECORDS
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(DataLossError, match="compressed TFRecord file"):
        list(TFRecordDataset(str(path), compression_type=kind))


def make_example(i: int) -> bytes:
    e = ex.message_class("Example")()
    e.features.feature["x"].float_list.value.extend([i, i + 0.5])
    e.features.feature["label"].int64_list.value.append(i)
    e.features.feature["name"].bytes_list.value.append(b"n%d" % i)
    if i % 2:
        e.features.feature["opt"].int64_list.value.append(100 + i)
    return e.SerializeToString()


FEATURES = {"x": tfio.FixedLenFeature([2], tf.float32),
            "label": tfio.FixedLenFeature([], tf.int64),
            "opt": tfio.FixedLenFeature([], tf.int64, default_value=-1)}


def test_example_field_numbers_are_tensorflows():
    e = ex.message_class("Example")()
    e.features.feature["k"].int64_list.value.append(3)
    # Example.features = 1 { Features.feature = 1 { key = 1 "k", value = 2 {
    # Feature.int64_list = 3 { Int64List.value = 1 packed [3] } } } }
    assert e.SerializeToString() == b"\n\x0c\n\n\n\x01k\x12\x05\x1a\x03\n\x01\x03"
    assert ex.message_class("Example").DESCRIPTOR.full_name == "graphc_example.Example"


def test_parse_single_example_on_bytes_with_defaults():
    got = tfio.parse_single_example(make_example(2), dict(FEATURES, name=tfio.FixedLenFeature(
        [], data.string)))
    assert got["x"].tolist() == [2.0, 2.5] and got["x"].dtype == np.float32
    assert got["label"] == 2 and got["opt"] == -1 and got["name"] == b"n2"
    assert tfio.parse_single_example(make_example(3), FEATURES)["opt"] == 103
    with pytest.raises(InvalidArgumentError, match="Feature: missing .* is required"):
        tfio.parse_single_example(make_example(1), {"missing": tfio.FixedLenFeature(
            [], tf.float32)})
    with pytest.raises(InvalidArgumentError, match="data types don't match"):
        tfio.parse_single_example(make_example(1), {"x": tfio.FixedLenFeature([2], tf.int64)})


def test_parse_inside_map_feeds_a_compiled_graph(tmp_path):
    path = tmp_path / "ex.tfrecord"
    write(path, [make_example(i) for i in range(5)])
    ds = TFRecordDataset(str(path)).map(
        lambda s: tfio.parse_single_example(s, FEATURES)).map(
        lambda d: (d["x"] * 2.0, d["label"] + d["opt"]))
    assert ds.output_shapes == (tf.TensorShape([2]), tf.TensorShape([]))
    nxt = ds.batch(2).make_one_shot_iterator().get_next()
    with tf.Session() as sess:
        x, y = sess.run(nxt)
    assert x.tolist() == [[0, 1], [2, 3]] and y.tolist() == [-1, 1 + 101]


def test_parse_example_batched_and_varlen(tmp_path):
    path = tmp_path / "ex.tfrecord"
    write(path, [make_example(i) for i in range(3)])
    batched = TFRecordDataset(str(path)).batch(2).map(
        lambda s: tfio.parse_example(s, FEATURES))
    first = next(iter(batched))
    assert first["label"].tolist() == [0, 1] and first["opt"].tolist() == [-1, 101]
    varlen = {"opt": tfio.VarLenFeature(tf.int64)}
    single = TFRecordDataset(str(path)).map(lambda s: tfio.parse_single_example(s, varlen))
    got = [d["opt"] for d in single]
    assert [v.values.tolist() for v in got] == [[], [101], []]
    assert [v.indices.tolist() for v in got] == [[], [[0]], []]
    assert [v.dense_shape.tolist() for v in got] == [[0], [1], [0]]
    sparse = tfio.parse_example([make_example(i) for i in range(3)], varlen)["opt"]
    assert sparse.indices.tolist() == [[1, 0]] and sparse.values.tolist() == [101]
    assert sparse.dense_shape.tolist() == [3, 1]
    with pytest.raises(UnimplementedError, match="string features"):
        TFRecordDataset(str(path)).map(lambda s: tfio.parse_single_example(
            s, {"name": tfio.FixedLenFeature([], data.string)}))


def test_string_elements_in_interleave(tmp_path):
    names = []
    for k in range(2):
        names.append(str(tmp_path / f"part{k}.tfrecord"))
        write(names[-1], [b"%d-%d" % (k, i) for i in range(3)])
    ds = Dataset.from_tensor_slices(names).interleave(
        lambda f: TFRecordDataset(f), cycle_length=2)
    assert list(ds) == [b"0-0", b"1-0", b"0-1", b"1-1", b"0-2", b"1-2"]
