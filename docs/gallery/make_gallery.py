"""Regenerate the gallery of docs/modalities.md: one example of each of the eight built-in
conversions, made with the command line, written into this folder (or the folder given).

    python docs/gallery/make_gallery.py [FOLDER]

The inputs are made here too: a picture drawn with numpy (a sunset over hills) and the
digits image of text -> image, which image -> text reads back.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import numpy as np

# (output file, the graphc convert arguments, what it shows); {dir} is the output folder
EXAMPLES = [
    ("text-to-text.txt", ["--text", "def main(", "--to", "text", "--seed", "3",
                          "--set", "max_new_tokens=160"],
     "the built-in character LM continues a line of Python"),
    ("text-to-image.png", ["--text", "2026", "--to", "image", "--seed", "1"],
     "the digit generator draws 2026"),
    ("text-to-video.gif", ["--text", "2026", "--to", "video", "--seed", "1"],
     "the digits of 2026 morphing into each other"),
    ("text-to-audio.ogg", ["--text", "Hello, graphc!", "--to", "audio"],
     "a melody with one tone per character"),
    ("image-to-text.txt", ["{dir}/text-to-image.png", "--to", "text"],
     "the recognizer reads the drawn digits back"),
    ("image-to-image.png", ["{dir}/sunset.png", "--to", "image"],
     "2x upscaling with an unsharp mask"),
    ("image-to-video.gif", ["{dir}/sunset.png", "--to", "video", "--set", "seconds=2"],
     "a slow zoom into the picture"),
    ("image-to-audio.ogg", ["{dir}/sunset.png", "--to", "audio", "--set", "seconds=3"],
     "the picture heard as a spectrogram"),
]


def sunset(height: int = 96, width: int = 144) -> np.ndarray:
    """A small synthetic picture: a sky graded from orange to violet, a sun, two hills."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = y / height
    sky = np.stack([255 - 90 * t, 140 - 60 * t, 60 + 120 * t], -1)
    sun = (x - 0.65 * width) ** 2 + (y - 0.45 * height) ** 2 < (0.12 * height) ** 2
    sky[sun] = (255, 230, 120)
    hill1 = y > 0.7 * height + 0.12 * height * np.sin(x / width * 5.0)
    hill2 = y > 0.8 * height + 0.08 * height * np.cos(x / width * 9.0 + 1.0)
    sky[hill1] = (60, 90, 50)
    sky[hill2] = (30, 60, 35)
    return np.clip(sky, 0, 255).astype(np.uint8)


def make(folder) -> list:
    """Write the inputs and the eight examples into `folder`; return the command lines."""
    from graphc.cli import main
    from graphc.modalities import image_io
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    image_io.write(out / "sunset.png", sunset())
    commands = []
    for name, args, _ in EXAMPLES:
        argv = ["convert"] + [a.format(dir=out) for a in args] + ["-o", str(out / name)]
        if main(argv) != 0:
            raise SystemExit(f"graphc {' '.join(argv)} failed")
        shown = [a.format(dir=".").removeprefix("./") for a in args] + ["-o", name]
        commands.append(shlex.join(["graphc", "convert", *shown]))
    return commands


if __name__ == "__main__":
    for line in make(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent):
        print(line)
