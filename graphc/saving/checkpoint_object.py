"""tf.train.Checkpoint and tf.train.CheckpointManager in graph mode (TF 1.15's object-based
checkpoints): variables are saved under the path of attributes that reaches them, not
under their graph names, so a model built in another scope or graph restores.

    ckpt = tf.train.Checkpoint(model=[w, b], optimizer=opt, step=step)
    path = ckpt.save(prefix, session=sess)          # prefix-1, prefix-2, ...
    ckpt.restore(path).run_restore_ops(sess)

Keys follow TF's object-graph naming: `model/0/.ATTRIBUTES/VARIABLE_VALUE` for a variable
reached through attribute `model`, item 0; an optimizer's slot of that variable is
`model/0/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE`, its other variables
`optimizer/beta1_power/.ATTRIBUTES/VARIABLE_VALUE`; `save_counter` counts saves. Objects
that can be attached: Variables, optimizers, Checkpoints, and lists, tuples and dicts of
them; anything with a `variables` attribute (a layer) contributes those, by their index.
The files are graphc checkpoints (graphc/saving/format.py); TensorFlow's own object-based
checkpoints restore too where the attribute paths agree.
"""

from __future__ import annotations

import os

from graphc.errors import NotFoundError
from graphc.saving.reader import CheckpointReader, checkpoint_exists, latest_checkpoint
from graphc.saving.saver import Saver

_VALUE = ".ATTRIBUTES/VARIABLE_VALUE"


def _paths(objects: dict) -> dict:
    """{key: Variable} of everything reachable from `objects` (attribute name -> object)."""
    from graphc.ops.variables import Variable
    from graphc.train.optimizer import Optimizer
    found: dict = {}
    optimizers: list = []

    def walk(obj, path: str) -> None:
        if isinstance(obj, Variable):
            found.setdefault(f"{path}/{_VALUE}", obj)
        elif isinstance(obj, Checkpoint):
            for name, child in obj._objects.items():
                walk(child, f"{path}/{name}")
        elif isinstance(obj, Optimizer):
            optimizers.append((obj, path))
            for name, var in sorted(obj._non_slot.items()):
                walk(var, f"{path}/{name}")
        elif isinstance(obj, dict):
            for key in sorted(obj, key=str):
                walk(obj[key], f"{path}/{key}")
        elif isinstance(obj, (list, tuple)):
            for i, child in enumerate(obj):
                walk(child, f"{path}/{i}")
        elif hasattr(obj, "variables"):
            walk(list(obj.variables), path)
        else:
            raise ValueError(f"Checkpoint: cannot track {obj!r} at '{path}': attach "
                             "Variables, optimizers, Checkpoints, or lists and dicts of them")
    for name, obj in objects.items():
        walk(obj, name)
    by_var = {id(v): k[:-len(_VALUE) - 1] for k, v in found.items()}
    for opt, opt_path in optimizers:  # slots go under their variable's path
        for slot, per_var in sorted(opt._slots.items()):
            for var, slot_var in per_var.items():
                if id(var) in by_var:
                    key = f"{by_var[id(var)]}/.OPTIMIZER_SLOT/{opt_path}/{slot}/{_VALUE}"
                    found.setdefault(key, slot_var)
    return found


class Checkpoint:
    """Groups objects to save and restore by attribute path (see the module docstring)."""

    def __init__(self, **kwargs):
        for name in kwargs:
            if name == "save_counter":
                raise ValueError("Checkpoint: 'save_counter' is reserved")
        self._objects = dict(kwargs)
        self._counter = None

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self._objects[name] = value

    def __getattr__(self, name):
        objects = self.__dict__.get("_objects", {})
        if name in objects:
            return objects[name]
        raise AttributeError(f"'Checkpoint' object has no attribute '{name}'")

    @property
    def save_counter(self):
        """An int64 variable counting saves (made on first use, as TF)."""
        if self._counter is None:
            from graphc.ir import dtypes
            from graphc.ops.variables import GraphKeys, Variable
            self._counter = Variable(0, dtype=dtypes.int64, trainable=False,
                                     name="save_counter",
                                     collections=[GraphKeys.LOCAL_VARIABLES])
        return self._counter

    def _variables(self) -> dict:
        found = _paths(self._objects)
        found[f"save_counter/{_VALUE}"] = self.save_counter
        return found

    def write(self, file_prefix, session=None) -> str:
        """Save to exactly `file_prefix` (no counter, no state file)."""
        session = _session(session)
        variables = self._variables()
        self._ensure_counter(session)
        return Saver(variables).save(session, os.fspath(file_prefix), write_meta_graph=False,
                                     write_state=False)

    def save(self, file_prefix, session=None) -> str:
        """Increment save_counter, save to `file_prefix-N` and record it in the directory's
        state file; returns the path."""
        session = _session(session)
        variables = self._variables()
        number = self._count_save(session)
        return Saver(variables, max_to_keep=None).save(
            session, f"{os.fspath(file_prefix)}-{number}", write_meta_graph=False)

    def _ensure_counter(self, session) -> None:
        store = session._state.variables
        if self.save_counter.handle.node not in store:
            self.save_counter.load(0, session)

    def _count_save(self, session) -> int:
        """save_counter + 1, stored in the session: this save's number."""
        self._ensure_counter(session)
        number = int(session.run(self.save_counter)) + 1
        self.save_counter.load(number, session)
        return number

    def restore(self, save_path) -> "LoadStatus":
        """A status whose run_restore_ops(session) / initialize_or_restore(session) do the
        restore; `save_path` None restores nothing (initialize_or_restore initializes)."""
        return LoadStatus(self, None if save_path is None else os.fspath(save_path))


class LoadStatus:
    """What Checkpoint.restore returns (TF1 graph mode): nothing happens until a session
    runs it; the assert_* methods compare the checkpoint with the objects."""

    def __init__(self, checkpoint: Checkpoint, path):
        self._checkpoint, self._path = checkpoint, path
        if path is not None and not checkpoint_exists(path):
            raise NotFoundError(f"Checkpoint.restore: no checkpoint at {path}")
        self._keys = set(CheckpointReader(path).entries()) if path is not None else set()

    def _matched(self) -> tuple:
        variables = self._checkpoint._variables()
        present = {k: v for k, v in variables.items() if k in self._keys}
        return variables, present

    def run_restore_ops(self, session=None) -> None:
        """Restore every variable the checkpoint holds a value for (checked first)."""
        session = _session(session)
        _, present = self._matched()
        if self._path is not None and present:
            Saver(present).restore(session, self._path)

    def initialize_or_restore(self, session=None) -> None:
        """Restore what the checkpoint holds; run the initializers of the rest."""
        session = _session(session)
        variables, present = self._matched()
        rest = [v for k, v in variables.items() if k not in present]
        if rest:
            session.run([v.initializer for v in rest])
        self.run_restore_ops(session)

    def assert_consumed(self) -> "LoadStatus":
        """Every value of the checkpoint matched an object, and every object a value."""
        variables, present = self._matched()
        unused = sorted(self._keys - set(variables) - {"_CHECKPOINTABLE_OBJECT_GRAPH"})
        missing = sorted(set(variables) - set(present))
        if unused or missing:
            raise AssertionError(f"Checkpoint {self._path} does not match the objects: "
                                 f"unmatched values {unused[:10]}, objects without values "
                                 f"{missing[:10]}")
        return self

    def assert_existing_objects_matched(self) -> "LoadStatus":
        """Every object has a value in the checkpoint (extra values are fine)."""
        variables, present = self._matched()
        missing = sorted(set(variables) - set(present) - {f"save_counter/{_VALUE}"})
        if missing:
            raise AssertionError(f"Checkpoint {self._path} has no values for "
                                 f"{missing[:10]}")
        return self

    def expect_partial(self) -> "LoadStatus":
        return self


def _session(session):
    from graphc.framework.sessions import get_default_session
    session = session or get_default_session()
    if session is None:
        raise ValueError("In graph mode a session is needed: pass session= or run under "
                         "`with sess.as_default():`")
    return session


class CheckpointManager:
    """Numbered saves of one Checkpoint in `directory`, keeping the newest `max_to_keep`
    (and one per keep_checkpoint_every_n_hours); picks up the checkpoints the directory's
    state file lists."""

    def __init__(self, checkpoint: Checkpoint, directory, max_to_keep,
                 keep_checkpoint_every_n_hours=None, checkpoint_name="ckpt"):
        if max_to_keep is not None and max_to_keep <= 0:
            raise ValueError(f"max_to_keep must be positive or None, got {max_to_keep}")
        self._checkpoint = checkpoint
        self._directory = os.fspath(directory)
        self._prefix = os.path.join(self._directory, checkpoint_name)
        self._max_to_keep = max_to_keep
        self._hours = keep_checkpoint_every_n_hours or 10000.0
        self._recovered = self._existing()

    def _existing(self) -> list:
        from graphc.saving.state import read_state
        state = read_state(self._directory)
        return [p for p in (state.all_model_checkpoint_paths if state else [])
                if checkpoint_exists(p)]

    @property
    def directory(self) -> str:
        return self._directory

    @property
    def checkpoints(self) -> list:
        return self._existing()

    @property
    def latest_checkpoint(self):
        return latest_checkpoint(self._directory)

    def save(self, checkpoint_number=None, session=None) -> str:
        session = _session(session)
        ckpt = self._checkpoint
        variables = ckpt._variables()
        number = ckpt._count_save(session)
        os.makedirs(self._directory, exist_ok=True)
        saver = Saver(variables, max_to_keep=self._max_to_keep,
                      keep_checkpoint_every_n_hours=self._hours)
        saver.recover_last_checkpoints(self._existing())
        if checkpoint_number is None:
            step = number
        elif isinstance(checkpoint_number, int):
            step = checkpoint_number
        else:  # a variable or tensor (the global step)
            step = int(session.run(checkpoint_number))
        return saver.save(session, self._prefix, global_step=step, write_meta_graph=False)
