"""``cnnfilter pool`` through the CLI: shapes, formula, dtypes, winners and errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from helpers import invoke


def run(*args):
    return invoke("pool", *args)


def test_max_pool_of_a_photo_keeps_8_bits_and_prints_the_formula(samples, tmp_path):
    out = tmp_path / "pooled.png"
    result = run(samples / "astronaut.png", "--op", "max", "--size", "2", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "input   512 x 512 x 3 (uint8)" in result.stdout
    assert "out = floor((n + 2p - d(k-1) - 1) / s) + 1" in result.stdout
    assert "rows: floor((512 + 2*0 - 1*(2-1) - 1)/2) + 1 = 256" in result.stdout
    assert "output  256 x 256 x 3 (uint8)" in result.stdout
    pooled = np.asarray(Image.open(out))
    photo = np.asarray(Image.open(samples / "astronaut.png"))
    assert pooled.dtype == np.uint8
    np.testing.assert_array_equal(pooled, photo.reshape(256, 2, 256, 2, 3).max(axis=(1, 3)))
    assert f"wrote {out} (256 x 256 x 3, uint8)" in result.stderr


def test_the_general_formula_names_the_rounding_that_ran(samples):
    ceil = run(samples / "astronaut.png", "--size", "3", "--stride", "2", "--ceil-mode")
    assert ceil.exit_code == 0, ceil.stderr
    assert "out = ceil((n + 2p - d(k-1) - 1) / s) + 1" in ceil.stdout
    assert "rnd" not in ceil.stdout


def test_average_of_8_bit_is_rounded_not_truncated(tmp_path):
    src = tmp_path / "tiny.png"
    Image.fromarray(np.array([[0, 1, 5, 6], [1, 1, 6, 6]], dtype=np.uint8)).save(src)
    out = tmp_path / "avg.png"
    result = run(src, "--op", "avg", "--size", "2", "-o", out)
    assert result.exit_code == 0, result.stderr
    # means 0.75 and 5.75: rounded to 1 and 6 (truncation would give 0 and 5)
    assert np.asarray(Image.open(out)).tolist() == [[1, 6]]


def test_npy_feature_map_with_ceil_mode_and_no_count_include_pad(tmp_path):
    src, out = tmp_path / "features.npy", tmp_path / "out.npy"
    np.save(src, np.arange(25.0).reshape(5, 5))
    result = run(
        src, "--op", "avg", "--size", "2", "--padding", "1", "--ceil-mode",
        "--no-count-include-pad", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    np.testing.assert_allclose(
        np.load(out), [[0.0, 1.5, 3.5], [7.5, 9.0, 11.0], [17.5, 19.0, 21.0]]
    )
    assert (
        "rows: ceil((5 + 2*1 - 1*(2-1) - 1)/2) + 1 = 4, last window starts in the padding: "
        "dropped -> 3" in result.stdout
    )


def test_json_report_has_stable_keys(samples):
    result = run(samples / "camera.png", "--op", "max", "--size", "3", "--stride", "2", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["input_shape"] == [512, 512, 1] and doc["output_shape"] == [255, 255, 1]
    assert doc["kernel_size"] == [3, 3] and doc["stride"] == [2, 2]
    assert doc["axes"]["rows"]["numerator"] == 509
    assert doc["axes"]["cols"]["out"] == 255
    assert doc["output"] is None and doc["count_include_pad"] is None


def test_show_winners_marks_the_winners_beside_the_pooled_output(samples, tmp_path):
    from cnnfilter import render

    out = tmp_path / "winners.png"
    result = run(samples / "camera.png", "--size", "3", "--stride", "2", "--show-winners", out)
    assert result.exit_code == 0, result.stderr
    pic = np.asarray(Image.open(out))
    top = render.CAPTION_HEIGHT
    # 512 >= 512: not enlarged; left the input, right 255 x 255 cells of 2 x 2 pixels
    assert pic.shape == (top + 512, 512 + 8 + 510, 3)
    camera = np.asarray(Image.open(samples / "camera.png")).astype(int)
    left = pic[top:, :512, 0].astype(int)
    shown = left == camera  # winners at full brightness; the others dimmed to 60%
    dimmed = left == np.rint(camera * 0.6)
    assert (shown | dimmed).mean() > 0.98  # (a few pixels carry a grid line instead)
    # 255 x 255 windows of 3x3 with stride 2 overlap, so a pixel can win several windows
    winners = shown & ~dimmed
    assert 255 * 255 // 4 < winners.sum() <= 255 * 255
    pooled = ndimage.maximum_filter(camera, size=3)[1:-1:2, 1:-1:2][:255, :255]
    np.testing.assert_array_equal(pic[top : top + 510 : 2, 520::2, 0], pooled)
    assert "beside the pooled output" in result.stderr


def test_show_winners_enlarges_small_inputs(tmp_path):
    from cnnfilter import render

    src, out = tmp_path / "f.npy", tmp_path / "w.png"
    np.save(src, np.array([[1.0, 2.0], [4.0, 3.0]]))
    result = run(src, "--size", "2", "--show-winners", out)
    assert result.exit_code == 0, result.stderr
    pic = np.asarray(Image.open(out))
    top = render.CAPTION_HEIGHT
    assert pic.shape[0] == top + 512 and pic.shape[1] >= 512 + 8 + 512
    # gray .npy shown as min..max -> 0..255: pixel (1, 0) (value 4) won, at full white,
    # outlined in yellow; pixel (0, 0) (value 1) is dimmed to 60%
    assert (pic[top + 300, 10] == 255).all() and pic[top + 10, 10, 0] == 0
    assert tuple(pic[top + 256, 100]) == (255, 221, 0)  # the winner's outline
    assert (pic[top:, 520:1032] == 255).all()  # the output: one cell, the max, white
    assert "enlarged 256x" in result.stderr
    assert (pic[:top].max(axis=2) < 128).sum() > 100  # the caption


def test_lp_pooling_of_an_image_to_npy_is_exact(tmp_path):
    src, out = tmp_path / "t.png", tmp_path / "lp.npy"
    Image.fromarray(np.array([[3, 4], [0, 0]], dtype=np.uint8)).save(src)
    result = run(src, "--op", "lp", "--p", "2", "--size", "2", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert np.load(out).tolist() == [[5.0]]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--size", "2", "--padding", "2"], "requires padding <= kernel_size // 2 = 1"),
        (["--op", "avg", "--show-winners", "w.png"], "--show-winners needs --op max"),
        (["--op", "lp", "--padding", "1"], "Lp pooling takes no padding"),
        (["--size", "0"], "--size must be >= 1, got 0"),
        (["--size", "600"], "the output would be empty"),
        (["--op", "mean"], "Invalid value for '--op'"),
        (["-o", "out.xyz"], "cannot tell the output format"),
    ],
)
def test_usage_errors_exit_2(samples, tmp_path, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    result = run(samples / "camera.png", *extra)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_bad_npy_inputs(tmp_path):
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    result = run(pickled)
    assert result.exit_code == 1 and "only numeric arrays" in result.stderr
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros(5))
    result = run(flat)
    assert result.exit_code == 2 and "needs (H, W) or (H, W, C)" in result.stderr
    result = run(tmp_path / "missing.npy")
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_never_overwrites_the_input(tmp_path):
    src = tmp_path / "in.npy"
    np.save(src, np.ones((4, 4)))
    result = run(src, "-o", src, "--force")
    assert result.exit_code == 2 and "never overwrites its input" in result.stderr


def test_pool_runs_as_a_real_process(samples, tmp_path):
    out = tmp_path / "p.png"
    proc = subprocess.run(
        [sys.executable, "-m", "cnnfilter", "pool", str(samples / "coins.png"), "--op", "avg",
         "--size", "3", "-o", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "output  101 x 128 x 1 (float32)" in proc.stdout
    assert np.asarray(Image.open(out)).shape == (101, 128)


def test_16_bit_image_pooled_to_jpeg_or_bmp_is_rounded_x_over_257(tmp_path):
    values = (np.arange(64, dtype=np.uint32).reshape(8, 8) * 1000 + 7).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    out = tmp_path / "g16p.bmp"
    result = run(tmp_path / "g16.png", "--size", "2", "-o", out)
    assert result.exit_code == 0, result.stderr
    pooled = values.reshape(4, 2, 4, 2).max(axis=(1, 3))
    np.testing.assert_array_equal(np.asarray(Image.open(out)), np.rint(pooled / 257))
    assert f"{out}: 16-bit values written as 8 bits (x / 257, rounded): BMP holds 8 bits" in (
        result.stderr
    )
    assert f"wrote {out} (4 x 4 x 1, uint8)" in result.stderr
    jpeg = run(tmp_path / "g16.png", "--size", "2", "-o", tmp_path / "g16p.jpg")
    assert jpeg.exit_code == 0 and "JPEG holds 8 bits" in jpeg.stderr
