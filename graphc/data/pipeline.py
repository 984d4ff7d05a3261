"""cache and prefetch: datasets that change when and where elements are computed.

cache("")    keeps the elements of the first complete pass in memory (per iterator
             initialization, as TF1); later passes (e.g. under repeat) read them.
cache(path)  writes the first complete pass to `path + ".npz"`, a zip of .npy arrays (data
             only, never pickle; tf.string components as raw bytes entries) plus a manifest
             of the element specs. It is written to a temporary file renamed into place
             when the pass completes, so a partial file is never read; a file whose
             manifest does not match the dataset's specs, or that cannot be read, is
             ignored (and rewritten).
prefetch(n)  a background thread computes up to n elements ahead; an error it meets is
             raised in the consumer. The thread stops when its iterator is dropped,
             re-initialized or exhausted.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import weakref
import zipfile

import numpy as np

from graphc.data import structure
from graphc.data.dataset import AUTOTUNE, Context, Dataset, register
from graphc.progress import progress

_CACHE_FORMAT = "graphc-dataset-cache-1"


@register
class Cache(Dataset):
    def __init__(self, input_dataset: Dataset, filename=""):
        self._input = input_dataset
        self._parents = (input_dataset,)
        self._template, self._specs = input_dataset._template, list(input_dataset._specs)
        self._filename = os.fspath(filename) if filename else ""

    @property
    def path(self) -> str:
        return self._filename + ".npz"

    def _signature(self) -> list:
        return [[s.dtype.name, None if s.shape.dims is None else list(s.shape.dims)]
                for s in self._specs]

    def _iter(self, ctx: Context):
        if not self._filename:
            return self._memory(ctx)
        stored = self._open()
        return self._write(ctx) if stored is None else _replay(*stored, self._specs)

    def _memory(self, ctx: Context):
        kept = ctx.memory.get(self)
        if kept is not None:
            yield from kept
            return
        elements = []
        for element in self._input._iter(ctx):
            elements.append(element)
            yield element
        ctx.memory[self] = elements  # only a complete pass is kept

    def _open(self):
        """(open zip, element count) of a usable complete cache file, else None."""
        try:
            zf = zipfile.ZipFile(self.path)
        except (OSError, zipfile.BadZipFile):
            return None
        try:
            manifest = json.loads(zf.read("manifest.json"))
            if manifest.get("format") == _CACHE_FORMAT and \
                    manifest.get("specs") == self._signature():
                return zf, int(manifest["count"])
        except (KeyError, ValueError, zipfile.BadZipFile):
            pass
        zf.close()
        return None

    def _write(self, ctx: Context):
        temp = f"{self.path}.tmp-{os.getpid()}-{id(self)}-{threading.get_ident()}"
        count = 0
        bar = progress(None, f"caching {os.path.basename(self.path)}", unit=" elements")
        try:
            with bar, zipfile.ZipFile(temp, "w") as zf:
                for element in self._input._iter(ctx):
                    for k, component in enumerate(element):
                        _store(zf, f"e{count}_c{k}", component)
                    count += 1
                    bar.update(1)
                    yield element
                manifest = {"format": _CACHE_FORMAT, "specs": self._signature(),
                            "count": count}
                zf.writestr("manifest.json", json.dumps(manifest))
            os.replace(temp, self.path)  # complete: now readers may use it
        finally:
            if os.path.exists(temp):
                os.remove(temp)


def _replay(zf: zipfile.ZipFile, count: int, specs: list):
    """The elements of a cache file, read one at a time."""
    with zf:
        for i in range(count):
            yield tuple(_load(zf, f"e{i}_c{k}", spec) for k, spec in enumerate(specs))


def _store(zf: zipfile.ZipFile, name: str, component) -> None:
    if isinstance(component, bytes):
        zf.writestr(name + ".bytes", component)
    elif component.dtype == object:  # a string array: its items, then its shape
        for j, item in enumerate(component.flat):
            zf.writestr(f"{name}.{j}.bytes", item)
        zf.writestr(name + ".shape", json.dumps(list(component.shape)))
    else:
        with zf.open(name + ".npy", "w") as f:
            np.lib.format.write_array(f, np.asarray(component, order="C"),
                                      allow_pickle=False)


def _load(zf: zipfile.ZipFile, name: str, spec):
    if spec.dtype is not structure.string:
        with zf.open(name + ".npy") as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    try:
        return zf.read(name + ".bytes")
    except KeyError:
        shape = tuple(json.loads(zf.read(name + ".shape")))
        out = np.empty(shape, dtype=object)
        for j in range(out.size):
            out.flat[j] = zf.read(f"{name}.{j}.bytes")
        return out


class _End:
    pass


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def _produce(source, channel: queue.Queue, stop: threading.Event) -> None:
    """The prefetch thread: puts elements (then _End, or a _Failure) until told to stop.
    It holds no reference to its consumer, so a dropped consumer can be collected."""
    def put(item) -> bool:
        while not stop.is_set():
            try:
                channel.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    try:
        for element in source:
            if not put(element):
                return
        put(_End())
    except BaseException as e:  # noqa: BLE001 (handed to the consumer)
        put(_Failure(e))


class _Prefetcher:
    def __init__(self, source, size: int, ctx: Context):
        self._channel: queue.Queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        ctx.stops.append(self._stop)
        self.thread = threading.Thread(target=_produce, args=(source, self._channel,
                                                              self._stop),
                                       name="graphc-data-prefetch", daemon=True)
        weakref.finalize(self, self._stop.set)
        self.thread.start()

    def __iter__(self):
        return self

    def _get(self):
        while True:
            try:
                return self._channel.get(timeout=0.05)
            except queue.Empty:
                if self._stop.is_set() or not self.thread.is_alive():
                    try:  # (the thread may have put its last item since)
                        return self._channel.get_nowait()
                    except queue.Empty:
                        raise StopIteration from None

    def __next__(self):
        item = self._get()
        if isinstance(item, _End):
            self._stop.set()
            raise StopIteration
        if isinstance(item, _Failure):
            self._stop.set()
            raise item.error
        return item


@register
class Prefetch(Dataset):
    def __init__(self, input_dataset: Dataset, buffer_size):
        self._input = input_dataset
        self._parents = (input_dataset,)
        self._template, self._specs = input_dataset._template, list(input_dataset._specs)
        size = int(buffer_size)
        if size != AUTOTUNE and size < 0:
            raise ValueError(f"prefetch: buffer_size must be positive or AUTOTUNE (-1), "
                             f"found {buffer_size}")
        self._size = 2 if size == AUTOTUNE else size

    def _iter(self, ctx: Context):
        if self._size == 0:
            return self._input._iter(ctx)
        return _Prefetcher(self._input._iter(ctx), self._size, ctx)
