"""Reading checkpoints of either format by prefix: graphc's (`PREFIX.safetensors`) and
TensorFlow 1's V2 bundle (`PREFIX.index` + `PREFIX.data-*`), and TF1's helpers over them:
tf.train.latest_checkpoint, get_checkpoint_state, checkpoint_exists, list_variables,
load_variable, load_checkpoint (NewCheckpointReader)."""

from __future__ import annotations

import os

import numpy as np

from graphc.errors import NotFoundError
from graphc.saving.format import SUFFIX, TensorFile
from graphc.saving.state import read_state


def checkpoint_exists(prefix: str) -> bool:
    """Whether a checkpoint of either format (or a TF1 V1 file) is at `prefix`."""
    prefix = _strip(os.fspath(prefix))
    return any(os.path.isfile(prefix + s) for s in (SUFFIX, ".index")) or \
        os.path.isfile(prefix)


def get_checkpoint_state(checkpoint_dir, latest_filename=None):
    """The CheckpointState of the directory's `checkpoint` file, or None."""
    return read_state(os.fspath(checkpoint_dir), latest_filename)


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The prefix of the newest checkpoint the state file names, if it exists; else None."""
    state = read_state(os.fspath(checkpoint_dir), latest_filename)
    if state and state.model_checkpoint_path and \
            checkpoint_exists(state.model_checkpoint_path):
        return state.model_checkpoint_path
    return None


def resolve(ckpt_dir_or_file) -> str:
    """A checkpoint prefix from a directory (its latest checkpoint), a prefix, or the path of
    a checkpoint's own file (`.safetensors`, `.index`)."""
    path = os.fspath(ckpt_dir_or_file)
    if os.path.isdir(path):
        prefix = latest_checkpoint(path)
        if prefix is None:
            raise ValueError(f"Couldn't find 'checkpoint' file or checkpoints in given "
                             f"directory {path}")
        return prefix
    return _strip(path)


def _strip(path: str) -> str:
    for suffix in (SUFFIX, ".index"):
        if path.endswith(suffix) and os.path.isfile(path):
            return path[:-len(suffix)]
    return path


class CheckpointReader:
    """The tensors of one checkpoint, either format (TF1's NewCheckpointReader)."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        if os.path.isfile(prefix + SUFFIX):
            self._file, self._tf = TensorFile(prefix + SUFFIX), None
        elif os.path.isfile(prefix + ".index"):
            from graphc.saving import tf_bundle
            self._file, self._tf = None, tf_bundle.TFCheckpointReader(prefix)
        else:
            raise NotFoundError(f"Unsuccessful checkpoint lookup: failed to find any matching "
                                f"files for {prefix} (looked for {prefix}{SUFFIX} and "
                                f"{prefix}.index)")
        self.format = "graphc" if self._file else "tensorflow"

    def _shapes(self) -> dict:
        if self._file:
            return {n: (self._file.dtype(n), self._file.shape(n)) for n in self._file.names()}
        return dict(self._tf.variable_map())

    def get_variable_to_shape_map(self) -> dict:
        return {n: list(shape) for n, (_, shape) in self._shapes().items()}

    def get_variable_to_dtype_map(self) -> dict:
        from graphc.ir import dtypes
        return {n: _as_dtype(dtypes, dt) for n, (dt, _) in self._shapes().items()}

    def has_tensor(self, name: str) -> bool:
        return self._file.has(name) if self._file else self._tf.has_tensor(name)

    def get_tensor(self, name: str) -> np.ndarray:
        return self._file.get(name) if self._file else self._tf.get_tensor(name)

    def entries(self) -> dict:
        """name -> (numpy dtype, shape)."""
        return self._shapes()


def _as_dtype(dtypes, np_dtype):
    try:
        return dtypes.as_dtype(np_dtype)
    except (TypeError, ValueError, KeyError):
        return np.dtype(np_dtype)  # a dtype graphc has no tensors of (uint16, ...)


def load_checkpoint(ckpt_dir_or_file) -> CheckpointReader:
    return CheckpointReader(resolve(ckpt_dir_or_file))


def list_variables(ckpt_dir_or_file) -> list:
    """[(name, shape as a list)], sorted by name."""
    reader = load_checkpoint(ckpt_dir_or_file)
    return sorted(reader.get_variable_to_shape_map().items())


def load_variable(ckpt_dir_or_file, name: str) -> np.ndarray:
    if name.endswith(":0"):
        name = name[:-2]
    return load_checkpoint(ckpt_dir_or_file).get_tensor(name)
