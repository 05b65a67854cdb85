"""Decoded pixels: :class:`LoadedImage`, and how an open Pillow image becomes its arrays.

Modes are mapped as the table in :mod:`cnnfilter.imageio` says; 16-bit (and
float) colour PNG/TIFF go through :mod:`cnnfilter.codecs.deep`, plain 8-bit
PNGs through libspng when the ``16bit`` extra is installed
(:func:`_plain_png_pixels`), and the EXIF orientation is applied here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnnfilter.errors import UsageError
from cnnfilter.imageio.limits import _check_pixels

if TYPE_CHECKING:
    from cnnfilter.codecs.meta import ImageMeta


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image.

    Attributes:
        pixels: ``(H, W)`` or ``(H, W, 3)``; uint8, uint16 or float32; a
            ``.npy`` feature map may have any number of channels ``C`` and be
            float64.
        alpha: ``(H, W)`` array of the same dtype, or None.
        max_value: the value of full white: 255, 65535 or 1.0.
        mode: the Pillow mode of the file (``"P"``, ``"RGBA"``, ...).
        format: Pillow's format name (``"PNG"``...), or None.
        frames: number of frames in the file (GIF/TIFF may have several).
        frame: the frame these pixels come from, counted from 0.
        meta: ICC profile, EXIF, DPI and PNG text to carry to an output
            (:class:`cnnfilter.codecs.meta.ImageMeta`), and the notes of what
            was converted on reading; None for ``.npy`` arrays.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    max_value: float
    mode: str
    format: str | None
    frames: int = 1
    frame: int = 0
    meta: ImageMeta | None = None

    @property
    def shape_text(self) -> str:
        """``H x W x C`` with the alpha channel counted."""
        h, w = self.pixels.shape[:2]
        c = (1 if self.pixels.ndim == 2 else self.pixels.shape[2]) + (self.alpha is not None)
        return f"{h} x {w} x {c}"


def _open_frame(fh, *, name: str, max_pixels: int, frame: int, to_srgb: bool) -> LoadedImage:
    from PIL import Image, ImageOps

    from cnnfilter.codecs.meta import meta_of

    with Image.open(fh) as im:
        _check_pixels(name, im.size, max_pixels)
        frames = getattr(im, "n_frames", 1)
        if frame >= frames:
            raise UsageError(
                f"{name!r} has {frames} frame(s); frame= must be between 0 and {frames - 1}"
            )
        if frame:
            im.seek(frame)
            _check_pixels(name, im.size, max_pixels)  # frames of a TIFF differ in size
        fmt = im.format
        mode = im.mode
        if _is_deep(im, fh):
            meta = meta_of(im)
            return _deep_arrays(im, fh, name=name, meta=meta, to_srgb=to_srgb, frames=frames)
        fast = _plain_png_pixels(im, fh, to_srgb=to_srgb) if frames == 1 else None
        if fast is not None:
            pixels, alpha = fast
            return LoadedImage(
                pixels, alpha, 255.0, mode, fmt, frames, frame, meta_of(im, exif=False)
            )
        im.load()
        meta = meta_of(im)
        # in place: without an orientation to apply, exif_transpose would return a copy
        # (50 ms of a 12 MP RGB read, which runs on one core)
        ImageOps.exif_transpose(im, in_place=True)
        return _to_arrays(im, mode, fmt, frames, frame, meta, to_srgb)


#: Pillow modes of the PNGs decoded by libspng when imagecodecs is installed (its
#: ``spng_decode`` reads no 8-bit gray + alpha).
_SPNG_MODES = {"L": 0, "RGB": 2, "RGBA": 6}
#: ``info`` keys that make Pillow change the pixels (tRNS) or look for an orientation
#: (EXIF, ImageMagick's raw EXIF text, XMP): such files go through Pillow.
_PILLOW_READS_LATER = ("transparency", "exif", "Raw profile type exif", "XML:com.adobe.xmp", "xmp")


def _plain_png_pixels(im, fh, *, to_srgb: bool) -> tuple[np.ndarray, np.ndarray | None] | None:
    """``(pixels, alpha)`` of a plain 8-bit PNG decoded by libspng, or None (Pillow decodes).

    Pillow decodes a PNG one IDAT chunk at a time and takes the GIL back
    between chunks; libspng (through imagecodecs, the ``16bit`` extra)
    decodes the whole stream in one call without the GIL, in 0.55-0.65x
    Pillow's time on one core (12 MP RGB from ``benchmarks/run.py``: 186-207
    ms against 297-372 ms; libpng through ``imagecodecs.png_decode`` 172-231
    ms, but libpng prints its warnings on the process's stderr), and leaves
    the other thread running while a read-ahead decodes
    (:mod:`cnnfilter.tasks.readahead`; Pillow's 300 ms decode took 2 s in a
    thread beside a busy main thread, waiting for the GIL between chunks).

    Only what both decode alike, and nothing Pillow reads after the image
    data: 8-bit gray, RGB or RGBA (colour types 0, 2, 6), not interlaced, no
    tRNS or eXIf chunk, no chunk but IDAT between the first IDAT and IEND,
    no EXIF or XMP, no ``to_srgb``. Any error of libspng (a damaged file) leaves the file to
    Pillow, which raises the error the user gets today; the pixels are the
    same (tests/io/test_fast_png.py compares them with Pillow's).
    """
    if to_srgb or im.format != "PNG" or im.mode not in _SPNG_MODES:
        return None
    if any(key in im.info for key in _PILLOW_READS_LATER):
        return None
    try:
        from imagecodecs import spng_decode
    except ImportError:
        return None
    fh.seek(0)
    data = fh.read()
    if not _plain_png_layout(data, _SPNG_MODES[im.mode]):
        return None
    try:
        arr = spng_decode(data)
    except Exception:  # noqa: BLE001 - damaged: Pillow decodes and words the error
        return None
    h, w = im.size[1], im.size[0]
    if arr.dtype != np.uint8 or arr.shape[:2] != (h, w):
        return None
    if im.mode == "RGBA":
        return np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3])
    return arr.reshape(h, w) if im.mode == "L" else arr, None


def _plain_png_layout(data: bytes, color_type: int) -> bool:
    """True when the PNG ``data`` is 8-bit ``color_type``, not interlaced, its IDATs last.

    Reads the chunk headers only (lengths and types), not the chunks' CRCs.
    """
    ihdr = data[8:33]
    if len(ihdr) < 25 or ihdr[4:8] != b"IHDR":
        return False
    if ihdr[16] != 8 or ihdr[17] != color_type or ihdr[20] != 0:
        return False
    pos, seen_idat = 8, False
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind == b"IEND":
            return seen_idat
        if kind == b"IDAT":
            seen_idat = True
        elif seen_idat or kind in (b"tRNS", b"eXIf"):
            return False
        pos += 12 + length
    return False


#: Pillow modes converted before reading, and the mode each becomes.
_CONVERT = {
    "PA": "RGBA",
    "1": "L",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
    "La": "LA",
    "RGBa": "RGBA",
}


#: Modes whose ``transparency`` (PNG tRNS, GIF) marks transparent pixels, and the mode
#: with an alpha channel each is expanded to.
_TRANSPARENCY_TO = {"P": "RGBA", "L": "LA", "1": "LA", "RGB": "RGBA"}


def _to_arrays(im, mode, fmt, frames, frame, meta, to_srgb=False) -> LoadedImage:
    from dataclasses import replace

    from cnnfilter.codecs.meta import to_srgb as convert_to_srgb

    if mode in _TRANSPARENCY_TO and im.info.get("transparency") is not None:
        # palette tRNS (one alpha per index), or one transparent gray value / colour
        im = im.convert(_TRANSPARENCY_TO[mode])
    elif mode == "P":
        im = im.convert("RGB")
    elif mode in _CONVERT:
        im = im.convert(_CONVERT[mode])
        if mode in ("CMYK", "YCbCr", "LAB", "HSV") and meta.icc:
            note = f"{mode} converted to RGB; its ICC profile no longer applies and is not kept"
            meta = replace(meta, icc=None, notes=(*meta.notes, note))
    if to_srgb:
        im, meta = convert_to_srgb(im, meta)
    pixels, alpha, white = _pixels_of(im)
    return LoadedImage(pixels, alpha, white, mode, fmt, frames, frame, meta)


def _is_deep(im, fh) -> bool:
    """True for 16-bit (or float) colour PNG/TIFF, which Pillow would cut to 8 bits."""
    if im.format == "PNG":
        fh.seek(0)
        from cnnfilter.codecs.deep import needs_deep_png

        return needs_deep_png(fh.read(26))
    if im.format == "TIFF":
        tags = getattr(im, "tag_v2", {})
        bits = tags.get(258, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        return max(bits) > 8 and int(tags.get(277, 1)) >= 2
    return False


def _deep_arrays(im, fh, *, name, meta, to_srgb, frames) -> LoadedImage:
    """A 16-bit (or float) colour PNG/TIFF decoded by :mod:`cnnfilter.codecs.deep`."""
    from cnnfilter.codecs import deep

    if to_srgb:
        raise UsageError(
            f"{name!r} is 16-bit colour; to_srgb=True converts 8-bit colour only (LittleCMS "
            "through Pillow); drop it to keep the 16 bits and the ICC profile"
        )
    fmt, mode, frame = im.format, im.mode, im.tell()
    fh.seek(0)
    data = fh.read()
    if fmt == "PNG":
        arr = deep.decode_png(data, name=name)
    else:
        arr = deep.decode_tiff(data, name=name, frame=frame)
    arr = _oriented(arr, im.getexif().get(0x0112, 1))
    if arr.ndim == 2 or arr.shape[2] == 1:
        arr = arr.reshape(arr.shape[:2])
    white = 65535.0 if arr.dtype == np.uint16 else 1.0
    if arr.dtype not in (np.uint16, np.float32):
        arr = arr.astype(np.float32)
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    alpha = None
    if channels in (2, 4):
        alpha = np.ascontiguousarray(arr[..., -1])
        arr = np.ascontiguousarray(arr[..., 0] if channels == 2 else arr[..., :3])
    mode = {1: "I;16", 2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}[channels]
    if white == 1.0:
        mode = mode.replace(";16", ";F")
    return LoadedImage(arr, alpha, white, mode, fmt, frames, frame, meta)


def _oriented(arr: np.ndarray, orientation: int) -> np.ndarray:
    """``arr`` as displayed for an EXIF orientation (1-8), like ``ImageOps.exif_transpose``."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1],
    }
    op = ops.get(int(orientation) if str(orientation).isdigit() else 1)
    return np.ascontiguousarray(op(arr)) if op else arr


def _pixels_of(im) -> tuple[np.ndarray, np.ndarray | None, float]:
    """``(pixels, alpha or None, white level)`` of an image in a readable mode."""
    m = im.mode
    if m in ("RGBA", "LA"):
        arr = np.asarray(im)
        alpha = np.ascontiguousarray(arr[..., -1])
        return np.ascontiguousarray(arr[..., 0] if m == "LA" else arr[..., :3]), alpha, 255.0
    if m in ("RGB", "L"):
        return np.asarray(im).copy(), None, 255.0
    if m.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), None, 65535.0
    if m == "I":
        arr = np.asarray(im)
        if arr.size and arr.min() >= 0 and arr.max() <= 65535:
            return arr.astype(np.uint16), None, 65535.0
        return arr.astype(np.float32), None, float(arr.max() or 1)
    if m == "F":
        return np.asarray(im, dtype=np.float32).copy(), None, 1.0
    return np.asarray(im.convert("RGB")).copy(), None, 255.0
