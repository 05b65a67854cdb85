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
    stretch_level,
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


def test_stretch_maps_the_percentile_exactly_to_full_white():
    # 1000 magnitudes 0.1, 0.2, ..., 100.0 with random signs: the 99.5th percentile of
    # |v| is 99.5049... (numpy's linear rule: position 0.995 * 999 = 994.005)
    rng = np.random.default_rng(0)
    mags = np.arange(1, 1001) / 10.0
    values = mags * rng.choice([-1.0, 1.0], size=1000)
    level = stretch_level(values, 99.5)
    assert level == pytest.approx(99.5 + 0.005 * 0.1, abs=1e-12)
    out = to_pixels(values.reshape(25, 40), "stretch", max_value=255, dtype=np.uint8,
                    percentile=99.5, gamma=1.0).ravel()  # fmt: skip
    assert (out[mags >= level] == 255).all() and (out[mags < 99.4] < 255).all()
    np.testing.assert_array_equal(out, np.rint(np.minimum(mags / level, 1) * 255))
    half = to_pixels(np.array([level / 4, -level]), "stretch", max_value=65535,
                     dtype=np.uint16, percentile=100, gamma=0.5)  # fmt: skip
    assert half[0] in (32767, 32768) and half[1] == 65535  # (1/4) ** 0.5 = 1/2: 32767.5
    assert stretch_level(np.zeros(5)) == 0.0
    assert to_pixels(np.zeros(3), "stretch", max_value=255, dtype=np.uint8).tolist() == [0, 0, 0]
    with pytest.raises(UsageError, match=r"percentile must be in \(0, 100\], got 0"):
        stretch_level(values, 0)
    with pytest.raises(UsageError, match="gamma must be > 0"):
        to_pixels(values, "stretch", max_value=255, dtype=np.uint8, gamma=0)


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


# stretch_level's fast way (_tail_level): a sample picks a threshold, only the values
# above it are partitioned. It must equal np.percentile of the float64 magnitudes bit for
# bit; small sizes here (TAIL_MIN_SIZE and TAIL_SAMPLE lowered) reach every branch.


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.one_of(st.integers(1, 100), st.integers(1000, 6000)),
    percentile=st.one_of(
        st.sampled_from([99.5, 99.9, 90.0, 50.0, 100.0, 0.01]), st.floats(90.0, 100.0),
        st.floats(0.001, 100.0),
    ),
    kind=st.sampled_from(["normal", "ties", "zeros", "heavy", "bad", "strided"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    sample=st.sampled_from([16, 64, 1024]),
    seed=st.integers(0, 2**31 - 1),
)  # fmt: skip
def test_stretch_level_equals_numpy_percentile(n, percentile, kind, dtype, sample, seed):
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
    if kind == "strided":  # the sample sees only large values: its threshold is too high
        x[:: max(1, n // sample)] += 100
    finite = np.abs(x.astype(np.float64))
    finite = finite[np.isfinite(finite)]
    want = float(np.percentile(finite, percentile)) if finite.size else 0.0
    if want == 0 and finite.size:
        want = float(finite.max())
    mp = pytest.MonkeyPatch()
    ran = []
    real = intensity._tail_level
    try:
        mp.setattr(intensity, "TAIL_MIN_SIZE", 64)
        mp.setattr(intensity, "TAIL_SAMPLE", sample)
        mp.setattr(intensity, "_tail_level", lambda *a: ran.append(real(*a)) or ran[-1])
        got = stretch_level(x.reshape(-1, 1) if n % 2 else x, percentile)
    finally:
        mp.undo()
    assert got == want  # bit for bit
    if kind in ("normal", "heavy") and n >= 1000 and sample >= 64 and 90 <= percentile < 100:
        assert ran[-1] is not None  # the fast way ran (and was not sent back)


def test_stretch_level_sends_a_misleading_sample_back(monkeypatch):
    # every 312th value is large: the sample (64 values) sees only those, so its threshold
    # leaves more than floor(v) values below it; the fast way must say so, not guess
    x = np.random.default_rng(4).standard_normal(20000)
    x[::312] += 100
    monkeypatch.setattr(intensity, "TAIL_SAMPLE", 64)
    monkeypatch.setattr(intensity, "TAIL_MIN_SIZE", 64)
    assert intensity._tail_level(x, 99.5) is None
    assert stretch_level(x, 99.5) == float(np.percentile(np.abs(x), 99.5))
    assert intensity._tail_level(x, 99.9) is not None  # above the large ones' share


def test_stretch_maps_large_arrays_in_blocks_like_the_formula():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((700, 300, 3)) * 40).astype(np.float32)
    level = stretch_level(x)
    assert level == float(np.percentile(np.abs(x.astype(np.float64)), 99.5))
    for gamma in (0.5, 1.0, 0.7):
        got = to_pixels(x, "stretch", max_value=255, dtype=np.uint8, gamma=gamma)
        expected = 255 * np.clip(np.abs(x.astype(np.float64)) / level, 0, 1) ** gamma
        assert np.abs(got - expected).max() <= 0.5 + 1e-3
        same = to_pixels(x, "stretch", max_value=255, dtype=np.uint8, gamma=gamma, level=level)
        np.testing.assert_array_equal(got, same)  # a given level is the computed one


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stretch_level_fast_way_on_many_arrays(monkeypatch, dtype):
    """NumPy interpolates as ``b - (b - a)(1 - t)`` for ``t >= 0.5``: the last bit counts."""
    monkeypatch.setattr(intensity, "TAIL_MIN_SIZE", 64)
    rng = np.random.default_rng(5)
    for _ in range(60):
        x = (rng.standard_normal(int(rng.integers(2000, 6000))) * 37).astype(dtype)
        for p in (99.5, 99.9, 95.0, float(rng.uniform(90, 100))):
            assert intensity._tail_level(x, p) is not None
            assert stretch_level(x, p) == float(np.percentile(np.abs(x.astype(np.float64)), p))
