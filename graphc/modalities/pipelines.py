"""The built-in conversions, one per pair of modalities (docs/modalities.md says what each
does and cannot do). Each numeric stage is a compiled graphc graph (graphc/modalities/
compiled.py), built once per input shape. With `model=` a model-based stage runs the
user's model instead of the built-in default (graphc/modalities/user_models.py).

    text  -> text   the built-in character LM continues the text (charlm.py)
    text  -> image  digits drawn by the built-in conditional generator (digits.py)
    text  -> video  the text's digits morphing into each other through the generator
    text  -> audio  a melody: one synthesized tone per character (not speech)
    image -> text   digits read by segmentation and the built-in recognizer
    image -> image  2x upscaling: bicubic resize and an unsharp mask
    image -> video  a slow zoom into the picture (crop_and_resize per frame)
    image -> audio  sonification: the picture as a spectrogram, phase by Griffin-Lim
"""

from __future__ import annotations

import numpy as np

from graphc.modalities.compiled import Stage
from graphc.modalities.registry import Audio, ConversionError, Video, register
from graphc.modalities.user_models import (
    frames_output,
    image_output,
    waveform_output,
)


def _resize(images, size, method: str, antialias: bool = False):
    """TF2's tf.image.resize (half-pixel centres, every method, antialias)."""
    from graphc.modalities.image_resize_kernels import resize_v2
    return resize_v2(images, size, method=method, antialias=antialias)


def _positive(value, what: str, kind=int):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or value <= 0:
        raise ConversionError(f"{what} must be a positive number, got {value!r}")
    return kind(value)


def _model_name(model) -> str:
    return f"model {str(model.path)!r}"


# --- text -> text -----------------------------------------------------------------------------
@register("text", "text", name="charlm")
def continue_text(text: str, model=None, max_new_tokens: int = 200, temperature: float = 0.8,
                  top_k=None, seed=None) -> str:
    """The text continued by a character language model: the built-in one (trained on the
    Python standard library's source, so it writes Python-like text) or the user's (ids
    [1, length] -> logits [1, length, vocabulary], or ids out for a sequence-to-sequence
    model)."""
    max_new_tokens = _positive(max_new_tokens, "max_new_tokens")
    if model is None:
        from graphc.modalities import charlm
        return charlm.generate_text(text, max_new_tokens=max_new_tokens,
                                    temperature=temperature, top_k=top_k, seed=seed)
    return _user_generate(model, text, max_new_tokens, temperature, top_k, seed)


def _user_generate(model, text, max_new_tokens, temperature, top_k, seed) -> str:
    tokenizer = model.tokenizer
    prompt = list(tokenizer.encode(text))
    if not prompt:
        raise ConversionError(f"{_model_name(model)}: the text encodes to no tokens")
    fixed = model.input_shape[-1] if model.input_shape else None
    length = fixed or len(prompt) + max_new_tokens
    pad = getattr(tokenizer, "pad_id", 0) or 0
    rng = np.random.default_rng(seed)
    ids = list(prompt)
    for step in range(max_new_tokens):
        window = ids[-length:]
        fed = np.asarray([window + [pad] * (length - len(window))])
        out = model(fed)
        if np.issubdtype(out.dtype, np.integer):   # a sequence-to-sequence model: ids out
            if step:
                raise ConversionError(f"{_model_name(model)} gives ids, not logits")
            return tokenizer.decode(np.asarray(out).reshape(-1).tolist())
        if out.ndim != 3 or out.shape[0] != 1 or out.shape[1] != length:
            raise ConversionError(f"{_model_name(model)}: a language model gives logits [1, "
                                  f"{length}, vocabulary], got {list(out.shape)}")
        ids.append(_draw(out[0, len(window) - 1].astype(np.float64), temperature, top_k, rng))
    return text + tokenizer.decode(ids[len(prompt):])


def _draw(logits, temperature, top_k, rng) -> int:
    if temperature is None or temperature <= 0:
        return int(np.argmax(logits))
    if top_k:
        cut = np.sort(logits)[-int(top_k)]
        logits = np.where(logits < cut, -np.inf, logits)
    p = np.exp((logits - logits.max()) / temperature)
    return int(rng.choice(len(p), p=p / p.sum()))


# --- text -> image ----------------------------------------------------------------------------
@register("text", "image", name="digits")
def draw_digits(text: str, model=None, seed=None, cell: int = 32) -> np.ndarray:
    """The text's digits drawn by the built-in conditional generator trained on the bundled
    8x8 digits (only 0-9 and spaces), or the user's text-to-image model (ids [1, length] ->
    an image)."""
    if model is None:
        from graphc.modalities import digits
        try:
            return digits.draw_text(text.strip(), seed=seed, cell=_positive(cell, "cell"))
        except ValueError as e:
            raise ConversionError(f"the built-in text-to-image model draws digits only: {e}") \
                from e
    return image_output(model(model.ids_input(text)), _model_name(model))


# --- text -> video ----------------------------------------------------------------------------
@register("text", "video", name="digits")
def morph_digits(text: str, model=None, seed=None, cell: int = 64, fps: float = 12.0,
                 frames_per_digit: int = 12) -> Video:
    """A clip of the text's digits, each morphing into the next through the built-in
    generator (its class input blended from one digit to the next, at a fixed latent), or
    the user's text-to-video model (ids [1, length] -> frames)."""
    fps = _positive(fps, "fps", float)
    if model is not None:
        return Video(frames_output(model(model.ids_input(text)), _model_name(model)), fps)
    from graphc.modalities import digits
    labels = [c for c in text if not c.isspace()]
    bad = sorted({c for c in labels if c not in "0123456789"})
    if bad or not labels:
        raise ConversionError("the built-in text-to-video model draws digits only: "
                              + (f"cannot draw {''.join(bad)!r}" if bad else "no digits"))
    steps = _positive(frames_per_digit, "frames_per_digit")
    labels = [int(c) for c in labels]
    pairs = list(zip(labels, labels[1:] + labels[-1:]))
    weights = np.zeros((len(pairs) * steps, 10), np.float32)
    for i, (a, b) in enumerate(pairs):
        # hold the digit for a third of its frames, then blend into the next
        t = np.clip((np.arange(steps) / steps - 1 / 3) * 1.5, 0, 1)
        t = t * t * (3 - 2 * t)
        weights[i * steps:(i + 1) * steps, a] += 1 - t
        weights[i * steps:(i + 1) * steps, b] += t
    images = digits.decode(weights, seed=seed)                       # [n, 8, 8] in [0, 1]
    return Video(_cells(images, _positive(cell, "cell")), fps)


def _cells_graph(n: int, cell: int):
    import graphc as tf
    x = tf.placeholder(tf.float32, [n, 8, 8])
    big = _resize(x[..., None], [cell, cell], "bicubic")
    ink = 255.0 * (1.0 - tf.clip_by_value(big, 0.0, 1.0))               # dark ink on white
    return [x], tf.saturate_cast(tf.round(ink), tf.uint8)


_cells_stage = Stage(_cells_graph)


def _cells(images: np.ndarray, cell: int) -> np.ndarray:
    images = np.ascontiguousarray(images, np.float32)
    return _cells_stage((len(images), cell), images)


# --- text -> audio ----------------------------------------------------------------------------
PENTATONIC = (0, 2, 4, 7, 9)   # semitones of the major pentatonic scale
HARMONICS = (1.0, 0.35, 0.15, 0.05)
PAUSES = ".,;:!?"


def _notes(text: str) -> tuple:
    """(frequency, amplitude) per slot of the melody: a character's code point picks one
    of 15 pentatonic notes over three octaves from C4; upper case is louder; whitespace
    rests one slot, punctuation two."""
    freqs, amps = [], []
    for ch in text:
        if ch.isspace() or ch in PAUSES:
            rests = 2 if ch in PAUSES else 1
            freqs += [0.0] * rests
            amps += [0.0] * rests
            continue
        step = ord(ch.lower()) % 15
        semitone = 12 * (step // 5) + PENTATONIC[step % 5]
        freqs.append(261.6256 * 2.0 ** (semitone / 12))
        amps.append(0.5 if ch.isupper() else 0.35)
    return np.asarray(freqs, np.float32), np.asarray(amps, np.float32)


def _melody_graph(n: int, slot: int, rate: int):
    import graphc as tf
    freq = tf.placeholder(tf.float32, [n], name="freq")
    amp = tf.placeholder(tf.float32, [n], name="amp")
    which = np.repeat(np.arange(n, dtype=np.int32), slot)                 # slot of a sample
    t = np.tile(np.arange(slot, dtype=np.float32) / rate, n)              # time in its slot
    attack, release = 0.01 * rate, slot * 0.35
    k = np.arange(slot, dtype=np.float32)
    envelope = np.minimum(k / attack, 1.0) * np.exp(-k / release)
    f = tf.gather(freq, which)
    phase = 2.0 * np.pi * f * t
    wave = tf.add_n([w * tf.sin(phase * (i + 1)) for i, w in enumerate(HARMONICS)])
    out = tf.gather(amp, which) * np.tile(envelope, n).astype(np.float32) * wave
    return [freq, amp], out / sum(HARMONICS)


_melody = Stage(_melody_graph)


@register("text", "audio", name="melody")
def play_text(text: str, model=None, rate: int = 22050, note_seconds: float = 0.16) -> Audio:
    """A melody with one tone per character (a pentatonic note picked by the character,
    louder for upper case, rests for spaces and punctuation): a synthesizer driven by the
    text, not speech. Or the user's text-to-speech model (ids [1, length] -> a waveform
    [1, n] at `rate`)."""
    rate = _positive(rate, "rate")
    if model is not None:
        return Audio(waveform_output(model(model.ids_input(text)), _model_name(model)), rate)
    freqs, amps = _notes(text)
    slot = max(1, int(round(_positive(note_seconds, "note_seconds", float) * rate)))
    samples = _melody((len(freqs), slot, rate), freqs, amps)
    return Audio(np.asarray(samples, np.float32), rate)


# --- image -> text ----------------------------------------------------------------------------
@register("image", "text", name="digits")
def read_digits(image: np.ndarray, model=None) -> str:
    """The digits in the picture, read by segmentation and the built-in 8x8 recognizer; or
    the user's model: class scores [1, classes] named by its labels file, or token ids
    [1, length] decoded by its tokenizer (a captioning model)."""
    if model is None:
        from graphc.modalities import digits
        return digits.read_digits(image)
    out = np.asarray(model(model.image_input(image)))
    if np.issubdtype(out.dtype, np.integer):
        return model.tokenizer.decode(out.reshape(-1).tolist())
    scores = out.reshape(-1) if out.ndim == 2 and out.shape[0] == 1 else None
    if scores is None:
        raise ConversionError(f"{_model_name(model)}: expected class scores [1, classes] or "
                              f"token ids, got {out.dtype} {list(out.shape)}")
    labels = model.labels()
    if len(labels) != len(scores):
        raise ConversionError(f"{_model_name(model)} scores {len(scores)} classes but its "
                              f"labels file has {len(labels)} lines")
    return labels[int(np.argmax(scores))]


# --- image -> image ---------------------------------------------------------------------------
def _gaussian(sigma: float, radius: int) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return (g / g.sum()).astype(np.float32)


def _upscale_graph(shape: tuple, scale: int, amount: float):
    import graphc as tf
    h, w, c = shape
    x = tf.placeholder(tf.uint8, shape, name="image")
    big = _resize(tf.cast(x, tf.float32)[None], [h * scale, w * scale], "bicubic")
    g = _gaussian(0.5 * scale + 0.5, 2 * scale)
    r = len(g) // 2
    padded = tf.pad(big, [[0, 0], [r, r], [r, r], [0, 0]], mode="SYMMETRIC")
    rows = np.tile(g[:, None, None, None], (1, 1, c, 1))
    cols = np.tile(g[None, :, None, None], (1, 1, c, 1))
    blur = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    blur = tf.nn.depthwise_conv2d(blur, cols, [1, 1, 1, 1], "VALID")
    sharp = big + amount * (big - blur)
    return [x], tf.saturate_cast(tf.round(sharp[0]), tf.uint8)


_upscale = Stage(_upscale_graph)


@register("image", "image", name="upscale")
def upscale(image: np.ndarray, model=None, scale: int = 2, amount: float = 0.6) -> np.ndarray:
    """The picture enlarged `scale` times: a bicubic resize, then an unsharp mask (the
    image plus `amount` times its difference from a Gaussian blur). Signal processing, not
    a learned super-resolution: it sharpens edges, it adds no detail. Or the user's
    image-to-image model (style transfer, denoising, super-resolution)."""
    if model is not None:
        return image_output(model(model.image_input(image)), _model_name(model))
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or not 1 <= scale <= 8:
        raise ConversionError(f"scale must be an integer from 1 to 8, got {scale!r}")
    image = np.ascontiguousarray(image, np.uint8)
    return _upscale((image.shape, scale, float(amount)), image)


# --- image -> video ---------------------------------------------------------------------------
def _zoom_boxes(frames: int, zoom: float, center: tuple) -> np.ndarray:
    t = np.linspace(0.0, 1.0, frames)
    t = t * t * (3 - 2 * t)                                       # ease in and out
    half = 0.5 / (1.0 + (zoom - 1.0) * t)                         # half the box's side
    cy = 0.5 + (center[0] - 0.5) * t
    cx = 0.5 + (center[1] - 0.5) * t
    cy = np.clip(cy, half, 1 - half)
    cx = np.clip(cx, half, 1 - half)
    return np.stack([cy - half, cx - half, cy + half, cx + half], 1).astype(np.float32)


def _zoom_graph(shape: tuple, size: tuple, frames: int, zoom: float, center: tuple):
    import graphc as tf
    x = tf.placeholder(tf.uint8, shape, name="image")
    boxes = _zoom_boxes(frames, zoom, center)
    clip = tf.image.crop_and_resize(tf.cast(x, tf.float32)[None], boxes,
                                    np.zeros(frames, np.int32), list(size))
    return [x], tf.saturate_cast(tf.round(clip), tf.uint8)


_zoom = Stage(_zoom_graph)


def _even_size(h: int, w: int, longest: int) -> tuple:
    s = min(1.0, longest / max(h, w))
    return max(2, int(round(h * s / 2)) * 2), max(2, int(round(w * s / 2)) * 2)


@register("image", "video", name="zoom")
def zoom(image: np.ndarray, model=None, seconds: float = 3.0, fps: float = 12.0,
         factor: float = 1.8, center=(0.5, 0.5), size: int = 320) -> Video:
    """A slow zoom into the picture (`factor` times, towards `center` given as fractions
    of height and width), eased in and out, at most `size` pixels on the longer side: every
    frame a crop_and_resize of the picture, all frames in one call. Or the user's
    image-to-video model (image -> frames)."""
    fps = _positive(fps, "fps", float)
    if model is not None:
        return Video(frames_output(model(model.image_input(image)), _model_name(model)), fps)
    frames = max(1, int(round(_positive(seconds, "seconds", float) * fps)))
    factor = _positive(factor, "factor", float)
    cy, cx = (float(v) for v in center)
    if not (0 <= cy <= 1 and 0 <= cx <= 1):
        raise ConversionError(f"center must be two fractions in [0, 1], got {center!r}")
    image = np.ascontiguousarray(image, np.uint8)
    out = _even_size(image.shape[0], image.shape[1], _positive(size, "size"))
    return Video(_zoom((image.shape, out, frames, factor, (cy, cx)), image), fps)


# --- image -> audio ---------------------------------------------------------------------------
def _sonify_graph(shape: tuple, frames: int, fft: int, hop: int, iterations: int,
                  range_db: float, seed: int):
    import graphc as tf
    x = tf.placeholder(tf.uint8, shape, name="image")
    c = shape[-1]
    pixels = tf.cast(x, tf.float32) / 255.0
    gray = tf.image.rgb_to_grayscale(pixels[..., :3]) if c >= 3 else pixels[..., :1]
    bins = fft // 2 + 1
    # rows from the top are pitches from the highest
    spectrogram = _resize(gray[None], [bins, frames], "area", True)[0, ::-1, :, 0]
    magnitude = tf.exp((spectrogram - 1.0) * (range_db / 20.0 * np.log(10.0)))
    magnitude = tf.where(spectrogram > 1.0 / 255.0, magnitude, tf.zeros_like(magnitude))
    wave = tf.signal.griffin_lim(tf.transpose(magnitude), frame_length=fft, frame_step=hop,
                                 fft_length=fft, iterations=iterations, seed=seed)
    peak = tf.maximum(tf.reduce_max(tf.abs(wave)), 1e-6)
    return [x], wave * (0.9 / peak)


_sonify = Stage(_sonify_graph)


@register("image", "audio", name="sonify")
def sonify(image: np.ndarray, model=None, seconds: float = 3.0, rate: int = 16000,
           fft: int = 512, iterations: int = 32, range_db: float = 60.0, seed: int = 0) -> Audio:
    """The picture heard as a spectrogram: time runs left to right, pitch bottom to top,
    brightness is loudness (`range_db` from black to white); the phase is reconstructed by
    Griffin-Lim (`iterations`). Or the user's image-to-audio model (image -> a waveform
    [1, n] at `rate`)."""
    rate = _positive(rate, "rate")
    if model is not None:
        return Audio(waveform_output(model(model.image_input(image)), _model_name(model)), rate)
    fft = _positive(fft, "fft")
    hop = fft // 4
    frames = max(2, int(round(_positive(seconds, "seconds", float) * rate / hop)))
    image = np.ascontiguousarray(image, np.uint8)
    key = (image.shape, frames, fft, hop, _positive(iterations, "iterations"),
           float(range_db), int(seed))
    return Audio(np.asarray(_sonify(key, image), np.float32), rate)
