"""Hostile and odd input: damaged images, bombs, frames, modes, tiny images, huge kernels."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from cnnfilter import imageio
from cnnfilter.engine.cost import MAX_DIRECT_MACS, check_filter_cost, filter_cost
from cnnfilter.errors import ProcessingError, UsageError
from cnnfilter.imageio import writing
from cnnfilter.kernels import load_kernel_file, resolve_kernel

from helpers import invoke, one_error_line


def read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height 8-bit gray pixels but carries one row of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1))
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


# -- damaged files: exit 1, one line -------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda s: b"", "is empty (0 bytes), not an image"),
        (lambda s: b"hello, I am text\n" * 10, "is not an image Pillow can read"),
        (lambda s: (s / "camera.png").read_bytes()[:3000], "is truncated or corrupt"),
        (lambda s: (s / "rocket.jpg").read_bytes()[:5000], "is truncated or corrupt"),
        (lambda s: (s / "camera.png").read_bytes()[:40], "starts like a PNG file, but its"),
    ],
    ids=["zero-bytes", "text-named-png", "truncated-png", "truncated-jpeg", "header-only"],
)
def test_damaged_image_is_one_line_and_exit_1(samples, tmp_path, make, message):
    bad = tmp_path / "photo.png"
    bad.write_bytes(make(samples))
    result = invoke("apply", bad, "-k", "sobel-x", "-o", tmp_path / "out.png")
    assert result.exit_code == 1
    assert message in one_error_line(result)
    assert not (tmp_path / "out.png").exists()


def test_corrupt_compressed_data_is_reported(samples, tmp_path):
    data = bytearray((samples / "camera.png").read_bytes())
    for i in range(2000, 2400, 7):
        data[i] ^= 0xFF  # damage the IDAT stream past its start
    bad = tmp_path / "bad.png"
    bad.write_bytes(bytes(data))
    result = invoke("apply", bad, "-k", "box", "-o", tmp_path / "out.png")
    assert result.exit_code == 1
    assert "is truncated or corrupt" in one_error_line(result)


def test_decompression_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(30000, 30000))

    def no_decoding(self):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ProcessingError) as info:
        imageio.read_image(bomb, max_pixels=10**8)
    assert str(info.value) == (
        f"'{bomb}' is 30000 x 30000 = 900,000,000 pixels, above the limit of 100,000,000; "
        "raise it with max_pixels=... if the file is trusted"
    )


def test_default_pixel_limit_and_max_pixels_option(samples, tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(25000, 20000))  # 500 MP > the default (at most 179 MP)
    result = invoke("apply", bomb, "-k", "box", "-o", tmp_path / "o.png")
    assert result.exit_code == 1
    assert f"above the limit of {imageio.DEFAULT_MAX_PIXELS:,}" in one_error_line(result)
    assert imageio.DEFAULT_MAX_PIXELS <= imageio.PILLOW_GUARD_PIXELS
    camera = samples / "camera.png"  # 512 x 512 = 262,144 pixels
    refused = invoke("apply", camera, "-k", "box", "-o", tmp_path / "a.png", "--max-pixels", 262143)
    assert refused.exit_code == 1
    assert "262,144 pixels, above the limit of 262,143" in one_error_line(refused)
    allowed = invoke("apply", camera, "-k", "box", "-o", tmp_path / "b.png", "--max-pixels", 262144)
    assert allowed.exit_code == 0, allowed.stderr


def test_pixel_limit_applies_to_stdin(samples):
    result = invoke(
        ["apply", "-", "-k", "box", "-o", "-", "--format", "png", "--max-pixels", "1000"],
        input=(samples / "coins.png").read_bytes(),
    )
    assert result.exit_code == 1
    assert "'<stdin>' is 303 x 384 = 116,352 pixels, above the limit of 1,000" in result.stderr


# -- frames and modes ------------------------------------------------------------------------

COLOURS = [(200, 0, 0), (0, 150, 0), (0, 0, 100)]


@pytest.fixture(params=["gif", "tif"])
def three_frames(request, tmp_path) -> Path:
    frames = [Image.new("RGB", (6, 5), c) for c in COLOURS]
    path = tmp_path / f"anim.{request.param}"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


def test_first_frame_is_used_and_the_note_says_so(three_frames, tmp_path):
    result = invoke("apply", three_frames, "-k", "identity", "-o", tmp_path / "f.png")
    assert result.exit_code == 0, result.stderr
    assert "frame 0 of 3 (0-based; --frame N picks another)" in result.stderr
    assert np.all(read(tmp_path / "f.png") == COLOURS[0])


def test_frame_option_picks_a_frame(three_frames, tmp_path):
    result = invoke("apply", three_frames, "-k", "identity", "-o", tmp_path / "f.png", "--frame", 2)
    assert result.exit_code == 0, result.stderr
    assert "frame 2 of 3" in result.stderr
    assert np.all(read(tmp_path / "f.png") == COLOURS[2])


def test_frame_out_of_range_is_a_usage_error(three_frames, tmp_path):
    result = invoke("apply", three_frames, "-k", "identity", "-o", tmp_path / "f.png", "--frame", 3)
    assert result.exit_code == 2
    assert one_error_line(result).endswith("has 3 frame(s); --frame must be between 0 and 2")


def test_single_frame_image_does_not_mention_frames(samples, tmp_path):
    result = invoke("apply", samples / "coins.png", "-k", "box", "-o", tmp_path / "c.png")
    assert result.exit_code == 0
    assert "; frame " not in result.stderr


def test_cmyk_is_read_as_rgb(tmp_path, rng):
    rgb = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    path = tmp_path / "cmyk.tif"
    Image.fromarray(rgb).convert("CMYK").save(path)
    loaded = imageio.read_image(path)
    assert loaded.mode == "CMYK" and loaded.pixels.shape == (7, 9, 3)
    assert np.array_equal(loaded.pixels, rgb)  # C = 255 - R etc., K = 0: exact round trip
    result = invoke("apply", path, "-k", "identity", "-o", tmp_path / "o.png")
    assert result.exit_code == 0, result.stderr
    assert np.array_equal(read(tmp_path / "o.png"), rgb)


def test_gray_with_alpha_keeps_its_alpha(tmp_path):
    gray = np.full((4, 6), 120, dtype=np.uint8)
    gray[:, 4:] = 250  # bright hidden colour under the transparent pixels
    alpha = np.array([[255, 255, 255, 255, 0, 0]] * 4, dtype=np.uint8)
    path = tmp_path / "la.png"
    Image.fromarray(np.stack([gray, alpha], axis=-1), mode="LA").save(path)
    result = invoke("apply", path, "-k", "box", "-o", tmp_path / "o.png")
    assert result.exit_code == 0, result.stderr
    assert "(4 x 6 x 2, uint8)" in result.stderr
    with Image.open(tmp_path / "o.png") as im:
        assert im.mode == "LA"
        out = np.asarray(im)
    assert np.array_equal(out[..., 1], alpha)  # alpha carried through unfiltered
    # where the whole 3x3 window is opaque, a flat gray stays exactly flat
    assert np.all(out[:, :3, 0] == 120)
    # next to transparency the hidden colour never shows up (premultiplied by alpha 0): a
    # plain 3x3 mean would give (6 * 120 + 3 * 250) / 9 = 163
    assert np.all(out[:, 3, 0] <= 120)


@pytest.mark.parametrize(
    ("boundary", "expected"),
    [("symmetric", 90), ("mirror", 90), ("edge", 90), ("wrap", 90), ("constant", 10)],
)
def test_one_pixel_image_with_each_boundary(tmp_path, boundary, expected):
    path = tmp_path / "dot.png"
    Image.fromarray(np.array([[90]], dtype=np.uint8)).save(path)
    result = invoke("apply", path, "-k", "box", "--boundary", boundary, "-o", tmp_path / "o.png")
    assert result.exit_code == 0, result.stderr
    # every neighbour is the pixel itself, or 0 outside for constant: 90 / 9 = 10
    assert read(tmp_path / "o.png").tolist() == [[expected]]


def test_image_smaller_than_the_kernel(tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(np.array([[0, 255], [255, 0]], dtype=np.uint8)).save(path)
    same = invoke("apply", path, "-k", "box:7", "-o", tmp_path / "same.png")
    assert same.exit_code == 0, same.stderr
    # symmetric extension tiles the checkerboard: 7x7 windows hold 24 or 25 of 49 bright
    assert read(tmp_path / "same.png").tolist() == [[125, 130], [130, 125]]
    valid = invoke("apply", path, "-k", "box:7", "--padding", "valid", "-o", tmp_path / "v.png")
    assert valid.exit_code == 2
    assert "the output would be empty" in one_error_line(valid)


# -- kernels -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("1,a,3;4,5,6", "'a' is not a number"),
        ("1,2,3;4,5", r"ragged: its rows have \[2, 3\] entries"),
        ("[[1,2],[3]]", "not a rectangular matrix of numbers"),
        ('[[1,"x"]]', "'x' is not a number"),
        ("[[1,true]]", "True is not a number"),
        ("[[1e999]]", "contains NaN or inf"),
        ("1,nan;2,3", "contains NaN or inf"),
        ("[[[[1]]]]", "nested deeper than"),
        ("[[1,2]", "is not valid JSON"),
        ("[]", "must be a non-empty 2-D matrix"),
        ("gaussian:2000", "SIZE 2000 is larger than the limit 1025"),
        ("box:-3", "SIZE must be a positive whole number"),
        ("gaussian:5:inf", "SIGMA must be finite"),
    ],
)
def test_bad_kernel_specs(spec, message):
    with pytest.raises(UsageError, match=message):
        resolve_kernel(spec)


def test_bad_kernel_spec_through_the_cli(samples, tmp_path):
    result = invoke("apply", samples / "camera.png", "-k", "1,2;3", "-o", tmp_path / "o.png")
    assert result.exit_code == 2
    assert "ragged" in one_error_line(result)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("k.txt", b"\xff\xfe\x00garbage", "cannot be read as text"),
        ("k.csv", b"1,2\n3,x\n", "'x' is not a number"),
        ("k.json", b'{"a": 1}', "is empty|not valid JSON|not a number"),
        ("k.png", b"1,2", "unknown extension '.png'"),
    ],
)
def test_bad_kernel_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UsageError, match=message):
        load_kernel_file(path)


def test_pickled_or_complex_npy_kernels_are_refused(tmp_path):
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UsageError, match="not a readable .npy array"):
        load_kernel_file(obj)
    cplx = tmp_path / "c.npy"
    np.save(cplx, np.ones((3, 3), dtype=complex))
    with pytest.raises(UsageError, match="holds complex128 values, not numbers"):
        load_kernel_file(cplx)


def test_direct_cost_is_the_multiply_adds_of_the_nonzero_taps():
    # 100 x 80 output (same padding), 3 channels, sobel-x has 6 non-zero taps
    cost = filter_cost((100, 80, 3), resolve_kernel("sobel-x").weights, method="direct")
    assert cost.macs == 100 * 80 * 3 * 6
    summed = filter_cost(
        (100, 80, 3), resolve_kernel("sobel-x").weights, method="direct", channels="sum"
    )
    assert summed.macs == 100 * 80 * 6
    strided = filter_cost((100, 80), np.ones((3, 3)), method="direct", stride=2)
    assert strided.macs == 50 * 40 * 9


def test_huge_direct_cost_is_refused_unless_fft():
    kernel = np.ones((101, 101))
    shape = (4000, 4000, 3)  # 4.9e11 multiply-adds directly
    with pytest.raises(UsageError, match="use method='fft'"):
        check_filter_cost(shape, kernel, method="direct", memory_limit=2**40)
    cost = check_filter_cost(shape, kernel, method="fft", memory_limit=2**40)
    assert cost.method == "fft" and cost.macs > MAX_DIRECT_MACS


def test_absurd_memory_is_refused():
    # a dilation of 1000 on a 101-tap kernel spans 100,001 pixels: the padded image alone
    # would hold ~1e10 floats
    with pytest.raises(UsageError, match="GiB of working memory"):
        check_filter_cost(
            (512, 512), np.ones((101, 101)), dilation=1000, method="auto", memory_limit=2**34
        )


def test_absurd_dilation_is_refused_through_the_cli_in_no_time(samples, tmp_path):
    result = invoke(
        "apply", samples / "camera.png", "-k", "box:101", "--dilation", "100000",
        "-o", tmp_path / "o.png",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "GiB of working memory" in one_error_line(result)


def test_a_big_but_sane_kernel_runs(samples, tmp_path):
    result = invoke("apply", samples / "coins.png", "-k", "box:101", "-o", tmp_path / "o.png")
    assert result.exit_code == 0, result.stderr
    coins = read(samples / "coins.png").astype(np.float64)
    out = read(tmp_path / "o.png").astype(np.float64)
    # centre pixel: the mean of the 101 x 101 window around it (no border involved)
    r, c = 151, 192
    assert abs(out[r, c] - coins[r - 50 : r + 51, c - 50 : c + 51].mean()) <= 0.5 + 1e-6


# -- never overwrite, atomic writes --------------------------------------------------------


def test_output_equal_to_input_is_refused(samples, tmp_path):
    src = tmp_path / "c.png"
    src.write_bytes((samples / "coins.png").read_bytes())
    result = invoke("apply", src, "-k", "box", "-o", src, "--force")
    assert result.exit_code == 2
    assert "cnnfilter never overwrites its input" in one_error_line(result)
    assert src.read_bytes() == (samples / "coins.png").read_bytes()


def test_interrupted_write_removes_its_temporary_file(tmp_path, monkeypatch):
    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(writing.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        imageio.write_bytes_atomic(tmp_path / "x.png", b"data")
    assert list(tmp_path.iterdir()) == []


def test_stdin_bytes_decode_like_the_file(samples):
    data = (samples / "horse.png").read_bytes()
    from_bytes = imageio.decode_image(data)
    from_file = imageio.read_image(samples / "horse.png")
    assert np.array_equal(from_bytes.pixels, from_file.pixels)
    assert np.array_equal(from_bytes.alpha, from_file.alpha)
    assert from_bytes.format == "PNG"
    assert isinstance(io.BytesIO(data).read(4), bytes)


def test_libtiff_diagnostics_do_not_reach_the_user(samples, tmp_path):
    # libtiff writes "ZIPDecode: Decoding error ..." straight to file descriptor 2
    with Image.open(samples / "coins.png") as im:
        im.crop((0, 0, 64, 64)).save(tmp_path / "ok.tif", compression="tiff_deflate")
    data = bytearray((tmp_path / "ok.tif").read_bytes())
    for i in range(40, 200, 5):
        data[i] ^= 0x55  # damage the compressed strip
    (tmp_path / "bad.tif").write_bytes(bytes(data))
    proc = subprocess.run(
        [sys.executable, "-m", "cnnfilter", "apply", str(tmp_path / "bad.tif"), "-k", "box",
         "-o", str(tmp_path / "o.png")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"Error: '{tmp_path / 'bad.tif'}' is truncated or corrupt: decoder error -2"
    ]


# -- layer files through the CLI, in a memory-limited process --------------------------------

_BOMB = "\n".join(
    ["input: [8, 8, 3]", "layers:", "  - &a0 {dropout: {rate: 0.1}}"]
    + [
        f"  - &a{i} {{repeat: {{times: 1, layers: [{', '.join([f'*a{i - 1}'] * 10)}]}}}}"
        for i in range(1, 10)
    ]
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_BOMB, "more than"),  # "billion laughs": 10**9 layers in 1 KB
        ("input: [8, 8, 3]\nlayers: " + "[" * 20000 + "]" * 20000, "nested deeper than 50"),
        ("input: !!python/object/apply:os.system ['touch pwned']\nlayers: [relu]",
         "unsafe or unsupported YAML tag"),
        ("input: [8, 8, 3]\nlayers: [{repeat: {times: 1000000000, layers: [relu]}}]",
         "more than 20000 layers"),
    ],
    ids=["alias-bomb", "deep-nesting", "python-tag", "huge-repeat"],
)  # fmt: skip
def test_hostile_layer_files_are_refused_in_bounded_memory(tmp_path, text, message):
    import resource

    arch = tmp_path / "arch.yaml"
    arch.write_text(text + "\n")

    def limit_memory():  # 1 GiB of address space: expanding any of these would not fit
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    proc = subprocess.run(
        [sys.executable, "-m", "cnnfilter", "params", str(arch), "--json"],
        capture_output=True, text=True, check=False, cwd=tmp_path, preexec_fn=limit_memory,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and message in proc.stderr
    assert not (tmp_path / "pwned").exists()
