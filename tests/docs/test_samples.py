"""The derived sample files the docs use are what samples/make_samples.py makes."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, invoke

spec = importlib.util.spec_from_file_location("make_samples", ROOT / "samples" / "make_samples.py")
make_samples = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_samples)


@pytest.mark.parametrize("name", sorted(make_samples.CROPS))
def test_each_crop_is_the_documented_window_of_its_photo(name):
    source, top, left, height, width = make_samples.CROPS[name]
    with Image.open(ROOT / "samples" / name) as im:
        shipped = np.asarray(im)
    with Image.open(ROOT / "samples" / source) as im:
        photo = np.asarray(im)
    assert shipped.shape[:2] == (height, width)
    np.testing.assert_array_equal(shipped, photo[top : top + height, left : left + width])


def test_the_curve_drawing_holds_the_article_pixels_under_the_curve_filter():
    with Image.open(ROOT / "samples/article/curve_drawing.png") as im:
        drawing = np.asarray(im)
    assert drawing.shape == (40, 50) and drawing.dtype == np.uint8
    np.testing.assert_array_equal(drawing, make_samples.curve_drawing())
    taps = np.array(json.loads(invoke("kernels", "curve", "--json").stdout)["weights"])
    # detect cross-correlates: the window at (10, 20) gives the article's sum, 6600
    assert float((drawing[10:17, 20:27] * taps).sum()) == 6600.0
    assert int(drawing.sum()) == 50 * 6 + 20


def test_the_feature_map_and_the_text_files_are_as_made():
    shipped = np.load(ROOT / "samples/features/arange_5x5.npy")
    assert shipped.dtype == np.float64
    np.testing.assert_array_equal(shipped, np.arange(25.0).reshape(5, 5))
    for name, text in make_samples.TEXT_FILES.items():
        assert (ROOT / "samples" / name).read_text() == text, name


def test_the_damaged_jpeg_is_the_first_half_of_rocket_jpg():
    damaged = (ROOT / "samples/damaged/rocket.jpg").read_bytes()
    whole = (ROOT / "samples/rocket.jpg").read_bytes()
    assert damaged == whole[: len(whole) // 2] and len(damaged) > 1000
