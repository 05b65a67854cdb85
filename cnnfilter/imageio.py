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

import io
import os
import tempfile
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
    "read_array",
]

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
        pixels: ``(H, W)`` or ``(H, W, 3)``; uint8, uint16 or float32.
        alpha: ``(H, W)`` array of the same dtype, or None.
        max_value: the value of full white: 255, 65535 or 1.0.
        mode: the Pillow mode of the file (``"P"``, ``"RGBA"``, ...).
        format: Pillow's format name (``"PNG"``...), or None.
        frames: number of frames in the file (GIF/TIFF may have several).
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    max_value: float
    mode: str
    format: str | None
    frames: int = 1

    @property
    def shape_text(self) -> str:
        """``H x W x C`` with the alpha channel counted."""
        h, w = self.pixels.shape[:2]
        c = (1 if self.pixels.ndim == 2 else self.pixels.shape[2]) + (self.alpha is not None)
        return f"{h} x {w} x {c}"


def read_image(
    path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, frame: int = 0
) -> LoadedImage:
    """Read an image file into arrays (see the module table for the modes).

    Raises:
        UsageError: the file does not exist or is a directory.
        ProcessingError: not an image, truncated or corrupt, above
            ``max_pixels``, or ``frame`` out of range.
    """
    p = Path(path)
    if not p.exists():
        raise UsageError(f"input image {str(p)!r} does not exist")
    if p.is_dir():
        raise UsageError(f"input {str(p)!r} is a directory, not an image file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ProcessingError(f"cannot read {str(p)!r}: {exc.strerror or exc}") from None
    return decode_image(data, name=str(p), max_pixels=max_pixels, frame=frame)


def decode_image(
    data: bytes, *, name: str = "<stdin>", max_pixels: int = DEFAULT_MAX_PIXELS, frame: int = 0
) -> LoadedImage:
    """Decode image bytes (as :func:`read_image`, for stdin and tests)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise ProcessingError(f"{name!r} is empty (0 bytes), not an image")
    # Our own pixel limit (checked below from the header, before decoding) replaces
    # Pillow's global decompression-bomb guard, which warns at ~89 MP.
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise ProcessingError(
                    f"{name!r} is {width}x{height} = {width * height:,} pixels, above the limit "
                    f"of {max_pixels:,}; raise it with --max-pixels if the file is trusted"
                )
            frames = getattr(im, "n_frames", 1)
            if not 0 <= frame < frames:
                raise UsageError(
                    f"{name!r} has {frames} frame(s); --frame must be between 0 and {frames - 1}"
                )
            if frame:
                im.seek(frame)
            im.load()
            fmt = im.format
            mode = im.mode
            im = ImageOps.exif_transpose(im)
            return _to_arrays(im, mode, fmt, frames)
    except CnnfilterError:
        raise  # our own messages (pixel limit, --frame), not "corrupt": UsageError is a ValueError
    except UnidentifiedImageError:
        raise ProcessingError(
            f"{name!r} is not an image Pillow can read (PNG, JPEG, TIFF, BMP, WebP, GIF...)"
        ) from None
    except Image.DecompressionBombError as exc:
        raise ProcessingError(f"{name!r}: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ProcessingError(f"{name!r} is truncated or corrupt: {exc}") from None


def _to_arrays(im, mode: str, fmt: str | None, frames: int) -> LoadedImage:
    alpha = None
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode == "1":
        im = im.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    elif mode == "La":
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    m = im.mode
    if m in ("RGBA", "LA"):
        arr = np.asarray(im)
        alpha = np.ascontiguousarray(arr[..., -1])
        pixels = np.ascontiguousarray(arr[..., 0] if m == "LA" else arr[..., :3])
        return LoadedImage(pixels, alpha, 255.0, mode, fmt, frames)
    if m in ("RGB", "L"):
        return LoadedImage(np.asarray(im).copy(), None, 255.0, mode, fmt, frames)
    if m.startswith("I;16"):
        arr = np.asarray(im).astype(np.uint16)
        return LoadedImage(arr, None, 65535.0, mode, fmt, frames)
    if m == "I":
        arr = np.asarray(im)
        if arr.size and arr.min() >= 0 and arr.max() <= 65535:
            return LoadedImage(arr.astype(np.uint16), None, 65535.0, mode, fmt, frames)
        return LoadedImage(arr.astype(np.float32), None, float(arr.max() or 1), mode, fmt, frames)
    if m == "F":
        return LoadedImage(np.asarray(im, dtype=np.float32).copy(), None, 1.0, mode, fmt, frames)
    return LoadedImage(np.asarray(im.convert("RGB")).copy(), None, 255.0, mode, fmt, frames)


def output_format(path: str | Path, fmt: str | None = None) -> str:
    """The format a path (or an explicit ``fmt``) will be written in: Pillow's name or NPY.

    Raises:
        UsageError: unknown extension or format.

    >>> output_format("edges.png"), output_format("out.npy"), output_format("x", "jpg")
    ('PNG', 'NPY', 'JPEG')
    """
    return _format_for(Path(path), fmt)


def _format_for(path: Path, fmt: str | None) -> str:
    if fmt:
        key = fmt.lower().lstrip(".")
        if key == "npy":
            return "NPY"
        ext = "." + key
        if ext in IMAGE_EXTENSIONS:
            return IMAGE_EXTENSIONS[ext]
        raise UsageError(
            f"unknown output format {fmt!r}; use one of png, jpg, tiff, bmp, webp, gif, npy"
        )
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return "NPY"
    if suffix in IMAGE_EXTENSIONS:
        return IMAGE_EXTENSIONS[suffix]
    raise UsageError(
        f"cannot tell the output format of {str(path)!r} from its extension; use .png, .jpg, "
        ".tif, .bmp, .webp or .npy (or --format)"
    )


def encode_image(
    array: np.ndarray,
    fmt: str,
    *,
    compress_level: int = DEFAULT_PNG_COMPRESS_LEVEL,
    quality: int = 95,
) -> bytes:
    """Encode ``array`` in a Pillow format name or ``"NPY"``; return the bytes.

    ``array``: ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` (RGBA); uint8 for
    every format, uint16 gray for PNG/TIFF, float32 gray for TIFF; any shape
    and dtype for NPY.

    Raises:
        UsageError: a dtype/shape the format cannot store (with the fix).
    """
    from PIL import Image

    if fmt == "NPY":
        buf = io.BytesIO()
        np.save(buf, array, allow_pickle=False)
        return buf.getvalue()
    arr = np.ascontiguousarray(array)
    if arr.dtype.kind == "f":
        if arr.ndim != 2 or fmt != "TIFF":
            raise UsageError(
                "a float result can be stored only as a single-channel .tif or as .npy; "
                "use -o result.npy, or a --range that maps it to 8 bits"
            )
        im = Image.fromarray(arr.astype(np.float32), mode="F")
    elif arr.dtype == np.uint16:
        if arr.ndim != 2 or fmt not in ("PNG", "TIFF"):
            raise UsageError("16-bit output needs a gray image written as .png or .tif")
        # Pillow >= 11 refuses fromarray(..., mode="I;16") for uint16 data ("Invalid mode
        # for data type") but maps little-endian uint16 to I;16 by itself.
        im = Image.fromarray(arr.astype("<u2", copy=False))
    else:
        arr = arr.astype(np.uint8, copy=False)
        if arr.ndim == 3 and arr.shape[2] == 4 and fmt in ("JPEG", "BMP"):
            arr = arr[..., :3]  # these formats have no alpha channel
        if arr.ndim == 3 and arr.shape[2] == 2 and fmt in ("JPEG", "BMP"):
            arr = arr[..., 0]
        im = Image.fromarray(arr)
    buf = io.BytesIO()
    options: dict[str, object] = {}
    if fmt == "PNG":
        options["compress_level"] = compress_level
        options["compress_type"] = DEFAULT_PNG_STRATEGY
    elif fmt in ("JPEG", "WEBP"):
        options["quality"] = quality
    elif fmt == "TIFF" and arr.dtype.kind == "f":
        options["compression"] = "tiff_deflate"
    im.save(buf, format=fmt, **options)
    return buf.getvalue()


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
        raise UsageError(f"output {str(p)!r} already exists; add --force to replace it")
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

    Returns the format name used. Raises as :func:`encode_image` and
    :func:`write_bytes_atomic`.
    """
    p = Path(path)
    resolved = _format_for(p, fmt)
    data = encode_image(array, resolved, compress_level=compress_level, quality=quality)
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
    p = Path(path)
    if not p.exists():
        raise UsageError(f"input array {str(p)!r} does not exist")
    if p.is_dir():
        raise UsageError(f"input {str(p)!r} is a directory, not a .npy file")
    try:
        with open(p, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            header = (
                np.lib.format.read_array_header_1_0(fh)
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0(fh)
            )
            shape, _, dtype = header
            if int(np.prod(shape, dtype=np.int64)) > max_elements:
                raise ProcessingError(
                    f"{str(p)!r} holds {int(np.prod(shape)):,} values, above the limit of "
                    f"{max_elements:,}"
                )
            if dtype.kind not in "biuf":
                raise ProcessingError(
                    f"{str(p)!r} holds {dtype} values; only numeric arrays are read"
                )
        return np.load(p, allow_pickle=False)
    except ProcessingError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise ProcessingError(f"{str(p)!r} is not a readable .npy array: {exc}") from None
