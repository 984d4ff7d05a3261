"""Options: the one place where graphc's configuration is defined and the environment read.

    graphc.Options(target="llvm", threads=None, opt_level=2, cache_dir=None,
                   fast_math=False, debug=False, disable_passes=(), fuse=True,
                   compile_in_process=False)

A Session takes its options from `Session(target=..., config=Options(...))`; what is left
unset comes from `set_default_target` / `set_default_options`, then from the environment
(`GRAPHC_TARGET`, read here and nowhere else), then from the defaults below. The on-disk
cache directory is resolved the same way by `resolve_cache_dir` (`GRAPHC_CACHE_DIR`,
`XDG_CACHE_HOME`, `HOME`).
"""

from __future__ import annotations

import dataclasses
import os
from types import SimpleNamespace
from typing import Optional

ENV_TARGET = "GRAPHC_TARGET"
DEFAULT_TARGET = "llvm"  # compiled CPU code; "reference" runs the numpy oracle
ENV_CACHE_DIR = "GRAPHC_CACHE_DIR"


# The graph passes, in pipeline order: passes/pipeline.py runs them (its PASSES list the same
# names in the same order; tests/passes/test_pipeline.py checks that they agree).
PASS_NAMES = ("canonicalize", "fold_constants", "layout", "simplify", "stabilize", "dce")


@dataclasses.dataclass(frozen=True)
class Options:
    target: Optional[str] = None  # None: the default target
    threads: Optional[int] = None  # None: all cores
    opt_level: int = 2
    cache_dir: Optional[str] = None
    fast_math: bool = False
    debug: bool = False
    disable_passes: tuple = ()  # names of graph passes not to run (graphc.passes.pipeline)
    fuse: bool = True  # False: one kernel per node (graphc.check bisects with it)
    # True: LLVM optimizes in this process rather than in the compile worker, at the cost of
    # about 100 KB of native memory leaked per compile (graphc.codegen_llvm.compile_worker)
    compile_in_process: bool = False

    def __post_init__(self):
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"Options.threads must be a positive int or None, got "
                             f"{self.threads!r}")
        if self.opt_level not in (0, 1, 2, 3):
            raise ValueError(f"Options.opt_level must be 0..3, got {self.opt_level!r}")
        if isinstance(self.disable_passes, str):
            raise ValueError(f"Options.disable_passes must be a list of pass names, got "
                             f"{self.disable_passes!r}")
        object.__setattr__(self, "disable_passes", tuple(self.disable_passes))
        if self.disable_passes:
            unknown = [p for p in self.disable_passes if p not in PASS_NAMES]
            if unknown:
                raise ValueError(f"Options.disable_passes: unknown pass(es) {unknown}; the "
                                 f"passes are {', '.join(PASS_NAMES)}")

    def replace(self, **changes) -> "Options":
        return dataclasses.replace(self, **changes)


_defaults = {"options": Options()}


def set_default_options(options: Options) -> None:
    if not isinstance(options, Options):
        raise TypeError(f"expected graphc.Options, got {type(options).__name__}")
    _defaults["options"] = options


def set_default_target(target: Optional[str]) -> None:
    """The target every Session uses unless told otherwise (None: back to the environment)."""
    _defaults["options"] = _defaults["options"].replace(target=target)


def default_options() -> Options:
    return _defaults["options"]


def resolve_target(explicit: Optional[str], options: Optional[Options] = None) -> str:
    """Session argument > options > set_default_target > $GRAPHC_TARGET > DEFAULT_TARGET."""
    for candidate in (explicit, options.target if options else None,
                      _defaults["options"].target, os.environ.get(ENV_TARGET)):
        if candidate:
            return candidate
    return DEFAULT_TARGET


def resolve_cache_dir(options: Optional[Options] = None) -> str:
    """The compiled-code cache directory, as an absolute path (it may not exist yet).

    options.cache_dir > set_default_options(...).cache_dir > $GRAPHC_CACHE_DIR >
    $XDG_CACHE_HOME/graphc > ~/.cache/graphc. Empty values count as unset, "~" is expanded,
    and a relative path is made absolute now, so the answer does not change if the process
    later changes its working directory. A relative $XDG_CACHE_HOME is ignored, as the XDG
    base-directory specification requires.
    """
    for candidate in (options.cache_dir if options else None, _defaults["options"].cache_dir,
                      os.environ.get(ENV_CACHE_DIR)):
        if candidate:
            return os.path.abspath(os.path.expanduser(os.fspath(candidate)))
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.abspath(os.path.join(base, "graphc"))


class ConfigProto(SimpleNamespace):
    """Accepts tf.ConfigProto arguments so TF1 programs run; intra_op_parallelism_threads
    sets the thread count, the rest (device placement, GPU memory growth) has no effect."""

    def __init__(self, **kwargs):
        kwargs.setdefault("gpu_options", SimpleNamespace(allow_growth=False,
                                                         per_process_gpu_memory_fraction=1.0))
        super().__init__(**kwargs)

    def to_options(self) -> Options:
        threads = getattr(self, "intra_op_parallelism_threads", 0) or None
        return default_options().replace(threads=threads)


GPUOptions = SimpleNamespace
