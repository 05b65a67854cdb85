"""The fast montage (one lookup table for every tile, tiles enlarged straight into the
canvas, each distinct label rendered once) draws the same pixels as the montage it
replaced: one Pillow ``draw.text`` per label and one colour mapping per tile, kept here
as the reference (``_montage_before``, the code of the montage before the change, since
given the per-tile level: the 99.5th percentile of a tile's |value|, from NumPy here)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnfilter import render
from cnnfilter.render import (
    BACKGROUND,
    CAPTION_HEIGHT,
    MONTAGE_MAX_TILES,
    colorize,
    enlarge,
    enlarge_factor,
    format_number,
    montage,
    montage_colours,
    text_width,
)
from cnnfilter.render.montage import _range_text
from cnnfilter.render.text import _stamp_texts


def _tile_range(t, colours):
    finite = t[np.isfinite(t)]
    if not finite.size:
        return 0.0, 0.0
    lo, hi = float(finite.min()), float(finite.max())
    if colours == "diverging":
        m = max(-lo, hi, 0.0)
        return -m, m
    return lo, hi


def _tile_level(t, colours):
    """The per-tile scale: full colour at the 99.5th percentile of |value| (the maximum when
    that is 0, or, in gray, not above the minimum); the text under the tile."""
    lo, hi = _tile_range(t, colours)
    a = np.abs(t[np.isfinite(t)].astype(np.float64))
    p = float(np.percentile(a, 99.5)) if a.size else 0.0
    p = p if p > 0 else hi
    if colours == "diverging":
        rng = (-p, p)
    else:
        rng = (lo, p) if p > lo else (lo, hi)
    beyond = f" (max {format_number(hi)})" if hi > rng[1] else ""
    return rng, _range_text(*rng) + beyond


def _paint(t, colours, lo, hi):
    bad = ~np.isfinite(t)
    v = np.where(bad, lo, t).astype(np.float64)
    if colours == "diverging":
        rgb = (
            colorize(v, cmap="rdbu", lo=lo, hi=hi)
            if hi > lo
            else colorize(np.zeros(v.shape), cmap="rdbu", lo=-1.0, hi=1.0)
        )
    else:
        g = (v - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros(v.shape)
        g = np.clip(np.rint(g), 0, 255).astype(np.uint8)
        rgb = np.repeat(g[..., None], 3, axis=2)
    rgb[bad] = (255, 0, 255)
    return rgb


def _text_width(text):
    from PIL import Image, ImageDraw, ImageFont

    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left, _, right, _ = draw.textbbox((0, 0), text, font=ImageFont.load_default())
    return int(right - left)


def _with_caption_before(picture, caption):
    from PIL import Image, ImageDraw, ImageFont

    pic = np.asarray(picture)
    h, w = pic.shape[:2]
    width = max(w, text_width(caption) + 8)
    canvas = np.full((CAPTION_HEIGHT + h, width, 3), BACKGROUND, dtype=np.uint8)
    canvas[CAPTION_HEIGHT:, :w] = pic
    image = Image.fromarray(canvas)
    ImageDraw.Draw(image).text((4, 3), caption, fill=(0, 0, 0), font=ImageFont.load_default())
    return np.asarray(image).copy()


def _montage_before(maps, *, title, scale="tile", min_tile=64, gap=4):
    from PIL import Image, ImageDraw, ImageFont

    x = np.asarray(maps, dtype=np.float32)
    shape = " x ".join(map(str, x.shape))
    colours = montage_colours(x)
    finite = x[np.isfinite(x)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    c = min(x.shape[2], MONTAGE_MAX_TILES)
    if scale == "tile":
        ranges, unders = zip(*(_tile_level(x[..., i], colours) for i in range(c)), strict=True)
    else:
        ranges = [_tile_range(x, colours)] * c
    f = enlarge_factor(x.shape[:2], min_side=min_tile)
    th, tw = x.shape[0] * f, x.shape[1] * f
    label = CAPTION_HEIGHT - 4
    under = label if scale == "tile" else 0
    cell_w = max(tw, *(_text_width(u) + 2 for u in unders)) if under else tw
    cols = max(1, min(c, math.ceil(math.sqrt(c))))
    rows = math.ceil(c / cols)
    cell_h = label + th + under + gap
    canvas = np.full((rows * cell_h + gap, cols * (cell_w + gap) + gap, 3), BACKGROUND, np.uint8)
    texts = []
    for i in range(c):
        r, q = divmod(i, cols)
        y0, x0 = gap + r * cell_h + label, gap + q * (cell_w + gap)
        canvas[y0 : y0 + th, x0 : x0 + tw] = enlarge(_paint(x[..., i], colours, *ranges[i]), f)
        texts.append(((x0, y0 - label), str(i)))
        if under:
            texts.append(((x0, y0 + th), unders[i]))
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for spot, words in texts:
        draw.text(spot, words, fill=(0, 0, 0), font=ImageFont.load_default())
    more = f", first {c} of {x.shape[2]} channels" if x.shape[2] > c else ""
    if scale == "shared":
        paint = {"diverging": "blue < 0 = white < red", "gray": "black = min, white = max"}
        where = f"{colours}: {paint[colours]}, shared scale"
    else:
        paint = {"diverging": "blue < 0 = white < red, per-tile scale:", "gray": "black = min, "
                 "white = per-tile"}  # fmt: skip
        where = f"{colours}: {paint[colours]} 99.5th percentile of |value| (under each tile)"
    span = f"range {format_number(lo)} .. {format_number(hi)}"
    if not np.isfinite(x).any():  # said since the breaker's case: not a layer of zeros
        span = "no finite value (all NaN or inf)"
    caption = f"{title}  {shape}  {span}  {where}{more}"
    return _with_caption_before(np.asarray(image), caption)


def _maps(seed, shape, kind):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(np.float32) * rng.uniform(0.01, 100)
    if kind == "relu":
        x = np.maximum(x, 0)
    elif kind == "border":
        x[0, 0] = 1e3  # 1 strong value of 400 per tile: above the 99.5th percentile
        x[-1, -1, 1] = -2e3
    elif kind == "special" and x.ndim == 3:
        x[..., 0] = 0.0  # a constant tile
        x[..., 1:2] = 3.5  # another, not 0
        x[:1, :1, 2:3] = np.nan
        x[-1:, -1:, -1] = np.inf
        x[..., 3:4] = np.nan  # a tile with no finite value
    return x


CASES = [
    ((5, 7, 3), "signed"),
    ((5, 7, 3), "relu"),
    ((12, 9, 6), "special"),
    ((30, 40, 17), "signed"),
    ((3, 3, 300), "relu"),  # more channels than MONTAGE_MAX_TILES
    ((1, 1, 1), "signed"),
    ((200, 3, 2), "relu"),
    ((20, 20, 2), "border"),  # a strong border, a weak interior: the interior saturates less
]


@pytest.mark.parametrize("scale", ["tile", "shared"])
@pytest.mark.parametrize(("shape", "kind"), CASES)
def test_the_montage_has_the_pixels_of_the_one_it_replaced(shape, kind, scale):
    x = _maps(sum(shape), shape, kind)
    want = _montage_before(x, title="layer (conv2d)", scale=scale)
    have = montage(x, title="layer (conv2d)", scale=scale)
    assert have.dtype == np.uint8 and have.shape == want.shape
    assert np.array_equal(have, want), np.argwhere((have != want).any(axis=2))[:5]


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    c=st.integers(1, 12),
    seed=st.integers(0, 2**16),
    kind=st.sampled_from(["signed", "relu", "special"]),
)
def test_random_layers_draw_the_same_pixels(h, w, c, seed, kind):
    if (h, w) == (1, 1) and c > 1:
        c = 1  # 1 x 1 x C is drawn as a vector now (test below)
    x = _maps(seed, (h, w, c), kind)
    assert np.array_equal(montage(x, title="t (relu)"), _montage_before(x, title="t (relu)"))


@pytest.mark.parametrize("caption", ["", "conv1 (conv2d)  64 x 64 x 3  range -1.5 .. 2", "x" * 90])
@pytest.mark.parametrize("shape", [(3, 5, 3), (40, 700, 3), (1, 1, 3)])
def test_with_caption_draws_the_pixels_it_drew_before(caption, shape):
    picture = np.random.default_rng(len(caption)).integers(0, 256, shape, dtype=np.uint8)
    picture[0, :2] = 255  # white where the caption's ink may fall
    assert np.array_equal(render.with_caption(picture, caption),
                          _with_caption_before(picture, caption))  # fmt: skip


def test_a_label_over_a_picture_is_drawn_by_pillow():
    # text whose ink falls on a coloured pixel is blended by Pillow, not stamped
    from PIL import Image, ImageDraw, ImageFont

    canvas = np.full((20, 40, 3), 255, np.uint8)
    canvas[8:, :] = (10, 200, 30)
    want = Image.fromarray(canvas.copy())
    ImageDraw.Draw(want).text((3, 2), "42", fill=(0, 0, 0), font=ImageFont.load_default())
    _stamp_texts(canvas, [((3, 2), "42"), ((38, 18), "7")])
    ImageDraw.Draw(want).text((38, 18), "7", fill=(0, 0, 0), font=ImageFont.load_default())
    assert np.array_equal(canvas, np.asarray(want))


def test_names_follow_the_index_above_the_tiles_and_widen_the_cells_they_need():
    x = np.arange(2 * 2 * 2, dtype=np.float32).reshape(2, 2, 2) - 3
    plain = montage(x, title="t")
    named = montage(x, title="t", names=("vertical-lines", "curve"))
    head = "0 vertical-lines"
    assert text_width(head) + 2 > 64  # wider than a 64-pixel tile: the cells grow
    assert named.shape == plain.shape  # the caption is wider than both
    # the first tile's pixels are where they were, under a different label; the second
    # tile moves right by the widening of the first cell
    y0, y1 = 2 * CAPTION_HEIGHT, 2 * CAPTION_HEIGHT + 60
    np.testing.assert_array_equal(named[y0:y1, 4:68], plain[y0:y1, 4:68])
    cell = max(64, *(text_width(_tile_level(x[..., i], "diverging")[1]) + 2 for i in (0, 1)))
    x_plain, x_named = 4 + cell + 4, 4 + text_width(head) + 2 + 4
    np.testing.assert_array_equal(
        named[y0:y1, x_named : x_named + 64], plain[y0:y1, x_plain : x_plain + 64]
    )
    assert not np.array_equal(named[CAPTION_HEIGHT : 2 * CAPTION_HEIGHT - 4, 4:120],
                              plain[CAPTION_HEIGHT : 2 * CAPTION_HEIGHT - 4, 4:120])  # fmt: skip
    one = montage(x, title="t", names=("box",))  # fewer names: the rest keep the index
    assert one.shape == plain.shape


@pytest.mark.parametrize("scale", ["tile", "shared"])
def test_a_1x1_layer_is_drawn_as_its_vector_on_one_scale(scale):
    """Global pooling's 1 x 1 x C: per-channel tiles would each be flat (black); as a vector
    the values compare. The pixels under the caption are the vector's."""
    x = _maps(7, (64,), "signed")
    pooled = montage(x.reshape(1, 1, 64), title="gap (global_avgpool2d)", scale=scale)
    vector = montage(x, title="gap (global_avgpool2d)", scale=scale)
    assert pooled.shape == vector.shape
    np.testing.assert_array_equal(pooled[CAPTION_HEIGHT:], vector[CAPTION_HEIGHT:])
    assert len(np.unique(pooled[CAPTION_HEIGHT:].reshape(-1, 3), axis=0)) > 20  # not black


def test_a_vector_is_headed_by_its_index_range_and_row_length():
    x = _maps(3, (50,), "signed")
    named = montage(x, title="fc (dense)")
    from PIL import Image, ImageDraw, ImageFont

    # the head, drawn by Pillow at the tile's corner, is the text "values 0..49, 32 per row"
    strip = np.full((CAPTION_HEIGHT - 4, 200, 3), 255, np.uint8)
    want = Image.fromarray(strip)
    ImageDraw.Draw(want).text((0, 0), "values 0..49, 32 per row", fill=(0, 0, 0),
                              font=ImageFont.load_default())  # fmt: skip
    got = named[CAPTION_HEIGHT + 4 : 2 * CAPTION_HEIGHT, 4:204]
    assert np.array_equal(got, np.asarray(want))
