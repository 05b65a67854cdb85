"""Peaks on every map shape and value pattern; ncc with a template mask; NaN in ncc.

References written here, independent of the engine: a brute-force peak finder
(plain loops and a flood fill, no scipy) and a direct masked-NCC loop that
follows OpenCV's documented formula for ``TM_CCOEFF_NORMED`` with a mask.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnfilter.engine.response import Peak, find_peaks, ncc_map, raw_map
from cnnfilter.errors import UsageError

# --- peaks -------------------------------------------------------------------------------------


def brute_peaks(values, *, top, d, threshold):
    """The rule of find_peaks's docstring, cell by cell."""
    h, w = values.shape
    finite = [[bool(np.isfinite(values[r, c])) for c in range(w)] for r in range(h)]
    cells = [(r, c) for r in range(h) for c in range(w) if finite[r][c]]
    if not cells:
        return []
    lo = min(values[r, c] for r, c in cells)
    hi = max(values[r, c] for r, c in cells)
    cand = set()
    for r, c in cells:
        v = values[r, c]
        around = [
            values[y, x]
            for y in range(max(0, r - d), min(h, r + d + 1))
            for x in range(max(0, c - d), min(w, c + d + 1))
            if finite[y][x]
        ]
        if v < max(around) or (hi > lo and v == lo):
            continue
        if threshold is not None and v < threshold:
            continue
        cand.add((r, c))
    reps, seen = [], set()
    for start in sorted(cand):
        if start in seen:
            continue
        group, stack = [], [start]
        seen.add(start)
        while stack:
            r, c = stack.pop()
            group.append((r, c))
            for y in (r - 1, r, r + 1):
                for x in (c - 1, c, c + 1):
                    if (y, x) in cand and (y, x) not in seen:
                        seen.add((y, x))
                        stack.append((y, x))
        cr = sum(r for r, _ in group) / len(group)
        cc = sum(c for _, c in group) / len(group)
        reps.append(min(group, key=lambda p: ((p[0] - cr) ** 2 + (p[1] - cc) ** 2, p[0], p[1])))
    reps.sort(key=lambda p: (-values[p], p[0], p[1]))
    taken = []
    for r, c in reps:
        if any(abs(r - y) <= d and abs(c - x) <= d for y, x in taken):
            continue
        taken.append((r, c))
        if len(taken) == top:
            break
    return [(r, c, float(values[r, c])) for r, c in taken]


@st.composite
def maps(draw):
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    levels = draw(st.sampled_from([1, 2, 3, 10]))  # few levels: plateaus and ties
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m = rng.integers(0, levels, size=(h, w)).astype(float)
    for _ in range(draw(st.integers(0, 3))):
        m[rng.integers(0, h), rng.integers(0, w)] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return m


@settings(max_examples=400, deadline=None)
@given(
    maps(),
    st.integers(1, 4),
    st.integers(1, 12),
    st.sampled_from([None, 0.5, 1.0, 5.0]),
)
def test_find_peaks_agrees_with_a_brute_force_finder(m, d, top, threshold):
    want = brute_peaks(m, top=top, d=d, threshold=threshold)
    got = [
        (p.row, p.col, p.score) for p in find_peaks(m, top=top, min_distance=d, threshold=threshold)
    ]
    assert got == want
    if np.isfinite(m).any() and threshold is None:
        assert got, "a map with a finite cell reports its best match"
        assert got[0][2] == np.max(m[np.isfinite(m)])


def test_template_as_large_as_the_image_gives_a_1x1_map_and_one_peak():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (12, 9), dtype=np.uint8)
    result = ncc_map(image, image)
    assert result.values.shape == (1, 1)
    assert find_peaks(result.values, min_distance=4) == [Peak(0, 0, 1.0)]


def test_map_smaller_than_min_distance_reports_its_maximum():
    m = np.array([[0.1, 0.7, 0.3], [0.2, 0.4, 0.69]])
    assert find_peaks(m, min_distance=10) == [Peak(0, 1, 0.7)]


def test_only_nan_map_has_no_peaks():
    assert find_peaks(np.full((3, 4), np.nan)) == []


# --- masked ncc --------------------------------------------------------------------------------


def masked_ncc_loop(image, template, mask):
    """OpenCV's documented TM_CCOEFF_NORMED with a mask, one window at a time, float64."""
    img = np.asarray(image, dtype=np.float64)
    t = np.asarray(template, dtype=np.float64)
    if img.ndim == 2:
        img, t = img[:, :, None], t[:, :, None]
    m = np.asarray(mask, dtype=np.float64)
    m = np.broadcast_to(m.reshape(m.shape[0], m.shape[1], -1), t.shape)
    kh, kw = t.shape[:2]
    tp = m * (t - (m * t).sum(axis=(0, 1)) / m.sum(axis=(0, 1)))
    out = np.zeros((img.shape[0] - kh + 1, img.shape[1] - kw + 1))
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            win = img[r : r + kh, c : c + kw]
            ip = m * (win - (m * win).sum(axis=(0, 1)) / m.sum(axis=(0, 1)))
            den = np.sqrt((tp * tp).sum() * (ip * ip).sum())
            out[r, c] = (tp * ip).sum() / den if den > 1e-9 else 0.0
    return out


@pytest.mark.parametrize("channels", [None, 3])
@pytest.mark.parametrize("kind", ["binary", "alpha"])
def test_masked_ncc_matches_the_loop(channels, kind):
    rng = np.random.default_rng(7)
    shape = (23, 31) if channels is None else (23, 31, channels)
    image = rng.integers(0, 256, shape).astype(np.uint8)
    template = image[5:14, 11:18].copy()
    if kind == "binary":
        mask = np.ones(template.shape[:2])
        mask[:3, :3] = 0
    else:
        mask = rng.integers(0, 256, template.shape[:2]) / 255.0
    got = ncc_map(image, template, mask=mask)
    assert got.masked
    np.testing.assert_allclose(got.values, masked_ncc_loop(image, template, mask), atol=1e-9)


def test_issue_example_transparent_corner_scores_one_at_the_true_place():
    rng = np.random.default_rng(3)
    scene = rng.integers(0, 256, (60, 80, 3)).astype(np.uint8)
    template = scene[20:36, 30:46].copy()
    alpha = np.full(template.shape[:2], 255, dtype=np.uint8)
    alpha[:3, :3] = 0
    template[:3, :3] = 0  # what a transparent pixel's colour often is
    plain = ncc_map(scene, template).values[20, 30]
    assert plain < 0.99
    got = ncc_map(scene, template, mask=alpha / 255.0)
    assert got.values[20, 30] == pytest.approx(1.0, abs=1e-12)
    assert find_peaks(got.values, top=1, min_distance=8, threshold=0.9)[0] == Peak(20, 30, 1.0)


def test_masked_ncc_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (40, 52, 3)).astype(np.uint8)
    template = image[7:20, 9:24].copy()
    for mask in (rng.integers(0, 2, template.shape[:2]), rng.random(template.shape[:2])):
        m = mask.astype(np.float32)
        want = cv2.matchTemplate(
            image.astype(np.float32), template.astype(np.float32), cv2.TM_CCOEFF_NORMED,
            mask=np.repeat(m[:, :, None], 3, axis=2),
        )  # fmt: skip
        got = ncc_map(image, template, mask=m).values
        np.testing.assert_allclose(got, want, atol=2e-5)


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (np.ones((3, 3)), r"mask must be numbers of shape \(4, 5\)"),
        (np.full((4, 5), 2.0), r"weights in \[0, 1\]"),
        (np.zeros((4, 5)), "0 everywhere"),
    ],
)
def test_bad_masks_are_refused(mask, message):
    with pytest.raises(UsageError, match=message):
        ncc_map(np.zeros((9, 9)), np.ones((4, 5)), mask=mask)


# --- NaN and inf in the image ------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_ncc_and_raw_maps_are_nan_only_where_windows_cover_a_bad_pixel(bad):
    rng = np.random.default_rng(2)
    image = rng.random((30, 40))
    image[12, 25] = bad
    template = rng.random((5, 7))
    clean = image.copy()
    clean[12, 25] = 0.0
    covered = np.zeros((26, 34), dtype=bool)
    covered[8:13, 19:26] = True
    for values in (ncc_map(image, template).values, ncc_map(image, template, method="fft").values):
        np.testing.assert_array_equal(np.isnan(values), covered)
        np.testing.assert_allclose(values[~covered], ncc_map(clean, template).values[~covered])
    for method in ("direct", "fft"):
        values = raw_map(image, template, method=method)
        np.testing.assert_array_equal(~np.isfinite(values), covered)
        np.testing.assert_allclose(values[~covered], raw_map(clean, template)[~covered], rtol=1e-12)
    mask = np.ones((5, 7))
    mask[:, 6] = 0  # the masked-out column does not see the bad pixel
    values = ncc_map(image, template, mask=mask).values
    np.testing.assert_array_equal(np.isnan(values), covered & ~(np.arange(34) == 19)[None, :])


def test_masked_template_flat_where_opaque_is_a_flat_template():
    template = np.full((4, 5), 9.0)
    template[0, 0] = 200.0  # transparent: does not count
    mask = np.full((4, 5), 0.3)
    mask[0, 0] = 0.0
    got = ncc_map(np.random.default_rng(0).random((12, 12)), template, mask=mask)
    assert got.flat_template and not got.values.any()


def test_a_mask_that_is_not_rank_1_under_a_rank_1_template_part():
    rng = np.random.default_rng(8)
    image = rng.integers(0, 256, (30, 30)).astype(np.uint8)
    template = np.outer(np.arange(1.0, 15), np.arange(1.0, 15))  # rank 1
    mask = np.ones((14, 14))
    mask[:5, :5] = 0  # the mask is not rank 1
    got = ncc_map(image, template, mask=mask).values
    np.testing.assert_allclose(got, masked_ncc_loop(image, template, mask), atol=1e-9)
