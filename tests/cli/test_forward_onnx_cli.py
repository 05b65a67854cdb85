"""cnnfilter forward model.onnx: options, messages and exit codes (issue 14, ONNX models)."""

from __future__ import annotations

import json
import sys

import pytest

from helpers import error_line, invoke

MODEL = "samples/models/article_cnn.onnx"
PHOTO = "samples/chelsea.png"

pytest.importorskip("onnx")


def test_forward_runs_an_onnx_model_and_writes_a_montage_per_layer(tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "maps"
    result = invoke("forward", MODEL, PHOTO, "-o", out, "--npz")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "01_conv1_Conv.png", "02_relu1_Relu.png", "03_pool1_MaxPool.png", "04_conv2_Conv.png",
        "05_relu2_Relu.png", "06_avgpool_GlobalAveragePool.png", "07_Flatten.png",
        "08_fc_Gemm.png", "activations.npz", "summary.json",
    ]  # fmt: skip
    lines = result.stdout.splitlines()
    assert lines[0].split()[:6] == ["/conv1/Conv", "Conv", "224", "x", "224", "x"]
    assert lines[2].split()[:5] == ["/pool1/MaxPool", "MaxPool", "112", "x", "112"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["resized"] == [256, 384] and summary["input"]["cropped"] == [224, 224]
    assert summary["input"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert summary["runtime"].startswith("onnxruntime ")


def test_json_is_the_summary(tmp_path):
    out = tmp_path / "maps"
    args = ["forward", MODEL, PHOTO, "-o", out, "--json", "--runtime", "reference", "-q"]
    result = invoke(*args, "--layer", "/conv1/Conv", "--size", "240", "--mean", "0.5")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == json.loads((out / "summary.json").read_text())
    assert report["input"]["resized"] == [240, 360] and report["input"]["mean"] == [0.5] * 3
    assert sorted(p.name for p in out.iterdir()) == ["01_conv1_Conv.png", "summary.json"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--size", "224x"], "Error: --size 224x is not a size; give the shorter side (256)"),
        (["--size", "100x100"], "Error: --size 100x100: the model takes 224 x 224 pixels"),
        (["--mean", "a,b"], "Error: --mean a,b is not a list of numbers"),
        (["--std", "0"], "Error: --std 0.0: every value must be above 0"),
        (["--init", "he"], "an ONNX model carries its own weights; fix: leave out --weights"),
        (["--runtime", "gpu"], "Error: --runtime gpu is not one of auto, onnxruntime, reference"),
    ],
)
def test_bad_options_are_one_line_exit_2(tmp_path, extra, message):
    line = error_line(2, ["forward", MODEL, PHOTO, "-o", tmp_path / "m", *extra])
    assert message in line
    assert not (tmp_path / "m").exists()


def test_onnx_options_on_an_arch_file_are_refused(tmp_path):
    arch = "samples/arch/article_first_layer.yaml"
    line = error_line(2, ["forward", arch, PHOTO, "-o", tmp_path / "m", "--mean", "0.5"])
    assert line.startswith("Error: --mean is for ONNX models only")


def test_without_onnx_one_line_names_the_extra_exit_2(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    line = error_line(2, ["forward", MODEL, PHOTO, "-o", tmp_path / "m"])
    assert line == (
        "Error: running ONNX models needs the onnx and onnxruntime packages; "
        "fix: pip install 'cnnfilter[onnxruntime]'"
    )


def test_without_onnxruntime_the_reference_evaluator_runs_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = invoke("forward", MODEL, PHOTO, "-o", tmp_path / "m", "--layer", "/fc/Gemm")
    assert result.exit_code == 0, result.stderr
    assert "onnxruntime is not installed: ran onnx's reference evaluator" in result.stderr
    assert "pip install 'cnnfilter[onnxruntime]'" in result.stderr
    line = error_line(
        2, ["forward", MODEL, PHOTO, "-o", tmp_path / "n", "--runtime", "onnxruntime"]
    )
    assert "pip install 'cnnfilter[onnxruntime]'" in line


def test_a_model_that_is_not_an_image_model_is_one_line(tmp_path):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
    )  # fmt: skip
    path = tmp_path / "vec.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    line = error_line(2, ["forward", path, PHOTO, "-o", tmp_path / "m"])
    assert "input 'x' (1 x 10) is not an image batch N x C x H x W" in line
