"""Pooling: literal PyTorch outputs, a hand-written loop, and PyTorch's own outputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnfilter.engine.pooling import max_pool2d_with_indices, pool2d, pool_axes, pool_spec
from cnnfilter.errors import UsageError

from helpers import ROOT

X5 = np.arange(25.0).reshape(5, 5)
X6 = np.arange(36.0).reshape(6, 6)
X7 = np.array(
    [
        [3, 1, 4, 1, 5, 9, 2],
        [6, 5, 3, 5, 8, 9, 7],
        [9, 3, 2, 3, 8, 4, 6],
        [2, 6, 4, 3, 3, 8, 3],
        [2, 7, 9, 5, 0, 2, 8],
        [8, 4, 1, 9, 7, 1, 6],
        [9, 3, 9, 9, 3, 7, 5],
    ],
    dtype=np.float64,
)


def reference_pool(x, op, k, s, p, d, ceil, cip, norm=2.0):
    """PyTorch's CPU pooling kernels written out as loops over windows and taps.

    Output sizes: ATen's ``pooling_output_shape``; windows: ``hstart = o*s - p``,
    clipped as in ``max_pool2d``/``avg_pool2d``'s CPU kernels.
    """
    x = np.asarray(x, dtype=np.float64)
    H, W = x.shape
    outs = []
    for n, kk, ss, pp, dd in ((H, k[0], s[0], p[0], d[0]), (W, k[1], s[1], p[1], d[1])):
        num = n + 2 * pp - dd * (kk - 1) - 1 + (ss - 1 if ceil else 0)
        o = num // ss + 1
        if ceil and (o - 1) * ss >= n + pp:
            o -= 1
        outs.append(o)
    oh, ow = outs
    if oh <= 0 or ow <= 0:
        return np.zeros((0, 0))
    y = np.zeros((oh, ow))
    for r in range(oh):
        for c in range(ow):
            hs, ws = r * s[0] - p[0], c * s[1] - p[1]
            if op == "max":
                best = -math.inf
                for i in range(k[0]):
                    for j in range(k[1]):
                        rr, cc = hs + i * d[0], ws + j * d[1]
                        if 0 <= rr < H and 0 <= cc < W and x[rr, cc] > best:
                            best = x[rr, cc]
                y[r, c] = best
                continue
            pad = (0, 0) if op == "lp" else p
            he = min(hs + k[0], H + pad[0])
            we = min(ws + k[1], W + pad[1])
            size = (he - hs) * (we - ws)
            hs2, ws2, he2, we2 = max(hs, 0), max(ws, 0), min(he, H), min(we, W)
            window = x[hs2:he2, ws2:we2]
            if op == "avg":
                y[r, c] = window.sum() / (size if cip else window.size)
            else:
                y[r, c] = (np.sum(window**norm) / size * k[0] * k[1]) ** (1 / norm)
    return y


# --- literal PyTorch outputs (torch 2.13, float64), pasted once ------------------------


def test_kernel2_stride2_padding1_on_length5_gives_3_outputs_not_4():
    # floor((5 + 2 - 1 - 1)/2) + 1 = 3; ceil gives 4 but window 4 would start at 4*2 - 1 = 7,
    # inside the right padding (n + p = 6), so it is dropped.
    row = np.arange(5.0)[np.newaxis, :]
    spec = pool_spec("max", (1, 2), padding=(0, 1), ceil_mode=True)
    assert pool_axes(row.shape, spec)[1].out == 3
    np.testing.assert_array_equal(pool2d(row, spec), [[0.0, 2.0, 4.0]])
    avg = pool_spec("avg", (1, 2), padding=(0, 1), ceil_mode=True)
    np.testing.assert_array_equal(pool2d(row, avg), [[0.0, 1.5, 3.5]])


@pytest.mark.parametrize("ceil", [False, True])
def test_5x5_kernel2_stride2_padding1_matches_torch(ceil):
    assert pool2d(X5, pool_spec("max", 2, padding=1, ceil_mode=ceil)).tolist() == [
        [0.0, 2.0, 4.0],
        [10.0, 12.0, 14.0],
        [20.0, 22.0, 24.0],
    ]
    with_pad = pool2d(X5, pool_spec("avg", 2, padding=1, ceil_mode=ceil))
    np.testing.assert_allclose(
        with_pad, [[0.0, 0.75, 1.75], [3.75, 9.0, 11.0], [8.75, 19.0, 21.0]], rtol=1e-15
    )
    without = pool2d(X5, pool_spec("avg", 2, padding=1, ceil_mode=ceil, count_include_pad=False))
    np.testing.assert_allclose(
        without, [[0.0, 1.5, 3.5], [7.5, 9.0, 11.0], [17.5, 19.0, 21.0]], rtol=1e-15
    )


def test_ceil_overhang_divisor_follows_count_include_pad():
    # 6x6, k3 s2 p1 ceil: 4 outputs; the last window covers input 5, padding 6 and one
    # cell past the padding (7). With count_include_pad the divisor is clipped to the padded
    # input (2 cells per axis there), without it to the real input (1 cell).
    spec = pool_spec("avg", 3, stride=2, padding=1, ceil_mode=True)
    np.testing.assert_allclose(
        pool2d(X6, spec),
        [
            [1.5555555555555556, 3.3333333333333335, 4.666666666666667, 2.6666666666666665],
            [8.333333333333334, 14.0, 16.0, 8.5],
            [16.333333333333332, 26.0, 28.0, 14.5],
            [10.166666666666666, 16.0, 17.0, 8.75],
        ],
        rtol=1e-14,
    )
    spec = pool_spec("avg", 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    np.testing.assert_allclose(
        pool2d(X6, spec),
        [[3.5, 5.0, 7.0, 8.0], [12.5, 14.0, 16.0, 17.0], [24.5, 26.0, 28.0, 29.0]]
        + [[30.5, 32.0, 34.0, 35.0]],
        rtol=1e-14,
    )
    spec = pool_spec("max", 3, stride=2, padding=1, ceil_mode=True)
    assert pool2d(X6, spec).tolist() == [
        [7.0, 9.0, 11.0, 11.0],
        [19.0, 21.0, 23.0, 23.0],
        [31.0, 33.0, 35.0, 35.0],
        [31.0, 33.0, 35.0, 35.0],
    ]


def test_dilated_max_pool_values_and_indices_match_torch():
    values, idx = max_pool2d_with_indices(X7, pool_spec("max", 3, stride=1, padding=1, dilation=2))
    assert values.tolist() == [
        [6.0, 8.0, 9.0, 8.0, 9.0],
        [7.0, 9.0, 9.0, 9.0, 9.0],
        [9.0, 8.0, 9.0, 8.0, 9.0],
        [9.0, 9.0, 9.0, 9.0, 9.0],
        [9.0, 8.0, 9.0, 7.0, 9.0],
    ]
    assert idx.tolist() == [
        [22, 11, 12, 11, 12],
        [29, 14, 5, 30, 5],
        [38, 11, 12, 11, 12],
        [45, 14, 45, 30, 45],
        [38, 35, 38, 39, 38],
    ]


def test_ceil_mode_indices_match_torch():
    values, idx = max_pool2d_with_indices(
        X7, pool_spec("max", 3, stride=2, padding=1, ceil_mode=True)
    )
    assert values.tolist() == [
        [6.0, 5.0, 9.0, 9.0],
        [9.0, 6.0, 9.0, 9.0],
        [8.0, 9.0, 9.0, 8.0],
        [9.0, 9.0, 9.0, 7.0],
    ]
    assert idx.tolist() == [[7, 8, 5, 5], [14, 22, 12, 12], [35, 30, 38, 26], [42, 38, 38, 47]]


def test_rectangular_windows_match_torch():
    spec = pool_spec("max", (2, 3), stride=(1, 2), padding=(1, 0))
    assert pool2d(X7, spec).tolist() == [
        [4.0, 5.0, 9.0],
        [6.0, 8.0, 9.0],
        [9.0, 8.0, 9.0],
        [9.0, 8.0, 8.0],
        [9.0, 9.0, 8.0],
        [9.0, 9.0, 8.0],
        [9.0, 9.0, 7.0],
        [9.0, 9.0, 7.0],
    ]
    spec = pool_spec(
        "avg", (2, 3), stride=(1, 2), padding=(1, 1), ceil_mode=True, count_include_pad=False
    )
    got = pool2d(X7, spec)
    assert got.shape == (8, 4)
    np.testing.assert_allclose(got[0], [2.0, 2.0, 5.0, 5.5])
    np.testing.assert_allclose(got[1], [3.75, 3.1666666666666665, 6.166666666666667, 6.75])


def test_lp_pool_matches_torch_including_the_ceil_overhang_scaling():
    spec = pool_spec("lp", 2, p=2, ceil_mode=True)
    got = pool2d(X5, spec)
    np.testing.assert_allclose(
        got,
        [
            [7.874007874011811, 11.224972160321824, 13.92838827718412],
            [26.49528259898354, 30.430248109405877, 33.37663853655727],
            [41.012193308819754, 45.0111097397076, 48.0],
        ],
        rtol=1e-14,
    )
    # the corner window holds only x = 24; PyTorch scales its sum of squares by 4/1
    assert got[2, 2] == pytest.approx(math.sqrt(24**2 * 4))
    spec = pool_spec("lp", 3, stride=2, p=3, ceil_mode=True)
    np.testing.assert_allclose(
        pool2d(X7, spec)[0], [10.696962482478725, 11.189552331988294, 14.794227113020511]
    )


# --- PyTorch's outputs for 80 random layers (made by tests/data/make_torch_pool_ref.py) ---------

REF = ROOT / "tests" / "data" / "torch_pool_ref.npz"


@pytest.mark.parametrize("i", range(80))
def test_matches_torch_on_random_layers(i):
    with np.load(REF) as ref:
        case = json.loads(str(ref["cases"]))[i]
        x, y = ref[f"x{i}"], ref[f"y{i}"]
        idx = ref[f"idx{i}"] if case["op"] == "max" else None
    spec = pool_spec(
        case["op"],
        tuple(case["k"]),
        stride=tuple(case["s"]),
        padding=tuple(case["p"]),
        dilation=tuple(case["d"]),
        ceil_mode=case["ceil"],
        count_include_pad=case["cip"],
        p=case["norm"],
    )
    got = pool2d(x, spec)
    assert got.shape == y.shape
    np.testing.assert_allclose(got, y, rtol=1e-12, atol=1e-12)
    if idx is not None:
        np.testing.assert_array_equal(max_pool2d_with_indices(x, spec)[1], idx)


# --- the hand-written loop on many layers ----------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    op=st.sampled_from(["max", "avg", "lp"]),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    pf=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    d=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    ceil=st.booleans(),
    cip=st.booleans(),
    norm=st.sampled_from([1.0, 2.0, 3.0]),
    seed=st.integers(0, 2**16),
)
def test_pool_equals_hand_loop(op, h, w, k, s, pf, d, ceil, cip, norm, seed):
    p = (int(pf[0] * (k[0] // 2)), int(pf[1] * (k[1] // 2)))
    if op != "max":
        d = (1, 1)
    if op == "lp":
        p = (0, 0)
    x = np.random.default_rng(seed).integers(0, 6, size=(h, w)).astype(np.float64)
    expected = reference_pool(x, op, k, s, p, d, ceil, cip, norm)
    spec = pool_spec(
        op, k, stride=s, padding=p, dilation=d, ceil_mode=ceil, count_include_pad=cip, p=norm
    )
    if expected.size == 0:
        with pytest.raises(UsageError, match="empty"):
            pool2d(x, spec)
        return
    np.testing.assert_allclose(pool2d(x, spec), expected, rtol=1e-12, atol=1e-12)


# --- dtypes, channels, winners ----------------------------------------------------------


def test_max_keeps_uint8_and_avg_returns_float32(rng):
    x = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    mx = pool2d(x, pool_spec("max", 2))
    assert mx.dtype == np.uint8
    np.testing.assert_array_equal(mx, x.reshape(3, 2, 4, 2, 3).max(axis=(1, 3)))
    avg = pool2d(x, pool_spec("avg", 2))
    assert avg.dtype == np.float32
    np.testing.assert_allclose(avg, x.reshape(3, 2, 4, 2, 3).mean(axis=(1, 3)), rtol=1e-6)


def test_channels_are_pooled_independently(rng):
    x = rng.normal(size=(7, 9, 4))
    spec = pool_spec("max", 3, stride=2, padding=1, ceil_mode=True)
    stacked = np.stack([pool2d(x[:, :, c], spec) for c in range(4)], axis=2)
    np.testing.assert_array_equal(pool2d(x, spec), stacked)


def test_winner_of_a_zero_uint8_window_is_a_real_pixel_not_padding():
    x = np.zeros((3, 3), dtype=np.uint8)
    values, idx = max_pool2d_with_indices(x, pool_spec("max", 2, padding=1))
    assert values.tolist() == [[0, 0], [0, 0]]
    assert idx.tolist() == [[0, 1], [3, 4]]  # the first real pixel of each window


def test_ties_go_to_the_first_tap_and_nan_wins():
    _, idx = max_pool2d_with_indices(np.ones((2, 2)), pool_spec("max", 2))
    assert idx.tolist() == [[0]]
    values, idx = max_pool2d_with_indices(
        np.array([[1.0, np.nan], [3.0, 4.0]]), pool_spec("max", 2)
    )
    assert np.isnan(values[0, 0]) and idx.tolist() == [[1]]


def test_window_longer_than_input_in_ceil_mode_gives_one_output_as_torch():
    x = np.array([[1.0, 5.0]])
    spec = pool_spec("max", (1, 3), stride=(1, 2), ceil_mode=True)
    assert pool2d(x, spec).tolist() == [[5.0]]
    with pytest.raises(UsageError, match="empty"):
        pool2d(x, pool_spec("max", (1, 3), stride=(1, 2)))


# --- input checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"op": "median", "kernel_size": 2}, "op must be one of max, avg, lp"),
        ({"op": "max", "kernel_size": 0}, "kernel_size must be >= 1"),
        ({"op": "max", "kernel_size": 2, "stride": 0}, "stride must be >= 1"),
        (
            {"op": "max", "kernel_size": 2, "padding": 2},
            r"requires padding <= kernel_size // 2 = 1",
        ),
        ({"op": "max", "kernel_size": 3, "padding": -1}, "padding must be >= 0"),
        ({"op": "avg", "kernel_size": 3, "dilation": 2}, "average pooling has no dilation"),
        ({"op": "lp", "kernel_size": 2, "padding": 1}, "Lp pooling takes no padding"),
        ({"op": "lp", "kernel_size": 2, "p": 0}, "finite number > 0"),
        ({"op": "lp", "kernel_size": 2, "p": math.inf}, "use op='max'"),
        ({"op": "max", "kernel_size": (1, 2, 3)}, r"\(rows, cols\) pair"),
    ],
)
def test_pool_spec_rejects_bad_settings(kwargs, message):
    with pytest.raises(UsageError, match=message):
        pool_spec(**kwargs)


def test_lp_of_negative_values_with_odd_power_is_refused_not_nan():
    x = np.array([[-1.0, -2.0], [-3.0, -4.0]])
    with pytest.raises(UsageError, match="undefined"):
        pool2d(x, pool_spec("lp", 2, p=3))
    assert pool2d(x, pool_spec("lp", 2, p=2))[0, 0] == pytest.approx(math.sqrt(30))


@pytest.mark.parametrize("shape", [(4,), (2, 2, 2, 2), (0, 3)])
def test_pool_rejects_bad_shapes(shape):
    with pytest.raises(UsageError, match=r"\(H, W\) or \(H, W, C\)"):
        pool2d(np.zeros(shape), pool_spec("max", 1))


def test_formula_text_shows_the_dropped_window():
    rows, cols = pool_axes((5, 5), pool_spec("max", 2, padding=1, ceil_mode=True))
    assert rows.formula() == (
        "ceil((5 + 2*1 - 1*(2-1) - 1)/2) + 1 = 4, last window starts in the padding: dropped -> 3"
    )
    assert rows.dropped and rows.numerator == 5
    rows, _ = pool_axes((512, 512), pool_spec("max", 3, stride=2))
    assert rows.formula() == "floor((512 + 2*0 - 1*(3-1) - 1)/2) + 1 = 255"


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), ((3, 2), (1, 2))])
def test_blocks_of_a_few_rows_on_threads_equal_the_hand_loop(
    monkeypatch, rng, op, stride, dilation
):
    """Tiny row blocks: rows combined first, then columns, across many blocks and threads."""
    from cnnfilter.engine import pooling

    monkeypatch.setattr(pooling, "_BLOCK_BYTES", 64)
    x = rng.integers(0, 50, size=(23, 17)).astype(np.float64)
    d = dilation if op == "max" else 1
    spec = pool_spec(op, (3, 2), stride=stride, padding=1, dilation=d, ceil_mode=True)
    s2 = stride if isinstance(stride, tuple) else (stride, stride)
    d2 = d if isinstance(d, tuple) else (d, d)
    want = reference_pool(x, op, (3, 2), s2, (1, 1), d2, True, True, 1.0)
    np.testing.assert_allclose(pool2d(x, spec), want, rtol=1e-12, atol=1e-12)
    flags = rng.random((23, 17)) > 0.7
    if op == "max":
        got = pool2d(flags, spec)
        assert got.dtype == np.bool_
        want = reference_pool(flags.astype(float), op, (3, 2), s2, (1, 1), d2, True, True, 1.0)
        np.testing.assert_array_equal(got, want > 0)
