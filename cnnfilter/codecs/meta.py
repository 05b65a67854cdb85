"""Image metadata carried from the input to the output: ICC profile, EXIF, resolution, PNG text.

Filtering works on the stored values: a picture in Adobe RGB is filtered as
its numbers, and the output carries the same ICC profile so that it displays
in the same colour space. ``to_srgb`` converts to sRGB first (LittleCMS
through Pillow's ImageCms) and the output then carries an sRGB profile.

What is kept, and where (see docs/reference/formats.md):

* ICC profile: PNG (iCCP), JPEG, TIFF, WebP; dropped (with a note) when the
  output's channels no longer match it (an RGB profile on a gray result).
* EXIF: PNG (eXIf), JPEG, TIFF, WebP, with the orientation applied to the
  pixels on reading and the tag reset to 1 ("as stored"); the pixel
  dimensions in it are updated to the output's.
* Resolution (DPI): PNG, JPEG, TIFF, BMP; scaled by the output's size over
  the input's (a stride of 2 halves it: the picture covers the same inches).
* PNG text chunks (tEXt, zTXt, iTXt): to PNG outputs.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field, replace

__all__ = [
    "ImageMeta",
    "meta_of",
    "save_options",
    "png_chunks",
    "to_srgb",
    "srgb_profile",
    "has_sub_ifd",
]

_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003
#: TIFF tags of the first IFD that describe how the input's pixels were stored (size, samples,
#: strips, tiles, compression, palette), not the picture: Pillow's ``getexif()`` of a TIFF
#: returns them with the rest, and written again they contradict the output (Pillow's TIFF
#: writer fails with "Error setting from dictionary" on a float TIFF's). Resolution and the
#: ICC profile are carried as ``dpi`` and ``icc`` instead.
_LAYOUT_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 282, 283}
    | {284, 296, 317, 320, 322, 323, 324, 325, 338, 339, 340, 341, 347, 530, 531, 532, 34675}
)


@dataclass(frozen=True)
class ImageMeta:
    """What describes a picture besides its pixels.

    Attributes:
        icc: the ICC profile's bytes, or None.
        exif: EXIF bytes (TIFF structure, no ``Exif\\0\\0`` prefix), orientation 1; or None.
        dpi: ``(x, y)`` dots per inch, or None.
        text: PNG text chunks, keyword -> text.
        notes: what was converted on reading (for stderr).
    """

    icc: bytes | None = None
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None
    text: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        """True when there is nothing to write besides the pixels."""
        return not (self.icc or self.exif or self.dpi or self.text)

    def icc_space(self) -> str | None:
        """The profile's colour space (``"RGB"``, ``"GRAY"``, ``"CMYK"``), from its header."""
        if not self.icc or len(self.icc) < 20:
            return None
        return self.icc[16:20].decode("ascii", "replace").strip()

    def resized(self, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> ImageMeta:
        """This metadata for an output of ``out_hw`` made from an input of ``in_hw``."""
        dpi = self.dpi
        if dpi and in_hw[0] and in_hw[1] and tuple(in_hw) != tuple(out_hw):
            dpi = (dpi[0] * out_hw[1] / in_hw[1], dpi[1] * out_hw[0] / in_hw[0])
        return replace(self, dpi=dpi, exif=_exif_sized(self.exif, out_hw))


def _exif_sized(exif: bytes | None, out_hw: tuple[int, int]) -> bytes | None:
    if not exif:
        return exif
    from PIL import Image

    parsed = Image.Exif()
    parsed.load(exif)
    if _EXIF_IFD not in parsed:  # get_ifd would add an empty Exif IFD to the output
        return exif
    sub = parsed.get_ifd(_EXIF_IFD)
    if _PIXEL_X in sub or _PIXEL_Y in sub:
        sub[_PIXEL_X], sub[_PIXEL_Y] = int(out_hw[1]), int(out_hw[0])
    return parsed.tobytes()


#: The first-IFD tags that point to a sub-IFD: Exif (0x8769), GPS (0x8825), Interoperability.
_SUB_IFD_TAGS = (_EXIF_IFD, 0x8825, 0xA005)


def has_sub_ifd(exif: bytes | None) -> bool:
    """True when the EXIF bytes hold a sub-IFD (Exif, GPS or Interoperability).

    Pillow writes sub-IFDs into a TIFF with its own (uncompressed) writer
    only: its libtiff writer, which compressed TIFFs need, fails on them
    ("Error setting from dictionary", Pillow 11.2 to 13).
    """
    if not exif:
        return False
    from PIL import Image

    parsed = Image.Exif()
    parsed.load(exif)
    return any(tag in parsed for tag in _SUB_IFD_TAGS)


def without_empty_sub_ifds(exif: bytes) -> bytes:
    """``exif`` without its pointers to empty sub-IFDs (Exif, GPS, Interoperability).

    They carry nothing, yet one makes a float TIFF go through Pillow's
    uncompressed writer (:func:`has_sub_ifd`); ``exif`` itself when it has none.
    """
    from PIL import Image

    probe = Image.Exif()
    probe.load(exif)
    empty = [tag for tag in _SUB_IFD_TAGS if tag in probe and not probe.get_ifd(tag)]
    if not empty:
        return exif
    # a fresh copy: Pillow 11 writes back every sub-IFD get_ifd has read, deleted or not
    fresh = Image.Exif()
    fresh.load(exif)
    for tag in empty:
        del fresh[tag]
    return fresh.tobytes()


def meta_of(im, *, exif: bool = True) -> ImageMeta:
    """The metadata of an open Pillow image (read before any transposition).

    ``exif=False``: the caller knows there is none (a PNG with no eXIf chunk,
    whose pixels are decoded elsewhere: Pillow's ``getexif`` would decode them
    to look for one after the image data).
    """
    info = im.info
    icc = info.get("icc_profile") or None
    parsed = None
    if exif:
        try:
            parsed = im.getexif()
        except Exception:  # noqa: BLE001 -- damaged EXIF is dropped, the pixels still count
            parsed = None
    exif = None
    if parsed is not None and len(parsed):
        try:
            exif = _descriptive_exif(parsed)
        except Exception:  # noqa: BLE001 -- tags Pillow cannot write back are dropped too
            exif = None
    dpi = info.get("dpi")
    if dpi is not None:
        try:
            dpi = (float(dpi[0]), float(dpi[1]))
            dpi = dpi if dpi[0] > 0 and dpi[1] > 0 else None
        except (TypeError, ValueError, IndexError):
            dpi = None
    text = {}
    if im.format == "PNG":  # Pillow puts the text chunks in ``info`` as str (nothing else is)
        text = {str(k): str(v) for k, v in info.items() if isinstance(v, str)}
    return ImageMeta(icc=icc, exif=exif, dpi=dpi, text=text)


def _descriptive_exif(parsed) -> bytes | None:
    """EXIF bytes of ``parsed`` with orientation 1 and no storage-layout tags; None if empty.

    ``parsed`` (Pillow caches it on the image) is left as it was.
    """
    from PIL import Image

    kept = Image.Exif()
    kept.load(_classic_tiff_bytes(parsed))
    for tag in _LAYOUT_TAGS & set(kept):
        del kept[tag]
    if _ORIENTATION in kept:
        kept[_ORIENTATION] = 1
    if not len(kept):
        return None
    return kept.tobytes()


def _classic_tiff_bytes(parsed) -> bytes:
    """``parsed.tobytes()``, with a classic TIFF header for the tags of a BigTIFF.

    Pillow (11 to 13) writes the tags of a BigTIFF after a 16-byte BigTIFF
    header that its own ``Exif.load`` cannot read back ("unpack requires a
    buffer of 8 bytes"): every in-memory run on a BigTIFF failed. The tags
    kept (descriptions, dates, resolution) fit a classic header.
    """
    if not getattr(parsed, "bigtiff", False):
        return parsed.tobytes()
    parsed.bigtiff = False
    try:
        return parsed.tobytes()
    finally:
        parsed.bigtiff = True


def _fits(meta: ImageMeta, channels: int) -> ImageMeta:
    """Drop an ICC profile whose colour space the output's channels no longer match."""
    space = meta.icc_space()
    if space is None:
        return meta
    colour = channels >= 3
    if (space == "RGB" and colour) or (space == "GRAY" and not colour):
        return meta
    kind = "colour" if colour else "gray"
    note = f"the input's ICC profile ({space}) was not written: the output is {kind}"
    return replace(meta, icc=None, notes=(*meta.notes, note))


#: The most EXIF bytes (``Exif\0\0`` and the TIFF structure) a JPEG holds: one APP1
#: marker segment, whose 2-byte length counts itself (Pillow's ``MAX_BYTES_IN_MARKER``).
JPEG_MAX_EXIF = 65533


def save_options(meta: ImageMeta | None, fmt: str, channels: int) -> tuple[dict, list[str]]:
    """Pillow ``save`` keywords carrying ``meta`` into ``fmt``, and notes of what was dropped."""
    if meta is None:
        return {}, []
    read_notes = len(meta.notes)
    if fmt in ("PNG", "JPEG", "TIFF", "WEBP"):  # the formats that hold a profile
        meta = _fits(meta, channels)
    options: dict = {}
    dropped = []
    if meta.icc and fmt in ("PNG", "JPEG", "TIFF", "WEBP"):
        options["icc_profile"] = meta.icc
    if meta.exif and fmt == "JPEG" and len(meta.exif) > JPEG_MAX_EXIF:
        dropped.append(
            f"EXIF not written: its {len(meta.exif):,} bytes (a large MakerNote?) do not fit "
            f"in a JPEG's one EXIF segment of {JPEG_MAX_EXIF:,}; write TIFF, PNG or WebP to keep it"
        )
    elif meta.exif and fmt in ("PNG", "JPEG", "TIFF", "WEBP"):
        options["exif"] = without_empty_sub_ifds(meta.exif)
    if meta.dpi and fmt in ("PNG", "JPEG", "TIFF", "BMP"):
        options["dpi"] = meta.dpi if fmt != "JPEG" else tuple(round(d) for d in meta.dpi)
    if meta.text and fmt == "PNG":
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        for key, value in meta.text.items():
            info.add_itxt(key, value) if not value.isascii() else info.add_text(key, value)
        options["pnginfo"] = info
    return options, [*meta.notes[read_notes:], *dropped]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_chunks(meta: ImageMeta | None, channels: int) -> tuple[list[bytes], list[str]]:
    """PNG chunks (iCCP, pHYs, eXIf, tEXt/iTXt) for a PNG written outside Pillow, and notes."""
    if meta is None:
        return [], []
    fitted = _fits(meta, channels)
    chunks = []
    if fitted.icc:
        chunks.append(_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(fitted.icc)))
    if fitted.dpi:
        ppm = [max(1, round(d / 0.0254)) for d in fitted.dpi]
        chunks.append(_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1)))
    if fitted.exif:
        chunks.append(_chunk(b"eXIf", fitted.exif))
    for key, value in fitted.text.items():
        keyword = key.encode("latin-1", "replace")[:79]
        if value.isascii():
            chunks.append(_chunk(b"tEXt", keyword + b"\x00" + value.encode("ascii")))
        else:
            chunks.append(_chunk(b"iTXt", keyword + b"\x00\x00\x00\x00\x00" + value.encode()))
    return chunks, list(fitted.notes[len(meta.notes) :])


def srgb_profile() -> bytes:
    """The bytes of LittleCMS's built-in sRGB profile."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def to_srgb(im, meta: ImageMeta):
    """``(image, meta)`` converted from the embedded profile to sRGB (perceptual intent).

    8-bit RGB and RGBA only (LittleCMS through Pillow); an image with no
    profile, or a gray one, is returned unchanged with a note.

    Raises:
        cnnfilter.errors.UsageError: the profile cannot be read.
    """
    from PIL import ImageCms

    from cnnfilter.errors import UsageError

    if not meta.icc:
        return im, replace(meta, notes=(*meta.notes, "no ICC profile: taken as sRGB already"))
    if im.mode not in ("RGB", "RGBA") or meta.icc_space() != "RGB":
        note = f"to_srgb: a {im.mode} image with a {meta.icc_space()} profile is left as stored"
        return im, replace(meta, notes=(*meta.notes, note))
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(meta.icc))
    except (OSError, ImageCms.PyCMSError) as exc:
        raise UsageError(f"to_srgb=True: the embedded ICC profile cannot be read ({exc})") from None
    converted = ImageCms.profileToProfile(
        im, source, ImageCms.createProfile("sRGB"), outputMode=im.mode
    )
    desc = ImageCms.getProfileDescription(source).strip() or "the embedded profile"
    note = f"converted from {desc} to sRGB"
    return converted, replace(meta, icc=srgb_profile(), notes=(*meta.notes, note))
