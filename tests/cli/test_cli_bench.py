"""`graphc bench`'s exit status for work it cannot do: naming a workload that is not
available is an error; `all` skips those and says which and why."""

from __future__ import annotations

from cli_support import graphc

FAST = ["--size", "small", "--threads", "1", "--repeat", "1", "--warmup", "0",
        "--min-sample-ms", "0", "--compare", "none"]


def test_a_workload_that_is_not_available_is_an_error():
    assert graphc("bench", "W6", *FAST).user_error(
        "bench", "W6 (", "is not available yet: graphc has no",
        "the available workloads are W1, W2, W3, W4, W5, W7, W8")


def test_all_runs_the_available_workloads_and_names_the_skipped_ones():
    result = graphc("bench", "all", *FAST)
    assert result.code == 0, result
    assert "skipping W6 (" in result.err and "attention" in result.err
    assert "\nW6 (" in result.out  # and under the table
    for case in ("W5 CNN train step", "W7 dispatch", "W8 ResNet-18 inference"):
        assert case in result.out
