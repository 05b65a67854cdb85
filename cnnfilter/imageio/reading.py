"""Reading: files, standard input and streams into a :class:`LoadedImage`.

The format comes from the file's signature; the header's pixel count is
checked before decoding; Pillow's errors become one :class:`ProcessingError`
line (:func:`_decode`).
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from cnnfilter.errors import CnnfilterError, ProcessingError, UsageError
from cnnfilter.imageio.limits import (
    DEFAULT_MAX_PIXELS,
    MAX_BYTES_PER_PIXEL,
    STDIO,
    STREAM_SLACK_BYTES,
    _check_pixels,
    check_input_file,
)
from cnnfilter.imageio.npy import NPY_SIGNATURE, _array_image
from cnnfilter.imageio.pixels import LoadedImage, _open_frame


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


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text[:200] or type(exc).__name__
