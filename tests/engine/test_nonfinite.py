"""NaN and inf in the image: only the outputs whose window covers one are non-finite.

Every method (direct, separable, fft) must give the non-finite pattern of an
independent float64 loop that skips zero taps (a zero weight never touches its
input, as in the direct method), and the same finite values to float32
rounding. The loop pads with ``numpy.pad``: none of the engine's tiles.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnfilter.engine.boundary import numpy_pad_mode
from cnnfilter.engine.filtering import convolve, correlate, filter_geometry
from cnnfilter.engine.separable import separate

MODES = ["symmetric", "mirror", "edge", "wrap", "constant"]


def loop_reference(image, kernel, *, padding, boundary, cval, stride, dilation, flip, channels):
    """Float64 sum over the non-zero taps only, one output at a time."""
    x = np.asarray(image, dtype=np.float64)
    w = np.asarray(kernel, dtype=np.float64)
    if flip:
        w = w[::-1, ::-1]
    geom = filter_geometry(
        x.shape, w.shape, padding=padding, stride=stride, dilation=dilation, flipped=flip
    )
    x3 = x if x.ndim == 3 else x[:, :, np.newaxis]
    pads = [
        (geom.rows.pad_before, geom.rows.pad_after),
        (geom.cols.pad_before, geom.cols.pad_after),
    ]
    mode = numpy_pad_mode(boundary)
    extra = {"constant_values": cval} if mode == "constant" else {}
    p = np.pad(x3, pads + [(0, 0)], mode=mode, **extra)
    (oh, ow), (sh, sw) = geom.out_shape, (geom.rows.stride, geom.cols.stride)
    dh, dw = geom.rows.dilation, geom.cols.dilation
    out = np.zeros((oh, ow, x3.shape[2]))
    with np.errstate(invalid="ignore", over="ignore"):
        for y in range(oh):
            for v in range(ow):
                for c in range(x3.shape[2]):
                    total = 0.0
                    for i in range(w.shape[0]):
                        for j in range(w.shape[1]):
                            weight = w[i, j] if w.ndim == 2 else w[i, j, c]
                            if weight != 0:
                                total += weight * p[y * sh + i * dh, v * sw + j * dw, c]
                    out[y, v, c] = total
        if w.ndim == 3 or channels == "sum":
            return out.sum(axis=2)
    return out if x.ndim == 3 else out[:, :, 0]


def check_same(got, want, image, kernel):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    scale = np.abs(kernel).sum() * max(
        1.0, np.nanmax(np.abs(np.where(np.isfinite(image), image, 0)))
    )
    np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=2e-6 * scale)


def test_issue_example_gives_the_direct_answer_by_every_method():
    a = np.arange(16.0).reshape(4, 4)
    a[1, 1] = np.nan
    want = [[np.nan] * 3 + [18], [np.nan] * 3 + [39], [np.nan] * 3 + [63], [42, 66, 72, 50]]
    for method in ("direct", "separable", "fft", "auto"):
        got = correlate(a, np.ones((3, 3)), boundary="constant", method=method)
        np.testing.assert_array_equal(got, np.array(want, dtype=float))


def test_fft_inf_signs_follow_the_weights_and_opposite_infinities_give_nan():
    image = np.zeros((7, 9))
    image[1, 1] = np.inf
    image[5, 7] = -np.inf
    kernel = np.array([[1.0, -2.0, 0.0], [0.5, 0.0, 3.0], [-1.0, 2.0, 1.0]])
    args = dict(padding="same", boundary="constant", cval=0.0, stride=1, dilation=1)
    want = loop_reference(image, kernel, flip=False, channels="separate", **args)
    assert np.isposinf(want).any() and np.isneginf(want).any()
    got = correlate(image, kernel, method="fft", **args)
    check_same(got, want, image, kernel)
    image[1, 2] = -np.inf  # next to the +inf: windows holding both under same-sign weights
    want = loop_reference(image, kernel, flip=False, channels="separate", **args)
    got = correlate(image, kernel, method="fft", **args)
    check_same(got, want, image, kernel)


def test_non_finite_cval_fills_the_border_windows():
    image = np.arange(20.0).reshape(4, 5)
    for cval in (np.nan, np.inf, -np.inf):
        args = dict(padding="same", boundary="constant", cval=cval, stride=1, dilation=1)
        want = loop_reference(image, np.ones((3, 3)), flip=False, channels="separate", **args)
        for method in ("direct", "fft"):
            got = correlate(image, np.ones((3, 3)), method=method, **args)
            check_same(got, want, image, np.ones((3, 3)))


@st.composite
def cases(draw):
    h, w = draw(st.integers(1, 11)), draw(st.integers(1, 11))
    chans = draw(st.sampled_from([None, None, 2]))
    shape = (h, w) if chans is None else (h, w, chans)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    image = rng.integers(-50, 50, size=shape).astype(
        draw(st.sampled_from([np.float64, np.float32]))
    )
    n_bad = draw(st.integers(1, 4))
    for _ in range(n_bad):
        idx = tuple(int(rng.integers(0, s)) for s in shape)
        image[idx] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    if draw(st.booleans()):  # rank 1 (the separable method applies), may hold zeros
        kernel = np.outer(rng.integers(-3, 4, kh), rng.integers(-3, 4, kw)).astype(float)
    else:
        kernel = rng.integers(-3, 4, size=(kh, kw)).astype(float)
    if chans is not None and draw(st.booleans()):  # a 3-D kernel: one map, channels summed
        kernel = rng.integers(-3, 4, size=(kh, kw, chans)).astype(float)
    if not kernel.any():
        kernel[0, 0] = 1.0
    args = dict(
        padding=draw(st.sampled_from(["same", "valid", "full", 1, (0, 2, 1, 0)])),
        boundary=draw(st.sampled_from(MODES)),
        cval=draw(st.sampled_from([0.0, 2.5])),
        stride=draw(st.sampled_from([1, 2, (1, 3)])),
        dilation=draw(st.sampled_from([1, 2, (2, 1)])),
    )
    return image, kernel, args, draw(st.booleans()), draw(st.sampled_from(["separate", "sum"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_every_method_puts_non_finite_values_where_the_loop_does(case):
    image, kernel, args, flip, channels = case
    geom = filter_geometry(
        image.shape, kernel.shape, padding=args["padding"], stride=args["stride"],
        dilation=args["dilation"], flipped=flip,
    )  # fmt: skip
    if 0 in geom.out_shape:
        return
    want = loop_reference(image, kernel, flip=flip, channels=channels, **args)
    op = convolve if flip else correlate
    rank1 = kernel.ndim == 2 and separate(kernel, rtol=1e-12) is not None
    methods = ["direct", "fft"] + (["separable"] if rank1 else [])
    for method in methods:
        got = op(image, kernel, method=method, channels=channels, **args)
        check_same(got, want, image, kernel)


@pytest.mark.parametrize("method", ["direct", "separable", "fft"])
def test_a_large_image_with_one_nan_spoils_only_the_kernel_footprint(method):
    rng = np.random.default_rng(5)
    image = rng.random((300, 700), dtype=np.float32)
    image[150, 333] = np.nan
    got = correlate(image, np.ones((21, 21)), method=method, boundary="edge")
    assert np.isnan(got).sum() == 21 * 21
    assert np.isnan(got[140:161, 323:344]).all()
