"""Reading and writing image files: every Pillow mode the issue names, made here with Pillow."""

from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest
from PIL import Image

from cnnfilter.errors import ProcessingError, UsageError
from cnnfilter.imageio import (
    decode_image,
    encode_image,
    fit_bit_depth,
    output_format,
    read_image,
    write_bytes_atomic,
    write_image,
    writing,
)


@pytest.fixture
def rgb(rng) -> np.ndarray:
    return rng.integers(0, 256, size=(6, 9, 3), dtype=np.uint8)


@pytest.fixture
def gray(rng) -> np.ndarray:
    return rng.integers(0, 256, size=(7, 5), dtype=np.uint8)


def save(im: Image.Image, path, **kwargs):
    im.save(path, **kwargs)
    return path


# ---------------------------------------------------------------- reading modes


def test_read_gray_L(tmp_path, gray):
    loaded = read_image(save(Image.fromarray(gray), tmp_path / "g.png"))
    assert loaded.pixels.dtype == np.uint8 and loaded.pixels.shape == (7, 5)
    np.testing.assert_array_equal(loaded.pixels, gray)
    assert loaded.alpha is None and loaded.max_value == 255.0
    assert (loaded.mode, loaded.format, loaded.frames) == ("L", "PNG", 1)
    assert loaded.shape_text == "7 x 5 x 1"


def test_read_rgb(tmp_path, rgb):
    loaded = read_image(save(Image.fromarray(rgb), tmp_path / "c.png"))
    np.testing.assert_array_equal(loaded.pixels, rgb)
    assert loaded.alpha is None and loaded.mode == "RGB"
    assert loaded.shape_text == "6 x 9 x 3"


def test_read_rgba_keeps_alpha_apart_and_straight_colour(tmp_path, rgb, rng):
    alpha = rng.integers(0, 256, size=rgb.shape[:2], dtype=np.uint8)
    alpha[0, 0] = 0
    rgba = np.dstack([rgb, alpha])
    loaded = read_image(save(Image.fromarray(rgba), tmp_path / "a.png"))
    np.testing.assert_array_equal(loaded.pixels, rgb)  # hidden colour kept, not premultiplied
    np.testing.assert_array_equal(loaded.alpha, alpha)
    assert loaded.mode == "RGBA" and loaded.shape_text == "6 x 9 x 4"


def test_read_gray_with_alpha_LA(tmp_path, gray, rng):
    alpha = rng.integers(0, 256, size=gray.shape, dtype=np.uint8)
    im = Image.merge("LA", [Image.fromarray(gray), Image.fromarray(alpha)])
    loaded = read_image(save(im, tmp_path / "la.png"))
    assert loaded.pixels.shape == (7, 5)
    np.testing.assert_array_equal(loaded.pixels, gray)
    np.testing.assert_array_equal(loaded.alpha, alpha)
    assert loaded.mode == "LA"


def _palette_image() -> Image.Image:
    im = Image.new("P", (4, 3))
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9)
    im.putpalette(palette)
    im.putdata([0, 1, 2, 1, 2, 0, 1, 1, 2, 2, 0, 0])
    return im


def test_read_palette_without_transparency_is_expanded_to_rgb(tmp_path):
    loaded = read_image(save(_palette_image(), tmp_path / "p.png"))
    assert loaded.mode == "P" and loaded.alpha is None
    assert loaded.pixels.shape == (3, 4, 3) and loaded.pixels.dtype == np.uint8
    assert loaded.pixels[0].tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255], [0, 255, 0]]


@pytest.mark.parametrize("ext", [".png", ".gif"])
def test_read_palette_with_transparency_is_expanded_with_alpha(tmp_path, ext):
    loaded = read_image(save(_palette_image(), tmp_path / f"p{ext}", transparency=0))
    assert loaded.mode == "P"
    assert loaded.pixels.shape == (3, 4, 3)
    # index 0 (red) is transparent
    assert loaded.alpha.tolist() == [[0, 255, 255, 255], [255, 0, 255, 255], [255, 255, 0, 0]]
    assert loaded.pixels[1, 0].tolist() == [0, 0, 255]
    assert loaded.pixels[1, 1].tolist() == [255, 0, 0]  # hidden colour of a transparent pixel


def test_read_bilevel_mode_1(tmp_path):
    im = Image.new("1", (3, 2))
    im.putpixel((1, 0), 1)
    loaded = read_image(save(im, tmp_path / "b.png"))
    assert loaded.pixels.tolist() == [[0, 255, 0], [0, 0, 0]]
    assert loaded.pixels.dtype == np.uint8


def test_16_bit_gray_is_kept_16_bit_through_a_round_trip(tmp_path):
    values = (np.arange(20, dtype=np.uint16).reshape(4, 5) * 3001 + 7).astype(np.uint16)
    values[3, 4] = 65535
    src = save(Image.fromarray(values), tmp_path / "deep.png")
    with Image.open(src) as im:
        assert im.mode.startswith("I")
    loaded = read_image(src)
    assert loaded.pixels.dtype == np.uint16 and loaded.max_value == 65535.0
    np.testing.assert_array_equal(loaded.pixels, values)
    for ext in (".png", ".tif"):
        assert write_image(tmp_path / f"again{ext}", loaded.pixels) in ("PNG", "TIFF")
        back = read_image(tmp_path / f"again{ext}")
        assert back.pixels.dtype == np.uint16
        np.testing.assert_array_equal(back.pixels, values)


def test_float_tiff_mode_F_is_read_and_written_raw(tmp_path):
    values = np.array([[-1.5, 0.0, 0.25], [3.75, 1e6, -2e-3]], dtype=np.float32)
    loaded = read_image(save(Image.fromarray(values, mode="F"), tmp_path / "f.tif"))
    assert loaded.mode == "F" and loaded.pixels.dtype == np.float32 and loaded.max_value == 1.0
    np.testing.assert_array_equal(loaded.pixels, values)
    assert write_image(tmp_path / "out.tif", values) == "TIFF"
    np.testing.assert_array_equal(read_image(tmp_path / "out.tif").pixels, values)


def test_cmyk_is_converted_to_rgb(tmp_path):
    cmyk = np.zeros((1, 4, 4), dtype=np.uint8)
    cmyk[0, 0] = [255, 0, 0, 0]  # cyan
    cmyk[0, 1] = [0, 255, 0, 0]  # magenta
    cmyk[0, 2] = [0, 0, 0, 255]  # black
    cmyk[0, 3] = [0, 0, 0, 0]  # white
    im = Image.frombytes("CMYK", (4, 1), cmyk.tobytes())
    loaded = read_image(save(im, tmp_path / "cmyk.tif"))
    assert loaded.mode == "CMYK" and loaded.alpha is None
    assert loaded.pixels.tolist() == [[[0, 255, 255], [255, 0, 255], [0, 0, 0], [255, 255, 255]]]


def test_exif_orientation_is_applied_exactly_once(tmp_path):
    # stored 40 wide x 24 high: a bright block in the stored top-left corner
    stored = np.full((24, 40), 30, dtype=np.uint8)
    stored[:8, :16] = 220
    im = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = save(im, tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    loaded = read_image(path)
    assert loaded.pixels.shape == (40, 24)  # rotated once: width and height swap
    expected = np.rot90(stored, k=-1)  # clockwise: the block moves to the top-right
    assert np.abs(loaded.pixels.astype(int) - expected).max() < 40
    assert loaded.pixels[:14, -6:].mean() > 200 and loaded.pixels[:14, :6].mean() < 60
    # written back (without EXIF) and read again: no second rotation
    write_image(tmp_path / "upright.png", loaded.pixels)
    np.testing.assert_array_equal(read_image(tmp_path / "upright.png").pixels, loaded.pixels)


def test_multi_frame_files_report_frames_and_select_one(tmp_path):
    frames = [Image.fromarray(np.full((3, 3), v, dtype=np.uint8)) for v in (10, 200)]
    path = tmp_path / "anim.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert read_image(path).frames == 2
    assert read_image(path, frame=1).pixels[0, 0] == 200
    with pytest.raises(UsageError, match=r"has 2 frame\(s\); frame= must be between 0 and 1"):
        read_image(path, frame=2)


# ---------------------------------------------------------------- read errors


def test_missing_and_directory_inputs_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match=r"input image '.*nothere\.png' does not exist"):
        read_image(tmp_path / "nothere.png")
    with pytest.raises(UsageError, match=r"input image .* is a directory, not a file"):
        read_image(tmp_path)


def test_corrupt_inputs_are_processing_errors(tmp_path, rgb):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ProcessingError, match=r"is empty \(0 bytes\), not an image"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "text.png").write_text("hello, I am not a picture")
    with pytest.raises(ProcessingError, match=r"is not an image Pillow can read"):
        read_image(tmp_path / "text.png")
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[:60])
    with pytest.raises(ProcessingError, match=r"'.*cut\.png' is truncated or corrupt"):
        read_image(tmp_path / "cut.png")


def test_pixel_limit_is_checked_before_decoding(rgb):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    with pytest.raises(ProcessingError, match=r"is 6 x 9 = 54 pixels, above the limit of 50"):
        decode_image(buf.getvalue(), max_pixels=50)
    assert decode_image(buf.getvalue(), max_pixels=54).pixels.shape == (6, 9, 3)


# ---------------------------------------------------------------- writing


@pytest.mark.parametrize(
    ("ext", "fmt", "lossless"),
    [
        (".png", "PNG", True),
        (".PNG", "PNG", True),
        (".tif", "TIFF", True),
        (".tiff", "TIFF", True),
        (".bmp", "BMP", True),
        (".jpg", "JPEG", False),
        (".jpeg", "JPEG", False),
        (".webp", "WEBP", False),
    ],
)
@pytest.mark.parametrize("channels", [1, 3])
def test_write_format_follows_the_extension(tmp_path, ext, fmt, lossless, channels, rng):
    # smooth content so that lossy formats stay close
    y, x = np.mgrid[0:16, 0:24]
    base = (x * 8 + y * 4).astype(np.uint8)
    array = base if channels == 1 else np.dstack([base, base[::-1], 255 - base])
    path = tmp_path / f"out{ext}"
    assert write_image(path, array) == fmt
    assert output_format(path) == fmt
    with Image.open(path) as im:
        assert im.format == fmt
    back = read_image(path).pixels
    if fmt == "WEBP" and channels == 1:  # WebP has no gray mode: Pillow stores RGB
        assert back.shape == (*array.shape, 3)
        spread = back.max(axis=-1).astype(int) - back.min(axis=-1)
        assert spread.max() <= 8  # lossy YUV: nearly gray
        back = back[..., 1]
    assert back.shape == array.shape
    if lossless:
        np.testing.assert_array_equal(back, array)
    else:
        assert np.abs(back.astype(int) - array).mean() < 6


def test_write_rgba_keeps_alpha_in_png_and_drops_it_in_jpeg(tmp_path, rgb):
    alpha = np.full(rgb.shape[:2], 128, dtype=np.uint8)
    rgba = np.dstack([rgb, alpha])
    write_image(tmp_path / "a.png", rgba)
    loaded = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(loaded.pixels, rgb)
    np.testing.assert_array_equal(loaded.alpha, alpha)
    write_image(tmp_path / "a.jpg", rgba)
    assert read_image(tmp_path / "a.jpg").alpha is None


def test_write_gray_alpha_png(tmp_path, gray):
    la = np.dstack([gray, np.full(gray.shape, 7, dtype=np.uint8)])
    write_image(tmp_path / "la.png", la)
    loaded = read_image(tmp_path / "la.png")
    np.testing.assert_array_equal(loaded.pixels, gray)
    assert (loaded.alpha == 7).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_npy_keeps_the_raw_float_response(tmp_path, dtype):
    response = np.array([[-190.0, 1020.0, 0.5]], dtype=dtype)
    assert write_image(tmp_path / "raw.npy", response) == "NPY"
    back = np.load(tmp_path / "raw.npy")
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, response)


def test_float_results_need_npy_or_gray_tiff(tmp_path):
    with pytest.raises(
        UsageError,
        match=r"^a float array \(2 x 2\) can be stored only as \.npy, a \.tif, or a "
        r"single-channel \.pfm, not as PNG; write \.npy or \.tif, or map it to 8 bits first$",
    ):
        write_image(tmp_path / "x.png", np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(UsageError, match=r"single-channel \.pfm"):
        write_image(tmp_path / "x.bmp", np.zeros((2, 2, 3), dtype=np.float32))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("fmt", ["bmp", "gif"])
def test_16_bit_values_become_8_bit_by_rounding_x_over_257_where_16_cannot_be_held(tmp_path, fmt):
    values = np.array([[0, 128, 129, 385, 386], [257, 32896, 65406, 65408, 65535]], np.uint16)
    # round(x / 257) by hand: 128/257 = 0.498 -> 0, 129/257 = 0.502 -> 1, 385 -> 1.498 -> 1,
    # 65406/257 = 254.498 -> 254, 65408/257 = 254.506 -> 255
    expected = np.array([[0, 0, 1, 1, 2], [1, 128, 254, 255, 255]], np.uint8)
    colour = np.stack([values] * 3, axis=2)
    write_image(tmp_path / f"x.{fmt}", colour if fmt == "jpg" else values)
    with Image.open(tmp_path / f"x.{fmt}") as im:
        back = np.asarray(im.convert("RGB"))[..., 0]
    np.testing.assert_array_equal(back, expected)
    kept, note = fit_bit_depth(values, "PNG")
    assert kept is values and note is None
    assert fit_bit_depth(values, "JPEG")[1] == (
        "16-bit values written as 8 bits (x / 257, rounded): JPEG holds 8 bits per channel "
        "here; use .png, .tif or .npy to keep 16"
    )


def test_output_format_names():
    assert output_format("a/b/edges.png") == "PNG"
    assert output_format("x.JPG") == "JPEG"
    assert output_format("x.npy") == "NPY"
    assert output_format("x", "tif") == "TIFF"
    assert output_format("x.png", ".npy") == "NPY"
    with pytest.raises(
        UsageError,
        match=r"cannot tell the output format of 'x\.xyz' from its "
        r"extension",
    ):
        output_format("x.xyz")
    with pytest.raises(UsageError, match=r"unknown output format fmt='pdf'"):
        output_format("x.png", "pdf")


def test_refuses_to_clobber_without_force(tmp_path, gray):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(UsageError, match=r"'.*out\.png' already exists; add force=True to replace"):
        write_image(path, gray)
    assert path.read_bytes() == b"precious"
    write_image(path, gray, force=True)
    np.testing.assert_array_equal(read_image(path).pixels, gray)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_refuses_directories_and_missing_folders(tmp_path, gray):
    # a file name only: write_image (and pool, detect ...) write one file, no {stem} pattern
    with pytest.raises(UsageError, match=r"is a folder; give a file name \(.*/result\.png\)$"):
        write_image(tmp_path, gray, fmt="png")
    with pytest.raises(UsageError, match=r"output folder '.*nope' does not exist"):
        write_image(tmp_path / "nope" / "out.png", gray)


def test_failed_write_leaves_no_part_file_and_no_output(tmp_path, gray, monkeypatch):
    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writing.os, "fsync", broken_fsync)
    with pytest.raises(ProcessingError, match=r"cannot write '.*out\.png': No space left"):
        write_image(tmp_path / "out.png", gray)
    assert list(tmp_path.iterdir()) == []


def test_failed_forced_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(writing.os, "replace", broken_replace)
    with pytest.raises(ProcessingError, match=r"Permission denied"):
        write_bytes_atomic(path, b"new", force=True)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_atomic_write_goes_through_a_temporary_file(tmp_path, monkeypatch):
    """A new file is linked into place (never replacing), an existing one renamed over."""
    seen = []
    real_link, real_replace = os.link, os.replace

    def spy(real):
        def call(src, dst):
            seen.append((real.__name__, os.path.basename(src), os.path.basename(dst)))
            real(src, dst)

        return call

    monkeypatch.setattr(writing.os, "link", spy(real_link))
    monkeypatch.setattr(writing.os, "replace", spy(real_replace))
    write_bytes_atomic(tmp_path / "x.png", b"data")
    write_bytes_atomic(tmp_path / "x.png", b"new", force=True)
    (link, src, dst), (rename, src2, dst2) = seen
    assert (link, rename) == ("link", "replace")
    assert re.fullmatch(r"\.cnnf-\w+\.tmp", src) and dst == "x.png"
    assert re.fullmatch(r"\.cnnf-\w+\.tmp", src2) and dst2 == "x.png"
    assert (tmp_path / "x.png").read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["x.png"]  # no temporary file left


def test_encode_image_png_compress_level_changes_size_not_pixels(rng):
    y, x = np.mgrid[0:64, 0:64]
    array = ((x * y) % 256).astype(np.uint8)
    fast = encode_image(array, "PNG", compress_level=0)
    small = encode_image(array, "PNG", compress_level=9)
    assert len(small) < len(fast)
    np.testing.assert_array_equal(decode_image(fast).pixels, decode_image(small).pixels)


def test_other_integer_arrays_are_clipped_not_wrapped_when_encoded():
    import io

    from PIL import Image

    from cnnfilter.imageio import encode_image

    data = encode_image(np.array([[-5, 300, 7]], dtype=np.int32), "PNG")
    assert np.asarray(Image.open(io.BytesIO(data))).tolist() == [[0, 255, 7]]
