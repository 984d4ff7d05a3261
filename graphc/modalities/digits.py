"""The built-in digits models: a recognizer and a class-conditional generator of 8x8
hand-written digits (docs/digits-models.md).

Both are small networks trained with graphc on the UCI digits that ship with it
(graphc.datasets.load_digits) by `python -m graphc.modalities.train_digits`, and ship as
safetensors files in graphc/modalities/weights/:

- recognize(images): a tiny CNN classifying [N, 8, 8] images in [0, 1];
- generate(labels, seed, temperature): the decoder of a conditional VAE, fed seeded noise;
- draw_text(text, ...): the digits of a string drawn by the generator, one row of cells;
- read_digits(image): a picture of a row of digits read back (binarize, segment, crop,
  resize by area to 8x8 as the data set was made, classify).

Each inference graph is built once per process, with the weights as constants, and runs
compiled in its own graph and session (the user's default graph is left alone).
"""

from __future__ import annotations

import functools
import os

import numpy as np

import graphc as tf
from graphc.modalities.compiled import Stage

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
RECOGNIZER_FILE = "digits_recognizer.safetensors"
GENERATOR_FILE = "digits_generator.safetensors"
DRAWABLE = "0123456789 "
SPLIT_SEED = 0  # the seeded 80% / 20% split the recognizer is trained and measured on


def held_out_split(count: int = 1797, seed: int = SPLIT_SEED):
    """(train, test) indices of the data set: a seeded permutation cut at 80%."""
    order = np.random.default_rng(seed).permutation(count)
    cut = int(round(count * 0.8))
    return order[:cut], order[cut:]


# --- the architectures, shared by training (variables) and inference (constants) ----------
def recognizer_logits(images, p):
    """[N, 8, 8] float images in [0, 1] -> [N, 10] logits. Two 3x3 SAME convolutions (ReLU,
    2x2 max pooling after each: 8 -> 4 -> 2), a ReLU dense layer and the output layer; the
    widths come from the shapes of the weights in `p`."""
    x = tf.reshape(images, [-1, 8, 8, 1])
    for name in ("conv1", "conv2"):
        x = tf.nn.conv2d(x, p[f"{name}.w"], strides=[1, 1, 1, 1], padding="SAME")
        x = tf.nn.relu(x + p[f"{name}.b"])
        x = tf.nn.max_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], "SAME")
    x = tf.reshape(x, [-1, int(p["conv2.w"].shape[-1]) * 4])
    x = tf.nn.relu(tf.matmul(x, p["hidden.w"]) + p["hidden.b"])
    return tf.matmul(x, p["out.w"]) + p["out.b"]


def decoder_logits(z, onehot, p):
    """The generator: [N, latent] noise and [N, 10] one-hot labels -> [N, 64] logits of the
    pixels (sigmoid gives the image in [0, 1]). Two ReLU layers."""
    x = tf.concat([z, onehot], axis=1)
    for name in ("dec1", "dec2"):
        x = tf.nn.relu(tf.matmul(x, p[f"{name}.w"]) + p[f"{name}.b"])
    return tf.matmul(x, p["dec_out.w"]) + p["dec_out.b"]


RECOGNIZER_NAMES = ("conv1.w", "conv1.b", "conv2.w", "conv2.b", "hidden.w", "hidden.b",
                    "out.w", "out.b")
GENERATOR_NAMES = ("dec1.w", "dec1.b", "dec2.w", "dec2.b", "dec_out.w", "dec_out.b")


# --- weights and compiled graphs -------------------------------------------------------------
def load_weights(path: str, names) -> tuple:
    """(arrays, metadata) of a safetensors file, checked to hold exactly `names` as float32."""
    from safetensors import safe_open
    from safetensors.numpy import load_file

    if not os.path.isfile(path):
        raise FileNotFoundError(f"digits weights {path} not found; they ship with graphc "
                                "(python -m graphc.modalities.train_digits writes them)")
    arrays = load_file(path)
    with safe_open(path, framework="numpy") as f:
        metadata = dict(f.metadata() or {})
    if sorted(arrays) != sorted(names):
        raise ValueError(f"{path}: expected the tensors {sorted(names)}, found {sorted(arrays)}")
    bad = [n for n, a in arrays.items() if a.dtype != np.float32]
    if bad:
        raise ValueError(f"{path}: tensors {bad} are not float32")
    return arrays, metadata


@functools.lru_cache(maxsize=None)
def _weights(kind: str) -> tuple:
    file, names = {"recognizer": (RECOGNIZER_FILE, RECOGNIZER_NAMES),
                   "generator": (GENERATOR_FILE, GENERATOR_NAMES)}[kind]
    return load_weights(os.path.join(WEIGHTS_DIR, file), names)


def model_info(kind: str) -> dict:
    """The metadata stored with the shipped weights of "recognizer" or "generator"."""
    if kind not in ("recognizer", "generator"):
        raise ValueError(f"model_info: kind must be 'recognizer' or 'generator', got {kind!r}")
    return dict(_weights(kind)[1])


def _constants(kind: str) -> dict:
    return {name: tf.constant(value) for name, value in _weights(kind)[0].items()}


def _bucket(n: int) -> int:
    """Batches are padded to a power of two (at least 8), so few plans are compiled."""
    return max(8, 1 << max(n - 1, 0).bit_length())


def _pad_rows(x: np.ndarray, rows: int) -> np.ndarray:
    return np.concatenate([x, np.zeros((rows - len(x),) + x.shape[1:], x.dtype)])


def _build_recognizer():
    images = tf.placeholder(tf.float32, [None, 8, 8], name="images")
    return [images], tf.argmax(recognizer_logits(images, _constants("recognizer")), 1)


_recognizer = Stage(_build_recognizer)


def _build_reader():
    """Digit crops [N, M, M] (ink 0/1, zero-padded) and their area matrices [N, 8, M] ->
    (the 8x8 cells A X A^T, their labels)."""
    crops = tf.placeholder(tf.float32, [None, None, None], name="crops")
    area = tf.placeholder(tf.float32, [None, 8, None], name="area")
    cells = tf.matmul(tf.matmul(area, crops), area, transpose_b=True)
    labels = tf.argmax(recognizer_logits(cells, _constants("recognizer")), 1)
    return [crops, area], (cells, labels)


_reader = Stage(_build_reader)


def _build_sampler(cell):
    """Noise [N, latent] and labels [N] -> the generator's images [N, 8, 8] in [0, 1], or
    with `cell`, upscaled to cell x cell (bilinear, half-pixel centers), drawn dark on white
    as uint8."""
    noise = tf.placeholder(tf.float32, [None, None], name="noise")
    labels = tf.placeholder(tf.int32, [None], name="labels")
    pixels = tf.nn.sigmoid(decoder_logits(noise, tf.one_hot(labels, 10),
                                          _constants("generator")))
    images = tf.reshape(pixels, [-1, 8, 8])
    if cell is None:
        return [noise, labels], images
    big = tf.image.resize_bilinear(tf.reshape(pixels, [-1, 8, 8, 1]), [cell, cell],
                                   half_pixel_centers=True)
    ink = tf.clip_by_value(tf.reshape(big, [-1, cell, cell]), 0.0, 1.0)
    return [noise, labels], tf.cast(tf.round(255.0 * (1.0 - ink)), tf.uint8)


_sampler = Stage(_build_sampler)


# --- the public API --------------------------------------------------------------------------
def _as_images(images, what: str) -> np.ndarray:
    """uint8 0..255 or floats in [0, 1] of shape [N, 8, 8] -> float32 in [0, 1]."""
    x = np.asarray(images)
    if x.ndim != 3 or x.shape[1:] != (8, 8):
        raise ValueError(f"{what}: expected images of shape [N, 8, 8], got {list(x.shape)}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    if x.dtype.kind != "f":
        raise TypeError(f"{what}: expected uint8 or float images, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if x.size and not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0):
        raise ValueError(f"{what}: float images must lie in [0, 1], found values in "
                         f"[{np.nanmin(x):g}, {np.nanmax(x):g}] (the data set's 0..16 pixels "
                         "are scaled by 1/16)")
    return x


def recognize(images) -> np.ndarray:
    """The digit (int64, 0..9) in each of `images`: [N, 8, 8] floats in [0, 1] or uint8
    0..255, ink bright on dark as in the data set."""
    x = _as_images(images, "recognize")
    if not len(x):
        return np.zeros([0], np.int64)
    return np.array(_recognizer((), _pad_rows(x, _bucket(len(x))))[:len(x)], np.int64)


def _labels(labels) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"generate: labels must be a 1-D sequence of digits, got shape "
                         f"{list(y.shape)}")
    if y.size and (y.dtype.kind not in "iu"):
        raise TypeError(f"generate: labels must be integers 0..9, got dtype {y.dtype}")
    wrong = y[(y < 0) | (y > 9)]
    if wrong.size:
        raise ValueError(f"generate: labels must be digits 0..9, got {wrong[0]}")
    return y.astype(np.int32)


def generate(labels, seed=None, temperature=1.0) -> np.ndarray:
    """float32 [N, 8, 8] images in [0, 1] (ink bright on dark), one of each digit in
    `labels`. The latent noise is numpy's default_rng(seed) normal draws times
    `temperature` (0 gives each digit's most typical image); a seed makes it repeatable."""
    y = _labels(labels)
    return _sample(y, seed, temperature, cell=None, what="generate")


def _build_blender():
    """Noise [N, latent] and class weights [N, 10] -> the generator's images [N, 8, 8]."""
    noise = tf.placeholder(tf.float32, [None, None], name="noise")
    weights = tf.placeholder(tf.float32, [None, 10], name="weights")
    pixels = tf.nn.sigmoid(decoder_logits(noise, weights, _constants("generator")))
    return [noise, weights], tf.reshape(pixels, [-1, 8, 8])


_blender = Stage(_build_blender)


def decode(label_weights, seed=None, temperature=1.0) -> np.ndarray:
    """float32 [N, 8, 8] images in [0, 1] from the generator's class input given as weights
    [N, 10] (a one-hot row is a digit, a blend of two rows lies between them) at one latent
    shared by every row (numpy's default_rng(seed) normal draw times `temperature`): the
    frames of a morph from digit to digit."""
    w = np.asarray(label_weights, np.float32)
    if w.ndim != 2 or w.shape[1] != 10:
        raise ValueError(f"decode: label_weights must be [N, 10], got shape {list(w.shape)}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("decode: label_weights must be finite and >= 0")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number)) \
            or not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"decode: temperature must be a finite number >= 0, got "
                         f"{temperature!r}")
    latent = _weights("generator")[0]["dec1.w"].shape[0] - 10
    z = np.random.default_rng(seed).standard_normal(latent).astype(np.float32)
    noise = np.tile(z * np.float32(temperature), (len(w), 1))
    if not len(w):
        return np.zeros((0, 8, 8), np.float32)
    rows = _bucket(len(w))
    return np.array(_blender((), _pad_rows(noise, rows), _pad_rows(w, rows))[:len(w)])


def _sample(y, seed, temperature, cell, what):
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number)) \
            or not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"{what}: temperature must be a finite number >= 0, got "
                         f"{temperature!r}")
    latent = _weights("generator")[0]["dec1.w"].shape[0] - 10
    noise = np.random.default_rng(seed).standard_normal((len(y), latent)).astype(np.float32)
    noise *= np.float32(temperature)
    shape = (0, 8, 8) if cell is None else (0, cell, cell)
    if not len(y):
        return np.zeros(shape, np.float32 if cell is None else np.uint8)
    rows = _bucket(len(y))
    return np.array(_sampler((cell,), _pad_rows(noise, rows), _pad_rows(y, rows))[:len(y)])


def _check_size(value, name: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"draw_text: {name} must be an integer >= {least}, got {value!r}")
    return int(value)


def draw_text(text, seed=None, cell=32, margin=4) -> np.ndarray:
    """The digits of `text` drawn by the generator as one uint8 [H, W] image, dark digits on
    a white (255) background: each character a cell x cell square (the generator's 8x8
    sample upscaled bilinearly), a space a blank cell, with `margin` white pixels around the
    row and between cells: H = cell + 2 margin, W = n cell + (n + 1) margin."""
    if not isinstance(text, str):
        raise TypeError(f"draw_text: text must be a str, got {type(text).__name__}")
    if not text:
        raise ValueError("draw_text: text is empty; give at least one digit or space")
    for i, ch in enumerate(text):
        if ch not in DRAWABLE:
            raise ValueError(f"draw_text: cannot draw {ch!r} (position {i} of {text!r}); "
                             "only the digits 0-9 and spaces can be drawn")
    cell, margin = _check_size(cell, "cell", 1), _check_size(margin, "margin", 0)
    digits = np.array([int(c) for c in text if c != " "], np.int32)
    cells = iter(_sample(digits, seed, 1.0, cell, "draw_text"))
    out = np.full((cell + 2 * margin, len(text) * (cell + margin) + margin), 255, np.uint8)
    for i, ch in enumerate(text):
        if ch != " ":
            x = margin + i * (cell + margin)
            out[margin:margin + cell, x:x + cell] = next(cells)
    return out


# --- reading: from a picture to 8x8 cells -----------------------------------------------------
def _gray(image) -> np.ndarray:
    """uint8 [H, W] gray levels of a uint8 [H, W] or [H, W, C] image: C = 1 gray, 2 gray and
    alpha, 3 RGB, 4 RGBA (tf.image.read's layouts). Alpha is composited over white; RGB
    becomes luma 0.299 R + 0.587 G + 0.114 B, rounded."""
    x = np.asarray(image)
    if x.dtype != np.uint8:
        raise TypeError(f"read_digits: expected a uint8 image, got dtype {x.dtype}")
    if x.ndim == 3 and 1 <= x.shape[2] <= 4:
        colour = x[:, :, :3 if x.shape[2] >= 3 else 1].astype(np.float32)
        if x.shape[2] in (2, 4):
            alpha = x[:, :, -1:].astype(np.float32) / np.float32(255.0)
            colour = colour * alpha + np.float32(255.0) * (1 - alpha)
        if colour.shape[2] == 3:
            colour = colour @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
        x = np.clip(np.rint(colour[:, :, 0]), 0, 255).astype(np.uint8)
    elif x.ndim != 2:
        raise ValueError(f"read_digits: expected an image [H, W] or [H, W, C] with C = 1 to 4 "
                         f"channels, got shape {list(x.shape)}")
    if x.size == 0:
        raise ValueError(f"read_digits: the image is empty (shape {list(x.shape)})")
    return x


def otsu_threshold(gray: np.ndarray):
    """Otsu's threshold t of a uint8 image (classes <= t and > t), the middle of the levels
    that maximize the between-class variance; None for an image of one level."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    s0 = np.cumsum(hist * np.arange(256))
    valid = (w0 > 0) & (w1 > 0)
    if not valid.any():
        return None
    m0 = s0[valid] / w0[valid]
    m1 = (s0[-1] - s0[valid]) / w1[valid]
    between = w0[valid] * w1[valid] * (m0 - m1) ** 2
    best = np.flatnonzero(valid)[between == between.max()]
    return int(best[0] + best[-1]) // 2


def ink_mask(image) -> np.ndarray:
    """bool [H, W]: the ink of a picture of digits. Otsu's threshold splits the levels; the
    background is the class most of the border pixels fall in, so dark-on-light and
    light-on-dark pictures both work."""
    gray = _gray(image)
    t = otsu_threshold(gray)
    if t is None:
        return np.zeros(gray.shape, bool)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    light_background = np.mean(border > t) >= 0.5
    return gray <= t if light_background else gray > t


def _runs(flags: np.ndarray) -> list:
    """[start, stop) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def _box(ink, c0, c1) -> tuple:
    rows = np.flatnonzero(ink[:, c0:c1].any(1))
    return rows[0], rows[-1] + 1, c0, c1


def _split(ink, box) -> list:
    """A box wider than 0.9 times its height holds touching digits (the generator's digits
    are 0.3 to 0.88 times as wide as high, 0.66 typically): k = round(width / (0.62
    height)) of them (at least 2), cut at the emptiest column near each k-th of the width."""
    r0, r1, c0, c1 = box
    width, height = c1 - c0, r1 - r0
    if width <= 0.9 * height:
        return [box]
    k = max(2, int(round(width / (0.62 * height))))
    counts = ink[r0:r1, c0:c1].sum(0)
    cuts, reach = [0], max(1, width // (4 * k))
    for j in range(1, k):
        guess = j * width // k
        lo, hi = max(cuts[-1] + 1, guess - reach), min(width - 1, guess + reach)
        cuts.append(lo + int(np.argmin(counts[lo:hi + 1])) if lo <= hi else guess)
    cuts.append(width)
    pieces = [(c0 + a, c0 + b) for a, b in zip(cuts, cuts[1:]) if ink[:, c0 + a:c0 + b].any()]
    return [_box(ink, a, b) for a, b in pieces]


def _segment(image) -> tuple:
    """(crops, spaces): the ink of each digit, left to right, as a square float32 array (its
    bounding box centred in a square, keeping the aspect), and the indices of the digits a
    space goes before. Digits are the runs of columns holding ink, after gaps narrower than
    1/16 of the ink's height are bridged; specks (both sides under 1/4 of the tallest box)
    are dropped; over-wide boxes are split (_split); spaces as _spaces finds them."""
    ink = ink_mask(image)
    rows = np.flatnonzero(ink.any(1))
    if not len(rows):
        return [], []
    bridge = max(1, (rows[-1] + 1 - rows[0]) // 16)
    columns = ink.any(0)
    for start, stop in _runs(~columns):
        if stop - start < bridge and start > 0 and stop < len(columns):
            columns[start:stop] = True
    boxes = [_box(ink, c0, c1) for c0, c1 in _runs(columns)]
    tallest = max(r1 - r0 for r0, r1, _, _ in boxes)
    boxes = [b for b in boxes if max(b[1] - b[0], b[3] - b[2]) * 4 >= tallest]
    boxes = [piece for box in boxes for piece in _split(ink, box)]
    return [square_crop(ink, box) for box in boxes], _spaces(boxes)


def square_crop(ink: np.ndarray, box) -> np.ndarray:
    """float32 [S, S]: the ink of box (row0, row1, col0, col1) centred in a square of its
    longer side S (the aspect kept; the extra pixel of an odd margin goes after)."""
    r0, r1, c0, c1 = box
    side = max(r1 - r0, c1 - c0)
    crop = np.zeros((side, side), np.float32)
    top, left = (side - (r1 - r0)) // 2, (side - (c1 - c0)) // 2
    crop[top:top + r1 - r0, left:left + c1 - c0] = ink[r0:r1, c0:c1]
    return crop


def _spaces(boxes) -> list:
    """The indices of the digits a space goes before: those whose centre lies further from
    the previous digit's than clip(1.4 p, 1.6 h, 2.5 h), h the median digit height and p
    the smallest distance between neighbouring centres (the pitch of digits set side by
    side; held to [1.6 h, 2.5 h] so that a row with few or no neighbours still works)."""
    if len(boxes) < 2:
        return []
    distance = np.diff([(c0 + c1) / 2 for _, _, c0, c1 in boxes])
    height = float(np.median([r1 - r0 for r0, r1, _, _ in boxes]))
    limit = np.clip(1.4 * distance.min(), 1.6 * height, 2.5 * height)
    return [int(i) + 1 for i in np.flatnonzero(distance > limit)]


def area_matrix(size: int, out: int = 8) -> np.ndarray:
    """float32 [out, size]: TF's area resize along one axis. Output pixel y averages the
    input over [y s, (y + 1) s), s = size / out, each input pixel weighed by its overlap."""
    scale = size / out
    lo = np.arange(out)[:, None] * scale
    i = np.arange(size)[None, :]
    overlap = np.minimum(lo + scale, i + 1) - np.maximum(lo, i)
    return (np.clip(overlap, 0, None) / scale).astype(np.float32)


def digit_cells(image) -> tuple:
    """What read_digits classifies: (cells, spaces): float32 [K, 8, 8] in [0, 1], the ink
    of each digit found in `image` (left to right) resized to 8x8 by area, and the indices
    of the digits a space goes before."""
    cells, _, spaces = _read(image)
    return cells, spaces


def _read(image) -> tuple:
    """(cells, labels, spaces) of the digits in `image`. The crops go to the compiled reader
    in zero-padded square canvases of a power-of-two side (few plans to compile), grouped
    by that side; crops over 256 pixels go one at a time, to bound the memory."""
    crops, spaces = _segment(image)
    cells = np.zeros((len(crops), 8, 8), np.float32)
    labels = np.zeros([len(crops)], np.int64)
    groups: dict = {}
    for i, crop in enumerate(crops):
        groups.setdefault(1 << (max(8, len(crop)) - 1).bit_length(), []).append(i)
    for side, members in groups.items():
        step = len(members) if side <= 256 else 1
        for start in range(0, len(members), step):
            chunk = members[start:start + step]
            rows = _bucket(len(chunk)) if side <= 256 else 1
            canvas = np.zeros((rows, side, side), np.float32)
            area = np.zeros((rows, 8, side), np.float32)
            for j, i in enumerate(chunk):
                canvas[j, :len(crops[i]), :len(crops[i])] = crops[i]
                area[j, :, :len(crops[i])] = area_matrix(len(crops[i]), 8)
            got_cells, got_labels = _reader((), canvas, area)
            cells[chunk], labels[chunk] = got_cells[:len(chunk)], got_labels[:len(chunk)]
    return cells, labels, spaces


def read_digits(image) -> str:
    """The digits in `image` (uint8 [H, W] or [H, W, C], C = 1 to 4; any size, either
    polarity) as a string, with a space where two digits stand far apart (docs); "" when
    the image has no ink."""
    _, labels, spaces = _read(image)
    out = []
    for i, label in enumerate(labels):
        out.append((" " if i in spaces else "") + str(int(label)))
    return "".join(out)
