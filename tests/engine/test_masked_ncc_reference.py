"""The masked ncc against an independent window loop, OpenCV, and where its peak lands.

The reference, :func:`masked_ccoeff_normed`, is OpenCV's documented
``TM_CCOEFF_NORMED`` with a mask ``M`` (docs.opencv.org, imgproc "Object
Detection", ``TemplateMatchModes``), computed one window at a time, two-pass,
in float64::

    T'(x', y') = M(x', y') (T(x', y') - sum M T / sum M)
    I'(x + x', y + y') = M(x', y') (I(x + x', y + y') - sum M I / sum M)   (per window)
    R(x, y) = sum T' I' / sqrt(sum T'^2 * sum I'^2)

per channel means, sums over all channels (OpenCV's colour rule). It shares
no code with the engine (which uses correlations and running sums). The cases
cover what a template-offset slip would break: odd, even and rectangular
templates; masks whose opaque part is off-centre (a rank-1 block, which the
engine correlates by a separable plan, an irregular 0/1 mask, fractional alpha);
gray and RGB; uint8 and float images; direct and FFT plans (more than 196 taps).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnfilter.engine.response import find_peaks, ncc_map


def masked_ccoeff_normed(image, template, mask):
    """``(R, wvar)``: OpenCV's masked TM_CCOEFF_NORMED window by window, and ``sum I'^2``.

    ``image`` (H, W) or (H, W, C); ``template`` (kh, kw) or (kh, kw, C); ``mask``
    (kh, kw), (kh, kw, 1) or (kh, kw, C) weights (one per channel: OpenCV's rule).
    ``R`` is 0 where ``sum T'^2 * sum I'^2`` is 0.
    """
    img = np.asarray(image, dtype=np.float64)
    tpl = np.asarray(template, dtype=np.float64)
    if img.ndim == 2:
        img = img[:, :, None]
    if tpl.ndim == 2:
        tpl = np.repeat(tpl[:, :, None], img.shape[2], axis=2)
    kh, kw, depth = tpl.shape
    m = np.asarray(mask, dtype=np.float64)
    masks = [m if m.ndim == 2 else m[:, :, c if m.shape[2] > 1 else 0] for c in range(depth)]
    tprime = np.empty_like(tpl)
    for c in range(depth):
        tbar = float((masks[c] * tpl[:, :, c]).sum() / masks[c].sum())
        tprime[:, :, c] = masks[c] * (tpl[:, :, c] - tbar)
    tt = float((tprime * tprime).sum())
    oh, ow = img.shape[0] - kh + 1, img.shape[1] - kw + 1
    out, wvar = np.zeros((oh, ow)), np.zeros((oh, ow))
    for y in range(oh):
        for x in range(ow):
            num = ii = 0.0
            for c in range(depth):
                win = img[y : y + kh, x : x + kw, c]
                mc = masks[c]
                iprime = mc * (win - float((mc * win).sum() / mc.sum()))
                num += float((tprime[:, :, c] * iprime).sum())
                ii += float((iprime * iprime).sum())
            wvar[y, x] = ii
            out[y, x] = num / np.sqrt(tt * ii) if tt * ii > 0 else 0.0
    return out, wvar


def off_centre_mask(kh, kw, kind, rng):
    """A mask whose opaque part is not centred on the template."""
    m = np.zeros((kh, kw))
    if kind == "block":  # rank 1: the bottom-right part, 2/3 of each side
        m[kh // 3 :, kw // 3 :] = 1.0
    elif kind == "binary":  # irregular 0/1, heavier at the bottom right
        m = (rng.random((kh, kw)) < np.linspace(0.2, 0.9, kh)[:, None]).astype(float)
        m[-1, -1] = m[0, 1 % kw] = 1.0
    else:  # fractional alpha, a ramp plus noise, 0 on the top row
        m = np.clip(np.add.outer(np.linspace(0, 1, kh), np.linspace(0, 0.5, kw)), 0, 1)
        m = np.round(np.clip(m * rng.random((kh, kw)) * 1.5, 0, 1) * 255) / 255
        m[-1, -1] = 1.0
    return m


def make_image(shape, dtype, rng):
    if dtype == "uint8":
        return rng.integers(0, 256, shape).astype(np.uint8)
    if dtype == "uint16":
        return rng.integers(0, 65536, shape).astype(np.uint16)
    return rng.normal(0.5, 0.2, shape)


SIZES = [(5, 5), (6, 6), (4, 7), (8, 3), (16, 17), (18, 12)]  # the last two: FFT under auto


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("kind", ["block", "binary", "alpha"])
@pytest.mark.parametrize("channels", [None, 3], ids=["gray", "rgb"])
@pytest.mark.parametrize("dtype", ["uint8", "float64"])
def test_masked_ncc_equals_the_window_loop(size, kind, channels, dtype):
    rng = np.random.default_rng(zlib.crc32(repr((size, kind, channels, dtype)).encode()))
    kh, kw = size
    shape = (kh + 17, kw + 21) if channels is None else (kh + 17, kw + 21, channels)
    image = make_image(shape, dtype, rng)
    template = make_image(size if channels is None else (*size, channels), dtype, rng)
    mask = off_centre_mask(kh, kw, kind, rng)
    want, wvar = masked_ccoeff_normed(image, template, mask)
    assert wvar.min() > 1e-3 * wvar.max()  # no near-flat window here: every cell counts
    for impl in ("auto", "direct", "fft"):
        got = ncc_map(image, template, mask=mask, method=impl)
        assert got.values.shape == want.shape
        np.testing.assert_allclose(got.values, want, rtol=0, atol=1e-9, err_msg=impl)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("channels", [None, 3], ids=["gray", "rgb"])
def test_masked_ncc_of_16_bit_and_offset_images_equals_the_loop(size, channels):
    """Wide ranges (16-bit) and a large level under small detail (1e4 + noise)."""
    rng = np.random.default_rng(size[0] * 100 + size[1])
    kh, kw = size
    shape = (kh + 9, kw + 11) if channels is None else (kh + 9, kw + 11, channels)
    mask = off_centre_mask(kh, kw, "alpha", rng)
    for image in (make_image(shape, "uint16", rng), 1e4 + rng.normal(0, 1, shape)):
        template = image[3 : 3 + kh, 5 : 5 + kw]
        want, _ = masked_ccoeff_normed(image, template, mask)
        got = ncc_map(image, template, mask=mask).values
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
        assert got[3, 5] == pytest.approx(1.0, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    kh=st.integers(1, 9),
    kw=st.integers(1, 9),
    extra=st.tuples(st.integers(0, 8), st.integers(0, 8)),
    channels=st.sampled_from([None, 2, 3]),
    seed=st.integers(0, 2**32 - 1),
    fractional=st.booleans(),
)
def test_masked_ncc_equals_the_loop_where_windows_are_not_flat(
    kh, kw, extra, channels, seed, fractional
):
    rng = np.random.default_rng(seed)
    shape = (kh + extra[0], kw + extra[1])
    if channels:
        shape = (*shape, channels)
    image = rng.integers(0, 256, shape).astype(np.uint8)
    template = rng.integers(0, 256, (kh, kw) if channels is None else (kh, kw, channels))
    mask = rng.random((kh, kw)) if fractional else (rng.random((kh, kw)) < 0.6).astype(float)
    mask.flat[rng.integers(mask.size)] = 1.0
    want, wvar = masked_ccoeff_normed(image, template, mask)
    got = ncc_map(image, template, mask=mask)
    if got.flat_template:  # the opaque part of the template is one colour
        assert not got.values.any()
        return
    # where the weighted variance is tiny the engine's flat rule (std < 1e-6 of the
    # range) and the loop's exact 0 test may differ; elsewhere they agree to 1e-9
    span = float(np.ptp(image))
    big = wvar > 1e-6 * (mask * mask).sum() * span * span
    np.testing.assert_allclose(got.values[big], want[big], rtol=0, atol=1e-9)
    assert np.all(np.abs(got.values) <= 1.0)


@pytest.mark.parametrize("size", [(5, 6), (16, 17)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_mask_per_channel_equals_the_loop(size):
    """A ``(kh, kw, C)`` mask weights each channel with its own plane (as OpenCV's)."""
    rng = np.random.default_rng(size[0])
    kh, kw = size
    image = rng.integers(0, 256, (kh + 12, kw + 15, 3)).astype(np.uint8)
    template = image[4 : 4 + kh, 6 : 6 + kw].copy()
    mask = np.stack(
        [off_centre_mask(kh, kw, kind, rng) for kind in ("block", "binary", "alpha")], 2
    )
    want, _ = masked_ccoeff_normed(image, template, mask)
    got = ncc_map(image, template, mask=mask).values
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert got[4, 6] == pytest.approx(1.0, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    kh=st.integers(3, 12),  # the opaque part below has 2 x 2 pixels or more
    kw=st.integers(3, 12),
    where=st.tuples(st.integers(0, 10), st.integers(0, 10)),
    channels=st.sampled_from([None, 3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_peak_of_a_masked_copy_is_the_template_top_left(kh, kw, where, channels, seed):
    """The opaque part sits in the bottom-right; the peak is still the template's corner."""
    rng = np.random.default_rng(seed)
    r0, c0 = where
    shape = (kh + 14, kw + 13) if channels is None else (kh + 14, kw + 13, channels)
    image = rng.integers(0, 256, shape).astype(np.uint8)
    template = image[r0 : r0 + kh, c0 : c0 + kw].copy()
    mask = np.zeros((kh, kw))
    mask[kh // 2 :, kw // 2 :] = 1.0  # off-centre for odd and even sides
    template[mask == 0] = 255 - template[mask == 0]  # the transparent part is junk
    got = ncc_map(image, template, mask=mask).values
    assert got[r0, c0] == pytest.approx(1.0, abs=1e-9)
    peak = find_peaks(got, top=1, min_distance=max(1, min(kh, kw) // 2))[0]
    assert (peak.row, peak.col) == (r0, c0)
    # a full mask and no mask give the same map: masked and unmasked agree on positions
    full = ncc_map(image, image[r0 : r0 + kh, c0 : c0 + kw], mask=np.ones((kh, kw))).values
    plain = ncc_map(image, image[r0 : r0 + kh, c0 : c0 + kw]).values
    np.testing.assert_allclose(full, plain, rtol=0, atol=1e-9)


@pytest.mark.parametrize("size", [(6, 6), (7, 10), (16, 17), (20, 14)])
@pytest.mark.parametrize("kind", ["block", "binary", "alpha"])
def test_masked_ncc_matches_opencv_where_well_conditioned(size, kind):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(size[0] * 31 + size[1])
    kh, kw = size
    image = rng.integers(0, 256, (kh + 30, kw + 40, 3)).astype(np.float32)
    template = image[11 : 11 + kh, 23 : 23 + kw].copy()
    mask = off_centre_mask(kh, kw, kind, rng).astype(np.float32)
    template[mask == 0] = 0.0
    want = cv2.matchTemplate(
        image, template, cv2.TM_CCOEFF_NORMED, mask=np.repeat(mask[:, :, None], 3, axis=2)
    )
    got = ncc_map(image, template, mask=mask).values
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    assert np.unravel_index(np.argmax(got), got.shape) == (11, 23)
    assert np.unravel_index(np.argmax(want), want.shape) == (11, 23)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("size", "channels"), [((9, 9), None), ((16, 16), None), ((7, 7), 3)])
@pytest.mark.parametrize("impl", ["direct", "fft"])
def test_masked_ncc_precision_on_near_flat_windows_of_a_16_bit_image(seed, size, channels, impl):
    """The masked terms are correlations of the whole image (centred on its mean), so a
    near-flat window far from that mean loses digits: the error is below
    ``eps * (range / std)^2`` (``std``: the window's weighted standard deviation; measured
    at most 0.3 of that), so 1e-9 wherever ``std > range / 1000``; up to ~1e-6 for
    ``std`` ~ 1 in a 16-bit image spanning 0-65535 (docs/detect.md)."""
    rng = np.random.default_rng(seed)
    kh, kw = size
    shape = (40, 60) if channels is None else (40, 60, channels)
    image = rng.integers(0, 65536, shape)
    image[:, 30:] = 65535 - rng.integers(0, 3, image[:, 30:].shape)  # bright, near flat
    image[:, :8] = rng.integers(0, 2, image[:, :8].shape)  # dark, near flat
    image = image.astype(np.uint16)
    template = rng.integers(0, 65536, (kh, kw) if channels is None else (kh, kw, channels))
    mask = np.ones((kh, kw))
    mask[: kh // 3] = 0
    mask *= rng.random((kh, kw))
    want, wvar = masked_ccoeff_normed(image, template, mask)
    std = np.sqrt(wvar / ((mask * mask).sum() * (channels or 1)))
    got = ncc_map(image, template, mask=mask, method=impl).values
    err = np.abs(got - want)
    span = float(np.ptp(image))
    assert std.min() > 0
    assert np.all(err <= np.finfo(np.float64).eps * (span / std) ** 2)
    assert err[std > span / 1000].max() <= 1e-9
    assert err.max() > 1e-10  # the loss is real (not hidden by a flat rule): docs say so
