"""What export writes (files, manifest, header, dependencies, exported symbols) and what it
refuses, with the reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from aot_support import requires_cc, shared

import graphc as tf
from graphc.aot import ExportError
from graphc.aot.link import ALLOWED_NEEDED, exported_symbols, needed_libraries

pytestmark = requires_cc


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    return shared("mlp", tmp_path_factory)


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    return shared("stats", tmp_path_factory)


def test_the_files_and_the_manifest(mlp):
    a = mlp.artifact
    assert sorted(os.listdir(a.directory)) == ["libmlp.a", "libmlp.so", "mlp.h", "mlp.json"]
    with open(a.manifest_path) as f:
        manifest = json.load(f)
    assert manifest == a.manifest
    assert manifest["format"] == "graphc-aot" and manifest["name"] == "mlp"
    assert manifest["graphc_version"] == tf.__version__
    assert manifest["inputs"] == [{"name": "x", "dtype": "float32", "shape": [None, 16]}]
    assert manifest["outputs"] == [{"name": "probs", "dtype": "float32", "shape": [None, 4]}]
    assert len(manifest["graph_hash"]) == 64
    assert manifest["target"]["requested"] == "native" and manifest["target"]["cpu"]
    assert manifest["batch"] == {"symbolic": True, "max": 2**31 - 1, "blocks": [256, 64, 16, 4, 1]}
    assert manifest["weights_bytes"] >= (16 * 32 + 32 + 32 * 4) * 4


def test_the_header_lists_the_ports_and_two_headers_go_together(mlp, stats, tmp_path):
    text = open(mlp.artifact.header).read()
    assert "input  0: x float32 [batch, 16]" in text
    assert "output 0: probs float32 [batch, 4]" in text
    source = tmp_path / "both.c"
    source.write_text('#include "mlp.h"\n#include "stats.h"\nint main(void) { return 0; }\n')
    for compiler in ("cc", "c++"):
        if shutil.which(compiler) is None:
            continue
        language = ["-x", "c++"] if compiler == "c++" else ["-std=c99"]
        result = subprocess.run([compiler, *language, "-Wall", "-Werror", "-fsyntax-only",
                                 f"-I{mlp.artifact.directory}", f"-I{stats.artifact.directory}",
                                 str(source)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf")
def test_the_library_needs_only_libc_libm_and_libpthread(mlp, stats):
    for a in (mlp.artifact, stats.artifact):
        needed = needed_libraries(a.shared)
        assert needed and all(n.startswith(ALLOWED_NEEDED) for n in needed), needed


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf")
def test_only_the_api_is_exported(mlp):
    symbols = exported_symbols(mlp.artifact.shared)
    assert "mlp_run_batch" in symbols and "mlp_create" in symbols
    assert all(s.startswith("mlp_") for s in symbols), symbols
    assert not any("graphc" in s for s in symbols), symbols


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs nm")
def test_the_static_archive_defines_only_prefixed_symbols(mlp):
    out = subprocess.run(["nm", "-g", "--defined-only", mlp.artifact.static],
                         capture_output=True, text=True, check=True).stdout
    names = [line.split()[-1] for line in out.splitlines() if line.count(" ") >= 2]
    assert names and all(n.startswith("mlp_") for n in names), names


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump")
def test_generic_code_uses_no_avx_registers(tmp_path):
    x = tf.placeholder(tf.float32, [None, 32], name="x")
    y = tf.tanh(tf.matmul(x, tf.constant(np.ones((32, 32), np.float32))))
    with tf.Session() as sess:
        a = tf.export(y, x, tmp_path, name="plain", session=sess, cpu="generic")
    assert a.manifest["target"]["cpu"] == "x86-64"
    code = subprocess.run(["objdump", "-d", a.shared], capture_output=True, text=True).stdout
    assert "xmm" in code and "ymm" not in code and "zmm" not in code


def test_an_unknown_cpu_name_is_an_error_not_a_crash(tmp_path):
    x = tf.placeholder(tf.float32, [2], name="x")
    with pytest.raises(ValueError, match="not a CPU name LLVM knows"):
        tf.export(x * 2.0, x, tmp_path, cpu="no-such-cpu")


def export_error(fetches, feeds, tmp_path, **kwargs) -> str:
    with pytest.raises(ExportError) as info:
        tf.export(fetches, feeds, tmp_path, **kwargs)
    return str(info.value)


def test_refusals_say_why(tmp_path):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    other = tf.placeholder(tf.float32, [3], name="other")
    assert "random ops" in export_error(x + tf.random_normal([3]), x, tmp_path)
    assert "'other'" in export_error(x + other, x, tmp_path)
    assert "C identifier" in export_error(x * 2.0, x, tmp_path, name="my-model")
    assert "given twice" in export_error(x * 2.0, [x, x], tmp_path)
    v = tf.Variable(np.ones(3, np.float32), name="v")
    assert "session=sess" in export_error(x * v, x, tmp_path)
    inner = tf.placeholder(tf.float32, [2, None], name="inner")
    assert "only the leading dimension" in export_error(inner * 2.0, inner, tmp_path)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        message = export_error(tf.assign_add(v, tf.reduce_sum(x, axis=0)), x, tmp_path,
                               session=sess, batch_size=2)
        assert "assign" in message and "'v'" in message


def test_a_symbolic_batch_through_a_batch_reduction_is_refused(tmp_path):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    message = export_error(x - tf.reduce_mean(x, axis=0), x, tmp_path)
    assert "cannot keep the batch dimension symbolic" in message and "batch_size=" in message
    assert not os.listdir(tmp_path)  # refused before anything is written
