"""The built-in digits models (graphc/modalities/digits.py): the shipped weights, the
recognizer's held-out accuracy, the generator, drawing and reading digits, and the
draw -> read round trip."""

from __future__ import annotations

import difflib
import json
import os
import struct

import numpy as np
import pytest

import graphc as tf
from graphc.datasets import load_digits
from graphc.modalities import digits


@pytest.fixture
def pil():
    """Pillow's Image module, the reference for resizing and luma (graphc[image])."""
    return pytest.importorskip("PIL.Image")


def _recovered(text: str, got: str) -> int:
    """How many characters of `text` come back in order in `got`."""
    blocks = difflib.SequenceMatcher(None, text, got, autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks)


# --- the shipped weights ---------------------------------------------------------------------
@pytest.mark.parametrize("file, names", [(digits.RECOGNIZER_FILE, digits.RECOGNIZER_NAMES),
                                         (digits.GENERATOR_FILE, digits.GENERATOR_NAMES)])
def test_weights_are_small_safetensors_with_metadata(file, names):
    path = os.path.join(digits.WEIGHTS_DIR, file)
    assert os.path.getsize(path) < 200_000
    with open(path, "rb") as f:  # safetensors: 8-byte length, a JSON header, raw tensors
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    assert sorted(k for k in header if k != "__metadata__") == sorted(names)
    assert {header[n]["dtype"] for n in names} == {"F32"}
    arrays, meta = digits.load_weights(path, names)
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in arrays.values())
    assert int(meta["steps"]) > 0 and json.loads(meta["architecture"])["classes"] == 10


def test_load_weights_names_a_missing_file_and_wrong_tensors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.safetensors not found"):
        digits.load_weights(str(tmp_path / "nothing.safetensors"), ["a"])
    from safetensors.numpy import save_file
    save_file({"a": np.zeros(2, np.float32)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(ValueError, match=r"expected the tensors \['b'\], found \['a'\]"):
        digits.load_weights(str(tmp_path / "x.safetensors"), ["b"])


def test_model_info_and_its_errors():
    assert json.loads(digits.model_info("generator")["architecture"])["latent"] >= 2
    with pytest.raises(ValueError, match="kind must be 'recognizer' or 'generator'"):
        digits.model_info("classifier")


# --- the recognizer --------------------------------------------------------------------------
def test_recognizer_held_out_accuracy_from_the_shipped_weights():
    images, labels = load_digits()
    train, test = digits.held_out_split(len(images))
    assert len(train) == 1438 and len(test) == 359 and not set(train) & set(test)
    accuracy = np.mean(digits.recognize(images[test] / 16.0) == labels[test])
    assert accuracy >= 0.95
    stored = float(digits.model_info("recognizer")["held_out_accuracy"])
    assert abs(accuracy - stored) <= 1.5 / len(test)


def test_recognize_takes_uint8_like_floats_and_leaves_the_default_graph_alone():
    images, _ = load_digits()
    as_float = images[:20] / 16.0
    as_uint8 = np.round(as_float * 255).astype(np.uint8)
    np.testing.assert_array_equal(digits.recognize(as_uint8), digits.recognize(as_float))
    assert digits.recognize(np.zeros((0, 8, 8), np.float32)).shape == (0,)
    assert tf.get_default_graph().get_operations() == []


def test_recognize_errors():
    with pytest.raises(ValueError, match=r"shape \[N, 8, 8\], got \[8, 8\]"):
        digits.recognize(np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\], found values in \[0, 16\]"):
        digits.recognize(np.linspace(0, 16, 64).reshape(1, 8, 8))
    with pytest.raises(TypeError, match="uint8 or float images, got dtype int64"):
        digits.recognize(np.zeros((1, 8, 8), np.int64))


# --- the generator ---------------------------------------------------------------------------
def test_generated_digits_are_recognized_as_their_label():
    labels = np.repeat(np.arange(10), 20)
    samples = digits.generate(labels, seed=0)
    assert samples.shape == (200, 8, 8) and samples.dtype == np.float32
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    assert np.mean(digits.recognize(samples) == labels) >= 0.9


def test_generate_is_deterministic_with_a_seed():
    a = digits.generate([3, 1, 4], seed=7)
    np.testing.assert_array_equal(a, digits.generate([3, 1, 4], seed=7))
    assert not np.array_equal(a, digits.generate([3, 1, 4], seed=8))
    # temperature 0: no noise, each digit's one typical image whatever the seed
    np.testing.assert_array_equal(digits.generate([5, 5], seed=1, temperature=0.0)[0],
                                  digits.generate([5], seed=2, temperature=0)[0])
    assert digits.generate([], seed=0).shape == (0, 8, 8)


def test_generate_errors():
    with pytest.raises(ValueError, match="labels must be digits 0..9, got 10"):
        digits.generate([1, 10])
    with pytest.raises(ValueError, match=r"1-D sequence of digits, got shape \[\]"):
        digits.generate(3)
    with pytest.raises(TypeError, match="integers 0..9, got dtype float64"):
        digits.generate([1.5])
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0, got -1"):
        digits.generate([1], temperature=-1)


# --- drawing ---------------------------------------------------------------------------------
def test_draw_text_layout_and_cells_match_pillows_bilinear_upscale(pil):
    cell, margin = 16, 3
    image = digits.draw_text("4 27", seed=5, cell=cell, margin=margin)
    assert image.dtype == np.uint8 and image.shape == (cell + 2 * margin, 4 * cell + 5 * margin)
    samples = digits.generate([4, 2, 7], seed=5)  # the same noise, drawn in the same order
    blank = np.ones(image.shape, bool)
    for sample, slot in zip(samples, (0, 2, 3)):
        x = margin + slot * (cell + margin)
        up = pil.fromarray(sample, mode="F").resize((cell, cell), pil.BILINEAR)
        expected = np.round(255 * (1 - np.clip(np.asarray(up), 0, 1)))
        got = image[margin:margin + cell, x:x + cell].astype(np.float64)
        assert np.abs(got - expected).max() <= 1
        blank[margin:margin + cell, x:x + cell] = False
    assert (image[blank] == 255).all()  # margins, gaps and the space's cell are white


def test_draw_text_is_deterministic_with_a_seed():
    np.testing.assert_array_equal(digits.draw_text("2024", seed=3), digits.draw_text("2024", 3))
    assert not np.array_equal(digits.draw_text("2024", seed=3), digits.draw_text("2024", 4))


def test_draw_text_errors():
    with pytest.raises(ValueError, match=r"cannot draw 'a' \(position 2 of '12a'\)"):
        digits.draw_text("12a")
    with pytest.raises(ValueError, match="cannot draw '-'"):
        digits.draw_text("-1")
    with pytest.raises(ValueError, match="text is empty"):
        digits.draw_text("")
    with pytest.raises(TypeError, match="text must be a str, got int"):
        digits.draw_text(12)
    with pytest.raises(ValueError, match="cell must be an integer >= 1, got 0"):
        digits.draw_text("1", cell=0)
    with pytest.raises(ValueError, match="margin must be an integer >= 0, got 1.5"):
        digits.draw_text("1", margin=1.5)


# --- reading ---------------------------------------------------------------------------------
def test_round_trip_recovers_at_least_90_percent_of_the_digits():
    rng = np.random.default_rng(2024)
    total = recovered = 0
    for seed in range(50):
        text = "".join(str(d) for d in rng.integers(0, 10, rng.integers(4, 9)))
        recovered += _recovered(text, digits.read_digits(digits.draw_text(text, seed=seed)))
        total += len(text)
    assert recovered / total >= 0.9, f"{recovered} of {total} digits read back"


def test_spaces_polarity_and_colour():
    image = digits.draw_text("12 345", seed=1)
    assert digits.read_digits(image) == "12 345"
    assert digits.read_digits(255 - image) == "12 345"  # light digits on black
    # dark blue digits on a yellow background, as RGB and as RGBA over a transparent one
    ink = (255 - image).astype(np.float64) / 255
    rgb = np.stack([255 - 225 * ink, 230 - 200 * ink, 60 + 60 * ink], -1).astype(np.uint8)
    assert digits.read_digits(rgb) == "12 345"
    rgba = np.zeros(image.shape + (4,), np.uint8)
    rgba[..., 3] = 255 - image  # black ink, its opacity from the drawing
    assert digits.read_digits(rgba) == "12 345"
    assert digits.read_digits(rgba[..., 2:]) == "12 345"  # gray and alpha
    assert digits.read_digits(image[..., None]) == "12 345"


def test_gray_levels_match_pillows_luma_and_alpha_is_composited_over_white(pil):
    rgb = np.random.default_rng(3).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    pillow = np.asarray(pil.fromarray(rgb).convert("L")).astype(int)
    assert np.abs(digits._gray(rgb).astype(int) - pillow).max() <= 1
    la = np.array([[[0, 0], [0, 255], [100, 128]]], np.uint8)
    np.testing.assert_array_equal(digits._gray(la), [[255, 0, 177]])  # 100 a + 255 (1 - a)


def test_specks_are_dropped_and_blank_images_read_as_empty():
    image = digits.draw_text("908", seed=2, margin=10)
    image[2:4, 2:4] = 0
    assert digits.read_digits(image) == digits.read_digits(digits.draw_text("908", 2, 32, 10))
    assert digits.read_digits(np.full((20, 30), 255, np.uint8)) == ""
    assert digits.read_digits(np.zeros((1, 1, 3), np.uint8)) == ""


def test_touching_digits_are_split():
    def tight(ch, seed):
        image = digits.draw_text(ch, seed=seed, margin=0)
        ink = np.flatnonzero((image < 128).any(0))
        return image[:, ink[0]:ink[-1] + 1]

    right = 0
    for seed in range(10):
        a, b = (str(d) for d in np.random.default_rng(seed).integers(2, 10, 2))  # no 1s
        pair = np.pad(np.concatenate([tight(a, seed), tight(b, seed + 100)], 1), 6,
                      constant_values=255)
        right += digits.read_digits(pair) == a + b
    assert right >= 8


def test_cells_are_the_area_resize_of_the_square_crop(pil):
    """A blob with a known box: its cell is the box centred in a square and averaged over
    8x8 equal areas (reference: upsample 8x by repetition, take S x S block means; for a
    side divisible by 8 also Pillow's box filter)."""
    rng = np.random.default_rng(0)
    for height, width in ((24, 12), (21, 9), (13, 11)):
        blob = rng.random((height, width)) < 0.6
        blob[0], blob[-1], blob[:, 0], blob[:, -1] = True, True, True, True
        image = np.full((height + 10, width + 10), 250, np.uint8)
        image[5:5 + height, 5:5 + width][blob] = 10
        cells, spaces = digits.digit_cells(image)
        square = np.zeros((height, height), np.float32)
        left = (height - width) // 2
        square[:, left:left + width] = blob
        s = height
        expected = np.kron(square, np.ones((8, 8))).reshape(8, s, 8, s).mean((1, 3))
        assert cells.shape == (1, 8, 8) and spaces == []
        np.testing.assert_allclose(cells[0], expected, atol=1e-5)
        if s % 8 == 0:
            box = pil.fromarray(square, mode="F").resize((8, 8), pil.BOX)
            np.testing.assert_allclose(cells[0], np.asarray(box), atol=1e-5)


def test_otsu_threshold_minimizes_the_within_class_variance():
    rng = np.random.default_rng(1)
    gray = np.concatenate([rng.normal(60, 15, 300), rng.normal(190, 25, 500)])
    gray = np.clip(np.round(gray), 0, 255).astype(np.uint8)

    def within(t):
        low, high = gray[gray <= t].astype(np.float64), gray[gray > t].astype(np.float64)
        return low.size * low.var() + high.size * high.var()

    scores = np.array([within(t) for t in range(gray.min(), gray.max())])
    assert abs(within(digits.otsu_threshold(gray)) - scores.min()) <= 1e-6 * scores.min()
    assert digits.otsu_threshold(np.array([0, 255, 0], np.uint8)) == 127  # the middle
    assert digits.otsu_threshold(np.full(5, 9, np.uint8)) is None


def test_read_digits_errors():
    with pytest.raises(TypeError, match="expected a uint8 image, got dtype float64"):
        digits.read_digits(np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"C = 1 to 4 channels, got shape \[4, 4, 5\]"):
        digits.read_digits(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match=r"the image is empty \(shape \[0, 5\]\)"):
        digits.read_digits(np.zeros((0, 5), np.uint8))


# --- the training script ---------------------------------------------------------------------
def test_training_script_writes_both_files(tmp_path, capsys):
    from graphc.modalities import train_digits

    report = train_digits.main(["--out", str(tmp_path), "--recognizer-steps", "20",
                                "--generator-steps", "20"])
    assert set(report) >= {"held_out_accuracy", "sample_accuracy"}
    for file, names in ((digits.RECOGNIZER_FILE, digits.RECOGNIZER_NAMES),
                        (digits.GENERATOR_FILE, digits.GENERATOR_NAMES)):
        arrays, meta = digits.load_weights(str(tmp_path / file), names)
        assert meta["steps"] == "20"
    assert '"held_out_accuracy"' in capsys.readouterr().out
