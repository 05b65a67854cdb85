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
import errno
import io
import math
import os
import struct
import sys
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnfilter.errors import CnnfilterError, OutputClosed, ProcessingError, UsageError

if TYPE_CHECKING:
    from cnnfilter.codecs.meta import ImageMeta

__all__ = [
    "LoadedImage",
    "output_format",
    "stdout_format",
    "encode_picture",
    "netpbm_variant",
    "fit_netpbm",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_PNG_COMPRESS_LEVEL",
    "read_image",
    "decode_image",
    "encode_image",
    "write_image",
    "write_bytes_atomic",
    "OutputTarget",
    "output_target",
    "is_null_output",
    "is_complete_output",
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

#: Pillow's own decompression-bomb error threshold (2 x ``Image.MAX_IMAGE_PIXELS``).
PILLOW_GUARD_PIXELS = 178_956_970

#: Bytes of working memory per pixel while an RGB image is filtered: the decoded
#: uint8 (3), the float32 image (12), the float32 response (12), the output
#: pixels and the encoder's copy (12 + 3), with room to spare: 48.
WORKING_SET_BYTES_PER_PIXEL = 48

#: Most bytes a pixel of any readable file can take (4 float32 channels): the
#: bound on bytes read from a stream or FIFO, and on a ``.npy`` array's data,
#: for a given pixel limit (plus :data:`STREAM_SLACK_BYTES` for headers).
MAX_BYTES_PER_PIXEL = 16

#: Room for headers and metadata (ICC profiles, EXIF) in a stream's byte limit.
STREAM_SLACK_BYTES = 16 * 2**20


def available_memory() -> int | None:
    """Bytes of memory this process may use now, or None if unknown.

    The smallest of: ``MemAvailable`` (Linux) or the free physical pages, the
    address-space limit (``ulimit -v``) and the cgroup's ``memory.max``.
    """
    known = [n for n in (_free_ram(), _rlimit_bytes(), _cgroup_bytes()) if n is not None]
    return min(known) if known else None


def _rlimit_bytes() -> int | None:
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    return None if soft == resource.RLIM_INFINITY else soft


def _cgroup_bytes() -> int | None:
    try:
        with open("/sys/fs/cgroup/memory.max", "rb") as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _free_ram() -> int | None:
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def default_max_pixels() -> int:
    """The default pixel limit: Pillow's guard, or less if the working set would not fit.

    ``min(PILLOW_GUARD_PIXELS, available memory / WORKING_SET_BYTES_PER_PIXEL)``,
    at least 1 megapixel. On a machine with 8 GB free: 178,956,970 (Pillow's
    guard); with 2 GB free: 44,739,242.
    """
    free = available_memory()
    if free is None:
        return PILLOW_GUARD_PIXELS
    return max(2**20, min(PILLOW_GUARD_PIXELS, free // WORKING_SET_BYTES_PER_PIXEL))


#: Largest image decoded without ``--max-pixels``: see :func:`default_max_pixels`
#: (computed once, when this module is imported).
DEFAULT_MAX_PIXELS = default_max_pixels()


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


class _WritableExtensions(Mapping):
    """Extension (``".png"``) -> Pillow format name, for every format cnnfilter writes.

    Read from Pillow's registry on first use (:func:`cnnfilter.codecs.formats.extensions`),
    so that importing this module stays light.
    """

    def _table(self) -> dict[str, str]:
        from cnnfilter.codecs.formats import extensions

        return extensions()[1]

    def __getitem__(self, key: str) -> str:
        return self._table()[key]

    def __iter__(self):
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


#: Extensions written through Pillow, and the format each means (from Pillow's registry).
IMAGE_EXTENSIONS: Mapping[str, str] = _WritableExtensions()


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
    to_srgb: bool = False,
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
        to_srgb: convert colour from the embedded ICC profile to sRGB
            (8-bit RGB/RGBA); the result's ``meta.icc`` is then sRGB.

    Raises:
        UsageError: the file does not exist or is a directory; ``-`` while
            stdin is a terminal; ``frame`` out of range.
        ProcessingError: not an image, empty, truncated or corrupt, or above
            ``max_pixels``.
    """
    if str(path) == STDIO:
        data = _read_stdin(max_pixels)
        return decode_image(
            data, name="<stdin>", max_pixels=max_pixels, frame=frame, to_srgb=to_srgb
        )
    p = check_input_file(path, role=role)
    try:
        fh = open(p, "rb")  # closed below; Pillow reads lazily. A FIFO waits for its writer.
    except OSError as exc:
        raise ProcessingError(f"cannot read {str(p)!r}: {exc.strerror or exc}") from None
    with fh:
        if not _is_regular(fh):  # a FIFO, <(...), a device: not seekable, read it bounded
            data = read_stream_bounded(fh, name=str(p), max_pixels=max_pixels)
            return decode_image(
                data, name=str(p), max_pixels=max_pixels, frame=frame, to_srgb=to_srgb
            )
        return _decode(fh, name=str(p), max_pixels=max_pixels, frame=frame, to_srgb=to_srgb)


def _is_regular(fh) -> bool:
    import stat

    try:
        return stat.S_ISREG(os.fstat(fh.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False


#: Bytes read from a stream before its header is checked.
_HEAD_BYTES = 1 << 16


def read_stream_bounded(stream, *, name: str, max_pixels: int) -> bytes:
    """All bytes of a stream (stdin, FIFO, device), refusing early what cannot be an image.

    The first 64 KiB are checked first: bytes that start like no image
    format (``/dev/zero``) are refused at once, and an image header whose
    width x height is above ``max_pixels`` is refused before the rest is
    read. The whole stream is limited to ``max_pixels * MAX_BYTES_PER_PIXEL
    + STREAM_SLACK_BYTES`` bytes.

    Raises:
        ProcessingError: not an image; above ``max_pixels`` (from the
            header); longer than the byte limit; a read error.
    """
    limit = max_pixels * MAX_BYTES_PER_PIXEL + STREAM_SLACK_BYTES
    try:
        head = _read_up_to(stream, _HEAD_BYTES)
        if head and _signature(head) is None and not head.startswith(NPY_SIGNATURE):
            raise ProcessingError(
                f"{name!r} is not an image Pillow can read (PNG, JPEG, TIFF, BMP, WebP, GIF...): "
                "its first bytes match no image format"
            )
        _check_header_pixels(head, name=name, max_pixels=max_pixels)
        rest = _read_up_to(stream, limit + 1 - len(head)) if len(head) == _HEAD_BYTES else b""
    except OSError as exc:
        raise ProcessingError(f"cannot read {name!r}: {exc.strerror or exc}") from None
    data = head + rest
    if len(data) > limit:
        raise ProcessingError(
            f"{name!r} is longer than {limit:,} bytes, the most an image within the pixel "
            f"limit of {max_pixels:,} can take ({MAX_BYTES_PER_PIXEL} bytes a pixel); "
            "raise --max-pixels if the stream is trusted"
        )
    return data


def _read_up_to(stream, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = stream.read(min(size - got, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _check_header_pixels(head: bytes, *, name: str, max_pixels: int) -> None:
    """Refuse from a partial header when it already shows too many pixels."""
    if head.startswith(NPY_SIGNATURE):
        return  # checked by _load_npy from the same header, before the data
    from PIL import Image

    try:
        with warnings.catch_warnings(), _pillow_limit_lifted():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(head)) as im:
                size = im.size
    except Exception:  # noqa: BLE001 - header incomplete in 64 KiB: checked after the read
        return
    _check_pixels(name, size, max_pixels)


def _read_stdin(max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    stream = sys.stdin
    if stream is None:
        raise UsageError("'-' reads the image from standard input, but there is none")
    if stream.isatty():
        raise UsageError(
            "'-' reads the image from standard input, which is a terminal; pipe an image in "
            "(cat photo.png | cnnfilter ... -) or give a file name"
        )
    return read_stream_bounded(
        getattr(stream, "buffer", stream), name="<stdin>", max_pixels=max_pixels
    )


def decode_image(
    data: bytes,
    *,
    name: str = "<stdin>",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    frame: int = 0,
    to_srgb: bool = False,
) -> LoadedImage:
    """Decode image bytes (as :func:`read_image`, for stdin and tests).

    Raises:
        UsageError: ``frame`` out of range.
        ProcessingError: empty, not an image, corrupt, above ``max_pixels``.
    """
    return _decode(io.BytesIO(data), name=name, max_pixels=max_pixels, frame=frame, to_srgb=to_srgb)


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


@contextlib.contextmanager
def _pillow_limit_lifted() -> Iterator[None]:
    """Lift Pillow's global decompression-bomb limit around cnnfilter's own ``Image.open``.

    cnnfilter checks its own, per-call ``max_pixels`` from the header before
    decoding; Pillow's global ``Image.MAX_IMAGE_PIXELS`` is restored on leaving,
    so other code in the process keeps Pillow's guard.
    """
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _decode(fh, *, name: str, max_pixels: int, frame: int, to_srgb: bool = False) -> LoadedImage:
    from PIL import Image, UnidentifiedImageError

    if frame < 0:
        raise UsageError(f"frame counts from 0, got frame={frame}")
    head = fh.read(16)
    if not head:
        raise ProcessingError(f"{name!r} is empty (0 bytes), not an image")
    fh.seek(0)
    if head.startswith(NPY_SIGNATURE):
        return _array_image(fh, name=name, max_pixels=max_pixels, frame=frame)
    # Our own pixel limit (checked below from the header, before decoding) stands in for
    # Pillow's decompression-bomb guard (~89 MP) inside this call only.
    try:
        # Pillow warns (UserWarning) about damaged metadata it then ignores; the pixels are
        # what matters, and a warning would print a multi-line message on stderr.
        with (
            warnings.catch_warnings(),
            _native_stderr_silenced(_signature(head) == "TIFF"),
            _pillow_limit_lifted(),
        ):
            warnings.simplefilter("ignore")
            return _open_frame(fh, name=name, max_pixels=max_pixels, frame=frame, to_srgb=to_srgb)
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


def output_format(path: str | Path, fmt: str | None = None, *, source: str | None = None) -> str:
    """The format a path (or an explicit ``fmt``) will be written in: Pillow's name or NPY.

    ``fmt`` (an extension or a format name) wins over the extension. Standard
    output (``"-"``) without ``fmt`` takes the format of ``source`` (the
    input's name: ``x.npy`` gives NPY), or PNG when that is unknown (a
    stream); :func:`stdout_format` settles it once the input is read.

    Raises:
        UsageError: unknown extension or format.

    >>> output_format("edges.png"), output_format("out.npy"), output_format("x", "jpg")
    ('PNG', 'NPY', 'JPEG')
    >>> output_format("-", source="map.npy"), output_format("-", source="-")
    ('NPY', 'PNG')
    >>> output_format("x.xyz")
    Traceback (most recent call last):
    cnnfilter.errors.UsageError: cannot tell the output format of 'x.xyz' from its extension; use .png, .jpg, .tif, .bmp, .webp, .gif or .npy (cnnfilter formats lists every one)
    """  # noqa: E501
    if str(path) == STDIO and not fmt:
        suffix = Path(str(source or STDIO)).suffix.lower()
        known = "NPY" if suffix == ".npy" else IMAGE_EXTENSIONS.get(suffix)
        return known or "PNG"
    return _format_for(Path(path), fmt)


def stdout_format(input_format: str | None) -> str:
    """The format standard output gets without ``fmt``: the input's, if writable, else PNG.

    >>> stdout_format("NPY"), stdout_format("JPEG"), stdout_format(None)
    ('NPY', 'JPEG', 'PNG')
    """
    if input_format == "NPY" or input_format in set(IMAGE_EXTENSIONS.values()):
        return input_format
    return "PNG"


def _format_for(path: Path, fmt: str | None) -> str:
    if fmt:
        key = fmt.lower().lstrip(".")
        if key == "npy":
            return "NPY"
        if "." + key in IMAGE_EXTENSIONS:
            return IMAGE_EXTENSIONS["." + key]
        names = set(IMAGE_EXTENSIONS.values())
        if key.upper() in names:
            return key.upper()
        raise UsageError(
            f"unknown output format fmt={fmt!r}; use one of png, jpg, tiff, bmp, webp, gif, npy "
            "(cnnfilter formats lists every one)"
        )
    if is_null_output(path):  # -o /dev/null: the image is discarded, any format will do
        return "PNG"
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return "NPY"
    if suffix in IMAGE_EXTENSIONS:
        return IMAGE_EXTENSIONS[suffix]
    raise UsageError(
        f"cannot tell the output format of {str(path)!r} from its extension; use .png, .jpg, "
        ".tif, .bmp, .webp, .gif or .npy (cnnfilter formats lists every one)"
    )


#: The most rows and columns each format can hold, where a format has a limit
#: below what memory allows (measured with Pillow 11: one more pixel fails in
#: the encoder with a ValueError, OSError or OverflowError). WebP: 14-bit
#: sizes (libwebp's WEBP_MAX_DIMENSION); JPEG: libjpeg's JPEG_MAX_DIMENSION;
#: GIF, TGA, SGI: 16-bit header fields; PCX: 16-bit, and an even row length.
MAX_ROWS_COLS = {
    "WEBP": (16383, 16383),
    "JPEG": (65500, 65500),
    "GIF": (65535, 65535),
    "TGA": (65535, 65535),
    "SGI": (65535, 65535),
    "PCX": (65535, 65534),
}


def check_output_size(fmt: str, rows: int, cols: int) -> None:
    """Refuse a picture of ``rows`` x ``cols`` pixels that ``fmt`` cannot hold.

    Called before any work with the output size the geometry gives, and again
    by :func:`encode_picture`, so that a too-large picture is one file's
    error, never an encoder's traceback (:data:`MAX_ROWS_COLS`).

    Raises:
        UsageError: ``rows`` or ``cols`` above the format's limit.

    >>> check_output_size("WEBP", 16383, 100)
    >>> check_output_size("WEBP", 100, 16384)
    Traceback (most recent call last):
    cnnfilter.errors.UsageError: the output would be 100 x 16384 pixels (H x W), but WEBP holds at most 16383 x 16383; write .png or .tif instead, or use a larger stride
    """  # noqa: E501
    limit = MAX_ROWS_COLS.get(fmt)
    if limit is None or (rows <= limit[0] and cols <= limit[1]):
        return
    raise UsageError(
        f"the output would be {rows} x {cols} pixels (H x W), but {fmt} holds at most "
        f"{limit[0]} x {limit[1]}; write .png or .tif instead, or use a larger stride"
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

    The one rule for every command: 16-bit values stay 16-bit in PNG and TIFF
    (gray through Pillow; colour and gray + alpha through the ``cnnfilter[16bit]``
    codecs, :mod:`cnnfilter.codecs.deep`), in ``NPY``, and as gray in any
    other format whose Pillow writer keeps 16-bit gray (PGM, JPEG 2000);
    anywhere else (JPEG, BMP, WebP, GIF...) they become 8-bit by rounding
    ``x / 257`` to nearest, so that 65535 -> 255 and 257 -> 1 (``x / 257`` is
    never exactly half-way, 257 being odd). Other dtypes are returned
    unchanged, with no note.

    >>> fit_bit_depth(np.array([[0, 128, 129, 65535]], dtype=np.uint16), "JPEG")[0]
    array([[  0,   0,   1, 255]], dtype=uint8)
    >>> fit_bit_depth(np.zeros((1, 1, 3), dtype=np.uint16), "PNG")[1] is None
    True
    """
    from cnnfilter.codecs.formats import write_modes

    if array.dtype != np.uint16 or fmt in ("NPY", "PNG", "TIFF"):
        return array, None
    if array.ndim == 2 and "I;16" in write_modes(fmt):
        return array, None
    narrowed = ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    why = f"{fmt} holds 8 bits per channel here; use .png, .tif or .npy to keep 16"
    return narrowed, f"16-bit values written as 8 bits (x / 257, rounded): {why}"


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


#: The Netpbm kind each extension names (Pillow writes them all as format "PPM", choosing
#: the kind by the image's mode alone). ``.ppm`` and ``.pnm`` are left to Pillow: colour as
#: P6, gray as P5 (16-bit kept), which every PPM reader takes ("programs that read PPM also
#: read PGM and PBM", Netpbm's documentation); PGM and PBM readers take nothing wider.
NETPBM_VARIANTS = {
    "pbm": "black and white (P4)",
    "pgm": "gray (P5)",
    "pfm": "32-bit float gray (Pf)",
}


def netpbm_variant(path: str | Path, fmt: str | None = None) -> str | None:
    """``"pgm"``, ``"pbm"`` or ``"pfm"``: the Netpbm kind ``fmt`` or the extension names.

    None for ``.ppm``, ``.pnm`` (any kind) and for other formats.

    >>> netpbm_variant("edges.pgm"), netpbm_variant("-", "pbm"), netpbm_variant("x.pnm")
    ('pgm', 'pbm', None)
    """
    key = (fmt or Path(str(path)).suffix).lower().lstrip(".")
    return key if key in NETPBM_VARIANTS else None


def _luma(colour: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma ``(299 R + 587 G + 114 B) / 1000`` (Pillow's RGB to L), colour's dtype."""
    y = colour[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    if colour.dtype.kind == "f":
        return y.astype(colour.dtype)
    return np.rint(y).astype(colour.dtype)


def _white(arr: np.ndarray) -> float:
    return 65535.0 if arr.dtype == np.uint16 else 1.0 if arr.dtype.kind == "f" else 255.0


def _flatten_gray(gray: np.ndarray, alpha: np.ndarray | None, white: float) -> np.ndarray:
    """Gray as float64 in ``[0, white]``, composited onto white where ``alpha`` < full."""
    g = gray.astype(np.float64)
    if alpha is None:
        return g
    a = alpha.astype(np.float64) / white
    return g * a + white * (1.0 - a)


def fit_netpbm(arr: np.ndarray, variant: str) -> tuple[np.ndarray, list[str]]:
    """``arr`` as the Netpbm kind its extension names, and notes of what changed.

    * ``pgm``: colour becomes gray (:func:`_luma`, Pillow's formula), alpha kept
      (flattened later: PGM has none);
    * ``pbm``: gray (colour through luma, alpha flattened onto white), then
      white where the value is at least half of full white;
    * ``pfm``: gray as float32 in ``[0, 1]`` (``x / full white``; cnnfilter
      reads float pictures with full white 1.0), alpha flattened onto white.

    >>> fit_netpbm(np.array([[[255, 0, 0]]], np.uint8), "pgm")[0]
    array([[76]], dtype=uint8)
    >>> fit_netpbm(np.array([[0, 127, 128, 255]], np.uint8), "pbm")[0]
    array([[False, False,  True,  True]])
    """
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    if channels > 4 or arr.dtype.kind not in "uif" or variant not in NETPBM_VARIANTS:
        return arr, []  # refused later, with the format's own message
    name = f".{variant} holds {NETPBM_VARIANTS[variant]}"
    if arr.dtype.kind == "f" and variant != "pfm":
        raise UsageError(
            f"a float array cannot be stored as .{variant} ({name[len(variant) + 2 :]} "
            "integers); write .pfm, .tif or .npy, or map it to pixels first"
        )
    alpha = arr[..., -1] if channels in (2, 4) else None
    colour = channels >= 3
    gray = _luma(arr) if colour else (arr if arr.ndim == 2 else arr[..., 0])
    notes = [f"colour written as gray (ITU-R 601 luma): {name}; use .ppm"] if colour else []
    white = _white(arr)
    if variant == "pgm":
        return (gray if alpha is None else np.stack([gray, alpha], axis=-1)), notes
    flat = _flatten_gray(gray, alpha, white)
    if alpha is not None:
        notes.append(f".{variant} has no alpha channel: transparent pixels flattened onto white")
    if variant == "pbm":
        notes.append(f"written as 1 bit (white from half of full white up): {name}")
        return flat >= white / 2, notes
    if arr.dtype.kind != "f":
        notes.append(f"written as 32-bit float (x / {white:g}): {name}")
    return (flat / white).astype(np.float32), notes


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
    im.save(buf, format=fmt, **_save_options(arr, fmt, compress_level, quality), **options)
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
        notes.append("EXIF not written: a 16-bit colour TIFF carries the ICC profile and DPI only")
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


def _save_options(arr: np.ndarray, fmt: str, compress_level: int, quality: int) -> dict:
    """Pillow ``save`` options: PNG compression, JPEG/WebP quality, float TIFF deflate."""
    if fmt == "PNG":
        return {"compress_level": compress_level, "compress_type": DEFAULT_PNG_STRATEGY}
    if fmt == "WEBP" and quality == 100:
        return {"lossless": True}
    if fmt in ("JPEG", "WEBP"):
        return {"quality": quality}
    if fmt == "TIFF" and arr.dtype.kind == "f":
        return {"compression": "tiff_deflate"}
    return {}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Longest file name (one path component) in bytes when the file system does not say.
_NAME_MAX = 255

#: Symbolic links followed before giving up (as the kernel's own limit, ELOOP).
_MAX_LINKS = 40


@dataclass(frozen=True)
class OutputTarget:
    """Where and how an output path is written (see :func:`output_target`).

    Attributes:
        path: the file the bytes go to: the path given, or for a symbolic link
            the file it points to (a temporary file is made next to *it*).
        kind: ``"new"`` (nothing there yet), ``"file"`` (an existing regular
            file, replaced only with ``force``) or ``"stream"`` (a character
            device such as ``/dev/null``, a FIFO, or a descriptor alias such as
            ``/dev/stdout``: written into in place, never replaced).
        null: the target is the null device (``/dev/null``): the image is
            discarded, so no format is needed.
    """

    path: Path
    kind: str
    null: bool = False


def _through_descriptor(path: Path) -> bool:
    """True when ``path`` or a link on its way names an open descriptor.

    ``/dev/stdout`` -> ``/proc/self/fd/1`` -> (the shell's redirection): the
    file behind it belongs to whoever opened the descriptor, so it is written
    into, never replaced.
    """
    current = os.path.abspath(path)
    for _ in range(_MAX_LINKS):
        if current.startswith(("/proc/", "/dev/fd/")) or current in ("/dev/stdout", "/dev/stderr"):
            return True
        if not os.path.islink(current):
            return False
        current = os.path.join(os.path.dirname(current), os.readlink(current))
        current = os.path.abspath(current)
    return False


def output_target(path: str | Path) -> OutputTarget:
    """Classify the output ``path`` before anything is written to it.

    The rules (documented in docs/batch-and-pipelines.md, "Files: what
    cnnfilter never does"):

    * a character device (``/dev/null``), a FIFO or a descriptor alias
      (``/dev/stdout``) is written into in place: it is never replaced by a
      regular file, and needs no ``force``;
    * a symbolic link is followed: the file it points to is written (next to
      it, atomically); the link stays a link;
    * a folder, a block device or a socket is refused;
    * a file name longer than the file system allows (255 bytes) is refused.

    Raises:
        UsageError: a folder, a block device, a socket, a name too long, or
            a loop of symbolic links.
    """
    import stat

    p = Path(path)
    name = str(p)
    _check_name_length(p)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UsageError(f"output {name!r} cannot be used: {exc.strerror or exc}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(
            f"output {name!r} is a folder; give a file name ({name.rstrip('/')}/result.png) "
            f"or a pattern such as '{name.rstrip('/')}/{{stem}}.png'"
        )
    if st is not None and (stat.S_ISBLK(st.st_mode) or stat.S_ISSOCK(st.st_mode)):
        kind = "a block device" if stat.S_ISBLK(st.st_mode) else "a socket"
        raise UsageError(f"output {name!r} is {kind}; cnnfilter writes only files and streams")
    if st is not None and (not stat.S_ISREG(st.st_mode) or _through_descriptor(p)):
        null = stat.S_ISCHR(st.st_mode) and _is_null(st)
        return OutputTarget(p, "stream", null)
    real = Path(os.path.realpath(p)) if p.is_symlink() else p
    _check_name_length(real)
    return OutputTarget(real, "new" if st is None else "file")


def _is_null(st: os.stat_result) -> bool:
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return (st.st_dev, st.st_ino, st.st_rdev) == (null.st_dev, null.st_ino, null.st_rdev)


def _check_name_length(path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no such folder (yet): the usual limit
        limit = _NAME_MAX
    size = len(os.fsencode(path.name))
    if size > limit:
        raise UsageError(
            f"output file name {path.name[:40]!r}... is {size} bytes long; the file system "
            f"allows at most {limit} bytes per name: shorten it"
        )


def is_null_output(path: str | Path) -> bool:
    """True when ``path`` is the null device: the image is discarded (``-o /dev/null``).

    >>> is_null_output(os.devnull), is_null_output("x.png")
    (True, False)
    """
    if str(path) == STDIO:
        return False
    try:
        return output_target(path).null
    except UsageError:
        return False


def write_bytes_atomic(path: str | Path, data: bytes, *, force: bool = False) -> None:
    """Write ``data`` to ``path`` so that no one ever sees a part of it, or loses a file.

    * A regular file is written through a temporary file (``.cnnf-XXXXXX.tmp``,
      short so that any valid name fits) in the same folder, then committed:
      without ``force`` by ``os.link`` (which fails if the name appeared in the
      meantime: two runs never silently replace each other), with ``force``
      by ``os.replace``. Where hard links are unsupported, the name is
      reserved with ``O_EXCL`` before the rename.
    * A symbolic link is followed: the file it points to is written.
    * A device, FIFO or descriptor alias (``/dev/null``, ``/dev/stdout``) is
      written into in place (see :func:`output_target`).

    Raises:
        UsageError: ``path`` exists (or appeared during the write) and
            ``force`` is false; a folder; its folder does not exist; a
            name too long (see :func:`output_target`).
        ProcessingError: the write itself failed (disk full, permissions).
    """
    target = output_target(path)
    if target.kind == "stream":
        _write_in_place(target.path, data)
        return
    p = target.path
    if target.kind == "file" and not force:
        raise _exists(path)
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"output folder {str(folder)!r} does not exist; create it first")
    tmp_name = None
    try:
        # the name is bound before the file exists: an interruption right after the
        # creation still finds it in ``finally`` (see _temp_name)
        for _ in range(100):
            tmp_name = _temp_name(folder)
            try:
                fd = os.open(tmp_name, _TEMP_FLAGS, 0o600)
                break
            except FileExistsError:
                tmp_name = None  # someone else's file: never ours to remove
        else:
            raise FileExistsError(errno.EEXIST, "no free temporary file name", str(folder))
        # mkstemp creates 0600; give the file the mode a plain open() would (or the
        # replaced file's mode).
        mode = p.stat().st_mode & 0o7777 if p.exists() else 0o666 & ~_umask()
        os.chmod(tmp_name, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _commit(tmp_name, p, force=force, shown=path)
    except OSError as exc:
        raise ProcessingError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    finally:
        if tmp_name is not None and os.path.lexists(tmp_name):
            os.unlink(tmp_name)


#: How a temporary output file is created: new (``O_EXCL``), never inherited by a child.
_TEMP_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)


def _temp_name(folder: Path) -> str:
    """A random ``.cnnf-XXXXXXXX.tmp`` name in ``folder`` (not created).

    Not ``tempfile.mkstemp``: it runs Python code (``os.path.abspath``) between
    creating the file and returning its name, and Ctrl-C or SIGTERM (raised as
    an exception by the CLI) landing there left the temporary file behind, its
    name never bound (2 runs in 100 of a batch stopped by SIGTERM to its
    process group). :func:`write_bytes_atomic` binds the name first, then
    creates the file with ``O_EXCL``.
    """
    import secrets

    return os.path.join(folder, f".cnnf-{secrets.token_hex(4)}.tmp")


def _exists(shown: str | Path) -> UsageError:
    return UsageError(f"output {str(shown)!r} already exists; add force=True to replace it")


def _commit(tmp_name: str, final: Path, *, force: bool, shown: str | Path) -> None:
    """Give the complete temporary file its final name (the temporary name is then unlinked).

    Without ``force`` the step fails if ``final`` exists by now: ``os.link``
    never replaces a name (EEXIST), and an ``O_EXCL`` creation neither.
    """
    if force:
        os.replace(tmp_name, final)
        return
    try:
        os.link(tmp_name, final)
    except FileExistsError:
        raise _exists(shown) from None
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        try:  # no hard links here (FAT, some network file systems): reserve the name
            os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise _exists(shown) from None
        os.replace(tmp_name, final)
        return
    os.unlink(tmp_name)


#: What ``os.link`` raises where a file system has no hard links.
_NO_LINK = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}


def _write_in_place(path: Path, data: bytes) -> None:
    """Write into a device, FIFO or descriptor alias as a shell redirection would."""
    import stat

    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):  # a file behind /dev/stdout: as `>`
                os.ftruncate(fd, 0)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except BrokenPipeError:
        raise ProcessingError(
            f"{str(path)!r} was closed before the whole image was written (broken pipe)"
        ) from None
    except OSError as exc:
        raise ProcessingError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


def is_complete_output(path: str | Path) -> bool:
    """True when an existing output decodes to its end (``--skip-existing`` keeps only those).

    A 0-byte file, a truncated or damaged picture, or an ``.npy`` file
    shorter than its header says, is not complete: a resumed batch redoes it.
    A picture too large to check (above Pillow's own pixel guard) counts as
    complete once its header reads.
    """
    from PIL import Image

    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
            if not head:
                return False
            fh.seek(0)
            if head.startswith(NPY_SIGNATURE):
                return _npy_complete(fh)
            with warnings.catch_warnings(), _native_stderr_silenced(_signature(head) == "TIFF"):
                warnings.simplefilter("ignore")
                with Image.open(fh) as im:
                    im.load()
    except Image.DecompressionBombError:
        return True
    except (*_DECODE_ERRORS, MemoryError):
        return False
    return True


def _npy_complete(fh) -> bool:
    version = np.lib.format.read_magic(fh)
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = read_header(fh)
    expected = fh.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    return os.fstat(fh.fileno()).st_size >= expected


def write_stdout(data: bytes) -> None:
    """Write encoded image bytes to standard output (for ``-o -``).

    Raises:
        UsageError: standard output is a terminal (binary data would garble it).
        OutputClosed: the reader went away (broken pipe; a ProcessingError).
        ProcessingError: the write failed.
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
        raise OutputClosed(
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

    ``path`` ``"-"`` writes to standard output (PNG unless ``fmt``).

    Returns the format name used. Raises as :func:`encode_image`,
    :func:`write_bytes_atomic` and :func:`write_stdout`.
    """
    p = Path(path)
    resolved = _format_for(p, fmt)
    data = encode_image(
        array,
        resolved,
        compress_level=compress_level,
        quality=quality,
        variant=netpbm_variant(p, fmt),
    )
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
        count = math.prod(shape)  # exact: a hostile header may overflow int64
        if count > max_elements:
            raise ProcessingError(
                f"{name!r} holds {count:,} values, above the limit of {max_elements:,}"
            )
        _check_npy_memory(name, count * dtype.itemsize)
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


def _check_npy_memory(name: str, nbytes: int) -> None:
    """Refuse, from the header, an array whose data would not fit in available memory."""
    free = available_memory()
    if free is not None and nbytes > free:
        raise ProcessingError(
            f"{name!r} holds {nbytes:,} bytes of data (from its header), more than the "
            f"{free:,} bytes of memory available"
        )


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
