"""End-to-end smoke test: the console script filters a real photo."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from PIL import Image


def test_apply_sobel_on_real_photo_as_subprocess(samples, tmp_path):
    out = tmp_path / "edges.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnfilter",
            "apply",
            str(samples / "astronaut.png"),
            "--kernel",
            "sobel-x",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "convolution" in proc.stderr and "sobel-x" in proc.stderr
    edges = np.asarray(Image.open(out))
    assert edges.shape == (512, 512, 3)
    # an edge map of a real photo is mostly dark with a clearly visible share of bright edges
    assert 0.02 < (edges > 128).mean() < 0.5


def test_bad_kernel_as_subprocess_exits_2_without_traceback(samples, tmp_path):
    out = tmp_path / "out.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnfilter",
            "apply",
            str(samples / "camera.png"),
            "--kernel",
            "[[1,0,-1],[2,0]]",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: kernel 'custom' is not a rectangular matrix of numbers")
    assert not out.exists() and list(tmp_path.iterdir()) == []
