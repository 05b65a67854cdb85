"""The pool task: exact values, the formula per axis, the one response -> pixels rule."""

from __future__ import annotations

import numpy as np
import pytest

from cnnfilter.engine.intensity import storable_pixels
from cnnfilter.errors import UsageError
from cnnfilter.tasks.pool import as_picture, make_spec, pool


def test_max_pooling_an_array_gives_the_values_and_the_formula(tmp_path):
    x = np.arange(25, dtype=np.float64).reshape(5, 5)
    np.save(tmp_path / "x.npy", x)
    done = pool(tmp_path / "x.npy", make_spec("max", 2, padding=1), output=tmp_path / "y.npy")
    # windows of 2 with stride 2 on the padded 7 x 7 (-inf border): rows/cols 0, 2, 4
    np.testing.assert_array_equal(
        np.load(tmp_path / "y.npy"), [[0, 2, 4], [10, 12, 14], [20, 22, 24]]
    )
    report = done.report
    assert report["output_shape"] == [3, 3, 1] and report["input_kind"] == "array"
    assert report["axes"]["rows"]["formula"] == "floor((5 + 2*1 - 1*(2-1) - 1)/2) + 1 = 3"
    assert report["boundary"] == "constant -inf"
    assert done.notes == [f"wrote {tmp_path / 'y.npy'} (3 x 3 x 1, float64)"]


def test_show_winners_needs_max():
    with pytest.raises(UsageError, match=r"show_winners=True needs op='max'"):
        make_spec("avg", 2, show_winners="w.png")


def test_a_float_image_maps_to_8_bits_as_apply_does():
    values = np.array([[-0.5, 0.25], [0.5, 2.0]], dtype=np.float32)
    stored, how = as_picture(
        values, "PNG", is_image=True, max_value=1.0, source_dtype=np.dtype(np.float32)
    )
    np.testing.assert_array_equal(stored, [[0, 64], [128, 255]])
    np.testing.assert_array_equal(
        stored, storable_pixels(values, "clip", max_value=1.0, source_dtype=np.float32)
    )
    assert how.startswith("float values mapped to 8 bits (0..1 -> 0..255, clipped)")


def test_a_feature_map_is_stretched_and_non_finite_values_become_zero():
    values = np.array([[-2.0, 0.0], [np.nan, 6.0]])
    stored, how = as_picture(values, "PNG", is_image=False, max_value=None,
                             source_dtype=values.dtype)  # fmt: skip
    np.testing.assert_array_equal(stored, [[0, 64], [64, 255]])  # nan -> 0 -> (0+2)/8*255
    assert how == "float64 values [-2, 6] rescaled to 0..255 (8 bits); write .npy to keep them"


def _rgba(tmp_path, pixels):
    from PIL import Image

    path = tmp_path / "rgba.png"
    Image.fromarray(np.array(pixels, np.uint8), mode="RGBA").save(path)
    return path


@pytest.mark.parametrize(
    ("op", "want"),
    [
        # avg: the alpha-weighted average of the colours: only the opaque blue counts;
        # alpha 255 / 4 = 63.75 -> 64 (unweighted, the hidden red would give (191, 0, 64))
        ("avg", [0, 0, 255, 64]),
        # max: a fully transparent pixel's hidden red never wins (it would give (255, 0, 255))
        ("max", [0, 0, 255, 255]),
    ],
)
def test_pooling_keeps_the_hidden_colour_of_transparent_pixels_out(tmp_path, op, want):
    from cnnfilter.imageio import read_image

    red = [255, 0, 0, 0]
    src = _rgba(tmp_path, [[[0, 0, 255, 255], red], [red, red]])
    out = tmp_path / "out.png"
    pool(src, make_spec(op, 2), output=out)
    got = read_image(out)
    np.testing.assert_array_equal(np.append(got.pixels[0, 0], got.alpha[0, 0]), want)


def test_avg_pooling_weights_colour_by_alpha(tmp_path):
    from cnnfilter.imageio import read_image

    # opaque blue beside a third-opaque red: R = 255 * 85 / 340 = 63.75, B = 255 * 255 / 340
    src = _rgba(tmp_path, [[[0, 0, 255, 255], [255, 0, 0, 85]]])
    out = tmp_path / "out.png"
    pool(src, make_spec("avg", (1, 2)), output=out)
    got = read_image(out)
    np.testing.assert_array_equal(got.pixels[0, 0], [64, 0, 191])
    assert got.alpha[0, 0] == 170
