"""Running `graphc` as a user does: a subprocess, its exit status, stdout and stderr."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# One script for every command: compile, run, explain, check and bench.
MODEL = '''\
import numpy as np
import graphc as tf


def build():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    w = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
    y = tf.nn.relu(tf.matmul(x, w) - 4.0, name="y")
    return {"fetches": {"y": y}, "feeds": {x: np.ones((2, 3), np.float32)}}
'''
MODEL_OUTPUT = "y float32 [2, 2]:\n[[2. 5.]\n [2. 5.]]\n"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def user_error(self, command: str, *fragments: str) -> bool:
        """Exit status 2 and one line `graphc COMMAND: error: ...` holding every fragment,
        with no traceback and nothing on stdout."""
        lines = self.err.splitlines()
        assert self.code == 2, self
        assert self.out == "" and "Traceback" not in self.err, self
        assert lines[-1].startswith(f"graphc {command}: error: "), self
        for fragment in fragments:
            assert fragment in lines[-1], (fragment, self)
        return True


def environment(**changes) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GRAPHC_TARGET"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.update(changes)
    return env


def graphc(*args, cwd=None, **env) -> Result:
    """`graphc ARGS` in a new process (stderr a pipe, not a terminal)."""
    done = subprocess.run([sys.executable, "-m", "graphc", *map(str, args)], cwd=cwd,
                          env=environment(**env), capture_output=True, text=True, timeout=300)
    return Result(done.returncode, done.stdout, done.stderr)


def graphc_on_terminal(*args, cwd=None) -> Result:
    """`graphc ARGS` with stderr on a pseudo-terminal (stdout a pipe), as at a shell."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "graphc", *map(str, args)], cwd=cwd,
                            env=environment(), stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    err = bytearray()
    while True:  # drain the terminal while the command runs, so its writes never block
        ready, _, _ = select.select([leader], [], [], 0.1)
        try:
            chunk = os.read(leader, 4096) if ready else b""
        except OSError:  # EIO: the command closed the terminal
            chunk = b""
        err += chunk
        if not chunk and proc.poll() is not None:
            break
    os.close(leader)
    out = proc.stdout.read().decode()
    proc.stdout.close()
    return Result(proc.wait(), out, err.decode(errors="replace"))
