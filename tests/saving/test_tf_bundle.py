"""TFCheckpointReader against checkpoints written by TensorFlow itself (tests/saving/data,
made by make_tf1_checkpoints.py, whose value formulas these tests import), and against
copies of them damaged on purpose."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

from graphc.errors import DataLossError, NotFoundError, UnimplementedError
from graphc.saving import tf_bundle
from graphc.saving.tf_bundle import TFCheckpointReader, is_tf_checkpoint

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _load_formulas():
    spec = importlib.util.spec_from_file_location(
        "make_tf1_checkpoints", os.path.join(DATA, "make_tf1_checkpoints.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)   # defines functions only; TensorFlow is not imported
    return module


FORMULAS = _load_formulas()
CHECKPOINTS = {
    "simple": FORMULAS.simple_values(),
    "partitioned": FORMULAS.partitioned_values(),
    "sharded": FORMULAS.sharded_values(),
    os.path.join("with_step", "model.ckpt-7"): FORMULAS.stepped_values(),
}


def _copy(tmp_path, name: str) -> str:
    """A copy of checkpoint `name`'s files in tmp_path; returns its prefix."""
    for file in os.listdir(DATA):
        if file.startswith(name + "."):
            shutil.copy(os.path.join(DATA, file), tmp_path / file)
    return str(tmp_path / name)


def _rewrite(path: str, edit) -> None:
    with open(path, "rb") as f:
        data = bytearray(f.read())
    with open(path, "wb") as f:
        f.write(bytes(edit(data)))


# --- reading what TensorFlow wrote ----------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_reads_every_variable_exactly(name):
    expected = CHECKPOINTS[name]
    reader = TFCheckpointReader(os.path.join(DATA, name))
    variables = reader.variable_map()
    assert list(variables) == sorted(expected)
    for var, value in expected.items():
        assert variables[var] == (value.dtype, value.shape), var
        got = reader.get_tensor(var)
        assert got.dtype == value.dtype and got.shape == value.shape, var
        np.testing.assert_array_equal(got, value, err_msg=var)


def test_simple_has_every_dtype_and_scoped_names():
    dtypes = {dtype for dtype, _ in TFCheckpointReader(os.path.join(DATA, "simple"))
              .variable_map().values()}
    assert dtypes == {np.dtype(d) for d in ("f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1",
                                            "u2", "u4", "u8", "?", "c8", "c16")}
    reader = TFCheckpointReader(os.path.join(DATA, "simple"))
    assert reader.get_tensor("global_step") == 42
    assert reader.get_tensor("global_step").dtype == np.int64
    assert reader.get_tensor("scalar").shape == ()
    assert reader.has_tensor("layer_1/conv/weights") and not reader.has_tensor("layer_1")


def test_partitioned_variable_comes_back_whole():
    reader = TFCheckpointReader(os.path.join(DATA, "partitioned"))
    # The slices are not listed separately, only the full tensors.
    assert reader.variable_map() == {
        "embedding": (np.dtype(np.float32), (10, 4)),
        "other": (np.dtype(np.float32), (2,)),
        "proj/w": (np.dtype(np.float64), (2, 6)),
    }
    np.testing.assert_array_equal(reader.get_tensor("embedding"),
                                  np.arange(40, dtype=np.float32).reshape(10, 4) * 0.25 - 5)
    np.testing.assert_array_equal(reader.get_tensor("proj/w"),
                                  np.arange(12, dtype=np.float64).reshape(2, 6) / 7 + 1)


def test_get_tensor_returns_a_fresh_writable_array():
    reader = TFCheckpointReader(os.path.join(DATA, "simple"))
    first = reader.get_tensor("dense/kernel")
    first[0, 0] = 100
    assert reader.get_tensor("dense/kernel")[0, 0] == -3


def test_step_checkpoint_keeps_its_state_file():
    with open(os.path.join(DATA, "with_step", "checkpoint")) as f:
        assert f.read() == ('model_checkpoint_path: "model.ckpt-7"\n'
                            'all_model_checkpoint_paths: "model.ckpt-7"\n')


def test_unsupported_dtypes_name_the_variable_and_dtype():
    reader = TFCheckpointReader(os.path.join(DATA, "unsupported"))
    assert reader.variable_map() == {"bf16": (np.dtype(object), (3,)),
                                     "vocab": (np.dtype(object), (2,))}
    with pytest.raises(UnimplementedError, match=r"variable 'vocab' of checkpoint .*"
                                                 r"unsupported' has dtype DT_STRING; graphc"):
        reader.get_tensor("vocab")
    with pytest.raises(UnimplementedError, match=r"variable 'bf16' .* has dtype DT_BFLOAT16"):
        reader.get_tensor("bf16")


# --- names and prefixes that are not there --------------------------------------------------
def test_missing_name_suggests_close_names():
    reader = TFCheckpointReader(os.path.join(DATA, "simple"))
    with pytest.raises(NotFoundError, match=r"^tensor 'dense/kernal' not found in checkpoint "
                                            r"'.*simple'; close names: 'dense/kernel'"):
        reader.get_tensor("dense/kernal")
    with pytest.raises(NotFoundError, match=r"^tensor 'zzz' not found in checkpoint '.*'$"):
        reader.get_tensor("zzz")


def test_missing_prefix(tmp_path):
    prefix = str(tmp_path / "nothing")
    with pytest.raises(NotFoundError, match=re.escape(
            f"no TensorFlow checkpoint at prefix {prefix!r}: {prefix}.index does not exist")):
        TFCheckpointReader(prefix)


def test_missing_data_shard_names_the_shard_file(tmp_path):
    prefix = _copy(tmp_path, "sharded")
    os.remove(prefix + ".data-00001-of-00002")
    reader = TFCheckpointReader(prefix)
    np.testing.assert_array_equal(reader.get_tensor("a/w"), FORMULAS.sharded_values()["a/w"])
    with pytest.raises(NotFoundError, match=re.escape(
            f"variable 'b/w' of checkpoint {prefix!r}: data shard file "
            f"{prefix}.data-00001-of-00002 does not exist")):
        reader.get_tensor("b/w")


def test_is_tf_checkpoint(tmp_path):
    assert is_tf_checkpoint(os.path.join(DATA, "simple"))
    assert is_tf_checkpoint(os.path.join(DATA, "with_step", "model.ckpt-7"))
    assert not is_tf_checkpoint(os.path.join(DATA, "with_step", "model.ckpt"))
    assert not is_tf_checkpoint(str(tmp_path / "nothing"))
    (tmp_path / "short.index").write_bytes(b"\x57\xfb\x80\x8b\x24\x75\x47\xdb")
    assert not is_tf_checkpoint(str(tmp_path / "short"))
    (tmp_path / "text.index").write_text("x" * 100)
    assert not is_tf_checkpoint(str(tmp_path / "text"))
    (tmp_path / "dir.index").mkdir()
    assert not is_tf_checkpoint(str(tmp_path / "dir"))


# --- damaged files: DataLossError, never a crash ---------------------------------------------
def test_flipped_data_byte_names_the_variable(tmp_path):
    prefix = _copy(tmp_path, "simple")
    # big_ints (sorted first) is written first, at offset 0 of the data file.
    _rewrite(prefix + ".data-00000-of-00001", lambda d: d.__setitem__(0, d[0] ^ 1) or d)
    reader = TFCheckpointReader(prefix)
    with pytest.raises(DataLossError, match=re.escape(
            f"variable 'big_ints' of checkpoint {prefix!r}: checksum mismatch in "
            f"{prefix}.data-00000-of-00001 (bytes [0, 32)); the data is corrupt")):
        reader.get_tensor("big_ints")
    np.testing.assert_array_equal(reader.get_tensor("dense/kernel"),
                                  FORMULAS.simple_values()["dense/kernel"])


def test_truncated_data_file_names_the_variable(tmp_path):
    prefix = _copy(tmp_path, "simple")
    _rewrite(prefix + ".data-00000-of-00001", lambda d: d[:300])
    reader = TFCheckpointReader(prefix)
    with pytest.raises(DataLossError, match=re.escape(
            f"variable 'small/uint64' of checkpoint {prefix!r}: {prefix}.data-00000-of-00001 "
            "is truncated; expected bytes [326, 350) but the file has 300")):
        reader.get_tensor("small/uint64")
    assert reader.get_tensor("scalar") == 3.5   # bytes [290, 294) are still there


@pytest.mark.parametrize("keep", [0, 20, 47, 100, -1])
def test_truncated_index_names_the_file(tmp_path, keep):
    prefix = _copy(tmp_path, "simple")
    _rewrite(prefix + ".index", lambda d: d[:keep])
    with pytest.raises(DataLossError, match=re.escape(f"{prefix}.index: ")):
        TFCheckpointReader(prefix)


@pytest.mark.parametrize("name", ["simple", "partitioned"])
def test_every_flipped_index_byte_is_data_loss(tmp_path, name):
    prefix = _copy(tmp_path, name)
    with open(prefix + ".index", "rb") as f:
        original = f.read()
    for i in range(len(original)):
        damaged = bytearray(original)
        damaged[i] ^= 0x40
        with open(prefix + ".index", "wb") as f:
            f.write(damaged)
        try:
            reader = TFCheckpointReader(prefix)
        except DataLossError as e:
            assert f"{prefix}.index" in str(e)
            continue
        # Only the footer's padding may change unnoticed: a checksum guards every block.
        assert len(original) - 48 <= i < len(original) - 8, i
        assert reader.variable_map() == TFCheckpointReader(os.path.join(DATA, name)) \
            .variable_map()


def test_garbage_index(tmp_path):
    rng = np.random.default_rng(0)
    junk = rng.integers(0, 256, 500, dtype=np.uint8).tobytes()
    (tmp_path / "junk.index").write_bytes(junk[:-8] + struct.pack("<Q", 0xDB4775248B80FB57))
    with pytest.raises(DataLossError, match=re.escape(f"{tmp_path / 'junk'}.index: ")):
        TFCheckpointReader(str(tmp_path / "junk"))


def test_compressed_block_is_refused(tmp_path):
    import google_crc32c

    prefix = _copy(tmp_path, "simple")

    def compress_index_block(data):
        footer = data[-48:]
        fields, pos = [], 0
        for _ in range(4):   # metaindex offset, size; index offset, size (varints)
            value = shift = 0
            while True:
                value |= (footer[pos] & 0x7F) << shift
                shift, pos = shift + 7, pos + 1
                if footer[pos - 1] < 0x80:
                    break
            fields.append(value)
        offset, size = fields[2:]
        data[offset + size] = 1   # snappy
        crc = google_crc32c.value(bytes(data[offset:offset + size + 1]))
        masked = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
        data[offset + size + 1:offset + size + 5] = struct.pack("<I", masked)
        return data

    _rewrite(prefix + ".index", compress_index_block)
    with pytest.raises(DataLossError, match=re.escape(
            f"{prefix}.index: index block: compression type 1 (1 is snappy)")):
        TFCheckpointReader(prefix)


# --- hand-built bundles: what TF's own files do not exercise --------------------------------
def _masked_crc(data: bytes) -> int:
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def _write_bundle(prefix: str, tensors: dict, big_endian=False, min_consumer=0) -> None:
    """A one-shard bundle of key -> (DataType, shape, data bytes, [slice extents...]); an
    extent is (start, length) or None for the whole dimension."""
    messages = tf_bundle._messages()
    header = messages.Header(num_shards=1, endianness=int(big_endian))
    header.version.producer, header.version.min_consumer = 1, min_consumer
    entries, data = {b"": header.SerializeToString()}, b""
    for key, (dtype, shape, raw, *slices) in tensors.items():
        entry = messages.Entry(dtype=dtype, offset=len(data), size=len(raw),
                               crc32c=_masked_crc(raw))
        for size in shape:
            entry.shape.dim.add().size = size
        for extents in slices:
            proto = entry.slices.add()
            for extent in extents:
                e = proto.extent.add()
                if extent is not None:
                    e.start, e.length = extent
        entries[key], data = entry.SerializeToString(), data + raw
    table = bytearray()

    def block(items) -> bytes:
        start = len(table)
        body = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v
                        for k, v in items) + struct.pack("<II", 0, 1)
        table.extend(body + b"\0" + struct.pack("<I", _masked_crc(body + b"\0")))
        return _varint(start) + _varint(len(body))

    data_handle = block(sorted(entries.items()))
    meta_handle = block([])
    index_handle = block([(b"\xff", data_handle)])
    footer = (meta_handle + index_handle).ljust(40, b"\0") + struct.pack("<Q", 0xDB4775248B80FB57)
    with open(prefix + ".index", "wb") as f:
        f.write(bytes(table) + footer)
    with open(prefix + ".data-00000-of-00001", "wb") as f:
        f.write(data)


def test_big_endian_bundle(tmp_path):
    prefix = str(tmp_path / "big")
    _write_bundle(prefix, {b"f": (1, (2,), np.array([1.5, -2], ">f4").tobytes()),
                           b"i": (5, (3,), np.array([1, -2, 300], ">i2").tobytes())},
                  big_endian=True)
    reader = TFCheckpointReader(prefix)
    got = reader.get_tensor("f")
    assert got.dtype == np.float32 and got.dtype.isnative
    np.testing.assert_array_equal(got, [1.5, -2])
    np.testing.assert_array_equal(reader.get_tensor("i"), np.array([1, -2, 300], np.int16))


def _sliced(full_extents, stored: dict) -> dict:
    """A (2, 3) int32 tensor 't' listing slices `full_extents`, with the slice entries
    `stored` (rows -> slice key bytes of the extents, data = row index * 10 + column)."""
    tensors = {b"t": (3, (2, 3), b"", *full_extents)}
    for row, key_extents in stored.items():
        key = b"\x00t\x00\x01\x01\x02" + key_extents
        tensors[key] = (3, (1, 3), (np.arange(3, dtype="<i4") + 10 * row).tobytes())
    return tensors


def test_slices_with_whole_dimensions(tmp_path):
    prefix = str(tmp_path / "sliced")
    # Row r is the slice (r, 1) x (whole): start r, length 1, then start 0, length -1.
    _write_bundle(prefix, _sliced([[(0, 1), None], [(1, 1), None]],
                                  {0: b"\x80\x81\x80\x7f", 1: b"\x81\x81\x80\x7f"}))
    reader = TFCheckpointReader(prefix)
    assert reader.variable_map() == {"t": (np.dtype(np.int32), (2, 3))}
    np.testing.assert_array_equal(reader.get_tensor("t"), [[0, 1, 2], [10, 11, 12]])


def test_missing_or_short_slices_are_data_loss(tmp_path):
    prefix = str(tmp_path / "sliced")
    _write_bundle(prefix, _sliced([[(0, 1), None], [(1, 1), None]], {0: b"\x80\x81\x80\x7f"}))
    with pytest.raises(DataLossError, match=re.escape(
            f"variable 't' of checkpoint {prefix!r}: the index lists slice 1,1:- but has no "
            "entry for it")):
        TFCheckpointReader(prefix).get_tensor("t")
    _write_bundle(prefix, _sliced([[(0, 1), None]], {0: b"\x80\x81\x80\x7f"}))
    with pytest.raises(DataLossError, match=re.escape(
            f"variable 't' of checkpoint {prefix!r}: its slices hold 3 elements; expected at "
            "least the 6 of shape (2, 3)")):
        TFCheckpointReader(prefix).get_tensor("t")


def test_wrong_size_and_newer_version(tmp_path):
    prefix = str(tmp_path / "odd")
    _write_bundle(prefix, {b"x": (1, (2,), b"\0" * 12)})
    with pytest.raises(DataLossError, match=re.escape(
            f"variable 'x' of checkpoint {prefix!r}: the index gives 12 bytes of data; "
            "expected 8 for dtype float32 and shape (2,)")):
        TFCheckpointReader(prefix).get_tensor("x")
    _write_bundle(prefix, {b"x": (1, (2,), b"\0" * 8)}, min_consumer=2)
    with pytest.raises(UnimplementedError, match=re.escape(
            f"{prefix}.index: the checkpoint's format version (producer 1, min consumer 2, "
            "bad consumers []) rules out this reader (version 1); it was written by a newer "
            "TensorFlow")):
        TFCheckpointReader(prefix)


# --- OrderedCode, against the examples in TensorFlow's ordered_code.cc ------------------------
@pytest.mark.parametrize("encoded, value", [
    (b"\x80", 0), (b"\x84", 4), (b"\xbf", 63), (b"\x7f", -1), (b"\x40", -64),
    (b"\xc0\x40", 64), (b"\x3f\xbf", -65), (b"\xf0\x42\x42\x42", 0x424242),
    (b"\x38\x00", -0x800), (b"\xff\x7f" + b"\xff" * 6, 2**55 - 1),
    (b"\xff\x80\x80" + b"\x00" * 6, 2**55), (b"\x00\x7f\x7f" + b"\xff" * 6, -(2**55) - 1),
])
def test_signed_ordered_numbers(encoded, value):
    assert tf_bundle._read_signed_num(encoded + b"rest", 0, "here") == (value, len(encoded))


def test_ordered_string_and_slice_key():
    assert tf_bundle._read_ordered_string(b"a\x00\xffb\xff\x00\x00\x01z", 0, "here") == \
        (b"a\x00b\xff", 8)
    key = b"\x00" + b"emb\x00\x01" + b"\x01\x02" + b"\x80\x84" + b"\x80\x7f"
    assert tf_bundle._decode_slice_key(key, "f.index") == ("emb", ((0, 4), (0, -1)))
    with pytest.raises(DataLossError, match=r"f.index: slice key .*: malformed string"):
        tf_bundle._decode_slice_key(b"\x00emb", "f.index")


# --- the optional extra -----------------------------------------------------------------------
@pytest.mark.parametrize("module", ["google_crc32c", "google.protobuf"])
def test_missing_extra_names_it(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=re.escape(
            "reading TensorFlow checkpoints needs the optional extra graphc[tf-formats] "
            "(pip install 'graphc[tf-formats]')")):
        TFCheckpointReader(os.path.join(DATA, "simple"))


def test_module_imports_without_the_extra():
    code = ("import sys; sys.modules['google_crc32c'] = sys.modules['google.protobuf'] = None\n"
            "import graphc.saving.tf_bundle as m\n"
            f"print(m.is_tf_checkpoint({os.path.join(DATA, 'simple')!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout == "True\n"
