"""Fetched values -> TensorBoard Summary.Value messages: what TF1's summary kernels compute.

The numeric work (histogram buckets, image scaling, WAV samples) is plain numpy, kept apart
from the protos so tests can check it against TF's rules directly.
"""

from __future__ import annotations

import io
import sys
import wave

import numpy as np

from graphc.summary.protos import protos

DBL_MAX = sys.float_info.max


# --- histograms ------------------------------------------------------------------------------
def _default_bucket_limits() -> np.ndarray:
    """TF's default histogram buckets (tensorflow/core/lib/histogram/histogram.cc): limits
    growing by 10% from 1e-12 up to 1e20, mirrored for negatives, with 0 and +-DBL_MAX.
    Built with the same float64 products as TF, so the limits are bit-identical."""
    positive, v = [], 1.0e-12
    while v < 1.0e20:
        positive.append(v)
        v *= 1.1
    positive.append(DBL_MAX)
    negative = [-p for p in reversed(positive)]
    return np.array(negative + [0.0] + positive, dtype=np.float64)


BUCKET_LIMITS = _default_bucket_limits()


def histogram_fields(values: np.ndarray) -> dict:
    """The HistogramProto fields of `values` (finite) as TF1's HistogramSummary fills them.

    A value v falls in the first bucket whose limit is > v (C++ upper_bound). Runs of empty
    buckets collapse into one entry carrying the run's last limit (EncodeToProto with
    preserve_zero_buckets=false); an empty input gives one (DBL_MAX, 0) entry."""
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    counts = np.bincount(np.searchsorted(BUCKET_LIMITS, flat, side="right"),
                         minlength=len(BUCKET_LIMITS))
    nonzero = np.flatnonzero(counts)
    # keep each nonzero bucket, and the last bucket of each run of empty ones
    keep = np.zeros(len(counts), dtype=bool)
    keep[nonzero] = True
    empty = counts == 0
    keep[:-1] |= empty[:-1] & ~empty[1:]
    keep[-1] |= empty[-1]
    return {
        "min": float(flat.min()) if flat.size else DBL_MAX,
        "max": float(flat.max()) if flat.size else -DBL_MAX,
        "num": float(flat.size),
        "sum": float(flat.sum()),
        "sum_squares": float(np.dot(flat, flat)),
        "bucket_limit": BUCKET_LIMITS[keep].tolist(),
        "bucket": counts[keep].astype(np.float64).tolist(),
    }


def histogram_value(tag: str, values: np.ndarray):
    pb = protos()
    return pb.summary_pb2.Summary.Value(
        tag=tag, histo=pb.summary_pb2.HistogramProto(**histogram_fields(values)))


# --- images ----------------------------------------------------------------------------------
BAD_COLOR = np.array([255, 0, 0, 255], dtype=np.uint8)  # TF's default for non-finite pixels


def image_to_uint8(image: np.ndarray) -> np.ndarray:
    """One [h, w, c] image as uint8, as TF's ImageSummary does.

    Floats are scaled per image over its finite pixels: all >= 0 -> x * 255 / max; some < 0
    -> x * 127 / max|x| + 128 (a max below 1e-6 scales by 0), then truncated; a pixel with
    a non-finite channel becomes red. uint8 is taken as it is; other integers are clipped
    to [0, 255]."""
    if image.dtype.kind in "iu":
        return np.clip(image, 0, 255).astype(np.uint8)
    h, w, c = image.shape
    pixels = image.reshape(h * w, c)
    finite = np.isfinite(pixels).all(axis=1)
    good = pixels[finite]
    low = good.min() if good.size else np.inf
    high = good.max() if good.size else -np.inf
    ftype = image.dtype.type if image.dtype == np.float64 else np.float32
    if low < 0:
        top = max(abs(low), abs(high))
        scale, offset = ftype(0 if top < 1e-6 else 127 / top), ftype(128)
    else:
        scale, offset = ftype(0 if high < 1e-6 else 255 / high), ftype(0)
    out = np.empty((h * w, c), dtype=np.uint8)
    out[finite] = (good.astype(ftype) * scale + offset).astype(np.uint8)
    out[~finite] = BAD_COLOR[:c]
    return out.reshape(h, w, c)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 [h, w, c] image (c = 1, 3 or 4), written by Pillow."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("tf.summary.image needs Pillow, part of the optional extra "
                          "graphc[tensorboard] (pip install 'graphc[tensorboard]')") from None
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[image.shape[2]]
    pixels = image[:, :, 0] if image.shape[2] == 1 else image
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), mode).save(buffer, format="PNG")
    return buffer.getvalue()


def image_values(tag: str, batch: np.ndarray, max_outputs: int) -> list:
    """Summary.Values of the first max_outputs images of `batch` [n, h, w, c], tagged
    'tag/image' for a single one, else 'tag/image/0', 'tag/image/1'... (TF1's rule)."""
    pb = protos()
    count = min(len(batch), max_outputs)
    out = []
    for i in range(count):
        pixels = image_to_uint8(batch[i])
        h, w, c = pixels.shape
        image = pb.summary_pb2.Summary.Image(height=h, width=w, colorspace=c,
                                             encoded_image_string=encode_png(pixels))
        name = f"{tag}/image" if count == 1 else f"{tag}/image/{i}"
        out.append(pb.summary_pb2.Summary.Value(tag=name, image=image))
    return out


# --- audio -----------------------------------------------------------------------------------
def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV of float samples [frames, channels] in [-1, 1] (clipped outside)."""
    pcm = np.clip(np.asarray(samples, dtype=np.float64) * 32768.0, -32768, 32767)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.astype("<i2").tobytes())
    return buffer.getvalue()


def audio_values(tag: str, batch: np.ndarray, sample_rate, max_outputs: int) -> list:
    """Summary.Values of the first max_outputs clips of `batch` ([n, frames] or
    [n, frames, channels]), tagged as image_values tags images ('tag/audio[/i]')."""
    pb = protos()
    if batch.ndim == 2:
        batch = batch[:, :, None]
    rate = float(np.asarray(sample_rate).reshape(-1)[0])
    count = min(len(batch), max_outputs)
    out = []
    for i in range(count):
        audio = pb.summary_pb2.Summary.Audio(
            sample_rate=rate, num_channels=batch.shape[2], length_frames=batch.shape[1],
            encoded_audio_string=encode_wav(batch[i], int(round(rate))),
            content_type="audio/wav")
        name = f"{tag}/audio" if count == 1 else f"{tag}/audio/{i}"
        out.append(pb.summary_pb2.Summary.Value(tag=name, audio=audio))
    return out


# --- text ------------------------------------------------------------------------------------
def text_value(tag: str, strings: np.ndarray):
    """A string TensorProto under the text plugin's metadata (TF1's tf.summary.text)."""
    pb = protos()
    shape = pb.tensor_shape_pb2.TensorShapeProto(
        dim=[pb.tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in strings.shape])
    tensor = pb.tensor_pb2.TensorProto(
        dtype=pb.types_pb2.DT_STRING, tensor_shape=shape,
        string_val=[s.encode("utf-8") if isinstance(s, str) else bytes(s)
                    for s in strings.reshape(-1)])
    metadata = pb.summary_pb2.SummaryMetadata(
        plugin_data=pb.summary_pb2.SummaryMetadata.PluginData(plugin_name="text"))
    return pb.summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)
