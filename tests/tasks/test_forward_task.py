"""tasks.forward: the pass against the engine, hand loops and numpy references (issue 14)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnfilter.engine import layers as L
from cnnfilter.engine.filtering import correlate
from cnnfilter.errors import UsageError
from cnnfilter.kernels import resolve_kernel
from cnnfilter.tasks.forward import forward

from helpers import ARTICLE_PATCH

ARTICLE = "samples/arch/article_first_layer.yaml"


def _arch(tmp_path, text: str):
    path = tmp_path / "arch.yaml"
    path.write_text(text)
    return path


def _npy(tmp_path, x, name="x.npy"):
    path = tmp_path / name
    np.save(path, x)
    return path


def _maps(out):
    with np.load(out / "activations.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(3)
    return rng.uniform(0, 1, (21, 17, 1)).astype(np.float32)


def test_article_curve_on_the_article_patch_gives_6600(tmp_path):
    """The article's figure: the curve detector on its curve sums to 6600 (unflipped)."""
    arch = _arch(tmp_path, "input: [7, 7, 1]\nlayers:\n  - conv2d: {name: c, kernels: [curve]}\n")
    src = _npy(tmp_path, ARTICLE_PATCH.astype(np.float32)[..., None])
    forward(arch, src, output=tmp_path / "m", npz=True)
    assert _maps(tmp_path / "m")["c"].reshape(-1).tolist() == [6600.0]


def test_registry_layer_is_correlation_and_relu_pool_follow(tmp_path, photo):
    src = _npy(tmp_path, photo)
    forward(ARTICLE, src, output=tmp_path / "m", npz=True)
    maps = _maps(tmp_path / "m")
    conv = maps["lines_and_curve"]
    assert conv.shape == (21, 17, 3)
    for f, name in enumerate(["vertical-lines", "horizontal-lines", "curve"]):
        k = resolve_kernel(name).weights
        ref = correlate(photo[..., 0], k, padding="same", boundary="constant", cval=0.0)
        np.testing.assert_allclose(conv[..., f], ref, rtol=1e-5, atol=1e-5)
    # a non-symmetric kernel: the layer is NOT the convolution (opposite sign for lines)
    flipped = correlate(photo[..., 0], resolve_kernel("vertical-lines").weights[::-1, ::-1],
                        padding="same", boundary="constant")  # fmt: skip
    assert not np.allclose(conv[..., 0], flipped, atol=1e-3)
    relu = np.where(conv > 0, conv, 0)
    np.testing.assert_array_equal(maps["relu"], relu)
    h, w = 21 // 2 * 2, 17 // 2 * 2
    pool = relu[:h, :w].reshape(h // 2, 2, w // 2, 2, 3).max(axis=(1, 3))
    np.testing.assert_array_equal(maps["pool"], pool)


def test_registry_kernel_is_summed_over_input_channels(tmp_path):
    x = np.random.default_rng(5).normal(size=(9, 11, 3)).astype(np.float32)
    arch = _arch(
        tmp_path, "input: [9, 11, 3]\nlayers:\n  - conv2d: {name: c, kernels: [sobel-x]}\n"
    )
    forward(arch, _npy(tmp_path, x), output=tmp_path / "m", npz=True)
    k = resolve_kernel("sobel-x").weights
    want = np.zeros((7, 9))  # valid: 9 - 2, 11 - 2; a hand loop over taps and channels
    for y in range(7):
        for c in range(9):
            want[y, c] = (x[y : y + 3, c : c + 3, :] * k[..., None]).sum()
    np.testing.assert_allclose(_maps(tmp_path / "m")["c"][..., 0], want, rtol=1e-5, atol=1e-5)


def test_photo_is_scaled_to_unit_range(tmp_path):
    arch = _arch(tmp_path, "input: [1, 1, 1]\nlayers:\n  - dropout: {name: d}\n")
    report = forward(arch, "samples/camera.png", output=tmp_path / "m", npz=True).report
    from PIL import Image

    raw = np.asarray(Image.open("samples/camera.png"), dtype=np.float32)
    np.testing.assert_allclose(_maps(tmp_path / "m")["d"][..., 0], raw / 255)
    assert report["input"]["shape"] == [512, 512, 1]


TWO_LAYERS = """input: [8, 8, 2]
layers:
  - conv2d: {name: c1, filters: 4, kernel_size: 3, stride: 2, padding: 1, dilation: 1}
  - batchnorm2d: {name: bn}
  - conv2d: {name: c2, filters: 2, kernel_size: 2, groups: 2, bias: false}
"""


def _two_layer_weights(rng):
    return {
        "c1.weight": rng.normal(size=(4, 2, 3, 3)).astype(np.float32),
        "c1.bias": rng.normal(size=4).astype(np.float32),
        "bn.running_mean": rng.normal(size=4).astype(np.float32),
        "bn.running_var": rng.uniform(0.5, 2, 4).astype(np.float32),
        "bn.weight": rng.normal(size=4).astype(np.float32),
        "bn.bias": rng.normal(size=4).astype(np.float32),
        "c2.weight": rng.normal(size=(2, 2, 2, 2)).astype(np.float32),
    }


@pytest.mark.parametrize("layout", ["torch", "keras"])
def test_weights_npz_round_trip(tmp_path, layout):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(13, 10, 2)).astype(np.float32)
    w = _two_layer_weights(rng)
    saved = dict(w)
    if layout == "keras":
        saved = {k: (v.transpose(2, 3, 1, 0) if v.ndim == 4 else v) for k, v in w.items()}
    np.savez(tmp_path / "w.npz", **saved)
    result = forward(
        _arch(tmp_path, TWO_LAYERS), _npy(tmp_path, x), output=tmp_path / "m",
        weights=tmp_path / "w.npz", layout=layout, npz=True,
    )  # fmt: skip
    maps = _maps(tmp_path / "m")
    c1 = L.conv2d(x, w["c1.weight"], w["c1.bias"], stride=2, padding=1)
    bn = L.batchnorm(c1, w["bn.running_mean"], w["bn.running_var"], w["bn.weight"], w["bn.bias"])
    c2 = L.conv2d(bn, w["c2.weight"], groups=2)
    np.testing.assert_array_equal(maps["c1"], c1)
    np.testing.assert_array_equal(maps["bn"], bn)
    np.testing.assert_array_equal(maps["c2"], c2)
    assert result.report["weights"]["unused"] == []
    assert result.report["weights"]["initialised"] == []


def test_missing_weights_names_the_layer(tmp_path):
    arch = _arch(tmp_path, TWO_LAYERS)
    with pytest.raises(UsageError, match=r"layer 'c1' \(conv2d\) has no weights"):
        forward(arch, _npy(tmp_path, np.zeros((8, 8, 2))), output=tmp_path / "m")


def test_init_is_seeded_and_reported(tmp_path):
    arch, src = _arch(tmp_path, TWO_LAYERS), _npy(tmp_path, np.ones((8, 8, 2)))
    a = forward(arch, src, output=tmp_path / "a", init="he", seed=4, npz=True)
    forward(arch, src, output=tmp_path / "b", init="he", seed=4, npz=True)
    forward(arch, src, output=tmp_path / "c", init="he", seed=5, npz=True)
    ma, mb, mc = (_maps(tmp_path / d) for d in "abc")
    np.testing.assert_array_equal(ma["c2"], mb["c2"])
    assert not np.array_equal(ma["c1"], mc["c1"])
    assert a.report["weights"]["initialised"] == ["c1", "bn", "c2"]


def test_summary_json_per_layer(tmp_path, photo):
    out = tmp_path / "m"
    forward(ARTICLE, _npy(tmp_path, photo), output=out, npz=True)
    summary = json.loads((out / "summary.json").read_text())
    maps = _maps(out)
    assert [e["name"] for e in summary["layers"]] == ["lines_and_curve", "relu", "pool"]
    for entry in summary["layers"]:
        m = maps[entry["name"]]
        assert set(entry) >= {"name", "type", "shape", "min", "max", "mean", "zeros", "picture"}
        assert entry["shape"] == list(m.shape)
        assert entry["min"] == pytest.approx(float(m.min()))
        assert entry["max"] == pytest.approx(float(m.max()))
        assert entry["mean"] == pytest.approx(float(m.mean(dtype=np.float64)), rel=1e-6)
        assert entry["zeros"] == pytest.approx(np.count_nonzero(m == 0) / m.size)
        assert (out / entry["picture"]).is_file()
    assert summary["layers"][1]["zeros"] > 0  # dead ReLUs are counted


def test_layer_option_writes_one_montage_and_no_clobber(tmp_path, photo):
    out = tmp_path / "m"
    src = _npy(tmp_path, photo)
    result = forward(ARTICLE, src, output=out, layer="relu")
    assert sorted(p.name for p in out.iterdir()) == ["02_relu.png", "summary.json"]
    assert len(result.written) == 2
    with pytest.raises(UsageError, match="already exists"):
        forward(ARTICLE, src, output=out, layer="relu")
    forward(ARTICLE, src, output=out, layer="relu", force=True)
    with pytest.raises(UsageError, match="not a layer"):
        forward(ARTICLE, src, output=tmp_path / "n", layer="nope")


def test_montage_tiles_use_the_shared_scale():
    from cnnfilter.render import CAPTION_HEIGHT, montage

    x = np.zeros((4, 4, 2), dtype=np.float32)
    x[..., 1] = 2.0
    x[0, 0, 0] = 1.0
    pic = montage(x, title="t", scale="shared", min_tile=4, gap=4)
    label = CAPTION_HEIGHT - 4
    top = CAPTION_HEIGHT + 4 + label
    tile0 = pic[top : top + 4, 4:8, 0]
    tile1 = pic[top : top + 4, 12:16, 0]
    assert tile0[0, 0] == 128 and tile0[1, 1] == 0  # 1.0 of 0..2 is mid-gray
    assert (tile1 == 255).all()


@pytest.mark.parametrize(
    ("name", "formula"),
    [
        ("relu", lambda v: np.maximum(v, 0)),
        ("sigmoid", lambda v: 1 / (1 + np.exp(-v))),
        ("tanh", np.tanh),
        ("leaky_relu", lambda v: np.where(v >= 0, v, 0.2 * v)),  # Keras 3's slope
        ("elu", lambda v: np.where(v > 0, v, np.expm1(v))),
        ("softmax", lambda v: np.exp(v) / np.exp(v).sum(axis=-1, keepdims=True)),
        ("identity", lambda v: v),
        ("linear", lambda v: v),  # Keras' name for no activation
    ],
)
def test_an_activation_option_is_applied_after_the_layer_as_keras(tmp_path, photo, name, formula):
    # Keras' Conv2D(2, 3, activation=...): the layer's output is after its activation
    head = "input: [21, 17, 1]\nlayers:\n  - conv2d: {name: c, kernels: [sobel-x, sobel-y]"
    fused = _arch(tmp_path, f"{head}, activation: {name}}}\n")
    forward(fused, _npy(tmp_path, photo), output=tmp_path / "f", npz=True)
    plain = _arch(tmp_path, head + "}\n")
    forward(plain, _npy(tmp_path, photo), output=tmp_path / "p", npz=True)
    raw = _maps(tmp_path / "p")["c"].astype(np.float64)
    # the raw map, by hand: cross-correlation with the registry's sobel-x (as stored, for
    # convolution) and sobel-y (its transpose), no padding
    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)
    x = photo[..., 0].astype(np.float64)
    by_hand = np.zeros((19, 15, 2))
    for r in range(19):
        for c in range(15):
            by_hand[r, c] = [(x[r : r + 3, c : c + 3] * k).sum() for k in (sobel, sobel.T)]
    np.testing.assert_allclose(raw, by_hand, atol=1e-5)
    got = _maps(tmp_path / "f")["c"]
    np.testing.assert_allclose(got, formula(by_hand), rtol=1e-5, atol=1e-6)


def test_an_activation_option_prelu_is_refused(tmp_path, photo):
    arch = _arch(
        tmp_path,
        "input: [21, 17, 1]\nlayers:\n"
        "  - conv2d: {name: c, kernels: [sobel-x], activation: prelu}\n",
    )
    with pytest.raises(
        UsageError,
        match=r"layer 'c': activation: prelu has weights of its own; write it as a prelu "
        r"layer after 'c'",
    ):
        forward(arch, _npy(tmp_path, photo), output=tmp_path / "m")
