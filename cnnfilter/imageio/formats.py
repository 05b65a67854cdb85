"""Output formats: the format a path or ``fmt`` names, and what each format can hold.

Extensions (:data:`IMAGE_EXTENSIONS`, from Pillow's registry), standard
output's format, size limits (:func:`check_output_size`), 16 bits narrowed
where a format holds 8 (:func:`fit_bit_depth`) and the Netpbm kinds
(:func:`fit_netpbm`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cnnfilter.errors import UsageError
from cnnfilter.imageio.limits import STDIO
from cnnfilter.imageio.targets import is_null_output


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
