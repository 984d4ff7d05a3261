"""docs/training.md's resumable training run: killed mid-run (os._exit, in a process of its
own) and started again, it ends at the loss of an uninterrupted run, and TensorBoard reads
its summaries."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "training.md"


def _example(tmp_path: Path) -> Path:
    """The doc's example as a script: train(sys.argv[1], die_at=int(sys.argv[2]) or None),
    printing the final loss exactly."""
    blocks = re.findall(r"^```python[ \t]*\n(.*?)^```", DOC.read_text(), re.S | re.M)
    code = next(b for b in blocks if b.startswith("# example: resumable training"))
    code = code.replace("print(train(tempfile.mkdtemp()))", "")
    code += ("\nimport sys\nprint(repr(train(sys.argv[1], die_at=int(sys.argv[2]) or None)))"
             "\n")
    script = tmp_path / "resumable.py"
    script.write_text(code)
    return script


def _run(script: Path, logdir: Path, die_at: int):
    return subprocess.run([sys.executable, str(script), str(logdir), str(die_at)],
                          capture_output=True, text=True, timeout=300)


def test_a_killed_run_resumes_to_the_same_final_loss(tmp_path):
    pytest.importorskip("tensorboard")
    script = _example(tmp_path)
    whole = _run(script, tmp_path / "whole", 0)
    assert whole.returncode == 0, whole.stderr
    crashed = _run(script, tmp_path / "resumed", 35)
    assert crashed.returncode == 1, crashed.stderr
    checkpoints = sorted(p.name for p in (tmp_path / "resumed").glob("*.safetensors"))
    assert checkpoints == ["model.ckpt-20.safetensors", "model.ckpt-30.safetensors"]
    resumed = _run(script, tmp_path / "resumed", 0)
    assert resumed.returncode == 0, resumed.stderr
    assert float(resumed.stdout.split()[-1]) == float(whole.stdout.split()[-1])

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(tmp_path / "resumed"))
    events.Reload()
    steps = [e.step for e in events.Scalars("loss")]
    assert steps == list(range(1, 61))  # 31..35 of the crashed run purged by SessionLog.START
    whole_events = EventAccumulator(str(tmp_path / "whole"))
    whole_events.Reload()
    assert [e.value for e in events.Scalars("loss")] == \
        [e.value for e in whole_events.Scalars("loss")]
