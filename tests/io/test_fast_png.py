"""The libspng decode of plain 8-bit PNGs gives Pillow's pixels, metadata and errors.

:func:`cnnfilter.imageio.pixels._plain_png_pixels` decodes through imagecodecs (the 16bit
extra) what both decoders read alike; every other file, and every file it cannot
decode, goes through Pillow. Each case reads the same bytes twice, once with the
fast path switched off (Pillow only, the reference) and once with it.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from cnnfilter import imageio
from cnnfilter.errors import ProcessingError
from cnnfilter.imageio import pixels

from helpers import ROOT

pytest.importorskip("imagecodecs")


def _read_both(data: bytes, monkeypatch, **kw):
    """(Pillow's LoadedImage, the fast path's LoadedImage, whether libspng decoded it)."""
    with monkeypatch.context() as m:
        m.setattr(pixels, "_plain_png_pixels", lambda *a, **k: None)
        ref = imageio.decode_image(data, name="x.png", **kw)
    used = []
    real = pixels._plain_png_pixels

    def spy(*a, **k):
        out = real(*a, **k)
        used.append(out is not None)
        return out

    with monkeypatch.context() as m:
        m.setattr(pixels, "_plain_png_pixels", spy)
        got = imageio.decode_image(data, name="x.png", **kw)
    return ref, got, any(used)


def _same(ref, got) -> None:
    assert got.pixels.dtype == ref.pixels.dtype and np.array_equal(got.pixels, ref.pixels)
    assert (got.alpha is None) == (ref.alpha is None)
    if ref.alpha is not None:
        assert np.array_equal(got.alpha, ref.alpha)
    assert got.pixels.flags.writeable and got.pixels.flags.c_contiguous
    assert (got.max_value, got.mode, got.format, got.frames, got.frame) == (
        ref.max_value, ref.mode, ref.format, ref.frames, ref.frame,
    )  # fmt: skip
    assert got.meta == ref.meta


def _png(arr: np.ndarray, mode: str, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG", **save)
    return buf.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


RNG = np.random.default_rng(16)
SHAPES = {"L": (37, 53), "RGB": (37, 53, 3), "RGBA": (37, 53, 4)}


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("options", ["plain", "optimize", "gamma+text+dpi", "icc"])
def test_plain_pngs_decoded_by_libspng_give_pillows_image(mode, options, monkeypatch):
    arr = RNG.integers(0, 256, SHAPES[mode], dtype=np.uint8)
    save = {}
    if options == "optimize":
        save = {"optimize": True}
    elif options == "gamma+text+dpi":
        info = PngImagePlugin.PngInfo()
        info.add(b"gAMA", (45455).to_bytes(4, "big"))
        info.add_text("Comment", "made for a test")
        save = {"pnginfo": info, "dpi": (300, 300)}
    elif options == "icc":
        from PIL import ImageCms

        profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        save = {"icc_profile": profile}
    ref, got, used = _read_both(_png(arr, mode, **save), monkeypatch)
    assert used
    _same(ref, got)
    assert np.array_equal(ref.pixels, arr if mode != "RGBA" else arr[..., :3])


@pytest.mark.parametrize("name", ["astronaut.png", "camera.png", "coins.png", "text.png"])
def test_sample_pngs_give_pillows_image(name, monkeypatch):
    ref, got, used = _read_both((ROOT / "samples" / name).read_bytes(), monkeypatch)
    _same(ref, got)


def _palette_png() -> bytes:
    im = Image.fromarray(RNG.integers(0, 4, (20, 30), dtype=np.uint8), "L").convert("P")
    buf = io.BytesIO()
    im.save(buf, "PNG", transparency=0)
    return buf.getvalue()


def _with_text_after_idat(data: bytes) -> bytes:
    end = data.rindex(b"IEND") - 4
    return data[:end] + _chunk(b"tEXt", b"Comment\x00after the pixels") + data[end:]


def _interlaced(arr: np.ndarray) -> bytes:
    """An Adam7 PNG of gray ``arr`` written by hand (Pillow writes no interlaced PNG)."""
    h, w = arr.shape
    passes = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2),
              (1, 0, 2, 1)]  # fmt: skip
    raw = b""
    for y0, x0, dy, dx in passes:
        sub = arr[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


OTHERS = {
    "gray + alpha": lambda: _png(RNG.integers(0, 256, (9, 11, 2), dtype=np.uint8), "LA"),
    "palette with tRNS": _palette_png,
    "RGB with tRNS": lambda: _png(
        RNG.integers(0, 256, (9, 11, 3), dtype=np.uint8), "RGB", transparency=(1, 2, 3)
    ),
    "16-bit gray": lambda: _png(RNG.integers(0, 65536, (9, 11), dtype=np.uint16), None),
    "1-bit": lambda: _png(RNG.integers(0, 2, (9, 11), dtype=np.uint8) > 0, None),
    "text after the pixels": lambda: _with_text_after_idat(
        _png(RNG.integers(0, 256, (9, 11, 3), dtype=np.uint8), "RGB")
    ),
    "EXIF orientation 6": lambda: _png(
        RNG.integers(0, 256, (9, 11, 3), dtype=np.uint8), "RGB", exif=_exif(6)
    ),
    "interlaced": lambda: _interlaced(RNG.integers(0, 256, (19, 23), dtype=np.uint8)),
}


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.mark.parametrize("case", sorted(OTHERS))
def test_other_pngs_go_through_pillow(case, monkeypatch):
    ref, got, used = _read_both(OTHERS[case](), monkeypatch)
    assert not used
    _same(ref, got)


def test_fast_path_is_not_used_with_to_srgb(monkeypatch):
    data = _png(RNG.integers(0, 256, (9, 11, 3), dtype=np.uint8), "RGB")
    ref, got, used = _read_both(data, monkeypatch, to_srgb=True)
    assert not used
    _same(ref, got)


def _damaged() -> dict[str, bytes]:
    good = _png(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8), "RGB")
    start = good.index(b"IDAT") + 4
    flipped = bytearray(good)
    flipped[start + 20] ^= 0xFF  # inside the deflate stream: a bad stream or a bad CRC
    end = good.rindex(b"IEND") - 4
    return {
        "corrupt image data": bytes(flipped),
        "truncated image data": good[: start + 40],
        "no IEND": good[:end],
    }


@pytest.mark.parametrize("case", sorted(_damaged()))
def test_damaged_pngs_give_pillows_error_or_pixels(case, monkeypatch):
    data = _damaged()[case]
    outcomes = []
    for fast in (False, True):
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(pixels, "_plain_png_pixels", lambda *a, **k: None)
            try:
                loaded = imageio.decode_image(data, name="x.png")
                outcomes.append(("pixels", loaded.pixels.tobytes()))
            except ProcessingError as exc:
                outcomes.append(("error", str(exc)))
    assert outcomes[0] == outcomes[1]


def test_layout_check_reads_chunk_headers():
    plain = _png(RNG.integers(0, 256, (9, 11, 3), dtype=np.uint8), "RGB")
    assert pixels._plain_png_layout(plain, 2)
    assert not pixels._plain_png_layout(plain, 0)  # another colour type
    assert not pixels._plain_png_layout(_with_text_after_idat(plain), 2)
    assert not pixels._plain_png_layout(plain[:-12], 2)  # no IEND
    assert not pixels._plain_png_layout(plain[:20], 2)
