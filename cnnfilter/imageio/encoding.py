"""Encoding: arrays into a format's bytes, with what had to change said in notes.

Pillow's writers, the parallel PNG encoder (:mod:`cnnfilter._pngenc`) and the
16-bit codecs (:mod:`cnnfilter.codecs.deep`); metadata through
:mod:`cnnfilter.codecs.meta`; save options (PNG level and strategy, JPEG and
WebP quality).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from cnnfilter.errors import UsageError
from cnnfilter.imageio.formats import (
    NETPBM_VARIANTS,
    check_output_size,
    fit_bit_depth,
    fit_netpbm,
)

if TYPE_CHECKING:
    from cnnfilter.codecs.meta import ImageMeta

#: zlib level for PNG output, chosen by measurement (benchmarks/run.py, end to
#: end): a 4000x3000 RGB Sobel result (bit-identical to ImageMagick's) encoded
#: by Pillow at level 1: 0.87 s, 9.31 MB; 2: 0.83 s, 9.01 MB; 3: 1.20 s,
#: 8.54 MB; 4: 0.99 s, 7.56 MB; 6 (zlib's default): 2.43 s, 7.35 MB;
#: ImageMagick's own file: 7.27 MB. Level 4 is within 3% of level 6's size
#: at 40% of its time. Override with ``--compress-level``.
DEFAULT_PNG_COMPRESS_LEVEL = 4

#: zlib strategy for PNG output: Z_RLE (3). PNG's row filters leave residuals in
#: which runs dominate, and run-length matching finds them 2-4x faster than the
#: default strategy at the same or a smaller size. Measured with Pillow on 12 MP
#: results (level 4 default strategy -> level 4 Z_RLE): Sobel (clip) 0.85 s
#: 6.91 MB -> 0.49 s 6.13 MB; Sobel (abs) 1.91 s 10.81 MB -> 0.89 s 10.03 MB;
#: Gaussian blur of astronaut 1.70 s 7.84 MB -> 0.73 s 7.64 MB; sharpened
#: coffee 2.75 s 14.17 MB -> 1.17 s 13.74 MB.
DEFAULT_PNG_STRATEGY = 3  # zlib.Z_RLE

#: JPEG quality from which colour is stored at full resolution (4:4:4, no chroma
#: subsampling); below it, Pillow's default 4:2:0 (colour at half the rows and columns).
#: ImageMagick's rule (its ``-sampling-factor`` documentation; ``identify -verbose`` of
#: ImageMagick 6.9's output shows ``jpeg:sampling-factor: 1x1,1x1,1x1`` at quality 90 and
#: 95, ``2x2,1x1,1x1`` at 89). 4:2:0 smears thin coloured edges, which edge maps are made
#: of: on a 128 x 128 photo crop with 1-pixel red and blue lines, quality 95, the RMS
#: error of the decoded Cb and Cr is 2.5 at 4:4:4 against 34.7 at 4:2:0 (1.9x the bytes;
#: 1.3x for the astronaut and coffee photos, 1.6x for their Sobel maps).
JPEG_FULL_CHROMA_QUALITY = 90


def encode_image(
    array: np.ndarray,
    fmt: str,
    *,
    compress_level: int = DEFAULT_PNG_COMPRESS_LEVEL,
    quality: int = 95,
    meta: ImageMeta | None = None,
    variant: str | None = None,
) -> bytes:
    """Encode ``array`` in a Pillow format name or ``"NPY"``; return the bytes.

    As :func:`encode_picture`, without its notes.
    """
    return encode_picture(
        array, fmt, compress_level=compress_level, quality=quality, meta=meta, variant=variant
    )[0]


def encode_picture(
    array: np.ndarray,
    fmt: str,
    *,
    compress_level: int = DEFAULT_PNG_COMPRESS_LEVEL,
    quality: int = 95,
    meta: ImageMeta | None = None,
    variant: str | None = None,
) -> tuple[bytes, list[str]]:
    """Encode ``array`` in ``fmt``; return the bytes and what had to be converted.

    ``array``: ``(H, W)`` gray, ``(H, W, 2)`` gray + alpha, ``(H, W, 3)`` RGB
    or ``(H, W, 4)`` RGBA; uint8; uint16 (see :func:`fit_bit_depth`); float32
    gray (TIFF, PFM, IM) or colour (TIFF, with the 16-bit codecs); any shape
    and dtype for NPY. What ``fmt`` cannot hold is converted and said in the
    notes: alpha flattened onto white where the format has none, gray + alpha
    as RGBA, 16 bits as 8. ``meta`` (ICC profile, EXIF, DPI, PNG text) is
    written where ``fmt`` holds it (:mod:`cnnfilter.codecs.meta`). WebP is
    lossless at ``quality=100``. ``variant``: the extension a PPM output was
    named with (:func:`netpbm_variant`), which picks the Netpbm kind written
    (:func:`fit_netpbm`).

    Raises:
        UsageError: a dtype/shape the format cannot store (with the fix), a
            size above the format's limit (:func:`check_output_size`); the
            ``cnnfilter[16bit]`` extra is needed and absent.
    """
    from cnnfilter.codecs import deep

    if fmt == "NPY":
        buf = io.BytesIO()
        np.save(buf, array, allow_pickle=False)
        return buf.getvalue(), []
    if np.ndim(array) >= 2:
        check_output_size(fmt, *np.shape(array)[:2])
    arr, notes = np.ascontiguousarray(array), []
    if fmt == "PPM" and variant in NETPBM_VARIANTS:
        arr, notes = fit_netpbm(arr, variant)
    arr, depth_note = fit_bit_depth(arr, fmt)  # 16 -> 8 bits if needed
    notes += [depth_note] if depth_note else []
    if deep.is_deep(arr) and (fmt == "TIFF" or (fmt == "PNG" and arr.dtype == np.uint16)):
        data, more = _encode_deep(arr, fmt, meta, compress_level)
        return data, notes + more
    if meta is None or meta.is_empty():  # no chunks to carry: PNG rows deflated in parallel
        fast = _encode_png_parallel(arr, fmt, compress_level)
        if fast is not None:
            return fast, notes
    im, more = _pillow_image(arr, fmt)
    channels = len(im.getbands())
    options, meta_notes = _meta_options(meta, fmt, channels)
    buf = io.BytesIO()
    save = _save_options(arr, fmt, compress_level, quality, exif=options.get("exif"))
    im.save(buf, format=fmt, **save, **options)
    return buf.getvalue(), notes + more + meta_notes


def _meta_options(meta, fmt: str, channels: int) -> tuple[dict, list[str]]:
    from cnnfilter.codecs.meta import save_options

    return save_options(meta, fmt, channels)


def _encode_deep(arr: np.ndarray, fmt: str, meta, compress_level: int) -> tuple[bytes, list[str]]:
    """16-bit (or float) colour / gray + alpha through :mod:`cnnfilter.codecs.deep`."""
    from cnnfilter.codecs import deep
    from cnnfilter.codecs.meta import png_chunks

    channels = arr.shape[2]
    if fmt == "PNG":
        chunks, notes = png_chunks(meta, channels)
        return deep.encode_png(arr, compress_level=compress_level, chunks=chunks), notes
    options, notes = _meta_options(meta, "TIFF", channels)
    if meta is not None and meta.exif:
        notes.append(
            "EXIF not written: a 16-bit or float colour TIFF carries the ICC profile and DPI only"
        )
    data = deep.encode_tiff(arr, icc=options.get("icc_profile"), dpi=options.get("dpi"))
    return data, notes


#: Pillow mode of each channel count of a uint8 array.
_MODE_OF_CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _encode_png_parallel(arr: np.ndarray, fmt: str, compress_level: int) -> bytes | None:
    """8-bit PNGs on every core of the thread budget (:mod:`cnnfilter._pngenc`), else None.

    Same pixels and about the same size as Pillow's encoder (Paeth rows,
    Z_RLE), 1.5-2x faster on one core and split over the cores of
    :func:`cnnfilter.engine.threads.thread_budget`. Level 0 (stored) stays with Pillow.
    """
    if fmt != "PNG" or arr.dtype != np.uint8 or compress_level < 1:
        return None
    if arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4):
        return None
    from cnnfilter._pngenc import encode_png
    from cnnfilter.engine.threads import thread_budget

    return encode_png(
        arr, level=compress_level, strategy=DEFAULT_PNG_STRATEGY, workers=thread_budget()
    )


def _pillow_image(arr: np.ndarray, fmt: str):
    """``(image, notes)``: the Pillow image that stores ``arr`` in ``fmt``, or a UsageError."""
    from PIL import Image

    from cnnfilter.codecs.formats import write_modes

    modes = write_modes(fmt)
    if arr.dtype == np.bool_ and arr.ndim == 2:  # black and white (a .pbm)
        return Image.fromarray(arr), []
    if arr.dtype.kind == "f":
        if arr.ndim != 2 or "F" not in modes:
            raise UsageError(
                f"a float array ({' x '.join(map(str, arr.shape))}) can be stored only as .npy, "
                f"a .tif, or a single-channel .pfm, not as {fmt}; write .npy or .tif, or map it "
                "to 8 bits first"
            )
        return Image.fromarray(arr.astype(np.float32), mode="F"), []
    if arr.dtype == np.uint16:  # gray, in a format that keeps it (fit_bit_depth)
        # Pillow >= 11 refuses fromarray(..., mode="I;16") for uint16 data ("Invalid mode
        # for data type") but maps little-endian uint16 to I;16 by itself.
        return Image.fromarray(arr.astype("<u2", copy=False)), []
    if arr.ndim == 3 and arr.shape[2] > 4:
        raise UsageError(
            f"an array of {arr.shape[2]} channels cannot be stored as {fmt}: a picture "
            "holds 1, 3 or 4; write .npy"
        )
    if arr.dtype != np.uint8:  # other integers are clipped, never wrapped around
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    arr, notes = _fit_mode(arr, fmt, modes)
    return Image.fromarray(arr, mode=_MODE_OF_CHANNELS[1 if arr.ndim == 2 else arr.shape[2]]), notes


def _fit_mode(arr: np.ndarray, fmt: str, modes: dict) -> tuple[np.ndarray, list[str]]:
    """uint8 ``arr`` in a mode ``fmt``'s writer takes (alpha flattened, gray as RGB), notes."""
    from cnnfilter.codecs.formats import gray_reads_back_as_colour

    notes = []
    mode = _MODE_OF_CHANNELS[1 if arr.ndim == 2 else arr.shape[2]]
    if mode == "LA" and "LA" not in modes and "RGBA" in modes:
        arr = np.concatenate([np.repeat(arr[..., :1], 3, axis=2), arr[..., 1:]], axis=2)
        notes.append(f"gray + alpha written as RGBA: {fmt} has no gray + alpha mode")
        mode = "RGBA"
    if mode in ("LA", "RGBA") and mode not in modes:
        alpha = arr[..., -1:].astype(np.float32) / 255.0
        flat = arr[..., :-1].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        arr = np.rint(flat).astype(np.uint8)
        arr = arr[..., 0] if mode == "LA" else arr
        mode = mode[:-1]
        notes.append(f"{fmt} has no alpha channel: transparent pixels flattened onto white")
    if mode == "L" and "L" not in modes:
        arr = np.repeat(arr[..., np.newaxis], 3, axis=2)
        notes.append(f"gray written as RGB: {fmt} has no gray mode")
    elif mode == "L" and gray_reads_back_as_colour(fmt):
        notes.append(f"gray written as RGB (R = G = B): {fmt} reads back as colour")
    return arr, notes


def _save_options(
    arr: np.ndarray, fmt: str, compress_level: int, quality: int, *, exif: bytes | None = None
) -> dict:
    """Pillow ``save`` options: PNG compression, JPEG/WebP quality, float TIFF deflate.

    JPEG at ``quality`` >= :data:`JPEG_FULL_CHROMA_QUALITY` keeps full colour
    resolution (4:4:4); below it, Pillow's default 4:2:0. A float TIFF is
    deflated (by libtiff) unless ``exif`` (the EXIF bytes written with it)
    holds a sub-IFD: date taken, exposure, GPS... Pillow's libtiff writer
    cannot write one, so such a TIFF is written uncompressed by Pillow's own
    writer, 2-3x larger (a 512 x 512 float32 Sobel response: 1.05 MB against
    0.34 MB deflated), its metadata whole.
    """
    if fmt == "PNG":
        return {"compress_level": compress_level, "compress_type": DEFAULT_PNG_STRATEGY}
    if fmt == "WEBP" and quality == 100:
        return {"lossless": True}
    if fmt == "JPEG" and quality >= JPEG_FULL_CHROMA_QUALITY:
        return {"quality": quality, "subsampling": 0}  # 4:4:4: no chroma subsampling
    if fmt in ("JPEG", "WEBP"):
        return {"quality": quality}
    if fmt == "TIFF" and arr.dtype.kind == "f":
        from cnnfilter.codecs.meta import has_sub_ifd

        return {} if has_sub_ifd(exif) else {"compression": "tiff_deflate"}
    return {}
