"""forward's weights in the arch file (issue 14 item 2): kernels per input channel, inline
arrays and their one-line errors; the new layer kinds through the task; the montage scale."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnfilter.engine.filtering import correlate
from cnnfilter.errors import UsageError
from cnnfilter.kernels import resolve_kernel
from cnnfilter.tasks.forward import forward

from helpers import error_line, invoke


def _run(tmp_path, arch: str, x: np.ndarray, **kw) -> dict[str, np.ndarray]:
    (tmp_path / "a.yaml").write_text(arch)
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    out = tmp_path / "m"
    forward(tmp_path / "a.yaml", tmp_path / "x.npy", output=out, npz=True, force=True, **kw)
    with np.load(out / "activations.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture
def rgb():
    return np.random.default_rng(5).uniform(0, 1, (9, 11, 3)).astype(np.float32)


def _corr(x2d, name):
    k = resolve_kernel(name).weights
    return correlate(x2d, k, padding="same", boundary="constant", cval=0.0)


def test_kernels_per_input_channel(tmp_path, rgb):
    arch = (
        "input: [9, 11, 3]\nlayers:\n"
        "  - conv2d: {name: c, padding: same, kernels: [[sobel-x, none, none], "
        "[none, sobel-y, box:3], curve]}\n"
    )
    got = _run(tmp_path, arch, rgb)["c"]
    assert got.shape == (9, 11, 3)
    np.testing.assert_allclose(got[..., 0], _corr(rgb[..., 0], "sobel-x"), atol=1e-5)
    ref1 = _corr(rgb[..., 1], "sobel-y") + _corr(rgb[..., 2], "box:3")
    np.testing.assert_allclose(got[..., 1], ref1, atol=1e-5)
    ref2 = sum(_corr(rgb[..., c], "curve") for c in range(3))
    np.testing.assert_allclose(got[..., 2], ref2, rtol=1e-5, atol=1e-4)


def test_kernels_per_channel_of_the_wrong_length_is_one_error(tmp_path, rgb):
    arch = "input: [9, 11, 3]\nlayers:\n  - conv2d: {name: c, kernels: [[sobel-x, none]]}\n"
    with pytest.raises(UsageError, match=r"layer 'c': kernels entry 0 names 2 .* 3 channels"):
        _run(tmp_path, arch, rgb)


def test_inline_conv_weight_and_bias(tmp_path, rgb):
    # two filters on 3 channels, 1 x 2 kernels, PyTorch's (out, in, kh, kw)
    w = np.arange(12, dtype=np.float32).reshape(2, 3, 1, 2) / 10
    arch = (
        "input: [9, 11, 3]\nlayers:\n  - conv2d: {name: c, filters: 2, kernel_size: [1, 2], "
        f"weight: {w.tolist()}, bias: [0.5, -1]}}\n"
    )
    got = _run(tmp_path, arch, rgb)["c"]
    ref = np.zeros((9, 10, 2))
    for o in range(2):
        for c in range(3):
            ref[..., o] += w[o, c, 0, 0] * rgb[:, :-1, c] + w[o, c, 0, 1] * rgb[:, 1:, c]
    ref += [0.5, -1]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_inline_single_channel_filter_without_its_size_1_axes(tmp_path, rgb):
    arch = (
        "input: [9, 11, 1]\nlayers:\n  - conv2d: {name: c, filters: 1, kernel_size: 3, "
        "padding: same, bias: false, weight: [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]}\n"
    )
    got = _run(tmp_path, arch, rgb[..., :1])["c"][..., 0]
    k = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
    ref = correlate(rgb[..., 0], k, padding="same", boundary="constant", cval=0.0)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_inline_dense_and_batchnorm(tmp_path):
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    arch = (
        "input: [1, 2, 3]\nlayers:\n"
        "  - batchnorm2d: {name: bn, running_mean: [1, 2, 3], running_var: [4, 4, 4], "
        "weight: [1, 2, 3], bias: [0, 0, 1], eps: 0}\n"
        "  - flatten: {name: f}\n"
        "  - dense: {name: d, units: 2, weight: [[1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], "
        "bias: [0, 10]}\n"
    )
    got = _run(tmp_path, arch, x)
    bn = (x - [1, 2, 3]) / 2 * [1, 2, 3] + [0, 0, 1]
    np.testing.assert_allclose(got["bn"], bn)
    flat = bn.transpose(2, 0, 1).ravel()  # PyTorch's C x H x W order
    np.testing.assert_allclose(got["d"], [flat[0], flat.sum() + 10], rtol=1e-6)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("conv2d: {name: c, filters: 2, kernel_size: 3, weight: [[1, 2], [3, 4]]}",
         "layer 'c' (conv2d): weight has shape (2, 2), it needs (2, 1, 3, 3) = (filters, "
         "in_channels / groups, kh, kw)"),
        ("dense: {name: d, units: 2, weight: [1, 2, 3]}",
         "layer 'd' (dense): weight has shape (3,), it needs (2, 1) = (units, in_features)"),
        ("batchnorm2d: {name: b, running_mean: [1, 2]}",
         "layer 'b' (batchnorm2d): running_mean has shape (2,), it needs (1,)"),
    ],
)  # fmt: skip
def test_inline_array_of_the_wrong_shape_is_one_error_naming_the_layer(tmp_path, layer, message):
    arch = tmp_path / "a.yaml"
    arch.write_text(f"input: [5, 5, 1]\nlayers:\n  - {layer}\n")
    line = error_line(2, ["forward", arch, "samples/camera.png", "-o", tmp_path / "m"])
    assert line == f"Error: {message}"


def test_ragged_or_non_numeric_arrays_are_refused_when_parsed(tmp_path):
    for bad, what in [("[[1, 2], [3]]", "rows of different lengths"), ("[1, x]", "not a number")]:
        arch = tmp_path / "a.yaml"
        arch.write_text(f"input: [5, 5, 1]\nlayers:\n  - dense: {{units: 2, weight: {bad}}}\n")
        line = error_line(2, ["params", arch])
        assert what in line


def test_norm_layers_and_layer_scale_run_in_forward(tmp_path, rgb):
    from cnnfilter.engine import layers as L

    x = np.concatenate([rgb, rgb * 2 - 1, rgb**2, rgb + 3], axis=2)  # 12 channels
    arch = (
        "input: [9, 11, 12]\nlayers:\n"
        "  - groupnorm: {name: gn, num_groups: 3, eps: 0.001}\n"
        "  - layernorm: {name: ln, weight: 2, bias: [0.5]}\n"
        "  - layer_scale: {name: ls, init_values: 0.1}\n"
        "  - softplus: {name: sp}\n"
        "  - mish: {name: mi}\n"
        "  - locally_connected2d: {name: lc, filters: 2, kernel_size: 3}\n"
    )
    got = _run(tmp_path, arch, x, init="he", seed=1)
    gn = L.group_norm(x, 3, eps=1e-3)
    np.testing.assert_allclose(got["gn"], gn, atol=1e-5)
    m = gn.astype(np.float64)
    ln = (m - m.mean(-1, keepdims=True)) / np.sqrt(m.var(-1, keepdims=True) + 1e-5) * 2 + 0.5
    np.testing.assert_allclose(got["ln"], ln, atol=1e-4)
    np.testing.assert_allclose(got["ls"], got["ln"] * np.float32(0.1), rtol=1e-6)
    np.testing.assert_allclose(got["sp"], np.log1p(np.exp(got["ls"].astype(np.float64))), rtol=1e-5)
    assert got["lc"].shape == (7, 9, 2)


def test_a_layer_kind_without_forward_meaning_is_one_error():
    from cnnfilter.arch.layers import Imported
    from cnnfilter.arch.run import _run_layer
    from cnnfilter.arch.weights import Weights

    node = Imported(name="n1", line=1, type="imported", op="NonMaxSuppression")
    with pytest.raises(UsageError, match=r"layer 'n1' \(imported\) cannot run"):
        _run_layer(node, np.zeros((2, 2, 1), np.float32), Weights({}, None, 0))


def test_montage_scale_tile_and_shared(tmp_path):
    from cnnfilter.render import CAPTION_HEIGHT, montage

    x = np.zeros((4, 4, 2), dtype=np.float32)
    x[..., 1] = 30.0
    x[0, 0, 0], x[1, 1, 0] = 1.0, 0.5
    label = CAPTION_HEIGHT - 4
    top = CAPTION_HEIGHT + 4 + label
    shared = montage(x, title="t", scale="shared", min_tile=4, gap=4)
    tile0 = shared[top : top + 4, 4:8, 0]
    assert tile0[0, 0] == round(255 / 30) and tile0[1, 1] == round(255 / 60)
    per_tile = montage(x, title="t", scale="tile", min_tile=4, gap=4)
    tile0 = per_tile[top : top + 4, 4:8, 0]
    # white at the tile's 99.5th percentile: 0.5 + 0.925 * 0.5 (14 zeros, 0.5, 1); 1 saturates
    assert tile0[0, 0] == 255 and tile0[1, 1] == round(0.5 / 0.9625 * 255) == 132
    assert tile0[2, 2] == 0


def test_signed_layers_are_diverging_and_centred_on_zero():
    from cnnfilter.render import CAPTION_HEIGHT, colormap_lut, montage, montage_colours

    x = np.array([[-2.0, 0.0, 1.0, 2.0]], dtype=np.float32).reshape(1, 4, 1)
    assert montage_colours(x) == "diverging" and montage_colours(np.abs(x)) == "gray"
    pic = montage(x, title="t", scale="tile", min_tile=1, gap=4)
    row = pic[CAPTION_HEIGHT + 4 + CAPTION_HEIGHT - 4, 4:8]
    lut = colormap_lut("rdbu")
    # -2 .. 2 over the 256 entries: -2 -> 0, 0 -> 128, 1 -> 191, 2 -> 255
    assert row.tolist() == [
        lut[0].tolist(),
        lut[128].tolist(),
        lut[191].tolist(),
        lut[255].tolist(),
    ]


def test_cli_scale_option(tmp_path):
    r = invoke("forward", "samples/arch/article_first_layer.yaml", "samples/crops/camera_hair.png",
               "-o", tmp_path / "m", "--scale", "shared", "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    import json

    assert json.loads(r.stdout)["montage_scale"] == "shared"
    args = ["forward", "samples/arch/article_first_layer.yaml", "samples/crops/camera_hair.png"]
    line = error_line(2, [*args, "-o", tmp_path / "n", "--scale", "x"])
    assert "scale" in line and "tile" in line


def test_the_runner_frees_maps_no_later_layer_reads():
    """tracemalloc (NumPy reports its buffers): a chain of 12 layers on a 1 MiB map peaks
    near two maps; keeping every map (as npz=True does) holds all twelve."""
    import tracemalloc

    from cnnfilter.arch import parse_network
    from cnnfilter.arch.run import run_network
    from cnnfilter.arch.weights import Weights

    chain = "".join(f"  - {kind}: {{name: l{i}}}\n" for i, kind in enumerate(["relu", "tanh"] * 6))
    net = parse_network(f"input: [256, 256, 4]\nlayers:\n{chain}")
    x = np.random.default_rng(0).normal(size=(256, 256, 4)).astype(np.float32)
    mib = x.nbytes

    run_network(net, x, Weights({}, None, 0))  # first calls: imports, not traced

    def peak(keep: bool) -> float:
        kept = []
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        run_network(net, x, Weights({}, None, 0), (lambda n, y: kept.append(y)) if keep else None)
        top = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        return top / mib

    assert peak(False) < 3.5
    assert peak(True) >= 12


def test_every_layer_kind_of_arch_yaml_runs_in_forward():
    from cnnfilter.arch.layers import LAYER_TYPES, Activation, Block, Merge
    from cnnfilter.arch.run import _RUN
    from cnnfilter.engine.layers import ACTIVATIONS

    for kind, (cls, fixed) in LAYER_TYPES.items():
        if issubclass(cls, Activation):
            assert fixed["function"] in ACTIVATIONS or fixed["function"] == "identity", kind
        else:
            assert cls.__name__ in _RUN or issubclass(cls, Merge | Block), kind


def _pool_loop(x, k, s, pads, op, exclude_pad):
    """Pooling by hand: ``pads`` (top, bottom, left, right) of -inf (max) or 0 (avg)."""
    t, b, lft, r = pads
    h, w, c = x.shape
    oh, ow = (h + t + b - k) // s + 1, (w + lft + r - k) // s + 1
    out = np.zeros((oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            rows = range(i * s - t, i * s - t + k)
            cols = range(j * s - lft, j * s - lft + k)
            inside = [x[y, q] for y in rows for q in cols if 0 <= y < h and 0 <= q < w]
            if op == "max":
                out[i, j] = np.max(inside, axis=0)
            else:
                out[i, j] = np.sum(inside, axis=0) / (len(inside) if exclude_pad else k * k)
    return out


@pytest.mark.parametrize(
    ("options", "pads", "op", "exclude"),
    [
        ("maxpool2d: {name: p, kernel_size: 2, stride: 2, padding: same}", (0, 1, 0, 0), "max", 0),
        ("maxpool2d: {name: p, kernel_size: 3, stride: 2, padding: same}", (1, 1, 0, 1), "max", 0),
        ("avgpool2d: {name: p, kernel_size: 2, stride: 2, padding: same, "
         "count_include_pad: false}", (0, 1, 0, 0), "avg", 1),  # Keras' AveragePooling2D
        ("avgpool2d: {name: p, kernel_size: 3, stride: 2, padding: [0, 1, 1, 0]}",
         (0, 1, 1, 0), "avg", 0),
    ],
)  # fmt: skip
def test_pools_with_same_or_unequal_padding(tmp_path, options, pads, op, exclude):
    """TensorFlow's 'same' puts the odd padding pixel after: 7 rows -> pad 0 + 1 (k 2,
    s 2), 8 columns -> none; k 3, s 2: rows 1 + 1, columns 0 + 1."""
    x = np.random.default_rng(4).normal(size=(7, 8, 2)).astype(np.float32)
    got = _run(tmp_path, f"input: [7, 8, 2]\nlayers:\n  - {options}\n", x)["p"]
    k = 2 if "kernel_size: 2" in options else 3
    np.testing.assert_allclose(got, _pool_loop(x, k, 2, pads, op, exclude), rtol=1e-5, atol=1e-6)


def test_a_block_use_does_not_hold_its_input():
    """A ``blocks:`` use runs its layers in sequence: its input is dropped after its first
    layer, as in a plain chain (the peak stays near two maps, not three)."""
    import tracemalloc

    from cnnfilter.arch import parse_network
    from cnnfilter.arch.run import run_network
    from cnnfilter.arch.weights import Weights

    net = parse_network(
        "input: [256, 256, 4]\nblocks:\n  pair:\n    layers: [relu, tanh, sigmoid]\n"
        "layers:\n  - relu\n  - pair\n  - pair\n"
    )
    x = np.random.default_rng(0).normal(size=(256, 256, 4)).astype(np.float32)
    run_network(net, x, Weights({}, None, 0))  # first calls import SciPy: not traced
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    run_network(net, x, Weights({}, None, 0))
    top = (tracemalloc.get_traced_memory()[1] - base) / x.nbytes
    tracemalloc.stop()
    assert top < 2.5


def test_kernels_in_the_arch_file_come_before_a_stored_weight(tmp_path, rgb):
    # docs/forward.md: per layer, the first source given is used, the arch file's first;
    # the .npz's weight for that layer is then left unused (and listed so), its bias used
    np.savez(
        tmp_path / "w.npz", **{"c.weight": np.ones((1, 3, 3, 3), np.float32),
                               "c.bias": np.array([0.5], np.float32)},
    )  # fmt: skip
    arch = "input: [9, 11, 3]\nlayers:\n  - conv2d: {name: c, padding: same, kernels: [sobel-x]}\n"
    got = _run(tmp_path, arch, rgb, weights=tmp_path / "w.npz")["c"][..., 0]
    ref = sum(_corr(rgb[..., c], "sobel-x") for c in range(3)) + 0.5
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert summary["weights"]["unused"] == ["c.weight"]
