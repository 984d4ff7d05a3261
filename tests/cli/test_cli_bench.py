"""`graphc bench`'s exit status for work it cannot do: naming a workload that is not
available is an error; `all` skips those and says which and why."""

from __future__ import annotations

import pytest
from cli_support import graphc

FAST = ["--size", "small", "--threads", "1", "--repeat", "1", "--warmup", "0",
        "--min-sample-ms", "0", "--compare", "none"]


@pytest.mark.parametrize("name", ["W5", "W6", "W8"])
def test_a_workload_that_is_not_available_is_an_error(name):
    assert graphc("bench", name, *FAST).user_error(
        "bench", f"{name} (", "is not available yet: graphc has no",
        "the available workloads are W1, W2, W3, W4, W7")


def test_all_runs_the_available_workloads_and_names_the_skipped_ones():
    result = graphc("bench", "all", *FAST)
    assert result.code == 0, result
    for name, why in (("W5", "convolution"), ("W6", "attention"), ("W8", "convolution")):
        assert f"skipping {name} (" in result.err and why in result.err
        assert f"\n{name} (" in result.out  # and under the table
    assert "W7 dispatch" in result.out
