"""Response maps (raw and ncc) and peak finding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage

from cnnfilter.engine.response import Peak, find_peaks, ncc_map, raw_map, response_map
from cnnfilter.errors import UsageError
from cnnfilter.kernels import resolve_kernel

from helpers import ARTICLE_PATCH


def direct_ncc(image, template):
    """TM_CCOEFF_NORMED written out window by window (per-channel means, 0 if flat)."""
    img = np.asarray(image, dtype=np.float64)
    tpl = np.asarray(template, dtype=np.float64)
    if img.ndim == 2:
        img = img[:, :, None]
    if tpl.ndim == 2:
        tpl = np.repeat(tpl[:, :, None], img.shape[2], axis=2)
    kh, kw = tpl.shape[:2]
    tz = tpl - tpl.mean(axis=(0, 1))
    out = np.zeros((img.shape[0] - kh + 1, img.shape[1] - kw + 1))
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            wz = img[r : r + kh, c : c + kw]
            wz = wz - wz.mean(axis=(0, 1))
            d = np.sqrt((wz**2).sum() * (tz**2).sum())
            out[r, c] = (wz * tz).sum() / d if d > 1e-9 else 0.0
    return out


# --- raw: the article's 6600 --------------------------------------------------------------


def test_curve_filter_gives_6600_on_the_curve_and_0_on_a_blank_patch():
    curve = resolve_kernel("curve").weights
    assert curve.shape == (7, 7) and sorted(np.unique(curve)) == [0, 30]
    assert np.count_nonzero(curve) == 6
    drawing = np.zeros((30, 40), dtype=np.uint8)
    drawing[10:17, 20:27] = ARTICLE_PATCH
    response = raw_map(drawing, curve)
    assert response[10, 20] == 6600.0  # 30*0 + 30*50 + 30*20 + 30*50 + 30*50 + 30*50
    assert response[0, 0] == 0.0  # a blank part of the drawing
    assert response.max() == 6600.0
    assert np.unravel_index(response.argmax(), response.shape) == (10, 20)


def test_raw_equals_scipy_correlate_on_the_valid_part(rng):
    image = rng.integers(0, 256, size=(23, 31, 3)).astype(np.uint8)
    kernel = rng.normal(size=(4, 5))
    expected = sum(
        ndimage.correlate(image[:, :, c].astype(np.float64), kernel, mode="constant")
        for c in range(3)
    )
    # scipy's anchor is tap (kh // 2, kw // 2): shift to the top-left convention
    expected = expected[2 : 2 + 20, 2 : 2 + 27]
    got = raw_map(image, kernel)
    assert got.shape == (20, 27)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-2)


def test_raw_fft_and_direct_agree(rng):
    image = rng.random((60, 70))
    kernel = rng.normal(size=(15, 12))
    np.testing.assert_allclose(
        raw_map(image, kernel, method="fft"), raw_map(image, kernel, method="direct"), atol=1e-9
    )


def test_raw_colour_template_sums_channel_products(rng):
    image = rng.integers(0, 10, size=(5, 6, 3))
    tpl = rng.integers(-2, 3, size=(2, 3, 3)).astype(np.float64)
    got = raw_map(image, tpl)
    r, c = 2, 1
    assert got[r, c] == pytest.approx(float((image[r : r + 2, c : c + 3] * tpl).sum()))


# --- ncc ------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(3, 12),
    w=st.integers(3, 12),
    kh=st.integers(1, 3),
    kw=st.integers(2, 3),
    colour=st.booleans(),
    levels=st.sampled_from([2, 4, 256]),
    seed=st.integers(0, 2**16),
)
def test_ncc_equals_the_direct_formula(h, w, kh, kw, colour, levels, seed):
    rng = np.random.default_rng(seed)
    shape = (h, w, 3) if colour else (h, w)
    image = rng.integers(0, levels, size=shape).astype(np.uint8)
    template = rng.integers(0, levels, size=(kh, kw) + shape[2:]).astype(np.uint8)
    got = ncc_map(image, template).values
    np.testing.assert_allclose(got, direct_ncc(image, template), atol=1e-9)
    assert np.all(np.isfinite(got)) and np.all(np.abs(got) <= 1.0)


def test_ncc_on_float_images_equals_the_direct_formula(rng):
    image = rng.normal(loc=1000.0, scale=3.0, size=(16, 18)).astype(np.float32)
    template = image[4:9, 6:10].copy()
    np.testing.assert_allclose(
        ncc_map(image, template).values, direct_ncc(image, template), atol=1e-6
    )


def test_exact_copy_is_found_at_its_place_with_score_1_in_a_real_photo(samples):
    photo = np.asarray(Image.open(samples / "astronaut.png").convert("RGB"))
    top, left = 180, 230  # the astronaut's face
    template = photo[top : top + 48, left : left + 40].copy()
    result = ncc_map(photo, template)
    assert result.values.shape == (512 - 48 + 1, 512 - 40 + 1)
    best = find_peaks(result.values, top=3, min_distance=20)
    assert (best[0].row, best[0].col) == (top, left)
    assert best[0].score == pytest.approx(1.0, abs=1e-9)
    assert best[1].score < 0.9


def test_ncc_uses_per_channel_means_so_a_colour_cast_does_not_matter(rng):
    image = rng.integers(0, 200, size=(12, 14, 3)).astype(np.int32)
    template = image[3:7, 2:6].copy()
    cast = image + np.array([40, 0, -30])
    np.testing.assert_allclose(ncc_map(cast, template).values, ncc_map(image, template).values)
    assert ncc_map(cast, template).values[3, 2] == pytest.approx(1.0)


def test_flat_template_gives_zeros_never_nan(samples):
    photo = np.asarray(Image.open(samples / "camera.png"))
    result = ncc_map(photo, np.full((8, 8), 17, dtype=np.uint8))
    assert result.flat_template
    assert result.values.shape == (505, 505)
    assert not result.values.any()


def test_flat_windows_give_zero(rng):
    image = rng.integers(0, 256, size=(20, 20)).astype(np.uint8)
    image[:10, :10] = 77  # a flat area
    template = rng.integers(0, 256, size=(4, 4)).astype(np.uint8)
    result = ncc_map(image, template)
    assert np.all(result.values[:7, :7] == 0.0)
    assert result.flat_windows == 49
    assert np.all(np.isfinite(result.values))
    # float images: a window flat to a millionth of the value range counts as flat
    fimage = image.astype(np.float64) / 255
    fimage[:10, :10] = 0.3 + 1e-9 * rng.random((10, 10))
    fresult = ncc_map(fimage, template)
    assert np.all(fresult.values[:7, :7] == 0.0) and np.all(np.isfinite(fresult.values))


def test_ncc_is_scale_and_offset_invariant(rng):
    image = rng.random((15, 15))
    template = rng.random((3, 4))
    a = ncc_map(image, template).values
    b = ncc_map(image * 7.5 + 100.0, template * 0.1 - 3.0).values
    np.testing.assert_allclose(a, b, atol=1e-9)


def test_response_map_checks_inputs():
    with pytest.raises(UsageError, match="larger than the image"):
        response_map(np.zeros((5, 5)), np.ones((6, 2)))
    with pytest.raises(UsageError, match="3 channels but the image has 4"):
        response_map(np.zeros((5, 5, 4)), np.ones((2, 2, 3)), method="ncc")
    with pytest.raises(UsageError, match="method must be one of raw, ncc"):
        response_map(np.zeros((5, 5)), np.ones((2, 2)), method="sad")
    with pytest.raises(UsageError, match="pattern contains NaN or inf"):
        response_map(np.zeros((5, 5)), np.full((2, 2), np.nan))


# --- peaks ------------------------------------------------------------------------------------


def test_peaks_on_a_constructed_map_with_known_maxima():
    m = np.zeros((40, 50))
    m[5, 5] = 9.0
    m[5, 8] = 8.0  # 3 columns from the 9: suppressed with min_distance 3, kept with 2
    m[30, 40] = 7.0
    m[20, 10] = 5.0
    m[39, 49] = 6.0  # a corner is a valid place
    got = [(p.row, p.col, p.score) for p in find_peaks(m, top=10, min_distance=3)]
    assert got == [(5, 5, 9.0), (30, 40, 7.0), (39, 49, 6.0), (20, 10, 5.0)]
    got = [(p.row, p.col) for p in find_peaks(m, top=2, min_distance=2)]
    assert got == [(5, 5), (5, 8)]
    got = [(p.row, p.col) for p in find_peaks(m, min_distance=3, threshold=6.5)]
    assert got == [(5, 5), (30, 40)]


def test_a_plateau_is_one_peak_at_its_centre():
    m = np.zeros((10, 10))
    m[2:5, 2:5] = 1.0
    got = [(p.row, p.col) for p in find_peaks(m, top=5, min_distance=1)]
    assert got == [(3, 3)]
    m[7, 2:6] = 0.5  # an even-length ridge: the centroid (7, 3.5) is as near (7, 3) as (7, 4)
    got = [(p.row, p.col) for p in find_peaks(m, top=5, min_distance=1)]
    assert got == [(3, 3), (7, 3)]


def test_a_constant_map_is_one_plateau_and_reports_its_value():
    assert find_peaks(np.ones((5, 5))) == [Peak(2, 2, 1.0)]
    assert find_peaks(np.full((1, 1), -3.0)) == [Peak(0, 0, -3.0)]
    assert find_peaks(np.ones((5, 5)), threshold=2.0) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"top": 0}, "top must be >= 1"), ({"min_distance": 0}, "min_distance must be >= 1")],
)
def test_find_peaks_checks_arguments(kwargs, message):
    with pytest.raises(UsageError, match=message):
        find_peaks(np.zeros((3, 3)), **kwargs)
