"""The conversion pipelines: the registry, reading and writing, the built-in signal-processing
conversions against numpy, batch mode, bad input, the CLI, and users' models (built here,
small) through the same pipelines."""

import math
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("soundfile")
pytest.importorskip("imageio")

import graphc as tf  # noqa: E402
from graphc.cli import main  # noqa: E402
from graphc.modalities import convert as C  # noqa: E402
from graphc.modalities import pipelines as P  # noqa: E402


def picture(h=30, w=44, c=3, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = (127 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0))[..., None]
    noise = rng.integers(-20, 20, (h, w, c))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


# --- registry ---------------------------------------------------------------------------------
def test_every_pair_of_the_eight_has_a_default():
    pairs = {(c.source, c.target) for c in C.conversions()}
    for source in ("text", "image"):
        for target in ("text", "image", "audio", "video"):
            assert (source, target) in pairs


def test_register_a_users_conversion_and_pick_it_by_name():
    @C.register("image", "text", name="size-test")
    def size(image, model=None, unit="pixels"):
        """The picture's size."""
        return f"{image.shape[1]} x {image.shape[0]} {unit}"

    assert C.convert(picture(), "text", method="size-test") == "44 x 30 pixels"
    assert C.convert(picture(), "text", method="size-test", unit="px") == "44 x 30 px"
    assert C.find("image", "text").name == "digits"       # still the default
    listed = [c for c in C.conversions() if c.name == "size-test"]
    assert listed[0].description == "The picture's size."


def test_unknown_method_and_kind_are_named():
    with pytest.raises(C.ConversionError, match="no conversion 'nope' from image to text; "
                       "registered for this pair: digits"):
        C.convert(picture(), "text", method="nope")
    with pytest.raises(C.ConversionError, match="target must be one of text, image, audio, "
                       "video, got 'smell'"):
        C.convert(picture(), "smell")
    with pytest.raises(C.ConversionError, match="no conversion from audio to video"):
        C.convert(C.Audio(np.zeros(10, np.float32), 8000), "video")


def test_a_conversion_returning_the_wrong_kind_is_an_error():
    @C.register("image", "image", name="broken-test")
    def broken(image, model=None):
        return image.astype(np.float32)

    with pytest.raises(C.ConversionError, match=r"an image is uint8 \[height, width, 1..4 "
                       r"channels\], got float32"):
        C.convert(picture(), "image", method="broken-test")


# --- text -> audio: the melody ----------------------------------------------------------------
def melody_reference(text, rate, note_seconds):
    freqs, amps = P._notes(text)
    slot = int(round(note_seconds * rate))
    k = np.arange(slot)
    env = np.minimum(k / (0.01 * rate), 1.0) * np.exp(-k / (slot * 0.35))
    t = k / rate
    out = []
    for f, a in zip(freqs, amps):
        wave = sum(w * np.sin(2 * np.pi * f * t * (i + 1)) for i, w in enumerate(P.HARMONICS))
        out.append(a * env * wave / sum(P.HARMONICS))
    return np.concatenate(out)


def test_melody_matches_numpy_and_writes_a_wav(tmp_path):
    sf = pytest.importorskip("soundfile")
    out = tmp_path / "hi.wav"
    audio = C.convert("Hi, yo", "audio", out, rate=8000, note_seconds=0.05)
    # H, i, comma (2 rests), space (1 rest), y, o: 7 slots of 400 samples
    assert audio.rate == 8000 and audio.samples.shape == (7 * 400,)
    np.testing.assert_allclose(audio.samples, melody_reference("Hi, yo", 8000, 0.05),
                               atol=2e-4)
    assert np.all(audio.samples[800:1600] == 0)                   # the comma's two rests
    info = sf.info(str(out))
    assert info.samplerate == 8000 and info.frames == 2800
    assert math.isclose(info.duration, 0.35)


def test_melody_notes_follow_the_characters():
    f, a = P._notes("aA b")
    assert f[0] == f[1] and a[1] > a[0] > 0                   # upper case: same note, louder
    assert f[2] == 0 and a[2] == 0                             # the space rests
    step = ord("b") % 15
    assert math.isclose(f[3], 261.6256 * 2 ** ((12 * (step // 5) + P.PENTATONIC[step % 5]) / 12),
                        rel_tol=1e-6)


# --- image -> video: the zoom -----------------------------------------------------------------
def test_zoom_frames_are_crops_of_the_picture(tmp_path):
    image = picture(40, 60)
    out = tmp_path / "zoom.gif"
    video = C.convert(image, "video", out, seconds=1.0, fps=6, factor=2.0, center=(0.5, 0.5))
    assert video.frames.shape == (6, 40, 60, 3) and video.fps == 6.0
    # the first frame is the whole picture: crop_and_resize of box [0, 0, 1, 1] to its size
    np.testing.assert_array_equal(video.frames[0], image)
    # the last is the centre half, crop_and_resize's bilinear sampling (TF's box mapping)
    boxes = P._zoom_boxes(6, 2.0, (0.5, 0.5))
    np.testing.assert_allclose(boxes[-1], [0.25, 0.25, 0.75, 0.75], atol=1e-6)
    y0, x0, y1, x1 = boxes[-1]
    ys = y0 * 39 + np.arange(40) * (y1 - y0) * 39 / 39
    xs = x0 * 59 + np.arange(60) * (x1 - x0) * 59 / 59
    f = image.astype(np.float64)
    top, left = np.floor(ys).astype(int), np.floor(xs).astype(int)
    bottom, right = np.minimum(top + 1, 39), np.minimum(left + 1, 59)
    dy, dx = (ys - top)[:, None, None], (xs - left)[None, :, None]
    ref = (f[top][:, left] * (1 - dy) * (1 - dx) + f[top][:, right] * (1 - dy) * dx
           + f[bottom][:, left] * dy * (1 - dx) + f[bottom][:, right] * dy * dx)
    np.testing.assert_allclose(video.frames[-1], np.rint(ref), atol=1)
    import imageio.v3 as iio
    assert iio.imread(out, index=None).shape[0] == 6


def test_zoom_size_is_even_and_capped():
    video = C.convert(picture(31, 101), "video", seconds=0.5, fps=4, size=50)
    assert video.frames.shape[1:3] == (16, 50)


def test_zoom_options_are_checked():
    with pytest.raises(C.ConversionError, match="fps must be a positive number, got 0"):
        C.convert(picture(), "video", fps=0)
    with pytest.raises(C.ConversionError, match=r"center must be two fractions in \[0, 1\]"):
        C.convert(picture(), "video", center=(2, 0.5))


# --- image -> image: the upscale --------------------------------------------------------------
def test_upscale_doubles_the_size_and_sharpens(tmp_path):
    image = picture(24, 32, 3)
    out = C.convert(image, "image", tmp_path / "up.png")
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    soft = C.convert(image, "image", amount=0.0)
    # amount 0 is the bicubic resize alone; sharpening moves values away from the blur
    assert soft.shape == out.shape
    assert np.abs(out.astype(int) - soft).mean() > 1.0
    # edges sharpen: the sharpened picture has more high-frequency energy
    lap = lambda a: np.abs(np.diff(a.astype(float), 2, axis=1)).mean()  # noqa: E731
    assert lap(out) > lap(soft)
    from PIL import Image
    assert Image.open(tmp_path / "up.png").size == (64, 48)


def test_upscale_scale_is_checked():
    with pytest.raises(C.ConversionError, match="scale must be an integer from 1 to 8, got 1.5"):
        C.convert(picture(), "image", scale=1.5)


# --- reading, writing and bad input -----------------------------------------------------------
def test_kind_of_extensions():
    assert C.kind_of("a.TXT") == "text" and C.kind_of("b.jpeg") == "image"
    assert C.kind_of("c.flac") == "audio" and C.kind_of("d.mp4") == "video"
    with pytest.raises(C.ConversionError, match=r"'e.xyz': unknown file type '.xyz'"):
        C.kind_of("e.xyz")


def test_corrupt_image_names_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(C.ConversionError, match="cannot read image: .*broken.png"):
        C.convert(bad, "image")


def test_corrupt_audio_names_the_file(tmp_path):
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"RIFF0000WAVEfmt garbage")
    with pytest.raises(C.ConversionError, match="cannot read audio: .*noise.wav"):
        C.read(bad)


def test_empty_text_file_and_empty_text(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(C.ConversionError, match="empty.txt'?: the text is empty"):
        C.convert(empty, "audio")
    with pytest.raises(C.ConversionError, match="the text is empty"):
        C.convert("", "audio")


def test_missing_file_and_wrong_output_extension(tmp_path):
    with pytest.raises(C.ConversionError, match="does not exist"):
        C.read(tmp_path / "nothing.png")
    with pytest.raises(C.ConversionError, match=r"a audio is written as one of .*not '.png'"):
        C.convert("abc", "audio", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    C.write(tmp_path / "a.txt", "text", "hello")
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]
    with pytest.raises(C.ConversionError):
        C.write(tmp_path / "b.png", "image", np.zeros((0, 3, 3), np.uint8))
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


# --- batch mode -------------------------------------------------------------------------------
def test_batch_is_resumable_and_reports_failures(tmp_path):
    from graphc.modalities import image_io
    inputs = tmp_path / "in"
    inputs.mkdir()
    image_io.write(inputs / "one.png", picture(20, 30))
    image_io.write(inputs / "two.jpg", picture(22, 18))
    (inputs / "three.png").write_bytes(b"garbage")
    (inputs / "notes.xyz").write_text("ignored: not a known type")
    out = tmp_path / "out"
    report = C.convert_batch(inputs, "video", out, progress=False, seconds=0.5, fps=4)
    assert sorted(p.name for p in report.written) == ["one.gif", "two.gif"]
    assert [p.name for p, _ in report.failed] == ["three.png"]
    assert "three.png" in report.failed[0][1]
    assert str(report) == "2 written, 0 already done, 1 failed"
    # a rerun skips what was written and retries what failed
    again = C.convert_batch(inputs, "video", out, progress=False, seconds=0.5, fps=4)
    assert sorted(p.name for p in again.skipped) == ["one.gif", "two.gif"]
    assert len(again.failed) == 1 and not again.written
    assert sorted(os.listdir(out)) == ["one.gif", "two.gif"]


def test_batch_of_a_list_and_name_clashes(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("do re")
    b.write_text("mi")
    report = C.convert_batch([a, b], "audio", tmp_path / "wav", progress=False, rate=8000)
    assert sorted(p.name for p in report.written) == ["a.wav", "b.wav"]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.md").write_text("x")
    with pytest.raises(C.ConversionError, match="inputs share the names a"):
        C.convert_batch([a, tmp_path / "sub" / "a.md"], "audio", tmp_path / "wav2")


# --- the command line -------------------------------------------------------------------------
def test_cli_text_to_audio_and_list(tmp_path, capsys):
    out = tmp_path / "tune.wav"
    assert main(["convert", "--text", "abc", "--to", "audio", "-o", str(out),
                 "--set", "rate=8000"]) == 0
    assert out.is_file()
    import soundfile as sf
    assert sf.info(str(out)).samplerate == 8000
    assert main(["convert", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "image -> audio" in listed and "sonify" in listed


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["convert", "--text", "abc", "--to", "audio"]) == 2
    assert "-o OUTPUT is required for audio" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing.png"), "--to", "text"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["convert", "--text", "abc", "--to", "audio", "-o", str(tmp_path / "a.wav"),
                 "--set", "volume=3"]) == 2
    assert "unexpected keyword argument 'volume'" in capsys.readouterr().err


def test_cli_batch_exit_status(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.txt").write_text("la")
    (inputs / "b.txt").write_text("")
    assert main(["convert", str(inputs), "--to", "audio", "-o", str(tmp_path / "o")]) == 1
    captured = capsys.readouterr()
    assert "b.txt" in captured.err and "the text is empty" in captured.err
    assert "1 written, 0 already done, 1 failed" in captured.out


# --- users' models ----------------------------------------------------------------------------
def saved_model(path, build):
    graph = tf.Graph()
    with graph.as_default():
        x, y = build()
        with tf.Session(graph=graph) as sess:
            tf.saved_model.save(sess, str(path), inputs={"x": x}, outputs={"y": y})
    return path


def onnx_model(path, build):
    pytest.importorskip("onnx")
    import graphc.onnx
    graph = tf.Graph()
    with graph.as_default():
        x, y = build()
        graphc.onnx.export({"y": y}, {"x": x}, str(path))
    return path


def test_user_image_model_onnx_inverts_the_picture(tmp_path):
    def build():
        x = tf.placeholder(tf.float32, [1, 20, 30, 3], name="x")
        return x, 1.0 - x
    model = onnx_model(tmp_path / "invert.onnx", build)
    image = picture(20, 30)
    out = C.convert(image, "image", model=model)
    np.testing.assert_array_equal(out, 255 - image)


def test_user_image_model_channels_first_and_resized(tmp_path):
    def build():
        x = tf.placeholder(tf.float32, [1, 1, 8, 8], name="x")   # gray, channels first
        return x, x * 0.5
    model = saved_model(tmp_path / "half", build)
    out = C.convert(picture(16, 16), "image", model=model)
    assert out.shape == (8, 8, 1)


def test_user_classifier_reads_its_labels(tmp_path):
    def build():
        x = tf.placeholder(tf.float32, [1, 4, 4, 1], name="x")
        mean = tf.reduce_mean(x, axis=[1, 2, 3])
        return x, tf.stack([mean, 1.0 - mean], axis=1)      # bright -> 0, dark -> 1
    model = saved_model(tmp_path / "bright", build)
    (model / "labels.txt").write_text("bright\ndark\n")
    assert C.convert(np.full((9, 9, 3), 250, np.uint8), "text", model=model) == "bright"
    assert C.convert(np.full((9, 9, 3), 5, np.uint8), "text", model=model) == "dark"
    (model / "labels.txt").write_text("only one\n")
    with pytest.raises(C.ConversionError, match="scores 2 classes but its labels file has 1"):
        C.convert(np.full((9, 9, 3), 5, np.uint8), "text", model=model)


def next_char_lm(vocab):
    def build():
        ids = tf.placeholder(tf.int32, [1, None], name="x")
        return ids, 10.0 * tf.one_hot((ids + 1) % vocab, vocab)
    return build


def test_user_language_model_generates_greedily(tmp_path):
    from graphc.models.text import CharTokenizer
    chars = CharTokenizer.from_text("abcdefgh")
    model = saved_model(tmp_path / "lm", next_char_lm(chars.vocab_size))
    chars.save(model / "tokenizer.json")
    out = C.convert("ab", "text", model=model, max_new_tokens=4, temperature=0)
    # each step's logits favour the id after the last one: a b -> c d e f
    assert out == "abcdef"


def test_user_text_to_audio_and_video_models(tmp_path):
    from graphc.models.text import CharTokenizer
    chars = CharTokenizer.from_text("xyz")

    def speech():
        ids = tf.placeholder(tf.int32, [1, 3], name="x")
        wave = tf.sin(tf.range(0.0, 100.0) * tf.cast(tf.reduce_sum(ids), tf.float32))
        return ids, wave[None]
    model = saved_model(tmp_path / "tts", speech)
    chars.save(model / "tokenizer.json")
    audio = C.convert("xy", "audio", tmp_path / "s.wav", model=model, rate=1000)
    ids = chars.encode("xy") + [chars.pad_id]
    np.testing.assert_allclose(audio.samples, np.sin(np.arange(100.0) * sum(ids)), atol=1e-5)

    def clip():
        ids = tf.placeholder(tf.int32, [1, 3], name="x")
        level = tf.cast(tf.reduce_max(ids), tf.float32) / 10.0
        return ids, tf.fill([1, 4, 6, 8, 3], level)
    video_model = saved_model(tmp_path / "t2v", clip)
    chars.save(video_model / "tokenizer.json")
    video = C.convert("z", "video", model=video_model, fps=5)
    assert video.frames.shape == (4, 6, 8, 3) and video.fps == 5.0
    assert np.all(video.frames == round(255 * max(chars.encode("z")) / 10.0))


def test_user_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="model '.*nothing.onnx' does not exist"):
        C.convert(picture(), "image", model=tmp_path / "nothing.onnx")
    (tmp_path / "m.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"expected an .onnx file or a graphc saved-model"):
        C.convert(picture(), "image", model=tmp_path / "m.bin")

    def two_inputs():
        a = tf.placeholder(tf.float32, [1], name="a")
        b = tf.placeholder(tf.float32, [1], name="b")
        return a, a + b
    graph = tf.Graph()
    with graph.as_default():
        a, y = two_inputs()
        b = graph.get_tensor_by_name("b:0")
        with tf.Session(graph=graph) as sess:
            tf.saved_model.save(sess, str(tmp_path / "two"), inputs={"a": a, "b": b},
                                outputs={"y": y})
    with pytest.raises(ValueError, match=r"takes 2 inputs \(a, b\); a conversion feeds one"):
        C.convert(picture(), "image", model=tmp_path / "two")
    lm = saved_model(tmp_path / "lm", next_char_lm(5))
    with pytest.raises(FileNotFoundError, match="tokenizer"):
        C.convert("ab", "text", model=lm)


def test_paths_and_values_are_told_apart(tmp_path):
    f = tmp_path / "words.txt"
    f.write_text("la la")
    from_file = C.convert(str(f), "audio", rate=8000)
    from_text = C.convert("la la", "audio", rate=8000)
    np.testing.assert_array_equal(from_file.samples, from_text.samples)
    # a str that names a file is read, unless the source says it is text
    named = C.convert(str(f), "audio", rate=8000, source="text")
    assert len(named.samples) != len(from_file.samples)
    assert Path(f).read_text() == "la la"


# --- image -> audio: the sonification ---------------------------------------------------------
def test_sonify_a_bright_row_is_a_tone_at_its_height():
    image = np.zeros((64, 64, 3), np.uint8)
    image[15:17] = 255                              # a line a quarter down from the top
    audio = C.convert(image, "audio", seconds=1.0, rate=8000, fft=256, iterations=16)
    assert audio.rate == 8000
    assert abs(len(audio.samples) - 8000) <= 256
    assert 0.85 < np.abs(audio.samples).max() <= 0.9 + 1e-6         # normalized to 0.9
    spectrum = np.abs(np.fft.rfft(audio.samples * np.hanning(len(audio.samples))))
    peak = np.argmax(spectrum) * 8000 / len(audio.samples)
    # the row's centre, 16/64 from the top, is 3/4 of the way up to Nyquist (4000 Hz)
    assert abs(peak - 0.75 * 4000) < 4000 / 64 * 1.5, peak


def test_sonify_of_black_is_silence_not_noise():
    audio = C.convert(np.zeros((16, 16, 1), np.uint8), "audio", seconds=0.5, rate=8000,
                      fft=128, iterations=4)
    assert np.all(np.isfinite(audio.samples)) and np.abs(audio.samples).max() < 1e-3
