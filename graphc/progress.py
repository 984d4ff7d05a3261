"""Progress bars for long library operations (large checkpoints, dataset caching): a tqdm
bar on stderr when it is a terminal, nothing otherwise (logs and pipes stay clean)."""

from __future__ import annotations

import sys


class Quiet:
    """What `progress` gives off a terminal: the bar's methods, doing nothing."""

    def update(self, n=1) -> None:
        pass

    def set_description(self, desc=None, refresh=True) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def progress(total, desc: str, unit: str = "B", stream=None):
    """A context manager with update(n): a tqdm bar of `total` units (None: a counter)
    where `stream` (default stderr) is a terminal, else a no-op."""
    stream = stream or sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        return Quiet()
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B", file=stream,
                leave=False)
