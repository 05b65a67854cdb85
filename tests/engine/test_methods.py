"""Every filtering method agrees with an independent float64 reference.

The reference pads with ``numpy.pad`` and sums one shifted view per tap in
float64: none of the engine's tiling, banded products or FFTs. The engine's
result is float32 for float32/uint8 input, so the tolerance is float32
rounding scaled by the size of the terms: ``1e-5 * sum|w| * max|x|``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.ndimage as ndi

from cnnfilter.engine import _tiled
from cnnfilter.engine.boundary import numpy_pad_mode
from cnnfilter.engine.filtering import (
    DIRECT_MAX_TAPS,
    convolve,
    correlate,
    filter_geometry,
    plan_method,
)
from cnnfilter.errors import UsageError

from helpers import ROOT

#: This checkout first on the path, whichever one the venv points at.
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

MODES = ["symmetric", "mirror", "edge", "wrap", "constant"]


def reference(
    image,
    kernel,
    *,
    padding="same",
    boundary="symmetric",
    cval=0.0,
    stride=1,
    dilation=1,
    channels="separate",
    flip=False,
):
    """Float64 cross-correlation (or convolution with ``flip``) the slow, plain way."""
    x = np.asarray(image, dtype=np.float64)
    w = np.asarray(kernel, dtype=np.float64)
    if flip:
        w = w[::-1, ::-1]
    geom = filter_geometry(
        x.shape, w.shape, padding=padding, stride=stride, dilation=dilation, flipped=flip
    )
    if x.ndim == 2:
        x = x[:, :, np.newaxis]
    pads = [
        (geom.rows.pad_before, geom.rows.pad_after),
        (geom.cols.pad_before, geom.cols.pad_after),
        (0, 0),
    ]
    mode = numpy_pad_mode(boundary)
    extra = {"constant_values": cval} if mode == "constant" else {}
    p = np.pad(x, pads, mode=mode, **extra)
    oh, ow = geom.out_shape
    sh, sw = geom.rows.stride, geom.cols.stride
    dh, dw = geom.rows.dilation, geom.cols.dilation
    out = np.zeros((oh, ow, x.shape[2]))
    w3 = w if w.ndim == 3 else w[:, :, np.newaxis]
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            view = p[
                i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw
            ]
            out += view * w3[i, j]
    if w.ndim == 3 or channels == "sum":
        return out.sum(axis=2)
    return out[:, :, 0] if np.asarray(image).ndim == 2 else out


def assert_close(got, want, image, kernel):
    scale = float(np.abs(kernel).sum() * max(np.abs(np.asarray(image, float)).max(), 1.0))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * scale)


def methods_for(kernel):
    w = np.asarray(kernel)
    rank1 = plan_method(w, method="auto").method == "separable" or (
        w.ndim == 2 and np.linalg.matrix_rank(w) == 1
    )
    return ["direct", "fft"] + (["separable"] if rank1 else [])


@pytest.fixture
def photo(samples):
    from PIL import Image

    with Image.open(samples / "astronaut.png") as im:
        return np.asarray(im.convert("RGB"))[100:141, 200:233]  # 41 x 33 x 3, uint8


@pytest.fixture(autouse=True)
def small_tiles(monkeypatch):
    """Small tiles, so that even test-sized images cross many tile borders."""
    monkeypatch.setattr(_tiled.StackedDirectTile, "tile_rows", 3)
    monkeypatch.setattr(_tiled.SeparableTile, "tile_rows", 5)
    monkeypatch.setattr(_tiled, "ROW_BLOCK", 4)
    monkeypatch.setattr(_tiled, "FFT_TILE_MIN", 8)
    monkeypatch.setattr(_tiled, "FFT_TILE_MAX", 8)


KERNELS = {
    "odd 3x3": np.array([[1.0, -2, 0.5], [0, 3, -1], [2, 1, -4]]),
    "even 4x4": np.arange(16.0).reshape(4, 4) - 7.5,
    "rect 2x5": np.array([[1.0, 2, 0, -1, 3], [0.5, -2, 1, 1, -1]]),
    "rect 5x2": np.array([[1.0, 2], [0, -1], [3, 0.5], [-2, 1], [1, -1]]),
    "row 1x7": np.array([[1.0, -1, 2, 0, 3, -2, 1]]),
    "separable 5x3": np.outer([1.0, 4, 6, 4, 1], [1.0, 0, -1]),
    "separable even 4x6": np.outer([1.0, 3, 3, 1], [1.0, -2, 0.5, 4, 1, 1]),
}


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("mode", MODES)
def test_every_method_matches_reference_for_every_kernel_shape_and_boundary(photo, name, mode):
    kernel = KERNELS[name]
    want = reference(photo, kernel, boundary=mode, cval=7.0)
    for method in methods_for(kernel):
        got = correlate(photo, kernel, boundary=mode, cval=7.0, method=method)
        assert got.dtype == np.float32
        assert_close(got, want, photo, kernel)


@pytest.mark.parametrize("stride", [1, 2, (3, 2)])
@pytest.mark.parametrize("dilation", [1, 2, (1, 3)])
@pytest.mark.parametrize("padding", ["same", "valid", "full", 2, (1, 0, 3, 2)])
def test_every_method_matches_reference_with_stride_dilation_and_padding(
    photo, stride, dilation, padding
):
    for kernel in (KERNELS["odd 3x3"], KERNELS["separable even 4x6"]):
        want = reference(
            photo, kernel, padding=padding, stride=stride, dilation=dilation, boundary="mirror"
        )
        for method in methods_for(kernel):
            got = correlate(
                photo,
                kernel,
                padding=padding,
                stride=stride,
                dilation=dilation,
                boundary="mirror",
                method=method,
            )
            assert_close(got, want, photo, kernel)


@pytest.mark.parametrize("method", ["direct", "separable", "fft"])
def test_convolution_flips_the_kernel_in_every_method(photo, method):
    kernel = KERNELS["separable even 4x6"]
    want = reference(photo, kernel, flip=True, boundary="edge")
    got = convolve(photo, kernel, boundary="edge", method=method)
    assert_close(got, want, photo, kernel)
    # and scipy.ndimage.convolve (origin 0) agrees, channel by channel
    nd = np.stack(
        [ndi.convolve(photo[..., c].astype(float), kernel, mode="nearest") for c in range(3)],
        axis=-1,
    )
    assert_close(got, nd, photo, kernel)


@pytest.mark.parametrize("method", ["direct", "separable", "fft"])
def test_summed_channels_and_gray_images(photo, method):
    kernel = KERNELS["separable 5x3"]
    got = correlate(photo, kernel, channels="sum", method=method)
    assert got.shape == photo.shape[:2]
    assert_close(got, reference(photo, kernel, channels="sum"), photo, 3 * kernel)
    gray = photo[..., 1]
    assert_close(correlate(gray, kernel, method=method), reference(gray, kernel), gray, kernel)


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("stride", [1, 2])
def test_three_d_kernel_sums_each_channels_response(photo, rng, method, stride):
    kernel = rng.standard_normal((3, 4, 3))
    got = correlate(photo, kernel, method=method, stride=stride, boundary="wrap")
    assert got.ndim == 2
    want = reference(photo, kernel, stride=stride, boundary="wrap")
    assert_close(got, want, photo, kernel)


def test_separable_three_d_kernel_when_every_slice_is_rank_one(photo):
    col, row = [1.0, 2, 3, 4, 3, 2, 1], [1.0, 3, -1, 2, 1, 1, 2]
    kernel = np.stack([np.outer(col, row) * s for s in (1, -2, 0.5)], axis=-1)
    assert plan_method(kernel).method == "separable"
    assert_close(correlate(photo, kernel), reference(photo, kernel), photo, kernel)


def test_float64_images_stay_float64_and_match_more_tightly(rng):
    image = rng.standard_normal((29, 31))
    kernel = rng.standard_normal((3, 3))
    for method in ("direct", "fft"):
        got = correlate(image, kernel, method=method)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, reference(image, kernel), rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", ["direct", "separable"])
def test_nan_pixels_spread_only_as_far_as_the_kernel_reaches(rng, method):
    image = rng.random((30, 26)).astype(np.float32)
    image[12, 9] = np.nan
    kernel = np.outer([1.0, 2, 1], [1.0, 2, 1])
    got = correlate(image, kernel, method=method)
    want = reference(image, kernel)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got).sum() == 9
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], atol=1e-5 * 16)


def test_large_image_crosses_tiles_and_matches_scipy(samples):
    """Default tile sizes (not the small ones of the fixture) on a real photo."""
    from PIL import Image

    with Image.open(samples / "camera.png") as im:
        image = np.asarray(im.convert("L"))
    kernel = np.random.default_rng(5).standard_normal((9, 9))
    want = ndi.correlate(image.astype(float), kernel, mode="reflect")
    for method in ("direct", "fft"):
        assert_close(correlate(image, kernel, method=method), want, image, kernel)


def test_auto_picks_separable_direct_and_fft_as_documented():
    gaussian = np.outer(*[np.exp(-(np.linspace(-2, 2, 15) ** 2))] * 2)
    assert plan_method(gaussian).method == "separable"
    assert plan_method(np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])).method == "direct"
    assert plan_method(np.ones((5, 5)) + np.eye(5)).method == "direct"
    big = np.random.default_rng(0).standard_normal((31, 31))
    assert plan_method(big).method == "fft"
    # the crossover is the count of non-zero taps, not the kernel's side
    sparse = np.zeros((31, 31))
    sparse[::6, ::6] = np.arange(36.0).reshape(6, 6) - 10
    assert np.count_nonzero(sparse) <= DIRECT_MAX_TAPS
    assert plan_method(sparse).method == "direct"


def test_plan_describes_what_ran_and_refuses_separable_for_full_rank():
    plan = plan_method(np.outer([1.0, 2, 3, 4, 3, 2, 1], [1.0, 2, 1, 1, 1, 2, 1]))
    assert plan.describe() == "separable (auto: rank-1 7x7 kernel: 7 + 7 taps instead of 49)"
    # small rank-1 kernels run direct: faster than two passes (SEPARABLE_MIN_TAPS)
    assert plan_method(np.outer([1.0, 2, 1], [1.0, 2, 1])).describe() == (
        "direct (auto: 3x3 kernel: 9 non-zero taps)"
    )
    assert plan_method(np.outer([1.0, 4, 6, 4, 1], [1.0, 4, 6, 4, 1])).method == "direct"
    assert plan_method(np.outer([1.0, 4, 6, 4, 1, 1], [1.0, 4, 6, 4, 1])).method == "separable"
    assert plan_method(np.eye(3), method="fft").describe() == "fft (3x3 kernel)"
    with pytest.raises(UsageError, match="rank-1"):
        plan_method(np.eye(3), method="separable")
    with pytest.raises(UsageError, match="method must be"):
        plan_method(np.eye(3), method="winograd")


def test_engine_import_leaves_scipy_until_fft_runs():
    code = (
        "import sys, numpy as np\n"
        "from cnnfilter.engine.filtering import correlate\n"
        "correlate(np.ones((9, 9)), np.eye(3), method='direct')\n"
        "print('scipy' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=ENV
    )
    assert proc.stdout.strip() == "False"


# The source fast path of run_rows: a C-contiguous image already in the working dtype
# (float32 here) is read in place by the direct method, the border columns computed
# apart. The photo above is uint8, so it always takes the tile-copy path.


@pytest.fixture
def float_photo(photo):
    return np.ascontiguousarray(photo, dtype=np.float32) / 255.0


@pytest.mark.parametrize("name", ["odd 3x3", "even 4x4", "rect 2x5", "rect 5x2", "row 1x7"])
@pytest.mark.parametrize("mode", MODES)
def test_direct_on_float_source_matches_reference(float_photo, name, mode):
    kernel = KERNELS[name]
    got = correlate(float_photo, kernel, boundary=mode, cval=0.3, method="direct")
    assert_close(got, reference(float_photo, kernel, boundary=mode, cval=0.3), float_photo, kernel)
    gray = np.ascontiguousarray(float_photo[..., 0])
    got = convolve(gray, kernel, boundary=mode, cval=0.3, method="direct")
    want = reference(gray, kernel, boundary=mode, cval=0.3, flip=True)
    assert_close(got, want, gray, kernel)


@pytest.mark.parametrize("stride", [1, 2, (3, 2)])
@pytest.mark.parametrize("dilation", [1, 2, (1, 3)])
@pytest.mark.parametrize("padding", ["same", "valid", "full", (1, 0, 3, 2)])
def test_direct_on_float_source_with_stride_dilation_and_padding(
    float_photo, stride, dilation, padding
):
    kernel = KERNELS["odd 3x3"]
    kw = dict(padding=padding, stride=stride, dilation=dilation, boundary="symmetric")
    got = correlate(float_photo, kernel, method="direct", **kw)
    assert_close(got, reference(float_photo, kernel, **kw), float_photo, kernel)


@pytest.mark.parametrize("tile_rows", [1, 2, 3, 7])
@pytest.mark.parametrize("shape", [(5, 5), (6, 4), (12, 3), (3, 12), (1, 9)])
def test_direct_on_float_source_at_tile_and_image_borders(monkeypatch, rng, tile_rows, shape):
    """Narrow and short images: few or no windows wholly inside, in rows or columns."""
    monkeypatch.setattr(_tiled.StackedDirectTile, "tile_rows", tile_rows)
    image = rng.standard_normal(shape + (2,)).astype(np.float32)
    kernel = rng.standard_normal((3, 5))
    for mode in ("wrap", "mirror"):
        got = correlate(image, kernel, boundary=mode, method="direct")
        assert_close(got, reference(image, kernel, boundary=mode), image, kernel)


@pytest.mark.parametrize("method", ["direct", "separable"])
def test_nan_and_inf_on_float_source_spread_only_where_the_kernel_reaches(rng, method):
    image = rng.random((40, 30)).astype(np.float32)
    image[20, 15] = np.nan  # inside: read from the source
    image[3, 0] = np.inf  # in a border strip
    kernel = np.outer([1.0, 2, 0.5], [0.25, 1, 3])  # no zero: inf * 0 is NaN
    got = correlate(image, kernel, method=method)
    want = reference(image, kernel)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = np.isfinite(want)
    np.testing.assert_allclose(got[ok], want[ok], atol=1e-5 * 10)


def test_direct_on_float_source_does_not_write_the_source(rng):
    image = rng.standard_normal((20, 17, 3)).astype(np.float32)
    before = image.copy()
    correlate(image, KERNELS["odd 3x3"], method="direct")
    np.testing.assert_array_equal(image, before)


def test_parallel_runs_every_bound_and_reraises_the_first_error():
    seen = []
    _tiled.parallel(lambda a, b: seen.append((a, b)), [(i, i + 1) for i in range(50)])
    assert sorted(seen) == [(i, i + 1) for i in range(50)]

    def fail(a):
        if a == 7:
            raise ValueError("tile 7")

    with pytest.raises(ValueError, match="tile 7"):
        _tiled.parallel(fail, [(i,) for i in range(20)])
