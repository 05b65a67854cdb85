"""``cnnfilter.forward``: the same arrays as ``cnnfilter forward --npz``, a hand-written
conv + relu + max-pool loop, and one clean error per bad argument."""

from __future__ import annotations

import numpy as np
import pytest

import cnnfilter

from helpers import ROOT, invoke

ARCH = ROOT / "samples" / "arch"
CROPS = ROOT / "samples" / "crops"

TINY = {
    "input": [6, 7, 3],
    "layers": [
        {"conv2d": {"name": "conv", "filters": 2, "kernel_size": 3, "padding": 1}},
        {"relu": {"name": "act"}},
        {"maxpool2d": {"name": "pool", "kernel_size": 2}},
    ],
}


def photo(path) -> np.ndarray:
    """A sample as the command reads it: float32, divided by its white (0..1)."""
    loaded = cnnfilter.read_image(path)
    return loaded.pixels.astype(np.float32) / np.float32(loaded.max_value)


def cli_maps(tmp_path, arch, image, *options) -> dict[str, np.ndarray]:
    out = tmp_path / "out"
    result = invoke("forward", arch, image, "-o", out, "--npz", "-q", *options)
    assert result.exit_code == 0, result.stderr
    with np.load(out / "activations.npz") as data:
        return {k: data[k] for k in data.files}


def assert_same_maps(got: dict, want: dict) -> None:
    assert list(got) == list(want)  # every layer, in the order the pass runs them
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_inline_weights_give_the_commands_maps(tmp_path):
    arch, image = ARCH / "article_two_layers.yaml", CROPS / "camera_hair.png"
    want = cli_maps(tmp_path, arch, image)
    assert_same_maps(cnnfilter.forward(arch, photo(image)), want)
    assert want["combined"].shape == (64, 64, 2)


def test_random_weights_of_one_seed_give_the_commands_maps(tmp_path):
    # small_net: a residual block, batchnorm, pooling, flatten, dense
    arch, image = ARCH / "small_net.yaml", CROPS / "cup.png"
    want = cli_maps(tmp_path, arch, image, "--init", "he", "--seed", "5")
    got = cnnfilter.forward(arch, photo(image), init="he", seed=5)
    assert_same_maps(got, want)
    assert got["classifier"].shape == (10,)


def test_given_weights_give_the_commands_maps_in_either_layout(tmp_path):
    (tmp_path / "net.yaml").write_text(
        "input: [45, 45, 1]\nlayers:\n"
        "  - conv2d: {name: c, filters: 3, kernel_size: 5, stride: 2}\n"
        "  - relu: {name: r}\n  - global_avgpool2d: {name: g}\n  - dense: {name: d, units: 2}\n"
    )
    rng = np.random.default_rng(1)
    torch = {
        "c.weight": rng.standard_normal((3, 1, 5, 5)).astype(np.float32),
        "c.bias": rng.standard_normal(3).astype(np.float32),
        "d.weight": rng.standard_normal((2, 3)).astype(np.float32),
        "d.bias": rng.standard_normal(2).astype(np.float32),
    }
    np.savez(tmp_path / "w.npz", **torch)
    image = CROPS / "coin.png"
    want = cli_maps(tmp_path, tmp_path / "net.yaml", image, "--weights", tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz") as stored:
        assert_same_maps(
            cnnfilter.forward(tmp_path / "net.yaml", photo(image), weights=stored), want
        )
    keras = {
        **torch,
        "c.weight": torch["c.weight"].transpose(2, 3, 1, 0),
        "d.weight": torch["d.weight"].T,
    }
    got = cnnfilter.forward(tmp_path / "net.yaml", photo(image), weights=keras, layout="keras")
    assert_same_maps(got, want)


def reference_conv_relu_pool(x, w, b):
    """conv (zero padding 1, stride 1, unflipped) + relu + 2 x 2 max pool, by loops."""
    h, wd, c = x.shape
    f, _, kh, kw = w.shape
    xp = np.zeros((h + 2, wd + 2, c))
    xp[1:-1, 1:-1] = x
    conv = np.zeros((h, wd, f))
    for y in range(h):
        for col in range(wd):
            for k in range(f):
                total = b[k]
                for ch in range(c):
                    for i in range(kh):
                        for j in range(kw):
                            total += w[k, ch, i, j] * xp[y + i, col + j, ch]
                conv[y, col, k] = total
    act = np.maximum(conv, 0)
    pool = np.zeros((h // 2, wd // 2, f))
    for y in range(h // 2):
        for col in range(wd // 2):
            pool[y, col] = act[2 * y : 2 * y + 2, 2 * col : 2 * col + 2].max(axis=(0, 1))
    return conv, act, pool


def test_a_tiny_network_equals_a_hand_written_loop():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 7, 3))
    w, b = rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    maps = cnnfilter.forward(TINY, x, weights={"conv.weight": w, "conv.bias": b})
    conv, act, pool = reference_conv_relu_pool(x, w, b)
    assert list(maps) == ["conv", "act", "pool"]
    assert all(m.dtype == np.float32 for m in maps.values())
    np.testing.assert_allclose(maps["conv"], conv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(maps["act"], act, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(maps["pool"], pool, rtol=1e-5, atol=1e-5)
    assert maps["pool"].shape == (3, 3, 2)  # floor(6 / 2), floor(7 / 2)


def test_a_gray_image_is_one_channel_and_layers_picks_maps():
    x = np.zeros((6, 7))
    x[:, 4:] = 1.0
    net = {"input": [1, 1, 1], "layers": [{"conv2d": {"name": "e", "kernels": ["-1,1"]}},
                                          {"relu": {"name": "r"}}]}  # fmt: skip
    maps = cnnfilter.forward(net, x, layers="r")  # the network's input: the image's
    assert list(maps) == ["r"] and maps["r"].shape == (6, 6, 1)
    assert maps["r"][0, :, 0].tolist() == [0, 0, 0, 1, 0, 0]


def test_a_built_in_name_runs_with_the_shapes_summarize_gives():
    maps = cnnfilter.forward("lenet5", np.zeros((32, 32, 1)), init="glorot")
    summary = cnnfilter.summarize(ARCH / "lenet5.yaml")
    assert [layer["name"] for layer in summary["layers"]] == list(maps)
    assert [layer["output"] for layer in summary["layers"]] == [
        list(m.shape) for m in maps.values()
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"image": np.zeros((2, 6, 7, 3))}, cnnfilter.UsageError, r"image has shape \(2, 6, 7,"),
        ({"image": np.zeros((6, 0))}, cnnfilter.UsageError, r"image has shape \(6, 0\)"),
        ({"image": "photo.png"}, cnnfilter.UsageError,
         r"^image='photo\.png' is a file name, not an array: read it first, photo = "
         r"cnnfilter\.read_image\('photo\.png'\), and pass photo\.pixels / photo\.max_value "),
        ({"image": np.full((6, 7, 3), np.nan)}, cnnfilter.UsageError, "image holds NaN or inf"),
        ({"image": np.zeros((6, 7, 3), bool)}, cnnfilter.UsageError, "image holds bool values"),
        ({"init": "xavier"}, cnnfilter.UsageError, "init='xavier' is not one of he, glorot"),
        ({"init": "he", "seed": -1}, cnnfilter.UsageError, "seed=-1 is negative"),
        ({"layout": "tf"}, cnnfilter.UsageError, "layout='tf' is not one of torch, keras"),
        ({"init": "he", "layers": ["pool", "acts"]}, cnnfilter.UsageError,
         r"layers='acts' is not a layer of <dict>; did you mean act\?"),
        ({"weights": "w.npz"}, TypeError, r"weights must be a mapping .*numpy\.load"),
        ({}, cnnfilter.UsageError,
         r"layer 'conv' \(conv2d\) has no weights: give 'conv.weight' in weights="),
        ({"weights": {"conv.weigth": np.ones((2, 3, 3, 3))}}, cnnfilter.UsageError,
         r"weights has no array 'conv.weight' \(it holds: conv.weigth\); did you mean "
         r"'conv.weigth'\? rename it 'conv.weight'"),
        ({"weights": {"conv.weight": np.ones((3, 3, 3, 2))}}, cnnfilter.UsageError,
         r"array 'conv.weight' of weights has shape \(3, 3, 3, 2\), layer 'conv' needs "
         r"\(2, 3, 3, 3\).*layout='keras'"),
        ({"weights": {"conv.weight": np.full((2, 3, 3, 3), np.inf)}}, cnnfilter.UsageError,
         r"weights: array 'conv.weight' holds 54 value\(s\) that are NaN or inf"),
    ],
)  # fmt: skip
def test_a_bad_argument_is_one_error_naming_it(kwargs, error, message):
    kwargs = {"image": np.zeros((6, 7, 3)), **kwargs}
    with pytest.raises(error, match=message):
        cnnfilter.forward(TINY, **kwargs)


def test_a_bad_arch_is_named():
    with pytest.raises(cnnfilter.UsageError, match=r"arch='resnet-19' .*did you mean resnet18"):
        cnnfilter.forward("resnet-19", np.zeros((8, 8, 3)))
    with pytest.raises(TypeError, match="arch must be a file path, a built-in name, a dict"):
        cnnfilter.forward(42, np.zeros((8, 8, 3)))
    too_small = {"input": [2, 2, 1], "layers": [{"conv2d": {"filters": 1, "kernel_size": 5}}]}
    with pytest.raises(cnnfilter.UsageError, match="conv2d_1"):
        cnnfilter.forward(too_small, np.zeros((2, 2)), init="he")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"image": [[0.0, 1.0], [2.0]]}, cnnfilter.UsageError,
         r"image is not a rectangular array of numbers"),
        ({"image": None}, TypeError, r"image must be an array.*got NoneType"),
        ({"image": np.full((6, 7, 3), 1e39)}, cnnfilter.UsageError,
         r"image holds NaN or inf \(or values beyond float32's range\)"),
        ({"init": "he", "layers": 3}, TypeError,
         r"layers must be a layer name or a list of names, got int"),
        ({"init": "he", "layers": ["act", 3]}, TypeError,
         r"layers must be a layer name or a list of names, got 3 \(int\) in the list"),
        ({"init": "he", "seed": 1.5}, TypeError, r"seed must be an integer, got float"),
        ({"init": "he", "seed": "1"}, TypeError, r"seed must be an integer, got str"),
    ],
)  # fmt: skip
def test_an_odd_python_value_is_one_error_naming_its_parameter(kwargs, error, message):
    # the image of 1e39 overflowed float32 with a RuntimeWarning first (an error under
    # pytest's warnings-as-errors, a stray line for a user); the others ended in NumPy's or
    # Python's own TypeError/ValueError, not naming the parameter
    kwargs = {"image": np.zeros((6, 7, 3)), **kwargs}
    with pytest.raises(error, match=message):
        cnnfilter.forward(TINY, **kwargs)


def test_numpy_numbers_and_arrays_in_an_arch_dict_are_plain_values():
    # np.int64 from a shape or an inline np.ndarray kernel: yaml.safe_dump raised its own
    # RepresenterError ("cannot represent an object")
    weight = np.array([1, -1], np.int32).reshape(1, 1, 1, 2)  # (out, in, kh, kw)
    net = {
        "input": [np.int64(4), 4, 1],
        "layers": [
            {"conv2d": {"name": "edge", "filters": np.int64(1), "kernel_size": (1, 2),
                        "bias": np.False_, "weight": weight}},
        ],
    }  # fmt: skip
    maps = cnnfilter.forward(net, np.array([[0, 0, 1, 1]] * 4))
    np.testing.assert_array_equal(maps["edge"][0, :, 0], [0, -1, 0])  # w . x, unflipped
    odd = {"input": [4, 4, 1], "layers": [{"conv2d": {"filters": object()}}]}
    with pytest.raises(TypeError, match=r"arch holds a value of type object .*plain"):
        cnnfilter.forward(odd, np.zeros((4, 4)))


def test_an_empty_arch_name_is_named():
    # '' is the current folder to pathlib: the error said ".: cannot read the layer file"
    with pytest.raises(cnnfilter.UsageError, match=r"arch='' is empty"):
        cnnfilter.forward("", np.zeros((8, 8, 3)))
    # Path.exists() raised OSError "File name too long"
    with pytest.raises(cnnfilter.UsageError, match=r"arch='rrrr.* is neither a layer file"):
        cnnfilter.forward("r" * 300, np.zeros((8, 8, 3)))


def test_a_misspelt_weight_is_refused_rather_than_replaced_by_init():
    # with init=, 'conv.weigth' was left unused and 'conv' silently got random weights (the
    # command says so in a note; a Python caller had no way to know)
    given = {"conv.weigth": np.ones((2, 3, 3, 3))}
    with pytest.raises(
        cnnfilter.UsageError,
        match=r"weights: array 'conv.weigth' is unused and layer 'conv' got init='he' random "
        r"weights instead; did you mean 'conv.weight'\? rename it",
    ):
        cnnfilter.forward(TINY, np.zeros((6, 7, 3)), weights=given, init="he")
    with pytest.raises(cnnfilter.UsageError, match=r"'conv1.weight' is unused .*'conv.weight'"):
        cnnfilter.forward(TINY, np.zeros((6, 7, 3)), weights={"conv1.weight": 1}, init="he")
    # an array of a layer the arch does not have stays allowed (a state_dict of a larger net)
    extra = {"fc.weight": np.ones((10, 4))}
    maps = cnnfilter.forward(TINY, np.zeros((6, 7, 3)), weights=extra, init="he")
    assert list(maps) == ["conv", "act", "pool"]
