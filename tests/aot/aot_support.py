"""Shared by the AOT tests: two exported models, each compiled once per test session
(`shared`; test modules wrap it in fixtures), and helpers that build and run C programs
against them with the system C compiler. Not a conftest.py: tests elsewhere import the
top-level conftest by that module name."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import graphc as tf

HERE = Path(__file__).resolve().parent
C_DIR = HERE / "c"
DOCS = HERE.parent.parent / "docs"

requires_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)")


@dataclass
class Exported:
    artifact: object  # graphc.aot.Artifact
    session: object  # the Session it was exported from (still open)
    feeds: dict  # input name -> placeholder
    fetches: dict  # output name -> tensor

    def reference(self, values: dict) -> dict:
        """Session.run of every output on the same inputs."""
        with self.session.graph.as_default():
            got = self.session.run(self.fetches, {self.feeds[k]: v for k, v in values.items()})
        return {k: np.asarray(v) for k, v in got.items()}


def build_mlp(directory, **options) -> Exported:
    """A 2-layer MLP trained a few SGD steps, exported with its trained weights."""
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 16], name="x")
        labels = tf.placeholder(tf.int32, [None], name="labels")
        w1 = tf.Variable(rng.normal(0, 0.3, (16, 32)).astype(np.float32), name="w1")
        b1 = tf.Variable(np.zeros(32, np.float32), name="b1")
        w2 = tf.Variable(rng.normal(0, 0.3, (32, 4)).astype(np.float32), name="w2")
        logits = tf.matmul(tf.nn.relu(tf.matmul(x, w1) + b1), w2)
        probs = tf.nn.softmax(logits, name="probs")
        loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
        train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
        data = rng.normal(size=(64, 16)).astype(np.float32)
        sess = tf.Session(graph=graph)
        sess.run(tf.global_variables_initializer())
        before = sess.run(w1)
        for _ in range(5):
            sess.run(train, {x: data, labels: data[:, :4].argmax(axis=1).astype(np.int32)})
        assert not np.array_equal(before, sess.run(w1))  # the weights did train
        artifact = tf.export(probs, x, directory, name=options.pop("name", "mlp"),
                             session=sess, **options)
    return Exported(artifact, sess, {"x": x}, {"probs": probs})


def build_stats(directory, **options) -> Exported:
    """Reductions over inner axes, broadcasting, argmax, a gather (with its range check),
    and an output that does not depend on the batch."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 5, 3], name="x")
        idx = tf.placeholder(tf.int32, [None], name="idx")
        scale = tf.placeholder(tf.float32, [3], name="scale")
        centered = x - tf.reduce_mean(x, axis=1, keepdims=True)
        table = tf.constant(np.arange(12, dtype=np.float32).reshape(6, 2))
        fetches = {
            "centered": centered,
            "norm": tf.sqrt(tf.reduce_sum(tf.square(centered), axis=[1, 2])),
            "peak": tf.reduce_max(x * scale, axis=2),
            "arg": tf.argmax(x, axis=2),
            "emb": tf.gather(table, idx) * tf.reduce_sum(scale),
            "total": tf.reduce_sum(scale * 2.0),
        }
        feeds = {"x": x, "idx": idx, "scale": scale}
        sess = tf.Session(graph=graph)
        artifact = tf.export(fetches, feeds, directory, name=options.pop("name", "stats"),
                             session=sess, **options)
    return Exported(artifact, sess, feeds, fetches)


def stats_inputs(batch: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(batch, 5, 3)).astype(np.float32),
            "idx": rng.integers(0, 6, size=batch).astype(np.int32),
            "scale": np.array([0.5, -1.0, 2.0], np.float32)}


_BUILT: dict = {}  # one export per model and test session, whichever module asks first


def shared(model: str, tmp_path_factory) -> Exported:
    """The 'mlp' or 'stats' export of this test session (test modules wrap it in fixtures)."""
    if model not in _BUILT:
        build = {"mlp": build_mlp, "stats": build_stats}[model]
        _BUILT[model] = build(tmp_path_factory.mktemp(model))
    return _BUILT[model]


def compile_c(sources, artifacts, output, model=None, static=False, extra=()) -> str:
    """Build a C program against the artifacts' headers, with their shared libraries (rpath)
    or their static archives; `model` defines MODEL / HEADER for the generic programs."""
    command = ["cc", "-std=c99", "-O1", "-Wall", "-Werror", "-o", str(output)]
    command += [str(s) for s in sources]
    for a in artifacts:
        command.append(f"-I{a.directory}")
    if model is not None:
        command += [f"-DMODEL={model}", f'-DHEADER="{model}.h"']
    for a in artifacts:
        if static:
            command.append(a.static)
        else:
            command += [f"-L{a.directory}", f"-l{a.name}", f"-Wl,-rpath,{a.directory}"]
    command += ["-lm", "-pthread", *extra]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return str(output)


def run_program(*argv, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "LC_ALL": "C"})
    if check:
        assert result.returncode == 0, result.stderr
    return result


def doc_c_program(path: Path) -> str:
    """The ```c block of docs/aot.md that holds a main function."""
    blocks = re.findall(r"^```c[ \t]*\n(.*?)^```", (DOCS / "aot.md").read_text(),
                        re.DOTALL | re.MULTILINE)
    (program,) = [b for b in blocks if "int main(" in b]
    path.write_text(program)
    return str(path)
