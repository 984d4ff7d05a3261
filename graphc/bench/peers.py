"""The contenders: graphc itself, numpy, and the optional peers (peers_optional.py).

A peer adapter answers four questions: is it importable (`status`), how is it configured in
ways that change its speed (`config`), how is it told to use N threads (`set_threads`, which
says what it did, because not every library can be told), and how does it run a case
(`systems`: zero-argument callables, or [] when it has no implementation of that case).
Adapters import their library only when asked, so a missing library costs nothing.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import time
from typing import Optional

import numpy as np

from graphc.bench.harness import System


class Peer:
    name = ""
    module = ""  # what must be importable

    def status(self) -> str:
        """"ok", or why the peer is left out (never an error)."""
        return "ok" if importlib.util.find_spec(self.module) else "skipped (not installed)"

    def config(self) -> dict:
        return {}

    def set_threads(self, n: int) -> str:
        return "unchanged"

    def systems(self, case) -> list:
        return []

    def restore(self) -> None:
        """Undo set_threads, where that is possible."""


# --- OpenBLAS threads, for numpy ---------------------------------------------------------------
class BlasControl:
    """numpy's BLAS thread count and core type, through threadpoolctl when installed, else
    through OpenBLAS's own C entry points found in the loaded library (the same functions
    threadpoolctl calls); `method` says which, or why neither works."""

    def __init__(self):
        self.lib: Optional[ctypes.CDLL] = None
        self.symbols: dict = {}
        if importlib.util.find_spec("threadpoolctl"):
            self.method = "threadpoolctl"
            return
        path = _loaded_openblas()
        if path is None:
            self.method = "none (no OpenBLAS library loaded by numpy)"
            return
        self.lib = ctypes.CDLL(path)
        for what in ("set_num_threads", "get_num_threads", "get_corename"):
            for symbol in _symbol_names(what):
                if hasattr(self.lib, symbol):
                    self.symbols[what] = getattr(self.lib, symbol)
                    break
        self.method = "OpenBLAS C API" if "set_num_threads" in self.symbols else \
            "none (OpenBLAS exports no set_num_threads)"
        if "get_corename" in self.symbols:
            self.symbols["get_corename"].restype = ctypes.c_char_p

    def set(self, n: int) -> str:
        if self.method == "threadpoolctl":
            from threadpoolctl import threadpool_limits
            self._limits = threadpool_limits(limits=n, user_api="blas")  # kept until next set
            return f"threadpoolctl limited BLAS to {n}"
        if "set_num_threads" in self.symbols:
            self.symbols["set_num_threads"](ctypes.c_int(n))
            return f"openblas_set_num_threads({n})"
        return (f"could not change OPENBLAS_NUM_THREADS at run time ({self.method}); "
                f"$OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}")

    def threads(self) -> Optional[int]:
        if self.method == "threadpoolctl":
            from threadpoolctl import threadpool_info
            blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
            return blas[0]["num_threads"] if blas else None
        get = self.symbols.get("get_num_threads")
        return int(get()) if get else None

    def corename(self) -> Optional[str]:
        if self.method == "threadpoolctl":
            from threadpoolctl import threadpool_info
            blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
            return blas[0].get("architecture") if blas else None
        get = self.symbols.get("get_corename")
        return get().decode() if get else None


def _loaded_openblas() -> Optional[str]:
    try:
        with open("/proc/self/maps") as maps:
            found = re.findall(r"(/\S*openblas\S*\.so\S*)", maps.read())
    except OSError:
        return None
    return found[0] if found else None


def _symbol_names(what: str) -> list:
    """openblas_<what> as the builds name it (scipy-openblas adds a prefix and a suffix)."""
    return [f"{prefix}openblas_{what}{suffix}" for prefix in ("", "scipy_")
            for suffix in ("", "64_", "_64")]


# --- numpy -------------------------------------------------------------------------------------
class NumpyPeer(Peer):
    name = module = "numpy"

    def __init__(self):
        self.blas = BlasControl()

    def config(self) -> dict:
        blas = {}
        try:
            deps = np.show_config(mode="dicts").get("Build Dependencies", {})
            blas = {k: deps.get("blas", {}).get(k) for k in ("name", "version",
                                                            "openblas configuration")}
        except (TypeError, AttributeError):  # numpy < 1.25 has no mode="dicts"
            pass
        return {"version": np.__version__, "blas": blas,
                "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
                "OPENBLAS_THREAD_TIMEOUT": os.environ.get("OPENBLAS_THREAD_TIMEOUT",
                                                          "(unset)"),
                "blas_core": self.blas.corename(), "blas_threads": self.blas.threads(),
                "thread_control": self.blas.method}

    def set_threads(self, n: int) -> str:
        if not hasattr(self, "_saved"):
            self._saved = self.blas.threads()
        return self.blas.set(n)

    def restore(self) -> None:
        if getattr(self, "_saved", None):
            self.blas.set(self._saved)

    def systems(self, case) -> list:
        if case.numpy is None:
            return []
        fn = case.numpy(case.arrays)
        out = [System("numpy", "numpy", fn, "in place" if case.stateful else "fresh")]
        if case.numpy_out is not None and not case.stateful:
            buffer = np.empty_like(np.asarray(fn()))
            out.append(System("numpy out=", "numpy", case.numpy_out(case.arrays, buffer),
                              "reused (out=)"))
        return out


# --- graphc ------------------------------------------------------------------------------------
def graphc_systems(case, target: str, threads: int, cache_dir: Optional[str] = None,
                   fast_math: bool = False):
    """(systems, session): `case` built in a fresh graph and compiled for `target` (with
    Options.fast_math as given). Compile time is make_callable plus the first call (which
    compiles), timed together."""
    import graphc as tf

    graph = tf.Graph()
    with graph.as_default():
        fetches, placeholders = case.build(tf)
        init = tf.global_variables_initializer()
    sess = tf.Session(target=target, graph=graph,
                      config=tf.Options(threads=threads, cache_dir=cache_dir,
                                        fast_math=fast_math))
    sess.run(init)
    if case.setup is not None:
        case.setup(sess)
    values = case.feed_values
    start = time.perf_counter()
    call = sess.make_callable(fetches, placeholders)
    first = call(*values)
    compile_s = time.perf_counter() - start
    systems = [System("graphc", "graphc", lambda: call(*values),
                      "in place" if case.stateful else "fresh", compile_s,
                      first[-1] if case.stateful and isinstance(first, list) else None)]
    outs = None if case.stateful else _out_buffers(first)
    if outs is not None:
        systems.append(System("graphc out=", "graphc", lambda: call(*values, out=outs),
                              "reused (out=)"))
    return systems, sess


def _out_buffers(first):
    """Arrays shaped like a call's results, for out=; None when the fetch structure is not one
    array or a flat list of arrays (out= takes one array per fetch)."""
    if isinstance(first, (list, tuple)):
        if all(isinstance(v, np.ndarray) for v in first):
            return [np.empty_like(v) for v in first]
        return None
    return np.empty_like(first) if isinstance(first, (np.ndarray, np.generic)) else None
