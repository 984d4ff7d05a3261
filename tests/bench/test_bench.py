"""`graphc bench` on tiny sizes: the output has its structure and its numbers are finite.
Nothing here times anything or asserts a speed."""

from __future__ import annotations

import json
import math

import pytest

from graphc.bench import harness, report
from graphc.bench.peers_optional import TorchPeer
from graphc.cli import main

FAST = ["--size", "small", "--threads", "1", "--repeat", "2", "--warmup", "1",
        "--min-sample-ms", "0.2"]


def bench(capsys, *args):
    """(exit code, stdout, stderr) of `graphc bench ARGS`."""
    code = main(["bench", *args])
    out, err = capsys.readouterr()
    return code, out, err


def positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def all_run(tmp_path_factory):
    """One small run of every workload, with every peer asked for and torch made missing."""
    path = tmp_path_factory.mktemp("bench") / "all.json"
    saved, TorchPeer.module = TorchPeer.module, "graphc_no_such_module"
    try:
        code = main(["bench", "all", *FAST, "--json", str(path),
                     "--compare", "numpy,torch,jax,onnxruntime"])
    finally:
        TorchPeer.module = saved
    return code, json.loads(path.read_text())


def test_all_writes_json_with_finite_numbers(all_run):
    code, doc = all_run
    assert code == 0, doc["errors"]
    assert doc["schema"] == "graphc-bench/1"
    for key in ("command", "date", "host", "settings", "placement", "graphc", "peers",
                "machine", "results", "errors", "unavailable"):
        assert key in doc
    assert {r["workload"] for r in doc["results"]} == {"W1", "W2", "W3", "W4", "W5", "W6",
                                                       "W7", "W8", "W9"}
    for row in doc["results"]:
        for key in ("median_s", "min_s", "max_s", "q1_s", "q3_s", "cpu_over_wall"):
            assert positive(row[key]), (row["case"], row["system"], key)
        assert row["min_s"] <= row["median_s"] <= row["max_s"]
        if row["flops"] or row["bytes"]:
            assert positive(row["gflops"] or row["gbs"]) and positive(row["peak_fraction"])
        if row["peer"] != "graphc":
            assert positive(row["graphc_speedup"])
        assert row["agrees_with_graphc"] is not False, (row["case"], row["system"])
        if row["workload"] == "W6" and row["peer"] != "graphc":  # its output, compared
            assert 0 <= row["max_abs_diff"] < 1e-4, (row["system"], row["max_abs_diff"])
    graphc_rows = [r for r in doc["results"] if r["system"] == "graphc"]
    assert all(positive(r["compile_s"]) for r in graphc_rows)
    [limits] = doc["machine"]
    assert positive(limits["fma_gflops"]) and positive(limits["copy_gbs"])


def test_all_reports_missing_workloads_and_peers(all_run):
    _, doc = all_run
    assert doc["unavailable"] == []  # every standard workload runs
    assert doc["peers"]["torch"]["status"] == "skipped (not installed)"
    assert doc["peers"]["numpy"]["status"] == "ok"
    config = doc["peers"]["numpy"]["config"]
    assert {"version", "blas", "OPENBLAS_CORETYPE", "thread_control"} <= set(config)
    for name in ("jax", "onnxruntime"):
        assert doc["peers"][name]["status"] in ("ok", "skipped (not installed)") or \
            doc["peers"][name]["status"].startswith("skipped (onnx")


def test_table_and_progress(capsys):
    code, out, err = bench(capsys, "W7", *FAST)
    assert code == 0
    assert [c.strip() for c in out.splitlines()[0].strip("| ").split(" | ")] == \
        report.RESULT_HEADER
    assert "W7 dispatch" in out and "numpy" in out and "command: graphc bench W7" in out
    assert err == ""  # no progress off a terminal


def test_fast_math_compiles_graphc_with_it(capsys, tmp_path):
    path = tmp_path / "w1.json"
    code, out, _ = bench(capsys, "W1", *FAST, "--fast-math", "--json", str(path))
    assert code == 0
    assert "command: graphc bench W1 " in out and out.rstrip().count("--fast-math") >= 1
    doc = json.loads(path.read_text())
    assert doc["settings"]["fast_math"] is True
    assert doc["graphc"]["threads"] == {"1": "Options(threads=1, fast_math=True)"}
    rows = [r for r in doc["results"] if r["system"] == "graphc"]
    assert rows and all(positive(r["median_s"]) for r in rows)


def test_a_progress_bar_on_a_terminal(capsys, monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    assert main(["bench", "W7", *FAST]) == 0
    shown = screen.getvalue()
    assert "W7 dispatch x+y (16 f32), 1 thread(s)" in shown and "/1 [" in shown


def test_machine(capsys, tmp_path):
    path = tmp_path / "machine.json"
    code, out, _ = bench(capsys, "machine", *FAST, "--json", str(path))
    assert code == 0 and "FMA peak GFLOP/s" in out and "copy GB/s" in out
    [limits] = json.loads(path.read_text())["machine"]
    assert limits["threads"] == 1 and positive(limits["fma_gflops"])
    assert positive(limits["copy_gbs"]) and limits["vector_lanes"] >= 1


def test_matmul_and_op(capsys, tmp_path):
    code, out, _ = bench(capsys, "matmul", "--shape", "8x16x4", *FAST)
    assert code == 0 and "matmul 8x16x4 float32" in out and "GFLOP/s" in out
    path = tmp_path / "op.json"
    code, out, _ = bench(capsys, "op", "reduce_sum", "--shape", "8x8", "--attr", "axis=1",
                         *FAST, "--json", str(path))
    assert code == 0 and "op reduce_sum 8x8 float32" in out
    rows = json.loads(path.read_text())["results"]
    assert {r["system"] for r in rows} >= {"graphc", "numpy"}
    assert all(r["agrees_with_graphc"] is not False and positive(r["gbs"]) for r in rows)


SCRIPT = '''
import numpy as np
import graphc as tf


def build():
    x = tf.placeholder(tf.float32, [4, 4])
    value = np.ones((4, 4), np.float32)
    return {"fetches": tf.exp(x) * 2, "feeds": {x: value}, "bytes": 128,
            "numpy": lambda v: np.exp(v) * 2}
'''


def test_script(capsys, tmp_path):
    script = tmp_path / "mine.py"
    script.write_text(SCRIPT)
    path = tmp_path / "script.json"
    code, out, _ = bench(capsys, str(script), *FAST, "--json", str(path))
    assert code == 0 and "script mine.py" in out
    rows = json.loads(path.read_text())["results"]
    numpy_row = next(r for r in rows if r["system"] == "numpy")
    assert numpy_row["agrees_with_graphc"] is True and positive(numpy_row["gbs"])


@pytest.mark.parametrize("args, message", [
    (["W10"], "unknown workload 'W10': expected one of W1, W2"),
    (["missing_script.py"], "missing_script.py: no such file"),
    (["matmul", "--shape", "4x4"], "matmul takes one --shape MxNxK"),
    (["op", "no_such_op", "--shape", "4"], "unknown op 'no_such_op'"),
    (["op", "exp", "--shape", "4xq"], "cannot read shape '4xq'"),
    (["W1", "--compare", "numpy,tensorflow"], "unknown peer 'tensorflow'"),
    (["W1", "--threads", "0"], "--threads '0': expected positive counts"),
    (["W1", "--target", "nowhere"], "target 'nowhere' is not available here"),
    (["diff", "only_one.json"], "diff takes two JSON files"),
])
def test_errors_are_clear(capsys, args, message):
    code, out, err = bench(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("graphc bench: error: ") and message in err


def test_an_unavailable_workload_is_an_error_by_name_and_skipped_by_all(capsys,
                                                                         monkeypatch):
    import argparse

    from graphc.bench import cli as bench_cli
    from graphc.bench import workloads
    missing = workloads.Workload("W6", "transformer encoder layer forward",
                                 missing="not available yet: a reason")
    monkeypatch.setitem(workloads.WORKLOADS, "W6", missing)
    code, out, err = bench(capsys, "W6")
    assert code == 2 and out == ""
    assert "W6 (transformer encoder layer forward) is not available yet: a reason" in err
    cases, unavailable = bench_cli.select(argparse.Namespace(what=["all"], size="small"))
    assert "W6" not in {c.workload for c in cases} and len(cases) >= 8
    assert unavailable == [{"workload": "W6", "title": "transformer encoder layer forward",
                            "reason": "not available yet: a reason"}]
    assert "skipping W6" in capsys.readouterr().err


def test_diff(capsys, tmp_path):
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path in paths:
        assert bench(capsys, "W7", *FAST, "--compare", "none", "--json", str(path))[0] == 0
    code, out, _ = bench(capsys, "diff", *map(str, paths))
    assert code == 0 and "B / A" in out and "W7 dispatch" in out
    _, rows = report.diff(*(json.loads(p.read_text()) for p in paths))
    assert len(rows) == 2 and all(positive(r["b_over_a"]) for r in rows)


def test_measure_interleaves_and_summarizes():
    calls = []
    systems = [harness.System(name, name, lambda n=name: calls.append(n), "fresh")
               for name in ("a", "b")]
    stats = harness.measure(systems, repeat=3, warmup=1, min_sample_s=0.0)
    assert set(stats) == {"a", "b"}
    assert all(s.samples == 3 and s.min <= s.median <= s.max for s in stats.values())
    assert calls.count("a") == calls.count("b")
    assert report.format_seconds(0.0123) == "12.3 ms"
    assert report.format_seconds(2.5e-6) == "2.5 us"


def test_multi_thread_runs_with_numpy_restart_with_openblas_workers_that_sleep(monkeypatch):
    import argparse
    import sys

    from graphc.bench import cli as bench_cli

    calls = []
    monkeypatch.setattr(bench_cli.os, "execve", lambda *a: calls.append(a))
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    monkeypatch.setattr(sys, "argv", ["graphc", "bench", "W3", "--threads", "1,2"])
    bench_cli._quiet_openblas_threads(argparse.Namespace(threads="1,2", compare="numpy"))
    (executable, argv, env), = calls
    assert argv[1:] == ["-m", "graphc", "bench", "W3", "--threads", "1,2"]
    assert env["OPENBLAS_THREAD_TIMEOUT"] == "1"
    for threads, compare in (("1", "numpy"), ("1,2", "none")):  # nothing to protect
        bench_cli._quiet_openblas_threads(argparse.Namespace(threads=threads, compare=compare))
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "4")  # the user's own choice stands
    bench_cli._quiet_openblas_threads(argparse.Namespace(threads="2", compare="numpy"))
    assert len(calls) == 1


def test_cnn_and_rnn_workloads_compute_what_the_reference_does():
    """W5's and W9's first steps (their losses) and W8's logits, compiled, against the
    reference target, on the small sizes; the peers' versions (torch, jax, onnxruntime) are
    compared with graphc's in every run that has them (agrees_with_graphc)."""
    import numpy as np

    import graphc as tf
    from graphc.bench.workloads import WORKLOADS

    for name in ("W5", "W8", "W9"):
        (case,) = WORKLOADS[name].cases("small")
        results = []
        for target in ("reference", "llvm"):
            graph = tf.Graph()
            with graph.as_default():
                fetches, placeholders = case.build(tf)
                init = tf.global_variables_initializer()
            with tf.Session(target=target, graph=graph) as sess:
                sess.run(init)
                results.append(sess.run(fetches, dict(zip(placeholders, case.feed_values))))
        ref, got = (r[-1] if isinstance(r, list) else r for r in results)
        assert np.all(np.isfinite(ref)) and np.asarray(ref).size >= 1
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_speedups_pair_the_systems_round_by_round():
    from graphc.bench.run import add_speedups
    # the machine slowed down 4x halfway: each round's ratio is 2, the medians' ratio is not
    graphc = {"peer": "graphc", "outputs": "fresh", "median_s": 2.0,
              "rounds_s": [1.0, 1.0, 1.0, 4.0, 4.0]}
    peer = {"peer": "numpy", "outputs": "fresh", "median_s": 2.0,
            "rounds_s": [2.0, 2.0, 8.0, 8.0, 8.0]}
    old = {"peer": "numpy", "outputs": "fresh", "median_s": 3.0}  # no rounds: medians
    add_speedups([graphc, peer, old])
    assert peer["graphc_speedup"] == 2.0
    assert old["graphc_speedup"] == 1.5


def test_rows_disturbed_by_other_work_and_busy_runs_are_flagged():
    from graphc.bench.report import busy, result_cells, suspicious
    row = {"case": "c", "threads": 1, "system": "numpy", "outputs": "fresh", "median_s": 1e-3,
           "iqr_s": 1e-4, "min_s": 1e-3, "max_s": 2e-3, "cpu_over_wall": 0.55,
           "compile_s": None}
    assert suspicious(row) and result_cells(row)[7] == "0.55 !"
    assert result_cells(row, cpu=False)[7] == "0.55"  # a GPU target's CPU waits for it
    assert not suspicious({**row, "cpu_over_wall": 0.97})
    assert suspicious({**row, "threads": 2, "cpu_over_wall": 2.9})
    assert not suspicious({**row, "threads": 2, "cpu_over_wall": 1.1})
    assert busy({"host": {"allowed_cpus": 2, "load_before": 0.4, "load_after": 3.5}}) == \
        "load average 3.50 on 2 allowed CPUs"
    assert busy({"host": {"allowed_cpus": 2, "load_before": 0.4, "load_after": 1.5}}) == ""


def test_settle_waits_while_threads_burn_cpu_and_gives_up_at_its_limit(monkeypatch):
    """settle with a clock where the process's other threads burn the whole of each 2 ms
    window for `busy` windows, then nothing: it waits those windows and one idle one."""
    class Clock:
        def __init__(self, busy):
            self.wall, self.cpu, self.busy = 0.0, 0.0, busy

        def perf_counter(self):
            return self.wall

        def process_time(self):
            return self.cpu

        def sleep(self, seconds):
            self.wall += seconds
            if self.busy > 0:
                self.busy -= 1
                self.cpu += seconds

    for busy, expected in ((0, 0.002), (5, 0.012), (1000, 0.2)):
        clock = Clock(busy)
        monkeypatch.setattr(harness, "time", clock)
        assert harness.settle() == pytest.approx(expected, abs=1e-9), busy
