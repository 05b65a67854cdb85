"""Rendering for people: kernel matrices as text, side-by-side pictures.

Arrays in, arrays (or Rich renderables) out; no file I/O.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from cnnfilter.kernels import format_number  # re-exported: the kernel text lives here

__all__ = [
    "format_number",
    "kernel_text",
    "side_by_side",
    "COLORMAPS",
    "colormap_lut",
    "heatmap_scale",
    "colorize",
    "display_rgb",
    "heat_strength",
    "blend_heatmap",
    "draw_box",
    "mark_peaks",
    "winners_picture",
]


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


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[..., np.newaxis], 3, axis=2)
    if image.shape[2] == 2:  # gray + alpha: drop alpha
        return np.repeat(image[..., :1], 3, axis=2)
    if image.shape[2] == 4:
        return image[..., :3]
    return image


def side_by_side(left: np.ndarray, right: np.ndarray, *, gap: int = 8) -> np.ndarray:
    """Place two uint8 pictures side by side on white, top-aligned.

    Args:
        left, right: ``(H, W)`` or ``(H, W, C)`` uint8 arrays (C = 1..4;
            alpha is dropped).
        gap: white columns between them.

    Returns:
        ``(max(H1, H2), W1 + gap + W2, 3)`` uint8 array; gray inputs are
        repeated over RGB.
    """
    a, b = _as_rgb(left), _as_rgb(right)
    height = max(a.shape[0], b.shape[0])
    canvas = np.full((height, a.shape[1] + gap + b.shape[1], 3), 255, dtype=np.uint8)
    canvas[: a.shape[0], : a.shape[1]] = a
    canvas[: b.shape[0], a.shape[1] + gap :] = b
    return canvas


# ------------------------------------------------------- receptive-field picture

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


__all__ += ["receptive_field_picture"]


# --- Colour maps, heatmaps, overlays and pooling winners (used by detect and pool) ---------

#: Viridis, the perceptually uniform sequential map of matplotlib (van der Walt & Smith,
#: 2015, CC0): 17 of its 256 entries (indices 0, 16, ..., 240, 255 of ``_viridis_data`` in
#: matplotlib's ``_cm_listed.py``), interpolated linearly in between.
VIRIDIS_STOPS = (
    (0 / 255, (0.267004, 0.004874, 0.329415)),
    (16 / 255, (0.282327, 0.094955, 0.417331)),
    (32 / 255, (0.278826, 0.175490, 0.483397)),
    (48 / 255, (0.258965, 0.251537, 0.524736)),
    (64 / 255, (0.229739, 0.322361, 0.545706)),
    (80 / 255, (0.199430, 0.387607, 0.554642)),
    (96 / 255, (0.172719, 0.448791, 0.557885)),
    (112 / 255, (0.149039, 0.508051, 0.557250)),
    (128 / 255, (0.127568, 0.566949, 0.550556)),
    (144 / 255, (0.120638, 0.625828, 0.533488)),
    (160 / 255, (0.157851, 0.683765, 0.501686)),
    (176 / 255, (0.246070, 0.738910, 0.452024)),
    (192 / 255, (0.369214, 0.788888, 0.382914)),
    (208 / 255, (0.515992, 0.831158, 0.294279)),
    (224 / 255, (0.678489, 0.863742, 0.189503)),
    (240 / 255, (0.845561, 0.887322, 0.099702)),
    (255 / 255, (0.993248, 0.906157, 0.143936)),
)

#: A diverging map for signed responses: ColorBrewer's 11-class RdBu (Cynthia Brewer,
#: colorbrewer2.org), reversed so that negative is blue, 0 is near-white, positive is red.
DIVERGING_STOPS = tuple(
    (i / 10, tuple(int(h[k : k + 2], 16) / 255 for k in (1, 3, 5)))
    for i, h in enumerate(
        (
            "#053061",
            "#2166ac",
            "#4393c3",
            "#92c5de",
            "#d1e5f0",
            "#f7f7f7",
            "#fddbc7",
            "#f4a582",
            "#d6604d",
            "#b2182b",
            "#67001f",
        )
    )
)

COLORMAPS = {"viridis": VIRIDIS_STOPS, "rdbu": DIVERGING_STOPS}


def colormap_lut(name: str) -> np.ndarray:
    """The 256-entry lookup table of a colour map, ``(256, 3)`` uint8.

    >>> colormap_lut("viridis")[[0, 255]].tolist()
    [[68, 1, 84], [253, 231, 37]]
    """
    stops = COLORMAPS[name]
    pos = np.array([s[0] for s in stops])
    rgb = np.array([s[1] for s in stops])
    x = np.linspace(0.0, 1.0, 256)
    table = np.stack([np.interp(x, pos, rgb[:, k]) for k in range(3)], axis=1)
    return np.rint(table * 255).astype(np.uint8)


def heatmap_scale(
    values: np.ndarray, *, percentile: float | None = None
) -> tuple[str, float, float]:
    """Choose the colour map and the value range for a response map.

    A map with both signs gets the diverging map over ``[-m, m]``
    (``m = max |value|``), so that 0 is the neutral colour; otherwise viridis
    over ``[min, max]``. With ``percentile`` (e.g. 99.5), ``m`` is that
    percentile of ``|value|`` and a one-signed map's far end is that
    percentile of the values (the near end stays the minimum, or the
    maximum for a negative map), so that a few extreme responses do not
    wash the rest out; values beyond are drawn in the end colours. A
    percentile that equals the near end (a map that is mostly flat) falls
    back to the full range. Non-finite values are left out.

    Returns:
        ``(colormap name, low, high)``.

    >>> heatmap_scale(np.array([-2.0, 1.0]))
    ('rdbu', -2.0, 2.0)
    >>> heatmap_scale(np.array([0.0, 6600.0]))
    ('viridis', 0.0, 6600.0)
    >>> heatmap_scale(np.arange(-100.0, 1001.0), percentile=50)
    ('rdbu', -450.0, 450.0)
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)] if v.size and not np.isfinite(v).all() else v
    if not v.size:
        return "viridis", 0.0, 0.0
    lo, hi = float(np.min(v)), float(np.max(v))
    if lo < 0 < hi:
        m = max(-lo, hi)
        if percentile is not None:
            p = float(np.percentile(np.abs(v), percentile))
            m = p if p > 0 else m
        return "rdbu", -m, m
    if percentile is not None and hi > lo:
        if lo >= 0:
            p = float(np.percentile(v, percentile))
            hi = p if p > lo else hi
        else:
            p = float(np.percentile(v, 100 - percentile))
            lo = p if p < hi else lo
    return "viridis", lo, hi


def colorize(values: np.ndarray, *, cmap: str, lo: float, hi: float) -> np.ndarray:
    """Map a 2-D float array to colours: ``lo`` -> first entry, ``hi`` -> last.

    Returns ``(h, w, 3)`` uint8. Values outside ``[lo, hi]`` are clipped; a
    range of zero width maps everything to the middle colour.
    """
    lut = colormap_lut(cmap)
    v = np.asarray(values, dtype=np.float64)
    if hi > lo:
        idx = np.rint((v - lo) * (255.0 / (hi - lo)))
    else:
        idx = np.full(v.shape, 128.0)
    np.clip(idx, 0, 255, out=idx)
    return lut[idx.astype(np.intp)]


def display_rgb(pixels: np.ndarray, max_value: float) -> np.ndarray:
    """A picture for people: ``(H, W, 3)`` uint8 from gray/RGB pixels of any range.

    ``pixels`` with ``max_value`` (full white) are scaled to 0-255 and
    rounded; gray is repeated over RGB; extra channels (alpha) are dropped.
    """
    x = np.asarray(pixels)
    if x.ndim == 3 and x.shape[2] not in (3,):
        x = x[:, :, 0] if x.shape[2] < 3 else x[:, :, :3]
    if x.dtype != np.uint8 or max_value != 255:
        scaled = x.astype(np.float64) * (255.0 / max_value if max_value else 1.0)
        x = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return _as_rgb(x)


def heat_strength(values: np.ndarray, *, cmap: str, lo: float, hi: float) -> np.ndarray:
    """How far each value is from "no response", 0-1: ``|v| / hi`` for the diverging
    map (0 is neutral), ``(v - lo) / (hi - lo)`` for the sequential one.

    >>> heat_strength(np.array([-2.0, 0.0, 1.0]), cmap="rdbu", lo=-2.0, hi=2.0).tolist()
    [1.0, 0.0, 0.5]
    """
    v = np.asarray(values, dtype=np.float64)
    if cmap == "rdbu":
        w = np.abs(v) / hi if hi > 0 else np.zeros(v.shape)
    else:
        w = (v - lo) / (hi - lo) if hi > lo else np.zeros(v.shape)
    return np.clip(w, 0.0, 1.0)


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


def winners_picture(
    image: np.ndarray, indices: np.ndarray, *, min_side: int = 256
) -> tuple[np.ndarray, int]:
    """Show which input pixel won each max-pooling window.

    Args:
        image: ``(H, W, 3)`` uint8 picture of the input (see :func:`display_rgb`).
        indices: flat winner indices ``row * W + col``, ``(oh, ow)`` (one
            channel) or ``(oh, ow, C)``, as
            :func:`cnnfilter.engine.pooling.max_pool2d_with_indices`.
        min_side: small inputs are enlarged by a whole factor (nearest
            neighbour) until the shorter side reaches this many pixels.

    Returns:
        ``(picture, factor)``: the input in gray at a fifth of its brightness,
        with each winning pixel lit in proportion to its own value (40% to
        100% brightness): yellow for one channel; for several channels each
        channel's winners light that colour (red, green, blue; a fourth
        channel such as alpha is not shown), so a pixel that won in all three
        is white. ``factor`` is the enlargement used.
    """
    H, W = image.shape[:2]
    img = image.astype(np.float32)
    out = np.repeat((img.mean(axis=2) * 0.2)[:, :, np.newaxis], 3, axis=2)
    idx = indices if indices.ndim == 3 else indices[:, :, np.newaxis]
    single = idx.shape[2] == 1
    lit = np.zeros((H * W, 3), dtype=np.float32)
    for c in range(min(idx.shape[2], 3)):
        flat = idx[:, :, c].ravel()
        flat = flat[(flat >= 0) & (flat < H * W)]
        won = np.zeros(H * W, dtype=bool)
        won[flat] = True
        value = img.reshape(-1, 3)[won, 0 if single else c]
        level = (0.4 + 0.6 * value / 255.0)[:, np.newaxis]
        colour = np.array([255.0, 221.0, 0.0]) if single else np.eye(3)[c] * 255.0
        lit[won] = np.maximum(lit[won], level * colour)
    lit = lit.reshape(H, W, 3)
    any_lit = lit.max(axis=2) > 0
    out[any_lit] = lit[any_lit]
    pic = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    factor = max(1, -(-min_side // min(H, W)))
    if factor > 1:
        pic = np.repeat(np.repeat(pic, factor, axis=0), factor, axis=1)
    return pic, factor


# --- Labels: captions, colour bars, enlargement (Pillow's ImageDraw and its default font) ---

#: Height in pixels of the caption strip above a picture.
CAPTION_HEIGHT = 18
#: Width in pixels of the colour bar right of a map.
BAR_WIDTH = 14
#: The gap between the map and its colour bar, and the margin around the labels.
BAR_GAP = 8
#: Background of the caption strip and the bar's margin.
BACKGROUND = (255, 255, 255)
_TEXT = (0, 0, 0)

__all__ += [
    "CAPTION_HEIGHT",
    "BAR_WIDTH",
    "BAR_GAP",
    "BACKGROUND",
    "MapLayout",
    "enlarge_factor",
    "enlarge",
    "text_width",
    "with_caption",
    "annotate_map",
    "label_peaks",
    "dim_desaturate",
]


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


def enlarge_factor(shape: tuple[int, ...], *, min_side: int = 256) -> int:
    """The whole factor that brings the shorter side of ``shape`` to at least ``min_side``.

    >>> enlarge_factor((44, 34)), enlarge_factor((400, 600)), enlarge_factor((0, 5))
    (8, 1, 1)
    """
    short = min(shape[:2])
    return max(1, -(-min_side // short)) if short > 0 else 1


def enlarge(picture: np.ndarray, factor: int) -> np.ndarray:
    """Repeat each pixel ``factor`` times along rows and columns (nearest neighbour).

    >>> enlarge(np.array([[1, 2]]), 2).tolist()
    [[1, 1, 2, 2], [1, 1, 2, 2]]
    """
    if factor <= 1:
        return picture
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


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


@dataclass(frozen=True)
class MapLayout:
    """Where :func:`annotate_map` put things, in canvas pixels (rows, columns, end excluded).

    ``bar`` runs from ``hi`` (top row) to ``lo`` (bottom row).
    """

    caption_rows: tuple[int, int]
    map_box: tuple[int, int, int, int]
    bar_box: tuple[int, int, int, int]
    ticks: tuple[float, ...]


def _tick_values(lo: float, hi: float, count: int = 5) -> tuple[float, ...]:
    """``count`` evenly spaced values from ``lo`` to ``hi`` (one when they are equal)."""
    if not hi > lo:
        return (lo,)
    return tuple(float(v) for v in np.linspace(lo, hi, count))


def annotate_map(
    picture: np.ndarray, *, cmap: str, lo: float, hi: float, caption: str
) -> tuple[np.ndarray, MapLayout]:
    """A map picture with a colour bar (ticks, value range) on its right and a caption above.

    The bar is :data:`BAR_WIDTH` pixels wide and as tall as the map, ``hi``'s
    colour in its top row and ``lo``'s in its bottom row (the colour map's
    last and first entries); five ticks (one for a flat map) are labelled
    with their values (``.4g``) in Pillow's default font.

    Args:
        picture: ``(H, W, 3)`` uint8, the coloured map (or an overlay).
        cmap, lo, hi: the colour map and range used (:func:`heatmap_scale`).
        caption: one line (command, pattern, method, enlargement).

    Returns:
        ``(canvas, layout)``: ``(CAPTION_HEIGHT + H, W + bar and labels, 3)``
        uint8 (wider when the caption is), and the :class:`MapLayout`.
    """
    from PIL import Image, ImageDraw

    pic = _as_rgb(np.asarray(picture))
    h, w = pic.shape[:2]
    ticks = _tick_values(lo, hi)
    labels = [f"{t:.4g}" for t in ticks]
    label_w = max(text_width(t) for t in labels)
    bar_c0 = w + BAR_GAP
    body_w = bar_c0 + BAR_WIDTH + 4 + 2 + label_w + BAR_GAP
    body = np.full((h, body_w, 3), BACKGROUND, dtype=np.uint8)
    body[:, :w] = pic
    lut = colormap_lut(cmap)
    idx = np.rint(np.linspace(255, 0, h)).astype(np.intp) if h > 1 else np.array([255])
    body[:, bar_c0 : bar_c0 + BAR_WIDTH] = lut[idx][:, np.newaxis, :]
    image = Image.fromarray(body)
    draw = ImageDraw.Draw(image)
    font = _font()
    for value, text in zip(ticks, labels, strict=True):
        frac = (value - lo) / (hi - lo) if hi > lo else 0.5
        row = round((1 - frac) * (h - 1))
        x = bar_c0 + BAR_WIDTH
        draw.line([x, row, x + 3, row], fill=_TEXT, width=1)
        _, top, _, bottom = draw.textbbox((0, 0), text, font=font)
        y = min(max(row - (top + bottom) // 2, -top), h - bottom)
        draw.text((x + 6, y), text, fill=_TEXT, font=font)
    canvas = with_caption(np.asarray(image), caption)
    layout = MapLayout(
        (0, CAPTION_HEIGHT),
        (CAPTION_HEIGHT, CAPTION_HEIGHT + h, 0, w),
        (CAPTION_HEIGHT, CAPTION_HEIGHT + h, bar_c0, bar_c0 + BAR_WIDTH),
        ticks,
    )
    return canvas, layout


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


__all__ += ["pooling_picture"]


def pooling_picture(
    image: np.ndarray,
    indices: np.ndarray,
    pooled: np.ndarray,
    *,
    stride: tuple[int, int],
    padding: tuple[int, int] = (0, 0),
    caption: str = "",
    min_side: int = 512,
) -> tuple[np.ndarray, int]:
    """The input with the pooling grid and the winners, beside the pooled output, enlarged.

    Left: the input, enlarged by a whole factor ``f`` (nearest neighbour,
    :func:`enlarge_factor` to ``min_side``), dimmed to 60%, with a light
    line where each window starts (every ``stride`` input pixels, shifted by
    the padding; left out when a cell would be under 4 pixels wide) and each
    winning pixel shown at full brightness, outlined (when ``f >= 4``) in
    yellow for one channel, or red, green, blue for each colour channel's
    winners. Right: the pooled output, each cell
    enlarged ``f * stride`` times so that it lines up with its window.

    Args:
        image: ``(H, W, 3)`` uint8 picture of the input (:func:`display_rgb`).
        indices: flat winner indices ``row * W + col``, ``(oh, ow)`` or
            ``(oh, ow, C)`` (:func:`cnnfilter.engine.pooling.max_pool2d_with_indices`).
        pooled: ``(oh, ow, 3)`` uint8 picture of the pooled output.
        stride, padding: the pooling's, ``(rows, cols)``.
        caption: one line above both panels (``""``: none).

    Returns:
        ``(picture, f)``.
    """
    H, W = image.shape[:2]
    f = enlarge_factor((H, W), min_side=min_side)
    left = enlarge(image.astype(np.float32) * np.float32(0.6), f)
    idx = indices if indices.ndim == 3 else indices[:, :, np.newaxis]
    sh, sw = stride
    if min(sh, sw) * f >= 4:  # the grid: a light line where each window starts
        rows = [r * f for r in range(-padding[0], H, sh) if 0 < r < H]
        cols = [c * f for c in range(-padding[1], W, sw) if 0 < c < W]
        left[rows, :] = left[rows, :] * 0.4 + 150
        left[:, cols] = left[:, cols] * 0.4 + 150
    for c in range(min(idx.shape[2], 3)):
        flat = np.unique(idx[:, :, c].ravel())
        flat = flat[(flat >= 0) & (flat < H * W)]
        colour = (255, 221, 0) if idx.shape[2] == 1 else tuple(np.eye(3)[c] * 255)
        _mark_winners(left, image, np.divmod(flat, W), f, colour)
    left = np.clip(np.rint(left), 0, 255).astype(np.uint8)
    right = enlarge_rect(pooled, f * sh, f * sw)
    picture = side_by_side(left, right)
    return (with_caption(picture, caption) if caption else picture), f


def _mark_winners(canvas, image, where, f: int, colour) -> None:
    """Each winner's ``f x f`` block at full brightness, outlined in ``colour`` when f >= 4."""
    rows, cols = where
    for r, c in zip(rows, cols, strict=True):
        block = canvas[r * f : (r + 1) * f, c * f : (c + 1) * f]
        block[...] = image[r, c]
        if f >= 4:
            block[[0, -1], :] = colour
            block[:, [0, -1]] = colour


def enlarge_rect(picture: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Repeat each pixel ``fy`` times along rows and ``fx`` times along columns."""
    return np.repeat(np.repeat(picture, fy, axis=0), fx, axis=1)


__all__ += ["FIT_MODES", "fit_to_input"]

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


__all__ += ["MONTAGE_SCALES", "montage", "montage_colours"]

#: Most channels :func:`montage` draws (the rest are counted in the caption).
MONTAGE_MAX_TILES = 256


#: The colour scales of :func:`montage`: name -> what it means.
MONTAGE_SCALES = {
    "tile": "each tile on its own range (shown under it): every channel's pattern visible",
    "shared": "one range for the layer: channels compare with each other",
}


def montage_colours(x: np.ndarray) -> str:
    """``"diverging"`` for a map with negative values (blue < 0 < red, 0 white), else ``"gray"``.

    >>> montage_colours(np.array([-1.0, 2.0])), montage_colours(np.array([0.0, 2.0]))
    ('diverging', 'gray')
    """
    v = np.asarray(x)
    finite = v[np.isfinite(v)]
    return "diverging" if finite.size and float(finite.min()) < 0 else "gray"


def _tile_range(t: np.ndarray, colours: str) -> tuple[float, float]:
    finite = t[np.isfinite(t)]
    if not finite.size:
        return 0.0, 0.0
    lo, hi = float(finite.min()), float(finite.max())
    if colours == "diverging":
        m = max(-lo, hi, 0.0)
        return -m, m
    return lo, hi


def _tile_ranges(x: np.ndarray, c: int, colours: str, scale: str) -> list[tuple[float, float]]:
    """:func:`_tile_range` of each of the first ``c`` channels (``scale="tile"``) or of the
    whole layer, repeated (``"shared"``); one pass over the array when it is all finite."""
    if scale == "shared":
        return [_tile_range(x, colours)] * c
    x = x[..., :c]
    if not np.isfinite(x).all():
        return [_tile_range(x[..., i], colours) for i in range(c)]
    los, his = x.min(axis=(0, 1)).tolist(), x.max(axis=(0, 1)).tolist()
    if colours != "diverging":
        return list(zip(los, his, strict=True))
    return [(-m, m) for m in (max(-lo, hi, 0.0) for lo, hi in zip(los, his, strict=True))]


def _paint_tiles(x: np.ndarray, colours: str, ranges: list[tuple[float, float]]) -> np.ndarray:
    """The first ``len(ranges)`` channels of ``x`` (``(h, w, C)``) as ``(c, h, w, 3)`` uint8
    tiles, each on its ``(lo, hi)``: gray ``lo`` black .. ``hi`` white (a constant tile
    black), or RdBu over ``[lo, hi]`` (0 white, a constant tile the middle colour); non-finite
    values magenta. Per value as :func:`colorize`, ``rint((v - lo) 255 / (hi - lo))`` in
    float64, for every tile at once through a 256-entry table on uint8 indices."""
    c = len(ranges)
    lo = np.array([r[0] for r in ranges], np.float64)[:, None, None]
    hi = np.array([r[1] for r in ranges], np.float64)[:, None, None]
    wide = (hi > lo)[:, 0, 0]
    v = np.moveaxis(x[..., :c], 2, 0).astype(np.float64)  # (c, h, w)
    bad = ~np.isfinite(v)
    if bad.any():
        v[bad] = np.broadcast_to(lo.astype(np.float32), v.shape)[bad]
    np.subtract(v, lo, out=v)
    np.multiply(v, np.divide(255.0, hi - lo, out=np.zeros_like(lo), where=hi > lo), out=v)
    np.rint(v, out=v)
    np.clip(v, 0, 255, out=v)
    idx = v.astype(np.uint8)
    if colours == "diverging":
        idx[~wide] = 128  # colorize's middle colour for a range of zero width
        lut = colormap_lut("rdbu")
    else:
        idx[~wide] = 0
        lut = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    rgb = lut[idx]
    rgb[bad] = (255, 0, 255)
    return rgb


def _place_tiles(canvas, tiles, cols: int, f: int, origin, pitch) -> None:
    """Write ``tiles`` (``(c, h, w, 3)`` uint8) into ``canvas`` in place, enlarged ``f``
    times (each pixel an ``f x f`` block, as :func:`enlarge`), tile ``i`` at row ``i // cols``
    and column ``i % cols`` of a grid whose first tile's top-left pixel is ``origin`` and
    whose cells are ``pitch`` (rows, columns) apart: one assignment through a strided view
    of the canvas, shaped ``(grid rows, cols, h, f, w, f, 3)``."""
    from numpy.lib.stride_tricks import as_strided

    c, h, w = tiles.shape[:3]
    sy, sx, sz = canvas.strides
    assert sz == 1 and sx == 3, "a C-contiguous (H, W, 3) uint8 canvas"
    base = canvas[origin[0] :, origin[1] :]
    # each tile row already repeated f times along the width: f w 3 contiguous bytes
    rows = (np.repeat(tiles, f, axis=2) if f > 1 else tiles).reshape(c, h, 1, w * f * 3)
    full, rest = divmod(c, cols)
    for first_row, n_rows, n_cols in ((0, full, cols), (full, 1 if rest else 0, rest)):
        if not n_rows:
            continue
        view = as_strided(
            base[first_row * pitch[0] :],
            shape=(n_rows, n_cols, h, f, w * f * 3),
            strides=(pitch[0] * sy, pitch[1] * sx, f * sy, sy, 1),
        )
        i = first_row * cols
        view[...] = rows[i : i + n_rows * n_cols].reshape(n_rows, n_cols, h, 1, w * f * 3)


def _fill_background(canvas: np.ndarray) -> None:
    """Paint ``canvas`` (``(..., 3)`` uint8) :data:`BACKGROUND`, as one byte fill when its
    three values are equal (white: several times faster than assigning the colour)."""
    if len(set(BACKGROUND)) == 1:
        canvas.fill(BACKGROUND[0])
    else:
        canvas[...] = BACKGROUND


def _range_text(lo: float, hi: float) -> str:
    if lo == -hi and hi > 0:
        return f"+-{format_number(hi)}"
    return f"{format_number(lo)}..{format_number(hi)}"


def montage(
    maps: np.ndarray,
    *,
    title: str,
    scale: str = "tile",
    min_tile: int = 64,
    gap: int = 4,
    names: tuple[str, ...] = (),
) -> np.ndarray:
    """One layer's feature maps as a labelled grid of tiles, one per channel.

    Colours (:func:`montage_colours`): a layer with negative values (a
    convolution before its ReLU) is drawn with the diverging RdBu map centred
    on 0 (blue negative, white 0, red positive, over ``[-m, m]``, ``m`` the
    largest ``|value|``), so that a response and its opposite read apart;
    a non-negative layer in gray (black = minimum, white = maximum). The
    scale (``scale``, :data:`MONTAGE_SCALES`): ``"tile"``, each tile on its
    own range, written under it (a channel of small values is not black
    beside a channel of large ones: the article's curve detector has taps
    of 30, its line kernels 1); ``"shared"``, the layer's range for every
    tile, so tiles compare. A constant gray tile is black; non-finite values
    magenta. Each tile is enlarged by a whole factor so that its shorter
    side is at least ``min_tile`` pixels and has its channel index above
    it, followed by its name from ``names`` when given (the registry kernel of
    a hand-set filter). The caption (Pillow's default font) names the layer, its shape, its
    range, the colours and the scale. A flat vector ``(N,)`` is drawn as one
    tile of up to 32 values per row, in order, headed ``values 0..N-1, 32 per
    row``, the cells after the last value left blank; and so is a ``1 x 1 x C``
    layer (global pooling), whose tiles would each be one flat, black value.

    Args:
        maps: ``(H, W, C)`` or ``(N,)`` float array.
        title: the layer's name and kind, first in the caption.
        scale: ``"tile"`` or ``"shared"``.
        names: a name per channel (fewer: the rest get their index only).

    Returns:
        ``(rows, cols, 3)`` uint8 RGB picture.

    Raises:
        ValueError: an unknown ``scale``.
    """
    import math

    if scale not in MONTAGE_SCALES:
        raise ValueError(f"scale must be one of {', '.join(MONTAGE_SCALES)}, got {scale!r}")
    x = np.asarray(maps, dtype=np.float32)
    shape = " x ".join(map(str, x.shape))
    if x.ndim == 3 and x.shape[:2] == (1, 1) and x.shape[2] > 1:
        x = x.reshape(-1)  # one value per channel (global pooling): a vector, one scale
    vector = ""
    if x.ndim == 1:
        n = x.size
        width = min(32, n)
        x = np.pad(x, (0, -n % width), constant_values=np.nan).reshape(-1, width)[..., None]
        vector = f"values 0..{n - 1}" + (f", {width} per row" if n > width else "")
    colours = montage_colours(x)
    finite = x[np.isfinite(x)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    c = min(x.shape[2], MONTAGE_MAX_TILES)
    ranges = _tile_ranges(x, c, colours, scale)
    f = enlarge_factor(x.shape[:2], min_side=min_tile)
    th, tw = x.shape[0] * f, x.shape[1] * f
    label = CAPTION_HEIGHT - 4
    under = label if scale == "tile" else 0
    heads = [f"{i} {names[i]}" if i < len(names) else str(i) for i in range(c)]
    if vector:
        heads = [vector]
    cell_w = max(tw, *(text_width(h) + 2 for h in heads))
    if under:
        cell_w = max(cell_w, *(text_width(_range_text(*r)) + 2 for r in ranges))
    cols = max(1, min(c, math.ceil(math.sqrt(c))))
    rows = math.ceil(c / cols)
    cell_h = label + th + under + gap
    canvas = np.empty((rows * cell_h + gap, cols * (cell_w + gap) + gap, 3), np.uint8)
    _fill_background(canvas)
    tiles = _paint_tiles(x, colours, ranges)
    if vector:  # the cells after the last value are background, not magenta "non-finite"
        tiles[0].reshape(-1, 3)[n:] = BACKGROUND
    _place_tiles(canvas, tiles, cols, f, (gap + label, gap), (cell_h, cell_w + gap))
    texts = []
    for i in range(c):
        r, q = divmod(i, cols)
        y0, x0 = gap + r * cell_h + label, gap + q * (cell_w + gap)
        texts.append(((x0, y0 - label), heads[i]))
        if under:
            texts.append(((x0, y0 + th), _range_text(*ranges[i])))
    _stamp_texts(canvas, texts)
    more = f", first {c} of {x.shape[2]} channels" if x.shape[2] > c else ""
    if colours == "diverging":
        paint = "diverging: blue < 0 = white < red"
    else:
        paint = "gray: black = min, white = max"
    where = "per-tile scale (range under each tile)" if scale == "tile" else "shared scale"
    caption = (
        f"{title}  {shape}  range {format_number(lo)} .. {format_number(hi)}  "
        f"{paint}, {where}{more}"
    )
    return with_caption(canvas, caption)
