"""Write the TensorFlow 1 checkpoints that tests/saving/test_tf_bundle.py reads.

Generated with TensorFlow 2.21.0 (tensorflow-cpu wheel, Python 3.11) through `tf.compat.v1`
in graph mode and `tf.compat.v1.train.Saver`, which writes the V2 "tensor bundle" format
(PREFIX.index + PREFIX.data-NNNNN-of-NNNNN). The tests never run this script: they import
its `*_values()` formulas (this file imports TensorFlow only inside `main`) and compare what
graphc reads with them exactly.

Run it, with TensorFlow installed, from anywhere:

    python tests/saving/data/make_tf1_checkpoints.py [OUTPUT_DIR]

OUTPUT_DIR defaults to this script's folder. It writes:

- `simple.*`: one variable per dtype graphc reads (float32, float64, float16, int8, int16,
  int32, int64, uint8, uint16, uint32, uint64, bool, complex64, complex128), a scalar,
  scoped names and an int64 `global_step`.
- `partitioned.*`: `embedding` split by `fixed_size_partitioner(3)` along axis 0 and `proj/w`
  split along axis 1 (TF stores a full-tensor entry listing the slices, plus one entry per
  slice under an OrderedCode key), beside an ordinary variable.
- `sharded.*`: `Saver(sharded=True)` over variables on two CPU devices, so the index names
  two data files (`.data-00000-of-00002` and `.data-00001-of-00002`).
- `unsupported.*`: a string variable `vocab` and a bfloat16 variable `bf16`.
- `with_step/model.ckpt-7.*` and `with_step/checkpoint`: a save with `global_step=7` and the
  text-format CheckpointState file TF writes beside it (relative paths).
- `object_based/ckpt-1.*`: `tf.compat.v1.train.Checkpoint(model=[w, b], scalar=s).save`, an
  object-based checkpoint (keys such as `model/0/.ATTRIBUTES/VARIABLE_VALUE`, plus TF's
  string-valued `_CHECKPOINTABLE_OBJECT_GRAPH`).

No meta graphs are written (write_meta_graph=False), to keep the files small.
"""

import os
import sys

import numpy as np


def simple_values() -> dict:
    """name -> value of every variable in `simple` (dtype and shape are the array's)."""
    return {
        "dense/kernel": np.arange(12, dtype=np.float32).reshape(4, 3) * 0.5 - 3,
        "dense/bias": np.arange(3, dtype=np.float32) * 0.25 + 1,
        "layer_1/conv/weights": np.arange(12, dtype=np.float32).reshape(2, 2, 1, 3) / 8 - 0.75,
        "doubles": np.arange(5, dtype=np.float64) / 3,
        "halves": (np.arange(6).reshape(2, 3) * 0.125 - 0.25).astype(np.float16),
        "counts": (np.arange(6).reshape(3, 2) * -7 + 5).astype(np.int32),
        "big_ints": np.arange(4, dtype=np.int64) * 2**40 - 3,
        "pixels": (np.arange(4) * 60 + 10).astype(np.uint8),
        "small/int8": (np.arange(4) * -40 + 60).astype(np.int8),
        "small/int16": (np.arange(4) * -3000 + 4000).astype(np.int16),
        "small/uint16": (np.arange(4) * 20000 + 5).astype(np.uint16),
        "small/uint32": (np.arange(3) * 2**30 + 9).astype(np.uint32),
        "small/uint64": np.arange(3, dtype=np.uint64) * 2**62 + 1,
        "phases": (np.arange(3) + 1j * (np.arange(3) - 1)).astype(np.complex64),
        "phases64": (np.arange(2) * 0.5 - 2j).astype(np.complex128),
        "mask": np.arange(6).reshape(2, 3) % 3 == 0,
        "scalar": np.float32(3.5),
        "global_step": np.int64(42),
    }


def partitioned_values() -> dict:
    return {
        "embedding": np.arange(40, dtype=np.float32).reshape(10, 4) * 0.25 - 5,
        "proj/w": np.arange(12, dtype=np.float64).reshape(2, 6) / 7 + 1,
        "other": np.array([1.5, -2.5], dtype=np.float32),
    }


def sharded_values() -> dict:
    return {
        "a/w": np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5,
        "b/w": np.arange(4, dtype=np.int32) * 11 - 7,
    }


def unsupported_values() -> dict:
    """Variables of dtypes graphc does not read (their tests expect a clear error)."""
    return {"vocab": np.array([b"a", b"bc"]), "bf16": np.arange(3, dtype=np.float32)}


def object_based_values() -> dict:
    """Attribute path -> value of `object_based` (tf.train.Checkpoint(model=[w, b], scalar=s))."""
    return {"model/0": np.arange(4, dtype=np.float32).reshape(2, 2),
            "model/1": np.array([1.5, -2.0], np.float32),
            "scalar": np.int64(7)}


def stepped_values() -> dict:
    return {"w": np.arange(3, dtype=np.float32) + 0.5}


def _variables(tf, values: dict) -> None:
    for name, value in values.items():
        tf.compat.v1.Variable(value, name=name)


def _sliced_initializer(full: np.ndarray):
    """An initializer giving each partition its own part of `full` (get_variable calls it once
    per partition, with the partition's offset in `partition_info`)."""
    def init(shape, dtype=None, partition_info=None):
        offset = partition_info.var_offset if partition_info else [0] * full.ndim
        index = tuple(slice(o, o + n) for o, n in zip(offset, shape))
        return full[index]
    return init


def _save(tf, prefix: str, build, sharded=False, **save_args) -> None:
    config = tf.compat.v1.ConfigProto(device_count={"CPU": 2})
    with tf.Graph().as_default():
        build()
        saver = tf.compat.v1.train.Saver(sharded=sharded, save_relative_paths=True)
        with tf.compat.v1.Session(config=config) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, prefix, write_meta_graph=False, **save_args)


def main(out_dir: str) -> None:
    import tensorflow as tf

    tf.compat.v1.disable_v2_behavior()
    _save(tf, os.path.join(out_dir, "simple"), lambda: _variables(tf, simple_values()),
          write_state=False)

    def build_partitioned():
        values = partitioned_values()
        for name, axis in (("embedding", 0), ("proj/w", 1)):
            full = values[name]
            tf.compat.v1.get_variable(
                name, shape=full.shape, dtype=tf.as_dtype(full.dtype),
                initializer=_sliced_initializer(full),
                partitioner=tf.compat.v1.fixed_size_partitioner(3, axis=axis))
        tf.compat.v1.Variable(values["other"], name="other")

    _save(tf, os.path.join(out_dir, "partitioned"), build_partitioned, write_state=False)

    def build_sharded():
        for i, (name, value) in enumerate(sharded_values().items()):
            with tf.device(f"/cpu:{i}"):
                tf.compat.v1.Variable(value, name=name)

    _save(tf, os.path.join(out_dir, "sharded"), build_sharded, sharded=True,
          write_state=False)

    def build_unsupported():
        values = unsupported_values()
        tf.compat.v1.Variable(values["vocab"], name="vocab")
        tf.compat.v1.Variable(tf.cast(values["bf16"], tf.bfloat16), name="bf16")

    _save(tf, os.path.join(out_dir, "unsupported"), build_unsupported, write_state=False)

    os.makedirs(os.path.join(out_dir, "with_step"), exist_ok=True)
    _save(tf, os.path.join(out_dir, "with_step", "model.ckpt"),
          lambda: _variables(tf, stepped_values()), global_step=7)
    with tf.Graph().as_default():
        values = object_based_values()
        ckpt = tf.compat.v1.train.Checkpoint(
            model=[tf.compat.v1.Variable(values["model/0"], name="w"),
                   tf.compat.v1.Variable(values["model/1"], name="b")],
            scalar=tf.compat.v1.Variable(values["scalar"]))
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            ckpt.save(os.path.join(out_dir, "object_based", "ckpt"), session=sess)
    print("TensorFlow", tf.__version__, "wrote checkpoints under", out_dir)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
