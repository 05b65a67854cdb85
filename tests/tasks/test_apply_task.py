"""The apply task: checks before work, the plan resolved once and reported, the one-file run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import convolve as nd_convolve

from cnnfilter.engine import filtering
from cnnfilter.engine.image_filter import FilterSettings
from cnnfilter.errors import UsageError
from cnnfilter.tasks import apply as task

from helpers import ROOT

COINS = ROOT / "samples" / "coins.png"


@pytest.fixture
def counted(monkeypatch):
    """The methods of every FilterPlan made, in order."""
    made = []

    class CountedPlan(filtering.FilterPlan):
        def __init__(self, *args, **kwargs):
            made.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(filtering, "FilterPlan", CountedPlan)
    return made


def test_one_apply_with_alpha_resolves_its_plan_once(tmp_path, counted):
    rgba = np.random.default_rng(0).integers(0, 256, (40, 50, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in.png")
    prepared = task.prepare(
        [str(tmp_path / "in.png")], str(tmp_path / "out.png"), kernel="gaussian:9:2",
        settings=FilterSettings(),
    )  # fmt: skip
    rendered = task.apply_one(prepared.spec, str(tmp_path / "in.png"), str(tmp_path / "out.png"),
                              force=False)  # fmt: skip
    # colour, coverage and the alpha samples used to plan 4 times (4 SVDs); now one plan,
    # passed down (the 1-tap alpha sampler runs direct, which needs no plan of its own)
    assert counted.count("separable") == 1
    assert rendered.report["method"] == "separable"
    assert rendered.method_text.startswith("separable (auto: rank-1 9x9 kernel")
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "RGBA"


def test_the_report_states_the_plan_and_the_result_matches_scipy(tmp_path):
    out = tmp_path / "o.npy"
    prepared = task.prepare(
        [str(COINS)], str(out), kernel="box:7", settings=FilterSettings(boundary="edge")
    )
    assert prepared.spec.settings.raw  # .npy output keeps the float response
    rendered = task.apply_one(prepared.spec, str(COINS), str(out), force=False)
    assert rendered.report["method"] == "separable"
    assert set(rendered.report["timings_ms"]) == {"read", "filter", "encode", "write", "total"}
    with Image.open(COINS) as im:
        image = np.asarray(im, dtype=np.float64)
    expected = nd_convolve(image, np.full((7, 7), 1 / 49), mode="nearest")
    np.testing.assert_allclose(np.load(out)[..., 0] if np.load(out).ndim == 3 else np.load(out),
                               expected, rtol=1e-5, atol=1e-3)  # fmt: skip
    assert json.loads(json.dumps(rendered.report))["kernel"]["name"] == "box:7"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(images=["nope.png"], kernel="box"), "input image 'nope.png' does not exist"),
        (dict(kernel=None), r"give exactly one of kernel=NAME\|MATRIX and kernel_file=PATH"),
        (dict(kernel="box", settings=FilterSettings(boundary="foo")), "unknown boundary mode"),
        (dict(kernel="box", exists=True), "already exists; add force=True to replace it"),
    ],
)
def test_prepare_checks_inputs_kernel_options_then_outputs(tmp_path, kwargs, message):
    target = tmp_path / "x.png"
    if kwargs.pop("exists", False):
        target.write_bytes(b"earlier")
    images = kwargs.pop("images", [str(COINS)])
    kwargs.setdefault("settings", FilterSettings())
    with pytest.raises(UsageError, match=message):
        task.prepare(images, str(target), **kwargs)


def test_scaled_applies_a_factor_or_one_over_the_sum():
    from cnnfilter.kernels import resolve_kernel

    k = resolve_kernel("1,2,1;2,4,2;1,2,1")
    same, note, factor = task.scaled(k, None)
    assert same is k and note == "" and factor is None
    auto, note, factor = task.scaled(k, "auto")
    assert auto.weights.sum() == pytest.approx(1.0) and note == "scale 1/16" and factor == 1 / 16
    edge = resolve_kernel("laplacian")
    _, note, factor = task.scaled(edge, "auto")
    assert note == "scale auto: the kernel sums to 0, left unscaled" and factor is None
    doubled, note, factor = task.scaled(k, 2.0)
    np.testing.assert_array_equal(doubled.weights, 2 * k.weights)
    assert (note, factor) == ("scale 2", 2.0)
