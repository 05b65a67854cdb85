"""The EXIF sub-IFD (0x8769: date taken, exposure, ISO) of the input, in a TIFF output."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, TiffImagePlugin

from helpers import invoke

_EXIF_IFD = 0x8769
_DATE_TAKEN, _EXPOSURE, _ISO = 0x9003, 0x829A, 0x8827


def _exif_with_sub_ifd() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Maker"
    sub = exif.get_ifd(_EXIF_IFD)
    sub[_DATE_TAKEN] = "2024:01:02 03:04:05"
    sub[_EXPOSURE] = TiffImagePlugin.IFDRational(1, 250)
    sub[_ISO] = 400
    return exif.tobytes()


def _sub_ifd(path) -> dict:
    with Image.open(path) as im:
        return dict(im.getexif().get_ifd(_EXIF_IFD))


@pytest.mark.parametrize("mode", ["L", "RGB"])
@pytest.mark.parametrize("source", ["tif", "jpg"])
def test_exif_sub_ifd_reaches_a_tiff_output(tmp_path, mode, source):
    arr = (np.arange(12 * 10 * 3) % 251).astype(np.uint8).reshape(12, 10, 3)
    src = tmp_path / f"in.{source}"
    Image.fromarray(arr).convert(mode).save(src, exif=_exif_with_sub_ifd())
    assert _sub_ifd(src)[_ISO] == 400  # the input holds it
    out = tmp_path / "out.tif"
    result = invoke("apply", src, "-k", "box", "-o", out)
    assert result.exit_code == 0, result.stderr
    sub = _sub_ifd(out)
    assert sub[_DATE_TAKEN] == "2024:01:02 03:04:05"
    assert sub[_ISO] == 400 and float(sub[_EXPOSURE]) == pytest.approx(1 / 250)


def test_exif_sub_ifd_reaches_a_float_tiff(tmp_path):
    # a float TIFF went through Pillow's libtiff (deflate) writer, which cannot write an
    # EXIF sub-IFD: the run ended in a traceback ("Error setting from dictionary")
    src = tmp_path / "in.tif"
    gray = (np.arange(12 * 10) % 251).astype(np.uint8).reshape(12, 10)
    Image.fromarray(gray).save(src, exif=_exif_with_sub_ifd())
    result = invoke("apply", src, "-k", "sobel-x", "--range", "raw", "-o", tmp_path / "out.tif")
    assert result.exit_code == 0, result.stderr
    assert _sub_ifd(tmp_path / "out.tif")[_ISO] == 400
    result = invoke("apply", src, "-k", "sobel-x", "--range", "raw", "-o", tmp_path / "out.npy")
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "out.tif") as im:
        assert im.mode == "F"
        np.testing.assert_array_equal(np.asarray(im), np.load(tmp_path / "out.npy"))


def test_16_bit_gray_tiff_keeps_the_sub_ifd(tmp_path):
    src = tmp_path / "in.tif"
    values = (np.arange(12 * 10, dtype=np.uint16) * 500).reshape(12, 10)
    Image.fromarray(values).save(src, exif=_exif_with_sub_ifd())
    result = invoke("apply", src, "-k", "identity", "-o", tmp_path / "out.tif")
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "out.tif") as im:
        assert im.mode == "I;16"
        np.testing.assert_array_equal(np.asarray(im), values)
    assert _sub_ifd(tmp_path / "out.tif")[_DATE_TAKEN] == "2024:01:02 03:04:05"


def test_colour_float_tiff_drops_exif_and_says_so(tmp_path):
    # 16-bit and float colour TIFFs are written by tifffile, which writes no EXIF IFD
    pytest.importorskip("tifffile")
    src = tmp_path / "in.tif"
    rgb = (np.arange(12 * 10 * 3) % 251).astype(np.uint8).reshape(12, 10, 3)
    Image.fromarray(rgb).save(src, exif=_exif_with_sub_ifd())
    out = tmp_path / "out.tif"
    result = invoke("apply", src, "-k", "sobel-x", "--range", "raw", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "EXIF not written" in result.stderr


def test_float_tiff_without_a_sub_ifd_stays_deflated(tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray((np.arange(12 * 10) % 251).astype(np.uint8).reshape(12, 10)).save(src)
    result = invoke("apply", src, "-k", "sobel-x", "--range", "raw", "-o", tmp_path / "out.tif")
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "out.tif") as im:
        assert im.info["compression"] == "tiff_adobe_deflate"


def test_no_empty_exif_sub_ifd_is_invented(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "Maker"  # first-IFD tags only
    src = tmp_path / "in.tif"
    Image.new("RGB", (6, 4), (9, 8, 7)).save(src, exif=exif.tobytes())
    identity = invoke("apply", src, "-k", "identity", "-o", tmp_path / "out.tif", "--stride", "2")
    assert identity.exit_code == 0, identity.stderr
    with Image.open(tmp_path / "out.tif") as im:
        assert im.getexif()[0x010F] == "Maker"
        assert _EXIF_IFD not in im.getexif()


def _odd_exif(kind: str) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Maker"
    if kind == "empty sub-IFD":
        exif.get_ifd(_EXIF_IFD)
    elif kind == "GPS":
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 24.0), "E", (2.0, 21.0, 7.0)
    else:  # a MakerNote larger than a JPEG's one APP1 segment (65,533 bytes)
        sub = exif.get_ifd(_EXIF_IFD)
        sub[_DATE_TAKEN], sub[0x927C] = "2024:01:02 03:04:05", bytes(range(256)) * 400
    return exif.tobytes()


@pytest.mark.parametrize("kind", ["empty sub-IFD", "GPS", "huge MakerNote"])
@pytest.mark.parametrize("out", ["out.tif", "out.jpg", "out.png"])
def test_an_odd_exif_reaches_the_output_or_is_dropped_with_a_note(tmp_path, kind, out):
    # a huge MakerNote from a TIFF or PNG input ended a JPEG output in Pillow's traceback
    # ("EXIF data is too long"): JPEG holds EXIF in one marker segment of 65,533 bytes
    src = tmp_path / "in.png"
    Image.new("RGB", (6, 4), (9, 8, 7)).save(src, exif=_odd_exif(kind))
    result = invoke("apply", src, "-k", "identity", "-o", tmp_path / out)
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / out) as im:
        exif = im.getexif()
        pixel = np.asarray(im.convert("RGB"), dtype=int)[0, 0]
        np.testing.assert_allclose(pixel, (9, 8, 7), atol=2 if out == "out.jpg" else 0)
    too_long = kind == "huge MakerNote" and out == "out.jpg"
    if too_long:
        assert "EXIF not written" in result.stderr and "65,533" in result.stderr
        assert 0x010F not in exif
        return
    assert exif[0x010F] == "Maker" and "EXIF not written" not in result.stderr
    if kind == "GPS":
        assert exif.get_ifd(0x8825)[2] == (48.0, 51.0, 24.0)
    if kind == "huge MakerNote":
        assert exif.get_ifd(_EXIF_IFD)[0x927C] == bytes(range(256)) * 400


@pytest.mark.parametrize("gps", [False, True])
def test_an_empty_sub_ifd_does_not_make_a_float_tiff_uncompressed(tmp_path, gps):
    # an input whose Exif sub-IFD is empty (a pointer to no tags) made the float TIFF output
    # go through Pillow's uncompressed writer (3x larger), for nothing to carry
    exif = Image.Exif()
    exif[0x010F] = "Maker"
    exif.get_ifd(_EXIF_IFD)
    if gps:
        exif.get_ifd(0x8825)[1] = "N"
    src = tmp_path / "in.png"
    Image.fromarray((np.arange(12 * 10) % 251).astype(np.uint8).reshape(12, 10)).save(
        src, exif=exif.tobytes()
    )
    out = tmp_path / "out.tif"
    result = invoke("apply", src, "-k", "sobel-x", "--range", "raw", "-o", out)
    assert result.exit_code == 0, result.stderr
    with Image.open(out) as im:
        assert im.getexif()[0x010F] == "Maker"
        assert _EXIF_IFD not in im.getexif()
        if gps:  # a sub-IFD with tags still needs Pillow's own (uncompressed) writer
            assert im.getexif().get_ifd(0x8825)[1] == "N"
            assert im.info["compression"] == "raw"
        else:
            assert im.info["compression"] == "tiff_adobe_deflate"
