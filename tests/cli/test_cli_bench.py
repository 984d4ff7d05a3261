"""`graphc bench`'s exit status for work it cannot do: an unknown workload is an error
naming the known ones; `all` runs every standard workload."""

from __future__ import annotations

from cli_support import graphc

FAST = ["--size", "small", "--threads", "1", "--repeat", "1", "--warmup", "0",
        "--min-sample-ms", "0", "--compare", "none"]


def test_an_unknown_workload_is_an_error_naming_the_known_ones():
    assert graphc("bench", "W10", *FAST).user_error(
        "bench", "unknown workload 'W10'", "W1, W2, W3, W4, W5, W6, W7, W8, W9, all")


def test_all_runs_every_workload():
    """Every standard workload is available in this build (W6 since the attention layers);
    the skip path for one that is not is tested in tests/bench/test_bench.py."""
    result = graphc("bench", "all", *FAST)
    assert result.code == 0, result
    assert "skipping" not in result.err, result.err
    for case in ("W1 ", "W2 ", "W3 ", "W4 ", "W5 CNN train step", "W6 transformer encoder",
                 "W7 dispatch", "W8 ResNet-18 inference", "W9 "):
        assert case in result.out, case
