"""The arch tasks: one parse, every printed form from the same data."""

from __future__ import annotations

import pytest

from cnnfilter.errors import UsageError
from cnnfilter.tasks.arch import check_drawing, params, receptive_field

from helpers import ROOT

ARCH = ROOT / "samples" / "arch"


def test_params_total_record_carries_the_summary():
    result = params(ARCH / "alexnet.yaml")
    total = result.records()[-1]
    assert total["name"] == "total" and total["parameters"] == 61_100_840
    assert result.report["total"]["parameters"] == 61_100_840
    assert ": input " in result.title


def test_compare_adds_the_locally_connected_count():
    result = params(ARCH / "article_locally_connected.yaml", compare=True)
    assert result.records()[-1]["locally_connected_parameters"] == 46_080


def test_receptive_field_report_and_footer():
    fields = receptive_field(ARCH / "vgg16.yaml")
    rows = fields.report["layers"]
    last_conv = next(r for r in reversed(rows) if r["name"] == "conv5_3")
    assert last_conv["receptive_field"] == [196, 196] and last_conv["jump"] == [
        16,
        16,
    ]  # VGG16 conv5_3: 196 x 196 (Araujo et al. 2019)
    assert [label for label, _ in fields.footer()][:2] == ["source", "start"]


def test_drawing_options_go_together():
    with pytest.raises(UsageError, match="layer=, unit= and output= draw on a photo"):
        check_drawing(None, "conv1", None, None)
    with pytest.raises(UsageError, match="image= needs layer=NAME and output=PATH"):
        check_drawing("photo.png", None, None, None)
