"""forward's montages: one layer's feature maps as a labelled grid of tiles, one per
channel, or a vector (a dense layer, global pooling) as one tile of its values."""

from __future__ import annotations

import numpy as np

from cnnfilter.engine.choices import STRETCH_PERCENTILE
from cnnfilter.kernels import format_number
from cnnfilter.render.canvas import BACKGROUND, _fill_background, enlarge_factor
from cnnfilter.render.colour import colormap_lut
from cnnfilter.render.text import CAPTION_HEIGHT, _stamp_texts, text_width, with_caption

#: Most channels :func:`montage` draws (the rest are counted in the caption).
MONTAGE_MAX_TILES = 256

#: The per-tile scale's level: this percentile of a tile's ``|value|`` is drawn in full
#: colour and values beyond it saturate, so that a few strong values (the edge a zero
#: padding makes along the border) do not dim the rest; the rule (and the number) of
#: ``apply``'s stretch and ``detect``'s heatmaps, :func:`cnnfilter.engine.intensity.stretch_levels`.
TILE_PERCENTILE = STRETCH_PERCENTILE  # 99.5

#: The colour of the lines round a vector's cells: a bluish gray that is neither a gray
#: (``r == g == b``), an entry of the RdBu table nor the non-finite magenta, so that no
#: value is ever drawn in it and a white cell keeps a visible frame.
GUTTER = (168, 168, 184)


#: The colour scales of :func:`montage`: name -> what it means.
MONTAGE_SCALES = {
    "tile": "each tile on its own level, the 99.5th percentile of its |value| (shown under "
    "it; values beyond saturate): every channel's pattern visible",
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
    on 0 (blue negative, white 0, red positive, over ``[-m, m]``), so that a
    response and its opposite read apart; a non-negative layer in gray (black
    = minimum, white = ``m``). The scale (``scale``, :data:`MONTAGE_SCALES`):
    ``"tile"``, each tile on its own level ``m``, the
    :data:`TILE_PERCENTILE`-th percentile of its ``|value|``
    (:func:`cnnfilter.engine.intensity.stretch_levels`, the rule of ``apply``'s
    stretch), values beyond it drawn in the end colours, written under the
    tile with the tile's largest ``|value|`` when that is larger (``+-3.1 (max
    9.1)``): a channel of small values is not black beside a channel of large
    ones (the article's curve detector has taps of 30, its line kernels 1),
    and a zero-padded border's strong edge does not dim a weak interior;
    ``"shared"``, the layer's largest ``|value|`` (gray: its maximum) for every
    tile, so tiles compare. A constant gray tile is black; non-finite values
    magenta. Each tile is enlarged by a whole factor so that its shorter
    side is at least ``min_tile`` pixels and has its channel index above
    it, followed by its name from ``names`` when given (the registry kernel of
    a hand-set filter). The caption (Pillow's default font) names the layer, its shape, its
    range, the colours and the scale. A flat vector ``(N,)`` and a ``1 x 1 x C``
    layer (global pooling, whose tiles would each be one flat, black value)
    are drawn by :func:`_vector_montage`, on one scale whatever ``scale``.

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
    colours = montage_colours(x)
    finite = x[np.isfinite(x)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if finite.size:
        head = f"{title}  {shape}  range {format_number(lo)} .. {format_number(hi)}  "
    else:  # drawn magenta (non-finite) throughout: not the caption of a layer of zeros
        head = f"{title}  {shape}  no finite value (all NaN or inf)  "
    if x.ndim == 1:
        return _vector_montage(x, head, colours, min_tile=min_tile, gap=gap)
    c = min(x.shape[2], MONTAGE_MAX_TILES)
    if scale == "tile":
        ranges, unders = _tile_levels(x, c, colours)
    else:
        ranges, unders = _tile_ranges(x, c, colours, scale), []
    f = enlarge_factor(x.shape[:2], min_side=min_tile)
    th, tw = x.shape[0] * f, x.shape[1] * f
    label = CAPTION_HEIGHT - 4
    under = label if scale == "tile" else 0
    heads = [f"{i} {names[i]}" if i < len(names) else str(i) for i in range(c)]
    cell_w = max(tw, *(text_width(h) + 2 for h in heads + unders))
    cols = max(1, min(c, math.ceil(math.sqrt(c))))
    rows = math.ceil(c / cols)
    cell_h = label + th + under + gap
    canvas = np.empty((rows * cell_h + gap, cols * (cell_w + gap) + gap, 3), np.uint8)
    _fill_background(canvas)
    tiles = _paint_tiles(x, colours, ranges)
    _place_tiles(canvas, tiles, cols, f, (gap + label, gap), (cell_h, cell_w + gap))
    texts = []
    for i in range(c):
        r, q = divmod(i, cols)
        y0, x0 = gap + r * cell_h + label, gap + q * (cell_w + gap)
        texts.append(((x0, y0 - label), heads[i]))
        if under:
            texts.append(((x0, y0 + th), unders[i]))
    _stamp_texts(canvas, texts)
    more = f", first {c} of {x.shape[2]} channels" if x.shape[2] > c else ""
    return with_caption(canvas, f"{head}{_scale_text(colours, scale)}{more}")


def _scale_text(colours: str, scale: str) -> str:
    """The caption's words for the colours and the scale of a layer's tiles."""
    if scale == "shared":
        paint = "blue < 0 = white < red" if colours == "diverging" else "black = min, white = max"
        return f"{colours}: {paint}, shared scale"
    level = f"{TILE_PERCENTILE:g}th percentile of |value| (under each tile)"
    if colours == "diverging":
        return f"diverging: blue < 0 = white < red, per-tile scale: {level}"
    return f"gray: black = min, white = per-tile {level}"


def _tile_levels(
    x: np.ndarray, c: int, colours: str
) -> tuple[list[tuple[float, float]], list[str]]:
    """The per-tile scale of the first ``c`` channels of ``x`` (``(h, w, C)``) and the text
    under each tile.

    A tile's level ``m`` is the :data:`TILE_PERCENTILE`-th percentile of its finite
    ``|value|`` (``stretch_levels(tile, TILE_PERCENTILE, 0)[1]``: its largest ``|value|``
    when that percentile is 0), for all tiles in one pass
    (:func:`cnnfilter.engine.intensity.channel_levels`); the range is ``(-m, m)`` in the
    diverging map, ``(min, m)`` in gray (``(min, max)`` when ``m`` is not above the
    minimum: a nearly constant tile). The text is the range, followed by the tile's
    largest ``|value|`` (gray: its maximum) when that lies beyond ``m`` and is drawn
    saturated: ``+-3.1 (max 9.1)``.
    """
    from cnnfilter.engine.intensity import channel_levels

    whites = [white for _, white in channel_levels(x[..., :c], TILE_PERCENTILE, 0)]
    ranges, texts = [], []
    for (lo, hi), white in zip(_tile_ranges(x, c, colours, "tile"), whites, strict=True):
        level = min(white, hi) if colours == "diverging" or white > lo else hi
        ranges.append((-level, level) if colours == "diverging" else (lo, level))
        beyond = f" (max {format_number(hi)})" if hi > level else ""
        texts.append(_range_text(*ranges[-1]) + beyond)
    return ranges, texts


def _vector_montage(x: np.ndarray, head: str, colours: str, *, min_tile: int, gap: int):
    """A vector ``(N,)`` as one tile of up to 32 values per row, in order, on one scale
    (the vector's own range: ``[-m, m]``, ``m`` its largest ``|value|``, in the diverging
    map; ``[min, max]`` in gray), headed ``values 0..N-1, 32 per row``. Each value is a
    square cell, enlarged as a tile is (:func:`montage`'s ``min_tile``), framed by
    1-pixel :data:`GUTTER` lines (:func:`_framed`), so that a white cell (gray's maximum,
    the diverging 0) stays visible on the white background; the cells after the last
    value are left blank. The caption (after ``head``) names the one scale and its range.
    """
    n = x.size
    width = min(32, n)
    grid = np.pad(x, (0, -n % width), constant_values=np.nan).reshape(-1, width)
    scale = _tile_range(grid, colours)
    cells = _paint_tiles(grid[..., None], colours, [scale])[0]
    cells.reshape(-1, 3)[n:] = BACKGROUND  # blank, not magenta "non-finite"
    tile = _framed(cells, enlarge_factor(grid.shape, min_side=min_tile), n)
    text = f"values 0..{n - 1}" + (f", {width} per row" if n > width else "")
    label = CAPTION_HEIGHT - 4
    th, tw = tile.shape[:2]
    canvas = np.empty(
        (gap + label + th + gap, max(tw, text_width(text) + 2) + 2 * gap, 3), np.uint8
    )
    _fill_background(canvas)
    canvas[gap + label : gap + label + th, gap : gap + tw] = tile
    _stamp_texts(canvas, [((gap, gap), text)])
    paint = "blue < 0 = white < red" if colours == "diverging" else "black = min, white = max"
    scale_text = f"one scale for the whole vector, {_range_text(*scale)}"
    return with_caption(canvas, f"{head}{colours}: {paint}, {scale_text}")


def _framed(cells: np.ndarray, f: int, n: int) -> np.ndarray:
    """``cells`` (``(rows, cols, 3)`` uint8) enlarged ``f`` times, each ``f x f`` cell with
    a 1-pixel :data:`GUTTER` line on each side (shared between neighbours); the cells from
    the ``n``-th on (row-major) and their right and bottom lines are :data:`BACKGROUND`.

    Returns:
        ``(rows (f + 1) + 1, cols (f + 1) + 1, 3)`` uint8; cell ``(r, q)``'s pixels at rows
        ``r (f + 1) + 1 ..`` and columns ``q (f + 1) + 1 ..``, ``f`` of each.

    >>> for row in _framed(np.zeros((2, 2, 3), np.uint8), 1, 3)[:, :, 0].tolist():
    ...     print(*row)
    168 168 168 168 168
    168 0 168 0 168
    168 168 168 168 168
    168 0 168 255 255
    168 168 168 255 255
    """
    rows, cols = cells.shape[:2]
    blocks = np.empty((rows, f + 1, cols, f + 1, 3), np.uint8)
    blocks[...] = GUTTER
    blocks[:, 1:, :, 1:] = cells[:, None, :, None]
    out = np.empty((rows * (f + 1) + 1, cols * (f + 1) + 1, 3), np.uint8)
    out[...] = GUTTER
    out[:-1, :-1] = blocks.reshape(rows * (f + 1), cols * (f + 1), 3)
    for k in range(n, rows * cols):
        r, q = divmod(k, cols)
        out[r * (f + 1) + 1 : (r + 1) * (f + 1) + 1, q * (f + 1) + 1 : (q + 1) * (f + 1) + 1] = (
            BACKGROUND
        )
    return out
