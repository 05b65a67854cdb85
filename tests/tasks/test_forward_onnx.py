"""tasks.forward_onnx: ONNX models run by onnxruntime, layer by layer, against the engine.

The models are made here with ``onnx.helper`` and random weights (never downloaded);
every exposed layer's map is compared with the engine's own layer functions
(:mod:`cnnfilter.engine.layers`, themselves checked against PyTorch) run on the same
weights, to 1e-4 relative.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from cnnfilter.engine import layers as L
from cnnfilter.engine.resize import center_crop, resize_bilinear, shorter_side_size
from cnnfilter.errors import UsageError
from cnnfilter.tasks.forward import read_input
from cnnfilter.tasks.forward_onnx import IMAGENET_MEAN, IMAGENET_STD, parse_size, prepare
from cnnfilter.tasks.forward_onnx import forward_any as forward

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

PHOTO = "samples/coffee.png"  # 400 x 600 RGB
GRAY = "samples/camera.png"  # 512 x 512 gray


def _model(nodes, inits, x_shape, path, *, outputs=None, opset=17, elem=TensorProto.FLOAT):
    graph = helper.make_graph(
        nodes,
        "test",
        [helper.make_tensor_value_info("x", elem, x_shape)],
        outputs or [helper.make_tensor_value_info(nodes[-1].output[0], elem, None)],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _weights(seed=0):
    rng = np.random.default_rng(seed)

    def he(*shape):
        fan = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * np.sqrt(2 / fan)).astype(np.float32)

    return {
        "w1": he(8, 3, 3, 3),
        "b1": rng.standard_normal(8).astype(np.float32) * 0.1,
        "w2": he(8, 2, 3, 3),  # groups 4: 8 / 4 = 2 input channels per filter
        "b2": rng.standard_normal(8).astype(np.float32) * 0.1,
        "w3": he(16, 8, 3, 3),
        "bn_s": (1 + 0.1 * rng.standard_normal(16)).astype(np.float32),
        "bn_b": (0.1 * rng.standard_normal(16)).astype(np.float32),
        "bn_m": (0.1 * rng.standard_normal(16)).astype(np.float32),
        "bn_v": (1 + 0.2 * rng.random(16)).astype(np.float32),
        "wf": he(5, 16),
        "bf": rng.standard_normal(5).astype(np.float32) * 0.1,
    }


def _small_net(path, x_shape=(1, 3, "H", "W")):
    """conv -> relu -> grouped dilated conv -> add -> maxpool (ceil) -> strided conv (no
    bias) -> batchnorm -> relu -> global average pool -> flatten -> gemm."""
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        n("Relu", ["c1"], ["r1"], name="relu1"),
        n("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", group=4, dilations=[2, 2],
          pads=[2, 2, 2, 2]),
        n("Add", ["r1", "c2"], ["a"], name="add"),
        n("MaxPool", ["a"], ["p"], name="pool", kernel_shape=[3, 3], strides=[2, 2],
          ceil_mode=1),
        n("Conv", ["p", "w3"], ["c3"], name="conv3", strides=[2, 2], pads=[1, 0, 1, 0]),
        n("BatchNormalization", ["c3", "bn_s", "bn_b", "bn_m", "bn_v"], ["bn"], name="bn",
          epsilon=1e-5),
        n("Relu", ["bn"], ["r3"], name="relu3"),
        n("GlobalAveragePool", ["r3"], ["g"], name="gap"),
        n("Flatten", ["g"], ["f"], name="flatten"),
        n("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1),
    ]  # fmt: skip
    return _model(nodes, _weights(), list(x_shape), path)


def _engine(x, w):
    """The same network by the engine's layer functions; ``(H, W, C)`` maps by layer name."""
    out = {}
    out["conv1"] = L.conv2d(x, w["w1"], w["b1"], padding=1)
    out["relu1"] = L.relu(out["conv1"])
    out["conv2"] = L.conv2d(out["relu1"], w["w2"], w["b2"], padding=2, dilation=2, groups=4)
    out["add"] = L.add(out["relu1"], out["conv2"])
    out["pool"] = L.max_pool2d(out["add"], 3, stride=2, ceil_mode=True)
    out["conv3"] = L.conv2d(out["pool"], w["w3"], stride=2, padding=(1, 1, 0, 0))
    out["bn"] = L.batchnorm(out["conv3"], w["bn_m"], w["bn_v"], w["bn_s"], w["bn_b"], eps=1e-5)
    out["relu3"] = L.relu(out["bn"])
    out["gap"] = L.global_avg_pool(out["relu3"], keepdims=True)
    out["flatten"] = L.flatten(out["gap"])
    out["fc"] = L.dense(out["flatten"], w["wf"], w["bf"])
    return out


def _close(got, want, name):
    assert got.shape == want.shape, name
    scale = max(float(np.abs(want).max()), 1e-6)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale, err_msg=name)


def _activations(out):
    with np.load(out / "activations.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("runtime", ["onnxruntime", "reference"])
def test_every_layer_agrees_with_the_engine(tmp_path, runtime):
    if runtime == "onnxruntime":
        pytest.importorskip("onnxruntime")
    model = _small_net(tmp_path / "net.onnx")
    done = forward(model, PHOTO, output=tmp_path / "maps", npz=True, size=(61, 83), runtime=runtime)
    assert done.report["runtime"].startswith(
        {"onnxruntime": "onnxruntime", "reference": "onnx"}[runtime]
    )
    got = _activations(tmp_path / "maps")
    x, _ = prepare(read_input(PHOTO), 3, (None, None), size=(61, 83))
    want = _engine(x, _weights())
    assert list(got) == list(want)  # every node, in graph order, named by its node
    for name in want:
        _close(got[name], want[name], name)
    summary = json.loads((tmp_path / "maps" / "summary.json").read_text())
    assert [e["name"] for e in summary["layers"]] == list(want)
    assert summary["layers"][1]["zeros"] == pytest.approx(np.mean(want["relu1"] == 0))
    assert summary["layers"][0]["min"] == pytest.approx(float(want["conv1"].min()), rel=1e-4)
    assert summary["input"]["model_input"]["shape"] == [1, 3, 61, 83]
    assert len([p for p in done.written if p.endswith(".png")]) == len(want)


def test_the_input_is_resized_cropped_and_normalised_as_torchvision_does(tmp_path):
    # a fixed 1 x 3 x 224 x 224 model: shorter side to 256, centre crop 224, ImageNet stats
    model = _model([helper.make_node("Identity", ["x"], ["y"], name="id")], {}, [1, 3, 224, 224],
                   tmp_path / "id.onnx")  # fmt: skip
    forward(model, PHOTO, output=tmp_path / "maps", npz=True)
    got = _activations(tmp_path / "maps")["id"]
    photo = read_input(PHOTO)  # 400 x 600: resized to 256 x 384
    assert shorter_side_size(photo.shape[:2], 256) == (256, 384)
    want = center_crop(resize_bilinear(photo, (256, 384)), (224, 224))
    want = (want - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    _close(got, want, "id")
    # by hand: the centre crop starts at round((384 - 224) / 2) = 80 columns, 16 rows
    corner = center_crop(np.arange(256 * 384).reshape(256, 384), (224, 224))[0, 0]
    assert corner == 16 * 384 + 80


def test_resize_is_pillows_bilinear():
    from PIL import Image

    x = np.random.default_rng(1).random((37, 53, 2)).astype(np.float32)
    for h, w in [(224, 100), (11, 29), (37, 53)]:
        want = np.stack(
            [np.asarray(Image.fromarray(x[..., c], "F").resize((w, h), Image.BILINEAR))
             for c in range(2)], axis=-1,
        )  # fmt: skip
        np.testing.assert_allclose(resize_bilinear(x, (h, w)), want, atol=1e-6)


def test_a_gray_photo_feeds_a_colour_model_and_mean_std_are_per_channel(tmp_path):
    model = _model([helper.make_node("Identity", ["x"], ["y"], name="id")], {},
                   [1, 3, "H", "W"], tmp_path / "id.onnx")  # fmt: skip
    forward(model, GRAY, output=tmp_path / "m", npz=True, size=(32, 32), mean=(0.5,), std=(1, 2, 4))
    got = _activations(tmp_path / "m")["id"]
    gray = resize_bilinear(read_input(GRAY), (32, 32))[..., 0]
    for c, s in enumerate((1, 2, 4)):
        np.testing.assert_allclose(got[..., c], (gray - 0.5) / s, rtol=1e-6, atol=1e-6)


def test_a_shorter_side_size_on_a_dynamic_model_keeps_the_aspect_ratio(tmp_path):
    model = _model([helper.make_node("Relu", ["x"], ["y"], name="r")], {},
                   ["N", 3, "H", "W"], tmp_path / "r.onnx")  # fmt: skip
    done = forward(model, PHOTO, output=tmp_path / "m", size=100)
    assert done.report["input"]["shape"] == [100, 150, 3]
    assert done.report["input"]["cropped"] is None


def test_names_with_slashes_and_colons_make_safe_file_names(tmp_path):
    n = helper.make_node
    nodes = [
        n("Relu", ["x"], ["/layer1/relu:0"], name="/layer1/layer1.0/Relu"),
        n("Sigmoid", ["/layer1/relu:0"], ["out:0"], name=""),
        n("Neg", ["out:0"], ["../evil"], name="../../evil"),
    ]
    model = _model(nodes, {}, [1, 1, 8, 8], tmp_path / "names.onnx")
    out = tmp_path / "maps"
    done = forward(model, GRAY, output=out, npz=True)
    pngs = sorted(p.name for p in out.iterdir() if p.suffix == ".png")
    assert pngs == ["01_layer1_layer1.0_Relu.png", "02_out_0.png", "03_.._.._evil.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps", "names.onnx"]
    assert [e["name"] for e in done.report["layers"]] == [
        "/layer1/layer1.0/Relu", "out:0", "../../evil"
    ]  # fmt: skip
    assert list(_activations(out)) == [e["name"] for e in done.report["layers"]]


def test_layer_picks_one_montage_by_node_or_tensor_name(tmp_path):
    model = _small_net(tmp_path / "net.onnx")
    done = forward(model, PHOTO, output=tmp_path / "a", layer="conv2", size=(40, 40))
    assert [p.rsplit("/", 1)[1] for p in done.written] == ["03_conv2.png", "summary.json"]
    done = forward(model, PHOTO, output=tmp_path / "b", layer="c2", size=(40, 40))
    assert [p.rsplit("/", 1)[1] for p in done.written] == ["03_conv2.png", "summary.json"]
    with pytest.raises(UsageError, match=r"layer='nope' is not a layer of .*conv1, relu1"):
        forward(model, PHOTO, output=tmp_path / "c", layer="nope", size=(40, 40))


def test_a_float16_model_runs(tmp_path):
    n = helper.make_node
    w = np.random.default_rng(2).standard_normal((4, 1, 3, 3)).astype(np.float16)
    model = _model([n("Conv", ["x", "w"], ["y"], name="conv")], {"w": w}, [1, 1, 20, 20],
                   tmp_path / "h.onnx", elem=TensorProto.FLOAT16)  # fmt: skip
    forward(model, GRAY, output=tmp_path / "m", npz=True)
    x, _ = prepare(read_input(GRAY), 1, (20, 20))
    want = L.conv2d(x.astype(np.float16).astype(np.float32), w.astype(np.float32))
    got = _activations(tmp_path / "m")["conv"]
    np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-2 * np.abs(want).max())


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([1, 16], r"input 'x' \(1 x 16\) is not an image batch N x C x H x W"),
        ([1, "C", 8, 8], r"input 'x' \(1 x \? x 8 x 8\) is not an image batch.*fixed number"),
        ([1, 4, 8, 8], r"^the photo has 3 channels and the model takes 4; fix: give a .npy map"),
    ],
)
def test_a_model_whose_input_is_not_an_image_is_refused_in_one_line(tmp_path, shape, message):
    model = _model([helper.make_node("Relu", ["x"], ["y"], name="r")], {}, shape,
                   tmp_path / "m.onnx")  # fmt: skip
    with pytest.raises(UsageError, match=message):
        forward(model, PHOTO, output=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_preprocessing_errors_name_the_parameter(tmp_path):
    model = _model([helper.make_node("Relu", ["x"], ["y"], name="r")], {}, [1, 3, 224, 224],
                   tmp_path / "m.onnx")  # fmt: skip
    out = tmp_path / "o"
    with pytest.raises(UsageError, match=r"size=100x100: the model takes 224 x 224 pixels"):
        forward(model, PHOTO, output=out, size=(100, 100))
    with pytest.raises(UsageError, match=r"size=200: the photo resized to 200 x 300 is smaller"):
        forward(model, PHOTO, output=out, size=200)
    with pytest.raises(UsageError, match=r"mean=0.1,0.2: give one value or 3"):
        forward(model, PHOTO, output=out, mean=(0.1, 0.2))
    with pytest.raises(UsageError, match=r"std=0.0: every value must be above 0"):
        forward(model, PHOTO, output=out, std=(0.0,))
    with pytest.raises(UsageError, match=r"weights= and init="):
        forward(model, PHOTO, output=out, init="he")
    with pytest.raises(UsageError, match=r"mean= is for ONNX models only"):
        forward("samples/arch/article_first_layer.yaml", PHOTO, output=out, mean=(0.5,))
    with pytest.raises(UsageError, match=r"size='12x' is not a size"):
        parse_size("12x")
    assert not out.exists()


def test_a_broken_model_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07\x12\x04abc")  # truncated protobuf
    with pytest.raises(UsageError, match=r"bad.onnx: not .*ONNX model"):
        forward(bad, PHOTO, output=tmp_path / "out")


def test_without_onnxruntime_the_reference_evaluator_runs_and_says_so(tmp_path, monkeypatch):
    model = _small_net(tmp_path / "net.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime fails
    done = forward(model, PHOTO, output=tmp_path / "a", size=(30, 30))
    assert "ReferenceEvaluator" in done.report["runtime"]
    assert any("pip install 'cnnfilter[onnxruntime]'" in n for n in done.notes)
    with pytest.raises(
        UsageError,
        match=r"needs the onnxruntime package; fix: pip install 'cnnfilter\[onnxruntime\]'",
    ):
        forward(model, PHOTO, output=tmp_path / "b", runtime="onnxruntime")
    with pytest.raises(UsageError, match=r"runtime='fast' is not one of auto, onnxruntime"):
        forward(model, PHOTO, output=tmp_path / "b", runtime="fast")


def test_without_onnx_one_line_names_the_extra(tmp_path, monkeypatch):
    model = _small_net(tmp_path / "net.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(
        UsageError,
        match=r"^running ONNX models needs the onnx and onnxruntime packages; "
        r"fix: pip install 'cnnfilter\[onnxruntime\]'$",
    ):
        forward(model, PHOTO, output=tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_other_shapes_are_skipped_and_a_second_output_gets_its_index(tmp_path):
    n = helper.make_node
    nodes = [
        n("Split", ["x"], ["a", "b"], name="split", axis=1, num_outputs=2),
        n("Shape", ["a"], ["s"], name="shape"),  # int64: never a layer
        n("Reshape", ["b", "r"], ["tokens"], name="to_tokens"),  # 1 x 2 x 16: skipped
        n("Relu", ["a"], ["y"], name="relu"),
    ]
    inits = {"r": np.array([1, 2, 16], dtype=np.int64)}
    model = _model(nodes, inits, [1, 4, 4, 4], tmp_path / "m.onnx", opset=18)
    x = np.random.default_rng(0).standard_normal((4, 4, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    done = forward(
        model, tmp_path / "x.npy", output=tmp_path / "o", npz=True, mean=(0,), std=(1,), size=(4, 4)
    )
    assert [e["name"] for e in done.report["layers"]] == ["split", "split#1", "relu"]
    assert done.report["skipped"] == ["to_tokens"]
    assert any("1 node outputs are not" in note for note in done.notes)
    got = _activations(tmp_path / "o")
    np.testing.assert_array_equal(got["split#1"], x[..., 2:])
    np.testing.assert_array_equal(got["relu"], np.maximum(x[..., :2], 0))
