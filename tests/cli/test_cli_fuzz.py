"""`graphc fuzz` from the command line: its report, exit status and argument errors."""

from __future__ import annotations

from cli_support import graphc


def test_a_small_run_reports_no_mismatch(tmp_path):
    result = graphc("fuzz", "--n", "2", "--seed", "11", "--json", tmp_path / "r.json",
                    GRAPHC_CACHE_DIR=str(tmp_path / "cache"))
    assert result.code == 0, result
    assert result.out.startswith("graphc fuzz: 2 programs, ")
    assert "mismatches: 0" in result.out
    assert '"programs": 2' in (tmp_path / "r.json").read_text()


def test_worker_processes_share_the_programs(tmp_path):
    result = graphc("fuzz", "--n", "3", "--seed", "11", "--jobs", "2", "--config",
                    "llvm -O3", GRAPHC_CACHE_DIR=str(tmp_path / "cache"))
    assert result.code == 0, result
    assert "graphc fuzz: 3 programs" in result.out and "llvm -O3: 3" in result.out


def test_bad_counts_are_user_errors():
    assert graphc("fuzz", "--n", "0").user_error("fuzz", "--n and --jobs must be at least 1")


PLANTED_CRASH = '''\
import os
import graphc.tools.fuzz as fuzz
_generate = fuzz.generate


def generate(tf, seed):
    if seed == 13:  # a planted crash: this worker process dies on seed 13
        os._exit(9)
    return _generate(tf, seed)


fuzz.generate = generate
'''


def test_a_dead_worker_is_reported_with_its_seed_and_the_rest_still_runs(tmp_path):
    from cli_support import ROOT
    (tmp_path / "sitecustomize.py").write_text(PLANTED_CRASH)
    result = graphc("fuzz", "--n", "6", "--seed", "10", "--jobs", "2", "--config",
                    "llvm -O3", PYTHONPATH=f"{tmp_path}:{ROOT}",
                    GRAPHC_CACHE_DIR=str(tmp_path / "cache"))
    assert result.code == 1, result
    assert "graphc fuzz: 5 programs" in result.out  # seeds 10-15 but 13
    assert "crashes: 1" in result.out
    assert "seed 13: the worker process died (status 9); replay: graphc fuzz --n 1 " \
        "--seed 13" in result.out
