"""The receptive-field drawing ("what the network sees") and how a photo is fitted to the
network input's aspect (crop or letterbox)."""

from __future__ import annotations

import numpy as np

from cnnfilter.render.canvas import _as_rgb

_FIELD_COLOUR = (255, 200, 0)
_PADDING_TINT = (255, 140, 0)


def _to_rgb8(image: np.ndarray, max_value: float) -> np.ndarray:
    """``(H, W[, C])`` uint8/uint16/float -> ``(H, W, 3)`` uint8 (alpha dropped)."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img.astype(np.float64) / float(max_value), 0.0, 1.0)
        img = np.rint(img * 255.0).astype(np.uint8)
    return np.ascontiguousarray(_as_rgb(img))


def receptive_field_picture(
    image: np.ndarray,
    box: tuple[int, int, int, int],
    input_size: tuple[int, int],
    *,
    max_value: float = 255,
    dim: float = 0.35,
) -> np.ndarray:
    """Draw one unit's receptive field on a photo ("what the network sees").

    The photo stands for the network input resized to it: input pixel ``i``
    covers photo rows ``i * H / h_in .. (i + 1) * H / h_in`` (and likewise for
    columns). Outside the field the photo is dimmed by ``dim``; the field is
    outlined. Where the field reaches past the border, the canvas grows by
    that overhang (at most the photo's size on each side) and the padding is
    drawn as a grey checkerboard, tinted orange inside the field: the part of
    the field that sees only zeros.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` photo, uint8, uint16 or float.
        box: ``(top, left, bottom, right)`` inclusive, in network-input
            pixels; may lie partly outside ``0 .. h_in - 1`` / ``0 .. w_in - 1``.
        input_size: ``(h_in, w_in)``, the network input in pixels.
        max_value: the value of white in ``image`` (255, 65535 or 1.0).
        dim: brightness kept outside the field, 0..1.

    Returns:
        ``(H + m_top + m_bottom, W + m_left + m_right, 3)`` uint8 array.

    Raises:
        ValueError: an empty box, a box entirely outside the input, or sizes < 1.
    """
    from PIL import Image, ImageDraw

    top, left, bottom, right = box
    h_in, w_in = input_size
    if h_in < 1 or w_in < 1:
        raise ValueError(f"input_size must be positive, got {input_size!r}")
    if bottom < top or right < left:
        raise ValueError(f"box must have top <= bottom and left <= right, got {box!r}")
    if bottom < 0 or right < 0 or top >= h_in or left >= w_in:
        raise ValueError(f"box {box!r} lies entirely outside the {h_in} x {w_in} input")
    rgb = _to_rgb8(image, max_value)
    height, width = rgb.shape[:2]
    sy, sx = height / h_in, width / w_in
    # field edges in photo pixels (continuous; input pixel i spans [i, i + 1))
    y0, y1 = round(top * sy), round((bottom + 1) * sy)
    x0, x1 = round(left * sx), round((right + 1) * sx)
    m_top, m_left = min(max(-y0, 0), height), min(max(-x0, 0), width)
    m_bottom, m_right = min(max(y1 - height, 0), height), min(max(x1 - width, 0), width)

    canvas_h, canvas_w = height + m_top + m_bottom, width + m_left + m_right
    yy, xx = np.mgrid[0:canvas_h, 0:canvas_w]
    checker = ((yy // 8 + xx // 8) % 2).astype(np.uint8)
    canvas = np.where(checker[..., None] == 1, 150, 190).astype(np.uint8).repeat(3, axis=2)
    inside = (yy >= y0 + m_top) & (yy < y1 + m_top) & (xx >= x0 + m_left) & (xx < x1 + m_left)
    tint = np.array(_PADDING_TINT, dtype=np.float64)
    canvas[inside] = np.rint(0.5 * canvas[inside] + 0.5 * tint).astype(np.uint8)

    photo_inside = inside[m_top : m_top + height, m_left : m_left + width]
    shown = rgb.astype(np.float64)
    shown[~photo_inside] *= dim
    canvas[m_top : m_top + height, m_left : m_left + width] = np.rint(shown).astype(np.uint8)

    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    line = max(2, round(min(height, width) / 256))
    draw.rectangle(
        [m_left - 1, m_top - 1, m_left + width, m_top + height], outline=(255, 255, 255), width=1
    )
    draw.rectangle(
        [x0 + m_left, y0 + m_top, x1 + m_left - 1, y1 + m_top - 1],
        outline=_FIELD_COLOUR,
        width=line,
    )
    cy, cx = (y0 + y1) / 2 + m_top, (x0 + x1) / 2 + m_left
    arm = 3 * line
    draw.line([cx - arm, cy, cx + arm, cy], fill=_FIELD_COLOUR, width=line)
    draw.line([cx, cy - arm, cx, cy + arm], fill=_FIELD_COLOUR, width=line)
    return np.asarray(picture)


#: How a photo is made to stand for the network's input when their shapes differ.
FIT_MODES = {
    "crop": "the centred part of the photo with the input's aspect (torchvision's "
    "Resize + CenterCrop, how ImageNet networks see a photo)",
    "letterbox": "the whole photo, centred, with gray bars to the input's aspect",
}


def fit_to_input(
    picture: np.ndarray, input_size: tuple[int, int], mode: str = "crop"
) -> np.ndarray:
    """``picture`` (``(H, W, 3)`` uint8) cut or padded to the aspect of ``input_size``.

    The result's ``height / width`` equals ``h_in / w_in`` (to a pixel), so
    that a square field of the network input is drawn square. ``crop``
    keeps the centred part; ``letterbox`` adds gray (128) bars on both sides.

    Raises:
        ValueError: an unknown ``mode``.

    >>> fit_to_input(np.zeros((4, 6, 3), np.uint8), (2, 2), "crop").shape
    (4, 4, 3)
    >>> fit_to_input(np.zeros((4, 6, 3), np.uint8), (2, 2), "letterbox").shape
    (6, 6, 3)
    """
    if mode not in FIT_MODES:
        raise ValueError(f"fit must be one of {', '.join(FIT_MODES)}, got {mode!r}")
    h, w = picture.shape[:2]
    h_in, w_in = input_size
    if mode == "crop":
        new_h, new_w = min(h, round(w * h_in / w_in)), min(w, round(h * w_in / h_in))
        top, left = (h - new_h) // 2, (w - new_w) // 2
        return picture[top : top + new_h, left : left + new_w]
    new_h, new_w = max(h, round(w * h_in / w_in)), max(w, round(h * w_in / h_in))
    canvas = np.full((new_h, new_w, 3), 128, dtype=np.uint8)
    top, left = (new_h - h) // 2, (new_w - w) // 2
    canvas[top : top + h, left : left + w] = picture
    return canvas
