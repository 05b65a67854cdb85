"""Every faster path against an independent reference, on random cases (hypothesis).

Issue 16's paths: the direct method's per-tile BLAS product with the input-tile
NaN check, the source fast path, the thread budget, pooling's fused passes and
in-block divide, and the parallel PNG encoder. References: a loop over kernel
taps on a ``numpy.pad``-extended float64 image (independent of the tiling),
``scipy.ndimage.correlate`` for stride 1, a loop over pooling windows, and
Pillow / zlib for the PNG bytes.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnfilter._pngenc import adler32_combine, encode_png, paeth_rows
from cnnfilter.engine import _tiled
from cnnfilter.engine.boundary import BOUNDARIES
from cnnfilter.engine.filtering import correlate, filter_geometry
from cnnfilter.engine.pooling import pool2d, pool_axes, pool_spec

MODES = sorted(BOUNDARIES)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def loop_correlate(image, weights, geom, mode, cval):
    """``out[y, x] = sum_ij w[i, j] ext[y s + i d, x s + j d]`` with ``numpy.pad``'s extension."""
    rows, cols = geom.rows, geom.cols
    pads = [(rows.pad_before, rows.pad_after), (cols.pad_before, cols.pad_after)]
    pads += [(0, 0)] * (image.ndim - 2)
    np_mode = BOUNDARIES[mode].numpy_mode
    kwargs = {"constant_values": cval} if np_mode == "constant" else {}
    ext = np.pad(image.astype(np.float64), pads, mode=np_mode, **kwargs)
    out = np.zeros((rows.out, cols.out) + image.shape[2:])
    for i in range(weights.shape[0]):
        for j in range(weights.shape[1]):
            r0, c0 = i * rows.dilation, j * cols.dilation
            view = ext[
                r0 : r0 + (rows.out - 1) * rows.stride + 1 : rows.stride,
                c0 : c0 + (cols.out - 1) * cols.stride + 1 : cols.stride,
            ]
            out += weights[i, j] * view
    return out


cases = st.fixed_dictionaries(
    {
        "h": st.integers(1, 40),
        "w": st.integers(1, 40),
        "chans": st.sampled_from([0, 1, 3]),
        "kh": st.integers(1, 6),
        "kw": st.integers(1, 6),
        "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "dilation": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "padding": st.sampled_from(["same", "valid", "full", 1, (2, 0)]),
        "mode": st.sampled_from(MODES),
        "dtype": st.sampled_from(["float32", "uint8"]),
        "tile_rows": st.sampled_from([1, 2, 4, 7]),
        "seed": st.integers(0, 2**31 - 1),
    }
)


@SETTINGS
@given(case=cases)
def test_direct_matches_the_tap_loop_on_random_geometry(case):
    rng = np.random.default_rng(case["seed"])
    shape = (case["h"], case["w"]) + ((case["chans"],) if case["chans"] else ())
    if case["dtype"] == "uint8":
        image = rng.integers(0, 256, shape).astype(np.uint8)
    else:
        image = rng.uniform(-100, 100, shape).astype(np.float32)
    weights = rng.standard_normal((case["kh"], case["kw"]))
    kwargs = dict(
        padding=case["padding"],
        stride=case["stride"],
        dilation=case["dilation"],
        boundary=case["mode"],
        cval=2.5,
    )
    try:
        geom = filter_geometry(
            image.shape,
            weights.shape,
            padding=case["padding"],
            stride=case["stride"],
            dilation=case["dilation"],
        )
    except ValueError:
        return
    if geom.rows.out <= 0 or geom.cols.out <= 0:
        return
    expected = loop_correlate(image, weights.astype(np.float32), geom, case["mode"], 2.5)
    old = _tiled.StackedDirectTile.tile_rows
    _tiled.StackedDirectTile.tile_rows = case["tile_rows"]
    try:
        got = correlate(image, weights, method="direct", **kwargs)
    finally:
        _tiled.StackedDirectTile.tile_rows = old
    assert got.dtype == np.float32 and got.shape == expected.shape
    scale = np.abs(image).max() * np.abs(weights).sum() + 1
    np.testing.assert_allclose(got, expected, rtol=0, atol=4e-7 * scale)


@SETTINGS
@given(
    h=st.integers(3, 50),
    w=st.integers(3, 50),
    kh=st.integers(1, 5),
    kw=st.integers(1, 5),
    mode=st.sampled_from(["reflect", "mirror", "nearest", "wrap", "constant"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_direct_same_matches_scipy_ndimage(h, w, kh, kw, mode, seed):
    from scipy import ndimage

    ours = {"reflect": "symmetric", "mirror": "mirror", "nearest": "edge", "wrap": "wrap"}
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 1, (h, w, 3)).astype(np.float32)
    weights = rng.standard_normal((kh, kw)).astype(np.float32)
    got = correlate(image, weights, boundary=ours.get(mode, "constant"), cval=0.5)
    expected = np.stack(
        [
            ndimage.correlate(image[..., c].astype(np.float64), weights, mode=mode, cval=0.5)
            for c in range(3)
        ],
        axis=-1,
    )
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6 * np.abs(weights).sum())


# FlatRows: whole row tiles as kw BLAS products accumulating in place (column stride 1,
# one plane, the BLAS numpy's wheels bundle). Each case runs with it and without it and
# counts the tiles it took, so a case that should use it and silently does not fails.
flat_cases = st.fixed_dictionaries(
    {
        "h": st.integers(1, 40),
        "w": st.integers(1, 40),
        "chans": st.sampled_from([0, 1, 3, 4]),
        "kh": st.integers(1, 6),
        "kw": st.integers(1, 6),
        "row_stride": st.integers(1, 3),
        "dilation": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "padding": st.sampled_from(
            ["same", "valid", "full", 1, (2, 0), (0, 1, 3, 0), (1, 2, 0, 4)]
        ),
        "mode": st.sampled_from(MODES),
        "dtype": st.sampled_from(["float32", "float64", "uint8", "int16", "float16"]),
        "tile_rows": st.sampled_from([1, 2, 4, 7]),
        "seed": st.integers(0, 2**31 - 1),
    }
)


def _count_flat(monkeypatch) -> list:
    calls = []
    real = _tiled.FlatRows.__call__

    def spy(self, *args):
        done = real(self, *args)
        calls.append(done)
        return done

    monkeypatch.setattr(_tiled.FlatRows, "__call__", spy)
    return calls


needs_flat = pytest.mark.skipif(
    _tiled.cblas_gemm("s") is None or _tiled.cblas_gemm("d") is None,
    reason="numpy's BLAS is not reachable through ctypes on this build",
)


@needs_flat
@SETTINGS
@given(case=flat_cases)
def test_flat_rows_match_the_tap_loop_and_the_tile_path(case):
    rng = np.random.default_rng(case["seed"])
    shape = (case["h"], case["w"]) + ((case["chans"],) if case["chans"] else ())
    dtype = np.dtype(case["dtype"])
    if dtype.kind == "f":
        image = rng.uniform(-100, 100, shape).astype(dtype)
    else:
        image = rng.integers(-100 if dtype.kind == "i" else 0, 256, shape).astype(dtype)
    weights = rng.standard_normal((case["kh"], case["kw"]))
    kwargs = dict(
        padding=case["padding"],
        stride=(case["row_stride"], 1),
        dilation=case["dilation"],
        boundary=case["mode"],
        cval=2.5,
    )
    try:
        geom = filter_geometry(image.shape, weights.shape, **{
            k: kwargs[k] for k in ("padding", "stride", "dilation")})  # fmt: skip
    except ValueError:
        return
    if geom.rows.out <= 0 or geom.cols.out <= 0:
        return
    work = np.float64 if dtype == np.float64 else np.float32
    expected = loop_correlate(image, weights.astype(work), geom, case["mode"], 2.5)
    old = _tiled.StackedDirectTile.tile_rows
    _tiled.StackedDirectTile.tile_rows = case["tile_rows"]
    mp = pytest.MonkeyPatch()
    try:
        calls = _count_flat(mp)
        got = correlate(image, weights, method="direct", **kwargs)
        mp.setattr(_tiled, "USE_FLAT_ROWS", False)
        tiles = correlate(image, weights, method="direct", **kwargs)
    finally:
        _tiled.StackedDirectTile.tile_rows = old
        mp.undo()
    assert got.dtype == work and got.shape == expected.shape
    scale = np.abs(image.astype(np.float64)).max() * np.abs(weights).sum() + 1
    tol = (4e-7 if work == np.float32 else 1e-14) * scale
    np.testing.assert_allclose(got, expected, rtol=0, atol=tol)
    np.testing.assert_allclose(got, tiles, rtol=0, atol=tol)
    # the flat path ran when a whole row tile lies inside (windows within the image rows;
    # tiles of at most tile_rows rows, so 2 * tile_rows inside rows hold one)
    rows, cols = geom.rows, geom.cols
    lo = -(-rows.pad_before // rows.stride)
    last = rows.n - rows.effective_kernel_size + rows.pad_before
    inside_rows = min(rows.out, last // rows.stride + 1) - lo if last >= 0 else 0
    col_lo = cols.pad_before
    col_hi = min(cols.out, cols.n - cols.effective_kernel_size + cols.pad_before + 1)
    if inside_rows >= 2 * case["tile_rows"] and col_lo < col_hi <= cols.n:
        assert calls and all(calls)
    if inside_rows <= 0 or col_hi <= col_lo:
        assert not calls


@needs_flat
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_flat_rows_keep_non_finite_values_in_their_footprint(monkeypatch, value, dtype):
    """A NaN/inf anywhere (inside, at a row end whose flat neighbours wrap) stays put."""
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, (30, 20, 3)).astype(dtype)
    image[12, 7, 1] = value
    image[20, 19, 0] = value  # last column: its flat neighbour is the next row's first pixel
    image[5, 0, 2] = value
    weights = rng.uniform(0.5, 2, (5, 3))  # no zero tap: inf * 0 would be NaN
    calls = _count_flat(monkeypatch)
    got = correlate(image, weights, method="direct", boundary="wrap")
    geom = filter_geometry(image.shape, weights.shape)
    want = loop_correlate(image, weights, geom, "wrap", 0.0)
    assert calls  # the flat path was tried (and handed the non-finite tiles back)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    ok = np.isfinite(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=0, atol=1e-5 * np.abs(weights).sum())


@needs_flat
def test_flat_rows_leave_the_source_alone_and_accumulate(monkeypatch):
    image = np.random.default_rng(2).standard_normal((50, 40, 3)).astype(np.float32)
    before = image.copy()
    calls = _count_flat(monkeypatch)
    correlate(image, np.arange(25.0).reshape(5, 5), method="direct")
    assert calls and all(calls)
    np.testing.assert_array_equal(image, before)
    gemm = _tiled.cblas_gemm("s")
    a, b = np.ones((2, 3), np.float32), np.full((3, 4), 2.0, np.float32)
    c = np.ones((2, 4), np.float32)
    gemm(101, 111, 111, 2, 4, 3, 1.0, a.ctypes.data, 3, b.ctypes.data, 4, 1.0, c.ctypes.data, 4)
    np.testing.assert_array_equal(c, np.full((2, 4), 7.0))  # C = A B + C


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_non_finite_pixel_reaches_only_its_kernel_footprint(value):
    image = np.ones((40, 50, 3), dtype=np.float32)
    image[20, 25, 1] = value
    weights = np.arange(1.0, 10.0).reshape(3, 3)
    got = correlate(image, weights, method="direct")
    bad = ~np.isfinite(got)
    assert bad[19:22, 24:27, 1].all() and bad.sum() == 9
    np.testing.assert_allclose(got[~bad], 45.0)


def loop_pool(x, spec, rows, cols):
    fill = -np.inf if spec.op == "max" else 0.0
    pr, pc = spec.padding
    ext = np.pad(x.astype(np.float64), [(pr, pr + rows.stride), (pc, pc + cols.stride)]
                 + [(0, 0)] * (x.ndim - 2), constant_values=fill)  # fmt: skip
    out = np.zeros((rows.out, cols.out) + x.shape[2:])
    for y in range(rows.out):
        for v in range(cols.out):
            r0, c0 = y * rows.stride, v * cols.stride
            win = ext[
                r0 : r0 + (rows.kernel_size - 1) * rows.dilation + 1 : rows.dilation,
                c0 : c0 + (cols.kernel_size - 1) * cols.dilation + 1 : cols.dilation,
            ]
            if spec.op == "max":
                out[y, v] = win.max(axis=(0, 1))
            else:
                out[y, v] = win.sum(axis=(0, 1)) / (rows.kernel_size * cols.kernel_size)
    return out


@SETTINGS
@given(
    h=st.integers(2, 30),
    w=st.integers(2, 30),
    chans=st.sampled_from([0, 1, 2, 3, 4, 8, 9]),  # up to CHANNEL_LOOP_MAX: one at a time
    op=st.sampled_from(["max", "avg"]),
    k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    pad=st.booleans(),
    dil=st.integers(1, 2),
    dtype=st.sampled_from(["float32", "uint8", "float64", "int16"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_pooling_matches_the_window_loop(h, w, chans, op, k, s, pad, dil, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = (h, w) + ((chans,) if chans else ())
    x = rng.integers(0, 256, shape).astype(dtype)
    padding = (k[0] // 2, k[1] // 2) if pad else 0
    dilation = dil if op == "max" else 1
    spec = pool_spec(op, k, stride=s, padding=padding, dilation=dilation)
    try:
        rows, cols = pool_axes(x.shape, spec)
    except ValueError:
        return
    got = pool2d(x, spec)
    expected = loop_pool(x, spec, rows, cols)
    if op == "max":
        assert got.dtype == x.dtype
        np.testing.assert_array_equal(got, expected)
    else:  # count_include_pad: every window here lies within the padded input
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-4)


@SETTINGS
@given(
    h=st.integers(1, 300),
    w=st.integers(1, 60),
    chans=st.sampled_from([0, 1, 2, 3, 4]),
    level=st.integers(1, 9),
    workers=st.integers(1, 3),
    band=st.sampled_from([1, 64, 5000, 1 << 20]),
    seed=st.integers(0, 2**31 - 1),
)
def test_png_encoder_round_trips_through_pillow(h, w, chans, level, workers, band, seed):
    from PIL import Image

    rng = np.random.default_rng(seed)
    shape = (h, w) + ((chans,) if chans else ())
    smooth = rng.integers(0, 4, shape).cumsum(axis=0).astype(np.uint8)  # Paeth's ties
    data = encode_png(smooth, level=level, workers=workers, band_bytes=band)  # 1 or many bands
    with Image.open(io.BytesIO(data)) as im:
        back = np.asarray(im)
    assert np.array_equal(back, smooth if chans != 1 else smooth[..., 0])


def spec_paeth(rows: np.ndarray, above, bpp: int) -> np.ndarray:
    """PNG spec section 9.4, pixel by pixel (filter byte 4 first)."""
    n, length = rows.shape
    prev = np.zeros(length, dtype=int) if above is None else above.astype(int)
    out = np.zeros((n, length + 1), dtype=np.uint8)
    for r in range(n):
        cur = rows[r].astype(int)
        out[r, 0] = 4
        for x in range(length):
            a = cur[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out[r, x + 1] = (cur[x] - pred) % 256
        prev = cur
    return out


@SETTINGS
@given(
    n=st.integers(1, 9),
    w=st.integers(1, 12),
    bpp=st.integers(1, 4),
    levels=st.sampled_from([2, 3, 256]),  # few levels: many ties between a, b and c
    with_above=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_paeth_rows_match_the_png_specification(n, w, bpp, levels, with_above, seed):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, levels, (n, w * bpp)).astype(np.uint8)
    rows[rng.random(rows.shape) < 0.1] = 255  # extremes: differences up to +-255
    above = rng.integers(0, 256, w * bpp).astype(np.uint8) if with_above else None
    np.testing.assert_array_equal(paeth_rows(rows, above, bpp), spec_paeth(rows, above, bpp))


@given(a=st.binary(max_size=3000), b=st.binary(max_size=3000))
def test_adler32_combine_is_zlibs(a, b):
    assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)
