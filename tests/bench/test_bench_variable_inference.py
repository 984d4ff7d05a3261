"""bench/variable_inference.py times every batch and kind and prints one table."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_table_has_every_batch_and_kind():
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "variable_inference.py"), "--repeat", "2",
         "--threads", "2"], capture_output=True, text=True, check=True, timeout=300).stdout
    lines = out.splitlines()
    assert lines[0] == "4 layers of 1024 x 1024, 2 thread(s), medians of 2"
    assert lines[1] == "| batch | variables | constants | changed each time |"
    rows = [line.split(" | ") for line in lines[3:]]
    assert [r[0] for r in rows] == ["| 1", "| 8", "| 64"]
    assert all(len(r) == 4 and all(cell.rstrip(" |").endswith(" us") for cell in r[1:])
               for r in rows)
