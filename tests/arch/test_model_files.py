"""params / receptive-field on model files: ONNX graphs built here with onnx.helper,
Keras configs written by hand; every expected number worked out in the test."""

from __future__ import annotations

import json
import zipfile

import pytest

from cnnfilter.arch.layers import Shape
from cnnfilter.errors import UsageError
from cnnfilter.tasks import arch as task

from helpers import invoke

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def weight(name: str, *dims: int):
    return numpy_helper.from_array(np.zeros(dims, np.float32), name)


def save(tmp_path, nodes, inits, *, dims=(1, 3, 8, 8), out_dims=None, name="m.onnx", domains=()):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_dims)],
        inits,
    )
    opsets = [helper.make_opsetid("", 17), *(helper.make_opsetid(d, 1) for d in domains)]
    model = helper.make_model(graph, opset_imports=opsets)
    path = tmp_path / name
    onnx.save(model, path)
    return path


def conv(inputs, out, name, k=3, pads=1, **attrs):
    return helper.make_node(
        "Conv", inputs, [out], name=name, kernel_shape=[k, k], pads=[pads] * 4, **attrs
    )


def rows(result):
    return {row.step.layer.name: row for row in result.summary.rows}


def conv_bn_relu(tmp_path):
    nodes = [
        conv(["x", "w", "b"], "c", "/conv1/Conv"),
        helper.make_node(
            "BatchNormalization", ["c", "s", "t", "m", "v"], ["n"], name="/bn1/BatchNormalization"
        ),
        helper.make_node("Relu", ["n"], ["y"], name="/relu/Relu"),
    ]
    inits = [weight("w", 4, 3, 3, 3), weight("b", 4)] + [weight(n, 4) for n in "stmv"]
    return save(tmp_path, nodes, inits)


def test_conv_bn_relu_counts_weights_bias_and_running_stats_apart(tmp_path):
    result = task.params(conv_bn_relu(tmp_path))
    r = rows(result)
    # conv: 4 filters x 3 channels x 3 x 3 = 108 weights + 4 biases; padding 1 keeps 8 x 8
    assert r["/conv1/Conv"].cost.parameters == 4 * 3 * 3 * 3 + 4 == 112
    assert r["/conv1/Conv"].cost.macs == 4 * 3 * 3 * 3 * 8 * 8 == 6912
    assert str(r["/conv1/Conv"].step.output) == "8 x 8 x 4"
    # BatchNormalization: scale + bias trainable (2 x 4), mean + var running (2 x 4)
    assert (r["/bn1/BatchNormalization"].cost.parameters, result.summary.non_trainable) == (8, 8)
    assert result.summary.parameters == 112 + 8
    assert r["/relu/Relu"].step.kind == "relu"
    assert result.warnings == ()


def test_residual_add_is_a_merge_whose_row_sums_its_branch(tmp_path):
    nodes = [
        conv(["x", "w1"], "a", "stem"),
        conv(["a", "w2"], "b", "/layer1/conv1/Conv"),
        conv(["b", "w3"], "c", "/layer1/conv2/Conv"),
        helper.make_node("Add", ["c", "a"], ["y"], name="/layer1/Add"),
    ]
    inits = [weight("w1", 4, 3, 3, 3), weight("w2", 4, 4, 3, 3), weight("w3", 4, 4, 3, 3)]
    result = task.params(save(tmp_path, nodes, inits))
    r = rows(result)
    add = r["/layer1/Add"]
    assert add.step.kind == "add"
    # body: two 3x3 convs 4 -> 4 without bias, 144 weights each; shortcut: the identity
    assert add.total.parameters == 2 * 4 * 4 * 9 == 288
    assert [len(b) for _, b in add.step.branches] == [2, 0]
    assert result.summary.parameters == 4 * 3 * 9 + 288
    # receptive field: three 3x3 stride-1 convs: 1 + 3 x 2 = 7
    fields = task.receptive_field(tmp_path / "m.onnx")
    last = [row for row in fields.fields.rows if row.step.layer.name == "/layer1/Add"][0]
    assert last.field.rows.size == 7


def test_concat_sums_channels_and_depth_groups_by_name_prefix(tmp_path):
    nodes = [
        conv(["x", "w1"], "a", "/layer1/layer1.0/conv1/Conv"),
        conv(["x", "w2"], "b", "/layer1/layer1.0/conv2/Conv", k=1, pads=0),
        helper.make_node("Concat", ["a", "b"], ["c"], name="/layer1/layer1.0/Concat", axis=1),
        helper.make_node("Relu", ["c"], ["y"], name="/layer1/relu/Relu"),
    ]
    result = task.params(
        save(tmp_path, nodes, [weight("w1", 4, 3, 3, 3), weight("w2", 2, 3, 1, 1)])
    )
    r = rows(result)
    assert str(r["/layer1/layer1.0/Concat"].step.output) == "8 x 8 x 6"  # 4 + 2 channels
    # the two nodes under /layer1/ form one group row holding 4*3*9 + 2*3 = 114 parameters
    group = r["layer1"]
    assert group.step.kind == "group" and group.total.parameters == 108 + 6
    headers, table = task.params(tmp_path / "m.onnx", depth=0).table()
    assert [cells[0] for cells in table] == ["layer1"]


def test_grouped_and_depthwise_conv(tmp_path):
    nodes = [
        conv(["x", "wg", "bg"], "g", "grouped", pads=0, group=2),
        conv(["g", "wd"], "y", "depthwise", pads=0, group=8),
    ]
    inits = [weight("wg", 8, 2, 3, 3), weight("bg", 8), weight("wd", 8, 1, 3, 3)]
    r = rows(task.params(save(tmp_path, nodes, inits, dims=(1, 4, 8, 8))))
    # groups 2: each of 8 filters sees 4 / 2 = 2 channels: 8 x 2 x 9 = 144 + 8 biases; 6 x 6 out
    assert r["grouped"].cost.parameters == 152
    assert r["grouped"].cost.macs == 144 * 6 * 6
    # depthwise (groups = channels = 8): 8 x 1 x 9 = 72 weights; 4 x 4 out
    assert r["depthwise"].cost.parameters == 72
    assert r["depthwise"].cost.macs == 72 * 4 * 4


def test_conv_transpose_and_gemm(tmp_path):
    nodes = [
        helper.make_node(
            "ConvTranspose",
            ["x", "wt", "bt"],
            ["u"],
            name="up",
            kernel_shape=[2, 2],
            strides=[2, 2],
        ),
        helper.make_node("GlobalAveragePool", ["u"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    inits = [weight("wt", 4, 2, 2, 2), weight("bt", 2), weight("fw", 10, 2), weight("fb", 10)]
    result = task.params(save(tmp_path, nodes, inits, dims=(1, 4, 8, 8)))
    r = rows(result)
    # ConvTranspose weight (C_in 4, F 2, 2, 2): 32 + 2 biases; (8 - 1) x 2 + 2 = 16 out
    assert r["up"].cost.parameters == 34
    assert str(r["up"].step.output) == "16 x 16 x 2"
    assert r["up"].cost.macs == 4 * 2 * 2 * 2 * 8 * 8  # every input value x its kernel
    # Gemm 2 -> 10 with transB: 20 weights + 10 biases, 20 MACs
    assert (r["fc"].cost.parameters, r["fc"].cost.macs) == (30, 20)
    assert str(r["fc"].step.output) == "10"


def test_shared_weights_are_counted_once_and_to_yaml_refuses_them(tmp_path):
    nodes = [conv(["x", "w"], "a", "first"), conv(["a", "w"], "y", "second")]
    result = task.params(save(tmp_path, nodes, [weight("w", 3, 3, 3, 3)]))
    r = rows(result)
    assert (r["first"].cost.parameters, r["second"].cost.parameters) == (81, 0)
    assert r["second"].cost.macs == 81 * 64  # the arithmetic is still done twice
    assert any("second" in w and "shared" in w for w in result.warnings)
    with pytest.raises(UsageError, match=r"second \(shared weights\)"):
        task.write_yaml(result, tmp_path / "out.yaml")


def test_unknown_op_is_a_marked_row_counted_by_its_initializers(tmp_path):
    nodes = [
        conv(["x", "w"], "a", "conv"),
        helper.make_node("Frobnicate", ["a", "k"], ["y"], name="mystery", domain="custom"),
    ]
    path = save(tmp_path, nodes, [weight("w", 3, 3, 3, 3), weight("k", 5)], domains=["custom"])
    result = task.params(path, input_shape=None)
    r = rows(result)
    assert r["mystery"].step.kind == "Frobnicate (unknown op)"
    assert r["mystery"].cost.parameters == 5
    assert result.summary.parameters == 81 + 5
    assert any("mystery (Frobnicate)" in w for w in result.warnings)
    with pytest.raises(UsageError, match="mystery"):
        task.write_yaml(result, tmp_path / "out.yaml")
    out = invoke("params", str(path), "--csv")
    assert out.exit_code == 0 and "Frobnicate (unknown op)" in out.stdout
    assert "Warning:" in out.stderr and "mystery (Frobnicate)" in out.stderr


def test_shape_constants_and_single_numbers_are_not_parameters(tmp_path):
    shape = numpy_helper.from_array(np.array([1, -1], np.int64), "shape")
    half = numpy_helper.from_array(np.array(0.5, np.float32), "half")
    scale = weight("gamma", 3, 1, 1)
    nodes = [
        helper.make_node("Mul", ["x", "half"], ["h"], name="times_half"),
        helper.make_node("Mul", ["h", "gamma"], ["g"], name="layer_scale"),
        helper.make_node("Reshape", ["g", "shape"], ["y"], name="reshape"),
    ]
    result = task.params(save(tmp_path, nodes, [shape, half, scale]))
    r = rows(result)
    # x * 0.5: no parameter; x * gamma (3 values): 3; Reshape's shape: none
    assert [r[n].cost.parameters for n in ("times_half", "layer_scale", "reshape")] == [0, 3, 0]
    assert str(r["reshape"].step.output) == "192"  # 3 x 8 x 8 flattened


def test_symbolic_input_needs_input_and_input_resizes_fixed_models(tmp_path):
    nodes = [conv(["x", "w"], "y", "conv")]
    path = save(tmp_path, nodes, [weight("w", 2, 3, 3, 3)], dims=("N", 3, "H", "W"))
    with pytest.raises(UsageError, match=r"symbolic size N x 3 x H x W.*--input"):
        task.params(path)
    out = invoke("params", str(path))
    assert out.exit_code == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    r = rows(task.params(path, input_shape=Shape(16, 16, 3)))
    assert r["conv"].cost.macs == 2 * 3 * 9 * 16 * 16
    fixed = save(tmp_path, nodes, [weight("w", 2, 3, 3, 3)], name="fixed.onnx")
    assert rows(task.params(fixed))["conv"].cost.macs == 2 * 27 * 8 * 8
    assert (
        rows(task.params(fixed, input_shape=Shape(32, 32, 3)))["conv"].cost.macs == 2 * 27 * 32 * 32
    )
    with pytest.raises(UsageError, match="takes 3 channels"):
        task.params(fixed, input_shape=Shape(32, 32, 1))


def test_to_yaml_round_trip_gives_the_same_counts(tmp_path):
    nodes = [
        conv(["x", "w1", "b1"], "a", "/stem/Conv", k=3, pads=1, strides=[2, 2]),
        helper.make_node("BatchNormalization", ["a", "s", "t", "m", "v"], ["n"], name="/stem/bn"),
        helper.make_node("Clip", ["n", "lo", "hi"], ["r"], name="/stem/relu6"),
        conv(["r", "w2"], "d", "/block/dw", group=4),
        helper.make_node("Sigmoid", ["d"], ["s1"], name="/block/sig"),
        helper.make_node("Mul", ["d", "s1"], ["e"], name="/block/silu"),
        helper.make_node("Add", ["e", "r"], ["f"], name="/block/add"),
        helper.make_node(
            "MaxPool",
            ["f"],
            ["p"],
            name="pool",
            kernel_shape=[3, 3],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
            ceil_mode=1,
        ),  # fmt: skip
        helper.make_node("GlobalAveragePool", ["p"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["fl"], name="flatten"),
        helper.make_node("Gemm", ["fl", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    lo = numpy_helper.from_array(np.array(0, np.float32), "lo")
    hi = numpy_helper.from_array(np.array(6, np.float32), "hi")
    inits = [weight("w1", 4, 3, 3, 3), weight("b1", 4), lo, hi, weight("w2", 4, 1, 3, 3)]
    inits += [weight(n, 4) for n in "stmv"] + [weight("fw", 5, 4), weight("fb", 5)]
    model = task.params(save(tmp_path, nodes, inits, dims=(1, 3, 16, 16)))
    assert rows(model)["/stem/relu6"].step.kind == "relu6"
    task.write_yaml(model, tmp_path / "out.yaml")
    again = task.params(tmp_path / "out.yaml")
    a, b = model.summary, again.summary
    assert (a.parameters, a.non_trainable, a.macs) == (b.parameters, b.non_trainable, b.macs)
    # by hand: stem 108 + 4, BN 8 (+ 8 running), depthwise 36, fc 20 + 5
    assert (a.parameters, a.non_trainable) == (112 + 8 + 36 + 25, 8)
    # stem 8 x 8 out: 108 x 64; depthwise 36 x 64; fc 20
    assert a.macs == 108 * 64 + 36 * 64 + 20
    with pytest.raises(UsageError, match="already exists"):
        task.write_yaml(model, tmp_path / "out.yaml")


def test_bad_files_give_one_line(tmp_path):
    path = conv_bn_relu(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    text = tmp_path / "notes.onnx"
    text.write_text("hello, not a model\n")
    for bad in (cut, text, tmp_path / "missing.onnx"):
        out = invoke("params", str(bad))
        assert out.exit_code == 2, bad
        assert out.stderr.startswith("Error: ") and out.stderr.count("\n") == 1, out.stderr
        assert "Traceback" not in out.stderr


def test_without_onnx_one_line_names_the_extra(tmp_path, monkeypatch):
    path = conv_bn_relu(tmp_path)
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    out = invoke("params", str(path))
    assert out.exit_code == 2
    assert "pip install 'cnnfilter[onnx]'" in out.stderr and out.stderr.count("\n") == 1


# ------------------------------------------------------------------ Keras


SEQUENTIAL = {
    "class_name": "Sequential",
    "config": {
        "name": "mnist",
        "layers": [
            {"class_name": "InputLayer",
             "config": {"name": "in", "batch_shape": [None, 28, 28, 1]}},
            {"class_name": "Conv2D", "config": {"name": "conv", "filters": 32,
             "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid",
             "activation": "relu", "use_bias": True}},
            {"class_name": "BatchNormalization", "config": {"name": "bn", "momentum": 0.99,
             "epsilon": 0.001, "center": True, "scale": True}},
            {"class_name": "MaxPooling2D", "config": {"name": "pool", "pool_size": [2, 2]}},
            {"class_name": "Flatten", "config": {"name": "flatten"}},
            {"class_name": "Dropout", "config": {"name": "drop", "rate": 0.5}},
            {"class_name": "Dense", "config": {"name": "dense", "units": 10,
             "activation": "softmax"}},
        ],
    },
}  # fmt: skip


def test_keras_sequential_json_matches_keras_summary(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(SEQUENTIAL))
    result = task.params(path)
    r = rows(result)
    # Conv2D 3x3, 1 -> 32: 9 x 32 + 32 = 320; 28 -> 26
    assert r["conv"].cost.parameters == 320
    # BatchNormalization on 32: gamma, beta trainable (64), moving mean, var (64)
    assert (r["bn"].cost.parameters, r["bn"].cost.non_trainable) == (64, 64)
    # pool 26 -> 13; flatten 13 x 13 x 32 = 5408; Dense 5408 x 10 + 10 = 54,090
    assert r["dense"].cost.parameters == 54_090
    s = result.summary
    # Keras' summary: Total 54,538, Trainable 54,474, Non-trainable 64
    assert (s.parameters, s.non_trainable, s.parameters + s.non_trainable) == (54_474, 64, 54_538)


def test_keras_file_functional_with_branches_and_a_custom_layer(tmp_path):
    def tensor(name):
        return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}

    def layer(cls, name, inbound, **config):
        inbound_nodes = [{"args": [inbound], "kwargs": {}}] if inbound else []
        return {"class_name": cls, "name": name, "config": {"name": name, **config},
                "inbound_nodes": inbound_nodes}  # fmt: skip

    layers = [
        layer("InputLayer", "in", None, batch_shape=[None, 16, 16, 8]),
        layer(
            "Conv2D",
            "c1",
            tensor("in"),
            filters=8,
            kernel_size=[3, 3],
            padding="same",
            use_bias=False,
        ),  # fmt: skip
        layer("BatchNormalization", "b1", tensor("c1"), center=True, scale=False),
        layer("Add", "add", [tensor("b1"), tensor("in")]),
        layer("Conv2D", "c2", tensor("in"), filters=4, kernel_size=[1, 1]),
        layer("Concatenate", "cat", [tensor("add"), tensor("c2")], axis=-1),
        layer("MyBlur", "blur", tensor("cat")),
        layer("GlobalAveragePooling2D", "gap", tensor("blur")),
        layer("Dense", "fc", tensor("gap"), units=5),
    ]
    config = {"class_name": "Functional", "config": {"name": "net", "layers": layers,
              "input_layers": [["in", 0, 0]], "output_layers": [["fc", 0, 0]]}}  # fmt: skip
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", "{}")
    result = task.params(path)
    r = rows(result)
    # c1: 3 x 3 x 8 x 8 = 576, no bias; BN center only: beta 8 trainable, mean+var 16
    assert (r["c1"].cost.parameters, r["b1"].cost.parameters, r["b1"].cost.non_trainable) == (
        576, 8, 16)  # fmt: skip
    assert r["add"].step.kind == "add" and str(r["cat"].step.output) == "16 x 16 x 12"
    # c2: 8 x 4 + 4 = 36; fc: 12 x 5 + 5 = 65
    assert result.summary.parameters == 576 + 8 + 36 + 65
    assert r["blur"].step.kind == "MyBlur (unknown layer)"
    assert any("blur (MyBlur)" in w for w in result.warnings)


def test_keras_bad_files_give_one_line(tmp_path):
    (tmp_path / "a.json").write_text('{"not": "keras"}')
    (tmp_path / "b.keras").write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / "c.json").write_text("{ broken")
    for name in ("a.json", "b.keras", "c.json"):
        out = invoke("params", str(tmp_path / name))
        assert out.exit_code == 2 and out.stderr.startswith("Error: "), out.stderr
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def _resize_model(tmp_path, corners: str, name: str):
    sizes = numpy_helper.from_array(np.array([1, 3, 7, 7], np.int64), "sizes")
    node = helper.make_node(
        "Resize", ["x", "", "", "sizes"], ["y"], name="/up/Resize", mode="linear",
        coordinate_transformation_mode=corners,
    )  # fmt: skip
    return save(tmp_path, [node], [sizes], dims=(1, 3, 4, 4), name=name)


def test_resize_keeps_the_coordinate_rule_of_bilinear_upsampling(tmp_path):
    # PyTorch exports F.interpolate(mode="bilinear", align_corners=True) as 'align_corners'
    # and align_corners=False as 'half_pixel' (ONNX Resize, coordinate_transformation_mode)
    for corners, expected in (("align_corners", True), ("half_pixel", False)):
        row = rows(task.params(_resize_model(tmp_path, corners, f"{corners}.onnx")))["/up/Resize"]
        layer = row.step.layer
        assert (row.step.kind, layer.mode, layer.align_corners) == (
            "upsample",
            "bilinear",
            expected,
        )
        assert layer.size == (7, 7) and str(row.step.output) == "7 x 7 x 3"
    # 'asymmetric' has no arch.yaml upsample: the node is kept as a marked, unknown row
    row = rows(task.params(_resize_model(tmp_path, "asymmetric", "asym.onnx")))["/up/Resize"]
    assert row.step.kind != "upsample"
