"""``forward model.onnx`` with bad options and odd photos: one line, exit 2, nothing written."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, error_line, invoke

onnx = pytest.importorskip("onnx")
from onnx import helper, numpy_helper  # noqa: E402


@pytest.fixture
def model(tmp_path):
    """conv 3x3 -> maxpool 3x3 stride 2: a 1 x 1 input makes an empty map."""
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    n = helper.make_node
    graph = helper.make_graph(
        [
            n("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
            n("MaxPool", ["c"], ["p"], name="pool", kernel_shape=[3, 3], strides=[2, 2]),
        ],
        "g",
        [helper.make_tensor_value_info("x", 1, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info("p", 1, None)],
        initializer=[numpy_helper.from_array(w, "w")],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "m.onnx"))
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "one.png")
    return tmp_path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--size", "100000"], "--size 100000 would resize the photo to 100000 x 125000"),
        (["--size", "60000x60000"], "--size 60000x60000 would resize the photo to 60000 x 60000"),
        (["--std", "1e-45"], "make the model's input overflow float32"),
        (["--mean", "1e38"], "make the model's input overflow float32"),
        (["--size", "1"], "layer 'pool' (MaxPool) would make an empty map (1 x 4 x 0 x 0)"),
        (["--layer", "nope"], "--layer nope is not a layer of"),
    ],
    ids=["size-huge", "size-huge-hw", "std-tiny", "mean-huge", "size-1", "layer"],
)
def test_bad_preprocessing_is_one_line_and_nothing_is_written(model, extra, message):
    out = model / "out"
    line = error_line(2, ["forward", model / "m.onnx", model / "p.png", "-o", out, *extra])
    assert message in line
    assert not out.exists()


def test_a_photo_smaller_than_the_model_needs_is_exit_2_without_runtime_noise(model):
    result = invoke("forward", model / "m.onnx", model / "one.png", "-o", model / "out")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "the photo is smaller than the model's windows need" in lines[0]
    assert "give a larger size, such as the model's own (--size 224)" in lines[0]


def test_outputs_never_overwrite_the_model_or_the_photo(model):
    out = model / "out"
    out.mkdir()
    (out / "01_conv.png").symlink_to(model / "p.png")
    (out / "summary.json").symlink_to(model / "m.onnx")
    before = (model / "p.png").read_bytes(), (model / "m.onnx").read_bytes()
    args = ["forward", model / "m.onnx", model / "p.png", "-o", out, "--force"]
    assert "summary.json' is the model file" in error_line(2, args)
    (out / "summary.json").unlink()
    assert "01_conv.png' is the input image" in error_line(2, args)
    assert ((model / "p.png").read_bytes(), (model / "m.onnx").read_bytes()) == before
    assert "--output - is standard output" in error_line(2, [*args[:3], "-o", "-"])


def test_a_long_node_name_makes_a_short_file_name(model, tmp_path):
    n = helper.make_node
    graph = helper.make_graph(
        [n("Relu", ["x"], ["y"], name="/" + "block/" * 80 + "Relu")],
        "g",
        [helper.make_tensor_value_info("x", 1, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info("y", 1, None)],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "long.onnx"))
    result = invoke("forward", tmp_path / "long.onnx", model / "p.png", "-o", tmp_path / "o")
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names[0].startswith("01_block_block_") and len(names[0]) <= 130


def test_a_size_that_leaves_the_photo_smaller_than_the_model_input_names_the_fix(tmp_path):
    # the sample model takes 224 x 224; --size 100 resizes chelsea (300 x 451) to 100 x 150
    args = ["forward", ROOT / "samples/models/article_cnn.onnx", ROOT / "samples/chelsea.png"]
    line = error_line(2, [*args, "-o", tmp_path / "out", "--size", "100"])
    assert line == (
        "Error: --size 100: the photo resized to 100 x 150 is smaller than the model's "
        "224 x 224 input; fix: give --size 224 (shorter side) or --size 224x224 (exact)"
    )
    assert not (tmp_path / "out").exists()
