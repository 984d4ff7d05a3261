"""Conversions between modalities: text, image, audio and video, as pipelines of compiled
graphc graphs (docs/modalities.md).

    convert("photo.png", to="audio", output="photo.wav")        # a file in, a file out
    convert("2026", to="image")                                  # a value in, a value out
    convert_batch("inputs/", to="image", output="out/")          # a folder, resumable

Values between stages are plain Python: text a str, an image uint8 [height, width,
channels], audio an `Audio` (float32 samples and a sample rate), video a `Video` (uint8
frames [frames, height, width, channels] and a frame rate). Each (source, target) pair has
a default conversion (graphc/modalities/pipelines.py) and may have more, by name; `register`
adds a user's own:

    @register("image", "text", name="size")
    def describe(image, model=None):
        return f"{image.shape[1]} x {image.shape[0]} pixels"

A conversion is a function of the input value, `model` (a user's model, or None for the
built-in default: graphc/modalities/user_models.py) and keyword options; it returns the
target value.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np

from graphc.modalities.registry import (  # noqa: F401  (convert's public names)
    _REGISTRY,
    KINDS,
    Audio,
    Conversion,
    ConversionError,
    Video,
    _check_kind,
)
from graphc.modalities.registry import register as _register

TEXT_EXTENSIONS = (".txt", ".md")
DEFAULT_EXTENSION = {"text": ".txt", "image": ".png", "audio": ".wav", "video": ".gif"}


def register(source: str, target: str, name: str | None = None, default: bool = False):
    """A decorator registering fn(value, model=None, **options) -> value as the conversion
    `name` (by default the function's name) from `source` to `target`; default=True makes
    it the pair's default instead of the built-in one."""
    _load_defaults()
    return _register(source, target, name, default)


def conversions() -> list:
    """Every registered Conversion, default of each pair first."""
    _load_defaults()
    return [c for table in _REGISTRY.values() for c in table.values()]


def find(source: str, target: str, name: str | None = None) -> Conversion:
    _load_defaults()
    table = _REGISTRY.get((source, target))
    if not table:
        pairs = ", ".join(f"{s}->{t}" for s, t in _REGISTRY)
        raise ConversionError(f"no conversion from {source} to {target}; registered: {pairs}")
    if name is None:
        return next(iter(table.values()))
    if name not in table:
        raise ConversionError(f"no conversion {name!r} from {source} to {target}; "
                              f"registered for this pair: {', '.join(table)}")
    return table[name]


def _load_defaults() -> None:
    from graphc.modalities import pipelines  # noqa: F401  (registers the defaults)


# --- reading and writing ----------------------------------------------------------------------
def _extensions(kind: str) -> tuple:
    from graphc.modalities import audio_io, image_io, video_io
    return {"text": TEXT_EXTENSIONS, "image": tuple(image_io.FORMATS),
            "audio": tuple(audio_io.FORMATS), "video": tuple(video_io.FORMATS)}[kind]


def kind_of(path) -> str:
    """The modality a file's extension names. Extensions of both still and moving pictures
    (.png, .gif, .webp) are images."""
    suffix = Path(path).suffix.lower()
    for kind in KINDS:
        if suffix in _extensions(kind):
            return kind
    known = sorted({e for k in KINDS for e in _extensions(k)})
    raise ConversionError(f"{str(path)!r}: unknown file type {suffix or '(no extension)'!r}; "
                          f"known: {' '.join(known)}")


def read(path, kind: str | None = None):
    """The value a file holds, as `kind` (by default the kind its extension names)."""
    kind = kind or kind_of(path)
    _check_kind(kind, "kind")
    if not Path(path).is_file():
        raise ConversionError(f"{str(path)!r} does not exist or is not a file")
    try:
        if kind == "text":
            from graphc.modalities import text as text_modality
            value = text_modality.read_text(path, allow_empty=True)
        elif kind == "image":
            from graphc.modalities import image_io
            value = image_io.read(path)
        elif kind == "audio":
            from graphc.modalities import audio_io
            samples, rate = audio_io.read(path, dtype="float32")
            value = Audio(samples[:, 0] if samples.shape[1] == 1 else samples, rate)
            if len(value.samples) == 0:
                raise ValueError("it holds no samples")
        else:
            from graphc.modalities import video
            frames, fps = video.read_with_fps(path)
            value = Video(frames, fps)
    except ImportError:
        raise
    except (OSError, ValueError, TypeError, SyntaxError) as e:  # Pillow's decoders raise these
        message = str(e)
        if str(path) not in message:
            message = f"{str(path)!r}: {message}"
        raise ConversionError(f"cannot read {kind}: {message}") from e
    if kind == "text" and not value.strip():
        raise ConversionError(f"{str(path)!r}: the text is empty")
    return value


def write(path, kind: str, value) -> None:
    """Write a value of `kind` to `path`, in the format its extension names, atomically: a
    file that exists is complete (batch mode skips it on a rerun)."""
    _check_kind(kind, "kind")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _extensions(kind):
        raise ConversionError(f"{str(path)!r}: a {kind} is written as one of "
                              f"{' '.join(_extensions(kind))}, not {suffix or '(no extension)'!r}")
    value = as_kind(value, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        if kind == "text":
            Path(tmp).write_text(value, encoding="utf-8")
        elif kind == "image":
            from graphc.modalities import image_io
            image_io.write(tmp, value)
        elif kind == "audio":
            from graphc.modalities import audio_io
            audio_io.write(tmp, value.samples.astype(np.float32), int(value.rate))
        else:
            from graphc.modalities import video_io
            video_io.write(tmp, value.frames, value.fps)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)                   # mkstemp's file is private (0600)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def as_kind(value, kind: str):
    """`value` checked (and lightly normalized) as a value of `kind`: a conversion's result
    that is not what its target promises is an error naming both."""
    if kind == "text":
        if not isinstance(value, str):
            raise ConversionError(f"a text value is a str, got {type(value).__name__}")
        return value
    if kind == "image":
        image = np.asarray(value)
        if image.ndim == 2:
            image = image[..., None]
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (1, 2, 3, 4) \
                or 0 in image.shape:
            raise ConversionError(f"an image is uint8 [height, width, 1..4 channels], got "
                                  f"{image.dtype} {list(image.shape)}")
        return image
    if kind == "audio":
        if not isinstance(value, Audio):
            raise ConversionError(f"an audio value is an Audio (samples, rate), got "
                                  f"{type(value).__name__}")
        samples = np.asarray(value.samples, np.float32)
        if samples.ndim not in (1, 2) or len(samples) == 0 or not np.all(np.isfinite(samples)):
            raise ConversionError(f"audio samples must be finite [n] or [n, channels] with n >= "
                                  f"1, got {list(samples.shape)}")
        return Audio(samples, int(value.rate))
    if not isinstance(value, Video):
        raise ConversionError(f"a video value is a Video (frames, fps), got "
                              f"{type(value).__name__}")
    frames = np.asarray(value.frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or len(frames) == 0:
        raise ConversionError(f"video frames are uint8 [frames >= 1, height, width, channels], "
                              f"got {frames.dtype} {list(frames.shape)}")
    return Video(frames, float(value.fps))


# --- converting -------------------------------------------------------------------------------
def _source_of(value) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, Audio):
        return "audio"
    if isinstance(value, Video):
        return "video"
    if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim in (2, 3):
        return "image"
    raise ConversionError(f"cannot tell the modality of a {type(value).__name__}; pass a file "
                          f"path, a str, a uint8 image array, an Audio or a Video")


def convert(input, to: str, output=None, *, source: str | None = None,
            method: str | None = None, model=None, **options):
    """Convert `input` to the modality `to` and return the result; also write it to
    `output` when given (its extension names the format).

    `input` is a file path (a pathlib.Path, or a str naming an existing file: its extension
    gives the modality unless `source` says) or a value: a str (text), a uint8 image
    array, an Audio or a Video. `method` picks a registered conversion other than the
    pair's default; `model` is a user's model (an ONNX file or a graphc saved-model
    directory) for the model-based conversions; `options` go to the conversion."""
    _check_kind(to, "target")
    if isinstance(input, Path) or (isinstance(input, str) and source != "text"
                                   and _is_file(input)):
        source = source or kind_of(input)
        value = read(input, source)
    else:
        value = input
        source = source or _source_of(value)
        value = as_kind(value, source)
        if source == "text" and not value.strip():
            raise ConversionError("the text is empty")
    conversion = find(source, to, method)
    user_model = None
    if model is not None:
        from graphc.modalities.user_models import UserModel
        user_model = model if isinstance(model, UserModel) else UserModel(model)
    result = as_kind(conversion.run(value, model=user_model, **options), to)
    if output is not None:
        write(output, to, result)
    return result


def _is_file(text: str) -> bool:
    try:
        return len(text) < 4096 and "\n" not in text and Path(text).is_file()
    except (OSError, ValueError):
        return False


@dataclasses.dataclass
class BatchReport:
    """What convert_batch did: outputs written, outputs that existed (skipped) and inputs
    that failed with their error message."""
    written: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    failed: list = dataclasses.field(default_factory=list)   # (input, message)

    def __str__(self) -> str:
        return (f"{len(self.written)} written, {len(self.skipped)} already done, "
                f"{len(self.failed)} failed")


def batch_inputs(inputs) -> list:
    """The files a batch converts: a folder's files of known types (sorted, not recursive)
    or the given list."""
    if isinstance(inputs, (str, os.PathLike)) and Path(inputs).is_dir():
        files = []
        for p in sorted(Path(inputs).iterdir()):
            if p.is_file() and not p.name.startswith("."):
                try:
                    kind_of(p)
                except ConversionError:
                    continue
                files.append(p)
        return files
    if isinstance(inputs, (str, os.PathLike)):
        raise ConversionError(f"{str(inputs)!r} is not a folder; give a folder or a list of files")
    return [Path(p) for p in inputs]


def convert_batch(inputs, to: str, output, *, extension: str | None = None,
                  source: str | None = None, method: str | None = None, model=None,
                  progress: bool = True, **options) -> BatchReport:
    """Convert each input (a folder's files, or a list of paths) into the folder `output`,
    as <input stem><extension> (by default .txt, .png, .wav or .gif by `to`). Resumable:
    an output that exists is skipped (outputs are written atomically, so one that exists
    is complete). An input that fails is reported with its error and the batch carries
    on; the user's model is loaded once."""
    _check_kind(to, "target")
    extension = extension or DEFAULT_EXTENSION[to]
    if not extension.startswith("."):
        extension = "." + extension
    if extension.lower() not in _extensions(to):
        raise ConversionError(f"a {to} is written as one of {' '.join(_extensions(to))}, "
                              f"not {extension!r}")
    files = batch_inputs(inputs)
    out_dir = Path(output)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConversionError(f"the output {str(out_dir)!r} of a batch must be a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = [p.stem for p in files]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise ConversionError(f"inputs share the names {', '.join(clashes)} (their outputs "
                              f"would overwrite each other); rename them or run separately")
    if model is not None:
        from graphc.modalities.user_models import UserModel
        model = model if isinstance(model, UserModel) else UserModel(model)
    from graphc.progress import Quiet
    from graphc.progress import progress as bar
    report = BatchReport()
    with (bar(len(files), f"convert to {to}", unit="file") if progress else Quiet()) as shown:
        for path in files:
            target = out_dir / (path.stem + extension)
            if target.exists():
                report.skipped.append(target)
            else:
                try:
                    convert(path, to, target, source=source, method=method, model=model,
                            **options)
                    report.written.append(target)
                except Exception as e:  # noqa: BLE001 - reported per input; the batch goes on
                    report.failed.append((path, f"{type(e).__name__}: {e}"))
            shown.update(1)
    return report
