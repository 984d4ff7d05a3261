"""bench/resnet_layers.py runs a layer and reports its GEMM's shape."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_one_layer_table():
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "resnet_layers.py"), "--repeat", "2",
         "--threads", "2", "--layers", "1x1/2 64-128", "--cold"],
        capture_output=True, text=True, check=True, timeout=300).stdout
    rows = [line for line in out.splitlines() if line.startswith("| 1x1")]
    assert len(rows) == 1 and rows[0].startswith("| 1x1/2 64-128 | 784 x 64 x 128 | ")
    assert rows[0].endswith(" GFLOP/s |")
    assert "sum of the layers above" in out
    assert "--repeat 2 --cold" in out.splitlines()[0]
