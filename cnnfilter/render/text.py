"""Text, as text and in pictures: kernel matrices as plain text, Pillow's default font,
text widths, captions, and the cached stamping of labels onto a canvas."""

from __future__ import annotations

import functools

import numpy as np

from cnnfilter.kernels import format_number  # re-exported: the kernel text lives here
from cnnfilter.render.canvas import BACKGROUND, _as_rgb, _fill_background


def kernel_text(weights: np.ndarray) -> str:
    """A kernel as plain text: one line per row, columns right-aligned, two spaces apart.

    Plain text rather than a table, so that no width (a pipe, a narrow
    terminal) ever cuts a value. A 3-D kernel ``(kh, kw, C)`` is shown one
    channel slice after another, each headed ``[:, :, c]``.

    >>> print(kernel_text(np.array([[1.0, 0, -1], [2, 0, -2], [0.125, 0, -10]])))
        1  0   -1
        2  0   -2
    0.125  0  -10
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 3:
        return "\n".join(f"[:, :, {c}]\n{kernel_text(w[:, :, c])}" for c in range(w.shape[2]))
    cells = [[format_number(v) for v in row] for row in w]
    widths = [max(len(row[j]) for row in cells) for j in range(w.shape[1])]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    )


#: Height in pixels of the caption strip above a picture.
CAPTION_HEIGHT = 18
_TEXT = (0, 0, 0)


@functools.cache
def _font():
    """Pillow's default font, loaded once (loading decodes an embedded font: ~0.1 ms)."""
    from PIL import ImageFont

    return ImageFont.load_default()


@functools.lru_cache(maxsize=8192)
def _text_box(text: str) -> tuple[float, float, float, float]:
    """Pillow's ``textbbox((0, 0), text)`` in the default font, once per text."""
    from PIL import Image, ImageDraw

    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    return draw.textbbox((0, 0), text, font=_font())


def text_width(text: str) -> int:
    """Width in pixels of ``text`` in Pillow's default font."""
    left, _, right, _ = _text_box(text)
    return int(right - left)


#: Margin round a text's box in :func:`_text_patch`, for anti-aliased edges.
_TEXT_MARGIN = 4


@functools.lru_cache(maxsize=4096)
def _text_patch(text: str) -> np.ndarray:
    """``text`` drawn once in :data:`_TEXT` at ``(_TEXT_MARGIN, _TEXT_MARGIN)`` on a
    :data:`BACKGROUND` patch, ``(h, w, 3)`` uint8, read-only: stamped by :func:`_stamp_texts`
    wherever the same text is drawn on the background (a montage's tile indices)."""
    from PIL import Image, ImageDraw

    _, _, right, bottom = _text_box(text)
    m = _TEXT_MARGIN
    image = Image.new("RGB", (int(right) + 2 * m, int(bottom) + 2 * m), BACKGROUND)
    ImageDraw.Draw(image).text((m, m), text, fill=_TEXT, font=_font())
    patch = np.asarray(image).copy()
    patch.setflags(write=False)
    return patch


def _stamp_texts(
    canvas: np.ndarray, texts: list[tuple[tuple[int, int], str]], *, cache: bool = True
) -> None:
    """Draw each ``((x, y), text)`` on ``canvas`` (``(H, W, 3)`` uint8, in place) exactly as
    ``ImageDraw.text((x, y), text)`` in the default font would, from one cached rendering
    per distinct text: black ink blended on white is the patch's pixel, so where the
    canvas under the ink is :data:`BACKGROUND` the patch is copied; elsewhere (ink over
    a picture) the text is drawn by Pillow on that part of the canvas. ``cache=False``
    for a text drawn once (a caption): rendered without keeping it."""
    from PIL import Image, ImageDraw

    bg = np.array(BACKGROUND, np.uint8)
    m = _TEXT_MARGIN
    height, width = canvas.shape[:2]
    for (x, y), text in texts:
        patch = _text_patch(text) if cache else _text_patch.__wrapped__(text)
        top, left = max(y - m, 0), max(x - m, 0)
        bottom, right = min(y - m + patch.shape[0], height), min(x - m + patch.shape[1], width)
        if bottom <= top or right <= left:
            continue
        part = patch[top - (y - m) : bottom - (y - m), left - (x - m) : right - (x - m)]
        region = canvas[top:bottom, left:right]
        ink = (part != bg).any(axis=2)
        if (region[ink] == bg).all():
            region[ink] = part[ink]
        else:
            image = Image.fromarray(region)
            ImageDraw.Draw(image).text((x - left, y - top), text, fill=_TEXT, font=_font())
            region[...] = np.asarray(image)


def with_caption(picture: np.ndarray, caption: str) -> np.ndarray:
    """``picture`` (``(H, W, 3)`` uint8) under a white strip with ``caption`` in black.

    The strip is :data:`CAPTION_HEIGHT` rows tall; the canvas is widened (white
    on the right) when the caption is wider than the picture.

    Returns:
        ``(CAPTION_HEIGHT + H, max(W, caption width + 8), 3)`` uint8.
    """
    pic = _as_rgb(np.asarray(picture))
    h, w = pic.shape[:2]
    width = max(w, text_width(caption) + 8)
    canvas = np.empty((CAPTION_HEIGHT + h, width, 3), dtype=np.uint8)
    _fill_background(canvas[:CAPTION_HEIGHT])  # (np.full with a colour is ~10x slower)
    _fill_background(canvas[CAPTION_HEIGHT:, w:])
    canvas[CAPTION_HEIGHT:, :w] = pic
    _stamp_texts(canvas, [((4, 3), caption)], cache=False)  # Pillow's draw.text, in place
    return canvas
