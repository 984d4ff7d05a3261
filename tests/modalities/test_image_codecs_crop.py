"""tf.image's host-side decode_* / encode_* (bytes <-> uint8 arrays, against Pillow) and
random_crop (a crop of the input at a drawn offset, every offset reachable, seeded,
differentiable)."""

import io

import numpy as np
import pytest

import graphc as tf

PIL = pytest.importorskip("PIL.Image")
RNG = np.random.default_rng(11)


def encoded(array, fmt, **options):
    buffer = io.BytesIO()
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[array.shape[-1]]
    PIL.fromarray(array[..., 0] if array.shape[-1] == 1 else array, mode=mode).save(
        buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_round_trip_every_channel_count(channels):
    image = RNG.integers(0, 256, (5, 7, channels), dtype=np.uint8)
    data = tf.image.encode_png(image)
    assert data.startswith(b"\x89PNG")
    np.testing.assert_array_equal(tf.image.decode_png(data), image)
    np.testing.assert_array_equal(tf.image.decode_image(data), image)
    with PIL.open(io.BytesIO(data)) as opened:          # Pillow reads what graphc wrote
        assert opened.size == (7, 5)


def test_decode_converts_channels_as_asked():
    rgb = RNG.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    data = encoded(rgb, "PNG")
    gray = np.asarray(PIL.open(io.BytesIO(data)).convert("L"))
    np.testing.assert_array_equal(tf.image.decode_png(data, channels=1)[..., 0], gray)
    rgba = tf.image.decode_png(data, channels=4)
    assert rgba.shape == (4, 6, 4) and np.all(rgba[..., 3] == 255)


def test_jpeg_and_bmp():
    image = np.tile(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None], (8, 1, 3))
    data = tf.image.encode_jpeg(image, quality=90)
    back = tf.image.decode_jpeg(data)
    assert back.shape == (8, 16, 3) and np.abs(back.astype(int) - image).max() <= 8
    np.testing.assert_array_equal(back, np.asarray(PIL.open(io.BytesIO(data))))
    bmp = encoded(image, "BMP")
    np.testing.assert_array_equal(tf.image.decode_bmp(bmp), image)


def test_gif_frames():
    frames = [PIL.fromarray(np.full((4, 5, 3), v, np.uint8)) for v in (0, 120, 250)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    data = buffer.getvalue()
    decoded = tf.image.decode_gif(data)
    assert decoded.shape == (3, 4, 5, 3)
    np.testing.assert_array_equal(decoded[:, 0, 0, 0], [0, 120, 250])
    assert tf.image.decode_image(data).shape == (3, 4, 5, 3)
    assert tf.image.decode_image(data, expand_animations=False).shape == (4, 5, 3)


def test_codec_errors():
    png = tf.image.encode_png(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="decode_jpeg: expected JPEG data, got PNG"):
        tf.image.decode_jpeg(png)
    with pytest.raises(ValueError, match="decode_image: expected .* got an unknown format"):
        tf.image.decode_image(b"not an image")
    with pytest.raises(ValueError, match="decode_png: the PNG data could not be decoded"):
        tf.image.decode_png(png[:30])
    with pytest.raises(TypeError, match="graphc has no string tensors"):
        tf.image.decode_png(tf.placeholder(tf.float32, [1]))
    with pytest.raises(TypeError, match="encode_png: the image must be uint8, got float32"):
        tf.image.encode_png(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ValueError, match="encode_jpeg: JPEG takes 1 or 3 channels, got 4"):
        tf.image.encode_jpeg(np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(ValueError, match="channels must be 0, 1, 2, 3 or 4, got 5"):
        tf.image.decode_png(png, channels=5)


# --- random_crop ------------------------------------------------------------------------------
def offsets_of(crop, image):
    """Every (row, column) where `crop` sits in `image`."""
    h, w = crop.shape[:2]
    return [(i, j) for i in range(image.shape[0] - h + 1) for j in range(image.shape[1] - w + 1)
            if np.array_equal(image[i:i + h, j:j + w], crop)]


def test_random_crop_is_a_crop_and_reaches_every_offset(target):
    image = np.arange(5 * 6 * 2, dtype=np.float32).reshape(5, 6, 2)
    x = tf.placeholder(tf.float32, [5, 6, 2])
    crop = tf.image.random_crop(x, [3, 4, 2], seed=3)
    seen = set()
    with tf.Session(target=target) as sess:
        for _ in range(120):
            got = sess.run(crop, {x: image})
            assert got.shape == (3, 4, 2)
            places = offsets_of(got, image)
            assert len(places) == 1
            seen.add(places[0])
    assert seen == {(i, j) for i in range(3) for j in range(3)}


def test_random_crop_seeded_and_uint8():
    image = RNG.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    runs = []
    for _ in range(2):
        graph = tf.Graph()
        with graph.as_default():
            tf.set_random_seed(5)
            crop = tf.random_crop(tf.constant(image), [2, 3, 3], seed=9)
            with tf.Session(graph=graph) as sess:
                runs.append([sess.run(crop) for _ in range(4)])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.uint8 and len(offsets_of(a, image)) >= 1


def test_random_crop_gradient_lands_on_the_crop():
    image = RNG.random((4, 5, 1)).astype(np.float32)
    x = tf.placeholder(tf.float32, [4, 5, 1])
    crop = tf.image.random_crop(x, [2, 2, 1], seed=1)
    grad = tf.gradients(tf.reduce_sum(crop * 3.0), x)[0]
    with tf.Session() as sess:
        got, g = sess.run([crop, grad], {x: image})
    (i, j), = offsets_of(got, image)
    want = np.zeros_like(image)
    want[i:i + 2, j:j + 2] = 3.0
    np.testing.assert_array_equal(g, want)


def test_random_crop_errors():
    x = tf.placeholder(tf.float32, [4, 5, 3])
    with pytest.raises(ValueError, match=r"Need value.shape >= size, got \[4, 5, 3\] and "
                       r"\[5, 2, 3\]"):
        tf.image.random_crop(x, [5, 2, 3])
    with pytest.raises(ValueError, match="one entry per dimension"):
        tf.image.random_crop(x, [2, 2])
    with pytest.raises(ValueError, match="must be known when the graph is built"):
        tf.image.random_crop(tf.placeholder(tf.float32, [None, 5, 3]), [2, 2, 3])
