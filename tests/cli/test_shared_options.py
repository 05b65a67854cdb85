"""Tester's polish items: options shared by pool/detect/receptive-field, messages, JSON shapes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, invoke, one_error_line

COLOURS = [(200, 0, 0), (0, 150, 0), (0, 0, 100)]
ARCH = ROOT / "samples" / "arch" / "vgg16.yaml"


@pytest.fixture
def three_frames(tmp_path) -> Path:
    frames = [Image.new("RGB", (6, 5), c) for c in COLOURS]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


# -- 1. --max-pixels and --frame on pool, detect and receptive-field ----------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["pool", "{img}", "--size", "2"],
        ["detect", "{img}", "-k", "box"],
        ["receptive-field", str(ARCH), "--image", "{img}", "--layer", "conv1_1", "-o", "{out}"],
    ],
)
def test_max_pixels_refuses_then_allows(command, samples, tmp_path):
    camera = samples / "camera.png"  # 512 x 512 = 262,144 pixels
    args = [a.format(img=camera, out=tmp_path / "rf.png") for a in command]
    refused = invoke(*args, "--max-pixels", 262143)
    assert refused.exit_code == 1
    assert "raise it with --max-pixels" in one_error_line(refused)
    allowed = invoke(*args, "--max-pixels", 262144)
    assert allowed.exit_code == 0, allowed.stderr


def test_pool_frame_picks_a_frame_and_the_note_says_so(three_frames, tmp_path):
    first = invoke("pool", three_frames, "-o", tmp_path / "a.png")
    assert first.exit_code == 0, first.stderr
    assert "frame 0 of 3 (0-based; --frame N picks another)" in first.stderr
    assert "frame" not in first.stdout
    third = invoke("pool", three_frames, "-o", tmp_path / "c.png", "--frame", 2)
    assert third.exit_code == 0, third.stderr
    assert "frame 2 of 3" in third.stderr
    with Image.open(tmp_path / "c.png") as im:
        assert np.all(np.asarray(im.convert("RGB")) == COLOURS[2])


def test_detect_frame_picks_a_frame_and_the_note_says_so(three_frames):
    result = invoke("detect", three_frames, "-k", "identity", "--frame", 1, "--json")
    assert result.exit_code == 0, result.stderr
    assert "frame 1 of 3 (0-based; --frame N picks another)" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["map_range"] == [150.0, 150.0]  # green frame: 0 + 150 + 0 under the centre tap


def test_frame_out_of_range_in_pool(three_frames):
    result = invoke("pool", three_frames, "--frame", 3)
    assert result.exit_code == 2
    assert one_error_line(result).endswith("--frame must be between 0 and 2")


# -- 2. a folder input with a one-file output ------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("wout", "(-o {d}/wout/) or a pattern such as '{d}/wout/{{stem}}.png'"),
        ("one.png", "(-o {d}/one/) or a pattern such as '{d}/one/{{stem}}.png'"),
    ],
)
def test_folder_input_with_a_file_output_says_how_to_name_outputs(tmp_path, output, expected):
    folder = tmp_path / "photos" / "2024"
    folder.mkdir(parents=True)
    Image.new("L", (4, 4)).save(folder / "a.png")
    result = invoke("apply", folder, "-k", "box", "-o", tmp_path / output)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"Error: {str(folder)!r} is a folder, which gives several inputs: give an output folder "
        "ending in '/' " + expected.format(d=tmp_path.as_posix())
    )
    assert not (tmp_path / output).exists()


# -- 3. numpy overflow warnings become one line --------------------------------------------------


def test_lp_pool_overflow_is_refused_in_one_line(samples, tmp_path):
    out = tmp_path / "lp.npy"
    result = invoke("pool", samples / "camera.png", "--op", "lp", "--p", 1000, "-o", out)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        "Error: Lp pooling with p = 1000 overflows: p is too large for values up to 255 (x^p or "
        "its window sums exceed float32's 3.4e+38); use a smaller p, or scale the input down"
    )
    assert not out.exists()


def test_lp_pool_just_below_overflow_still_works(tmp_path):
    src = tmp_path / "x.npy"
    np.save(src, np.full((2, 2), 255.0, dtype=np.float32))
    # 255^15 = 1.26e36 and 4 of them sum to 5e36 < 3.4e38: no overflow
    result = invoke("pool", src, "--op", "lp", "--p", 15, "-o", tmp_path / "o.npy")
    assert result.exit_code == 0, result.stderr
    assert "Warning" not in result.stderr
    assert np.load(tmp_path / "o.npy")[0, 0] == pytest.approx(255.0 * 4 ** (1 / 15), rel=1e-5)


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_apply_overflow_is_one_line_without_numpy_warnings(tmp_path, method):
    src = tmp_path / "big.npy"
    np.save(src, np.full((16, 16), 3e38, dtype=np.float32))
    out = tmp_path / "o.npy"
    result = invoke("apply", src, "-k", "box", "--scale", "1e19", "--method", method, "-o", out)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        "Error: the response overflows float32 (largest 3.4e+38): input values up to 3e+38 "
        "times the kernel weights are too large; scale the kernel down (a smaller --scale) or "
        "the input"
    )
    assert not out.exists()


def test_apply_on_huge_finite_values_without_overflow_is_silent(tmp_path):
    src = tmp_path / "big.npy"
    np.save(src, np.full((16, 16), 3e38, dtype=np.float32))
    result = invoke("apply", src, "-k", "box", "-o", tmp_path / "o.npy")
    assert result.exit_code == 0, result.stderr
    assert "Warning" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert np.allclose(np.load(tmp_path / "o.npy"), 3e38, rtol=1e-5)


# -- 4. consistency with apply: H, W, C shapes, <stdin>/<stdout>, workers used -------------------


def test_pool_and_detect_json_shapes_are_h_w_c(samples):
    camera = samples / "camera.png"
    pooled = json.loads(invoke("pool", camera, "--json").stdout)
    assert pooled["input_shape"] == [512, 512, 1] and pooled["output_shape"] == [256, 256, 1]
    found = json.loads(invoke("detect", camera, "-k", "box", "--json").stdout)
    assert found["image_shape"] == [512, 512, 1] and found["map_shape"] == [510, 510, 1]
    colour = json.loads(invoke("pool", samples / "astronaut.png", "--json").stdout)
    assert colour["input_shape"] == [512, 512, 3]


def test_pool_and_detect_name_stdin_and_stdout_as_apply_does(samples):
    data = (samples / "coins.png").read_bytes()
    pooled = invoke(["pool", "-", "-o", "-", "--format", "png"], input=data)
    assert pooled.exit_code == 0, pooled.stderr
    assert "max pooling of <stdin> per channel" in pooled.stderr
    assert "wrote <stdout> (151 x 192 x 1, uint8)" in pooled.stderr
    assert pooled.stdout_bytes.startswith(b"\x89PNG")
    found = invoke(["detect", "-", "-k", "box"], input=data)
    assert found.exit_code == 0, found.stderr
    assert "(raw sum of products, direct) of <stdin> (303 x 384" in found.stderr
    assert "<stdin>" not in found.stdout


def test_batch_reports_the_workers_it_used(tmp_path):
    for name in "abc":
        Image.new("L", (4, 4)).save(tmp_path / f"{name}.png")
    result = invoke("apply", tmp_path, "-k", "box", "-o", f"{tmp_path / 'out'}/", "-j", 64)
    assert result.exit_code == 0, result.stderr
    assert "(3 inputs, 3 workers)" in result.stderr
    assert "64" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png"]


# -- 5. help and message items ------------------------------------------------------------------


def plain_help(*args) -> str:
    result = invoke([*args, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    return " ".join(result.stdout.replace("│", " ").split())


def test_op_help_names_convolution_and_cross_correlation():
    text = plain_help("apply")
    assert "convolve: convolution, the kernel flipped" in text
    assert "correlate: cross-correlation, no flip" in text


def test_pool_format_lists_and_accepts_gif(samples):
    assert "png, jpg, tiff, bmp, webp, gif, npy" in plain_help("pool")
    result = invoke(["pool", str(samples / "coins.png"), "-o", "-", "--format", "gif"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"GIF8")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["apply", "{img}", "-k", "box", "-o", "{out}", "--padding", "-1"], "must be >= 0, got -1"),
        (["pool", "{img}", "--padding", "-1"], "must be >= 0, got -1"),
        (["apply", "{img}", "-k", "box", "-o", "{out}", "--padding", "1,-1"],
         "values must all be >= 0, got 1,-1"),
    ],
)  # fmt: skip
def test_negative_padding_is_named(samples, tmp_path, args, expected):
    out = tmp_path / "o.png"
    result = invoke(*[a.format(img=samples / "coins.png", out=out) for a in args])
    assert result.exit_code == 2
    assert one_error_line(result) == f"Error: --padding {expected}"
    assert not out.exists()


def test_unknown_layer_lists_the_closest_names(samples, tmp_path):
    args = ["receptive-field", ARCH, "--image", samples / "coins.png", "-o", tmp_path / "rf.png"]
    result = invoke(*args, "--layer", "nosuch")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith(f"Error: --layer: no layer named 'nosuch' in {ARCH}; did you mean ")
    assert len(line.split("did you mean ")[1].rstrip("?").split(", ")) == 3
    assert "see the table" not in line
    near = one_error_line(invoke(*args, "--layer", "conv5"))
    assert near.endswith("did you mean conv5_3, conv5_2, conv5_1?")


def test_detect_says_registry_kernels_run_unflipped(samples):
    assert "antisymmetric ones (sobel-x, prewitt...) give the opposite sign" in plain_help("detect")
    sobel = invoke("detect", samples / "coins.png", "-k", "sobel-x", "--json")
    assert sobel.exit_code == 0, sobel.stderr
    assert (
        "sobel-x is written for convolution; detect applies it unflipped (cross-correlation), "
        "which gives the opposite sign of apply's default; apply --op correlate matches detect"
    ) in sobel.stderr
    assert "unflipped" not in sobel.stdout
    box = invoke("detect", samples / "coins.png", "-k", "box")
    assert "unflipped" not in box.stderr  # symmetric: flipping changes nothing
    custom = invoke("detect", samples / "coins.png", "-k", "1,0,-1")
    assert "unflipped" not in custom.stderr  # a matrix typed in is taken as given


def test_the_curve_pattern_is_drawn_unflipped_so_detect_does_not_warn(samples):
    """curve is drawn as the pattern it matches (the article's figure), not for convolution."""
    curve = invoke("detect", samples / "article" / "curve_drawing.png", "-k", "curve")
    assert curve.exit_code == 0, curve.stderr
    assert "unflipped" not in curve.stderr
    assert "   1   10   20   6600" in curve.stdout
    shown = invoke("kernels", "curve")
    assert "written for convolution" not in shown.stdout
    assert shown.stdout.splitlines()[-1] == (
        "drawn as the pattern it matches: detect and apply --op correlate use it as drawn; "
        "apply's default convolution rotates it 180 degrees"
    )


def test_gitignore_lists_the_readme_output():
    root = ROOT
    assert "/edges.png" in (root / ".gitignore").read_text().splitlines()


def test_overflow_messages_in_a_real_process(samples, tmp_path):
    """No numpy RuntimeWarning reaches a real stderr: one Error line, exit 2."""
    import subprocess
    import sys

    big = tmp_path / "big.npy"
    np.save(big, np.full((64, 64), 3e38, dtype=np.float32))
    for args in (
        ["pool", str(samples / "camera.png"), "--op", "lp", "--p", "1000"],
        ["apply", str(big), "-k", "sobel-x", "--scale", "1e19", "-o", str(tmp_path / "o.npy")],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cnnfilter", *args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2
        assert done.stdout == ""
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: ")
        assert "overflows" in done.stderr and "RuntimeWarning" not in done.stderr
