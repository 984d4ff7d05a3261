"""C programs built against exported artifacts with the system C compiler: their outputs
equal Session.run's on the same inputs, the C boundary refuses bad calls, contexts run
concurrently from threads, and two artifacts link into one program."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from aot_support import (
    C_DIR,
    Exported,
    build_stats,
    compile_c,
    doc_c_program,
    requires_cc,
    run_program,
    shared,
    stats_inputs,
)

import graphc as tf

pytestmark = requires_cc


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    return shared("mlp", tmp_path_factory)


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    return shared("stats", tmp_path_factory)


@pytest.fixture(scope="module")
def doc_program(mlp, tmp_path_factory):
    work = tmp_path_factory.mktemp("doc")
    source = doc_c_program(work / "main.c")
    return compile_c([source], [mlp.artifact], work / "main")


def parse_printed(text: str) -> np.ndarray:
    return np.array([[float(v) for v in line.split()] for line in text.strip().splitlines()],
                    np.float32)


@pytest.mark.parametrize("batch", [1, 7, 100])
def test_the_documented_program_prints_what_session_run_computes(mlp, doc_program, tmp_path,
                                                                 batch):
    x = np.random.default_rng(batch).normal(size=(batch, 16)).astype(np.float32)
    x.tofile(tmp_path / "x.bin")
    printed = parse_printed(run_program(doc_program, batch, tmp_path / "x.bin").stdout)
    np.testing.assert_allclose(printed, mlp.reference({"x": x})["probs"], rtol=1e-5, atol=1e-7)


def test_the_documented_program_links_the_static_archive(mlp, tmp_path):
    program = compile_c([doc_c_program(tmp_path / "main.c")], [mlp.artifact],
                        tmp_path / "main", static=True)
    x = np.random.default_rng(3).normal(size=(3, 16)).astype(np.float32)
    x.tofile(tmp_path / "x.bin")
    printed = parse_printed(run_program(program, 3, tmp_path / "x.bin").stdout)
    np.testing.assert_allclose(printed, mlp.reference({"x": x})["probs"], rtol=1e-5, atol=1e-7)


def run_driver(artifact, values, batch, tmp_path, static=False) -> dict:
    program = compile_c([C_DIR / "driver.c"], [artifact], tmp_path / "driver",
                        model=artifact.name, static=static)
    names = [p["name"] for p in artifact.manifest["inputs"]]
    outputs = artifact.manifest["outputs"]
    for name in names:
        values[name].tofile(tmp_path / f"{name}.in")
    run_program(program, batch, *[tmp_path / f"{n}.in" for n in names],
                *[tmp_path / f"{o['name']}.out" for o in outputs])
    got = {}
    for o in outputs:
        shape = [batch if d is None else d for d in o["shape"]]
        got[o["name"]] = np.fromfile(tmp_path / f"{o['name']}.out", o["dtype"]).reshape(shape)
    return got


def test_reductions_and_broadcasting_match_session_run(stats, tmp_path):
    values = stats_inputs(37)  # 16 + 16 + 4 + 1 rows
    got = run_driver(stats.artifact, values, 37, tmp_path)
    expected = stats.reference(values)
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype and got[name].shape == value.shape, name
        if value.dtype.kind == "f":
            np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_a_fixed_shape_artifact_runs_a_reduction_over_the_batch(tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        fetches = {"mean": tf.reduce_mean(x, axis=0), "scaled": x / tf.reduce_max(x)}
        sess = tf.Session(graph=graph)
        artifact = tf.export(fetches, x, tmp_path / "out", name="fixed", batch_size=6)
    assert artifact.manifest["batch"]["symbolic"] is False
    assert artifact.manifest["inputs"][0]["shape"] == [6, 4]
    exported = Exported(artifact, sess, {"x": x}, fetches)
    values = {"x": np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)}
    got = run_driver(artifact, values, 0, tmp_path)
    for name, value in exported.reference(values).items():
        np.testing.assert_allclose(got[name], value, rtol=1e-6, atol=1e-7)


def test_error_paths_at_the_c_boundary(stats, tmp_path):
    program = compile_c([C_DIR / "errors.c"], [stats.artifact], tmp_path / "errors")
    assert run_program(program).stdout == "ok\n"


@pytest.fixture(scope="module")
def wide(tmp_path_factory) -> Exported:
    """A model large enough that its GEMMs and elementwise kernels run on the thread pool
    (4 threads: more than this machine's cores, so regions contend)."""
    rng = np.random.default_rng(5)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 128], name="x")
        w1 = tf.constant(rng.normal(0, 0.1, (128, 512)).astype(np.float32))
        w2 = tf.constant(rng.normal(0, 0.1, (512, 128)).astype(np.float32))
        y = tf.tanh(tf.matmul(tf.nn.relu(tf.matmul(x, w1)), w2), name="y")
        sess = tf.Session(graph=graph)
        artifact = tf.export(y, x, tmp_path_factory.mktemp("wide"), name="wide", session=sess,
                             threads=4)
    return Exported(artifact, sess, {"x": x}, {"y": y})


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs nm")
def test_contexts_run_concurrently_from_threads(wide, tmp_path):
    symbols = subprocess.run(["nm", wide.artifact.static], capture_output=True, text=True).stdout
    assert "graphc_parallel_for" in symbols  # the plans do use the pool
    program = compile_c([C_DIR / "threads.c"], [wide.artifact], tmp_path / "threads",
                        model="wide")
    x = np.random.default_rng(7).normal(size=(70, 128)).astype(np.float32)  # 64 + 4 + 1 + 1
    x.tofile(tmp_path / "x.bin")
    result = run_program(program, 70, tmp_path / "x.bin", tmp_path / "y.bin", 4, 20)
    assert result.stdout == "ok\n"
    y = np.fromfile(tmp_path / "y.bin", np.float32).reshape(70, 128)
    np.testing.assert_allclose(y, wide.reference({"x": x})["y"], rtol=1e-5, atol=1e-6)


def test_two_artifacts_link_statically_into_one_program(mlp, stats, tmp_path):
    program = compile_c([C_DIR / "two_models.c"], [mlp.artifact, stats.artifact],
                        tmp_path / "two", static=True)
    assert run_program(program).stdout == "ok\n"


def test_a_generic_x86_64_artifact_gives_the_same_results(tmp_path):
    exported = build_stats(tmp_path / "generic", name="stats_generic", cpu="generic",
                           threads=1)
    assert exported.artifact.manifest["target"]["cpu"] == "x86-64"
    assert exported.artifact.manifest["target"]["features"] == ""
    values = stats_inputs(9, seed=2)
    got = run_driver(exported.artifact, values, 9, tmp_path)
    for name, value in exported.reference(values).items():
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
