"""cnnfilter forward: the command's files, report, errors and exit codes (issue 14)."""

from __future__ import annotations

import json

import numpy as np

from helpers import error_line, invoke

ARTICLE = "samples/arch/article_first_layer.yaml"


def test_forward_writes_montages_and_summary(tmp_path):
    out = tmp_path / "maps"
    result = invoke("forward", ARTICLE, "samples/camera.png", "-o", out, "--npz")
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "01_lines_and_curve.png", "02_relu.png", "03_pool.png", "activations.npz", "summary.json"
    ]  # fmt: skip
    assert "pool" in result.stdout and "256 x 256 x 3" in result.stdout
    from PIL import Image

    with Image.open(out / "01_lines_and_curve.png") as im:
        assert im.mode == "RGB" and im.width > 512


def test_forward_json_is_the_summary(tmp_path):
    out = tmp_path / "maps"
    result = invoke("forward", ARTICLE, "samples/camera.png", "-o", out, "--json", "-q")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == json.loads((out / "summary.json").read_text())
    assert [e["shape"] for e in report["layers"]] == [[512, 512, 3], [512, 512, 3], [256, 256, 3]]


def test_missing_weights_is_one_error_line(tmp_path):
    arch = tmp_path / "a.yaml"
    arch.write_text(
        "input: [8, 8, 1]\nlayers:\n  - conv2d: {name: c1, filters: 4, kernel_size: 3}\n"
    )
    line = error_line(2, ["forward", arch, "samples/camera.png", "-o", tmp_path / "m"])
    assert "layer 'c1' (conv2d) has no weights" in line
    assert "--weights" in line and "--init" in line


def test_init_and_weights_layout_options(tmp_path):
    arch = tmp_path / "a.yaml"
    arch.write_text(
        "input: [8, 8, 1]\nlayers:\n  - conv2d: {name: c1, filters: 2, kernel_size: 3}\n"
    )
    r = invoke("forward", arch, "samples/camera.png", "-o", tmp_path / "m", "--init", "glorot",
               "--seed", "3", "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["weights"]["initialised"] == ["c1"]
    assert (
        "random glorot weights (seed 3; biases 0, normalisation layers the identity) for "
        "1 layer(s): c1 (" in r.stderr
    )
    w = np.ones((3, 3, 1, 2), dtype=np.float32)  # Keras (kh, kw, in, out)
    np.savez(tmp_path / "w.npz", **{"c1.weight": w, "c1.bias": np.zeros(2, np.float32)})
    r = invoke("forward", arch, "samples/camera.png", "-o", tmp_path / "k", "--weights",
               tmp_path / "w.npz", "--weights-layout", "keras", "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    layer = json.loads(r.stdout)["layers"][0]
    assert layer["shape"] == [510, 510, 2] and layer["max"] <= 9.0


def test_no_clobber_without_force(tmp_path):
    out = tmp_path / "maps"
    args = ["forward", ARTICLE, "samples/camera.png", "-o", out, "--layer", "pool", "-q"]
    assert invoke(*args).exit_code == 0
    assert "--force" in error_line(2, args)
    assert invoke(*args, "--force").exit_code == 0


def test_the_type_column_is_the_layer_kind_as_params_prints_it(tmp_path):
    """Global and adaptive pooling are named as in arch.yaml and params, not by their op."""
    arch = tmp_path / "a.yaml"
    arch.write_text(
        "input: [8, 8, 1]\nlayers:\n"
        "  - conv2d: {name: c, kernels: [box:3], padding: same}\n"
        "  - residual: {name: r, body: [relu: {name: act}]}\n"
        "  - adaptive_avgpool2d: {name: ada, output_size: 2}\n"
        "  - global_maxpool2d: {name: gmax}\n"
    )
    result = invoke("forward", arch, "samples/crops/coin.png", "-o", tmp_path / "m", "--json")
    assert result.exit_code == 0, result.stderr
    kinds = {e["name"]: e["type"] for e in json.loads(result.stdout)["layers"]}
    assert kinds == {
        "c": "conv2d", "act": "relu", "r": "add", "ada": "adaptive_avgpool2d",
        "gmax": "global_maxpool2d",
    }  # fmt: skip


def test_a_long_init_list_is_shortened_on_stderr_and_whole_in_the_summary(tmp_path):
    arch = tmp_path / "a.yaml"
    convs = "".join(f"  - conv2d: {{name: c{i}, filters: 1, kernel_size: 1}}\n" for i in range(8))
    arch.write_text("input: [8, 8, 1]\nlayers:\n" + convs)
    r = invoke("forward", arch, "samples/crops/coin.png", "-o", tmp_path / "m", "--init", "he")
    assert r.exit_code == 0, r.stderr
    assert (
        "random he weights (seed 0; biases 0, normalisation layers the identity) for 8 layer(s): "
        "c0, c1, c2, c3, c4, ... (summary.json"
    ) in r.stderr
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert summary["weights"]["initialised"] == [f"c{i}" for i in range(8)]
