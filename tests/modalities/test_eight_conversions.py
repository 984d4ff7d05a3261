"""The eight built-in conversions end to end, as the gallery script runs them through the
command line: a real input in, a file out that the standard libraries open, with the
expected size, duration and frame count."""

import runpy
from pathlib import Path

import numpy as np
import pytest

PIL = pytest.importorskip("PIL.Image")
sf = pytest.importorskip("soundfile")
iio = pytest.importorskip("imageio.v3")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    script = runpy.run_path(str(ROOT / "docs" / "gallery" / "make_gallery.py"))
    folder = tmp_path_factory.mktemp("gallery")
    commands = script["make"](folder)
    return folder, commands, script


def test_every_example_is_made_and_its_command_listed(gallery):
    folder, commands, script = gallery
    names = [name for name, _, _ in script["EXAMPLES"]]
    assert len(names) == 8
    for name, command in zip(names, commands):
        assert (folder / name).stat().st_size > 0
        assert command.startswith("graphc convert ") and command.endswith(f" -o {name}")
    docs = (ROOT / "docs" / "modalities.md").read_text()
    for command in commands:   # the gallery table shows the commands the script runs
        assert f"`{command}`" in docs, command


def test_text_to_text(gallery):
    folder, _, _ = gallery
    text = (folder / "text-to-text.txt").read_text(encoding="utf-8")
    assert text.startswith("def main(")
    assert len(text) >= len("def main(") + 100


def test_text_to_image_and_back(gallery):
    folder, _, _ = gallery
    with PIL.open(folder / "text-to-image.png") as image:
        assert image.size == (4 * 32 + 5 * 4, 32 + 2 * 4)          # four cells and margins
        assert image.mode == "L"
    assert (folder / "image-to-text.txt").read_text() == "2026"


def test_text_to_video(gallery):
    folder, _, _ = gallery
    frames = iio.imread(folder / "text-to-video.gif", index=None)
    assert frames.shape[1:3] == (64, 64)
    # GIF stores a held frame once, for longer: the clip lasts 48 frames at 12 fps
    with PIL.open(folder / "text-to-video.gif") as gif:
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert len(durations) == len(frames) and abs(sum(durations) - 4000) <= 10 * len(frames)
    from graphc.modalities.video import read_with_fps
    clip, fps = read_with_fps(folder / "text-to-video.gif")
    assert len(clip) == 4 * 12 and abs(fps - 12) <= 0.5   # 12 frames a digit; GIF: 80 ms


def test_text_to_audio(gallery):
    folder, _, _ = gallery
    info = sf.info(str(folder / "text-to-audio.ogg"))
    # "Hello, graphc!": 11 notes, the comma and "!" two rests each, the space one
    assert info.samplerate == 22050 and info.channels == 1
    assert abs(info.duration - 16 * 0.16) < 0.01


def test_image_to_image(gallery):
    folder, _, _ = gallery
    with PIL.open(folder / "image-to-image.png") as image:
        assert image.size == (288, 192) and image.mode == "RGB"


def test_image_to_video(gallery):
    folder, _, _ = gallery
    frames = iio.imread(folder / "image-to-video.gif", index=None)
    assert frames.shape[:3] == (24, 96, 144)                      # 2 s at 12 fps


def test_image_to_audio(gallery):
    folder, _, _ = gallery
    samples, rate = sf.read(str(folder / "image-to-audio.ogg"))
    assert rate == 16000 and abs(len(samples) / rate - 3.0) < 0.05
    assert 0.5 < np.abs(samples).max() <= 1.0
