"""The registry of conversions between modalities and the values they pass (graphc/
modalities/convert.py runs them; pipelines.py registers the built-in ones)."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

KINDS = ("text", "image", "audio", "video")


class ConversionError(ValueError):
    """An input that a conversion cannot take (a corrupt or empty file, an unsupported
    format, text the default model cannot draw): the message names the input."""


@dataclasses.dataclass
class Audio:
    """Audio between stages: float32 samples [n] (mono) or [n, channels] in [-1, 1] and the
    sample rate in samples per second."""
    samples: np.ndarray
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


@dataclasses.dataclass
class Video:
    """Video between stages: uint8 frames [frames, height, width, channels] and the frame
    rate in frames per second."""
    frames: np.ndarray
    fps: float

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps


@dataclasses.dataclass(frozen=True)
class Conversion:
    source: str
    target: str
    name: str
    run: Callable
    description: str


_REGISTRY: dict = {}   # (source, target) -> {name: Conversion}, the default first


def register(source: str, target: str, name: str | None = None, default: bool = False):
    """A decorator registering fn(value, model=None, **options) -> value as the conversion
    `name` (by default the function's name) from `source` to `target`. The first one
    registered for a pair is its default, unless a later one says default=True."""
    _check_kind(source, "source")
    _check_kind(target, "target")

    def add(fn: Callable) -> Callable:
        label = name or fn.__name__
        doc = (fn.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        entry = Conversion(source, target, label, fn, doc)
        table = _REGISTRY.setdefault((source, target), {})
        table.pop(label, None)
        if default:
            _REGISTRY[(source, target)] = {label: entry, **table}
        else:
            table[label] = entry
        return fn
    return add


def _check_kind(kind, what: str) -> None:
    if kind not in KINDS:
        raise ConversionError(f"{what} must be one of {', '.join(KINDS)}, got {kind!r}")
