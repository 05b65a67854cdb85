"""Image files: the only module that opens or writes them (through Pillow).

Reading gives a :class:`LoadedImage`: the pixel array ``(H, W)`` (gray) or
``(H, W, 3)`` (RGB) in its stored dtype (uint8, uint16 for 16-bit gray,
float32 for 32-bit float TIFF), the alpha channel apart, and the value of
full white. Modes are mapped as follows:

=========================  ====================================================
Pillow mode                pixels
=========================  ====================================================
L, 1                       (H, W) uint8
I;16, I;16B, I;16L         (H, W) uint16 (kept 16-bit)
I                          (H, W) uint16 when its values fit, else float32
F                          (H, W) float32 (max_value 1.0)
RGB, CMYK, YCbCr, LAB, HSV (H, W, 3) uint8 (converted to RGB)
RGBA, LA, PA, P            colour or gray plus alpha; palette images are
                           expanded (to RGBA when they carry transparency)
=========================  ====================================================

The EXIF orientation is applied once, on reading. Writing is atomic: the
bytes go to a temporary file in the target folder, which is renamed over the
target only when complete, so an interrupted run leaves no partial file.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnfilter.errors import CnnfilterError, ProcessingError, UsageError

__all__ = [
    "LoadedImage",
    "output_format",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_PNG_COMPRESS_LEVEL",
    "read_image",
    "decode_image",
    "encode_image",
    "write_image",
    "write_bytes_atomic",
    "IMAGE_EXTENSIONS",
    "STDIO",
    "check_format_matches",
    "write_stdout",
    "read_array",
    "check_input_file",
    "fit_bit_depth",
]

#: The file name that means standard input (reading) or standard output (writing).
STDIO = "-"

#: Largest image decoded without ``--max-pixels``: 20000 x 20000 (400 MP, 1.2 GB as RGB
#: uint8); Pillow's own decompression-bomb limit is about 179 MP.
DEFAULT_MAX_PIXELS = 400_000_000

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

#: Extensions written through Pillow, and the format each means.
IMAGE_EXTENSIONS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".gif": "GIF",
}


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
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    max_value: float
    mode: str
    format: str | None
    frames: int = 1
    frame: int = 0

    @property
    def shape_text(self) -> str:
        """``H x W x C`` with the alpha channel counted."""
        h, w = self.pixels.shape[:2]
        c = (1 if self.pixels.ndim == 2 else self.pixels.shape[2]) + (self.alpha is not None)
        return f"{h} x {w} x {c}"


def check_input_file(path: str | Path, *, role: str = "input image") -> Path:
    """Refuse an input that does not exist or is a folder, naming its ``role``.

    Commands call it before any other check on their outputs, so that a
    missing input is reported as such (and not as "output already exists").
    ``-`` (standard input) always passes.

    Raises:
        UsageError: ``path`` does not exist, or is a directory.

    >>> check_input_file("nothere.png", role="template")
    Traceback (most recent call last):
    cnnfilter.errors.UsageError: template 'nothere.png' does not exist
    """
    p = Path(path)
    if str(path) == STDIO:
        return p
    if not p.exists():
        raise UsageError(f"{role} {str(p)!r} does not exist")
    if p.is_dir():
        raise UsageError(f"{role} {str(p)!r} is a directory, not a file")
    return p


def read_image(
    path: str | Path,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    frame: int = 0,
    role: str = "input image",
) -> LoadedImage:
    """Read an image file, or standard input for ``-``, into arrays.

    The format comes from the file's signature (its first bytes), never from
    its extension. A NumPy ``.npy`` array ``(H, W)`` or ``(H, W, C)`` is read
    as a feature map (see :func:`_array_image`), so that one layer's raw
    output feeds the next. The width and height are read from the header and checked
    against ``max_pixels`` before any pixel is decoded, so a decompression
    bomb costs nothing. See the module table for the modes.

    Args:
        path: a file, or ``"-"`` for standard input.
        max_pixels: the largest ``width * height`` decoded (of the frame used).
        frame: the frame of a multi-frame GIF/TIFF/WebP, counted from 0.
        role: what the file is, for messages (``input image``, ``template``).

    Raises:
        UsageError: the file does not exist or is a directory; ``-`` while
            stdin is a terminal; ``frame`` out of range.
        ProcessingError: not an image, empty, truncated or corrupt, or above
            ``max_pixels``.
    """
    if str(path) == STDIO:
        return decode_image(_read_stdin(), name="<stdin>", max_pixels=max_pixels, frame=frame)
    p = check_input_file(path, role=role)
    try:
        fh = open(p, "rb")  # closed below; Pillow reads lazily
    except OSError as exc:
        raise ProcessingError(f"cannot read {str(p)!r}: {exc.strerror or exc}") from None
    with fh:
        return _decode(fh, name=str(p), max_pixels=max_pixels, frame=frame)


def _read_stdin() -> bytes:
    stream = sys.stdin
    if stream is None:
        raise UsageError("'-' reads the image from standard input, but there is none")
    if stream.isatty():
        raise UsageError(
            "'-' reads the image from standard input, which is a terminal; pipe an image in "
            "(cat photo.png | cnnfilter ... -) or give a file name"
        )
    try:
        return getattr(stream, "buffer", stream).read()
    except OSError as exc:
        raise ProcessingError(f"cannot read standard input: {exc.strerror or exc}") from None


def decode_image(
    data: bytes, *, name: str = "<stdin>", max_pixels: int = DEFAULT_MAX_PIXELS, frame: int = 0
) -> LoadedImage:
    """Decode image bytes (as :func:`read_image`, for stdin and tests).

    Raises:
        UsageError: ``frame`` out of range.
        ProcessingError: empty, not an image, corrupt, above ``max_pixels``.
    """
    return _decode(io.BytesIO(data), name=name, max_pixels=max_pixels, frame=frame)


#: What Pillow's decoders raise on damaged or hostile files, as seen by tests/test_fuzz.py
#: (struct.error from BMP/ICO headers, TypeError "Missing dimensions" from TIFF, ...); every
#: one becomes "truncated or corrupt". MemoryError gets its own message.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, TypeError)


@contextlib.contextmanager
def _native_stderr_silenced(active: bool) -> Iterator[None]:
    """Send file descriptor 2 to /dev/null inside the block, when ``active``.

    libtiff prints its own diagnostics ("ZIPDecode: Decoding error at
    scanline 0...") straight to file descriptor 2, around Python; the user
    gets our one-line error instead.
    """
    if not active:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _decode(fh, *, name: str, max_pixels: int, frame: int) -> LoadedImage:
    from PIL import Image, UnidentifiedImageError

    if frame < 0:
        raise UsageError(f"frame counts from 0, got frame={frame}")
    head = fh.read(16)
    if not head:
        raise ProcessingError(f"{name!r} is empty (0 bytes), not an image")
    fh.seek(0)
    if head.startswith(NPY_SIGNATURE):
        return _array_image(fh, name=name, max_pixels=max_pixels, frame=frame)
    # Our own pixel limit (checked below from the header, before decoding) replaces
    # Pillow's global decompression-bomb guard, which warns at ~89 MP.
    Image.MAX_IMAGE_PIXELS = None
    try:
        # Pillow warns (UserWarning) about damaged metadata it then ignores; the pixels are
        # what matters, and a warning would print a multi-line message on stderr.
        with warnings.catch_warnings(), _native_stderr_silenced(_signature(head) == "TIFF"):
            warnings.simplefilter("ignore")
            return _open_frame(fh, name=name, max_pixels=max_pixels, frame=frame)
    except CnnfilterError:
        raise
    except UnidentifiedImageError:
        kind = _signature(head)
        if kind:
            raise ProcessingError(
                f"{name!r} is truncated or corrupt: it starts like a {kind} file, but its "
                "header cannot be read"
            ) from None
        raise ProcessingError(
            f"{name!r} is not an image Pillow can read (PNG, JPEG, TIFF, BMP, WebP, GIF...)"
        ) from None
    except Image.DecompressionBombError as exc:
        raise ProcessingError(f"{name!r}: {exc}") from None
    except MemoryError:
        raise ProcessingError(
            f"{name!r} needs more memory than is available to decode; is it corrupt?"
        ) from None
    except _DECODE_ERRORS as exc:
        raise ProcessingError(f"{name!r} is truncated or corrupt: {_reason(exc)}") from None


#: First bytes of the formats cnnfilter reads, to tell "damaged PNG" from "not an image".
_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"BM": "BMP",
}


def _signature(head: bytes) -> str | None:
    r"""The format whose signature ``head`` starts with, or None.

    >>> _signature(b"\x89PNG\r\n\x1a\n\x00"), _signature(b"hello")
    ('PNG', None)
    """
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((kind for sig, kind in _SIGNATURES.items() if head.startswith(sig)), None)


def _open_frame(fh, *, name: str, max_pixels: int, frame: int) -> LoadedImage:
    from PIL import Image, ImageOps

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
        im.load()
        fmt = im.format
        mode = im.mode
        im = ImageOps.exif_transpose(im)
        return _to_arrays(im, mode, fmt, frames, frame)


def _check_pixels(name: str, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ProcessingError(
            f"{name!r} is {height} x {width} = {width * height:,} pixels, above the limit "
            f"of {max_pixels:,}; raise it with max_pixels=... if the file is trusted"
        )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text[:200] or type(exc).__name__


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


def _to_arrays(im, mode: str, fmt: str | None, frames: int, frame: int) -> LoadedImage:
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in _CONVERT:
        im = im.convert(_CONVERT[mode])
    pixels, alpha, white = _pixels_of(im)
    return LoadedImage(pixels, alpha, white, mode, fmt, frames, frame)


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


def output_format(path: str | Path, fmt: str | None = None) -> str:
    """The format a path (or an explicit ``fmt``) will be written in: Pillow's name or NPY.

    ``fmt`` wins over the extension; ``"-"`` (standard output) needs ``fmt``.

    Raises:
        UsageError: unknown extension or format; ``-`` without ``fmt``.

    >>> output_format("edges.png"), output_format("out.npy"), output_format("x", "jpg")
    ('PNG', 'NPY', 'JPEG')
    >>> output_format("x.xyz")
    Traceback (most recent call last):
    cnnfilter.errors.UsageError: cannot tell the output format of 'x.xyz' from its extension; use .png, .jpg, .tif, .bmp, .webp, .gif or .npy
    """  # noqa: E501
    return _format_for(Path(path), fmt)


def _format_for(path: Path, fmt: str | None) -> str:
    if fmt:
        key = fmt.lower().lstrip(".")
        if key == "npy":
            return "NPY"
        if "." + key in IMAGE_EXTENSIONS:
            return IMAGE_EXTENSIONS["." + key]
        raise UsageError(
            f"unknown output format fmt={fmt!r}; use one of png, jpg, tiff, bmp, webp, gif, npy"
        )
    if str(path) == STDIO:
        raise UsageError("writing to standard output ('-') needs fmt=png|jpg|tiff|bmp|webp|gif|npy")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return "NPY"
    if suffix in IMAGE_EXTENSIONS:
        return IMAGE_EXTENSIONS[suffix]
    raise UsageError(
        f"cannot tell the output format of {str(path)!r} from its extension; use .png, .jpg, "
        ".tif, .bmp, .webp, .gif or .npy"
    )


def check_format_matches(path: str | Path, fmt: str | None) -> None:
    """Refuse a ``fmt`` that contradicts the extension of ``path``.

    :func:`output_format` lets ``fmt`` win; on the command line, PNG bytes in
    ``x.jpg`` are a mistake, so the CLI asks first.

    Raises:
        UsageError: ``fmt`` and the extension name different formats.

    >>> check_format_matches("x.jpeg", "jpg")
    >>> check_format_matches("x.png", "jpg")
    Traceback (most recent call last):
    cnnfilter.errors.UsageError: fmt='jpg' disagrees with the extension of 'x.png' (PNG); drop fmt or change the file name
    """  # noqa: E501
    if not fmt or str(path) == STDIO:
        return
    suffix = Path(path).suffix.lower()
    implied = "NPY" if suffix == ".npy" else IMAGE_EXTENSIONS.get(suffix)
    chosen = _format_for(Path(path), fmt)
    if implied is not None and implied != chosen:
        raise UsageError(
            f"fmt={fmt!r} disagrees with the extension of {str(path)!r} ({implied}); "
            "drop fmt or change the file name"
        )


def fit_bit_depth(array: np.ndarray, fmt: str) -> tuple[np.ndarray, str | None]:
    """16-bit pixels as ``fmt`` can store them, and a note when they had to change.

    The one rule for every command: 16-bit values stay 16-bit where Pillow
    can write them (a gray ``PNG`` or ``TIFF``; ``NPY`` keeps anything);
    anywhere else (JPEG, BMP, WebP, GIF, or colour) they become 8-bit by
    rounding ``x / 257`` to nearest, so that 65535 -> 255 and 257 -> 1
    (``x / 257`` is never exactly half-way, 257 being odd). Other dtypes are
    returned unchanged, with no note.

    >>> fit_bit_depth(np.array([[0, 128, 129, 65535]], dtype=np.uint16), "JPEG")[0]
    array([[  0,   0,   1, 255]], dtype=uint8)
    >>> fit_bit_depth(np.array([[0, 65535]], dtype=np.uint16), "PNG")[1] is None
    True
    """
    if array.dtype != np.uint16 or fmt == "NPY":
        return array, None
    if array.ndim == 2 and fmt in ("PNG", "TIFF"):
        return array, None
    narrowed = ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    why = (
        f"{fmt} holds 8 bits; use .png or .tif to keep 16"
        if array.ndim == 2
        else "16-bit colour is written only as gray .png or .tif; use .npy to keep 16"
    )
    return narrowed, f"16-bit values written as 8 bits (x / 257, rounded): {why}"


def encode_image(
    array: np.ndarray,
    fmt: str,
    *,
    compress_level: int = DEFAULT_PNG_COMPRESS_LEVEL,
    quality: int = 95,
) -> bytes:
    """Encode ``array`` in a Pillow format name or ``"NPY"``; return the bytes.

    ``array``: ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` (RGBA); uint8 for
    every format, uint16 (kept 16-bit for gray PNG/TIFF, else made 8-bit by
    :func:`fit_bit_depth`), float32 gray for TIFF; any shape and dtype for
    NPY.

    Raises:
        UsageError: a dtype/shape the format cannot store (with the fix).
    """
    if fmt == "NPY":
        buf = io.BytesIO()
        np.save(buf, array, allow_pickle=False)
        return buf.getvalue()
    arr, _ = fit_bit_depth(np.ascontiguousarray(array), fmt)  # 16 -> 8 bits where needed
    fast = _encode_png_parallel(arr, fmt, compress_level)
    if fast is not None:
        return fast
    im = _pillow_image(arr, fmt)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **_save_options(arr, fmt, compress_level, quality))
    return buf.getvalue()


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
    """The Pillow image that stores ``arr`` in ``fmt``, or a UsageError with the fix."""
    from PIL import Image

    if arr.dtype.kind == "f":
        if arr.ndim != 2 or fmt != "TIFF":
            raise UsageError(
                f"a float array ({' x '.join(map(str, arr.shape))}) can be stored only as .npy "
                f"or as a single-channel .tif, not as {fmt}; write .npy, or map it to 8 bits first"
            )
        return Image.fromarray(arr.astype(np.float32), mode="F")
    if arr.dtype == np.uint16:  # gray, PNG or TIFF
        # Pillow >= 11 refuses fromarray(..., mode="I;16") for uint16 data ("Invalid mode
        # for data type") but maps little-endian uint16 to I;16 by itself.
        return Image.fromarray(arr.astype("<u2", copy=False))
    if arr.ndim == 3 and arr.shape[2] > 4:
        raise UsageError(
            f"an array of {arr.shape[2]} channels cannot be stored as {fmt}: a picture "
            "holds 1, 3 or 4; write .npy"
        )
    if arr.dtype != np.uint8:  # other integers are clipped, never wrapped around
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] in (2, 4) and fmt in ("JPEG", "BMP"):
        # these formats have no alpha channel: RGBA -> RGB, gray + alpha -> gray
        arr = arr[..., :3] if arr.shape[2] == 4 else arr[..., 0]
    return Image.fromarray(arr)


def _save_options(arr: np.ndarray, fmt: str, compress_level: int, quality: int) -> dict:
    """Pillow ``save`` options: PNG compression, JPEG/WebP quality, float TIFF deflate."""
    if fmt == "PNG":
        return {"compress_level": compress_level, "compress_type": DEFAULT_PNG_STRATEGY}
    if fmt in ("JPEG", "WEBP"):
        return {"quality": quality}
    if fmt == "TIFF" and arr.dtype.kind == "f":
        return {"compression": "tiff_deflate"}
    return {}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | Path, data: bytes, *, force: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Raises:
        UsageError: ``path`` exists and ``force`` is false, or is a directory,
            or its folder does not exist.
        ProcessingError: the write itself failed (disk full, permissions).
    """
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"output {str(p)!r} is a directory; give a file name")
    if p.exists() and not force:
        raise UsageError(f"output {str(p)!r} already exists; add force=True to replace it")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"output folder {str(folder)!r} does not exist; create it first")
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=folder)
        # mkstemp creates 0600; give the file the mode a plain open() would (or the
        # replaced file's mode).
        os.chmod(tmp_name, p.stat().st_mode & 0o7777 if p.exists() else 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, p)
        tmp_name = None
    except OSError as exc:
        raise ProcessingError(f"cannot write {str(p)!r}: {exc.strerror or exc}") from None
    finally:
        if tmp_name is not None and os.path.exists(tmp_name):
            os.unlink(tmp_name)


def write_stdout(data: bytes) -> None:
    """Write encoded image bytes to standard output (for ``-o -``).

    Raises:
        UsageError: standard output is a terminal (binary data would garble it).
        ProcessingError: the reader went away (broken pipe) or the write failed.
    """
    stream = sys.stdout
    if stream is None:
        raise ProcessingError("there is no standard output to write the image to")
    if stream.isatty():
        raise UsageError(
            "refusing to write binary image data to a terminal; redirect standard output to a "
            "file, pipe it into another command, or give an output file name"
        )
    out = getattr(stream, "buffer", stream)
    try:
        stream.flush()
        out.flush()
        try:
            fd = out.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (tests, wrappers)
            out.write(data)
            out.flush()
        else:
            # os.write reports how much went through; a buffered write may return a
            # short count without raising when the reader has gone.
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
    except BrokenPipeError:
        # The reader exited early (e.g. `| head -c 10`). Point stdout at /dev/null so that
        # Python's own flush at exit does not raise a second time.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass
        raise ProcessingError(
            "standard output was closed before the whole image was written (broken pipe)"
        ) from None
    except OSError as exc:
        raise ProcessingError(f"cannot write to standard output: {exc.strerror or exc}") from None


def write_image(
    path: str | Path,
    array: np.ndarray,
    *,
    force: bool = False,
    fmt: str | None = None,
    compress_level: int = DEFAULT_PNG_COMPRESS_LEVEL,
    quality: int = 95,
) -> str:
    """Encode ``array`` by the extension of ``path`` (or ``fmt``) and write it atomically.

    ``path`` ``"-"`` writes to standard output; ``fmt`` is required then.

    Returns the format name used. Raises as :func:`encode_image`,
    :func:`write_bytes_atomic` and :func:`write_stdout`.
    """
    p = Path(path)
    resolved = _format_for(p, fmt)
    data = encode_image(array, resolved, compress_level=compress_level, quality=quality)
    if str(path) == STDIO:
        write_stdout(data)
    else:
        write_bytes_atomic(p, data, force=force)
    return resolved


def read_array(path: str | Path, *, max_elements: int = DEFAULT_MAX_PIXELS * 4) -> np.ndarray:
    """Read a NumPy ``.npy`` file (no pickles) holding numbers, e.g. a feature map.

    Returns the stored array as it is (any shape; callers check it).

    Raises:
        UsageError: the file does not exist or is a directory.
        ProcessingError: not a readable ``.npy`` file, a pickled (object)
            array, non-numeric values, or more than ``max_elements`` values.
    """
    p = check_input_file(path, role="input array")
    try:
        fh = open(p, "rb")
    except OSError as exc:
        raise ProcessingError(f"cannot read {str(p)!r}: {exc.strerror or exc}") from None
    with fh:
        return _load_npy(fh, name=str(p), max_elements=max_elements)


#: The first bytes of every ``.npy`` file (NumPy's format, version 1, 2 or 3).
NPY_SIGNATURE = b"\x93NUMPY"


def _load_npy(fh, *, name: str, max_elements: int, max_pixels: int | None = None) -> np.ndarray:
    """An ``.npy`` array from an open binary file, its header checked before the data.

    ``max_pixels`` (optional) bounds ``H * W`` of an image-like array, as for images.
    """
    try:
        version = np.lib.format.read_magic(fh)
        header = (
            np.lib.format.read_array_header_1_0(fh)
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0(fh)
        )
        shape, _, dtype = header
        if int(np.prod(shape, dtype=np.int64)) > max_elements:
            raise ProcessingError(
                f"{name!r} holds {int(np.prod(shape)):,} values, above the limit of "
                f"{max_elements:,}"
            )
        if dtype.kind not in "biuf":
            raise ProcessingError(f"{name!r} holds {dtype} values; only numeric arrays are read")
        if max_pixels is not None and len(shape) >= 2:
            _check_pixels(name, (shape[1], shape[0]), max_pixels)
        fh.seek(0)
        return np.load(fh, allow_pickle=False)
    except ProcessingError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise ProcessingError(f"{name!r} is not a readable .npy array: {exc}") from None


def _array_image(fh, *, name: str, max_pixels: int, frame: int) -> LoadedImage:
    """A ``.npy`` feature map ``(H, W)`` or ``(H, W, C)`` as a :class:`LoadedImage`.

    uint8 and uint16 arrays are pixels of full white 255 and 65535; float32
    and float64 arrays are kept as they are, with full white 1.0 like a float
    TIFF; other numbers (bool, other integers, float16) become float64.
    ``(H, W, 1)`` becomes ``(H, W)``. No channel is taken for alpha.
    """
    arr = _load_npy(fh, name=name, max_elements=DEFAULT_MAX_PIXELS * 4, max_pixels=max_pixels)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise UsageError(
            f"{name!r} holds an array of shape {arr.shape}; an image or feature map must be "
            "(H, W) or (H, W, C)"
        )
    if frame:
        raise UsageError(f"{name!r} is a .npy array, which has one frame; frame= must be 0")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:
        white = 255.0 if arr.dtype == np.uint8 else 65535.0
    else:
        white = 1.0
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
    pixels = np.ascontiguousarray(arr)
    return LoadedImage(pixels, None, white, "array", "NPY", 1, 0)
