"""Hardened export and load: impossible export arguments are refused before anything is
compiled, the C size queries and run_batch refuse batches whose byte sizes overflow, and
load refuses truncated or modified libraries, broken manifests and foreign libraries with
an error naming the file instead of crashing in dlopen."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from aot_support import requires_cc, shared

import graphc as tf
from graphc.aot import ExportError, ToolchainError
from graphc.aot.load import ArtifactError

pytestmark = requires_cc

INT64_MAX = 2**63 - 1
GRAPHC_ERROR_BATCH = 2


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    return shared("mlp", tmp_path_factory)


@pytest.fixture
def copied(mlp, tmp_path):
    """A private copy of the mlp artifact's directory (tests damage it)."""
    return shutil.copytree(mlp.artifact.directory, tmp_path / "mlp")


# --- 1. export checks its arguments before compiling ----------------------------------------
BAD_ARGUMENTS = [
    ({"batch_size": -3}, ExportError, r"batch_size must be an int in \[1, 2\*\*62\].*got -3"),
    ({"batch_size": 0}, ExportError, r"batch_size must be an int in \[1, 2\*\*62\].*got 0"),
    ({"batch_size": 2.5}, TypeError, r"batch_size must be an int .*got 2\.5 \(float\)"),
    ({"batch_size": True}, TypeError, r"batch_size must be an int .*got True \(bool\)"),
    ({"threads": -2}, ExportError, r"threads must be an int in \[1, 1024\].*got -2"),
    ({"threads": 0}, ExportError, r"threads must be an int in \[1, 1024\].*got 0"),
    ({"threads": 5000}, ExportError, r"threads must be an int in \[1, 1024\].*got 5000"),
    ({"threads": "4"}, TypeError, r"threads must be an int .*got '4' \(str\)"),
    ({"max_batch": 0}, ExportError, r"max_batch must be an int in \[1, 2\*\*62\], got 0"),
    ({"max_batch": -1}, ExportError, r"max_batch must be an int in \[1, 2\*\*62\], got -1"),
    ({"max_batch": 2**70}, ExportError, r"max_batch must be an int in \[1, 2\*\*62\]"),
    ({"batch_blocks": ()}, ExportError, r"batch_blocks must be positive ints including 1"),
    ({"batch_blocks": (4, 2)}, ExportError, r"batch_blocks .*including 1.*got \[4, 2\]"),
    ({"batch_blocks": (4, 0, 1)}, ExportError, r"batch_blocks .*got \[4, 0, 1\]"),
    ({"batch_blocks": 8}, TypeError, r"batch_blocks must be a sequence .*got 8"),
    ({"batch_blocks": (4.0, 1)}, TypeError, r"batch_blocks must hold .*got 4\.0 \(float\)"),
    ({"name": "my-model"}, ExportError, r"name must be a C identifier.*'my-model'"),
    ({"name": None}, TypeError, r"name must be a str .*got None"),
    ({"cpu": ""}, TypeError, r"cpu must be a non-empty str .*got ''"),
    ({"cc": ""}, TypeError, r"cc must be a non-empty str .*got ''"),
    ({"cc": "no-such-cc-0"}, ToolchainError, r"needs `no-such-cc-0` on PATH"),
    ({"session": "sess"}, TypeError, r"session must be a graphc Session or None, got 'sess'"),
]


@pytest.mark.parametrize("kwargs, error, message", BAD_ARGUMENTS,
                         ids=[", ".join(f"{k}={v!r}" for k, v in a[0].items())
                              for a in BAD_ARGUMENTS])
def test_export_refuses_impossible_arguments_before_compiling(tmp_path, kwargs, error,
                                                              message):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        with pytest.raises(error, match=message):
            tf.export(x * 2.0, x, tmp_path / "out", **kwargs)  # elementwise: no GEMM check
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_export_refuses_a_path_that_is_a_file_a_closed_session_and_no_fetches(tmp_path):
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    (tmp_path / "taken").write_text("")
    with pytest.raises(ExportError, match=r"path .*taken exists and is not a directory"):
        tf.export(x * 2.0, x, tmp_path / "taken")
    with pytest.raises(TypeError, match=r"path must be a str or os.PathLike .*got 3"):
        tf.export(x * 2.0, x, 3)
    sess = tf.Session()
    sess.close()
    with pytest.raises(ExportError, match="session is closed"):
        tf.export(x * 2.0, x, tmp_path / "out", session=sess)
    with pytest.raises(ExportError, match=r"fetches is empty \(\[\]\)"):
        tf.export([], x, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_export_refuses_arrays_whose_byte_sizes_overflow(tmp_path):
    x = tf.placeholder(tf.float32, [None, 2**20], name="x")  # 4 MiB a row
    with pytest.raises(ExportError, match=r"input x float32\['batch', 1048576\] would take "
                                          r"\d+ bytes for 4398046511104 rows, more than"):
        tf.export(x * 2.0, x, tmp_path / "out", max_batch=2**42)
    with pytest.raises(ExportError, match=r"input x float32\[2199023255552, 1048576\] would "
                                          r"take \d+ bytes, more than the \d+ \(2\*\*62\)"):
        tf.export(x * 2.0, x, tmp_path / "out", batch_size=2**41)
    assert not (tmp_path / "out").exists()


def test_export_takes_numpy_ints(tmp_path):
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    a = tf.export(x * 2.0, x, tmp_path, name="np_ints", batch_size=np.int64(3),
                  threads=np.int32(1))
    assert a.manifest["inputs"][0]["shape"] == [3, 4] and a.manifest["target"]["threads"] == 1
    np.testing.assert_array_equal(tf.load(a.shared)(np.ones((3, 4), np.float32)), 2.0)


# --- 2. byte sizes in the C ABI never overflow -----------------------------------------------
def _api(path: str, name: str) -> dict:
    """The library's size queries and run functions, declared (getattr: a CDLL caches
    the function objects it returns, so their declarations stay)."""
    c = ctypes
    lib = c.CDLL(path)
    signatures = {
        "input_bytes": (c.c_int64, [c.c_int, c.c_int64]),
        "output_bytes": (c.c_int64, [c.c_int, c.c_int64]),
        "create": (c.c_void_p, []), "destroy": (None, [c.c_void_p]),
        "error": (c.c_char_p, [c.c_void_p]),
        "run_batch": (c.c_int, [c.c_void_p, c.c_int64, c.c_void_p, c.c_void_p]),
    }
    api = {}
    for suffix, (restype, argtypes) in signatures.items():
        fn = getattr(lib, f"{name}_{suffix}")
        fn.restype, fn.argtypes = restype, argtypes
        api[suffix] = fn
    return api


def test_the_size_queries_return_minus_one_instead_of_wrapping(mlp):
    api = _api(mlp.artifact.shared, "mlp")
    top = 2**31 - 1  # the mlp's max_batch; x has 64 bytes a row, probs 16
    assert api["input_bytes"](0, 3) == 3 * 64 and api["output_bytes"](0, top) == top * 16
    # 2**57 * 64 is 2**63: it used to wrap to INT64_MIN
    for batch in (2**57, INT64_MAX, 2**62, top + 1, 0, -1, -(2**63)):
        assert api["input_bytes"](0, batch) == -1, batch
        assert api["output_bytes"](0, batch) == -1, batch


def test_run_batch_refuses_a_bad_batch_before_reading_any_pointer(mlp):
    api = _api(mlp.artifact.shared, "mlp")
    ctx = api["create"]()
    assert ctx
    try:
        for batch in (2**57, INT64_MAX, 0, -3):
            # null input and output arrays: reaching them would be a GRAPHC_ERROR_NULL
            assert api["run_batch"](ctx, batch, None, None) == GRAPHC_ERROR_BATCH, batch
            assert f"batch size {batch} is out of range".encode() in api["error"](ctx)
    finally:
        api["destroy"](ctx)


def test_a_fixed_shape_size_ignores_the_batch(tmp_path):
    x = tf.placeholder(tf.float64, [None, 2], name="x")
    a = tf.export(tf.reduce_sum(x), x, tmp_path, name="fixed_sizes", batch_size=3)
    api = _api(a.shared, "fixed_sizes")
    assert [api["input_bytes"](0, b) for b in (0, -1, INT64_MAX)] == [48, 48, 48]
    assert api["output_bytes"](0, 2**62) == 8
    assert api["input_bytes"](1, 1) == -1  # no input 1


def test_python_refuses_batches_out_of_range_before_the_native_call(mlp):
    model = tf.load(mlp.artifact.shared)
    with pytest.raises(ValueError, match=r"batch size 0 is out of range \[1, 2147483647\]"):
        model(np.zeros((0, 16), np.float32))
    with pytest.raises(ValueError, match=r"input x must have shape \['batch', 16\], got a "
                                         r"scalar"):
        model(np.float32(1.0))


FAKE_LIBRARY = """
#include <stdint.h>
#include <stddef.h>
void *fake_create(void) { return NULL; }
void fake_destroy(void *c) { (void)c; }
int fake_run(void *c, const void *const *i, void *const *o) { (void)c; (void)i; (void)o;
    return 1; }
int fake_run_batch(void *c, int64_t b, const void *const *i, void *const *o) { (void)c;
    (void)b; (void)i; (void)o; return 1; }
const char *fake_error(const void *c) { (void)c; return "fake"; }
int64_t fake_max_batch(void) { return MAX_BATCH; }
int fake_num_inputs(void) { return 1; }
int fake_num_outputs(void) { return 0; }
const char *fake_input_name(int i) { return i == 0 ? "x" : NULL; }
int fake_input_dtype(int i) { return i == 0 ? 2 : -1; }
int fake_input_shape(int i, int64_t *d) {
    if (i != 0) return -1;
    if (d != NULL) { d[0] = DIM0; d[1] = DIM1; }
    return 2;
}
const char *fake_output_name(int i) { (void)i; return NULL; }
int fake_output_dtype(int i) { (void)i; return -1; }
int fake_output_shape(int i, int64_t *d) { (void)i; (void)d; return -1; }
const char *fake_version(void) { return "0"; }
int fake_abi_version(void) { return 1; }
"""


def _fake_library(directory, max_batch: str, dim0: str, dim1: str) -> str:
    """A lib<name>.so with the API of an artifact that describes one float32 input of
    shape [dim0, dim1] (what a library exported before export checked its arguments may
    describe)."""
    directory.mkdir()
    source = directory / "fake.c"
    source.write_text(FAKE_LIBRARY)
    path = str(directory / "libfake.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-Wall", "-Werror", f"-DMAX_BATCH={max_batch}",
                    f"-DDIM0={dim0}", f"-DDIM1={dim1}", str(source), "-o", path], check=True)
    return path


def test_load_refuses_a_library_describing_impossible_sizes(tmp_path):
    negative = _fake_library(tmp_path / "negative", "0LL", "-3", "4")  # batch_size=-3 before
    with pytest.raises(ArtifactError, match=r"libfake.so is not a valid graphc export: its "
                                            r"input x has shape \[-3, 4\]: every dimension "
                                            r".* >= 0; re-export it"):
        tf.load(negative)
    huge = _fake_library(tmp_path / "huge", "(1LL << 40)", "-1", "(1LL << 30)")
    with pytest.raises(ArtifactError, match=r"libfake.so is not a valid graphc export: its "
                                            r"input x float32\['batch', 1073741824\] would "
                                            r"take \d+ bytes for 1099511627776 rows"):
        tf.load(huge)
    fine = _fake_library(tmp_path / "fine", "8LL", "-1", "4")
    assert tf.load(fine).inputs[0].shape == (None, 4)  # the checks accept a sane library


# --- 3. load checks the library before dlopen ------------------------------------------------
def test_the_manifest_records_each_files_size_and_sha256(mlp):
    digests = mlp.artifact.manifest["digests"]
    assert sorted(digests) == ["libmlp.a", "libmlp.so", "mlp.h"]
    for file, recorded in digests.items():
        data = open(os.path.join(mlp.artifact.directory, file), "rb").read()
        assert recorded == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def load_in_child(target) -> str:
    """The last line of what load(target) prints in a child process (a library that is
    mapped despite being truncated would kill this one with SIGBUS)."""
    result = subprocess.run([sys.executable, "-c", "import sys, graphc; "
                             "graphc.load(sys.argv[1]); print('loaded')", str(target)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), f"load crashed ({result.returncode}): {result.stderr}"
    return (result.stdout + result.stderr).strip().splitlines()[-1]


@pytest.mark.parametrize("given", ["directory", "mlp.json", "libmlp.so"])
def test_a_truncated_library_is_refused_by_its_manifest(copied, given):
    shared = copied / "libmlp.so"
    full = shared.stat().st_size
    os.truncate(shared, full // 2)
    target = copied if given == "directory" else copied / given
    assert load_in_child(target) == (
        f"graphc.aot.load.ArtifactError: {shared} has {full // 2} bytes but its manifest "
        f"{copied / 'mlp.json'} records {full}: the library is truncated (an interrupted "
        "copy?); copy it again or re-export it with graphc.export")


def test_a_truncated_library_without_digests_is_refused_as_an_incomplete_elf_file(copied):
    manifest = json.loads((copied / "mlp.json").read_text())
    del manifest["digests"]  # a manifest written before graphc recorded digests
    (copied / "mlp.json").write_text(json.dumps(manifest))
    shared = copied / "libmlp.so"
    os.truncate(shared, shared.stat().st_size - 1)
    line = load_in_child(copied)
    assert line.startswith(f"graphc.aot.load.ArtifactError: {shared} is truncated: the "
                           "section header table ends at byte"), line
    (copied / "mlp.json").unlink()  # the .so alone: the same ELF check
    os.truncate(shared, 5000)
    line = load_in_child(shared)
    assert line.startswith(f"graphc.aot.load.ArtifactError: {shared} is truncated: ") and \
        "copy it again or re-export it" in line, line


def test_a_modified_library_is_refused(copied):
    shared = copied / "libmlp.so"
    data = bytearray(shared.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    shared.write_bytes(data)
    with pytest.raises(ArtifactError, match=r"libmlp.so does not have the SHA-256 its manifest "
                                            r".*mlp.json records: the library was modified"):
        tf.load(copied)
    shared.write_bytes(bytes(data) + b"\0")
    with pytest.raises(ArtifactError, match=r"libmlp.so has \d+ bytes but its manifest .* "
                                            r"records \d+: the library is modified"):
        tf.load(shared)  # the .so given: the mlp.json beside it is checked too


def test_an_old_manifest_without_digests_still_loads(copied, mlp):
    manifest = json.loads((copied / "mlp.json").read_text())
    del manifest["digests"]
    (copied / "mlp.json").write_text(json.dumps(manifest))
    x = np.random.default_rng(1).normal(size=(5, 16)).astype(np.float32)
    np.testing.assert_allclose(tf.load(copied / "mlp.json")(x), tf.load(mlp.artifact.shared)(x))


def _without(manifest: dict, keys: tuple) -> dict:
    inner = manifest
    for key in keys[:-1]:
        inner = inner[key]
    del inner[keys[-1]]
    return manifest


@pytest.mark.parametrize("keys", [("files",), ("name",), ("files", "shared"),
                                  ("digests", "libmlp.so", "sha256")], ids="/".join)
def test_a_manifest_missing_a_key_names_the_file_and_the_key(copied, keys):
    path = copied / "mlp.json"
    path.write_text(json.dumps(_without(json.loads(path.read_text()), keys)))
    with pytest.raises(ArtifactError, match=rf"the manifest {re.escape(str(path))} has no "
                                            rf".*\(missing key '{keys[-1]}'\)"):
        tf.load(path)


def test_a_manifest_that_is_not_one_is_refused(copied):
    path = copied / "mlp.json"
    path.write_text("{not json")
    with pytest.raises(ArtifactError, match=rf"{re.escape(str(path))} is not a graphc "
                                            r"artifact manifest \(not JSON"):
        tf.load(copied)
    path.write_text(json.dumps({"name": "mlp"}))
    with pytest.raises(ArtifactError, match=r"not a graphc artifact manifest \(no \"format\""):
        tf.load(path)
    # beside a .so, another tool's mlp.json is not graphc's manifest and is not read
    assert tf.load(copied / "libmlp.so").inputs[0].shape == (None, 16)


def test_a_library_that_graphc_did_not_write_is_refused(tmp_path):
    source = tmp_path / "foo.c"
    source.write_text("int foo(void) { return 1; }\n")
    library = tmp_path / "libfoo.so"
    subprocess.run(["cc", "-shared", "-fPIC", str(source), "-o", str(library)], check=True)
    with pytest.raises(ArtifactError, match=rf"{re.escape(str(library))} is not a graphc "
                                            r"export: it does not define foo_create"):
        tf.load(library)
    (tmp_path / "libjunk.so").write_text("not a library\n")
    with pytest.raises(ArtifactError, match=r"libjunk.so is not a shared library"):
        tf.load(tmp_path / "libjunk.so")
    assert issubclass(ArtifactError, ValueError)
