"""`cnnfilter apply` and `cnnfilter kernels` through Typer's CliRunner.

Successful runs use ``catch_exceptions=False`` so that a bug shows its
traceback; stdout and stderr are checked apart. Every error of issue 2's
"Must have" 9 is checked for its message and exit code, and for leaving no
file behind.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from cnnfilter.kernels import REGISTRY, gaussian_kernel

from helpers import invoke

SOBEL_X = np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])


def run_ok(*args: str):
    result = invoke([str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


def run_error(code: int, *args: str):
    result = invoke([str(a) for a in args])
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def clip8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- the README examples


def test_readme_sobel_on_astronaut(samples, tmp_path):
    out = tmp_path / "edges.png"
    result = run_ok("apply", samples / "astronaut.png", "--kernel", "sobel-x", "-o", out)
    assert result.stdout == ""
    note = result.stderr
    assert note.startswith("convolution of ") and note.count("\n") == 1
    for part in ("sobel-x (3x3)", "boundary symmetric", "padding same", "stride 1",
                 "response 512 x 512 x 3", "range stretch (|response| from ",
                 "(75th percentile) to ", "(99.5th), gamma 0.5)", f"wrote {out}"):  # fmt: skip
        assert part in note, part
    astro = np.asarray(Image.open(samples / "astronaut.png")).astype(np.float64)
    response = np.stack(
        [ndimage.convolve(astro[..., c], SOBEL_X, mode="reflect") for c in range(3)], axis=-1
    )
    black, level = np.percentile(np.abs(response), [75, 99.5])
    assert f"from {black:.4g} (75th percentile) to {level:.4g} (99.5th)" in note
    expected = clip8(255 * np.clip((np.abs(response) - black) / (level - black), 0, 1) ** 0.5)
    got = np.asarray(Image.open(out))
    assert got.shape == (512, 512, 3)
    assert np.abs(got.astype(int) - expected).max() <= 1  # float32 vs float64 at .5
    assert (got != expected).mean() < 1e-3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edges.png"]


def test_readme_gaussian_on_camera(samples, tmp_path):
    out = tmp_path / "blur.png"
    result = run_ok("apply", samples / "camera.png", "--kernel", "gaussian:7:1.5", "-o", out)
    assert "gaussian:7:1.5 (7x7)" in result.stderr and "range clip" in result.stderr
    camera = np.asarray(Image.open(samples / "camera.png")).astype(np.float64)
    expected = clip8(ndimage.convolve(camera, gaussian_kernel(7, 1.5), mode="reflect"))
    got = np.asarray(Image.open(out))
    assert got.dtype == np.uint8 and got.shape == (512, 512)
    assert np.abs(got.astype(int) - expected).max() <= 1


def test_readme_inline_json_sharpen_on_a_jpeg(samples, tmp_path):
    src = tmp_path / "photo.jpg"
    shutil.copy(samples / "rocket.jpg", src)
    out = tmp_path / "sharp.jpg"
    result = run_ok("apply", src, "--kernel", "[[0,-1,0],[-1,5,-1],[0,-1,0]]", "-o", out)
    assert "custom (3x3)" in result.stderr and "response 427 x 640 x 3" in result.stderr
    with Image.open(out) as im:
        assert im.format == "JPEG" and im.size == (640, 427)


def test_readme_kernel_file_correlate_constant_stride_2(samples, tmp_path):
    kfile = tmp_path / "mine.txt"
    kfile.write_text("1 2 0\n0 0 0\n0 -2 -1\n", encoding="utf-8")
    out = tmp_path / "out.png"
    result = run_ok(
        "apply", samples / "coins.png", "--kernel-file", kfile, "--op", "correlate",
        "--boundary", "constant", "--stride", "2", "--range", "abs", "-o", out,
    )  # fmt: skip
    note = result.stderr
    assert note.startswith("cross-correlation of ")
    assert "mine.txt (3x3)" in note and "boundary constant" in note and "stride 2" in note
    assert "response 152 x 192" in note  # ceil(303 / 2) x ceil(384 / 2)
    coins = np.asarray(Image.open(samples / "coins.png")).astype(np.float64)
    k = np.array([[1.0, 2, 0], [0, 0, 0], [0, -2, -1]])
    ref = ndimage.correlate(coins, k, mode="constant", cval=0.0)[::2, ::2]
    got = np.asarray(Image.open(out))
    assert got.shape == (152, 192)
    np.testing.assert_array_equal(got, clip8(np.abs(ref)))


def test_sum_channels_scale_and_npy_output(samples, tmp_path):
    out = tmp_path / "map.npy"
    result = run_ok(
        "apply", samples / "chelsea.png", "--kernel", "1,1;1,1", "--scale", "auto",
        "--sum-channels", "--padding", "valid", "-o", out,
    )  # fmt: skip
    assert "scale 1/4" in result.stderr and "channels summed" in result.stderr
    chelsea = np.asarray(Image.open(samples / "chelsea.png")).astype(np.float64)
    summed = chelsea.sum(axis=2)
    ref = (summed[:-1, :-1] + summed[1:, :-1] + summed[:-1, 1:] + summed[1:, 1:]) / 4
    got = np.load(out)
    assert got.dtype == np.float32 and got.shape == (299, 450)
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_rgba_photo_keeps_its_alpha(samples, tmp_path):
    out = tmp_path / "horse.png"
    run_ok("apply", samples / "horse.png", "--kernel", "box-blur", "-o", out)
    src = np.asarray(Image.open(samples / "horse.png"))
    got = np.asarray(Image.open(out))
    assert got.shape == src.shape == (328, 400, 4)
    np.testing.assert_array_equal(got[..., 3], src[..., 3])


def test_sixteen_bit_png_stays_sixteen_bit(tmp_path):
    values = (np.arange(64, dtype=np.uint32).reshape(8, 8) * 1000).astype(np.uint16)
    src = tmp_path / "deep.png"
    Image.fromarray(values).save(src)
    out = tmp_path / "out.png"
    run_ok("apply", src, "--kernel", "identity", "-o", out)
    with Image.open(out) as im:
        assert im.mode.startswith("I")
        np.testing.assert_array_equal(np.asarray(im).astype(np.uint16), values)


def test_force_replaces_an_existing_output(samples, tmp_path):
    out = tmp_path / "edges.png"
    out.write_bytes(b"old")
    run_ok("apply", samples / "camera.png", "--kernel", "sobel-x", "-o", out, "--force")
    assert np.asarray(Image.open(out)).shape == (512, 512)


# ---------------------------------------------------------------- kernels


def test_kernels_lists_every_registry_entry(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    result = run_ok("kernels")
    assert result.stderr == ""
    for entry in REGISTRY.values():
        assert entry.usage in result.stdout
    assert "gaussian:SIZE:SIGMA" in result.stdout and "dog:SIZE:SIGMA1:SIGMA2" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("sobel-x "))
    assert "3x3" in row and " 0 " in row and "yes" in row
    row = next(line for line in result.stdout.splitlines() if line.startswith("laplacian "))
    assert " no " in row


def test_kernels_one_kernel():
    result = run_ok("kernels", "sobel-x")
    assert result.stderr == ""
    out = result.stdout
    assert "sobel-x (3x3)" in out
    assert [line.split() for line in out.splitlines()[1:4]] == [
        ["1", "0", "-1"],
        ["2", "0", "-2"],
        ["1", "0", "-1"],
    ]
    assert "sum: 0" in out
    assert "separable: yes, column [1, 2, 1] x row [1, 0, -1]" in out
    assert "Sobel operator" in out


def test_kernels_parameterised_and_not_separable():
    out = run_ok("kernels", "gaussian:3:1").stdout
    assert "gaussian:3:1 (3x3)" in out and "sum: 1" in out and "separable: yes" in out
    assert "separable: no" in run_ok("kernels", "laplacian").stdout


def test_kernels_unknown_name_suggests():
    line = run_error(2, "kernels", "sobl-x")
    assert "unknown kernel 'sobl-x'" in line and "did you mean" in line and "sobel-x" in line


# ---------------------------------------------------------------- errors


def test_missing_image(tmp_path):
    line = run_error(2, "apply", tmp_path / "nothere.png", "--kernel", "sobel-x",
                     "-o", tmp_path / "out.png")  # fmt: skip
    assert "input image" in line and "nothere.png" in line and "does not exist" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not an image", "is not an image Pillow can read"),
        (b"", "is empty (0 bytes)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "truncated or corrupt"),
    ],
)
def test_unreadable_or_corrupt_image(tmp_path, content, message):
    src = tmp_path / "bad.png"
    src.write_bytes(content)
    line = run_error(1, "apply", src, "--kernel", "sobel-x", "-o", tmp_path / "out.png")
    assert message in line and "bad.png" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.png"]


def test_unknown_kernel_name_suggests_closest(samples, tmp_path):
    line = run_error(2, "apply", samples / "camera.png", "--kernel", "sobel-z",
                     "-o", tmp_path / "o.png")  # fmt: skip
    assert "unknown kernel 'sobel-z'" in line
    assert "did you mean" in line and "sobel-x" in line and "cnnfilter kernels" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("[[1,0,-1],[2,0]]", "not a rectangular matrix"),
        ("[[1,0,-1],[2,0,-2]", "not valid JSON"),
        ("1,0,-1;2,0", "ragged"),
        ("1,x,-1", "'x' is not a number"),
        ("gaussian:7:zero", "SIGMA must be a number"),
    ],
)
def test_malformed_kernel(samples, tmp_path, spec, message):
    line = run_error(2, "apply", samples / "camera.png", "--kernel", spec, "-o", tmp_path / "o.png")
    assert message in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("spec", ["[[1,NaN],[0,1]]", "1,nan;0,1", "[[Infinity]]", "1,-inf"])
def test_nan_or_inf_in_kernel(samples, tmp_path, spec):
    line = run_error(2, "apply", samples / "camera.png", "--kernel", spec, "-o", tmp_path / "o.png")
    assert "NaN or inf" in line
    assert list(tmp_path.iterdir()) == []


def test_nan_in_kernel_file(samples, tmp_path):
    kfile = tmp_path / "k.npy"
    np.save(kfile, np.array([[1.0, np.nan]]))
    line = run_error(2, "apply", samples / "camera.png", "--kernel-file", kfile,
                     "-o", tmp_path / "o.png")  # fmt: skip
    assert "NaN or inf" in line and "k.npy" in line


def test_empty_result_of_a_valid_kernel_larger_than_the_image(tmp_path):
    src = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((4, 5), dtype=np.uint8)).save(src)
    line = run_error(2, "apply", src, "--kernel", "gaussian:7:1.5", "--padding", "valid",
                     "-o", tmp_path / "o.png")  # fmt: skip
    assert "output would be empty" in line and "7x7 kernel" in line and "4x5 image" in line
    assert "padding 'same' or 'full'" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.png"]


def test_existing_output_without_force(samples, tmp_path):
    out = tmp_path / "edges.png"
    out.write_bytes(b"keep me")
    line = run_error(2, "apply", samples / "camera.png", "--kernel", "sobel-x", "-o", out)
    assert "already exists" in line and "--force" in line
    assert out.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edges.png"]


@pytest.mark.parametrize("force", [False, True])
def test_output_that_is_the_input_is_never_overwritten(samples, tmp_path, force):
    src = tmp_path / "photo.png"
    shutil.copy(samples / "camera.png", src)
    before = src.read_bytes()
    spellings = [src, tmp_path / "." / "photo.png", tmp_path / "sub" / ".." / "photo.png"]
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.png"
    os.link(src, link)
    for output in [*spellings, link]:
        args = ["apply", src, "--kernel", "sobel-x", "-o", output] + (["--force"] if force else [])
        line = run_error(2, *args)
        assert "is the input image" in line and "never overwrites its input" in line
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "photo.png", "sub"]


def test_unknown_boundary(samples, tmp_path):
    line = run_error(2, "apply", samples / "camera.png", "--kernel", "sobel-x", "--boundary",
                     "bogus", "-o", tmp_path / "o.png")  # fmt: skip
    assert "unknown boundary mode 'bogus'" in line and "symmetric" in line and "mirror" in line
    assert list(tmp_path.iterdir()) == []


def test_ambiguous_reflect_boundary(samples, tmp_path):
    line = run_error(2, "apply", samples / "camera.png", "--kernel", "sobel-x", "--boundary",
                     "reflect", "-o", tmp_path / "o.png")  # fmt: skip
    assert "ambiguous" in line and "symmetric" in line and "mirror" in line
    assert "scipy.ndimage" in line and "numpy" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stride", "0"], "--stride must be >= 1, got 0"),
        (["--stride", "two"], "--stride must be an integer"),
        (["--dilation", "1,2,3"], "--dilation takes 1 or 2 value(s)"),
        (["--padding", "half"], "--padding must be same, valid, full"),
        (["--scale", "lots"], "--scale must be a number or 'auto'"),
    ],
)
def test_bad_geometry_options(samples, tmp_path, args, message):
    line = run_error(2, "apply", samples / "camera.png", "--kernel", "sobel-x", *args,
                     "-o", tmp_path / "o.png")  # fmt: skip
    assert message in line
    assert list(tmp_path.iterdir()) == []


def test_kernel_and_kernel_file_are_exclusive(samples, tmp_path):
    line = run_error(2, "apply", samples / "camera.png", "-o", tmp_path / "o.png")
    assert "exactly one of --kernel" in line
    kfile = tmp_path / "k.txt"
    kfile.write_text("1", encoding="utf-8")
    line = run_error(2, "apply", samples / "camera.png", "--kernel", "identity",
                     "--kernel-file", kfile, "-o", tmp_path / "o.png")  # fmt: skip
    assert "exactly one of --kernel" in line


def test_unknown_output_extension(samples, tmp_path):
    line = run_error(2, "apply", samples / "camera.png", "--kernel", "sobel-x",
                     "-o", tmp_path / "o.xyz")  # fmt: skip
    assert "cannot tell the output format" in line


@pytest.mark.parametrize("ext", ["bmp", "jpg"])
def test_sixteen_bit_result_to_an_8_bit_format_is_rounded_x_over_257(tmp_path, ext):
    src = tmp_path / "deep.png"
    values = (np.arange(16, dtype=np.uint32).reshape(4, 4) * 4369).astype(np.uint16)  # 0..65535
    Image.fromarray(values).save(src)
    out = tmp_path / f"o.{ext}"
    result = run_ok("apply", src, "--kernel", "identity", "-o", out, "--json")
    assert result.stderr.splitlines()[1] == (
        f"{out}: 16-bit values written as 8 bits (x / 257, rounded): "
        f"{'BMP' if ext == 'bmp' else 'JPEG'} holds 8 bits per channel here; "
        "use .png, .tif or .npy to keep 16"
    )
    assert '"dtype": "uint8"' in result.stdout.split('"output"')[1].split("}")[0]
    if ext == "bmp":  # lossless: exactly round(x / 257) = 17 * i
        np.testing.assert_array_equal(
            np.asarray(Image.open(out)), np.rint(values / 257).astype(np.uint8)
        )


def test_output_folder_missing_or_a_directory(samples, tmp_path):
    line = run_error(2, "apply", samples / "camera.png", "--kernel", "sobel-x",
                     "-o", tmp_path / "nope" / "o.png")  # fmt: skip
    assert "output folder" in line and "does not exist" in line
    (tmp_path / "d.png").mkdir()
    line = run_error(2, "apply", samples / "camera.png", "--kernel", "sobel-x",
                     "-o", tmp_path / "d.png", "--force")  # fmt: skip
    assert "is a folder; give a file name" in line and "--force" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.png"]


# ------------------------------------------------ issue 15: magnitude, several kernels


def test_sobel_is_the_magnitude_of_sobel_x_and_sobel_y(samples, tmp_path):
    image = samples / "camera.png"
    gx, gy, both = tmp_path / "gx.npy", tmp_path / "gy.npy", tmp_path / "g.npy"
    run_ok("apply", image, "-k", "sobel-x", "-o", gx)
    run_ok("apply", image, "-k", "sobel-y", "-o", gy)
    result = run_ok("apply", image, "-k", "sobel", "-o", both)
    assert "sobel (magnitude of sobel-x, sobel-y)" in result.stderr
    expected = np.hypot(np.load(gx).astype(np.float64), np.load(gy).astype(np.float64))
    np.testing.assert_allclose(np.load(both), expected, rtol=1e-6, atol=1e-3)
    again = tmp_path / "g2.npy"
    run_ok("apply", image, "--combine", "magnitude", "-k", "sobel-x", "-k", "sobel-y", "-o", again)
    np.testing.assert_array_equal(np.load(again), np.load(both))


def expected0(response, level):
    """The stretch with no black point (the minimum |response| of chelsea's edge-1 is 0)."""
    assert np.abs(response).min() == 0
    return 255 * np.clip(np.abs(response) / level, 0, 1) ** 0.5


def test_default_range_stretches_edges_from_the_75th_to_the_995th_percentile(samples, tmp_path):
    out, raw = tmp_path / "e.png", tmp_path / "e.npy"
    result = run_ok("apply", samples / "chelsea.png", "-k", "edge-1", "-o", out, "--json")
    run_ok("apply", samples / "chelsea.png", "-k", "edge-1", "-o", raw)
    response = np.load(raw).astype(np.float64)
    black, level = np.percentile(np.abs(response), [75, 99.5])
    doc = json.loads(result.stdout)
    assert doc["range"] == "stretch"
    assert doc["stretch"]["percentile"] == 99.5 and doc["stretch"]["gamma"] == 0.5
    assert doc["stretch"]["black_percentile"] == 75
    assert doc["stretch"]["level"] == pytest.approx(level, rel=1e-6)
    assert doc["stretch"]["black"] == pytest.approx(black, rel=1e-6)
    got = np.asarray(Image.open(out)).astype(np.float64)
    expected = 255 * np.clip((np.abs(response) - black) / (level - black), 0, 1) ** 0.5
    assert np.abs(got - expected).max() <= 0.5 + 1e-3
    # issue 15: --range abs averaged 8.6 of 255 here, with no pixel at 128 or above; the
    # stretch makes the edges visible, on black where the fur's texture is weakest
    assert got.mean() > 25 and (got >= 128).mean() > 0.09
    assert (got == 0).mean() == pytest.approx(0.75, abs=0.01)
    old = tmp_path / "no_black_point.png"  # --black-percentile 0: issue 15's picture
    run_ok("apply", samples / "chelsea.png", "-k", "edge-1", "--black-percentile", "0",
           "-o", old)  # fmt: skip
    assert np.abs(np.asarray(Image.open(old)) - expected0(response, level)).max() <= 0.501
    abs_out = tmp_path / "abs.png"
    run_ok("apply", samples / "chelsea.png", "-k", "edge-1", "--range", "abs", "-o", abs_out)
    assert np.asarray(Image.open(abs_out)).mean() == pytest.approx(8.6, abs=0.1)
    for bad, why in (("99.5", "must be in [0, 99.5) (below --percentile), got 99.5"),
                     ("-1", "must be in [0, 99.5) (below --percentile), got -1"),
                     ("nan", "must be a finite number, got nan")):  # fmt: skip
        err = run_error(2, "apply", samples / "chelsea.png", "-k", "edge-1", "-o",
                        tmp_path / "x.png", "--black-percentile", bad)  # fmt: skip
        assert err == f"Error: --black-percentile {why}", err
        assert not (tmp_path / "x.png").exists()
    flat = tmp_path / "g1.png"
    run_ok("apply", samples / "chelsea.png", "-k", "edge-1", "--gamma", "1", "--percentile",
           "90", "--black-percentile", "50", "-o", flat)  # fmt: skip
    black50, level90 = np.percentile(np.abs(response), [50, 90])
    expected = 255 * np.clip((np.abs(response) - black50) / (level90 - black50), 0, 1)
    assert np.abs(np.asarray(Image.open(flat)) - expected).max() <= 0.5 + 1e-3


def test_several_kernels_write_one_output_each_or_a_montage(samples, tmp_path):
    pattern = str(tmp_path / "{kernel}.png")
    run_ok("apply", samples / "coins.png", "-k", "sobel-x", "-k", "gaussian:5:1", "-o", pattern)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gaussian_5_1.png", "sobel-x.png"]
    single = tmp_path / "single.png"
    run_ok("apply", samples / "coins.png", "-k", "sobel-x", "-o", single)
    np.testing.assert_array_equal(
        np.asarray(Image.open(single)), np.asarray(Image.open(tmp_path / "sobel-x.png"))
    )
    montage = tmp_path / "m.png"
    run_ok("apply", samples / "coins.png", "-k", "sobel-x", "-k", "box:3", "--montage",
           "-o", montage)  # fmt: skip
    from cnnfilter import render

    px = np.asarray(Image.open(montage))
    top = render.CAPTION_HEIGHT
    assert px.shape == (top + 303, 384 + 8 + 384, 3)
    np.testing.assert_array_equal(px[top:, :384, 0], np.asarray(Image.open(single)))
    strip = px[:top, :384]
    assert (strip.max(axis=2) < 128).sum() > 30  # the label "sobel-x (stretch)"
    line = run_error(2, "apply", samples / "coins.png", "-k", "sobel-x", "-k", "box:3",
                     "-o", tmp_path / "x.png")  # fmt: skip
    assert "{kernel}" in line and "--montage" in line


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--percentile", "100.0001"], "--percentile must be in (0, 100], got 100.0001"),
        (["--percentile", "-0"], "--percentile must be in (0, 100], got -0"),
        (["--percentile", "1e-300", "--black-percentile", "1e-300"],
         "--black-percentile must be in [0, 1e-300) (below --percentile), got 1e-300"),
        (["--percentile", "99.50000001", "--black-percentile", "99.50000001"],
         "--black-percentile must be in [0, 99.50000001) (below --percentile), got 99.50000001"),
        (["--gamma", "0"], "--gamma must be above 0 and below 1e+06, got 0"),
        (["--gamma", "1e6"], "--gamma must be above 0 and below 1e+06, got 1000000"),
        (["--offset", "1.0000001e20"],
         "--offset must be a finite number within ±1e+20, got 1.0000001e+20"),
    ],
)  # fmt: skip
def test_a_stretch_setting_out_of_range_is_named_with_the_value_given(tmp_path, options, message):
    # the value was printed with :g: "--percentile must be in (0, 100] ..., got 100" for
    # 100.0001, and --percentile named in the message for a bad --gamma
    src = tmp_path / "in.png"
    Image.fromarray(np.arange(25, dtype=np.uint8).reshape(5, 5)).save(src)
    err = run_error(2, "apply", src, "-k", "edge-1", "-o", tmp_path / "x.png", *options)
    assert err == f"Error: {message}"
    assert not (tmp_path / "x.png").exists()


def test_a_white_percentile_below_the_default_black_one_names_the_option_to_give(tmp_path):
    # --percentile 50 alone was refused as "--black-percentile must be in [0, 50) ..., got 75":
    # an option the user never typed (its default since issue 16); under --range clip, where
    # neither is used, the same error refused a command that ran before the black point
    src, out = tmp_path / "in.png", tmp_path / "x.png"
    Image.fromarray((np.arange(100, dtype=np.uint8) * 2).reshape(10, 10)).save(src)
    err = run_error(2, "apply", src, "-k", "edge-1", "--percentile", "50", "-o", out)
    assert err == (
        "Error: --percentile 50 is not above --black-percentile's default, 75: give "
        "--black-percentile below 50 too (0: no black point)"
    )
    assert not out.exists()
    run_ok("apply", src, "-k", "edge-1", "--percentile", "50", "--black-percentile", "10",
           "-o", out)  # fmt: skip
    for mode in ("clip", "abs", "rescale"):
        run_ok("apply", src, "-k", "edge-1", "--range", mode, "--percentile", "50", "-o", out,
               "--force")  # fmt: skip
    report = json.loads(run_ok("apply", src, "-k", "edge-1", "-o", out, "--force", "--json").stdout)
    assert report["stretch"]["black_percentile"] == 75  # the default is unchanged
