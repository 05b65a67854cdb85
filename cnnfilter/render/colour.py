"""Colour maps (viridis, RdBu), the choice of a response map's colours and range, and a
map's colour bar with its ticks (detect's heatmaps; the montage uses the lookup tables)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnfilter.render.canvas import BACKGROUND, _as_rgb
from cnnfilter.render.text import _TEXT, CAPTION_HEIGHT, _font, text_width, with_caption

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


#: Width in pixels of the colour bar right of a map.
BAR_WIDTH = 14
#: The gap between the map and its colour bar, and the margin around the labels.
BAR_GAP = 8


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
