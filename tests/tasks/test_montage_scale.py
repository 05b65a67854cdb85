"""The montage's scales: a vector's cells framed so that a white cell stays visible, on one
scale named in the caption; the per-tile level (the 99.5th percentile of |value|) that a
zero-padded border's few strong values cannot wash out. The expected pictures are built
here by loops over cells and pixels, with NumPy's percentile as the reference level."""

from __future__ import annotations

import numpy as np
import pytest

from cnnfilter.render import CAPTION_HEIGHT, colormap_lut, format_number, montage, with_caption
from cnnfilter.render.montage import GUTTER, TILE_PERCENTILE

LABEL = CAPTION_HEIGHT - 4
#: The first tile's top-left pixel in a montage drawn with gap=4: caption, gap, label.
TOP, LEFT = CAPTION_HEIGHT + 4 + LABEL, 4
MAGENTA = (255, 0, 255)


def _text_strip(text: str, width: int) -> np.ndarray:
    """``text`` as Pillow draws it at (0, 0) on white, ``LABEL`` rows tall."""
    from PIL import Image, ImageDraw, ImageFont

    strip = Image.new("RGB", (width, LABEL), (255, 255, 255))
    ImageDraw.Draw(strip).text((0, 0), text, fill=(0, 0, 0), font=ImageFont.load_default())
    return np.asarray(strip)


def _gray(v, lo, hi):
    return int(np.clip(np.rint((v - lo) * 255.0 / (hi - lo)), 0, 255))


def _expected_vector_tile(values, colour_of, f):
    """The framed cells, by loops: each value an f x f cell at (1 + r (f + 1), 1 + q (f + 1)),
    32 to a row, each cell's frame (its 4 sides, corners included) in GUTTER, the rest white."""
    n = len(values)
    width = min(32, n)
    rows = -(-n // width)
    tile = np.full((rows * (f + 1) + 1, width * (f + 1) + 1, 3), 255, np.uint8)
    for k, v in enumerate(values):
        r, q = divmod(k, width)
        y, x = r * (f + 1), q * (f + 1)
        tile[y : y + f + 2, x : x + f + 2] = GUTTER
        tile[y + 1 : y + f + 1, x + 1 : x + f + 1] = colour_of(v)
    return tile


def test_the_gutter_colour_is_no_colour_a_value_is_drawn_in():
    lut = colormap_lut("rdbu")
    assert len(set(GUTTER)) > 1  # not a gray: the gray map draws only r == g == b
    assert not (lut == np.array(GUTTER)).all(axis=1).any()
    assert GUTTER not in (MAGENTA, (255, 255, 255))


@pytest.mark.parametrize("scale", ["tile", "shared"])
def test_a_white_cell_of_a_vector_keeps_its_frame(scale):
    x = np.array([0.2, 1.0, 0.5, 0.0, 0.7, 0.3, 0.9, 0.1], np.float32)  # ReLU'd: gray, 1 white
    values = x.tolist()  # the float32 values, as the montage sees them
    pic = montage(x, title="fc (dense)", scale=scale)
    f = 64  # one row of 8 cells, enlarged until the row is 64 pixels tall
    want = _expected_vector_tile(values, lambda v: (_gray(v, 0.0, 1.0),) * 3, f)
    th, tw = want.shape[:2]
    np.testing.assert_array_equal(pic[TOP : TOP + th, LEFT : LEFT + tw], want)
    # the white cell (value 1.0, cell 1) has a GUTTER line on each of its four sides
    y, x = TOP + 1, LEFT + 1 + (f + 1)
    assert (pic[y : y + f, x : x + f] == 255).all()
    for side in (pic[y - 1, x : x + f], pic[y + f, x : x + f], pic[y : y + f, x - 1],
                 pic[y : y + f, x + f]):  # fmt: skip
        assert (side == GUTTER).all()
    # nothing else in the picture (values, the head above the tile, the caption) is GUTTER
    is_gutter = (pic == GUTTER).all(axis=2)
    assert is_gutter.sum() == 2 * tw + 9 * f
    rows, cols = np.nonzero(is_gutter)
    assert (rows.min(), cols.min()) == (TOP, LEFT)
    # the head "values 0..7" is where it was, in the rows just above the frame
    np.testing.assert_array_equal(pic[TOP - LABEL : TOP, LEFT : LEFT + 100],
                                  _text_strip("values 0..7", 100))  # fmt: skip
    caption = (
        "fc (dense)  8  range 0 .. 1  gray: black = min, white = max, "
        "one scale for the whole vector, 0..1"
    )
    np.testing.assert_array_equal(with_caption(pic[CAPTION_HEIGHT:], caption), pic)


def test_a_long_signed_vector_has_blank_cells_after_its_last_value():
    rng = np.random.default_rng(5)
    values = rng.normal(size=50).astype(np.float32)
    values[7] = 0.0  # drawn white in the diverging map
    pic = montage(values, title="fc (dense)")
    m = float(np.abs(values).max())
    lut = colormap_lut("rdbu")
    f = 32  # two rows of 32 cells, enlarged until they are 64 pixels tall
    want = _expected_vector_tile(
        values.tolist(), lambda v: lut[int(np.clip(np.rint((v + m) * 255 / (2 * m)), 0, 255))], f
    )
    th, tw = want.shape[:2]
    np.testing.assert_array_equal(pic[TOP : TOP + th, LEFT : LEFT + tw], want)
    assert not (pic == MAGENTA).all(axis=2).any()  # the 14 blank cells are not "non-finite"
    assert (pic[TOP + th - f : TOP + th, LEFT + tw - 14 * (f + 1) :] == 255).all()
    caption = (
        f"fc (dense)  50  range {format_number(values.min())} .. {format_number(values.max())}"
        f"  diverging: blue < 0 = white < red, one scale for the whole vector, +-{format_number(m)}"
    )
    np.testing.assert_array_equal(with_caption(pic[CAPTION_HEIGHT:], caption)[:CAPTION_HEIGHT],
                                  pic[:CAPTION_HEIGHT])  # fmt: skip


def test_a_vector_is_the_same_picture_in_both_scales():
    values = np.linspace(-3, 5, 40, dtype=np.float32)
    np.testing.assert_array_equal(montage(values, title="v", scale="tile"),
                                  montage(values, title="v", scale="shared"))  # fmt: skip


def _bordered_map(signed: bool) -> np.ndarray:
    """A 64 x 64 map: a weak interior (|value| < 1) and 10 strong values (9) along the top
    border, as a zero-padded 'same' convolution gives where a bright edge meets the padding."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64, 64)) if signed else rng.uniform(0, 1, (64, 64))
    x[0, :10] = 9.0
    return x.astype(np.float32)[:, :, None]


@pytest.mark.parametrize("signed", [True, False])
def test_a_strong_border_does_not_dim_the_interior_of_its_tile(signed):
    x = _bordered_map(signed)
    v = x[:, :, 0].astype(np.float64)
    level = float(np.percentile(np.abs(v), 99.5))  # 10 of 4096 values lie above it
    assert 0.9 < level < 1.0
    pic = montage(x, title="conv (conv2d)", scale="tile")
    tile = pic[TOP : TOP + 64, LEFT : LEFT + 64].astype(int)
    lut = colormap_lut("rdbu").astype(int)
    for r, c in [(1, 0), (5, 7), (30, 40), (63, 63), (0, 10)]:
        if signed:
            want = lut[int(np.clip(np.rint((v[r, c] + level) * 255 / (2 * level)), 0, 255))]
        else:
            want = [_gray(v[r, c], float(v.min()), level)] * 3
        assert tile[r, c].tolist() == list(want), (r, c)
    # the border's strong values saturate: full red, or white
    assert (tile[0, :10] == (lut[255] if signed else 255)).all()
    lo = "+-" if signed else f"{format_number(v.min())}.."
    under = f"{lo}{format_number(level)} (max 9)"
    np.testing.assert_array_equal(pic[TOP + 64 : TOP + 64 + LABEL, LEFT : LEFT + 120],
                                  _text_strip(under, 120))  # fmt: skip
    # on the layer's full range (the shared scale, max 9) the interior is 9 times fainter
    shared = montage(x, title="conv (conv2d)", scale="shared")[TOP : TOP + 64, LEFT : LEFT + 64]
    zero = lut[128] if signed else np.zeros(3)
    contrast = np.abs(tile[1:] - zero).mean()
    assert contrast > 5 * np.abs(shared[1:].astype(int) - zero).mean()


def test_the_tile_level_is_the_one_rule_of_the_stretch():
    from cnnfilter.engine.choices import STRETCH_PERCENTILE

    assert TILE_PERCENTILE == STRETCH_PERCENTILE == 99.5


def test_a_mostly_zero_tile_is_drawn_on_its_maximum():
    # 99.5 % zeros (a ReLU map with a few live pixels): the percentile is 0, so the level
    # is the largest value, as apply's stretch does, and nothing saturates
    x = np.zeros((64, 64, 1), np.float32)
    x[10, 10], x[20, 20] = 4.0, 2.0
    pic = montage(x, title="relu (relu)")
    assert pic[TOP + 10, LEFT + 10].tolist() == [255] * 3
    assert pic[TOP + 20, LEFT + 20].tolist() == [128] * 3
    np.testing.assert_array_equal(pic[TOP + 64 : TOP + 64 + LABEL, LEFT : LEFT + 60],
                                  _text_strip("0..4", 60))  # fmt: skip


def _levels_one_tile_at_a_time(maps, *_):
    """The per-tile levels as montages drew them before channel_levels: the 99.5th
    percentile of each tile's finite float64 |value| by np.percentile (the black level, 0th,
    unused), the stretch's rule for a white level of 0."""
    levels = []
    for i in range(maps.shape[2]):
        a = np.abs(maps[..., i].astype(np.float64)).ravel()
        a = a[np.isfinite(a)]
        if not a.size:
            levels.append((0.0, 0.0))
            continue
        black, white = (float(v) for v in np.percentile(a, [0, 99.5]))
        white = white if white > 0 else float(a.max())
        levels.append((black if black < white else 0.0, white))
    return levels


def _layer_maps():
    """The maps of the gallery's two forward pictures (docs/gallery.sh), and random layers
    of a ResNet's shapes: signed, after ReLU, mostly zero, with NaN and inf."""
    from cnnfilter import forward
    from cnnfilter.tasks.forward import read_input

    from helpers import ROOT

    photo = read_input(ROOT / "samples" / "article" / "cameraman.png")
    for arch in ("article_first_layer", "article_two_layers"):
        maps = forward(ROOT / "samples" / "arch" / f"{arch}.yaml", photo)
        yield from ((f"{arch} {name}", y) for name, y in maps.items())
    rng = np.random.default_rng(11)
    for shape in [(56, 56, 64), (14, 14, 300), (7, 7, 512), (3, 5, 2)]:
        x = rng.standard_normal(shape).astype(np.float32)
        yield f"signed {shape}", x
        yield f"relu {shape}", np.maximum(x, 0)
        yield f"sparse {shape}", np.where(rng.random(shape) < 0.996, 0, x)
        bad = x.copy()
        bad[rng.random(shape) < 0.01] = np.nan
        bad[..., 1] = np.inf
        yield f"non-finite {shape}", bad


def test_montages_are_the_pixels_of_one_percentile_per_tile(monkeypatch):
    # channel_levels (all tiles in one pass) draws what one np.percentile per tile drew,
    # on the gallery's forward maps: docs/img/forward_* stay as they are
    from cnnfilter.engine import intensity

    names = []
    for name, y in _layer_maps():
        names.append(name)
        for scale in ("tile", "shared"):
            fast = montage(y, title=name, scale=scale)
            with monkeypatch.context() as mp:
                mp.setattr(intensity, "channel_levels", _levels_one_tile_at_a_time)
                slow = montage(y, title=name, scale=scale)
            np.testing.assert_array_equal(fast, slow, err_msg=name)
    assert sum(n.startswith("article_") for n in names) == 6  # 3 layers each
