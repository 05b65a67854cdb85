"""Issue 14's done-when: ``forward`` runs the small random network of
tests/data/make_torch_forward_ref.py with its stored weights, and every layer's
activation (``npz=True``) agrees with the stored PyTorch output to 1e-4 relative.

The network is written as tests/data/torch_forward_ref.yaml; the weights file is built
from the stored arrays (two twins get a copy). The suite never imports torch.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnfilter.tasks.forward import forward

from helpers import ROOT

DATA = ROOT / "tests" / "data"
TWINS = {"conv_dw_2": "conv_dw", "conv_res_2": "conv_res"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    with np.load(DATA / "torch_forward_ref.npz") as data:
        ref = {k: data[k] for k in data.files}
    weights = {k: v for k, v in ref.items() if "." in k and not k.startswith("out.")}
    for twin, source in TWINS.items():
        for key in ("weight", "bias"):
            weights[f"{twin}.{key}"] = ref[f"{source}.{key}"]
    np.savez(tmp / "w.npz", **weights)
    np.save(tmp / "input.npy", ref["input"])
    result = forward(DATA / "torch_forward_ref.yaml", tmp / "input.npy", output=tmp / "maps",
                     weights=tmp / "w.npz", npz=True, layer="conv_a")  # fmt: skip
    with np.load(tmp / "maps" / "activations.npz") as data:
        got = {k: data[k] for k in data.files}
    return ref, got, result


def test_every_layer_of_the_reference_is_run(run):
    ref, got, result = run
    steps = [s["name"] for s in json.loads(str(ref["steps"]))]
    expected = set(steps)
    assert expected <= set(got)
    assert len(expected) == 44
    assert result.report["weights"]["unused"] == []
    assert result.report["weights"]["initialised"] == []
    # the kinds the issue names are all among them
    kinds = {s["op"] for s in json.loads(str(ref["steps"])) if s["name"] in expected}
    assert {"conv2d", "batchnorm", "relu", "max_pool2d", "concat", "upsample", "dense"} <= kinds


def test_every_layer_agrees_with_pytorch_to_1e_4_relative(run):
    ref, got, _ = run
    steps = [s["name"] for s in json.loads(str(ref["steps"]))]
    for name in steps:
        want, have = ref[f"out.{name}"], got[name]
        assert have.shape == want.shape, name
        scale = max(float(np.abs(want).max()), 1e-6)
        err = float(np.abs(have - want).max()) / scale
        assert err <= 1e-4, (name, err)


def test_groups_dilation_and_ceil_mode_are_exercised(run):
    ref, got, _ = run
    steps = {s["name"]: s for s in json.loads(str(ref["steps"]))}
    assert steps["conv_a"]["kwargs"]["groups"] == 2 and steps["conv_a"]["kwargs"]["dilation"] == 2
    assert steps["pool_a"]["kwargs"]["ceil_mode"] is True
    assert got["pool_a"].shape == ref["out.pool_a"].shape == (9, 10, 8)
    # upsampling with corners aligned and by a fractional factor (floor(5 * 1.7) = 8)
    assert steps["up_bil_ac"]["kwargs"]["align_corners"] is True
    assert steps["up_bil_frac"]["kwargs"]["scale_factor"] == 1.7
    assert got["up_bil_frac"].shape == ref["out.up_bil_frac"].shape == (8, 18, 6)
