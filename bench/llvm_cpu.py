"""The LLVM CPU target against numpy: a shortcut for `graphc bench` (graphc/bench/), kept so
the commands recorded in docs/benchmarks.md still run.

    env -u OPENBLAS_CORETYPE python bench/llvm_cpu.py [--threads 1 2] [--repeat 20]
                                                      [--only W1 W2 ...]

runs `graphc bench W1 W2 W3 W4 W7 --threads 1,2 --repeat 20 --compare numpy` (or the
workloads given by --only). The workload definitions live in graphc/bench/workloads.py.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", nargs="+", metavar="W", help="workloads to run (W1 W2 ...)")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from graphc.cli import main as graphc_main

    threads = ",".join(str(t) for t in dict.fromkeys(args.threads))
    return graphc_main(["bench", *(args.only or ["W1", "W2", "W3", "W4", "W7"]),
                        "--threads", threads, "--repeat", str(args.repeat),
                        "--compare", "numpy"])


if __name__ == "__main__":
    raise SystemExit(main())
