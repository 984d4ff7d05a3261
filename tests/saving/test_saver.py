"""tf.train.Saver and the checkpoint helpers on graphc's own format (safetensors)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from safetensors import safe_open

import graphc as tf
from graphc.saving.format import TensorFile, write_tensors

DTYPES = [np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_]


def _model():
    """Variables of every dtype, a scalar, scoped names; returns them by name."""
    rng = np.random.default_rng(7)
    made = {}
    for dt in DTYPES:
        value = (rng.standard_normal((3, 4)) * 10).astype(dt)
        made[np.dtype(dt).name] = tf.Variable(value, name=f"v_{np.dtype(dt).name}")
    with tf.variable_scope("dense"):
        made["kernel"] = tf.get_variable("kernel", [5, 2],
                                         initializer=tf.random_normal_initializer(seed=1))
    made["step"] = tf.Variable(0, dtype=tf.int64, name="global_step")
    return made


def _values(sess, made):
    return {k: sess.run(v) for k, v in made.items()}


@pytest.mark.parametrize("target", ["reference", "llvm"])
def test_round_trip_of_every_dtype(tmp_path, target):
    made = _model()
    saver = tf.train.Saver()
    with tf.Session(target=target) as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(made["step"].assign(41))
        want = _values(sess, made)
        prefix = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=made["step"])
        assert prefix == str(tmp_path / "model.ckpt-41")
        for v in made.values():  # overwrite, then restore
            v.load(np.zeros(v.shape.as_list(), v.dtype.np), sess)
        saver.restore(sess, prefix)
        got = _values(sess, made)
    for k in want:
        assert got[k].dtype == want[k].dtype
        np.testing.assert_array_equal(got[k], want[k])
    # the file is plain safetensors, readable by the library, under the TF1 names
    with safe_open(prefix + ".safetensors", framework="numpy") as f:
        assert sorted(f.keys()) == sorted(v.op.name for v in made.values())
        np.testing.assert_array_equal(f.get_tensor("dense/kernel"), want["kernel"])
        assert f.get_tensor("global_step").shape == ()


def test_state_file_max_to_keep_and_latest(tmp_path):
    v = tf.Variable(1.0, name="v")
    saver = tf.train.Saver(max_to_keep=2)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        paths = [saver.save(sess, str(tmp_path / "m"), global_step=i) for i in range(4)]
        saver.save(sess, str(tmp_path / "other"), write_meta_graph=False, write_state=False)
    os.unlink(tmp_path / "other.safetensors")
    files = sorted(os.listdir(tmp_path))
    assert files == ["checkpoint", "m-2.meta", "m-2.safetensors", "m-3.meta",
                     "m-3.safetensors"]
    assert saver.last_checkpoints == paths[2:]
    text = (tmp_path / "checkpoint").read_text().splitlines()
    assert text[:3] == [f'model_checkpoint_path: "{paths[3]}"',
                        f'all_model_checkpoint_paths: "{paths[2]}"',
                        f'all_model_checkpoint_paths: "{paths[3]}"']
    assert tf.train.latest_checkpoint(str(tmp_path)) == paths[3]
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert state.all_model_checkpoint_paths == paths[2:]
    assert len(state.all_model_checkpoint_timestamps) == 2
    assert tf.train.checkpoint_exists(paths[3]) and not tf.train.checkpoint_exists(paths[0])
    assert v.name == "v:0"


def test_keep_checkpoint_every_n_hours_keeps_old_ones(tmp_path, monkeypatch):
    tf.Variable(1.0, name="v")
    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    saver = tf.train.Saver(max_to_keep=1, keep_checkpoint_every_n_hours=1)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for step in range(4):  # saved at 0, 40, 80, 120 minutes after the saver was made
            clock[0] = 1000.0 + step * 2400
            saver.save(sess, str(tmp_path / "m"), global_step=step)
    # max_to_keep=1 drops m-0 and m-1 (saved within the first hour); m-2, saved past the
    # hour, is kept when m-3 pushes it out of the window
    kept = sorted(f for f in os.listdir(tmp_path) if f.endswith(".safetensors"))
    assert kept == ["m-2.safetensors", "m-3.safetensors"]


def test_relative_paths_and_pad_step_number(tmp_path):
    tf.Variable(1.0, name="v")
    saver = tf.train.Saver(save_relative_paths=True, pad_step_number=True)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        prefix = saver.save(sess, str(tmp_path / "m"), global_step=7)
    assert prefix == str(tmp_path / "m-00000007")
    assert (tmp_path / "checkpoint").read_text().splitlines()[0] == \
        'model_checkpoint_path: "m-00000007"'
    assert tf.train.latest_checkpoint(str(tmp_path)) == prefix  # made absolute on reading


def test_var_list_dict_renames_and_subsets(tmp_path):
    a = tf.Variable(np.arange(3, dtype=np.float32), name="a")
    b = tf.Variable(np.ones(2, np.float32), name="b")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        prefix = tf.train.Saver({"encoder/w": a}).save(sess, str(tmp_path / "m"))
        assert tf.train.list_variables(prefix) == [("encoder/w", [3])]
        np.testing.assert_array_equal(tf.train.load_variable(str(tmp_path), "encoder/w"),
                                      [0, 1, 2])
        b.load(np.zeros(2, np.float32), sess)
        a.load(np.full(3, 9, np.float32), sess)
        tf.train.Saver({"encoder/w": a}).restore(sess, prefix)  # only a changes
        np.testing.assert_array_equal(sess.run(a), [0, 1, 2])
        np.testing.assert_array_equal(sess.run(b), [0, 0])


def test_duplicate_names_and_empty_var_lists():
    a = tf.Variable(1.0, name="a")
    with pytest.raises(ValueError, match="At least two variables have the same name: a"):
        tf.train.Saver([a, a])
    with pytest.raises(ValueError, match="No variables to save"):
        tf.train.Saver([])
    assert tf.train.Saver([], allow_empty=True).last_checkpoints == []


def _saved_pair(tmp_path):
    """A checkpoint of a (3,) float32 'w' and a scalar 'n'; the session's values differ."""
    w = tf.Variable(np.arange(3, dtype=np.float32), name="w")
    n = tf.Variable(5, name="n")
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    prefix = tf.train.Saver().save(sess, str(tmp_path / "m"))
    w.load(np.full(3, -1, np.float32), sess)
    n.load(-1, sess)
    return sess, w, n, prefix


def _unchanged(sess, w, n):
    np.testing.assert_array_equal(sess.run(w), [-1, -1, -1])
    assert sess.run(n) == -1


def test_truncated_file_is_a_clear_error_and_changes_nothing(tmp_path):
    sess, w, n, prefix = _saved_pair(tmp_path)
    path = prefix + ".safetensors"
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[:-5])
    with pytest.raises(tf.errors.DataLossError, match=r"m.safetensors is truncated: "
                       r"variable '\w' ends at byte"):
        tf.train.Saver().restore(sess, prefix)
    _unchanged(sess, w, n)


def test_corrupted_bytes_name_the_variable(tmp_path):
    sess, w, n, prefix = _saved_pair(tmp_path)
    path = prefix + ".safetensors"
    data = bytearray(open(path, "rb").read())
    f = TensorFile(path)
    begin = f._data_start + f._header["w"]["data_offsets"][0]
    data[begin + 1] ^= 0x40
    open(path, "wb").write(bytes(data))
    with pytest.raises(tf.errors.DataLossError, match="the bytes of variable 'w' fail their "
                       "checksum"):
        tf.train.Saver().restore(sess, prefix)
    _unchanged(sess, w, n)


def test_a_file_truncated_after_it_was_opened_is_a_clear_error(tmp_path):
    # (a mapped file read past its new end would have ended the process with SIGBUS)
    path = str(tmp_path / "big.safetensors")
    write_tensors(path, {"a": np.arange(70_000, dtype=np.float32),
                         "b": np.arange(70_000, dtype=np.float32)})
    f = TensorFile(path)
    np.testing.assert_array_equal(f.get("a"), np.arange(70_000, dtype=np.float32))
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) - 4 * 50_000)
    with pytest.raises(tf.errors.DataLossError, match=r"big.safetensors is truncated: "
                       r"280000 bytes at offset \d+ expected, \d+ there"):
        f.get("b")


def test_garbage_header(tmp_path):
    path = tmp_path / "g.safetensors"
    path.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{abcd")
    with pytest.raises(tf.errors.DataLossError, match="its header is not valid JSON"):
        TensorFile(str(path))
    path.write_bytes(b"\x01\x02")
    with pytest.raises(tf.errors.DataLossError, match="truncated .2 bytes.: not a "
                       "safetensors file"):
        TensorFile(str(path))


def test_shape_dtype_and_missing_names_listed_at_once(tmp_path):
    write_tensors(str(tmp_path / "m.safetensors"),
                  {"w": np.zeros(4, np.float32), "n": np.zeros((), np.float64)})
    w = tf.Variable(np.arange(3, dtype=np.float32), name="w")
    n = tf.Variable(5, name="n")
    tf.Variable(1.0, name="extra")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(tf.errors.NotFoundError) as err:
            tf.train.Saver().restore(sess, str(tmp_path / "m"))
        message = str(err.value)
        assert "no variable was changed" in message
        assert "Key(s) not found in checkpoint: extra" in message
        assert "'n' is float64 in the checkpoint, the variable int32" in message
        assert "'w' has shape [4] in the checkpoint, the variable [3]" in message
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"'w' has shape \[4\]"):
            tf.train.Saver([w, n]).restore(sess, str(tmp_path / "m"))
        np.testing.assert_array_equal(sess.run(w), [0, 1, 2])


def test_restore_errors_for_bad_paths(tmp_path):
    tf.Variable(1.0, name="v")
    saver = tf.train.Saver()
    with tf.Session() as sess:
        with pytest.raises(ValueError, match="Can't load save_path when it is None"):
            saver.restore(sess, None)
        with pytest.raises(ValueError, match="not a valid checkpoint: .*nothing"):
            saver.restore(sess, str(tmp_path / "nothing"))
        with pytest.raises(ValueError, match="Parent directory of .* doesn't exist"):
            saver.save(sess, str(tmp_path / "no" / "m"))
        with pytest.raises(tf.errors.FailedPreconditionError, match="uninitialized|initial"):
            saver.save(sess, str(tmp_path / "m"))
    assert not os.listdir(tmp_path)  # nothing half-written


def test_unexpected_names_warn_when_restoring_everything(tmp_path):
    write_tensors(str(tmp_path / "m.safetensors"),
                  {"v": np.ones((), np.float32), "v/Adam": np.ones((), np.float32)})
    v = tf.Variable(0.0, name="v")
    with tf.Session() as sess:
        with pytest.warns(UserWarning, match="1 name.s. no variable of the graph has, left "
                          "unused: v/Adam"):
            tf.train.Saver().restore(sess, str(tmp_path / "m"))
        assert sess.run(v) == 1.0


def test_load_checkpoint_reader_and_state_helpers(tmp_path):
    write_tensors(str(tmp_path / "m.safetensors"),
                  {"a/b": np.arange(6, dtype=np.int64).reshape(2, 3)})
    tf.train.update_checkpoint_state(str(tmp_path), str(tmp_path / "m"))
    reader = tf.train.load_checkpoint(str(tmp_path))
    assert reader.get_variable_to_shape_map() == {"a/b": [2, 3]}
    assert reader.get_variable_to_dtype_map() == {"a/b": tf.int64}
    assert reader.has_tensor("a/b") and not reader.has_tensor("a")
    with pytest.raises(tf.errors.NotFoundError, match="Key a/c not found in checkpoint .* "
                       "close names: a/b"):
        reader.get_tensor("a/c")
    os.mkdir(tmp_path / "sub")
    with pytest.raises(ValueError, match="Couldn't find 'checkpoint' file or checkpoints"):
        tf.train.load_checkpoint(str(tmp_path / "sub"))
    assert tf.train.get_checkpoint_state(str(tmp_path / "sub")) is None
    assert tf.train.latest_checkpoint(str(tmp_path / "sub")) is None


def test_state_file_escapes_round_trip(tmp_path):
    from graphc.saving.state import CheckpointState, read_state, write_state
    odd = str(tmp_path / 'we"ird\\näme')
    write_state(str(tmp_path), CheckpointState(odd, [odd], [1.5], 0.25))
    state = read_state(str(tmp_path))
    assert state.model_checkpoint_path == odd and state.all_model_checkpoint_paths == [odd]
    assert state.all_model_checkpoint_timestamps == [1.5]
    assert state.last_preserved_timestamp == 0.25
    (tmp_path / "checkpoint").write_text("model_checkpoint_path: unquoted\n")
    with pytest.raises(tf.errors.DataLossError, match="line 1: bad value for "
                       "model_checkpoint_path"):
        read_state(str(tmp_path))


def test_init_from_checkpoint_by_name_scope_and_object(tmp_path):
    write_tensors(str(tmp_path / "m.safetensors"),
                  {"old/w": np.full((2, 2), 3, np.float32), "old/b": np.ones(2, np.float32),
                   "x": np.arange(3, dtype=np.float32)})
    with tf.variable_scope("new"):
        w = tf.get_variable("w", [2, 2])
        b = tf.get_variable("b", [2], initializer=tf.zeros_initializer())
    y = tf.Variable(np.zeros(3, np.float32), name="y")
    z = tf.Variable(np.zeros(3, np.float32), name="z")
    tf.train.init_from_checkpoint(str(tmp_path / "m"), {"old/": "new/", "x": "y"})
    tf.train.init_from_checkpoint(str(tmp_path / "m"), {"x": z})
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(w), np.full((2, 2), 3))
        np.testing.assert_array_equal(sess.run(b), [1, 1])
        np.testing.assert_array_equal(sess.run(y), [0, 1, 2])
        np.testing.assert_array_equal(sess.run(z), [0, 1, 2])
    with pytest.raises(ValueError, match=r"shape of variable new/b \(\[2\]\) doesn't match "
                       r"with shape of tensor x \(\[3\]\)"):
        tf.train.init_from_checkpoint(str(tmp_path / "m"), {"x": "new/b"})
    with pytest.raises(ValueError, match="Tensor old/new/b .for variable new/b. is not found"):
        tf.train.init_from_checkpoint(str(tmp_path / "m"), {"old/": "/"})


def test_saving_a_large_variable_streams_through_the_file(tmp_path):
    v = tf.Variable(np.arange(3_000_000, dtype=np.float32), name="big")
    saver = tf.train.Saver()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        prefix = saver.save(sess, str(tmp_path / "m"))
        assert os.path.getsize(prefix + ".safetensors") > 12_000_000
        v.load(np.zeros(3_000_000, np.float32), sess)
        saver.restore(sess, prefix)
        got = sess.run(v)
    np.testing.assert_array_equal(got, np.arange(3_000_000, dtype=np.float32))


DATA = os.path.join(os.path.dirname(__file__), "data")


def test_tensorflow_written_checkpoints_restore_by_name():
    """Checkpoints TensorFlow 1 wrote (tests/saving/data) restore into graphc variables of
    the same names, partitioned ones whole."""
    want = {"embedding": np.arange(40, dtype=np.float32).reshape(10, 4) * 0.25 - 5,
            "proj/w": np.arange(12, dtype=np.float64).reshape(2, 6) / 7 + 1,
            "other": np.array([1.5, -2.5], dtype=np.float32),
            "dense/kernel": np.arange(12, dtype=np.float32).reshape(4, 3) * 0.5 - 3,
            "global_step": np.int64(42)}
    made = {}
    with tf.variable_scope("proj"):
        made["proj/w"] = tf.get_variable("w", [2, 6], dtype=tf.float64)
    made["embedding"] = tf.get_variable("embedding", [10, 4])
    made["other"] = tf.Variable(np.zeros(2, np.float32), name="other")
    with tf.variable_scope("dense"):
        made["dense/kernel"] = tf.get_variable("kernel", [4, 3])
    made["global_step"] = tf.Variable(0, dtype=tf.int64, name="global_step")
    first = [made[k] for k in ("proj/w", "embedding", "other")]
    second = [made[k] for k in ("dense/kernel", "global_step")]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        tf.train.Saver(first).restore(sess, os.path.join(DATA, "partitioned"))
        tf.train.Saver(second).restore(sess, os.path.join(DATA, "simple"))
        for name, var in made.items():
            np.testing.assert_array_equal(sess.run(var), want[name], err_msg=name)
    assert tf.train.latest_checkpoint(os.path.join(DATA, "with_step")) == \
        os.path.join(DATA, "with_step", "model.ckpt-7")


def test_tensorflow_checkpoint_with_a_wrong_shape_changes_nothing():
    w = tf.Variable(np.full(5, 7, np.float32), name="other")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"'other' has shape \[2\] in the checkpoint, the variable \[5\]"):
            tf.train.Saver([w]).restore(sess, os.path.join(DATA, "partitioned"))
        np.testing.assert_array_equal(sess.run(w), np.full(5, 7))


def test_files_checked_by_crc32_still_read(tmp_path):
    """A file whose metadata holds CRC-32s (this format's first checksums) is verified too."""
    import zlib

    from safetensors.numpy import save_file
    w = np.arange(6, dtype=np.float32)
    path = str(tmp_path / "old.safetensors")
    save_file({"w": w}, path, metadata={"format": "graphc-checkpoint-1",
                                        "crc32:w": str(zlib.crc32(w.tobytes()))})
    np.testing.assert_array_equal(TensorFile(path).get("w"), w)
    save_file({"w": w}, path, metadata={"format": "graphc-checkpoint-1", "crc32:w": "12345"})
    with pytest.raises(tf.errors.DataLossError, match="the bytes of variable 'w' fail their "
                       "checksum"):
        TensorFile(path).get("w")
