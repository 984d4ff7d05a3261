"""The `checkpoint` state file TF1 keeps beside its checkpoints, in protobuf text format:

    model_checkpoint_path: "model.ckpt-200"
    all_model_checkpoint_paths: "model.ckpt-100"
    all_model_checkpoint_paths: "model.ckpt-200"
    all_model_checkpoint_timestamps: 1764960000.5
    all_model_checkpoint_timestamps: 1764960100.25
    last_preserved_timestamp: 1764950000.0

graphc reads and writes the same file, so `tf.train.latest_checkpoint`, TensorBoard and
scripts that read it keep working. Parsing is by hand over this one flat message (data only:
strings are C-escaped byte strings, decoded as UTF-8); writing is atomic.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field

from graphc.errors import DataLossError

STATE_FILENAME = "checkpoint"
_LINE = re.compile(r"^\s*([A-Za-z_]\w*)\s*:\s*(.*?)\s*$")
_STRING_FIELDS = ("model_checkpoint_path", "all_model_checkpoint_paths")
_NUMBER_FIELDS = ("all_model_checkpoint_timestamps", "last_preserved_timestamp")


@dataclass
class CheckpointState:
    """TF1's CheckpointState message (the fields tf.train.get_checkpoint_state gives)."""
    model_checkpoint_path: str = ""
    all_model_checkpoint_paths: list = field(default_factory=list)
    all_model_checkpoint_timestamps: list = field(default_factory=list)
    last_preserved_timestamp: float = 0.0


def read_state(directory: str, filename: str | None = None) -> CheckpointState | None:
    """The state file of `directory`, relative paths made absolute (as TF1 does), or None
    when there is none. A malformed file is a DataLossError naming it and the line."""
    path = os.path.join(directory, filename or STATE_FILENAME)
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    state = CheckpointState()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise DataLossError(f"checkpoint state file {path}, line {number}: cannot parse "
                                f"{line.strip()!r}")
        key, value = match.groups()
        try:
            _set(state, key, value)
        except (ValueError, SyntaxError):
            raise DataLossError(f"checkpoint state file {path}, line {number}: bad value "
                                f"for {key}: {value!r}") from None
    state.model_checkpoint_path = _absolute(directory, state.model_checkpoint_path)
    state.all_model_checkpoint_paths = [_absolute(directory, p)
                                        for p in state.all_model_checkpoint_paths]
    return state


def _set(state: CheckpointState, key: str, value: str) -> None:
    if key in _STRING_FIELDS:
        if not (len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"):
            raise ValueError(value)
        text = ast.literal_eval("b" + value).decode("utf-8")  # C escapes, data only
        if key == "model_checkpoint_path":
            state.model_checkpoint_path = text
        else:
            state.all_model_checkpoint_paths.append(text)
    elif key == "all_model_checkpoint_timestamps":
        state.all_model_checkpoint_timestamps.append(float(value))
    elif key == "last_preserved_timestamp":
        state.last_preserved_timestamp = float(value)
    # other fields (none in TF1's message today) are ignored, as protobuf text readers may


def _absolute(directory: str, path: str) -> str:
    return path if not path or os.path.isabs(path) else os.path.join(directory, path)


def write_state(directory: str, state: CheckpointState, filename: str | None = None,
                relative: bool = False) -> None:
    """Write the state file atomically; with `relative`, paths inside `directory` are
    written relative to it (Saver's save_relative_paths)."""
    def shown(path: str) -> str:
        if relative and os.path.isabs(path) and \
                os.path.dirname(path) == os.path.abspath(directory):
            return os.path.basename(path)
        return path
    lines = [f"model_checkpoint_path: {_quote(shown(state.model_checkpoint_path))}"]
    lines += [f"all_model_checkpoint_paths: {_quote(shown(p))}"
              for p in state.all_model_checkpoint_paths]
    lines += [f"all_model_checkpoint_timestamps: {t!r}"
              for t in state.all_model_checkpoint_timestamps]
    if state.last_preserved_timestamp:
        lines.append(f"last_preserved_timestamp: {state.last_preserved_timestamp!r}")
    path = os.path.join(directory, filename or STATE_FILENAME)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _quote(text: str) -> str:
    """A protobuf text-format string: C escapes, bytes outside printable ASCII in octal."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in "\"\\":
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def update_checkpoint_state(save_dir, model_checkpoint_path, all_model_checkpoint_paths=None,
                            latest_filename=None, all_model_checkpoint_timestamps=None,
                            last_preserved_timestamp=None) -> None:
    """tf.train.update_checkpoint_state: write the state file of `save_dir` (the newest
    checkpoint is added to the list when missing, as TF1 does)."""
    paths = list(all_model_checkpoint_paths or [])
    if not paths or paths[-1] != model_checkpoint_path:
        paths.append(model_checkpoint_path)
    state = CheckpointState(os.fspath(model_checkpoint_path), [os.fspath(p) for p in paths],
                            list(all_model_checkpoint_timestamps or []),
                            float(last_preserved_timestamp or 0.0))
    write_state(os.fspath(save_dir), state, latest_filename)
