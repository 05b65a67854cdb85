"""The filtering engine against independent references.

References: scipy.signal.convolve2d (the article's call), scipy.ndimage
correlate/convolve (every boundary mode, the even-kernel anchor), a
hand-written loop with its own boundary indexing (stride, dilation,
padding), literal arrays computed by hand, and the real photos in samples/.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from scipy import ndimage, signal

from cnnfilter.engine.filtering import (
    choose_method,
    convolve,
    correlate,
    filter_geometry,
    work_dtype,
)
from cnnfilter.errors import UsageError

#: canonical boundary mode -> scipy.ndimage mode of the same extension
NDIMAGE_MODE = {
    "symmetric": "reflect",
    "mirror": "mirror",
    "edge": "nearest",
    "wrap": "wrap",
    "constant": "constant",
}
#: scipy.signal.convolve2d boundary -> canonical mode
SIGNAL_BOUNDARY = {"fill": "constant", "wrap": "wrap", "symm": "symmetric"}

KERNEL_SHAPES = [(3, 3), (5, 5), (2, 2), (4, 4), (3, 5), (2, 5), (5, 2), (1, 4), (4, 1), (6, 3)]
METHODS = ["direct", "fft"]

A3 = np.arange(1.0, 10.0).reshape(3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]


# ---------------------------------------------------------------- an independent hand loop


def _source_index(i: int, n: int, mode: str) -> int | None:
    """Index into an axis of length n of the extended position i (None: constant fill)."""
    if 0 <= i < n:
        return i
    if mode == "constant":
        return None
    if mode == "edge":
        return min(max(i, 0), n - 1)
    if mode == "wrap":
        return i % n
    if mode == "symmetric":  # c b a | a b c d | d c b, period 2n
        i %= 2 * n
        return i if i < n else 2 * n - 1 - i
    if mode == "mirror":  # d c b | a b c d | c b a, period 2n - 2
        if n == 1:
            return 0
        i %= 2 * n - 2
        return i if i < n else 2 * n - 2 - i
    raise AssertionError(mode)


def _axis(n, k, s, d, padding, flipped):
    """(pad_before, out) for one axis, derived here from the definitions."""
    k_eff = d * (k - 1) + 1
    if padding == "same":
        before = (k_eff - 1) // 2 if flipped else k_eff // 2
        return before, math.ceil(n / s)
    if padding == "valid":
        before, total = 0, 0
    elif padding == "full":
        before, total = k_eff - 1, 2 * (k_eff - 1)
    else:
        before, total = padding, 2 * padding
    return before, (n + total - k_eff) // s + 1


def loop_correlate(
    image,
    kernel,
    *,
    padding="same",
    boundary="symmetric",
    cval=0.0,
    stride=1,
    dilation=1,
    flip=False,
):
    """out[y, x] = sum_ij w[i, j] * ext[y*s + i*d - top, x*s + j*d - left], one pixel at a time."""
    image = np.asarray(image, dtype=np.float64)
    w = np.asarray(kernel, dtype=np.float64)
    if flip:
        w = w[::-1, ::-1]
    h, wd = image.shape
    kh, kw = w.shape
    top, oh = _axis(h, kh, stride, dilation, padding, flip)
    left, ow = _axis(wd, kw, stride, dilation, padding, flip)
    out = np.zeros((oh, ow))
    for y in range(oh):
        for x in range(ow):
            total = 0.0
            for i in range(kh):
                r = _source_index(y * stride + i * dilation - top, h, boundary)
                for j in range(kw):
                    c = _source_index(x * stride + j * dilation - left, wd, boundary)
                    value = cval if r is None or c is None else image[r, c]
                    total += w[i, j] * value
            out[y, x] = total
    return out


# ---------------------------------------------------------------- tiny arrays, by hand


@pytest.mark.parametrize("method", METHODS)
def test_correlate_3x3_by_hand_constant_zero(method):
    k = np.array([[1.0, 0, -1], [1, 0, -1], [1, 0, -1]])
    expected = np.array([[-7.0, -4, 7], [-15, -6, 15], [-13, -4, 13]])
    got = correlate(A3, k, boundary="constant", method=method)
    np.testing.assert_allclose(got, expected, atol=1e-9)
    # the kernel is antisymmetric in x and symmetric in y: convolution flips the sign
    np.testing.assert_allclose(
        convolve(A3, k, boundary="constant", method=method), -expected, atol=1e-9
    )


@pytest.mark.parametrize("method", METHODS)
def test_valid_2x2_by_hand(method):
    k = np.array([[1.0, 2], [3, 4]])
    np.testing.assert_allclose(
        correlate(A3, k, padding="valid", method=method), [[37.0, 47], [67, 77]], atol=1e-9
    )
    np.testing.assert_allclose(
        convolve(A3, k, padding="valid", method=method), [[23.0, 33], [53, 63]], atol=1e-9
    )


def test_symmetric_boundary_by_hand_3x3_box_sum():
    # corner (0,0) with c b a | a b c: rows {0,0,1}, cols {0,0,1}
    got = correlate(A3, np.ones((3, 3)), boundary="symmetric")
    assert got[0, 0] == 1 + 1 + 2 + 1 + 1 + 2 + 4 + 4 + 5
    assert got[1, 1] == 45
    # mirror at (0,0): rows {1,0,1}, cols {1,0,1}
    got = correlate(A3, np.ones((3, 3)), boundary="mirror")
    assert got[0, 0] == 5 + 4 + 5 + 2 + 1 + 2 + 5 + 4 + 5


def test_even_kernel_anchor_by_hand():
    row = np.array([[1.0, 2, 3, 4]])
    k = np.array([[1.0, 2]])
    # correlation: anchor is tap k // 2 = 1, so out[x] = 1*in[x-1] + 2*in[x]
    assert correlate(row, k, boundary="edge").tolist() == [[3.0, 5, 8, 11]]
    # convolution: flipped [2, 1], anchor (k - 1) // 2 = 0, so out[x] = 2*in[x] + in[x+1]
    assert convolve(row, k, boundary="edge").tolist() == [[4.0, 7, 10, 12]]
    # the same placement as scipy.ndimage's default origin=0
    assert ndimage.correlate(row, k, mode="nearest").tolist() == [[3.0, 5, 8, 11]]
    assert ndimage.convolve(row, k, mode="nearest").tolist() == [[4.0, 7, 10, 12]]


def test_full_by_hand():
    assert convolve(
        np.array([[1.0, 2]]), np.array([[1.0, 1]]), padding="full", boundary="constant"
    ).tolist() == [[1.0, 3, 2]]
    assert correlate(
        np.array([[1.0, 2]]), np.array([[1.0, -1]]), padding="full", boundary="constant"
    ).tolist() == [[-1.0, -1, 2]]


def test_stride_and_dilation_by_hand():
    row = np.arange(1.0, 8.0)[np.newaxis, :]  # 1..7
    k = np.array([[1.0, 1]])
    # dilation 3: taps 3 apart, k_eff = 4; valid positions x = 0..3
    assert correlate(row, k, padding="valid", dilation=3).tolist() == [[5.0, 7, 9, 11]]
    assert correlate(row, k, padding="valid", dilation=3, stride=2).tolist() == [[5.0, 9]]
    # stride 3 on 'same' (3 taps, symmetric): samples x = 0, 3, 6 of the stride-1 output
    k3 = np.array([[1.0, 1, 1]])
    assert correlate(row, k3, stride=3).tolist() == [[1 + 1 + 2.0, 3 + 4 + 5, 6 + 7 + 7]]
    # padding (rows 0, cols 1), constant fill 10 and stride 2: ext = 10 | 1..7 | 10
    assert correlate(row, k3, padding=(0, 1), boundary="constant", cval=10, stride=2).tolist() == [
        [13.0, 9, 15, 23]
    ]
    # an integer padding pads the rows too: the 1-row kernel then sees fill-only rows
    got = correlate(row, k3, padding=1, boundary="constant", cval=10, stride=2)
    assert got.tolist() == [[30.0] * 4, [30.0] * 4]  # rows -1 and 1 of 10 | row | 10


def test_asymmetric_padding_four_values():
    # (top, bottom, left, right) = (0, 0, 2, 0): a 1x3 valid window preceded by two fill pixels
    got = correlate(
        np.array([[1.0, 2, 3]]), np.array([[1.0, 1, 1]]), padding=(0, 0, 2, 0), boundary="constant"
    )
    assert got.tolist() == [[1.0, 3, 6]]


# ---------------------------------------------------------------- scipy.signal.convolve2d


@pytest.mark.parametrize("kshape", KERNEL_SHAPES)
@pytest.mark.parametrize("sig_boundary", sorted(SIGNAL_BOUNDARY))
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("method", METHODS)
def test_convolve_matches_scipy_signal_convolve2d(rng, kshape, sig_boundary, mode, method):
    image = rng.normal(size=(9, 11))
    kernel = rng.normal(size=kshape)
    ref = signal.convolve2d(image, kernel, mode=mode, boundary=sig_boundary, fillvalue=0.7)
    if mode == "same" and (kshape[0] % 2 == 0 or kshape[1] % 2 == 0):
        # scipy.signal centres 'same' on the full output at (k - 1) // 2; for an even
        # kernel the engine follows scipy.ndimage.convolve instead (anchor (k - 1) // 2
        # of the flipped kernel), which is the full output from k // 2: one pixel on.
        full = signal.convolve2d(image, kernel, mode="full", boundary=sig_boundary, fillvalue=0.7)
        ref = full[kshape[0] // 2 : kshape[0] // 2 + 9, kshape[1] // 2 : kshape[1] // 2 + 11]
    got = convolve(
        image, kernel, padding=mode, boundary=SIGNAL_BOUNDARY[sig_boundary], cval=0.7, method=method
    )
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


def test_convolve_is_the_articles_call_on_camera(samples):
    """The article: scipy.signal.convolve2d(img, k, mode='same', boundary='symm')."""
    camera = np.asarray(Image.open(samples / "camera.png"), dtype=np.float64)
    assert camera.shape == (512, 512)
    for kernel in (np.array([[-1.0, 0, 1]] * 3), np.array([[-1.0] * 3, [0] * 3, [1] * 3])):
        ref = signal.convolve2d(camera, kernel, mode="same", boundary="symm")
        np.testing.assert_allclose(convolve(camera, kernel), ref, atol=1e-9)


# ---------------------------------------------------------------- scipy.ndimage


@pytest.mark.parametrize("kshape", KERNEL_SHAPES + [(9, 9), (8, 12)])
@pytest.mark.parametrize("boundary", sorted(NDIMAGE_MODE))
@pytest.mark.parametrize("method", METHODS)
def test_matches_scipy_ndimage_for_every_boundary(rng, kshape, boundary, method):
    # (7, 6) image: kernels of 8 and 12 extend it by more than its own size
    image = rng.normal(size=(7, 6))
    kernel = rng.normal(size=kshape)
    mode = NDIMAGE_MODE[boundary]
    ref_corr = ndimage.correlate(image, kernel, mode=mode, cval=-1.25)
    ref_conv = ndimage.convolve(image, kernel, mode=mode, cval=-1.25)
    got_corr = correlate(image, kernel, boundary=boundary, cval=-1.25, method=method)
    got_conv = convolve(image, kernel, boundary=boundary, cval=-1.25, method=method)
    np.testing.assert_allclose(got_corr, ref_corr, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got_conv, ref_conv, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (5, 1), (2, 2)])
@pytest.mark.parametrize("boundary", sorted(NDIMAGE_MODE))
def test_degenerate_images_match_scipy_ndimage(rng, shape, boundary):
    image = rng.normal(size=shape)
    kernel = rng.normal(size=(3, 4))
    np.testing.assert_allclose(
        correlate(image, kernel, boundary=boundary),
        ndimage.correlate(image, kernel, mode=NDIMAGE_MODE[boundary]),
        atol=1e-12,
    )


@pytest.mark.parametrize("boundary", sorted(NDIMAGE_MODE))
def test_multichannel_is_filtered_per_channel(rng, boundary):
    image = rng.normal(size=(6, 8, 3))
    kernel = rng.normal(size=(4, 3))
    got = convolve(image, kernel, boundary=boundary)
    assert got.shape == (6, 8, 3)
    for c in range(3):
        ref = ndimage.convolve(image[:, :, c], kernel, mode=NDIMAGE_MODE[boundary])
        np.testing.assert_allclose(got[:, :, c], ref, atol=1e-12)


# ---------------------------------------------------------------- real photos


@pytest.mark.parametrize(
    "kernel",
    [
        np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]),  # sobel-x
        np.array([[1.0, 0], [0, -1]]),  # roberts (even)
        np.outer(np.hanning(13)[1:-1], np.hanning(12)[1:-1]),  # 11x10: FFT under auto
    ],
    ids=["sobel", "roberts", "hann-11x10"],
)
def test_camera_gray_photo_matches_scipy_ndimage(samples, kernel):
    camera8 = np.asarray(Image.open(samples / "camera.png"))
    assert camera8.dtype == np.uint8 and camera8.shape == (512, 512)
    camera = camera8.astype(np.float64)
    for op, ref_fn in ((convolve, ndimage.convolve), (correlate, ndimage.correlate)):
        ref = ref_fn(camera, kernel, mode="reflect")
        np.testing.assert_allclose(op(camera, kernel), ref, rtol=1e-10, atol=1e-8)
        got32 = op(camera8, kernel)  # uint8 in, float32 out
        assert got32.dtype == np.float32
        np.testing.assert_allclose(got32, ref, rtol=1e-5, atol=2e-3)


def test_astronaut_rgb_photo_matches_scipy_per_channel(samples):
    astro8 = np.asarray(Image.open(samples / "astronaut.png"))
    assert astro8.shape == (512, 512, 3)
    astro = astro8.astype(np.float64)
    kernel = np.array([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]])  # sharpen
    got = convolve(astro8, kernel, boundary="mirror")
    assert got.shape == (512, 512, 3) and got.dtype == np.float32
    for c in range(3):
        ref = ndimage.convolve(astro[:, :, c], kernel, mode="mirror")
        np.testing.assert_allclose(got[:, :, c], ref, atol=1e-3)
    # the sharpen kernel overshoots both ends on a real photo: never wrapped, never clipped here
    assert got.min() < 0 and got.max() > 255


def test_astronaut_direct_and_fft_agree(samples):
    astro = np.asarray(Image.open(samples / "astronaut.png"))[::4, ::4].astype(np.float64)
    kernel = np.random.default_rng(5).normal(size=(7, 6))
    direct = correlate(astro, kernel, method="direct", stride=2, dilation=(1, 2))
    fft = correlate(astro, kernel, method="fft", stride=2, dilation=(1, 2))
    np.testing.assert_allclose(direct, fft, rtol=1e-9, atol=1e-7)


# ---------------------------------------------------------------- stride, dilation, padding


@pytest.mark.parametrize("padding", ["same", "valid", "full", 0, 2])
@pytest.mark.parametrize("boundary", sorted(NDIMAGE_MODE))
@pytest.mark.parametrize(("stride", "dilation"), [(1, 1), (2, 1), (1, 2), (3, 2), (2, 3)])
@pytest.mark.parametrize("kshape", [(3, 3), (2, 3), (4, 2)])
def test_stride_dilation_padding_match_hand_loop(rng, padding, boundary, stride, dilation, kshape):
    image = rng.normal(size=(9, 10))
    kernel = rng.normal(size=kshape)
    rows_eff, cols_eff = (dilation * (k - 1) + 1 for k in kshape)
    if padding in ("valid", 0) and (rows_eff > 9 or cols_eff > 10):
        with pytest.raises(UsageError, match=r"output would be empty"):
            correlate(image, kernel, padding=padding, stride=stride, dilation=dilation)
        return
    for flip, fn in ((False, correlate), (True, convolve)):
        ref = loop_correlate(
            image,
            kernel,
            padding=padding,
            boundary=boundary,
            cval=0.3,
            stride=stride,
            dilation=dilation,
            flip=flip,
        )
        for method in METHODS:
            got = fn(
                image,
                kernel,
                padding=padding,
                boundary=boundary,
                cval=0.3,
                stride=stride,
                dilation=dilation,
                method=method,
            )
            np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


def test_per_axis_stride_and_dilation_match_hand_loop(rng):
    image = rng.normal(size=(11, 9))
    kernel = rng.normal(size=(3, 2))
    got = correlate(image, kernel, stride=(2, 3), dilation=(3, 1), padding="valid")
    # per-axis hand loop: rows s=2 d=3, cols s=3 d=1
    oh, ow = (11 - 7) // 2 + 1, (9 - 2) // 3 + 1
    ref = np.array(
        [
            [
                sum(
                    kernel[i, j] * image[y * 2 + 3 * i, x * 3 + j]
                    for i in range(3)
                    for j in range(2)
                )
                for x in range(ow)
            ]
            for y in range(oh)
        ]
    )
    np.testing.assert_allclose(got, ref, atol=1e-12)


# ---------------------------------------------------------------- channels and 3-D kernels


@pytest.mark.parametrize("op", [correlate, convolve])
def test_sum_channels_is_the_sum_of_per_channel_responses(rng, op):
    image = rng.integers(0, 256, size=(8, 7, 3)).astype(np.uint8)
    kernel = rng.normal(size=(3, 4))
    got = op(image, kernel, channels="sum", stride=2)
    assert got.shape == (4, 4)
    ref = sum(op(image[:, :, c].astype(np.float64), kernel, stride=2) for c in range(3))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize(("op", "flip"), [(correlate, False), (convolve, True)])
@pytest.mark.parametrize("method", METHODS)
def test_3d_kernel_is_the_sum_of_per_channel_filters(rng, op, flip, method):
    image = rng.normal(size=(8, 9, 3))
    kernel = rng.normal(size=(3, 2, 3))
    got = op(image, kernel, boundary="wrap", method=method)
    assert got.shape == (8, 9)
    ref = sum(
        loop_correlate(image[:, :, c], kernel[:, :, c], boundary="wrap", flip=flip)
        for c in range(3)
    )
    np.testing.assert_allclose(got, ref, atol=1e-10)
    # a 3-D kernel ignores channels= and always gives one map
    np.testing.assert_allclose(op(image, kernel, boundary="wrap", channels="sum"), got)


def test_3d_kernel_of_depth_one_on_gray_image(rng):
    image = rng.normal(size=(5, 6))
    kernel = rng.normal(size=(3, 3, 1))
    np.testing.assert_allclose(correlate(image, kernel), correlate(image, kernel[:, :, 0]))


def test_3d_kernel_depth_mismatch_is_refused(rng):
    with pytest.raises(
        UsageError,
        match=r"3-D kernel of shape \(3, 3, 2\) needs an image with 2 "
        r"channels, got 3",
    ):
        correlate(rng.normal(size=(5, 5, 3)), np.ones((3, 3, 2)))
    with pytest.raises(UsageError, match=r"needs an image with 3 channels, got 1"):
        convolve(rng.normal(size=(5, 5)), np.ones((3, 3, 3)))


# ---------------------------------------------------------------- dtype rule


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.uint8, np.float32),
        (np.uint16, np.float32),
        (np.int8, np.float32),
        (np.int16, np.float32),
        (np.bool_, np.float32),
        (np.float16, np.float32),
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.int32, np.float64),
        (np.uint32, np.float64),
        (np.int64, np.float64),
    ],
)
def test_work_dtype_rule(dtype, expected):
    assert work_dtype(dtype) == np.dtype(expected)
    image = np.ones((4, 4), dtype=dtype)
    assert correlate(image, np.ones((3, 3))).dtype == np.dtype(expected)


def test_work_dtype_refuses_complex_and_strings():
    with pytest.raises(UsageError, match=r"image dtype must be boolean, integer or float, got"):
        work_dtype(np.complex128)
    with pytest.raises(UsageError, match=r"image dtype"):
        correlate(np.array([["a", "b"], ["c", "d"]]), np.ones((1, 1)))


@pytest.mark.parametrize("method", ["auto", "direct"])
def test_uint8_never_accumulates_in_integers(method):
    """The article's astype('uint8') turns 1020 into 252 and -190 into 66; the engine does not."""
    image = np.array([[255, 255, 255], [255, 255, 255], [190, 190, 190]], dtype=np.uint8)
    k = np.zeros((3, 3))
    k[1, 1] = 4.0
    got = correlate(image, k, padding="valid", method=method)
    assert got.dtype == np.float32
    assert got.tolist() == [[1020.0]]
    k2 = np.zeros((3, 3))
    k2[2, 1] = -1.0
    got2 = correlate(image, k2, padding="valid", method=method)
    assert got2.tolist() == [[-190.0]]
    # a kernel summing 255 * 9 * 2 past uint8 and uint16
    assert correlate(image, np.full((3, 3), 2.0), padding="valid", method=method).tolist() == [
        [2 * (255 * 6 + 190 * 3)]
    ]


def test_uint8_through_fft_is_float_not_wrapped():
    image = np.array([[255, 255, 255], [255, 255, 255], [190, 190, 190]], dtype=np.uint8)
    k = np.zeros((3, 3))
    k[1, 1] = 4.0
    # the FFT of float32 data is exact only to float32 rounding of the largest value
    assert correlate(image, k, padding="valid", method="fft")[0, 0] == pytest.approx(1020, abs=1e-3)
    k[1, 1], k[2, 1] = 0.0, -1.0
    assert correlate(image, k, padding="valid", method="fft")[0, 0] == pytest.approx(-190, abs=1e-3)


def test_float64_keeps_float64_precision():
    image = np.array([[1.0 + 1e-12, 1.0, 1.0]])
    got = correlate(image, np.array([[1.0, -1.0]]), padding="valid")
    assert got.dtype == np.float64
    assert abs(got[0, 0] - 1e-12) < 1e-15


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_kernel_is_refused(bad):
    k = np.ones((3, 3))
    k[1, 2] = bad
    with pytest.raises(UsageError, match=r"kernel contains NaN or inf"):
        correlate(np.ones((5, 5)), k)
    with pytest.raises(UsageError, match=r"kernel contains NaN or inf"):
        convolve(np.ones((5, 5)), k)


@pytest.mark.parametrize(
    ("image_shape", "kernel_shape"), [((4, 6), (5, 3)), ((6, 4), (3, 5)), ((1, 1), (2, 2))]
)
def test_valid_output_of_a_kernel_larger_than_the_image_is_refused(image_shape, kernel_shape):
    with pytest.raises(UsageError, match=r"the output would be empty: a \d+x\d+ kernel"):
        convolve(np.ones(image_shape), np.ones(kernel_shape), padding="valid")


def test_dilation_that_makes_the_kernel_too_large_is_refused():
    with pytest.raises(UsageError, match=r"output would be empty.*dilation 3x3"):
        correlate(np.ones((6, 6)), np.ones((3, 3)), padding="valid", dilation=3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(stride=0), r"stride must be >= 1, got 0"),
        (dict(dilation=(1, 0)), r"dilation must be >= 1, got 0"),
        (dict(stride=(1, 2, 3)), r"stride must be an integer or a \(rows, cols\) pair"),
        (dict(padding="half"), r"padding must be same, valid, full, .*; got 'half'"),
        (dict(padding=(1, 2, 3)), r"padding must be same, valid, full, an integer"),
        (dict(padding=-1), r"padding must be >= 0, got -1"),
        (dict(channels="mean"), r"channels must be 'separate' or 'sum', got 'mean'"),
        (dict(method="winograd"), r"method must be auto, direct, separable, fft; got 'winograd'"),
        (dict(boundary="reflect"), r"ambiguous"),
        (dict(boundary="nope"), r"unknown boundary mode 'nope'"),
    ],
)
def test_bad_options_are_refused(kwargs, match):
    with pytest.raises(UsageError, match=match):
        correlate(np.ones((5, 5)), np.ones((3, 3)), **kwargs)


@pytest.mark.parametrize(
    ("image", "kernel", "match"),
    [
        (np.ones(5), np.ones((3, 3)), r"image must have shape \(H, W\) or \(H, W, C\), got \(5,\)"),
        (np.ones((0, 4)), np.ones((3, 3)), r"image must have shape"),
        (np.ones((2, 2, 2, 2)), np.ones((1, 1)), r"image must have shape"),
        (np.ones((5, 5)), np.ones(3), r"kernel must have shape \(kh, kw\) or \(kh, kw, C\), got"),
        (np.ones((5, 5)), np.ones((0, 3)), r"kernel must have shape"),
    ],
)
def test_bad_shapes_are_refused(image, kernel, match):
    with pytest.raises(UsageError, match=match):
        correlate(image, kernel)


def test_a_kernel_name_or_a_file_name_in_place_of_an_array_says_which_function_to_call():
    """A new user's first try, ``convolve(photo, "sobel-x")``: the message gives the fix."""
    with pytest.raises(UsageError) as name:
        convolve(np.ones((5, 5)), "sobel-x")
    assert str(name.value) == (
        "kernel='sobel-x' is text, not an array: pass its weights,"
        " kernel=cnnfilter.kernel('sobel-x')"
    )
    with pytest.raises(UsageError) as path:
        correlate("photo.png", np.ones((3, 3)))
    assert str(path.value) == (
        "image='photo.png' is text, not an array: read the file first,"
        " image=cnnfilter.read_image('photo.png').pixels"
    )


@pytest.mark.parametrize("weights", [np.array([[1 + 1j]]), np.array([[None]]), np.array([["1"]])])
def test_a_kernel_of_other_than_real_numbers_is_refused(weights):
    # complex weights were cast to float32 with their imaginary part silently dropped
    message = f"kernel dtype must be boolean, integer or float, got {weights.dtype}"
    with pytest.raises(UsageError) as refused:
        correlate(np.ones((5, 5)), weights)
    assert str(refused.value) == message


def test_choose_method_threshold():
    # DIRECT_MAX_TAPS = 196, measured (see cnnfilter/engine/filtering.py)
    assert choose_method("auto", (14, 14)) == "direct"
    assert choose_method("auto", (15, 14)) == "fft"
    assert choose_method("direct", (31, 31)) == "direct"
    assert choose_method("fft", (1, 1)) == "fft"


def test_filter_geometry_reports_the_output_shape():
    geom = filter_geometry((100, 60), (4, 3), padding="same", stride=(2, 3))
    assert geom.out_shape == (50, 20)
    assert (geom.rows.pad_before, geom.rows.pad_after) == (2, 1)
    assert filter_geometry((100, 60), (4, 3), padding="same", flipped=True).rows.pad_before == 1


# ---------------------------------------------------------------- hypothesis properties

small = st.integers(1, 9)
values = st.floats(-100, 100, allow_nan=False, allow_infinity=False, width=64)
boundaries = st.sampled_from(sorted(NDIMAGE_MODE))


def arrays(shape_strategy):
    return hnp.arrays(np.float64, shape_strategy, elements=values)


@st.composite
def image_and_kernel(draw, odd=None):
    h, w = draw(small), draw(small)
    image = draw(arrays(st.just((h, w))))
    if odd is True:
        kh, kw = draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 3, 5]))
    elif odd is False:
        kh, kw = draw(st.sampled_from([2, 4])), draw(st.sampled_from([2, 4]))
    else:
        kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    kernel = draw(arrays(st.just((kh, kw))))
    return image, kernel


@settings(max_examples=60, deadline=None)
@given(data=image_and_kernel(), boundary=boundaries, channels=st.integers(0, 3))
def test_identity_kernel_returns_the_image(data, boundary, channels):
    image, _ = data
    if channels:
        image = np.stack([image + c for c in range(channels)], axis=-1)
    for size in (1, 3, 5):
        delta = np.zeros((size, size))
        delta[size // 2, size // 2] = 1.0
        for op in (correlate, convolve):
            np.testing.assert_array_equal(op(image, delta, boundary=boundary), image)


@settings(max_examples=60, deadline=None)
@given(
    data=image_and_kernel(),
    boundary=boundaries,
    a=values,
    b=values,
    method=st.sampled_from(METHODS),
)
def test_linear_in_the_image(data, boundary, a, b, method):
    image, kernel = data
    other = np.roll(image[::-1], 1, axis=1) - 3.0
    lhs = correlate(a * image + b * other, kernel, boundary=boundary, method=method)
    rhs = a * correlate(image, kernel, boundary=boundary, method=method) + b * correlate(
        other, kernel, boundary=boundary, method=method
    )
    scale = (abs(a) + abs(b) + 1) * (np.abs(image).max() + 4) * (np.abs(kernel).sum() + 1)
    np.testing.assert_allclose(lhs, rhs, atol=1e-9 * scale)


@settings(max_examples=60, deadline=None)
@given(
    data=image_and_kernel(),
    boundary=boundaries,
    a=values,
    b=values,
    method=st.sampled_from(METHODS),
)
def test_linear_in_the_kernel(data, boundary, a, b, method):
    image, kernel = data
    other = kernel[::-1] * 0.5 + 1.0
    lhs = convolve(image, a * kernel + b * other, boundary=boundary, method=method)
    rhs = a * convolve(image, kernel, boundary=boundary, method=method) + b * convolve(
        image, other, boundary=boundary, method=method
    )
    scale = (abs(a) + abs(b) + 1) * (np.abs(image).max() + 1) * (np.abs(kernel).sum() + 4)
    np.testing.assert_allclose(lhs, rhs, atol=1e-9 * scale)


@settings(max_examples=80, deadline=None)
@given(
    data=image_and_kernel(odd=True),
    boundary=boundaries,
    padding=st.sampled_from(["same", "valid", "full", 0, 1, 3]),
)
def test_odd_kernel_convolution_is_correlation_with_the_flipped_kernel(data, boundary, padding):
    image, kernel = data
    try:
        conv = convolve(image, kernel, boundary=boundary, padding=padding)
    except UsageError:
        assume(False)
    corr = correlate(image, kernel[::-1, ::-1], boundary=boundary, padding=padding)
    np.testing.assert_array_equal(conv, corr)


@settings(max_examples=80, deadline=None)
@given(data=image_and_kernel(odd=False), boundary=boundaries)
def test_even_kernel_convolution_is_flipped_correlation_shifted_by_one(data, boundary):
    """Even kernels: 'same' convolution anchors tap (k-1)//2 of the flipped kernel,
    'same' correlation tap k//2 (both scipy.ndimage's rule), so
    convolve(x, w)[i] == correlate(x, flip(w))[i + 1] along an even axis, and both equal
    the flipped correlation with padding ((k-1)//2, k//2)."""
    image, kernel = data
    kh, kw = kernel.shape
    flipped = kernel[::-1, ::-1]
    conv = convolve(image, kernel, boundary=boundary)
    corr = correlate(image, flipped, boundary=boundary)
    explicit = correlate(
        image, flipped, boundary=boundary, padding=((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2)
    )
    np.testing.assert_array_equal(conv, explicit)
    # kh and kw are even: shifted by one row and one column
    # equal to rounding: the engine's BLAS products may sum the same taps in another
    # order at another position in the tile
    np.testing.assert_allclose(conv[:-1, :-1], corr[1:, 1:], rtol=1e-12, atol=1e-9)
    # with explicit (not 'same') paddings the flip alone relates them, as for odd kernels
    for padding in ("valid", "full", 2):
        try:
            conv_p = convolve(image, kernel, boundary=boundary, padding=padding)
        except UsageError:
            continue
        np.testing.assert_array_equal(
            conv_p, correlate(image, flipped, boundary=boundary, padding=padding)
        )


@settings(max_examples=150, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    kh=st.integers(1, 6),
    kw=st.integers(1, 6),
    s=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    d=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.sampled_from(["same", "valid", "full", 0, 1, 2, 5]),
    op=st.sampled_from([correlate, convolve]),
)
def test_output_shape_is_the_formula(h, w, kh, kw, s, d, padding, op):
    def expected(n, k, stride, dil):
        k_eff = dil * (k - 1) + 1
        if padding == "same":
            return -(-n // stride)
        total = {"valid": 0, "full": 2 * (k_eff - 1)}.get(padding, 2 * padding)
        return math.floor((n + total - k_eff) / stride) + 1

    oh, ow = expected(h, kh, s[0], d[0]), expected(w, kw, s[1], d[1])
    image = np.ones((h, w, 2), dtype=np.uint8)
    if oh <= 0 or ow <= 0:
        with pytest.raises(UsageError, match=r"output would be empty"):
            op(image, np.ones((kh, kw)), stride=s, dilation=d, padding=padding)
        return
    out = op(image, np.ones((kh, kw)), stride=s, dilation=d, padding=padding)
    assert out.shape == (oh, ow, 2)


@settings(max_examples=80, deadline=None)
@given(
    data=image_and_kernel(),
    boundary=boundaries,
    s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    d=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.sampled_from(["same", "full", 0, 2]),
    op=st.sampled_from([correlate, convolve]),
)
def test_direct_and_fft_agree(data, boundary, s, d, padding, op):
    image, kernel = data
    kwargs = dict(boundary=boundary, stride=s, dilation=d, padding=padding, cval=2.5)
    try:
        direct = op(image, kernel, method="direct", **kwargs)
    except UsageError:  # a kernel larger than the padded image: refused, tested elsewhere
        assume(False)
    fft = op(image, kernel, method="fft", **kwargs)
    scale = (np.abs(image).max() + 2.5) * np.abs(kernel).sum() + 1
    np.testing.assert_allclose(direct, fft, atol=1e-10 * scale)


@settings(max_examples=60, deadline=None)
@given(
    data=image_and_kernel(),
    boundary=boundaries,
    s=st.integers(2, 4),
    op=st.sampled_from([correlate, convolve]),
)
def test_same_with_stride_samples_the_stride_one_output(data, boundary, s, op):
    image, kernel = data
    full = op(image, kernel, boundary=boundary)
    strided = op(image, kernel, boundary=boundary, stride=s)
    np.testing.assert_allclose(strided, full[::s, ::s], rtol=1e-12, atol=1e-9)  # to rounding


@settings(max_examples=60, deadline=None)
@given(
    data=image_and_kernel(),
    boundary=boundaries,
    d=st.integers(2, 3),
    padding=st.sampled_from(["same", "full", 1]),
    op=st.sampled_from([correlate, convolve]),
)
def test_dilation_equals_a_kernel_with_zeros_inserted(data, boundary, d, padding, op):
    image, kernel = data
    kh, kw = kernel.shape
    spread = np.zeros((d * (kh - 1) + 1, d * (kw - 1) + 1))
    spread[::d, ::d] = kernel
    try:
        dilated = op(image, kernel, boundary=boundary, dilation=d, padding=padding, method="direct")
    except UsageError:
        assume(False)
    np.testing.assert_allclose(
        dilated,
        op(image, spread, boundary=boundary, padding=padding, method="direct"),
        atol=1e-9,
    )
