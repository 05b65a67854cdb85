"""Chunked filtering and pooling equal the in-memory engine, block edges anywhere.

Small images, blocks of a few pixels: every boundary mode, padding, stride and
dilation crosses block edges. Pooling gives the same bits. Filtering gives
the same bits with numpy 2.x's OpenBLAS here, but a BLAS may sum a banded
product in another order for another block shape (numpy 1.24's OpenBLAS
differs by one unit in the last place), so the filtering tests allow float32
rounding: ``SAME``, a millionth of the largest value. A wrong window (one
pixel off, a wrong mirror) moves values by a sizeable part of the range.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cnnfilter.engine.boundary import BOUNDARIES
from cnnfilter.engine.image_filter import FilterSettings, filter_image
from cnnfilter.engine.pooling import pool2d, pool_spec
from cnnfilter.errors import UsageError

da = pytest.importorskip("dask.array")
from cnnfilter.engine import chunked  # noqa: E402

RNG = np.random.default_rng(17)
GRAY = RNG.integers(0, 256, (37, 29), dtype=np.uint8)
RGB = RNG.integers(0, 256, (23, 31, 3), dtype=np.uint8)
DIRECT = RNG.normal(size=(4, 5))  # even rows: the anchor rule of 'same' differs per op
SEPARABLE = np.outer(RNG.normal(size=7), RNG.normal(size=7))


def same(got, expected, ulps: float = 1e-6) -> None:
    """Equal to float32 rounding: ``|got - expected| <= ulps * max|expected|``."""
    assert got.shape == expected.shape and got.dtype == expected.dtype
    scale = float(np.abs(expected).max()) or 1.0
    np.testing.assert_allclose(got, expected, rtol=0, atol=scale * ulps)


def same_pixels(got, expected) -> None:
    """Integer pixels: equal, or 1 apart where a value sat on a rounding tie (rare)."""
    assert got.shape == expected.shape and got.dtype == expected.dtype
    diff = np.abs(got.astype(np.int64) - expected.astype(np.int64))
    assert diff.max() <= 1 and np.count_nonzero(diff) <= max(1, diff.size // 1000)


def run(src, weights, settings, chunk):
    out = chunked.filter_chunked(src, weights, settings, max_value=255.0, chunk=chunk)
    return out.compute(scheduler="sync")


@pytest.mark.parametrize("boundary", list(BOUNDARIES))
@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (3, 2), ((2, 3), (1, 2))])
@pytest.mark.parametrize("padding", ["same", "valid", "full", (3, 1, 0, 4)])
@pytest.mark.parametrize("op", ["convolve", "correlate"])
def test_direct_equals_in_memory(boundary, stride, dilation, padding, op):
    settings = FilterSettings(
        op=op, boundary=boundary, stride=stride, dilation=dilation, padding=padding, cval=7.5,
        raw=True,
    )  # fmt: skip
    expected = filter_image(GRAY, DIRECT, settings).pixels
    same(run(GRAY, DIRECT, settings, chunk=5), expected)


@pytest.mark.parametrize(
    "range_mode,sum_channels,boundary",
    list(itertools.product(["clip", "abs"], [False, True], ["symmetric", "wrap", "constant"])),
)
def test_separable_rgb_pixels_equal(range_mode, sum_channels, boundary):
    settings = FilterSettings(
        boundary=boundary, stride=2, range_mode=range_mode, sum_channels=sum_channels
    )
    expected = filter_image(RGB, SEPARABLE, settings).pixels
    got = run(RGB, SEPARABLE, settings, chunk=6)
    assert got.dtype == np.uint8
    same_pixels(got, expected)


def test_fft_agrees_to_rounding():
    kernel = RNG.normal(size=(17, 15))  # 255 taps > 196: the FFT method
    settings = FilterSettings(boundary="mirror", raw=True)
    expected = filter_image(RGB, kernel, settings).pixels
    got = run(RGB, kernel, settings, chunk=8)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=0, atol=scale * 2e-6)


def test_pad_wider_than_the_image_wraps_like_numpy():
    # a 'full' 9x9 kernel on a 3x4 image: the pad (8) is wider than the image
    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    k = np.ones((9, 9))
    settings = FilterSettings(op="correlate", padding="full", boundary="wrap", raw=True)
    ext = np.pad(img, 8, mode="wrap")
    reference = np.array(
        [[ext[y : y + 9, x : x + 9].sum() for x in range(4 + 8)] for y in range(3 + 8)]
    )  # fmt: skip
    same(run(img, k, settings, chunk=2), reference.astype(np.float32))


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1])
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("include_pad", [True, False])
def test_pooling_equals_in_memory(op, stride, padding, ceil_mode, include_pad):
    spec = pool_spec(
        op, 3, stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=include_pad
    )
    for image in (GRAY, RGB.astype(np.float32)):
        got = chunked.pool_chunked(image, spec, chunk=4).compute(scheduler="sync")
        np.testing.assert_array_equal(got, pool2d(image, spec))


def test_dilated_max_pooling():
    spec = pool_spec("max", 2, stride=1, dilation=3, padding=1)
    got = chunked.pool_chunked(GRAY, spec, chunk=3).compute(scheduler="sync")
    np.testing.assert_array_equal(got, pool2d(GRAY, spec))


def test_whole_response_ranges_are_refused():
    with pytest.raises(UsageError, match="range_mode='clip', 'abs' or 'raw'"):
        chunked.filter_chunked(GRAY, DIRECT, FilterSettings(range_mode="stretch"), max_value=255)


def test_runs_read_reflections_as_reversed_slices():
    assert chunked.runs(np.array([1, 0, 0, 1, 2, 3, 3, 2])) == [
        (0, 2, 1, -1), (2, 6, 0, 1), (6, 8, 3, -1),
    ]  # fmt: skip
    src = np.arange(20).reshape(4, 5)
    rows, cols = np.array([1, 0, 0, 1, 2, 3, 3]), np.array([-1, 4, 3, 2, -1])
    window = chunked.read_window(src, rows, cols, cval=-9, dtype=np.int64)
    expected = np.where(cols[np.newaxis, :] < 0, -9, src[rows][:, np.maximum(cols, 0)])
    np.testing.assert_array_equal(window, expected)
