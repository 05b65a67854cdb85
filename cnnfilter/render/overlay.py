"""detect's overlays: a heatmap blended over a quiet photo, the matched windows outlined
and labelled with their rank and score."""

from __future__ import annotations

import numpy as np

from cnnfilter.render.text import _TEXT, _font


def blend_heatmap(
    photo: np.ndarray,
    heat: np.ndarray,
    strength: np.ndarray,
    *,
    offset: tuple[int, int] = (0, 0),
    opacity: float = 0.85,
) -> np.ndarray:
    """Blend a coloured map over a photo, strong responses opaque, weak ones clear.

    The photo under the map is dimmed and mostly desaturated
    (:func:`dim_desaturate`), so that the map's colours read on a colour
    photo: a weak response shows the quiet photo, a strong one the map's
    colour.

    Args:
        photo: ``(H, W, 3)`` uint8.
        heat: ``(h, w, 3)`` uint8, placed with its top-left at photo pixel
            ``offset`` (rows, cols); it must fit inside the photo (a
            same-size map, ``h, w = H, W``, at ``(0, 0)`` covers it all).
        strength: ``(h, w)`` in 0-1 (:func:`heat_strength`); each heat pixel
            is blended with weight ``opacity * strength ** 2`` (the square
            keeps weak responses, near the neutral colour, from washing the
            photo out).

    Returns:
        ``(H, W, 3)`` uint8; outside the map's footprint the background is
        darkened further, to half.
    """
    base = dim_desaturate(photo)
    out = base * np.float32(0.5)
    r0, c0 = offset
    h, w = heat.shape[:2]
    a = (opacity * np.asarray(strength, dtype=np.float32) ** 2)[:, :, np.newaxis]
    region = base[r0 : r0 + h, c0 : c0 + w]
    out[r0 : r0 + h, c0 : c0 + w] = region * (1 - a) + heat.astype(np.float32) * a
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def dim_desaturate(photo: np.ndarray, *, keep_colour: float = 0.25, brightness: float = 0.6):
    """A photo as a quiet background: mostly gray, dimmed.

    Each pixel becomes ``brightness * (keep_colour * rgb + (1 - keep_colour) * gray)``
    with ``gray`` the Rec. 601 luma (0.299 R + 0.587 G + 0.114 B). Returns
    ``(H, W, 3)`` float32 in 0-255.
    """
    rgb = np.asarray(photo, dtype=np.float32)
    gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    mixed = keep_colour * rgb + (1 - keep_colour) * gray[..., np.newaxis]
    return mixed * np.float32(brightness)


def draw_box(
    canvas: np.ndarray,
    top: int,
    left: int,
    height: int,
    width: int,
    *,
    color: tuple[int, int, int] = (255, 255, 255),
    thickness: int = 2,
) -> None:
    """Draw a rectangle outline in place on an ``(H, W, 3)`` uint8 canvas (clipped).

    The box covers rows ``top .. top + height - 1`` and columns
    ``left .. left + width - 1``; the outline is drawn inside it, with a
    one-pixel black edge outside it for contrast on light backgrounds.
    """
    H, W = canvas.shape[:2]

    def fill(r0, r1, c0, c1, col):
        r0, r1, c0, c1 = max(r0, 0), min(r1, H), max(c0, 0), min(c1, W)
        if r0 < r1 and c0 < c1:
            canvas[r0:r1, c0:c1] = col

    b, r, t = top + height, left + width, thickness
    # black first, one pixel wider on each side, then the colour over its inner part
    for col, g in (((0, 0, 0), 1), (color, 0)):
        fill(top - g, top + t + g, left - g, r + g, col)
        fill(b - t - g, b + g, left - g, r + g, col)
        fill(top - g, b + g, left - g, left + t + g, col)
        fill(top - g, b + g, r - t - g, r + g, col)


def mark_peaks(
    canvas: np.ndarray,
    peaks: list[tuple[int, int]],
    pattern_hw: tuple[int, int],
    *,
    min_side: int = 9,
) -> list[tuple[int, int, int, int]]:
    """Outline each matched window on ``canvas`` in place; the boxes ``(top, left, h, w)``.

    ``peaks`` are window top-left pixels ``(row, col)``; each box is the
    pattern's ``kh x kw`` window, grown around its centre to at least
    ``min_side`` pixels so that small patterns stay visible. The best peak
    is outlined in yellow, the others in white (:func:`label_peaks` writes
    their rank and score).
    """
    kh, kw = pattern_hw
    thickness = max(2, min(canvas.shape[:2]) // 200)
    boxes = []
    for rank, (r, c) in enumerate(peaks):
        h, w = max(kh, min_side), max(kw, min_side)
        top = r + (kh - h) // 2
        left = c + (kw - w) // 2
        color = (255, 221, 0) if rank == 0 else (255, 255, 255)
        draw_box(canvas, top, left, h, w, color=color, thickness=thickness)
        boxes.append((top, left, h, w))
    return boxes


def label_peaks(
    canvas: np.ndarray, boxes: list[tuple[int, int, int, int]], texts: list[str]
) -> np.ndarray:
    """Write ``texts[i]`` (rank and score) at the top-left of ``boxes[i]`` (top, left, h, w).

    Each label is black on its box's colour (yellow for the first, white for
    the others), inside the canvas. Returns a new ``(H, W, 3)`` uint8 array.
    """
    from PIL import Image, ImageDraw

    image = Image.fromarray(np.ascontiguousarray(canvas))
    draw = ImageDraw.Draw(image)
    font = _font()
    height, width = canvas.shape[:2]
    for i, ((top, left, _, _), text) in enumerate(zip(boxes, texts, strict=True)):
        x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
        tw, th = x1 - x0 + 4, y1 + 2
        x = min(max(left, 0), max(width - tw, 0))
        y = top - th if top - th >= 0 else min(max(top, 0), max(height - th, 0))
        colour = (255, 221, 0) if i == 0 else (255, 255, 255)
        draw.rectangle([x, y, x + tw - 1, y + th - 1], fill=colour)
        draw.text((x + 2, y), text, fill=_TEXT, font=font)
    return np.asarray(image).copy()
