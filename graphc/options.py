"""Options: the one place where graphc's configuration is defined and the environment read.

    graphc.Options(target="reference", threads=None, opt_level=2, cache_dir=None,
                   fast_math=False, debug=False)

A Session takes its options from `Session(target=..., config=Options(...))`; what is left
unset comes from `set_default_target` / `set_default_options`, then from the environment
(`GRAPHC_TARGET`, read here and nowhere else), then from the defaults below.
"""

from __future__ import annotations

import dataclasses
import os
from types import SimpleNamespace
from typing import Optional

ENV_TARGET = "GRAPHC_TARGET"


@dataclasses.dataclass(frozen=True)
class Options:
    target: Optional[str] = None  # None: the default target
    threads: Optional[int] = None  # None: all cores
    opt_level: int = 2
    cache_dir: Optional[str] = None
    fast_math: bool = False
    debug: bool = False

    def __post_init__(self):
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"Options.threads must be a positive int or None, got "
                             f"{self.threads!r}")
        if self.opt_level not in (0, 1, 2, 3):
            raise ValueError(f"Options.opt_level must be 0..3, got {self.opt_level!r}")

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
    """Session argument > options > set_default_target > $GRAPHC_TARGET > 'reference'."""
    for candidate in (explicit, options.target if options else None,
                      _defaults["options"].target, os.environ.get(ENV_TARGET)):
        if candidate:
            return candidate
    return "reference"


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
