"""LLVM's optimizer in a long-lived helper process, so its leaks do not accumulate in ours.

Why: llvmlite's new-pass-manager bindings leak native memory on every O3 run (about 100 KB:
the pass builder's instrumentation callbacks and the O3 pipeline are never freed), and a
program that builds ops inside its training loop compiles every step. The leak cannot be
avoided from Python (a pass manager cannot be run twice, and a reused pass builder keeps
callbacks to destroyed objects), so the optimizing runs where the leak is bounded: a worker
process that is replaced after MAX_COMPILES compiles or once its RSS passes MAX_RSS_BYTES.

Protocol, over the worker's stdin and stdout: every message is two frames, a JSON header and
a byte payload, each frame an 8-byte big-endian length and its bytes.
  worker, on start:  {"ready": true, "pid": ...}                    + b""
  parent, request:   {"cpu": "native", "codemodel": "large"|null, "speed": 3}
                                                                     + IR text or bitcode
  worker, reply:     {"rss": bytes}                                  + object code, or the
                     optimized bitcode when codemodel is null
                  or {"rss": ..., "error": "RuntimeError", "message": ...} + b""
The worker exits when its stdin ends, so it never outlives its parent. Whatever it writes to
fd 2 (LLVM's remarks and warnings, a fatal error's last words) goes to a file the parent
reads after each request: shown only when asked (verbose), quoted if the worker dies.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import struct
import subprocess
import sys
import tempfile
import threading
import warnings

# A worker starts in about 0.15 s with about 100 MB resident (mostly shared library pages) and
# grows 60-100 KB a compile; after MAX_COMPILES (or past MAX_RSS_BYTES, which one huge module
# can cause) the next compile starts a fresh one.
MAX_COMPILES = 500
MAX_RSS_BYTES = 512 << 20
START_TIMEOUT_S = 60.0  # a worker that cannot say it is ready by then is not started

_LENGTH = struct.Struct("!Q")

# Exception kinds re-raised in the parent as themselves (what the in-process path raises:
# llvmlite reports IR that does not parse or verify as RuntimeError); others as RuntimeError.
_ERRORS = {e.__name__: e for e in (RuntimeError, ValueError, TypeError, MemoryError)}


def write_message(stream, header: dict, payload: bytes) -> None:
    data = json.dumps(header).encode()
    stream.write(_LENGTH.pack(len(data)) + data + _LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def read_message(stream):
    """(header, payload), or None when the stream ended cleanly before a message."""
    head = _read_frame(stream)
    if head is None:
        return None
    payload = _read_frame(stream)
    if payload is None:
        raise EOFError("the stream ended inside a message")
    return json.loads(head), payload


def _read_frame(stream):
    prefix = stream.read(_LENGTH.size)
    if not prefix:
        return None
    if len(prefix) < _LENGTH.size:
        raise EOFError("the stream ended inside a frame's length")
    (length,) = _LENGTH.unpack(prefix)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError("the stream ended inside a frame")
    return data


def rss_bytes() -> int:
    """This process's resident set size (Linux: now; elsewhere: its peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


# --- the worker -------------------------------------------------------------------------------
def serve(requests, replies) -> None:
    """Answer requests until `requests` ends; each is optimized at O3 (graphc's pipeline)."""
    compile_here = _machine().compile_here
    write_message(replies, {"ready": True, "pid": os.getpid()}, b"")
    while (message := read_message(requests)) is not None:
        header, payload = message
        try:
            code = compile_here(payload, header["cpu"], header["codemodel"],
                                header.get("speed", 3))
            reply = {}
        except Exception as e:  # reported to the parent, which raises it there
            code, reply = b"", {"error": type(e).__name__, "message": str(e)}
        reply["rss"] = rss_bytes()
        sys.stderr.flush()  # what Python printed reaches the parent's log before the reply
        write_message(replies, reply, code)


def _machine():
    """graphc.codegen_llvm.machine, which needs only llvmlite. A worker runs this file as a
    script and loads that module from beside it, not through the graphc package: importing
    graphc (numpy, every op) took 0.4 of a worker's 0.55 s start, and a plan's parts wait
    for their workers to start."""
    if __package__:
        from graphc.codegen_llvm import machine
        return machine
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "machine.py")
    spec = importlib.util.spec_from_file_location("graphc_compile_worker_machine", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray writes to stdout go to the log, never into the reply stream
    try:
        serve(sys.stdin.buffer, replies)
    except BrokenPipeError:  # the parent went away while we compiled
        pass


# --- the parent's side ------------------------------------------------------------------------
class WorkerDied(Exception):
    pass


class CompileWorker:
    """A compile worker started on first use and replaced when spent, dead, or inherited
    through fork. Thread-safe: requests are serialized. `compile` returns None when no
    worker can be started (warned once); the caller then compiles in its own process."""

    def __init__(self, command=None, max_compiles: int = MAX_COMPILES,
                 max_rss: int = MAX_RSS_BYTES):
        self.command = command or [sys.executable, os.path.abspath(__file__)]
        self.max_compiles, self.max_rss = max_compiles, max_rss
        self.unavailable = False
        self.starts = 0  # workers started so far (tests read it)
        self._lock = threading.Lock()
        self._proc = self._log = None
        self._owner = os.getpid()
        self._compiles = 0
        self._last_status = None
        self._hooks_registered = False

    @property
    def pid(self):
        """The running worker's process id, or None."""
        return self._proc.pid if self._proc is not None else None

    def compile(self, source: bytes, cpu: str, codemodel, verbose: bool = False,
                speed: int = 3):
        """Object code (or bitcode when codemodel is None) for `source` optimized at
        O`speed`, or None."""
        with self._lock:
            if self._owner != os.getpid():
                self._forget()
            for attempt in range(2):  # a worker found dead is replaced and asked again
                if not self._ensure_started():
                    return None
                try:
                    header, code = self._request(source, cpu, codemodel, verbose, speed)
                except WorkerDied as died:
                    if attempt:
                        raise RuntimeError(f"LLVM's compile worker died twice compiling this "
                                           f"module: {died}") from None
                    continue
                except BaseException:  # an interrupt mid-message leaves the pipes unusable
                    self._kill()
                    raise
                if "error" in header:  # the worker is fine: only this module failed
                    kind = _ERRORS.get(header["error"])
                    if kind is None:
                        raise RuntimeError(f"{header['error']}: {header['message']}")
                    raise kind(header["message"])
                return code

    def close(self) -> None:
        """Stop the worker (it exits when its stdin ends) and reap it."""
        with self._lock:
            if self._owner == os.getpid():
                self._stop()

    def _request(self, source, cpu, codemodel, verbose, speed=3):
        """(reply header, payload); WorkerDied if the worker ended instead of answering."""
        try:
            write_message(self._proc.stdin, {"cpu": cpu, "codemodel": codemodel,
                                             "speed": speed}, source)
            message = read_message(self._proc.stdout)
        except (BrokenPipeError, EOFError):
            message = None
        log = self._take_log()
        if message is None:
            self._kill()
            raise WorkerDied(f"exit status {self._last_status}; it said: "
                             f"{log.strip()[-2000:] or 'nothing'}")
        if verbose and log:
            sys.stderr.write(log)
        header, code = message
        self._compiles += 1
        if self._compiles >= self.max_compiles or header["rss"] > self.max_rss:
            self._stop()  # bound the leak: the next compile starts a fresh worker
        return header, code

    def _ensure_started(self) -> bool:
        if self._proc is not None and self._proc.poll() is None:
            return True
        if self._proc is not None:
            self._kill()
        if self.unavailable:
            return False
        try:
            self._start()
            return True
        except (OSError, EOFError, ValueError, WorkerDied) as e:
            self._kill()
            self.unavailable = True
            warnings.warn(f"graphc: LLVM's compile worker could not be started ({e}); "
                          f"compiling in this process, where LLVM leaks memory on every "
                          f"compile", RuntimeWarning, stacklevel=2)
            return False

    def _start(self) -> None:
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(self.command, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._log,
                                      start_new_session=True)  # no terminal signals
        self._compiles, self.starts = 0, self.starts + 1
        self._register_hooks()
        ready, _, _ = select.select([self._proc.stdout], [], [], START_TIMEOUT_S)
        message = read_message(self._proc.stdout) if ready else None
        if message is None or not message[0].get("ready"):
            self._proc.kill()
            self._proc.wait()
            raise WorkerDied(f"exit status {self._proc.returncode}: "
                             f"{self._take_log().strip()[-2000:] or 'no message'}")

    def _take_log(self) -> str:
        """What the worker wrote to fd 2 since last asked; the file is emptied (the worker
        is idle or dead now, so nothing is lost between the read and the truncation)."""
        fd = self._log.fileno()
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)  # the worker shares this offset: it writes from 0 again
        return data.decode(errors="replace")

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.stdin.close()  # the worker sees EOF and exits
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._kill()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            self._last_status = proc.wait()
        self._close(proc)

    def _close(self, proc) -> None:
        """Close our ends of a worker's pipes (if any) and the log."""
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:  # a dead worker's stdin cannot take the buffered rest
                    pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def _forget(self) -> None:
        """In a forked child: drop the parent's worker without signalling or reaping it
        (it is not our child), closing only our copies of its pipes so that it still sees
        EOF when the parent exits."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.returncode = 0  # not ours to wait for; keeps Popen from tracking it
        self._close(proc)
        self._owner = os.getpid()

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # another thread may have held it across the fork
        self._forget()

    def _register_hooks(self) -> None:
        if not self._hooks_registered:
            self._hooks_registered = True
            atexit.register(self.close)
            os.register_at_fork(after_in_child=self._after_fork_in_child)


_shared = CompileWorker()
_helpers: list = []  # more workers, for the parts of a module compiled at the same time
_helpers_lock = threading.Lock()


def start_workers(count: int) -> None:
    """Start the shared worker and the helpers 1..count that are not running yet, each on a
    background thread: each takes about 0.15 s to start, which a caller that knows a module
    in `count` parts is coming (a model being imported) spends on its own work instead of
    waiting for them at the compile. (Its parts go to workers 0..count - 1, or 1..count
    while the shared worker compiles the GEMM library: jit.compile_jit_objects.)"""
    def start(worker):
        with worker._lock:
            if worker._owner != os.getpid():
                worker._forget()
            worker._ensure_started()  # (a failure is met again, and reported, by compile)
    idle = [w for w in (shared_worker(i) for i in range(count + 1))
            if w._proc is None and not w.unavailable]
    for worker in idle:
        threading.Thread(target=start, args=(worker,), daemon=True,
                         name="graphc-compile-worker-start").start()


def shared_worker(i: int = 0) -> CompileWorker:
    """This process's compile worker (graphc.codegen_llvm.jit sends it every O3 compile);
    i > 0: the i-th helper, started on first use, which compiles one part of a module
    split for the CPU's cores (jit.compile_jit_objects) beside the others."""
    if i == 0:
        return _shared
    with _helpers_lock:
        while len(_helpers) < i:
            _helpers.append(CompileWorker())
        return _helpers[i - 1]


if __name__ == "__main__":
    # (run as a script: its own folder, first on sys.path, holds graphc's modules, which
    # must not be imported by their bare names)
    _here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != _here]
    main()
