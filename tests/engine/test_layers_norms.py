"""engine.layers: the layers added for forward (issue 14 item 3) against hand-written loops
and the published formulas (PyTorch's docs); the suite never imports torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnfilter.engine import layers as L
from cnnfilter.errors import UsageError


@pytest.fixture
def x():
    return np.random.default_rng(7).normal(1.0, 2.0, (5, 6, 8)).astype(np.float32)


def test_group_norm_matches_a_loop_over_groups(x):
    w = np.linspace(0.5, 2, 8).astype(np.float32)
    b = np.linspace(-1, 1, 8).astype(np.float32)
    got = L.group_norm(x, 4, w, b, eps=1e-5)
    ref = np.empty_like(x, dtype=np.float64)
    for g in range(4):
        vals = [float(v) for v in x[:, :, 2 * g : 2 * g + 2].ravel()]
        mean = sum(vals) / len(vals)
        var = sum((v - mean) ** 2 for v in vals) / len(vals)  # biased, as PyTorch
        for c in (2 * g, 2 * g + 1):
            ref[:, :, c] = (x[:, :, c] - mean) / math.sqrt(var + 1e-5) * w[c] + b[c]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert got.dtype == np.float32


def test_group_norm_with_one_group_per_channel_is_instance_norm(x):
    got = L.group_norm(x, 8)
    for c in range(8):
        m = x[:, :, c].astype(np.float64)
        np.testing.assert_allclose(
            got[:, :, c], (m - m.mean()) / np.sqrt(m.var() + 1e-5), atol=1e-5
        )
    with pytest.raises(UsageError, match="dividing the channels"):
        L.group_norm(x, 3)


def test_layer_norm_normalises_each_pixel_over_its_channels(x):
    w, b = np.full(8, 2.0, np.float32), np.full(8, 0.5, np.float32)
    got = L.layer_norm(x, w, b, eps=1e-6)
    for i, j in [(0, 0), (4, 5), (2, 3)]:
        v = [float(t) for t in x[i, j]]
        mean = sum(v) / 8
        var = sum((t - mean) ** 2 for t in v) / 8
        ref = [(t - mean) / math.sqrt(var + 1e-6) * 2 + 0.5 for t in v]
        np.testing.assert_allclose(got[i, j], ref, rtol=1e-5, atol=1e-5)


def test_layer_scale_multiplies_each_channel(x):
    g = np.arange(8, dtype=np.float32)
    assert np.array_equal(L.layer_scale(x, g), x * g)
    with pytest.raises(UsageError, match="8 values"):
        L.layer_scale(x, g[:3])


def test_softplus_and_mish_follow_their_formulas():
    v = np.array([-30.0, -2.0, -0.5, 0.0, 0.5, 3.0, 19.0, 21.0, 80.0], dtype=np.float32)
    sp = [t if t > 20 else math.log1p(math.exp(t)) for t in v.tolist()]  # PyTorch's threshold
    np.testing.assert_allclose(L.softplus(v), sp, rtol=1e-6)
    mish = [t * math.tanh(math.log1p(math.exp(t)) if t < 50 else t) for t in v.tolist()]
    np.testing.assert_allclose(L.mish(v), mish, rtol=1e-6, atol=1e-7)
    assert np.isfinite(L.mish(np.array([1e4], np.float32))).all()
    # softplus with beta: log(1 + exp(beta x)) / beta
    np.testing.assert_allclose(
        L.softplus(v[:6], beta=2.0),
        [math.log1p(math.exp(2 * t)) / 2 for t in v[:6].tolist()],
        rtol=1e-6,
    )


def test_locally_connected_matches_a_loop_over_positions():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 7, 2)).astype(np.float32)
    oh, ow = 3, 3  # stride 2, kernel 2 x 3, valid: (6-2)//2+1, (7-3)//2+1
    w = rng.normal(size=(oh, ow, 4, 2, 2, 3)).astype(np.float32)
    b = rng.normal(size=(oh, ow, 4)).astype(np.float32)
    got = L.locally_connected2d(x, w, b, stride=2)
    ref = np.zeros((oh, ow, 4))
    for y in range(oh):
        for q in range(ow):
            for f in range(4):
                patch = x[2 * y : 2 * y + 2, 2 * q : 2 * q + 3, :]  # (kh, kw, C)
                ref[y, q, f] = b[y, q, f] + np.sum(patch.transpose(2, 0, 1) * w[y, q, f])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # the same weight at every position is a conv2d
    shared = np.broadcast_to(w[0, 0], w.shape)
    np.testing.assert_allclose(
        L.locally_connected2d(x, shared, stride=2),
        L.conv2d(x, w[0, 0], stride=2),
        rtol=1e-5,
        atol=1e-5,
    )
    with pytest.raises(UsageError, match="output"):
        L.locally_connected2d(x, w, stride=1)
