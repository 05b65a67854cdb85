"""`cnnfilter params` and `cnnfilter receptive-field`: streams, formats, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, invoke

ARCH = ROOT / "samples" / "arch"


def run(*args: str):
    return invoke(*args)


# -------------------------------------------------------------------- params


def test_params_table_on_stdout_with_totals_and_conventions():
    result = run("params", ARCH / "vgg16.yaml")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "vgg16: input 224 x 224 x 3" in out
    assert "fc6" in out and "102,764,544" in out and "74.3%" in out
    assert "parameters: 138,357,544 (trainable; PyTorch's count" in out
    assert "MACs: 15.47 G (15,470,264,320; conv, depthwise, locally-connected and dense" in out
    assert "biases and parameter-free layers excluded: torchvision's 'GFLOPS')" in out
    # VGG16 has no BatchNorm: the footer does not speak of it (resnet18's does, below)
    assert "parameters: 138,357,544 (trainable; PyTorch's count)\n" in out
    assert "non-trainable: 0 (no BatchNorm running statistics: Keras' 'Total params' is the " in out
    assert "BatchNorm scale" not in out


def test_params_footer_speaks_of_batchnorm_only_when_the_network_has_it():
    out = run("params", ARCH / "resnet18.yaml").stdout
    assert "parameters: 11,689,512 (trainable; PyTorch's count, BatchNorm scale and shift " in out
    assert "non-trainable: 9,600 (BatchNorm running mean and variance; with them, Keras' " in out
    assert "'Total params': 11,699,112)" in out


def test_params_json_keys_are_stable():
    result = run("params", ARCH / "resnet18.yaml", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    doc = json.loads(result.stdout)
    assert set(doc) == {
        "network",
        "source",
        "input",
        "conventions",
        "layers",
        "total",
        "memory",
        "warnings",
    }
    assert doc["warnings"] == []
    assert doc["total"]["parameters"] == 11_689_512  # jq '.total.parameters'
    assert doc["total"]["non_trainable"] == 9_600
    assert doc["total"]["parameters_with_running_stats"] == 11_699_112
    assert doc["total"]["macs"] == 1_814_073_344
    assert doc["input"] == {"height": 224, "width": 224, "channels": 3}
    first = doc["layers"][0]
    assert set(first) == {
        "name",
        "type",
        "depth",
        "input",
        "output",
        "kernel",
        "parameters",
        "non_trainable",
        "macs",
        "activation_bytes",
        "share",
        "total_parameters",
        "total_macs",
    }
    assert (first["name"], first["output"], first["parameters"]) == ("conv1", [112, 112, 64], 9408)
    assert doc["layers"][-1]["output"] == [1000]
    assert {layer["type"] for layer in doc["layers"]} >= {"add", "conv2d", "batchnorm2d", "dense"}


def test_params_compare_locally_connected_reproduces_the_article():
    result = run(
        "params",
        ARCH / "article_locally_connected.yaml",
        "--compare",
        "locally-connected",
        "--json",
    )
    doc = json.loads(result.stdout)
    assert doc["layers"][0]["parameters"] == 45
    assert doc["layers"][0]["locally_connected_parameters"] == 46_080
    assert doc["total"]["locally_connected_parameters"] == 46_080
    table = run(
        "params", ARCH / "article_locally_connected.yaml", "--compare", "locally-connected"
    ).stdout
    assert "if locally connected" in table and "46,080" in table


def test_params_csv_has_a_header_one_row_per_layer_and_a_total():
    result = run("params", ARCH / "lenet5.yaml", "--csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["name"] for r in rows] == [
        "c1",
        "s2",
        "c3",
        "s4",
        "flatten_1",
        "c5",
        "f6",
        "output",
        "total",
    ]
    assert rows[0]["output"] == "28x28x6" and rows[0]["parameters"] == "156"
    assert rows[-1]["parameters"] == "61706"
    assert sum(int(r["parameters"]) for r in rows[:-1]) == 61_706


def test_params_markdown_is_a_table_with_totals():
    out = run("params", ARCH / "lenet5.yaml", "--markdown").stdout
    lines = out.splitlines()
    assert lines[0] == "**lenet5: input 32 x 32 x 1**"
    assert lines[2] == (
        "| layer | type | input | output | kernel | parameters | non-trainable | MACs | share |"
    )
    assert lines[3] == "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: |"
    assert "| c5 | dense | 400 | 120 | 400 x 120 | 48,120 |  | 48.00 k | 78.0% |" in out
    assert "- parameters: 61,706 (trainable" in out


# ------------------------------------------------------------ receptive-field


def test_receptive_field_table_and_json():
    result = run("receptive-field", ARCH / "vgg16.yaml")
    assert result.exit_code == 0
    pool5 = next(line for line in result.stdout.splitlines() if line.startswith("pool5 "))
    assert pool5.split()[-4:] == ["212", "32", "15.5", "90"]  # piped: plain columns
    assert 'source: Araujo, Norris & Sim, "Computing Receptive Fields' in result.stdout
    assert result.stderr.startswith("Warning: layer 'fc6': its receptive field (404 x 404)")
    doc = json.loads(run("receptive-field", ARCH / "vgg16.yaml", "--json").stdout)
    pool5 = next(layer for layer in doc["layers"] if layer["name"] == "pool5")
    assert pool5["receptive_field"] == [212, 212] and pool5["jump"] == [32, 32]
    assert pool5["effective_padding"] == [90, 90] and pool5["start"] == [15.5, 15.5]
    assert doc["warnings"] and doc["reference"].startswith("Araujo")


def test_receptive_field_csv_and_markdown():
    rows = list(
        csv.DictReader(io.StringIO(run("receptive-field", ARCH / "lenet5.yaml", "--csv").stdout))
    )
    assert rows[0]["name"] == "c1" and rows[0]["receptive_field"] == "5x5"
    assert rows[3]["start"] == "7.5x7.5"
    out = run("receptive-field", ARCH / "lenet5.yaml", "--markdown").stdout
    assert "| s4 | maxpool2d | 5 x 5 x 16 | 16 | 4 | 7.5 | 0 |" in out


def test_receptive_field_picture(tmp_path):
    out = tmp_path / "rf.png"
    result = run(
        "receptive-field",
        ARCH / "vgg16.yaml",
        "--image",
        ROOT / "samples" / "astronaut.png",
        "--layer",
        "conv5_3",
        "--unit",
        "7,7",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "layer conv5_3 unit (7, 7): field rows 22..217, columns 22..217" in result.stderr
    assert "all inside the image" in result.stderr
    picture = np.asarray(Image.open(out))
    # the field is inside: no padding margin, only the caption strip above
    assert picture.shape == (18 + 512, 512, 3)
    corner = run(
        "receptive-field",
        ARCH / "vgg16.yaml",
        "--image",
        ROOT / "samples" / "astronaut.png",
        "--layer",
        "conv5_3",
        "--unit",
        "0,0",
        "-o",
        tmp_path / "c.png",
    )
    assert "field rows -90..105" in corner.stderr
    assert np.asarray(Image.open(tmp_path / "c.png")).shape[0] > 18 + 512  # grew for the padding


def test_a_drawing_warns_only_about_the_drawn_layer_and_those_before_it(tmp_path):
    """README's conv5_3 drawing said that fc6, three layers on, sees past the input."""
    photo = ROOT / "samples" / "astronaut.png"
    exceeds = "Warning: layer 'fc6': its receptive field (404 x 404) already exceeds"
    args = ["receptive-field", ARCH / "vgg16.yaml", "--image", photo]
    conv = run(*args, "--layer", "conv5_3", "-o", tmp_path / "a.png")
    assert conv.exit_code == 0, conv.stderr
    assert conv.stderr.startswith("layer conv5_3 unit (7, 7): ") and "Warning" not in conv.stderr
    for layer in ("fc6", "fc8"):  # the warned layer itself, and one after it
        dense = run(*args, "--layer", layer, "-o", tmp_path / f"{layer}.png")
        assert dense.exit_code == 0, dense.stderr
        assert dense.stderr.startswith(exceeds)
    assert exceeds in run("receptive-field", ARCH / "vgg16.yaml").stderr  # the table: all
    # a residual network: the stride-2 shortcut's warning from that layer on, not before
    resnet = ["receptive-field", ARCH / "resnet18.yaml", "--image", photo]
    before = run(*resnet, "--layer", "layer2.0.conv1", "-o", tmp_path / "r1.png")
    at = run(*resnet, "--layer", "layer2.0.downsample.0", "-o", tmp_path / "r2.png")
    assert before.exit_code == 0 and at.exit_code == 0, before.stderr + at.stderr
    assert "Warning" not in before.stderr
    assert at.stderr.startswith("Warning: layer 'layer2.0.downsample.0': 28 of 56 input rows")


def test_picture_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "rf.png"
    out.write_bytes(b"keep")
    args = [
        "receptive-field",
        ARCH / "lenet5.yaml",
        "--image",
        ROOT / "samples" / "coins.png",
        "--layer",
        "c3",
        "-o",
        out,
    ]
    result = run(*args)
    assert result.exit_code == 2 and "already exists; add --force" in result.stderr
    assert out.read_bytes() == b"keep"
    assert run(*args, "--force").exit_code == 0
    assert out.read_bytes() != b"keep"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--layer", "c3"], "--layer, --unit and --output draw on a photo: add --image PATH"),
        (
            ["--image", "samples/coins.png", "-o", "x.png"],
            "--image needs --layer NAME and --output",
        ),
        (
            ["--image", "samples/coins.png", "--layer", "c33", "-o", "x.png"],
            "--layer: no layer named 'c33' in ",
        ),
        (
            ["--image", "samples/coins.png", "--layer", "c3", "--unit", "10,0", "-o", "x.png"],
            "--unit 10,0 is outside layer 'c3', whose units form a 10 x 10 grid",
        ),
        (
            ["--image", "samples/coins.png", "--layer", "c3", "--unit", "a,b", "-o", "x.png"],
            "--unit must be ROW,COL",
        ),
    ],
)
def test_receptive_field_option_errors(extra, message, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    extra = [str(tmp_path / e) if e == "x.png" else e for e in extra]
    result = run("receptive-field", ARCH / "lenet5.yaml", *extra)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert not (tmp_path / "x.png").exists()


# ------------------------------------------------------------------- errors

BAD_FILES = [
    ("layers:\n  - relu\n", "bad.yaml:1: top level: missing input:"),
    (
        "input: [8, 8, 3]\nlayers:\n  - conv2dd: {filters: 1}\n",
        "bad.yaml:3: layer 'conv2dd': unknown layer type 'conv2dd'; fix: did you mean conv2d?",
    ),
    (
        "input: [8, 8, 3]\nlayers:\n  - conv2d: {filters: 1}\n",
        "bad.yaml:3: layer 'conv2d_1' (conv2d): missing option 'kernel_size'",
    ),
    (
        "input: [2, 2, 3]\nlayers:\n  - conv2d: {filters: 1, kernel_size: 3}\n",
        "bad.yaml:3: layer 'conv2d_1' (conv2d): output would be 0 x 0",
    ),
    (
        "input: [8, 8, 3]\nlayers:\n  - dense: {units: 1, in_features: 192}\n",
        "bad.yaml:3: layer 'dense_1' (dense): in_features is 192 = 8 x 8 x 3 but its input is "
        "not flat (a dense layer on 8 x 8 x 3 acts on its 3 channels); "
        "fix: add '- flatten' before it",
    ),
    (
        "input: [8, 8, 3]\nlayers:\n  - !!python/object/apply:os.system ['touch pwned']\n",
        "bad.yaml:3: layer: unsafe or unsupported YAML tag",
    ),
]


@pytest.mark.parametrize("command", ["params", "receptive-field"])
@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_malformed_files_exit_2_with_one_stderr_line(command, text, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(text)
    result = run(command, "bad.yaml", "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: " + message), lines
    assert not (tmp_path / "pwned").exists()


def test_missing_file_and_bad_choices_are_usage_errors(tmp_path):
    assert run("params", tmp_path / "none.yaml").exit_code == 2
    assert run("params", ARCH / "vgg16.yaml", "--format", "xml").exit_code == 2  # no such option
    assert run("params", ARCH / "vgg16.yaml", "--json", "--csv").exit_code == 2
    assert run("params", ARCH / "vgg16.yaml", "--compare", "dense").exit_code == 2


def test_help_lists_both_commands():
    out = run("--help").stdout
    assert "params" in out and "receptive-field" in out


def test_params_json_in_a_real_subprocess():
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnfilter",
            "params",
            str(ARCH / "alexnet.yaml"),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert json.loads(proc.stdout)["total"]["parameters"] == 61_100_840


def test_receptive_field_on_a_wide_photo_is_drawn_square_with_a_caption(samples, tmp_path):
    from cnnfilter import render

    out, boxed = tmp_path / "rf.png", tmp_path / "rf_lb.png"
    args = ["receptive-field", str(samples / "arch" / "vgg16.yaml"), "--image",
            str(samples / "coffee.png"), "--layer", "conv4_3"]  # fmt: skip
    result = invoke([*args, "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "centre-cropped to the input's aspect" in result.stderr
    pic = np.asarray(Image.open(out))
    top = render.CAPTION_HEIGHT
    # 400 x 600 centre-cropped to 400 x 400 (the caption may widen the canvas, in white)
    assert pic.shape[0] == top + 400 and (pic[top:, 400:] == 255).all()
    # the field (92 x 92 of 224) is outlined in the field colour as a square
    body = pic[top:, :400]
    ys, xs = np.nonzero((body == (255, 200, 0)).all(axis=2))
    assert ys.max() - ys.min() == xs.max() - xs.min()
    assert abs((ys.max() - ys.min() + 1) - 92 * 400 / 224) <= 2
    assert (pic[:top].max(axis=2) < 128).sum() > 100  # the caption
    result = invoke([*args, "--fit", "letterbox", "-o", str(boxed)])
    assert result.exit_code == 0, result.stderr
    assert np.asarray(Image.open(boxed)).shape[:2] == (top + 600, 600)
