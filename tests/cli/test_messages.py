"""Error messages and notes that name the right thing and offer fixes that exist.

Each message is checked whole enough to pin what it names and which option
it suggests: a hint must never mention an option the command does not have.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, error_line, invoke

ARCH = ROOT / "samples" / "arch" / "vgg16.yaml"


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.fromarray((np.arange(48 * 40) % 251).reshape(48, 40).astype(np.uint8)).save("gray.png")
    return tmp_path


# ------------------------------------------------- hints name options that exist


def test_pool_writes_a_float_feature_map_as_a_rescaled_8_bit_picture(here):
    features = np.random.default_rng(3).normal(size=(6, 8, 3))
    np.save("features.npy", features)
    result = invoke(["pool", "features.npy", "--size", "2", "-o", "q.png"])
    assert result.exit_code == 0, result.stderr
    pooled = features.reshape(3, 2, 4, 2, 3).max(axis=(1, 3))  # independent 2x2 max pooling
    low, high = pooled.min(), pooled.max()
    expected = np.clip(np.rint((pooled - low) * (255 / (high - low))), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open("q.png")), expected)
    assert f"q.png: float64 values [{low:.6g}, {high:.6g}] rescaled to 0..255 (8 bits)" in (
        result.stderr
    )
    assert "--range" not in result.stderr
    assert "wrote q.png (3 x 4 x 3, uint8)" in result.stderr


def test_pool_of_an_integer_array_is_rescaled_not_wrapped(here):
    np.save("ints.npy", np.arange(48, dtype=np.int64).reshape(6, 8) * 100)
    result = invoke(["pool", "ints.npy", "--size", "2", "-o", "q.png"])
    assert result.exit_code == 0, result.stderr
    written = np.asarray(Image.open("q.png"))
    # max of each 2x2 window: 900, 1100, ..., 4700; rescaled 900 -> 0, 4700 -> 255
    pooled = (np.arange(48).reshape(6, 8) * 100).reshape(3, 2, 4, 2).max(axis=(1, 3))
    np.testing.assert_array_equal(written, np.rint((pooled - 900) * 255 / 3800).astype(np.uint8))
    assert "int64 values [900, 4700] rescaled" in result.stderr


def test_pool_single_channel_float_tif_stays_float32(here):
    np.save("f.npy", np.linspace(-1.5, 2.5, 16).reshape(4, 4))
    result = invoke(["pool", "f.npy", "--op", "avg", "--size", "2", "-o", "q.tif"])
    assert result.exit_code == 0, result.stderr
    with Image.open("q.tif") as im:
        assert im.mode == "F"
        np.testing.assert_allclose(
            np.asarray(im), np.linspace(-1.5, 2.5, 16).reshape(2, 2, 2, 2).mean(axis=(1, 3))
        )
    assert "rescaled" not in result.stderr


def test_pool_refuses_a_picture_of_16_channels_and_points_to_npy(here):
    np.save("f16.npy", np.zeros((4, 4, 16)))
    line = error_line(2, ["pool", "f16.npy", "-o", "q.png"])
    assert line == (
        "Error: f16.npy has 16 channels, but a picture holds 1, 3 or 4; write the result as "
        ".npy (-o out.npy) to keep them all"
    )
    assert not Path("q.png").exists()


def test_apply_range_raw_to_png_names_range_and_npy(here):
    line = error_line(2, ["apply", "gray.png", "-k", "sobel-x", "--range", "raw", "-o", "r.png"])
    assert line == (
        "Error: --range raw keeps the float response (48 x 40), which only .npy, a .tif or a "
        "single-channel .pfm can hold, not PNG; write .npy, or use --range clip, abs or "
        "rescale to map it to pixels"
    )
    assert not Path("r.png").exists()


@pytest.mark.parametrize(
    ("args", "with_format"),
    [
        (["apply", "gray.png", "-k", "box", "-o", "out.xyz"], True),
        (["pool", "gray.png", "-o", "out.xyz"], True),
        (["detect", "gray.png", "-k", "box", "--heatmap", "out.xyz"], False),
        (["receptive-field", ARCH, "--image", "gray.png", "--layer", "conv1_1", "-o", "out.xyz"],
         True),
    ],
)  # fmt: skip
def test_unknown_extension_offers_format_only_where_it_exists(here, args, with_format):
    line = error_line(2, args)
    assert "cannot tell the output format of 'out.xyz' from its extension; use .png, .jpg, " in line
    assert ".gif or .npy" in line
    assert ("--format" in line) == with_format  # receptive-field's --format is table/json


def test_standard_output_is_refused_by_name_where_there_is_no_format_option(here):
    line = error_line(2, ["detect", "gray.png", "-k", "box", "--heatmap", "-"])
    assert line == "Error: this output cannot be standard output ('-'); give a file name"


# ------------------------------------------------- messages name the right thing


def test_a_missing_template_is_called_a_template(here):
    line = error_line(2, ["detect", "gray.png", "--template", "nope.png"])
    assert line == "Error: template 'nope.png' does not exist"
    Path("folder").mkdir()
    line = error_line(2, ["detect", "gray.png", "--template", "folder"])
    assert line == "Error: template 'folder' is a directory, not a file"


def test_a_kernel_file_that_is_a_directory_is_called_one(here):
    Path("somedir").mkdir()
    line = error_line(2, ["apply", "gray.png", "--kernel-file", "somedir", "-o", "o.png"])
    assert line == "Error: kernel file 'somedir' is a directory, not a file"


def test_a_kernel_file_error_describes_the_file_format_and_the_line(here):
    Path("k.txt").write_text("# my kernel\n1 0 -1\n2 x -2\n", encoding="utf-8")
    line = error_line(2, ["apply", "gray.png", "--kernel-file", "k.txt", "-o", "o.png"])
    assert line == (
        "Error: kernel file 'k.txt', line 3: 'x' is not a number; write one row of numbers "
        "per line, separated by commas or blanks ('#' starts a comment)"
    )
    inline = error_line(2, ["apply", "gray.png", "-k", "1,0;2,x", "-o", "o.png"])
    assert (
        inline
        == "Error: kernel 'custom': 'x' is not a number; write rows as '1,0,-1;2,0,-2;1,0,-1'"
    )


def test_a_bad_kernel_parameter_names_the_kernel_and_its_usage(here):
    line = error_line(2, ["apply", "gray.png", "-k", "gaussian:5:0", "-o", "o.png"])
    assert (
        line
        == "Error: kernel 'gaussian:5:0': SIGMA must be > 0, got 0 (usage: gaussian:SIZE:SIGMA)"
    )


# ------------------------------------------------- one notation in human text


def test_apply_note_gives_the_canonical_boundary_the_alias_and_h_x_w_x_c(here):
    result = invoke(["apply", "gray.png", "-k", "sobel-x", "--boundary", "symm", "-o", "a.png"])
    assert result.exit_code == 0, result.stderr
    assert "boundary symmetric (symm), padding same" in result.stderr
    assert "response 48 x 40 x 1 (float32)" in result.stderr
    plain = invoke(["apply", "gray.png", "-k", "sobel-x", "--json", "-o", "b.png"])
    assert "; boundary symmetric, padding same" in plain.stderr
    assert '"boundary": "symmetric"' in plain.stdout


def test_a_3d_kernel_is_reported_with_its_three_sides(samples, tmp_path):
    cube = "[" + ",".join(["[[1,1,1],[1,1,1],[1,1,1]]"] * 3) + "]"
    out = tmp_path / "c.png"
    result = invoke(["apply", samples / "coffee.png", "-k", cube, "--scale", "auto", "-o", out])
    assert result.exit_code == 0, result.stderr
    assert "with custom (3x3x3, scale 1/27); boundary symmetric" in result.stderr
    assert "response 400 x 600 x 1 (float32)" in result.stderr


def test_pool_and_receptive_field_print_h_x_w_x_c(here):
    np.save("f.npy", np.arange(25.0).reshape(5, 5))
    result = invoke(["pool", "f.npy", "--op", "avg", "--size", "2", "-o", "o.npy"])
    assert result.exit_code == 0, result.stderr
    assert "input   5 x 5 x 1 (float64)" in result.stdout
    assert "output  2 x 2 x 1 (float64)" in result.stdout
    assert "wrote o.npy (2 x 2 x 1, float64)" in result.stderr
    args = ["receptive-field", ARCH, "--image", "gray.png", "--layer", "conv5_3", "-o", "rf.png"]
    result = invoke(args)
    assert result.exit_code == 0, result.stderr
    assert (
        "gray.png (48 x 40 x 1, centre-cropped to the input's aspect) stands for the input; "
        "wrote rf.png"
    ) in result.stderr


LONG = "r" * 300  # a name longer than a file system's 255 bytes


@pytest.mark.parametrize(
    "args",
    [
        ["apply", f"{LONG}.png", "-k", "box", "-o", "{tmp}/x.png"],
        ["params", LONG],
        ["receptive-field", LONG],
        ["forward", LONG, "{tmp}/in.png", "-o", "{tmp}/maps", "--init", "he"],
    ],
)
def test_a_name_too_long_for_the_file_system_is_one_line_naming_it(tmp_path, args):
    # Path.exists()/is_file() raise ENAMETOOLONG: the OSError escaped every command, and
    # the entry point took it for a failed write: "cannot write to standard output: File name
    # too long", exit 1
    Image.new("RGB", (8, 8)).save(tmp_path / "in.png")
    result = invoke(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (
        f"Error: the name {LONG[:40]!r}... is too long for the file system (at most 255 bytes "
        "a name): shorten it\n"
    )
