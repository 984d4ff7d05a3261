"""LLVM optimizes in a compile worker: our memory stays flat, LLVM's remarks stay quiet unless
asked, a dead or spent worker is replaced, and the code is the code the in-process path makes."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import graphc as tf
from graphc.codegen_llvm import compile_worker, jit


def run_program(source: str, cache_dir, timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(cache_dir))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(source)], capture_output=True,
                          text=True, env=env, timeout=timeout)


# 150 cold compiles after 20 to warm up, a session each (closed, so its plan is freed). With
# LLVM optimizing in-process (llvmlite's O3 pipeline leaks about 90 KB a run) RSS grew 13 MB;
# through the compile worker it grows about 1 MB, whatever the number of compiles.
LEAK_PROGRAM = """
    import gc, numpy as np, graphc as tf
    def rss_mb():
        return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
    x = tf.placeholder(tf.float32, [None, 8])
    for i in range(170):
        if i == 20:
            gc.collect()
            base = rss_mb()
        y = tf.reduce_sum(x * tf.ones([1 + i, 8]))  # a new shape: new IR, a cold compile
        with tf.Session() as s:
            assert s.run(y, {x: np.ones((1, 8), np.float32)}) == 8 * (1 + i)
    gc.collect()
    print(rss_mb() - base)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc")
def test_cold_compiles_keep_native_memory_flat(tmp_path):
    done = run_program(LEAK_PROGRAM, tmp_path / "cache", timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout) < 5.0, f"RSS grew {float(done.stdout):.1f} MB in 150 compiles"


# Loops whose metadata asks for vectorization that LLVM declines: at O3 it prints
# "warning: <unknown>:0:0: loop not vectorized: ..." on fd 2 (an unrolled LSTM printed 19).
# Which of graphc's own loops LLVM declines depends on the CPU (on an AVX2-only Zen 3 it
# vectorizes all of the program's), so the program also compiles, through the same path,
# a loop that no CPU vectorizes: a recurrence, a[i] = 2 a[i - 1] + 1.
REMARK_PROGRAM = """
    import numpy as np, graphc as tf
    from graphc.codegen_llvm.jit import compile_jit_objects
    x = tf.placeholder(tf.float32, [4, 16])
    c = tf.zeros([4, 16])
    for t in range(2):
        c = tf.sigmoid(x) * c + tf.sigmoid(x + float(t)) * tf.tanh(x)
    options = tf.Options(debug={debug}, compile_in_process={in_process})
    with tf.Session(config=options) as s:
        print(s.run(tf.reduce_sum(c), {{x: np.ones((4, 16), np.float32)}}))
    compile_jit_objects([{recurrence!r}], options)
"""
RECURRENCE = """
define void @recurrence(ptr noalias %a, i64 %n) {
entry:
  br label %loop
loop:
  %i = phi i64 [ 1, %entry ], [ %next, %loop ]
  %j = sub i64 %i, 1
  %pp = getelementptr float, ptr %a, i64 %j
  %prev = load float, ptr %pp
  %v = fmul float %prev, 2.0
  %w = fadd float %v, 1.0
  %p = getelementptr float, ptr %a, i64 %i
  store float %w, ptr %p
  %next = add i64 %i, 1
  %done = icmp eq i64 %next, %n
  br i1 %done, label %exit, label %loop, !llvm.loop !0
exit:
  ret void
}
!0 = distinct !{!0, !1, !2}
!1 = !{!"llvm.loop.vectorize.enable", i1 true}
!2 = !{!"llvm.loop.vectorize.width", i32 8}
"""


@pytest.mark.parametrize("in_process", [False, True], ids=["worker", "in_process"])
@pytest.mark.parametrize("debug", [False, True], ids=["quiet", "debug"])
def test_llvm_remarks_show_only_when_asked(tmp_path, in_process, debug):
    done = run_program(REMARK_PROGRAM.format(debug=debug, in_process=in_process,
                                             recurrence=RECURRENCE), tmp_path / "cache")
    assert done.returncode == 0, done.stderr[-2000:]
    sigmoid = 1 / (1 + np.exp(-np.array([1.0, 2.0])))
    expected = 64 * np.tanh(1.0) * (sigmoid[0] ** 2 + sigmoid[1])  # c after the two steps
    assert float(done.stdout) == pytest.approx(expected, rel=1e-5)
    if debug:
        assert "loop not vectorized" in done.stderr
    else:
        assert "warning:" not in done.stderr, done.stderr[-2000:]


def _session_sum(cache_dir, n: int, in_process: bool = False) -> float:
    x = tf.placeholder(tf.float32, [None, n])
    y = tf.reduce_sum(tf.tanh(x) * tf.range(n, dtype=tf.float32))
    options = tf.Options(cache_dir=str(cache_dir), compile_in_process=in_process)
    with tf.Session(config=options) as s:
        return s.run(y, {x: np.full((2, n), 0.5, np.float32)})


def _expected_sum(n: int) -> float:
    return 2 * np.tanh(np.float32(0.5)) * n * (n - 1) / 2


def test_a_killed_worker_is_replaced(tmp_path):
    assert _session_sum(tmp_path, 7) == pytest.approx(_expected_sum(7), rel=1e-6)
    worker = compile_worker.shared_worker()
    old = worker.pid
    assert old is not None and old != os.getpid()
    os.kill(old, signal.SIGKILL)
    assert _session_sum(tmp_path, 9) == pytest.approx(_expected_sum(9), rel=1e-6)
    assert worker.pid not in (None, old)


def test_a_spent_worker_is_replaced_and_reaped():
    worker = compile_worker.CompileWorker(max_compiles=2)
    pids = []
    for i in range(3):
        ir = f"define double @f(double %x) {{\n  %y = fadd double %x, {i}.0\n  ret double %y\n}}"
        assert worker.compile(ir.encode(), "native", jit.JIT_CODE_MODEL)[:4] == b"\x7fELF"
        pids.append(worker.pid)
    assert worker.starts == 2 and pids[1] is None
    assert pids[0] is not None and pids[2] is not None and pids[0] != pids[2]
    worker.close()
    assert worker.pid is None


def test_worker_code_equals_in_process_code(tmp_path, monkeypatch):
    x = tf.placeholder(tf.float32, [None, 5])
    y = tf.nn.softmax(tf.matmul(x, tf.ones([5, 3])) + tf.exp(tf.range(3, dtype=tf.float32)))
    captured, original = [], jit.compile_jit_objects

    def spy(texts, *args, **kwargs):  # the plan's IR, as the session compiles it
        captured.extend(texts)
        return original(texts, *args, **kwargs)

    monkeypatch.setattr(jit, "compile_jit_objects", spy)
    with tf.Session(config=tf.Options(cache_dir=str(tmp_path))) as s:
        via_worker = s.run(y, {x: np.ones((2, 5), np.float32)})
    monkeypatch.undo()
    (ir_text,) = [text for text in captured if '@"graphc_run"' in text]  # not the library
    in_process = tf.Options(compile_in_process=True)
    assert jit.compile_jit_object(ir_text) == jit.compile_jit_object(ir_text, in_process)
    assert jit.compile_object(ir_text, "generic") == \
        jit.compile_object(ir_text, "generic", in_process)
    assert str(jit.optimize(ir_text)) == str(jit.optimize(ir_text, options=in_process))
    np.testing.assert_array_equal(_session_sum(tmp_path / "a", 6, in_process=True),
                                  _session_sum(tmp_path / "b", 6))
    logits = np.exp(np.exp(np.arange(3.0)))  # softmax(5 + exp(range(3))) = softmax(exp(...))
    np.testing.assert_allclose(via_worker, np.tile(logits / logits.sum(), (2, 1)), rtol=1e-6)


def test_bad_ir_raises_the_in_process_error():
    bad = "define i32 @f() {\n  ret i64 0\n}"
    with pytest.raises(RuntimeError) as in_process:
        jit.compile_jit_object(bad, tf.Options(compile_in_process=True))
    jit.compile_jit_object("define i32 @h() {\n  ret i32 1\n}")
    worker = compile_worker.shared_worker().pid
    with pytest.raises(RuntimeError) as via_worker:
        jit.compile_jit_object(bad)
    assert str(via_worker.value) == str(in_process.value)
    assert "parsing error" in str(via_worker.value)
    assert compile_worker.shared_worker().pid == worker  # the worker itself is fine


def test_without_a_worker_compiling_happens_here_warned_once(monkeypatch):
    broken = compile_worker.CompileWorker(command=[sys.executable, "-c", "raise SystemExit(3)"])
    monkeypatch.setattr(compile_worker, "_shared", broken)
    ir = "define i32 @g() {\n  ret i32 7\n}"
    with pytest.warns(RuntimeWarning, match="could not be started"):
        code = jit.compile_jit_object(ir)
    assert code == jit.compile_jit_object(ir, tf.Options(compile_in_process=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert jit.compile_jit_object(ir) == code  # no second warning, no second start
    assert broken.starts == 1


PARENT_KILLED_PROGRAM = """
    import os, signal, numpy as np, graphc as tf
    from graphc.codegen_llvm.compile_worker import shared_worker
    x = tf.placeholder(tf.float32, [3])
    with tf.Session() as s:
        s.run(x + 1.0, {x: np.ones(3, np.float32)})
    print(shared_worker().pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")  # exited, not reaped
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc")
def test_the_worker_exits_when_its_parent_is_killed(tmp_path):
    done = run_program(PARENT_KILLED_PROGRAM, tmp_path / "cache")
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    pid = int(done.stdout)
    deadline = time.monotonic() + 20
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pid)


FORK_PROGRAM = """
    import os, numpy as np, graphc as tf
    from graphc.codegen_llvm.compile_worker import shared_worker
    x = tf.placeholder(tf.float32, [3])
    s = tf.Session()
    assert s.run(x + 1.0, {x: np.ones(3, np.float32)}).tolist() == [2, 2, 2]
    parents = shared_worker().pid
    child = os.fork()
    if child == 0:  # the child gets a worker of its own, never the parent's pipes
        ok = s.run(x * x, {x: np.full(3, 3, np.float32)}).tolist() == [9, 9, 9]
        os._exit(0 if ok and shared_worker().pid not in (None, parents) else 1)
    assert os.waitpid(child, 0)[1] == 0
    assert s.run(tf.abs(x), {x: np.full(3, -4, np.float32)}).tolist() == [4, 4, 4]
    assert shared_worker().pid == parents
    print("ok")
"""


def test_a_forked_child_uses_its_own_worker(tmp_path):
    done = run_program(FORK_PROGRAM, tmp_path / "cache")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_start_workers_starts_the_shared_worker_and_the_helpers():
    """An imported model starts the workers its plan's parts will be compiled on (0..n, the
    shared one too: it is idle when the GEMM library came from the cache) while it is
    imported; they then compile as usual."""
    script = textwrap.dedent("""
        import time
        from graphc.codegen_llvm import compile_worker
        compile_worker.start_workers(2)
        workers = [compile_worker.shared_worker(i) for i in range(3)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
                w._proc is not None and w._proc.poll() is None for w in workers):
            time.sleep(0.01)
        print([w._proc is not None and w._proc.poll() is None for w in workers],
              [w.starts for w in workers])
        compile_worker.start_workers(2)  # running already: nothing more is started
        time.sleep(0.2)
        print([w.starts for w in workers])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[True, True, True] [1, 1, 1]", "[1, 1, 1]"]
