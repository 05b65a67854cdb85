"""Mapping float responses to pixels (never wrapping) and alpha premultiplication."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnfilter.engine import intensity
from cnnfilter.engine.intensity import (
    RANGE_MODES,
    choose_range,
    premultiply,
    stretch_levels,
    to_pixels,
    unpremultiply,
)
from cnnfilter.errors import UsageError

#: The article's astype('uint8') gives 66 for -190 and 252 for 1020 (modulo 256).
ARTICLE = np.array([-190.0, 1020.0])


def test_wrap_around_values_of_the_article():
    assert ((ARTICLE.astype(np.int64) % 256).tolist()) == [66, 252]  # what the article gets


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("clip", [0, 255]), ("abs", [190, 255]), ("rescale", [0, 255])],
)
def test_article_values_are_never_wrapped(mode, expected):
    out = to_pixels(ARTICLE, mode, max_value=255, dtype=np.uint8)
    assert out.dtype == np.uint8
    assert out.tolist() == expected
    assert 66 not in out.tolist() and 252 not in out.tolist()


def test_clip_rounds_to_nearest_then_clips():
    response = np.array([-0.4, 0.49, 0.51, 12.4, 12.6, 254.4, 254.6, 255.0, 300.0])
    assert to_pixels(response, "clip", max_value=255, dtype=np.uint8).tolist() == [
        0, 0, 1, 12, 13, 254, 255, 255, 255,
    ]  # fmt: skip


def test_abs_takes_magnitudes():
    response = np.array([[-3.2, 3.2], [-255.0, -400.0]])
    assert to_pixels(response, "abs", max_value=255, dtype=np.uint8).tolist() == [
        [3, 3],
        [255, 255],
    ]


def test_rescale_stretches_min_max_over_all_channels():
    response = np.array([[[-190.0, 415.0, 1020.0]]])
    # (415 + 190) / 1210 * 255 = 127.5 -> 128 (round half to even)
    assert to_pixels(response, "rescale", max_value=255, dtype=np.uint8).tolist() == [
        [[0, 128, 255]]
    ]
    assert to_pixels(np.full((2, 2), 7.0), "rescale", max_value=255, dtype=np.uint8).tolist() == [
        [0, 0],
        [0, 0],
    ]


def test_sixteen_bit_range():
    response = np.array([-5.0, 1000.4, 70000.0])
    out = to_pixels(response, "clip", max_value=65535, dtype=np.uint16)
    assert out.dtype == np.uint16 and out.tolist() == [0, 1000, 65535]
    out = to_pixels(response, "rescale", max_value=65535, dtype=np.uint16)
    assert out.tolist() == [0, round(1005.4 / 70005 * 65535), 65535]


def test_choose_range():
    assert choose_range("auto", 0.0) == "stretch"
    assert choose_range("auto", 1e-12) == "stretch"
    assert choose_range("auto", 1.0) == "clip"
    assert choose_range("auto", -8.0) == "clip"
    for mode in ("clip", "abs", "rescale", "stretch"):
        assert choose_range(mode, 0.0) == mode
    assert set(RANGE_MODES) == {"auto", "clip", "abs", "rescale", "stretch"}


def test_unknown_range_modes_are_refused():
    with pytest.raises(
        UsageError,
        match=r"range must be one of auto, clip, abs, rescale, stretch, got "
        r"'wrap'",
    ):
        choose_range("wrap", 0.0)
    with pytest.raises(
        UsageError, match=r"range must be clip, abs, rescale or stretch here, got 'auto'"
    ):
        to_pixels(ARTICLE, "auto", max_value=255, dtype=np.uint8)


def test_premultiply_and_back():
    colour = np.array([[[200, 100, 50], [200, 100, 50], [255, 0, 0]]], dtype=np.uint8)
    alpha = np.array([[255, 51, 0]], dtype=np.uint8)
    pre = premultiply(colour, alpha, 255.0)
    assert pre.dtype == np.float32
    np.testing.assert_allclose(pre[0, 0], [200, 100, 50])
    np.testing.assert_allclose(pre[0, 1], [40, 20, 10], rtol=1e-6)
    assert pre[0, 2].tolist() == [0, 0, 0]  # the hidden red is gone
    back = unpremultiply(pre, alpha.astype(np.float32), 255.0)
    np.testing.assert_allclose(back[0, :2], colour[0, :2], rtol=1e-6)
    assert back[0, 2].tolist() == [0, 0, 0]  # alpha 0: defined as 0, not NaN


def test_premultiply_gray():
    gray = np.array([[100, 100]], dtype=np.uint16)
    alpha = np.array([[65535, 0]], dtype=np.uint16)
    pre = premultiply(gray, alpha, 65535.0)
    assert pre.tolist() == [[100.0, 0.0]]
    assert unpremultiply(pre, alpha.astype(np.float32), 65535.0).tolist() == [[100.0, 0.0]]


def test_stretch_maps_the_percentiles_exactly_to_black_and_full_white():
    # 1000 magnitudes 0.1, 0.2, ..., 100.0 with random signs (numpy's linear rule):
    # the 99.5th percentile of |v| is at position 0.995 * 999 = 994.005: 99.5049...;
    # the 25th at 0.25 * 999 = 249.75: 25.075
    rng = np.random.default_rng(0)
    mags = np.arange(1, 1001) / 10.0
    values = mags * rng.choice([-1.0, 1.0], size=1000)
    black, white = stretch_levels(values, 99.5, 25)
    assert white == pytest.approx(99.5 + 0.005 * 0.1, abs=1e-12)
    assert black == pytest.approx(25.0 + 0.75 * 0.1, abs=1e-12)
    out = to_pixels(values.reshape(25, 40), "stretch", max_value=255, dtype=np.uint8,
                    percentile=99.5, gamma=1.0, black_percentile=25).ravel()  # fmt: skip
    assert (out[mags >= white] == 255).all() and (out[mags < 99.4] < 255).all()
    assert (out[mags <= black] == 0).all() and (out[mags > 25.3] > 0).all()
    expected = np.rint(np.clip((mags - black) / (white - black), 0, 1) * 255)
    np.testing.assert_array_equal(out, expected)
    # black percentile 0: the smallest |v| (0.1 here) is black
    assert stretch_levels(values, 99.5, 0)[0] == 0.1
    half = to_pixels(np.array([white / 4, -white, 0.0]), "stretch", max_value=65535,
                     dtype=np.uint16, percentile=100, gamma=0.5, black_percentile=0)  # fmt: skip
    assert half[0] in (32767, 32768) and half[1] == 65535  # (1/4) ** 0.5 = 1/2: 32767.5
    assert stretch_levels(np.zeros(5)) == (0.0, 0.0)
    assert to_pixels(np.zeros(3), "stretch", max_value=255, dtype=np.uint8).tolist() == [0, 0, 0]
    with pytest.raises(UsageError, match=r"percentile must be in \(0, 100\], got 0"):
        stretch_levels(values, 0)
    with pytest.raises(UsageError, match=r"black percentile must be in \[0, 80\) .*got 80"):
        stretch_levels(values, 80, 80)
    with pytest.raises(UsageError, match=r"black percentile must be in \[0, 99.5\).*got -1"):
        stretch_levels(values, 99.5, -1)
    with pytest.raises(UsageError, match="gamma must be > 0"):
        to_pixels(values, "stretch", max_value=255, dtype=np.uint8, gamma=0)


def test_stretch_black_level_falls_back_to_zero_for_few_distinct_values():
    # |v| is 0 or 4, mostly 4: the 75th and 99.5th percentiles are both 4; with black at 4
    # nothing could be drawn, so black is 0 and the 4s are white
    x = np.array([0.0] * 10 + [4.0, -4.0] * 45)
    assert stretch_levels(x, 99.5, 75) == (0.0, 4.0)
    assert np.unique(to_pixels(x, "stretch", max_value=255, dtype=np.uint8)).tolist() == [0, 255]
    # mostly 0: the white rule takes the largest |value|, black stays 0
    sparse = np.zeros(1000)
    sparse[3] = -7.0
    assert stretch_levels(sparse) == (0.0, 7.0)


def test_stretch_with_black_point_on_a_photo_like_map():
    # a hand-written map of the default stretch: |v| under the 75th percentile black,
    # over the 99.5th white, a square root between
    rng = np.random.default_rng(11)
    x = (rng.laplace(size=(300, 200, 3)) * 20).astype(np.float32)
    a = np.abs(x.astype(np.float64))
    black, white = np.percentile(a, [75, 99.5])
    assert stretch_levels(x) == (black, white)
    got = to_pixels(x, "stretch", max_value=255, dtype=np.uint8)
    want = 255 * np.sqrt(np.clip((a - black) / (white - black), 0, 1))
    assert np.abs(got - want).max() <= 0.5 + 1e-3
    assert (got[a <= black] == 0).all() and (got[a >= white] == 255).all()
    assert (got == 0).mean() == pytest.approx(0.75, abs=1e-3)


# stretch_levels's fast way (_fast_levels): a sample picks a window of values around each
# rank, only the values inside it are partitioned. It must equal np.percentile of the
# float64 magnitudes bit for bit; small sizes here (TAIL_MIN_SIZE and TAIL_SAMPLE lowered)
# reach every branch.


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.one_of(st.integers(1, 100), st.integers(1000, 6000)),
    percentile=st.one_of(
        st.sampled_from([99.5, 99.9, 90.0, 50.0, 100.0, 0.01]), st.floats(90.0, 100.0),
        st.floats(0.001, 100.0),
    ),
    black=st.one_of(st.sampled_from([0.0, 75.0, 50.0, 0.5]), st.floats(0.0, 0.99)),
    kind=st.sampled_from(["normal", "ties", "zeros", "heavy", "bad", "strided"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    sample=st.sampled_from([16, 64, 1024]),
    seed=st.integers(0, 2**31 - 1),
)  # fmt: skip
def test_stretch_levels_equal_numpy_percentile(n, percentile, black, kind, dtype, sample, seed):
    black_percentile = black * percentile if black <= 1 else min(black, percentile / 2)
    rng = np.random.default_rng(seed)
    if kind == "ties":
        x = rng.integers(-5, 6, n).astype(dtype)
    elif kind == "zeros":
        x = np.where(rng.random(n) < 0.995, 0, rng.standard_normal(n)).astype(dtype)
    elif kind == "heavy":
        x = (rng.standard_cauchy(n) * 1e3).astype(dtype)
    else:
        x = rng.standard_normal(n).astype(dtype)
    if kind == "bad" and n > 3:
        x[rng.integers(0, n, 3)] = [np.nan, np.inf, -np.inf]
    if kind == "strided":  # the sample sees only large values: its windows are too high
        x[:: max(1, n // sample)] += 100
    finite = np.abs(x.astype(np.float64))
    finite = finite[np.isfinite(finite)]
    want_black, want = (
        (float(v) for v in np.percentile(finite, [black_percentile, percentile]))
        if finite.size
        else (0.0, 0.0)
    )
    if want == 0 and finite.size:
        want = float(finite.max())
    if not want_black < want:
        want_black = 0.0
    mp = pytest.MonkeyPatch()
    ran = []
    real = intensity._fast_levels
    try:
        mp.setattr(intensity, "TAIL_MIN_SIZE", 64)
        mp.setattr(intensity, "TAIL_SAMPLE", sample)
        mp.setattr(intensity, "_fast_levels", lambda *a: ran.append(real(*a)) or ran[-1])
        got = stretch_levels(x.reshape(-1, 1) if n % 2 else x, percentile, black_percentile)
    finally:
        mp.undo()
    assert got == (want_black, want)  # bit for bit
    # (a sample of 64 leaves windows too wide for the black point: the sorting way runs)
    if kind in ("normal", "heavy") and n >= 1000 and sample >= 1024 and 90 <= percentile < 100:
        assert ran[-1] is not None  # the fast way ran (and was not sent back)


def test_stretch_levels_send_a_misleading_sample_back(monkeypatch):
    # every 312th value is large: the sample (64 values) sees only those, so its window
    # leaves more than floor(v) values below it; the fast way must say so, not guess
    x = np.random.default_rng(4).standard_normal(20000)
    x[::312] += 100
    monkeypatch.setattr(intensity, "TAIL_SAMPLE", 64)
    monkeypatch.setattr(intensity, "TAIL_MIN_SIZE", 64)
    assert intensity._fast_levels(x, (99.5,)) is None
    assert intensity._fast_levels(x, (75.0, 99.9)) is None  # the 75th misled too
    assert stretch_levels(x, 99.5, 75) == tuple(np.percentile(np.abs(x), [75, 99.5]))
    assert intensity._fast_levels(x, (99.9,)) is not None  # above the large ones' share


def test_stretch_levels_count_a_window_of_ties(monkeypatch):
    # integer responses: the 75th percentile's window holds one value, which is only counted
    monkeypatch.setattr(intensity, "TAIL_MIN_SIZE", 64)
    # 2000 values, 4 at ranks 200-1849: the windows (about 270 ranks either side of 1499)
    # fall inside it
    x = np.repeat(np.arange(10.0), [150, 25, 25, 0, 1650, 30, 30, 30, 30, 30])
    np.random.default_rng(2).shuffle(x)
    calls = []
    real = intensity._scan
    monkeypatch.setattr(intensity, "_scan", lambda m, w: calls.append(w) or real(m, w))
    assert intensity._fast_levels(x, (75.0, 99.5)) == [4.0, 9.0]
    assert calls[0].t_lo == calls[0].t_hi == 4.0
    assert stretch_levels(x, 99.5, 75) == tuple(np.percentile(x, [75, 99.5]))


def test_stretch_maps_large_arrays_in_blocks_like_the_formula():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((700, 300, 3)) * 40).astype(np.float32)
    levels = stretch_levels(x)
    black, white = np.percentile(np.abs(x.astype(np.float64)), [75, 99.5])
    assert levels == (black, white)
    for gamma in (0.5, 1.0, 0.7):
        got = to_pixels(x, "stretch", max_value=255, dtype=np.uint8, gamma=gamma)
        a = np.abs(x.astype(np.float64))
        expected = 255 * np.clip((a - black) / (white - black), 0, 1) ** gamma
        assert np.abs(got - expected).max() <= 0.5 + 1e-3
        same = to_pixels(x, "stretch", max_value=255, dtype=np.uint8, gamma=gamma, levels=levels)
        np.testing.assert_array_equal(got, same)  # given levels are the computed ones


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stretch_levels_fast_way_on_many_arrays(monkeypatch, dtype):
    """NumPy interpolates as ``b - (b - a)(1 - t)`` for ``t >= 0.5``: the last bit counts."""
    monkeypatch.setattr(intensity, "TAIL_MIN_SIZE", 64)
    rng = np.random.default_rng(5)
    for _ in range(60):
        x = (rng.standard_normal(int(rng.integers(2000, 6000))) * 37).astype(dtype)
        a = np.abs(x.astype(np.float64))
        pairs = [(99.5, 75.0), (99.9, 50.0), (95.0, 10.0)]
        pairs.append((float(rng.uniform(90, 100)), float(rng.uniform(5, 90))))
        for p, b in pairs:
            assert intensity._fast_levels(x, (b, p)) is not None
            assert stretch_levels(x, p, b) == tuple(float(v) for v in np.percentile(a, [b, p]))


# channel_levels: stretch_levels of every channel of an H x W x C map in one pass; each
# channel's pair must equal np.percentile of that channel's finite float64 |value| bit for
# bit, with the stretch's rule (white 0 -> the largest |value|, black not below white -> 0).


def _percentile_rule(tile: np.ndarray, percentile: float, black_percentile: float):
    """The reference: one channel, NumPy's percentile on its finite float64 magnitudes."""
    a = np.abs(np.asarray(tile, dtype=np.float64)).ravel()
    a = a[np.isfinite(a)]
    if not a.size:
        return 0.0, 0.0
    black, white = (float(v) for v in np.percentile(a, [black_percentile, percentile]))
    if not white > 0:
        white = float(a.max())
    return (black if black < white else 0.0), white


@st.composite
def _maps(draw):
    from hypothesis.extra import numpy as hnp

    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = draw(st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(1, 6)))
    kind = draw(st.sampled_from(["any", "ties", "zeros", "normal"]))
    if kind == "any":  # every float: NaN, inf, -0.0, subnormals, the largest ones
        width = 32 if dtype == np.float32 else 64
        return draw(hnp.arrays(dtype, shape, elements=st.floats(width=width)))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    if kind == "ties":
        x = rng.integers(-3, 4, shape).astype(dtype)
    elif kind == "zeros":  # ReLU maps with a few live pixels: the percentile is often 0
        x = np.where(rng.random(shape) < 0.97, 0.0, rng.standard_normal(shape)).astype(dtype)
    else:
        x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4)).astype(dtype)
    bad = draw(st.sampled_from([None, "some", "channel"]))
    if bad == "some":
        x[rng.random(shape) < 0.2] = rng.choice([np.nan, np.inf, -np.inf])
    elif bad == "channel":  # one channel with no finite value at all
        x[..., rng.integers(0, shape[2])] = np.nan
    return x


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    x=_maps(),
    percentile=st.one_of(st.sampled_from([99.5, 100.0, 50.0, 0.01]), st.floats(0.001, 100.0)),
    black=st.one_of(st.sampled_from([0.0, 0.75]), st.floats(0.0, 0.99)),
)
def test_channel_levels_equal_numpy_percentile_per_channel(x, percentile, black):
    black_percentile = black * percentile
    got = intensity.channel_levels(x, percentile, black_percentile)
    assert len(got) == x.shape[2]
    for i, levels in enumerate(got):
        assert levels == _percentile_rule(x[..., i], percentile, black_percentile), i
        assert levels == stretch_levels(x[..., i], percentile, black_percentile), i
        assert all(type(v) is float for v in levels)


def test_channel_levels_of_a_few_hand_made_channels():
    x = np.zeros((2, 3, 4), np.float32)
    x[..., 0] = [[1, -2, 3], [-4, 5, -6]]  # |value| 1..6
    x[0, 0, 1] = -7.0  # one live pixel among zeros
    x[..., 3] = [[np.nan, np.inf, 2], [-np.inf, np.nan, np.nan]]  # one finite value: 2
    t = 5 * 0.995 - 4  # position 4.975 between the 5th and the 6th value, b - (b - a)(1 - t)
    assert intensity.channel_levels(x, 99.5, 0) == [
        (1.0, 6.0 - (6.0 - 5.0) * (1 - t)),
        (0.0, 7.0 - (7.0 - 0.0) * (1 - t)),
        (0.0, 0.0),  # all zero
        (0.0, 2.0),  # black (2) not below white (2): 0
    ]
    # the 50th percentile of the mostly-zero channel is 0: its largest |value| instead
    assert intensity.channel_levels(x, 50, 0)[1] == (0.0, 7.0)
    assert intensity.channel_levels(x[..., 0], 50, 25) == [(2.25, 3.5)]  # (H, W): one channel


def test_channel_levels_refuse_bad_arguments():
    with pytest.raises(UsageError, match="percentile must be in"):
        intensity.channel_levels(np.ones((2, 2, 1)), 0)
    with pytest.raises(UsageError, match="black percentile"):
        intensity.channel_levels(np.ones((2, 2, 1)), 80, 80)
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        intensity.channel_levels(np.ones(5))


def test_channel_levels_of_integer_maps_do_not_wrap():
    x = np.array([[[-128, 3]], [[127, -3]]], np.int8)  # abs(int8(-128)) wraps to -128
    assert intensity.channel_levels(x, 100, 0) == [(127.0, 128.0), (0.0, 3.0)]
