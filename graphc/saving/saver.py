"""tf.train.Saver: save a session's variables to a checkpoint and restore them.

A save fetches every variable in one run and writes `PREFIX.safetensors` atomically
(graphc/saving/format.py), then the directory's `checkpoint` state file. A restore reads a
checkpoint of either format (graphc's, or TensorFlow 1's V2 bundle) and changes nothing
until every name, shape, dtype and checksum has been checked: a failed restore leaves every
variable as it was.
"""

from __future__ import annotations

import numbers
import os
import time
import warnings

import numpy as np

from graphc.errors import InvalidArgumentError, NotFoundError
from graphc.saving.format import checkpoint_file, write_tensors
from graphc.saving.graph_io import GraphFormatError, decode_graph
from graphc.saving.meta_graph import MetaGraph, export_meta_graph, read_meta_graph
from graphc.saving.reader import CheckpointReader, checkpoint_exists
from graphc.saving.state import CheckpointState, write_state

_SHOWN = 10  # names listed in one error message


class Saver:
    """Saves and restores variables (TF1's tf.train.Saver; the graphc format is
    safetensors). `var_list`: None (all global variables), a list of variables (saved under
    their names) or a dict {checkpoint name: variable}."""

    def __init__(self, var_list=None, reshape=False, sharded=False, max_to_keep=5,
                 keep_checkpoint_every_n_hours=10000.0, name=None, restore_sequentially=False,
                 saver_def=None, builder=None, defer_build=False, allow_empty=False,
                 write_version=None, pad_step_number=False, save_relative_paths=False,
                 filename=None):
        self._all = var_list is None
        self._vars = _by_name(var_list)
        if not self._vars and not allow_empty:
            raise ValueError("No variables to save")
        self._max_to_keep = max_to_keep
        self._keep_hours = float(keep_checkpoint_every_n_hours)
        self._next_keep = time.time() + self._keep_hours * 3600
        self._last: list = []  # [(prefix, time saved)], oldest first
        self._pad = pad_step_number
        self._relative = save_relative_paths
        self._filename = filename

    # --- saving -------------------------------------------------------------------------------
    def save(self, sess, save_path, global_step=None, latest_filename=None,
             meta_graph_suffix="meta", write_meta_graph=True, write_state=True,
             strip_default_attrs=False, save_debug_info=False):
        """Write the variables' values in `sess` to a checkpoint; return its prefix
        (`save_path-STEP` when global_step is given)."""
        save_path = os.fspath(save_path)
        if global_step is not None:
            if not isinstance(global_step, numbers.Integral):
                global_step = int(sess.run(global_step))
            step = f"{global_step:08d}" if self._pad else str(global_step)
            prefix = f"{save_path}-{step}"
        else:
            prefix = save_path
        directory = os.path.dirname(os.path.abspath(prefix))
        if not os.path.isdir(directory):
            raise ValueError(f"Parent directory of {save_path} doesn't exist, can't save.")
        names = sorted(self._vars)
        write_tensors(checkpoint_file(prefix), _values(sess, {n: self._vars[n] for n in names}))
        if write_meta_graph:
            _write_meta_graph(sess.graph, f"{prefix}.{meta_graph_suffix}")
        if write_state:
            self._remember(os.path.abspath(prefix) if not os.path.isabs(prefix) else prefix)
            self._write_state(directory, latest_filename)
        return prefix

    def _remember(self, prefix: str) -> None:
        """Add `prefix` as the newest checkpoint; delete the oldest beyond max_to_keep
        unless keep_checkpoint_every_n_hours keeps it (TF1's rule)."""
        self._last = [(p, t) for p, t in self._last if p != prefix]
        self._last.append((prefix, time.time()))
        if not self._max_to_keep:
            return
        while len(self._last) > self._max_to_keep:
            old, saved = self._last.pop(0)
            if saved > self._next_keep:
                self._next_keep += self._keep_hours * 3600
                continue
            for path in (checkpoint_file(old), old + ".meta"):  # what save wrote
                if os.path.isfile(path):
                    os.unlink(path)

    def _write_state(self, directory: str, latest_filename) -> None:
        state = CheckpointState(
            model_checkpoint_path=self._last[-1][0],
            all_model_checkpoint_paths=[p for p, _ in self._last],
            all_model_checkpoint_timestamps=[t for _, t in self._last],
            last_preserved_timestamp=self._next_keep - self._keep_hours * 3600)
        write_state(directory, state, latest_filename, relative=self._relative)

    @property
    def last_checkpoints(self) -> list:
        """The prefixes of the checkpoints this saver keeps, oldest first."""
        return [p for p, _ in self._last]

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time) -> None:
        self._last = [(os.fspath(p), float(t)) for p, t in last_checkpoints_with_time]

    def recover_last_checkpoints(self, checkpoint_paths) -> None:
        """Adopt existing checkpoints (those that exist), e.g. from a previous run's
        get_checkpoint_state().all_model_checkpoint_paths, so max_to_keep counts them."""
        now = time.time()
        self._last = [(os.fspath(p), now) for p in checkpoint_paths if checkpoint_exists(p)]

    # --- restoring ----------------------------------------------------------------------------
    def restore(self, sess, save_path) -> None:
        """Set the variables in `sess` from the checkpoint at `save_path` (either format).
        Every name, shape, dtype and checksum is checked before any variable changes."""
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        save_path = os.fspath(save_path)
        if not checkpoint_exists(save_path):
            raise ValueError(f"The passed save_path is not a valid checkpoint: {save_path}")
        reader = CheckpointReader(save_path)
        entries = reader.entries()
        _check_against(save_path, self._vars, entries)
        arrays = {name: reader.get_tensor(name) for name in self._vars}  # checksums first
        for name, var in self._vars.items():
            sess.load_variable(var, arrays[name])
        extra = sorted(set(entries) - set(self._vars))
        if self._all and extra:
            warnings.warn(f"checkpoint {save_path} holds {len(extra)} name(s) no variable of "
                          f"the graph has, left unused: {_some(extra)}", stacklevel=2)


def _write_meta_graph(graph, path: str) -> None:
    """The graph beside the checkpoint; a graph that cannot be written (an attribute graphc
    cannot store) costs a warning, not the checkpoint."""
    try:
        export_meta_graph(path, graph=graph)
    except GraphFormatError as err:
        warnings.warn(f"Saver.save: the checkpoint was written, its meta graph {path} was "
                      f"not: {err}", stacklevel=3)


def _values(sess, variables: dict) -> dict:
    """{checkpoint name: current value}, read from the session's variable store without
    copies; an uninitialized variable goes through a run, which raises TF1's error naming
    it."""
    store = sess._state.variables
    try:
        return {name: store[v.handle.node] for name, v in variables.items()}
    except KeyError:
        values = sess.run([v.value() for v in variables.values()])
        return dict(zip(variables, values))


def _check_against(prefix: str, variables: dict, entries: dict) -> None:
    """Raise one error listing every name missing from the checkpoint and every shape or
    dtype that differs (NotFoundError when names are missing, else InvalidArgumentError)."""
    missing = sorted(n for n in variables if n not in entries)
    wrong = []
    for name, var in sorted(variables.items()):
        if name not in entries:
            continue
        dtype, shape = entries[name]
        want_shape, want_dtype = tuple(var.shape.as_list()), var.dtype.np
        if tuple(shape) != want_shape:
            wrong.append(f"'{name}' has shape {list(shape)} in the checkpoint, the variable "
                         f"{list(want_shape)}")
        elif np.dtype(dtype) != want_dtype:
            wrong.append(f"'{name}' is {np.dtype(dtype).name} in the checkpoint, the variable "
                         f"{want_dtype.name}")
    if not missing and not wrong:
        return
    lines = [f"Restoring from checkpoint {prefix} failed; no variable was changed."]
    if missing:
        lines.append(f"Key(s) not found in checkpoint: {_some(missing)} (the checkpoint has "
                     f"{len(entries)} name(s): {_some(sorted(entries))})")
    lines += wrong
    raise (NotFoundError if missing else InvalidArgumentError)("\n".join(lines))


def _some(names: list) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f", ... ({len(names) - _SHOWN} more)" if len(names) > _SHOWN else "")


def _by_name(var_list) -> dict:
    """{checkpoint name: variable} from Saver's var_list."""
    from graphc.ops.variables import Variable, global_variables
    if var_list is None:
        var_list = global_variables()
    if isinstance(var_list, dict):
        items = list(var_list.items())
    else:
        items = [(_name_of(v), v) for v in var_list]
    out: dict = {}
    for name, var in items:
        if not isinstance(var, Variable):
            raise TypeError(f"Saver: var_list entries must be Variables, got {var!r} for "
                            f"'{name}'")
        if name in out:
            raise ValueError(f"At least two variables have the same name: {name}")
        out[name] = var
    return out


def _name_of(var) -> str:
    name = getattr(var, "op", None)
    if name is None:
        raise TypeError(f"Saver: var_list entries must be Variables, got {var!r}")
    return var.op.name


def import_meta_graph(meta_graph_or_file, clear_devices=False, import_scope=None, **kwargs):
    """Rebuild a graph written by export_meta_graph (or Saver.save) into the default graph;
    return a Saver over its global variables (None when it has none), as TF1."""
    from graphc.framework.graph import get_default_graph
    from graphc.ops.variables import GraphKeys
    if import_scope:
        raise NotImplementedError("import_meta_graph: import_scope is not supported; import "
                                  "into an empty graph")
    if isinstance(meta_graph_or_file, MetaGraph):
        doc, arrays = meta_graph_or_file.doc, meta_graph_or_file.arrays
    else:
        doc, arrays = read_meta_graph(os.fspath(meta_graph_or_file))
    graph = get_default_graph()
    decode_graph(doc, arrays, graph)
    variables = graph.get_collection(GraphKeys.GLOBAL_VARIABLES)
    return Saver(variables) if variables else None
