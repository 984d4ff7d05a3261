"""Progress bars: shown on a terminal, silent elsewhere."""

from __future__ import annotations

import io

import numpy as np

from graphc.progress import Quiet, progress
from graphc.saving import format as checkpoint_format


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_off_a_terminal_and_a_bar_on_one():
    assert isinstance(progress(100, "x", stream=io.StringIO()), Quiet)
    screen = _Terminal()
    with progress(1000, "writing model", stream=screen) as bar:
        bar.update(500)
        bar.update(500)
    assert "writing model" in screen.getvalue() and "1.00k" in screen.getvalue()


def test_large_checkpoints_report_progress(tmp_path, monkeypatch):
    screen = _Terminal()
    monkeypatch.setattr(checkpoint_format, "_BAR_BYTES", 1000)
    monkeypatch.setattr("sys.stderr", screen)
    checkpoint_format.write_tensors(str(tmp_path / "m.safetensors"),
                                    {"w": np.zeros(1000, np.float32)})
    assert "writing m.safetensors" in screen.getvalue()
    screen = _Terminal()
    monkeypatch.setattr(checkpoint_format, "_BAR_BYTES", 10**9)
    monkeypatch.setattr("sys.stderr", screen)
    checkpoint_format.write_tensors(str(tmp_path / "m.safetensors"),
                                    {"w": np.zeros(1000, np.float32)})
    assert screen.getvalue() == ""  # small files: no bar


def test_caching_a_dataset_to_a_file_shows_a_counter(tmp_path, monkeypatch):
    import graphc as tf
    screen = _Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    dataset = tf.data.Dataset.range(5).cache(str(tmp_path / "c"))
    assert [int(v) for v in dataset.as_numpy_iterator()] == [0, 1, 2, 3, 4]
    assert "caching c.npz" in screen.getvalue()
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)  # not a terminal: nothing
    assert [int(v) for v in tf.data.Dataset.range(3).cache(str(tmp_path / "d"))
            .as_numpy_iterator()] == [0, 1, 2]
    assert log.getvalue() == ""
