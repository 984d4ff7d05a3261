"""Audio files on the host: read and write WAV, FLAC and OGG (Vorbis) as numpy arrays
[frames, channels]. Plain Python around soundfile (libsndfile; the extra graphc[audio]),
not graph operations; feed what `read` returns to a placeholder.

Only files whose container matches one of those three formats (and their extension) are
decoded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphc.modalities.files import format_of, optional

FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}
DTYPES = ("int16", "float32")
# how each sample dtype is stored: int16 as 16-bit PCM (exact in WAV and FLAC); floats
# as 32-bit float WAV or 24-bit FLAC (FLAC has no float samples); OGG is always Vorbis
_SUBTYPES = {("WAV", "int16"): "PCM_16", ("FLAC", "int16"): "PCM_16",
             ("WAV", "float"): "FLOAT", ("FLAC", "float"): "PCM_24"}


def _soundfile():
    return optional("soundfile", "reading and writing audio files", "'graphc[audio]'")


def _format(path) -> str:
    return format_of(path, FORMATS, "audio")


def read(path, dtype: str = "int16"):
    """(samples, sample_rate) of an audio file: samples [frames, channels] as int16 or as
    float32 in [-1, 1) (int16 / 32768, the scaling soundfile uses), sample_rate an int.
    Lossy OGG is decoded to the dtype asked for."""
    fmt = _format(path)
    if str(dtype) not in DTYPES:
        raise ValueError(f"audio file {str(path)!r}: dtype must be one of {DTYPES}, got "
                         f"{dtype!r}")
    if not Path(path).is_file():
        raise FileNotFoundError(f"audio file {str(path)!r} does not exist")
    soundfile = _soundfile()
    try:
        with soundfile.SoundFile(str(path)) as f:
            if f.format != fmt:
                raise ValueError(f"audio file {str(path)!r} holds {f.format}, not the {fmt} "
                                 f"its extension names")
            samples = f.read(dtype=str(dtype), always_2d=True)
            rate = int(f.samplerate)
    except soundfile.LibsndfileError as e:
        raise ValueError(f"audio file {str(path)!r} could not be read as {fmt}: {e}") from e
    return samples, rate


def write(path, samples, sample_rate: int) -> None:
    """Write samples [frames] (mono) or [frames, channels], int16 or float (in [-1, 1]),
    at sample_rate samples per second, in the format the extension names. int16 is stored
    exactly in WAV and FLAC; float as 32-bit float WAV or 24-bit FLAC; OGG is lossy Vorbis
    (float samples are clipped to [-1, 1] by the encoder)."""
    fmt = _format(path)
    data = np.asarray(samples)
    if data.ndim not in (1, 2):
        raise ValueError(f"audio file {str(path)!r}: samples must be [frames] or [frames, "
                         f"channels], got shape {data.shape}")
    if data.dtype == np.int16:
        kind = "int16"
    elif data.dtype in (np.float32, np.float64):
        kind = "float"
    else:
        raise TypeError(f"audio file {str(path)!r}: samples must be int16, float32 or "
                        f"float64, got {data.dtype}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) \
            or sample_rate <= 0:
        raise ValueError(f"audio file {str(path)!r}: sample_rate must be a positive int, "
                         f"got {sample_rate!r}")
    subtype = "VORBIS" if fmt == "OGG" else _SUBTYPES[(fmt, kind)]
    _soundfile().write(str(path), data, int(sample_rate), subtype=subtype, format=fmt)
