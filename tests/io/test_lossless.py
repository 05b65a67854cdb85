"""Issue 11: image files through ``apply -k identity`` without silent loss."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from cnnfilter.imageio import read_image

from helpers import invoke

PIXELS16 = np.array(
    [[(1000, 40000, 65535), (100, 200, 300)], [(65535, 0, 257), (12345, 23456, 34567)]],
    np.uint16,
)


def identity(src, out, *extra):
    result = invoke("apply", src, "-k", "identity", "-o", out, *extra)
    assert result.exit_code == 0, result.stderr
    return result


@pytest.mark.parametrize("channels", [2, 3, 4])
@pytest.mark.parametrize("ext", ["png", "tif", "npy"])
def test_16_bit_colour_keeps_every_value(tmp_path, channels, ext):
    # gray + alpha: pixel (1, 0) is fully transparent (alpha 0) with a hidden gray of 65535,
    # which the identity keeps; .npy holds the raw float response, exact too
    imagecodecs = pytest.importorskip("imagecodecs")
    tifffile = pytest.importorskip("tifffile")
    values = np.ascontiguousarray(
        np.concatenate([PIXELS16, PIXELS16[..., :1] ^ 0x5A5A], axis=2)[..., :channels]
    )
    src = tmp_path / "in.png"
    src.write_bytes(imagecodecs.png_encode(values))
    result = identity(src, tmp_path / f"out.{ext}")
    assert "uint16" in result.stderr
    out = tmp_path / f"out.{ext}"
    if ext == "png":
        back = imagecodecs.png_decode(out.read_bytes())
    elif ext == "tif":
        back = tifffile.imread(out)
    else:
        back = np.load(out)
    np.testing.assert_array_equal(back, values)


def test_16_bit_colour_into_jpeg_says_it_became_8_bit(tmp_path):
    imagecodecs = pytest.importorskip("imagecodecs")
    src = tmp_path / "in.png"
    src.write_bytes(imagecodecs.png_encode(PIXELS16))
    result = identity(src, tmp_path / "out.bmp")
    assert "16-bit values written as 8 bits" in result.stderr
    expected = ((PIXELS16.astype(np.uint32) + 128) // 257).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.bmp")), expected)


MODES = {
    "L": lambda: Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4) * 20),
    "LA": lambda: Image.fromarray(
        np.dstack([np.arange(12).reshape(3, 4) * 20, np.full((3, 4), 255)]).astype(np.uint8)
    ),
    "RGB": lambda: Image.fromarray(np.arange(36, dtype=np.uint8).reshape(3, 4, 3) * 7),
    "RGBA": lambda: Image.fromarray(
        np.dstack([np.arange(36).reshape(3, 4, 3) * 7, np.full((3, 4), 255)]).astype(np.uint8)
    ),
    "I;16": lambda: Image.fromarray((np.arange(12).reshape(3, 4) * 5001).astype("<u2")),
}

#: Formats that hold each mode exactly (from Pillow's writers, see cnnfilter formats).
EXACT = {
    "L": ["png", "tif", "bmp", "gif", "ppm", "tga", "jp2", "webp"],
    "LA": ["png", "tif", "tga", "jp2"],
    "RGB": ["png", "tif", "bmp", "ppm", "tga", "jp2"],
    "RGBA": ["png", "tif", "tga", "jp2"],
    "I;16": ["png", "tif", "ppm", "jp2"],
}


@pytest.mark.parametrize(("mode", "ext"), [(m, e) for m, exts in EXACT.items() for e in exts])
def test_mode_round_trips_exactly(tmp_path, mode, ext):
    src = tmp_path / "in.png"
    MODES[mode]().save(src)
    extra = ["--quality", "100"] if ext == "webp" else []
    result = identity(src, tmp_path / f"out.{ext}", *extra)
    want, got = read_image(src), read_image(tmp_path / f"out.{ext}")
    as_colour = (mode, ext) in {("L", "gif"), ("L", "webp")}  # GIF: a palette; WebP: no gray
    assert ("reads back as colour" in result.stderr) == as_colour, result.stderr
    if as_colour:
        np.testing.assert_array_equal(got.pixels, np.dstack([want.pixels] * 3))
        return
    np.testing.assert_array_equal(got.pixels, want.pixels)
    if want.alpha is not None:
        np.testing.assert_array_equal(got.alpha, want.alpha)


def _jpeg_of(rgb: np.ndarray) -> np.ndarray:
    """What Pillow's JPEG encoder gives for ``rgb`` (cnnfilter's default: quality 95, 4:4:4)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95, subsampling=0)
    return np.asarray(Image.open(buf).convert("RGB")).astype(int)


@pytest.mark.parametrize("ext", ["jpg", "bmp"])
def test_alpha_into_a_format_without_it_is_flattened_and_said(tmp_path, ext):
    arr = np.zeros((2, 2, 4), np.uint8)
    arr[..., 0] = 200
    arr[0, 0, 3] = 255  # one opaque red pixel; the others transparent with a hidden red
    src = tmp_path / "in.png"
    Image.fromarray(arr).save(src)
    result = identity(src, tmp_path / f"out.{ext}")
    assert "no alpha channel: transparent pixels flattened onto white" in result.stderr
    back = np.asarray(Image.open(tmp_path / f"out.{ext}").convert("RGB")).astype(int)
    flat = np.full((2, 2, 3), 255, np.uint8)
    flat[0, 0] = (200, 0, 0)
    if ext == "bmp":
        np.testing.assert_array_equal(back, flat)
        return
    # JPEG's 8 x 8 blocks let the opaque red tint its white neighbours; the reference is the
    # encoder's own output for the flattened picture, far from what the hidden red would give
    np.testing.assert_array_equal(back, _jpeg_of(flat))
    unflattened = _jpeg_of(np.ascontiguousarray(arr[..., :3]))
    assert np.abs(back[1, 1] - unflattened[1, 1]).max() > 100


def test_float32_tiff_stays_float(tmp_path):
    # Pillow's getexif() of a TIFF holds its layout tags (BitsPerSample 32, SampleFormat 3,
    # strips); written back as EXIF they made Pillow's TIFF writer fail. Only tags that
    # describe the picture are carried now.
    values = np.array([[0.0, 0.25], [1.5, -0.125]], np.float32)
    src = tmp_path / "in.tif"
    Image.fromarray(values, mode="F").save(src)
    identity(src, tmp_path / "out.tif")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.tif")), values)


def _transparent_forms(tmp_path):
    """One small file per way Pillow reports transparency; pixel (0, 0) is transparent."""
    pal = Image.new("P", (3, 2))
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    pal.putdata([0, 1, 2, 1, 2, 1])
    files = {}
    p = tmp_path / "p_trns.png"  # per-index alpha (tRNS for a palette)
    pal.save(p, transparency=bytes([0, 255, 255]))
    files["P tRNS"] = p
    p = tmp_path / "p.gif"  # GIF transparent index
    pal.save(p, transparency=0)
    files["GIF"] = p
    gray = Image.fromarray(np.array([[7, 50, 90], [50, 90, 50]], np.uint8))
    p = tmp_path / "l_trns.png"  # one transparent gray value
    gray.save(p, transparency=7)
    files["L tRNS"] = p
    rgb = Image.fromarray(np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]] * 2, np.uint8))
    p = tmp_path / "rgb_trns.png"  # one transparent colour
    rgb.save(p, transparency=(255, 0, 0))
    files["RGB tRNS"] = p
    la = Image.fromarray(
        np.dstack([[[7, 50, 90], [50, 90, 50]], [[0, 255, 255]] * 2]).astype(np.uint8)
    )
    p = tmp_path / "la.png"
    la.save(p)
    files["LA"] = p
    return files


def test_every_transparency_form_becomes_alpha_and_never_bleeds(tmp_path):
    for name, path in _transparent_forms(tmp_path).items():
        loaded = read_image(path)
        assert loaded.alpha is not None, name
        assert loaded.alpha[0, 0] == 0 and loaded.alpha[0, 1] == 255, name
        out = tmp_path / f"blur_{path.stem}.png"
        result = invoke("apply", path, "-k", "box", "-o", out)
        assert result.exit_code == 0, (name, result.stderr)
        back = read_image(out)
        # the visible neighbours never take on the transparent pixel's colour
        if back.pixels.ndim == 3:
            hidden = read_image(path).pixels[0, 0]
            assert not np.array_equal(back.pixels[0, 1], hidden), name
        assert back.alpha[0, 0] == 0, name


def test_icc_exif_dpi_are_read_back_from_png_jpeg_tiff(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "Maker"
    exif[0x0112] = 6
    src = tmp_path / "photo.jpg"
    Image.new("RGB", (4, 2), (200, 30, 30)).save(src, icc_profile=icc, exif=exif, dpi=(300, 300))
    for ext in ("png", "jpg", "tif"):
        out = tmp_path / f"out.{ext}"
        identity(src, out)
        with Image.open(out) as im:
            assert im.info.get("icc_profile") == icc, ext
            assert im.getexif()[0x010F] == "Maker", ext
            assert im.getexif().get(0x0112, 1) == 1, ext  # applied, then reset
            assert round(im.info["dpi"][0]) == 300, ext
            assert im.size == (2, 4), ext  # rotated once


def test_exif_of_a_tiff_keeps_its_tags_but_not_the_input_layout(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "Maker"
    src = tmp_path / "in.tif"
    Image.new("RGB", (5, 3), (9, 8, 7)).save(src, exif=exif, compression="tiff_lzw")
    out = tmp_path / "out.tif"
    identity(src, out, "--stride", "2")
    with Image.open(out) as im:
        assert im.getexif()[0x010F] == "Maker"
        assert im.size == (3, 2) and im.getexif()[256] == 3  # the output's own width
        assert im.info.get("compression") == "raw"  # not the input's LZW tag carried over


def test_png_text_is_carried(tmp_path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Grace")
    src = tmp_path / "t.png"
    Image.new("L", (3, 3), 9).save(src, pnginfo=info)
    identity(src, tmp_path / "o.png")
    assert Image.open(tmp_path / "o.png").text["Author"] == "Grace"


def test_pillow_global_limit_is_left_alone(tmp_path):
    before = Image.MAX_IMAGE_PIXELS
    src = tmp_path / "x.png"
    Image.new("L", (3, 3)).save(src)
    read_image(src)
    assert Image.MAX_IMAGE_PIXELS == before and before is not None


def test_pipe_defaults_to_the_input_format(samples):
    data = (samples / "camera.png").read_bytes()
    result = invoke("apply", "-", "-k", "sobel-x", "-o", "-", input=data)
    assert result.exit_code == 0, result.stderr
    assert Image.open(io.BytesIO(result.stdout_bytes)).format == "PNG"


RGB_2x2 = np.array([[(255, 0, 0), (0, 255, 0)], [(0, 0, 255), (200, 100, 50)]], np.uint8)
#: ITU-R 601-2 luma of RGB_2x2, by hand: (299 R + 587 G + 114 B) / 1000, rounded
LUMA_2x2 = np.array([[76, 150], [29, 124]], np.uint8)  # 124.25 for (200, 100, 50)


@pytest.mark.parametrize(
    ("ext", "magic", "said"),
    [
        ("pgm", b"P5", "colour written as gray"),
        ("ppm", b"P6", None),
        ("pbm", b"P4", "written as 1 bit"),
        ("pfm", b"Pf", "written as 32-bit float"),
        ("pnm", b"P6", None),
    ],
)
def test_netpbm_outputs_are_the_kind_their_extension_names(tmp_path, ext, magic, said):
    src = tmp_path / "in.png"
    Image.fromarray(RGB_2x2).save(src)
    out = tmp_path / f"out.{ext}"
    result = identity(src, out)
    assert out.read_bytes()[:2] == magic
    if said:
        assert said in result.stderr
    else:
        assert "written as" not in result.stderr, result.stderr
    with Image.open(out) as im:
        got = np.asarray(im)
    if ext == "pgm":
        np.testing.assert_array_equal(got, LUMA_2x2)
    elif ext == "pbm":
        np.testing.assert_array_equal(got, LUMA_2x2 >= 128)
    elif ext == "pfm":
        np.testing.assert_allclose(got, LUMA_2x2 / 255.0, rtol=1e-6)
    else:
        np.testing.assert_array_equal(got, RGB_2x2)


def test_16_bit_gray_into_pgm_stays_16_bit(tmp_path):
    deep = tmp_path / "d.png"
    MODES["I;16"]().save(deep)
    identity(deep, tmp_path / "d.pgm")
    assert (tmp_path / "d.pgm").read_bytes()[:2] == b"P5"
    np.testing.assert_array_equal(read_image(tmp_path / "d.pgm").pixels, read_image(deep).pixels)


def test_raw_float_response_into_pgm_is_refused_but_pfm_takes_it(tmp_path, samples):
    result = invoke("apply", samples / "camera.png", "-k", "sobel-x", "--range", "raw",
                    "-o", tmp_path / "r.pgm")  # fmt: skip
    assert result.exit_code == 2 and "not PPM" in result.stderr
    identity(samples / "camera.png", tmp_path / "r.pfm", "--range", "raw")
    assert (tmp_path / "r.pfm").read_bytes()[:2] == b"Pf"


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3])
def test_bigtiff_reads_as_the_same_image_in_a_classic_tiff(tmp_path, dtype, channels):
    # Pillow could not read back the tags of a BigTIFF (its Exif.load fails on the 16-byte
    # header): every in-memory run said "truncated or corrupt"
    tifffile = pytest.importorskip("tifffile")
    rng = np.random.default_rng(7)
    values = rng.integers(0, np.iinfo(dtype).max, size=(9, 13, channels), dtype=dtype)
    values = values[..., 0] if channels == 1 else values
    big, classic = tmp_path / "big.tif", tmp_path / "classic.tif"
    for path, bigtiff in ((big, True), (classic, False)):
        tifffile.imwrite(path, values, bigtiff=bigtiff, description="a sample")
    assert big.read_bytes()[:4] == b"II+\x00"  # really a BigTIFF
    loaded, reference = read_image(big), read_image(classic)
    assert np.array_equal(loaded.pixels.reshape(values.shape), values)
    assert loaded.pixels.dtype == dtype
    assert loaded.meta.exif == reference.meta.exif  # the same tags kept (description...)
    out_big, out_classic = tmp_path / "a.tif", tmp_path / "b.tif"
    for src, out in ((big, out_big), (classic, out_classic)):
        identity(src, out)
    assert np.array_equal(tifffile.imread(out_big), tifffile.imread(out_classic))
    assert np.array_equal(tifffile.imread(out_big), values)


def test_bigtiff_tags_are_written_back_without_changing_the_parsed_copy(tmp_path):
    pytest.importorskip("tifffile")
    import tifffile

    from cnnfilter.codecs.meta import _LAYOUT_TAGS, _classic_tiff_bytes

    tifffile.imwrite(
        tmp_path / "big.tif", np.zeros((4, 4), np.uint8), bigtiff=True, description="d"
    )
    with Image.open(tmp_path / "big.tif") as im:
        parsed = im.getexif()
        assert parsed.bigtiff
        data = _classic_tiff_bytes(parsed)
        assert parsed.bigtiff  # restored
    assert data[:10] == b"Exif\x00\x00II*\x00"  # a classic TIFF header
    again = Image.Exif()
    again.load(data)
    kept = {tag: v for tag, v in parsed.items() if tag not in _LAYOUT_TAGS}
    assert {tag: v for tag, v in again.items() if tag not in _LAYOUT_TAGS} == kept
    assert 270 in kept  # the description tifffile writes is there to compare
