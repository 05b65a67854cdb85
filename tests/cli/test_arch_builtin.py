"""params / receptive-field on built-in names, --list, --input, --depth, --width, memory."""

from __future__ import annotations

import json
import re

import pytest

from helpers import invoke


def run(*args: str):
    return invoke(*args)


def test_params_reads_a_builtin_by_name():
    result = run("params", "resnet50", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["total"]["parameters"] == 25_557_032


def test_params_list_names_every_builtin():
    out = run("params", "--list").stdout
    names = [line.split()[0] for line in out.splitlines()]
    assert {"resnet50", "efficientnet_b0", "googlenet", "convnext_tiny", "lenet5"} <= set(names)
    assert re.search(r"^resnet50 +ResNet-50 as in torchvision", out, re.M)
    # each description is its file's first sentence, whole even when it spans lines
    alexnet = next(line for line in out.splitlines() if line.startswith("alexnet "))
    assert alexnet.split(None, 1)[1] == (
        'AlexNet as in torchvision.models.alexnet (the "one weird trick" variant, '
        "Krizhevsky 2014): 61,100,840 parameters; 0.71 G multiply-accumulates."
    )
    descriptions = [line.split(None, 1)[1] for line in out.splitlines()]
    assert all(d.endswith(".") for d in descriptions), descriptions


def test_an_unknown_name_suggests_the_closest_builtins():
    result = run("params", "resnet5")
    assert result.exit_code == 2
    assert "no such layer file and no built-in architecture; did you mean resnet50" in result.stderr


def test_input_override_resizes_a_builtin():
    # ResNet-50 at 448 x 448: the same parameters, 4x the conv MACs (the fc layer is unchanged:
    # 2048 * 1000 = 2,048,000 MACs), 4 * (4,089,184,256 - 2,048,000) + 2,048,000
    doc = json.loads(run("params", "resnet50", "--input", "448x448x3", "--json").stdout)
    assert doc["input"] == {"height": 448, "width": 448, "channels": 3}
    assert doc["total"]["parameters"] == 25_557_032
    assert doc["total"]["macs"] == 4 * (4_089_184_256 - 2_048_000) + 2_048_000
    same = json.loads(
        run("params", "resnet50", "--input", "3x448x448", "--channels-first", "--json").stdout
    )
    assert same["total"] == doc["total"]


def test_a_channels_first_input_value_is_refused_with_the_channels_last_form():
    result = run("params", "resnet50", "--input", "3x224x224")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: --input 3x224x224 looks channels-first (CxHxW); write 224x224x3"
        " (height x width x channels) or add --channels-first"
    )


def test_a_channels_first_file_is_refused(tmp_path):
    (tmp_path / "cf.yaml").write_text("input: [3, 224, 224]\nlayers: [relu]\n")
    result = run("params", str(tmp_path / "cf.yaml"))
    assert result.exit_code == 2
    assert "fix: write input: [224, 224, 3] (or pass --input 3x224x224 --channels-first)" in (
        result.stderr
    )


def table_rows(out: str) -> list[str]:
    """The rows of a piped (plain) layer table: the lines between its header and footer."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("layer "))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip() or ": " in line:
            break
        rows.append(line)
    return rows


def test_depth_collapses_blocks_into_rows_that_sum_them():
    doc = json.loads(run("params", "resnet50", "--json").stdout)
    out = run("params", "resnet50", "--depth", "0").stdout
    rows = table_rows(out)
    assert len(rows) == 23  # stem 4, 16 bottlenecks, avgpool, flatten, fc
    block = next(r for r in doc["layers"] if r["name"] == "layer1.0")
    inside = [r for r in doc["layers"] if r["name"].startswith("layer1.0.")]
    assert block["total_parameters"] == sum(r["parameters"] for r in inside) == 75_008


@pytest.mark.parametrize("command", ["params", "receptive-field"])
def test_width_80_fits_without_splitting_numbers_or_headers(command):
    out = run(command, "efficientnet_b0", "--depth", "2", "--width", "80").stdout
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    headers = [line for line in lines if line.startswith("layer ")]
    assert len(headers) == 1  # no header word folded onto a second line
    cells = re.split(r"\s{2,}", headers[0].strip())
    known = {
        "layer",
        "type",
        "input",
        "output",
        "kernel",
        "parameters",
        "params",
        "non-trainable",
        "non-train",
        "MACs",
        "share",
        "field r",
        "jump j",
        "start",
        "eff. padding",
    }
    assert cells[0] == "layer" and set(cells) <= known
    body = table_rows(out)
    # every row on one line: the row count equals the layers shown
    doc = json.loads(run(command, "efficientnet_b0", "--json").stdout)
    assert len(body) == sum(1 for r in doc["layers"] if r["depth"] <= 2)


def test_memory_follows_batch_size_and_dtype():
    doc = json.loads(
        run("params", "resnet18", "--batch-size", "8", "--dtype", "bfloat16", "--json").stdout
    )
    memory = doc["memory"]
    assert (memory["batch_size"], memory["dtype"]) == (8, "bfloat16")
    assert memory["parameters"] == (11_689_512 + 9_600) * 2
    assert memory["input"] == 224 * 224 * 3 * 2 * 8
    assert memory["total"] == memory["input"] + memory["forward_backward"] + memory["parameters"]


def test_csv_rows_keep_their_columns_with_groups():
    import csv
    import io

    rows = list(csv.reader(io.StringIO(run("params", "resnet50", "--csv").stdout)))
    assert {len(r) for r in rows} == {len(rows[0])}
    header = rows[0]
    block = next(r for r in rows if r[0] == "layer1.0")
    assert block[header.index("total_parameters")] == "75008"
