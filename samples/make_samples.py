"""Rebuild the derived sample files that the docs' examples use, from the shipped photos.

Usage (from the repository root): ``python samples/make_samples.py``

Every file written here is cut from, or made beside, the photos in ``samples/``
(see ``samples/LICENSES.md``); ``tests/docs/test_samples.py`` rebuilds them in
memory and checks that the shipped copies have not drifted.

=========================  ===================================================
file                       made from
=========================  ===================================================
crops/coin.png             coins.png rows 105-149, columns 95-139 (45 x 45)
crops/cup.png              coffee.png rows 150-213, columns 250-313 (64 x 64)
crops/astronaut_eye.png    astronaut.png rows 85-116, columns 187-218 (32 x 32):
                           her right eye
crops/camera_hair.png      camera.png rows 70-133, columns 220-283 (64 x 64)
article/cameraman.png      camera.png rows 40-295, columns 100-355 (256 x 256):
                           head, hands, camera and tripod (docs/forward.md)
article/curve_drawing.png  a blank 40 x 50 drawing with the article's curve
                           at rows 10-16, columns 20-26
kernels/*.txt, *.csv       kernel files in the --kernel-file text format
features/arange_5x5.npy    numpy.arange(25.0).reshape(5, 5), a feature map
damaged/*                  files that are not readable images (batch errors)
=========================  ===================================================
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parent

#: name -> (source photo, top row, left column, height, width)
CROPS = {
    "crops/coin.png": ("coins.png", 105, 95, 45, 45),
    "crops/cup.png": ("coffee.png", 150, 250, 64, 64),
    "crops/astronaut_eye.png": ("astronaut.png", 85, 187, 32, 32),
    "crops/camera_hair.png": ("camera.png", 70, 220, 64, 64),
    "article/cameraman.png": ("camera.png", 40, 100, 256, 256),
}

#: The article's drawing under the curve filter (point 4): the six taps of 30 of the
#: registry kernel ``curve`` fall on curve pixels of 0, 50, 20, 50, 50, 50.
CURVE_PATCH = np.array(
    [
        [0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 50, 50, 50],
        [0, 0, 0, 20, 0, 0, 0],
        [0, 0, 0, 50, 0, 0, 0],
        [0, 0, 0, 50, 0, 0, 0],
        [0, 0, 0, 50, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
    ],
    dtype=np.uint8,
)

TEXT_FILES = {
    "kernels/sharpen.txt": (
        "# The article's sharpen kernel: 5 x the pixel minus its four neighbours.\n"
        "# One row per line, numbers separated by blanks or commas, '#' starts a comment.\n"
        " 0 -1  0\n"
        "-1  5 -1\n"
        " 0 -1  0\n"
    ),
    "kernels/diagonal.csv": (
        "# responds to lines running from the top left to the bottom right\n"
        "2,-1,-1\n"
        "-1,2,-1\n"
        "-1,-1,2\n"
    ),
    "damaged/notes.png": "These are notes, not a picture, whatever the name says.\n",
    "damaged/empty.png": "",
}


def crop(name: str) -> np.ndarray:
    """The pixels of one crop in :data:`CROPS` (uint8, H x W or H x W x C)."""
    source, top, left, height, width = CROPS[name]
    with Image.open(SAMPLES / source) as im:
        pixels = np.asarray(im)
    return pixels[top : top + height, left : left + width].copy()


def curve_drawing() -> np.ndarray:
    """The article's drawing: 40 x 50, blank but for the curve at rows 10-16, columns 20-26."""
    drawing = np.zeros((40, 50), dtype=np.uint8)
    drawing[10:17, 20:27] = CURVE_PATCH
    return drawing


def features() -> np.ndarray:
    """A 5 x 5 float64 feature map, 0 .. 24 row by row (the pooling example's input)."""
    return np.arange(25.0).reshape(5, 5)


def truncated_rocket() -> bytes:
    """The first half of rocket.jpg: a JPEG that starts well and stops in the middle."""
    data = (SAMPLES / "rocket.jpg").read_bytes()
    return data[: len(data) // 2]


def main() -> int:
    for name in CROPS:
        Image.fromarray(crop(name)).save(SAMPLES / name)
    Image.fromarray(curve_drawing()).save(SAMPLES / "article/curve_drawing.png")
    np.save(SAMPLES / "features/arange_5x5.npy", features())
    (SAMPLES / "damaged/rocket.jpg").write_bytes(truncated_rocket())
    for name, text in TEXT_FILES.items():
        (SAMPLES / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
