"""pytest plugin for a time-boxed GPU session: tests not started `GPU_DEADLINE_S` seconds
after the worker started are skipped, so the run ends with its full report inside the box.

    PYTHONPATH=bench python -m pytest -p gpu_deadline ...
"""

import os
import time

import pytest

_DEADLINE = time.time() + float(os.environ.get("GPU_DEADLINE_S", "1e9"))


def pytest_runtest_setup(item):
    if time.time() > _DEADLINE:
        pytest.skip("GPU_DEADLINE_S passed")
