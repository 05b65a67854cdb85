"""``.npy`` feature maps as inputs: one layer's raw output feeds the next.

``apply`` writes the raw float response to ``.npy``; ``apply`` and
``detect`` read it back (by its signature, so ``-`` works too) and ``pool``
pools it, so a small stack of layers runs as a shell pipeline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from helpers import error_line, invoke

SOBEL_X = np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])


def ok(*args):
    result = invoke([str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture
def photo(samples, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    crop = np.asarray(Image.open(samples / "camera.png"))[100:164, 200:280]  # 64 x 80
    Image.fromarray(crop).save("x.png")
    return crop.astype(np.float64)


def test_the_readme_chain_apply_apply_pool_matches_scipy(photo):
    ok("apply", "x.png", "-k", "sobel-x", "-o", "f.npy")
    second = ok("apply", "f.npy", "-k", "box:3", "-o", "g.npy")
    ok("pool", "g.npy", "--size", "2", "-o", "h.npy")
    # scipy.ndimage 'reflect' is cnnfilter's default boundary 'symmetric'
    f = ndimage.convolve(photo, SOBEL_X, mode="reflect")
    g = ndimage.convolve(f, np.full((3, 3), 1 / 9), mode="reflect")
    h = g.reshape(32, 2, 40, 2).max(axis=(1, 3))
    np.testing.assert_allclose(np.load("f.npy"), f, rtol=0, atol=1e-3)
    np.testing.assert_allclose(np.load("g.npy"), g, rtol=0, atol=1e-3)
    np.testing.assert_allclose(np.load("h.npy"), h, rtol=0, atol=1e-3)
    assert "of f.npy (64 x 80 x 1, float32)" in second.stderr and "range raw" in second.stderr


def test_a_float_feature_map_to_png_is_range_mapped_like_a_float_tiff(photo):
    ok("apply", "x.png", "-k", "sobel-x", "-o", "f.npy")
    f = np.load("f.npy").astype(np.float64)
    ok("apply", "f.npy", "-k", "identity", "--range", "rescale", "-o", "r.png")
    low, high = f.min(), f.max()
    expected = np.clip(np.rint((f - low) * (255 / (high - low))), 0, 255)
    np.testing.assert_array_equal(np.asarray(Image.open("r.png")), expected.astype(np.uint8))
    np.save("unit.npy", np.array([[0.0, 0.25], [1.0, 2.0]], dtype=np.float32))
    ok("apply", "unit.npy", "-k", "identity", "-o", "u.png")  # full white 1.0, clipped
    np.testing.assert_array_equal(np.asarray(Image.open("u.png")), [[0, 64], [255, 255]])


def test_a_multichannel_feature_map_is_filtered_per_channel_or_summed(photo, rng):
    maps = rng.normal(size=(12, 10, 5))
    np.save("m.npy", maps)
    ok("apply", "m.npy", "-k", "laplacian", "--op", "correlate", "-o", "per.npy")
    laplacian = np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
    per = np.stack(
        [ndimage.correlate(maps[..., c], laplacian, mode="reflect") for c in range(5)], 2
    )
    np.testing.assert_allclose(np.load("per.npy"), per, atol=1e-9)
    ok("apply", "m.npy", "-k", "laplacian", "--op", "correlate", "--sum-channels", "-o", "s.npy")
    np.testing.assert_allclose(np.load("s.npy"), per.sum(axis=2), atol=1e-9)
    line = error_line(2, ["apply", "m.npy", "-k", "box", "-o", "m.png"])
    assert line == (
        "Error: the response would have 5 channels, but a picture holds 1, 3 or 4; write .npy "
        "to keep them, or add --sum-channels to sum them into one map"
    )
    assert not Path("m.png").exists()


def test_detect_reads_a_feature_map(photo):
    ok("apply", "x.png", "-k", "sobel-x", "-o", "f.npy")
    result = ok("detect", "f.npy", "-k", "box:5", "--top", "1", "--json")
    f = np.load("f.npy").astype(np.float64)
    raw = ndimage.correlate(f, np.full((5, 5), 1 / 25), mode="constant")[2:-2, 2:-2]
    row, col = np.unravel_index(np.argmax(raw), raw.shape)
    best = json.loads(result.stdout)["peaks"][0]
    assert (best["row"], best["col"]) == (row, col)
    assert best["score"] == pytest.approx(raw[row, col], abs=1e-3)


@pytest.mark.parametrize(
    ("array", "extra", "message"),
    [
        (np.zeros((2, 3, 4, 5)), [], "holds an array of shape (2, 3, 4, 5); an image or feature "
         "map must be (H, W) or (H, W, C)"),
        (np.zeros((4, 4)), ["--frame", "1"], "is a .npy array, which has one frame; --frame "
         "must be 0"),
    ],
)  # fmt: skip
def test_bad_feature_maps_are_usage_errors(photo, array, extra, message):
    np.save("bad.npy", array)
    line = error_line(2, ["apply", "bad.npy", "-k", "box", "-o", "o.npy", *extra])
    assert line == f"Error: 'bad.npy' {message}"


def test_the_chain_through_pipes_in_real_processes(photo, tmp_path):
    cli = [sys.executable, "-m", "cnnfilter"]
    first = subprocess.run(
        [*cli, "apply", "x.png", "-k", "sobel-x", "-o", "-", "--format", "npy"],
        capture_output=True,
        check=True,
        cwd=tmp_path,
    )
    assert first.stdout.startswith(b"\x93NUMPY")
    second = subprocess.run(
        [*cli, "apply", "-", "-k", "box:3", "-o", "g.npy"],
        input=first.stdout,
        capture_output=True,
        cwd=tmp_path,
    )
    assert second.returncode == 0, second.stderr
    f = ndimage.convolve(photo, SOBEL_X, mode="reflect")
    g = ndimage.convolve(f, np.full((3, 3), 1 / 9), mode="reflect")
    np.testing.assert_allclose(np.load(tmp_path / "g.npy"), g, atol=1e-3)
    assert b"of <stdin> (64 x 80 x 1, float32)" in second.stderr
