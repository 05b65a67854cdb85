"""Which formats cnnfilter reads and writes, from Pillow's registry and the 16-bit codecs.

Pillow registers every format it knows (``Image.registered_extensions()``,
``Image.OPEN``, ``Image.SAVE``); some are only stubs that need a plugin, and
each writer takes its own set of modes. :func:`write_modes` therefore *tries*
each mode once on a tiny image (write, read back, compare), so that the table
always describes the Pillow build installed, not a hand-written list.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FormatInfo",
    "MODES",
    "extensions",
    "write_modes",
    "gray_reads_back_as_colour",
    "format_table",
    "DEEP_WRITE",
    "kind_bits",
]

#: The picture kinds probed, by Pillow mode: what each means, and a 2 x 3 sample.
MODES = {
    "L": "8-bit gray",
    "LA": "8-bit gray + alpha",
    "RGB": "8-bit colour",
    "RGBA": "8-bit colour + alpha",
    "I;16": "16-bit gray",
    "F": "32-bit float gray",
}

#: Extra kinds the 16-bit codecs (cnnfilter[16bit]) read and write, per format.
DEEP_WRITE = {
    "PNG": ["16-bit gray + alpha", "16-bit colour", "16-bit colour + alpha"],
    "TIFF": [
        "16-bit gray + alpha",
        "16-bit colour",
        "16-bit colour + alpha",
        "32-bit float colour",
    ],
}


def kind_bits(kind: str) -> int:
    """Bits per channel of a picture kind (``"16-bit colour"`` -> 16).

    >>> kind_bits("8-bit gray + alpha"), kind_bits("32-bit float colour")
    (8, 32)
    """
    return int(kind.split("-bit", 1)[0])


#: Formats Pillow lists as writable that are not pictures of one frame (documents, icons,
#: animations) or that do not read back what they write, left out of ``cnnfilter formats``.
_SKIP = {"PDF", "EPS", "PALM", "MPO", "ICNS", "ICO", "SPIDER", "BUFR", "GRIB", "HDF5", "WMF"}


def _sample(mode: str):
    from PIL import Image

    values = np.array([[0, 1, 2], [127, 200, 255]])
    if mode == "I;16":
        return Image.fromarray((values * 257 + 3).astype("<u2"))
    if mode == "F":
        return Image.fromarray((values / 255.0).astype(np.float32), mode="F")
    bands = len(mode)
    arr = np.stack([(values + 7 * i) % 256 for i in range(bands)], axis=-1).astype(np.uint8)
    if mode == "RGBA":
        arr[..., 3] = [[0, 255, 128], [255, 255, 9]]
    if mode == "LA":
        arr[..., 1] = [[0, 255, 128], [255, 255, 9]]
    return Image.fromarray(arr if bands > 1 else arr[..., 0], mode=mode)


def _read_back(data: bytes, mode: str) -> np.ndarray | None:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        if mode in ("I;16", "F"):
            return np.asarray(im.convert("F") if mode == "F" else im).astype(np.float64)
        if im.mode == "P":
            im = im.convert("RGBA")
        if len(im.getbands()) != len(mode) and mode not in ("L", "RGB"):
            return None  # alpha lost
        return np.asarray(im.convert(mode)).astype(np.float64)


def _probe(fmt: str, mode: str) -> str | None:
    """``"exact"``, ``"lossy"`` or None (refused, or a different kind read back)."""
    im = _sample(mode)
    buf = io.BytesIO()
    try:
        im.save(buf, format=fmt)
        got = _read_back(buf.getvalue(), mode)
    except Exception:  # noqa: BLE001 -- any failure means "cannot write this mode"
        return None
    want = np.asarray(im).astype(np.float64)
    if got is None or got.shape != want.shape:
        return None
    if np.array_equal(got, want):
        return "exact"
    if mode in ("I;16", "F") and np.abs(got - want).max() > 0.02 * max(want.max(), 1):
        return None  # written at a lower depth
    return "lossy"


@functools.cache
def write_modes(fmt: str) -> dict[str, str]:
    """``{mode: "exact" | "lossy"}`` for each mode of :data:`MODES` Pillow writes in ``fmt``.

    Measured once per process by writing and reading back a 2 x 3 image.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {mode: kind for mode in MODES if (kind := _probe(fmt, mode)) is not None}


@functools.cache
def gray_reads_back_as_colour(fmt: str) -> bool:
    """True when 8-bit gray written in ``fmt`` opens again as colour (WebP: RGB; GIF: palette).

    The values are kept (R = G = B), but the picture is read back with three
    channels; :func:`cnnfilter.imageio.encode_picture` says so on writing.
    Measured once per process, as :func:`write_modes`.
    """
    import warnings

    from PIL import Image

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _sample("L").save(buf, format=fmt)
            with Image.open(io.BytesIO(buf.getvalue())) as im:
                return im.mode not in ("L", "I;16", "I", "F", "1")
        except Exception:  # noqa: BLE001 -- a writer that refuses gray: nothing read back
            return False


def _is_stub(fmt: str) -> bool:
    """A format Pillow only recognises (BUFR, GRIB, HDF5, WMF off Windows): no handler installed.

    Pillow's stub plugins open such a file but load its pixels only through a
    handler the application registers; without one they cannot be read.
    """
    from PIL import Image, ImageFile

    cls = Image.OPEN[fmt][0]
    stub = isinstance(cls, type) and issubclass(cls, ImageFile.StubImageFile)
    return stub and getattr(cls, "_handler", None) is None


@functools.lru_cache(maxsize=1)
def extensions() -> tuple[dict[str, str], dict[str, str]]:
    """``(readable, writable)``: extension (``".png"``) -> Pillow format name.

    Writable formats are those Pillow can save and read back in at least one mode.
    """
    from PIL import Image

    Image.init()
    registered = Image.registered_extensions()
    readable = {
        ext: fmt for ext, fmt in registered.items() if fmt in Image.OPEN and not _is_stub(fmt)
    }
    writable = {
        ext: fmt
        for ext, fmt in registered.items()
        if fmt in Image.SAVE and fmt in Image.OPEN and fmt not in _SKIP and write_modes(fmt)
    }
    return readable, writable


@dataclass(frozen=True)
class FormatInfo:
    """One row of ``cnnfilter formats``."""

    name: str
    extensions: list[str]
    read: bool
    written: list[str]
    lossy: bool
    metadata: list[str]
    #: kinds read beyond Pillow's modes (the 16-bit codecs), e.g. ``["16-bit colour"]``
    read_deep: list[str]
    #: bits per channel of the kinds written, ascending (``[8, 16]``)
    bits: list[int]


#: What cnnfilter carries from the input to an output of each format.
METADATA = {
    "PNG": ["ICC", "EXIF", "DPI", "text"],
    "JPEG": ["ICC", "EXIF", "DPI"],
    "TIFF": ["ICC", "EXIF", "DPI"],
    "WEBP": ["ICC", "EXIF"],
    "JPEG2000": [],
    "BMP": ["DPI"],
}


def _label(fmt: str, mode: str) -> str:
    """The kind written for ``mode``, and how it reads back where that differs."""
    if mode == "L" and gray_reads_back_as_colour(fmt):
        return f"{MODES[mode]} (reads back as colour)"
    return MODES[mode]


def format_table(deep: bool) -> list[FormatInfo]:
    """Every format cnnfilter reads or writes, by name; ``deep``: the 16-bit codecs are present."""
    readable, writable = extensions()
    names = sorted(set(readable.values()) | set(writable.values()))
    rows = []
    for name in names:
        exts = sorted(e for e, f in {**readable, **writable}.items() if f == name)
        modes = write_modes(name) if name in writable.values() else {}
        written = [_label(name, m) for m in modes]
        read_deep = DEEP_WRITE.get(name, []) if deep else []
        written += read_deep
        rows.append(
            FormatInfo(
                name,
                exts,
                name in readable.values(),
                written,
                any(kind == "lossy" for kind in modes.values()),
                METADATA.get(name, []) if written else [],
                read_deep,
                sorted({kind_bits(k) for k in written}),
            )
        )
    npy = FormatInfo("NPY", [".npy"], True, ["any shape and dtype"], False, [], [], [])
    return [*rows, npy]
