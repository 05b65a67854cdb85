"""The detect task: the method plan it reports is the one that ran, resolved once."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate2d

from cnnfilter.engine import filtering
from cnnfilter.errors import UsageError
from cnnfilter.tasks.detect import detect, read_pattern

from helpers import ROOT

COINS = ROOT / "samples" / "coins.png"


@pytest.mark.parametrize(
    ("kernel", "method", "why"),
    [
        # rank 1 with more than 25 taps: two 1-D passes (choose_method said direct, then fft)
        ("box:7", "separable", "rank-1 7x7 kernel"),
        ("gaussian:15:3", "separable", "rank-1 15x15 kernel"),
        ("box:3", "direct", "3x3 kernel: 9 non-zero taps"),
        ("laplacian", "direct", "3x3 kernel"),
        ("log:17:2", "fft", "17x17 kernel"),  # not rank 1, 289 taps > 196
    ],
)
def test_detect_reports_the_plan_that_ran(kernel, method, why):
    found = detect(COINS, kernel=kernel, top=3)
    assert found.report["implementation"] == method
    assert found.report["plan"].startswith(f"{method} (auto: ")
    assert why in found.report["plan"]
    assert found.response.plan.method == method


def test_the_plan_is_resolved_once_per_call(monkeypatch):
    made = []

    class CountedPlan(filtering.FilterPlan):
        def __init__(self, *args, **kwargs):
            made.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(filtering, "FilterPlan", CountedPlan)
    detect(COINS, kernel="gaussian:15:3", top=1)
    assert made == ["separable"]
    made.clear()
    colour = ROOT / "samples" / "astronaut.png"  # 3 channels, one plan for all of them
    detect(colour, kernel="gaussian:15:3", method="ncc", top=1)
    assert len(made) == 1


def test_the_map_is_the_valid_cross_correlation_whatever_the_plan():
    found = detect(COINS, kernel="box:7", top=1)
    from PIL import Image

    with Image.open(COINS) as im:
        image = np.asarray(im, dtype=np.float64)
    expected = correlate2d(image, np.full((7, 7), 1 / 49), mode="valid")
    np.testing.assert_allclose(found.response.values, expected, rtol=1e-5, atol=1e-3)
    best = found.peaks[0]
    assert found.report["peaks"][0] == {
        "rank": 1, "row": best.row, "col": best.col, "score": best.score,
    }  # fmt: skip
    assert best.score == pytest.approx(expected.max(), rel=1e-5)


def test_a_flat_ncc_template_correlates_nothing_and_says_so():
    found = detect(COINS, kernel="box:7", method="ncc", top=1)  # box minus its mean is 0
    assert found.report["flat_template"] is True
    assert found.report["plan"] is None
    assert "the template is flat (all values equal): ncc is 0 everywhere" in found.notes


def test_exactly_one_pattern_is_required():
    with pytest.raises(UsageError, match=r"give exactly one pattern: kernel=NAME\|MATRIX"):
        read_pattern()
    with pytest.raises(UsageError, match="give exactly one pattern"):
        read_pattern("box", template=COINS)


def test_a_registry_kernel_that_flips_gets_a_note():
    found = detect(COINS, kernel="sobel-x", top=1)
    assert any("gives the opposite sign of apply's default" in n for n in found.notes)
    assert not detect(COINS, kernel="box", top=1).notes
