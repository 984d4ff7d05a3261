"""Running a script as N processes under mpirun, for the tests of graphc.distributed: each
test writes a script that saves what each rank computed (rank{r}.npz in the folder given as
its first argument) and compares it here with one process computing the same."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

MPIRUN = next((str(p) for p in (Path(sys.executable).parent / "mpirun",) if p.exists()),
              shutil.which("mpirun"))
needs_mpi = pytest.mark.skipif(
    MPIRUN is None or importlib.util.find_spec("mpi4py") is None,
    reason="needs mpirun and mpi4py: pip install 'graphc[distributed]'")
TIMEOUT = 60  # seconds an mpirun may take before the test fails (a hang fails, not waits)


def mpirun(folder: Path, script: str, n: int, *args, name: str = "script",
           timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Run `script` (Python source) as n ranks with arguments (folder, *args); a hang past
    `timeout` raises subprocess.TimeoutExpired."""
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(script))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMI"))}
    command = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-n", str(n),
               sys.executable, str(path), str(folder), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def ranks(folder: Path, n: int, prefix: str = "rank") -> list:
    return [dict(np.load(folder / f"{prefix}{r}.npz")) for r in range(n)]
