"""The order of the checks: inputs and options first, "output already exists" last.

A user whose output file exists from an earlier run must still be told about
a missing input, a bad kernel or a misspelt option first; the output checks
come after them and before any work, and the input is never overwritten.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, error_line

ARCH = ROOT / "samples" / "arch" / "vgg16.yaml"


@pytest.fixture
def scene(tmp_path, monkeypatch):
    """A gray photo, an output that already exists (its bytes noted), in the cwd."""
    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64).astype(np.uint8)).save(
        "photo.png"
    )
    Path("x.png").write_bytes(b"earlier result")
    return tmp_path


#: (command line, what the one error line must say); ARCH stands for vgg16.yaml.
CASES = [
    ("apply nope.png -k sobel-x -o x.png", "input image 'nope.png' does not exist"),
    ("apply photo.png -k gaussian:5:0 -o x.png", "must be > 0, got 0"),
    ("apply photo.png -k [] -o x.png", "must be a non-empty 2-D matrix"),
    ("apply photo.png -k sobel-x --padding samee -o x.png", "--padding must be"),
    ("apply photo.png --kernel-file nope.txt -o x.png", "'nope.txt' does not exist"),
    ("apply photo.png -o x.png", "give exactly one of --kernel"),
    ("apply photo.png -k sobel-x --boundary foo -o x.png", "unknown boundary mode 'foo'"),
    ("apply photo.png -k sobel-x --stride 0 -o x.png", "--stride must be >= 1, got 0"),
    ("apply photo.png -k sobel-x -o x.png", "output 'x.png' already exists; add --force"),
    ("detect nope.png -k sobel-x --heatmap x.png", "input image 'nope.png' does not exist"),
    ("detect photo.png -k gaussian:5:0 --overlay x.png", "must be > 0, got 0"),
    ("detect photo.png -k sobel-x --raw x.png", "--raw 'x.png' must end in .npy or .tif"),
    ("detect photo.png -k sobel-x --heatmap x.png", "output 'x.png' already exists"),
    ("pool nope.png -o x.png", "input image 'nope.png' does not exist"),
    ("pool nope.npy -o x.png", "input array 'nope.npy' does not exist"),
    ("pool photo.png --size 0 -o x.png", "--size must be >= 1, got 0"),
    ("pool photo.png -o x.png", "output 'x.png' already exists"),
    ("receptive-field ARCH --image nope.png --layer conv5_3 -o x.png", "'nope.png' does not exist"),
    ("receptive-field ARCH --image photo.png --layer conv9 -o x.png", "no layer named 'conv9'"),
    ("receptive-field ARCH --image photo.png --layer conv5_3 --unit 99,0 -o x.png", "is outside"),
    ("receptive-field ARCH --image photo.png --layer conv5_3 -o x.png", "'x.png' already exists"),
]


@pytest.mark.parametrize(("command", "expected"), CASES)
def test_an_existing_output_is_reported_only_after_inputs_and_options(scene, command, expected):
    line = error_line(2, [str(ARCH) if a == "ARCH" else a for a in command.split()])
    assert expected in line, line
    assert Path("x.png").read_bytes() == b"earlier result"


@pytest.mark.parametrize(
    "args",
    [
        ["apply", "photo.png", "-k", "box", "-o", "photo.png", "--force"],
        ["pool", "photo.png", "-o", "photo.png", "--force"],
        ["detect", "photo.png", "-k", "box", "--heatmap", "photo.png", "--force"],
    ],
)
def test_the_input_is_never_overwritten_even_with_force(scene, args):
    before = Path("photo.png").read_bytes()
    line = error_line(2, args)
    assert "is the input image" in line and "never overwrites its input" in line
    assert Path("photo.png").read_bytes() == before
