"""16-bit (and float) colour images: PNG through imagecodecs, TIFF through tifffile.

Pillow has no mode for 16-bit RGB, RGBA or gray + alpha: it opens such files
but keeps only the high byte of each value. These functions decode and encode
them without loss. They need the optional extra ``cnnfilter[16bit]``; when it
is absent they raise a :class:`~cnnfilter.errors.UsageError` naming it, and
nothing is ever truncated instead.

The choice, measured on this project's machine (a 4000 x 3000 16-bit RGB
image, the astronaut sample scaled up with a noisy low byte as in real
16-bit photos; one run, 2 shared cores; see docs/reference/formats.md):

===========================  =========  =========  ========  ===================
PNG codec                    encode     decode     size      installed size
===========================  =========  =========  ========  ===================
imagecodecs (libpng), l4     3.2 s      0.8-1.3 s  55.5 MB   45 MB (many codecs)
OpenCV (cv2.imencode), l4    3.9 s      1.6 s      54.0 MB   72 MB, BGR order
pypng (pure Python), l4      9.9 s      5.2 s      62.5 MB   84 KB
===========================  =========  =========  ========  ===================

imagecodecs (level 4, zlib's run-length strategy, the "sub" row filter) is
the fastest, exact, keeps RGB order and is maintained with tifffile by the
same author (C. Gohlke), who also uses it for tifffile's compressed TIFFs;
OpenCV is larger, slower here and writes no metadata; pypng is 3-5x slower.
TIFF: tifffile (2.2 MB, pure Python + NumPy) writes 12 MP 16-bit RGB
uncompressed in 0.4 s and reads it in 0.1 s.
"""

from __future__ import annotations

import io

import numpy as np

from cnnfilter.errors import ProcessingError, UsageError

__all__ = [
    "EXTRA",
    "available",
    "needs_deep_png",
    "decode_png",
    "encode_png",
    "decode_tiff",
    "encode_tiff",
    "is_deep",
]

#: How to install the codecs, as error messages print it.
EXTRA = "pip install 'cnnfilter[16bit]'"

#: zlib strategy Z_RLE and PNG row filter "sub" for 16-bit PNG output: with the
#: noisy low byte of real 16-bit pictures, level 4 with them took 3.2 s for 12 MP
#: against 9.4 s with zlib's defaults, for a file 0.1% larger.
_PNG_STRATEGY = 3
_PNG_FILTER_SUB = 16


def available() -> bool:
    """Whether imagecodecs and tifffile can be imported."""
    try:
        import imagecodecs  # noqa: F401
        import tifffile  # noqa: F401
    except ImportError:
        return False
    return True


def _imagecodecs(what: str):
    try:
        import imagecodecs
    except ImportError:
        raise UsageError(f"{what} needs the 16-bit codecs: {EXTRA}") from None
    return imagecodecs


def _tifffile(what: str):
    try:
        import tifffile
    except ImportError:
        raise UsageError(f"{what} needs the 16-bit codecs: {EXTRA}") from None
    return tifffile


def is_deep(array: np.ndarray) -> bool:
    """True for arrays Pillow cannot write: 16-bit (or float) with 2, 3 or 4 channels.

    >>> is_deep(np.zeros((2, 2, 3), np.uint16)), is_deep(np.zeros((2, 2), np.uint16))
    (True, False)
    """
    return array.ndim == 3 and array.shape[2] in (2, 3, 4) and array.dtype != np.uint8


def needs_deep_png(head: bytes) -> bool:
    r"""True when PNG bytes (at least 26) describe 16-bit colour or gray + alpha.

    The IHDR chunk follows the signature: width, height (4 bytes each), bit
    depth, colour type (2 RGB, 4 gray + alpha, 6 RGBA).

    >>> needs_deep_png(b"\x89PNG\r\n\x1a\n" + bytes(4) + b"IHDR" + bytes(8) + bytes([16, 2]))
    True
    """
    return len(head) >= 26 and head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 4, 6)


def decode_png(data: bytes, *, name: str) -> np.ndarray:
    """``(H, W, C)`` uint16 pixels of a 16-bit colour or gray + alpha PNG.

    Raises:
        UsageError: the extra is not installed.
        ProcessingError: the data cannot be decoded.
    """
    codecs = _imagecodecs(f"{name!r} is a 16-bit colour PNG, which")
    try:
        return np.asarray(codecs.png_decode(data))
    except Exception as exc:  # imagecodecs.PngError and its relatives
        raise ProcessingError(f"{name!r} is truncated or corrupt: {exc}") from None


def encode_png(array: np.ndarray, *, compress_level: int, chunks: list[bytes] = ()) -> bytes:
    """PNG bytes of ``(H, W, C)`` uint16 pixels, ``C`` in 2, 3, 4; ``chunks`` inserted after IHDR.

    Raises:
        UsageError: the extra is not installed.
    """
    codecs = _imagecodecs("writing 16-bit colour as PNG")
    data = bytes(
        codecs.png_encode(
            np.ascontiguousarray(array, dtype=np.uint16),
            level=compress_level,
            strategy=_PNG_STRATEGY,
            filter=_PNG_FILTER_SUB,
        )
    )
    if not chunks:
        return data
    ihdr_end = 8 + 4 + 4 + 13 + 4  # signature, length, type, IHDR data, CRC
    return data[:ihdr_end] + b"".join(chunks) + data[ihdr_end:]


def decode_tiff(data: bytes | io.IOBase, *, name: str, frame: int = 0) -> np.ndarray:
    """Pixels of one page of a TIFF, as stored (uint16 or float colour).

    Raises:
        UsageError: the extra is not installed.
        ProcessingError: the data cannot be decoded.
    """
    tifffile = _tifffile(f"{name!r} is a 16-bit or float colour TIFF, which")
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        with tifffile.TiffFile(source) as tif:
            return np.asarray(tif.pages[frame].asarray())
    except Exception as exc:  # tifffile raises many kinds on damaged files
        raise ProcessingError(f"{name!r} is truncated or corrupt: {exc}") from None


def encode_tiff(
    array: np.ndarray,
    *,
    icc: bytes | None = None,
    dpi: tuple[float, float] | None = None,
) -> bytes:
    """TIFF bytes of ``(H, W, C)`` 16-bit or float pixels (uncompressed, as Pillow's 8-bit TIFFs).

    A fourth channel (or the second of two) is written as unassociated alpha.

    Raises:
        UsageError: the extra is not installed.
    """
    tifffile = _tifffile("writing 16-bit colour as TIFF")
    channels = array.shape[2]
    options: dict = {
        "photometric": "rgb" if channels >= 3 else "minisblack",
        "extrasamples": ("unassalpha",) if channels in (2, 4) else None,
        "iccprofile": icc,
        "metadata": None,
    }
    if dpi:
        options.update(resolution=(float(dpi[0]), float(dpi[1])), resolutionunit="INCH")
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.ascontiguousarray(array), **options)
    return buf.getvalue()
