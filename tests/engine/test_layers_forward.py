"""cnnfilter.engine.layers against PyTorch's stored outputs, hand loops and properties.

The reference: tests/data/torch_forward_ref.npz, made once by
tests/data/make_torch_forward_ref.py with PyTorch 2.13 (the suite never
imports torch). "Agrees to 1e-4 relative" means, per layer,
``|ours - torch| <= 1e-4 * |torch| + 1e-4 * max|torch|``: element-wise
relative, with an absolute floor at 1e-4 of the layer's range for values
that sum to near zero (float32 sums in another order differ there by ~1e-7
of the range).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnfilter.engine import layers as L
from cnnfilter.errors import UsageError

from helpers import ROOT

REF = ROOT / "tests" / "data" / "torch_forward_ref.npz"


def _load():
    with np.load(REF) as ref:
        data = {k: ref[k] for k in ref.files}
    return data, json.loads(str(data["steps"]))


DATA, STEPS = _load()


def _run(step: dict, acts: dict[str, np.ndarray]) -> np.ndarray:
    func = getattr(L, step["op"])
    params = {key.split(".", 1)[1]: DATA[key] for key in DATA if key.startswith(step["name"] + ".")}
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in step["kwargs"].items()}
    return func(*(acts[i] for i in step["inputs"]), **params, **kwargs)


def _close(got: np.ndarray, ref: np.ndarray, name: str) -> None:
    assert got.dtype == np.float32, name
    assert got.shape == ref.shape, (name, got.shape, ref.shape)
    scale = float(np.abs(ref).max())
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * scale, err_msg=name)


def test_reference_covers_the_issue_layers():
    ops = {s["op"] for s in STEPS}
    assert {"conv2d", "batchnorm", "relu", "max_pool2d", "concat", "upsample", "dense"} <= ops
    assert {"conv_transpose2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"} <= ops
    # softplus and mish came after the stored outputs were made (no torch where they were
    # added): tests/engine/test_layers_norms.py checks them against their published formulas
    assert set(L.ACTIVATIONS) - {"softplus", "mish"} <= ops
    convs = [s["kwargs"] for s in STEPS if s["op"] == "conv2d"]
    assert any(k.get("groups", 1) > 1 for k in convs)
    assert any(k.get("dilation", 1) not in (1, [1, 1]) for k in convs)
    assert any(s["kwargs"].get("ceil_mode") for s in STEPS if s["op"] == "max_pool2d")


@pytest.mark.parametrize("step", STEPS, ids=[s["name"] for s in STEPS])
def test_each_layer_matches_pytorch_on_pytorchs_input(step):
    acts = {key[4:]: DATA[key] for key in DATA if key.startswith("out.")}
    acts["input"] = DATA["input"]
    _close(_run(step, acts), DATA["out." + step["name"]], step["name"])


def test_whole_network_matches_pytorch_when_chained():
    acts = {"input": DATA["input"]}
    acts["wide"] = None
    for step in STEPS:
        if step["inputs"] == ["wide"]:
            acts["wide"] = acts["bn_a"] * np.float32(3)
        acts[step["name"]] = _run(step, acts)
        _close(acts[step["name"]], DATA["out." + step["name"]], step["name"])


# ----------------------------------------------------------------- hand loops


def _conv_loop(x, w, b, stride, pads, dilation, groups):
    """out[y, x, o] = b[o] + sum w[o, c, i, j] * in[y s + i d - p, x s + j d - p, g c_in + c]."""
    h, wd, _ = x.shape
    cout, cig, kh, kw = w.shape
    top, bottom, left, right = pads
    xp = np.zeros((h + top + bottom, wd + left + right, x.shape[2]))
    xp[top : top + h, left : left + wd] = x
    oh = (h + top + bottom - stride[0] * 0 - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((oh, ow, cout))
    cog = cout // groups
    for o in range(cout):
        g = o // cog
        for r in range(oh):
            for c in range(ow):
                acc = 0.0 if b is None else float(b[o])
                for ci in range(cig):
                    for i in range(kh):
                        for j in range(kw):
                            pix = xp[
                                r * stride[0] + i * dilation[0], c * stride[1] + j * dilation[1]
                            ]
                            acc += w[o, ci, i, j] * pix[g * cig + ci]
                out[r, c, o] = acc
    return out


conv_cases = st.fixed_dictionaries(
    {
        "groups": st.integers(1, 3),
        "cig": st.sampled_from([1, 2, 3, 17]),
        "cog": st.integers(1, 3),
        "k": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "dilation": st.tuples(st.integers(1, 2), st.integers(1, 2)),
        "pads": st.tuples(*[st.integers(0, 2)] * 4),
        "hw": st.tuples(st.integers(5, 9), st.integers(5, 9)),
        "bias": st.booleans(),
        "seed": st.integers(0, 2**16),
    }
)


@settings(max_examples=60, deadline=None)
@given(conv_cases)
def test_conv2d_equals_a_hand_written_loop(case):
    rng = np.random.default_rng(case["seed"])
    g, cig, cog = case["groups"], case["cig"], case["cog"]
    x = rng.normal(size=(*case["hw"], g * cig)).astype(np.float32)
    w = rng.normal(size=(g * cog, cig, *case["k"])).astype(np.float32)
    b = rng.normal(size=g * cog).astype(np.float32) if case["bias"] else None
    got = L.conv2d(
        x, w, b, stride=case["stride"], padding=case["pads"], dilation=case["dilation"], groups=g
    )
    ref = _conv_loop(x, w, b, case["stride"], case["pads"], case["dilation"], g)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * max(np.abs(ref).max(), 1))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 20),
    st.tuples(st.integers(1, 4), st.integers(1, 4)),
    st.integers(1, 3),
    st.integers(0, 2**16),
)
def test_conv2d_with_an_identity_kernel_returns_its_input(channels, k, dilation, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(9, 8, channels)).astype(np.float32)
    w = np.zeros((channels, channels, *k), dtype=np.float32)
    ci, cj = (k[0] - 1) // 2, (k[1] - 1) // 2  # the centre tap of 'same' (odd pixel after)
    w[np.arange(channels), np.arange(channels), ci, cj] = 1
    # a dilated even kernel has no tap over the output pixel: dilate odd axes only
    dil = tuple(dilation if ki % 2 else 1 for ki in k)
    np.testing.assert_array_equal(L.conv2d(x, w, padding="same", dilation=dil), x)


@settings(max_examples=30, deadline=None)
@given(conv_cases, st.floats(-3, 3), st.floats(-3, 3))
def test_conv2d_is_linear_in_its_input(case, alpha, beta):
    rng = np.random.default_rng(case["seed"])
    g, cig, cog = case["groups"], case["cig"], case["cog"]
    x1, x2 = (rng.normal(size=(*case["hw"], g * cig)).astype(np.float32) for _ in "12")
    w = rng.normal(size=(g * cog, cig, *case["k"])).astype(np.float32)
    kw = dict(stride=case["stride"], padding=case["pads"], dilation=case["dilation"], groups=g)
    lhs = L.conv2d(np.float32(alpha) * x1 + np.float32(beta) * x2, w, **kw)
    rhs = alpha * L.conv2d(x1, w, **kw) + beta * L.conv2d(x2, w, **kw)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4, atol=1e-4 * max(np.abs(rhs).max(), 1))


@settings(max_examples=40, deadline=None)
@given(conv_cases)
def test_conv_transpose2d_is_the_adjoint_of_conv2d(case):
    """<conv(x), y> = <x, conv_transpose(y)>, with PyTorch's output_padding picking x's size."""
    rng = np.random.default_rng(case["seed"])
    g, cig, cog = case["groups"], case["cig"], case["cog"]
    (sh, sw), (dh, dw), (kh, kw) = case["stride"], case["dilation"], case["k"]
    ph, pw = case["pads"][0] % 2, case["pads"][2] % 2
    h, wd = case["hw"]
    x = rng.normal(size=(h, wd, g * cig)).astype(np.float32)
    w = rng.normal(size=(g * cog, cig, kh, kw)).astype(np.float32)
    y_shape = L.conv2d(x, w, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=g).shape
    y = rng.normal(size=y_shape).astype(np.float32)
    # the input size conv2d came from: (out - 1) s - 2p + d (k - 1) + 1 + output_padding
    oph = h - ((y_shape[0] - 1) * sh - 2 * ph + dh * (kh - 1) + 1)
    opw = wd - ((y_shape[1] - 1) * sw - 2 * pw + dw * (kw - 1) + 1)
    # PyTorch's rule: output_padding < max(stride, dilation), else x's size is not reachable
    assume(0 <= oph < max(sh, dh) and 0 <= opw < max(sw, dw))
    # conv2d's (out, in/g, kh, kw) is the transposed layer's (in, out/g, kh, kw) as it stands
    xt = L.conv_transpose2d(
        y, w, stride=(sh, sw), padding=(ph, pw), output_padding=(oph, opw),
        dilation=(dh, dw), groups=g,
    )  # fmt: skip
    assert xt.shape == x.shape
    conv = L.conv2d(x, w, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=g)
    lhs, rhs = float(np.vdot(conv, y)), float(np.vdot(x, xt))
    assert lhs == pytest.approx(rhs, rel=1e-4, abs=1e-3 * np.sqrt(conv.size))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 6), st.integers(1, 6))
def test_adaptive_pooling_equals_a_loop_over_pytorchs_windows(h, w, oh, ow):
    x = np.random.default_rng(h * 100 + w).normal(size=(h, w, 2)).astype(np.float32)
    avg, mx = L.adaptive_avg_pool2d(x, (oh, ow)), L.adaptive_max_pool2d(x, (oh, ow))
    for r in range(oh):
        r0, r1 = (r * h) // oh, -(-((r + 1) * h) // oh)
        for c in range(ow):
            c0, c1 = (c * w) // ow, -(-((c + 1) * w) // ow)
            np.testing.assert_allclose(
                avg[r, c], x[r0:r1, c0:c1].mean((0, 1)), rtol=1e-5, atol=1e-6
            )
            np.testing.assert_array_equal(mx[r, c], x[r0:r1, c0:c1].max(axis=(0, 1)))


# ----------------------------------------------------------------- small literal cases


def test_flatten_orders_differ_as_pytorch_and_keras_do():
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)  # H=2, W=3, C=2
    assert L.flatten(x, "hwc").tolist() == list(range(12))
    assert L.flatten(x, "chw").tolist() == [0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11]


def test_keras_weights_give_the_same_convolution():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 7, 3)).astype(np.float32)
    w = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)  # PyTorch (out, in, kh, kw)
    keras = w.transpose(2, 3, 1, 0)  # Keras (kh, kw, in, out)
    np.testing.assert_array_equal(L.keras_to_torch(keras), w)
    dw = rng.normal(size=(3, 3, 3, 2)).astype(np.float32)  # Keras depthwise (kh, kw, in, m)
    got = L.conv2d(x, L.keras_to_torch(dw, depthwise=True), groups=3)
    for c in range(3):
        for m in range(2):
            one = L.conv2d(x[..., c : c + 1], dw[:, :, c, m].reshape(1, 1, 3, 3))
            np.testing.assert_allclose(got[..., c * 2 + m], one[..., 0], rtol=1e-6)


def test_same_padding_puts_the_odd_pixel_after_as_pytorch():
    x = np.zeros((5, 5, 1), dtype=np.float32)
    x[0, 0] = 1
    w = np.zeros((1, 1, 2, 2), dtype=np.float32)
    w[0, 0, 1, 1] = 1  # reads the pixel below-right: with p_top = 0, out[0, 0] = 0
    out = L.conv2d(x, w, padding="same")
    assert out.shape == (5, 5, 1)
    assert out[0, 0, 0] == 0 and out.sum() == 0
    w[0, 0] = [[1, 0], [0, 0]]
    assert L.conv2d(x, w, padding="same")[0, 0, 0] == 1


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: L.conv2d(np.zeros((4, 4, 3)), np.zeros((2, 2, 3, 3))), "input channels"),
        (lambda: L.conv2d(np.zeros((4, 4, 4)), np.zeros((3, 2, 3, 3)), groups=2), "groups=2"),
        (lambda: L.conv2d(np.zeros((2, 2, 1)), np.zeros((1, 1, 3, 3))), "output would be empty"),
        (lambda: L.conv2d(np.zeros((4, 4)), np.zeros((1, 1, 3, 3))), "3-D"),
        (
            lambda: L.conv_transpose2d(
                np.zeros((3, 3, 1)), np.zeros((1, 1, 3, 3)), output_padding=1
            ),
            "output_padding",
        ),  # fmt: skip
        (lambda: L.dense(np.zeros(5), np.zeros((3, 4))), "in=5"),
        (lambda: L.flatten(np.zeros((2, 2, 2)), "nchw"), "order"),
        (lambda: L.concat(np.zeros((2, 2, 1)), np.zeros((3, 2, 1))), "one H x W"),
        (lambda: L.add(np.zeros((2, 2, 1)), np.zeros((2, 2, 2))), "one shape"),
        (lambda: L.channel_shuffle(np.zeros((2, 2, 5)), 2), "dividing"),
        (lambda: L.upsample(np.zeros((2, 2, 1))), "exactly one"),
        (
            lambda: L.upsample(np.zeros((2, 2, 1)), size=3, mode="nearest", align_corners=True),
            "align_corners",
        ),  # fmt: skip
        (lambda: L.batchnorm(np.zeros((2, 2, 2)), np.zeros(2), -np.ones(2)), "variance"),
        (lambda: L.gelu(np.zeros(2), approximate="erf"), "approximate"),
        (lambda: L.prelu(np.zeros((2, 2, 3)), np.ones(2)), "3 values"),
    ],
)
def test_bad_input_is_refused_with_a_message_that_names_it(call, match):
    with pytest.raises(UsageError, match=match):
        call()
