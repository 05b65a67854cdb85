"""filter_image: what `apply` runs on arrays (operation, range, alpha, dtypes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from scipy import ndimage

from cnnfilter.engine.filtering import convolve
from cnnfilter.engine.image_filter import FilterSettings, acts_per_pixel, filter_image
from cnnfilter.errors import UsageError

SOBEL_X = np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
BOX3 = np.full((3, 3), 1 / 9)


def spike_image() -> tuple[np.ndarray, np.ndarray]:
    """A uint8 image and kernel whose response holds exactly 1020 and -190."""
    image = np.zeros((3, 3), dtype=np.uint8)
    image[1, 1] = 255
    image[1, 2] = 190
    kernel = np.array([[0.0, 0, 0], [0, 4, -1], [0, 0, 0]])  # correlate: 4*x - right neighbour
    return image, kernel


@pytest.mark.parametrize(
    ("range_mode", "at_1020", "at_minus_190"),
    [("clip", 255, 0), ("abs", 255, 190), ("rescale", 255, 65)],  # rescale: (-190+255)/255*255
)
def test_range_modes_never_wrap(range_mode, at_1020, at_minus_190):
    image, kernel = spike_image()
    settings = FilterSettings(op="correlate", boundary="constant", range_mode=range_mode)
    result = filter_image(image, kernel, settings)
    # the response itself is exact floats
    assert result.response[1, 1] == 4 * 255 - 190  # 830
    assert result.response[1, 0] == -255
    assert result.response.dtype == np.float32
    # a pixel whose response is exactly 1020 and one at exactly -190
    image2 = np.array([[255, 0], [0, 190]], dtype=np.uint8)
    k2 = np.array([[4.0]])
    r2 = filter_image(image2, k2, FilterSettings(op="correlate", range_mode=range_mode))
    assert r2.response[0, 0] == 1020.0
    r3 = filter_image(image2, -k2 / 4, FilterSettings(op="correlate", range_mode=range_mode))
    assert r3.response[1, 1] == -190.0
    assert r2.pixels.dtype == np.uint8
    assert r2.pixels[0, 0] == at_1020 != 252
    assert r3.pixels[1, 1] == at_minus_190 != 66
    assert r2.range_mode == range_mode


def test_auto_range_is_stretch_for_zero_sum_and_clip_otherwise():
    image, _ = spike_image()
    assert filter_image(image, SOBEL_X, FilterSettings()).range_mode == "stretch"
    assert filter_image(image, BOX3, FilterSettings()).range_mode == "clip"


def test_edge_detector_on_a_real_photo_is_clearly_visible(samples):
    camera = np.asarray(Image.open(samples / "camera.png"))
    result = filter_image(camera, SOBEL_X, FilterSettings())
    assert result.operation == "convolution" and result.range_mode == "stretch"
    expected = ndimage.convolve(camera.astype(float), SOBEL_X, mode="reflect")
    np.testing.assert_allclose(result.response, expected, atol=1e-3)
    black, level = np.percentile(np.abs(expected), [75, 99.5])
    assert result.level == pytest.approx(level, rel=1e-6)
    assert result.black == pytest.approx(black, rel=1e-6)
    stretched = 255 * np.clip((np.abs(expected) - black) / (level - black), 0, 1) ** 0.5
    assert np.abs(result.pixels - stretched).max() <= 0.5 + 1e-3
    # not almost black: a clear share of strong edges, on black where the photo is flat
    assert 0.03 < (result.pixels >= 128).mean() < 0.5
    assert result.pixels.mean() > 18
    sky = result.pixels[:60, :100]  # the cloudless sky, top left
    assert np.median(sky) == 0 and (sky >= 128).mean() < 0.01


@pytest.mark.parametrize("photo", ["chelsea.png", "coffee.png", "camera.png", "astronaut.png"])
@pytest.mark.parametrize("kernel", ["edge-1", "edge-2", "edge-3"])
def test_the_articles_edge_kernels_are_clearly_visible_by_default(samples, photo, kernel):
    # issue 15: with --range abs, edge-1 on chelsea averaged 8.6 of 255 (0.0% pixels >= 128);
    # the stretch (black point at the 75th percentile since issue 16) gives 22-29 and 5.9-10%
    from cnnfilter.kernels import REGISTRY

    image = np.asarray(Image.open(samples / photo))
    weights = REGISTRY[kernel].make([])
    pixels = filter_image(image, weights, FilterSettings()).pixels
    assert 20 < pixels.mean() < 100, pixels.mean()
    assert 0.05 < (pixels >= 128).mean() < 0.25


def test_magnitude_combines_two_kernels_as_hypot():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    sobel_y = SOBEL_X.T.copy()
    raw = FilterSettings(raw=True)
    gx = filter_image(image, SOBEL_X, raw).response.astype(np.float64)
    gy = filter_image(image, sobel_y, raw).response.astype(np.float64)
    both = filter_image(image, [SOBEL_X, sobel_y], FilterSettings(raw=True, combine="magnitude"))
    np.testing.assert_allclose(both.response, np.hypot(gx, gy), rtol=1e-6, atol=1e-3)
    with pytest.raises(UsageError, match="two or more kernels of one shape"):
        filter_image(image, [SOBEL_X], FilterSettings(combine="magnitude"))


def test_operations_and_their_names():
    image = np.arange(25, dtype=np.uint8).reshape(5, 5)
    conv = filter_image(image, SOBEL_X, FilterSettings(op="convolve", range_mode="clip"))
    corr = filter_image(image, SOBEL_X, FilterSettings(op="correlate", range_mode="clip"))
    assert conv.operation == "convolution" and corr.operation == "cross-correlation"
    np.testing.assert_array_equal(conv.response, -corr.response)
    with pytest.raises(UsageError, match=r"op must be 'convolve' or 'correlate', got 'conv'"):
        filter_image(image, SOBEL_X, FilterSettings(op="conv"))


def test_offset_is_added_to_the_response():
    image = np.full((4, 4), 10, dtype=np.uint8)
    result = filter_image(image, SOBEL_X, FilterSettings(offset=128, range_mode="clip"))
    assert (result.response == 128).all() and (result.pixels == 128).all()


def test_raw_keeps_floats_and_float_input_maps_to_8_bit():
    image, kernel = spike_image()
    raw = filter_image(image, kernel, FilterSettings(op="correlate", raw=True))
    assert raw.range_mode == "raw" and raw.pixels.dtype == np.float32
    assert raw.pixels.min() == -255 and raw.pixels.max() == 830
    floats = image.astype(np.float64) / 255
    settings = FilterSettings(op="correlate", range_mode="clip")
    out = filter_image(floats, kernel, settings, max_value=1.0)
    assert out.pixels.dtype == np.uint8 and out.range_mode == "clip"
    np.testing.assert_array_equal(out.pixels, filter_image(image, kernel, settings).pixels)
    kept = filter_image(floats, kernel, FilterSettings(op="correlate", raw=True), max_value=1.0)
    assert kept.pixels.dtype == np.float64
    np.testing.assert_allclose(kept.pixels * 255, raw.pixels, atol=1e-9)


def test_blur_beside_transparent_pixels_keeps_the_opaque_colour():
    # left half opaque blue, right half fully transparent (hidden colour red)
    colour = np.zeros((5, 6, 3), dtype=np.uint8)
    colour[:, :3] = (0, 0, 255)
    colour[:, 3:] = (255, 0, 0)
    alpha = np.zeros((5, 6), dtype=np.uint8)
    alpha[:, :3] = 255
    out = filter_image(colour, np.full((3, 3), 1 / 9), FilterSettings(), alpha=alpha)
    # normalised convolution: the opaque pixels next to the transparent ones stay pure blue
    np.testing.assert_array_equal(out.pixels[:, :3, :3], colour[:, :3])
    np.testing.assert_array_equal(out.pixels[..., 3], alpha)


def test_sixteen_bit_input_gives_sixteen_bit_output():
    image = np.array([[0, 40000], [65535, 1000]], dtype=np.uint16)
    result = filter_image(image, np.array([[2.0]]), FilterSettings(), max_value=65535.0)
    assert result.pixels.dtype == np.uint16
    assert result.pixels.tolist() == [[0, 65535], [65535, 2000]]


def test_sum_channels_gives_one_map():
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    result = filter_image(rgb, np.array([[1.0]]), FilterSettings(sum_channels=True))
    assert result.pixels.shape == (4, 5) and (result.pixels == 60).all()


def test_geometry_options_reach_the_engine():
    image = np.arange(36, dtype=np.uint8).reshape(6, 6)
    settings = FilterSettings(padding="valid", stride=2, dilation=1, range_mode="clip")
    result = filter_image(image, BOX3, settings)
    assert result.pixels.shape == (2, 2)
    np.testing.assert_allclose(result.response, convolve(image, BOX3, padding="valid", stride=2))


# ---------------------------------------------------------------- alpha


def rgba_blue_next_to_hidden_red() -> tuple[np.ndarray, np.ndarray]:
    """Opaque blue on the left, fully transparent pixels holding bright red on the right."""
    colour = np.zeros((6, 8, 3), dtype=np.uint8)
    colour[:, :4] = [0, 0, 255]
    colour[:, 4:] = [255, 0, 0]
    alpha = np.zeros((6, 8), dtype=np.uint8)
    alpha[:, :4] = 255
    return colour, alpha


@pytest.mark.parametrize(
    "kernel", [BOX3, np.full((5, 5), 1 / 25), np.full((2, 2), 0.25)], ids=["3x3", "5x5", "2x2"]
)
@pytest.mark.parametrize("op", ["convolve", "correlate"])
def test_hidden_colour_of_transparent_pixels_does_not_bleed(kernel, op):
    colour, alpha = rgba_blue_next_to_hidden_red()
    result = filter_image(colour, kernel, FilterSettings(op=op), alpha=alpha)
    assert result.pixels.shape == (6, 8, 4) and result.pixels.dtype == np.uint8
    visible = result.pixels[:, :4]
    # the opaque neighbours keep their hue: no red, no green, still blue
    assert (visible[..., 0] == 0).all() and (visible[..., 1] == 0).all()
    assert (visible[..., 2] > 0).all()
    # without premultiplication the hidden red would bleed in: the test can fail
    naive = convolve(colour, kernel)
    assert naive[:, 3, 0].max() > 20


@pytest.mark.parametrize("kernel", [BOX3, np.full((2, 2), 0.25), np.ones((4, 3))])
@pytest.mark.parametrize("op", ["convolve", "correlate"])
def test_alpha_is_kept_at_the_anchor(kernel, op, rng):
    colour = rng.integers(0, 256, size=(7, 9, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, size=(7, 9), dtype=np.uint8)
    result = filter_image(colour, kernel, FilterSettings(op=op, range_mode="clip"), alpha=alpha)
    np.testing.assert_array_equal(result.pixels[..., 3], alpha)
    strided = filter_image(
        colour, kernel, FilterSettings(op=op, stride=2, range_mode="clip"), alpha=alpha
    )
    assert strided.pixels.shape == (4, 5, 4)
    np.testing.assert_array_equal(strided.pixels[..., 3], alpha[::2, ::2])


def test_opaque_alpha_changes_nothing(rng):
    colour = rng.integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    alpha = np.full((6, 7), 255, dtype=np.uint8)
    with_alpha = filter_image(colour, SOBEL_X, FilterSettings(), alpha=alpha)
    without = filter_image(colour, SOBEL_X, FilterSettings())
    np.testing.assert_array_equal(with_alpha.pixels[..., :3], without.pixels)
    assert (with_alpha.pixels[..., 3] == 255).all()


def test_gray_alpha_is_kept_as_a_second_channel():
    gray = np.full((4, 4), 100, dtype=np.uint8)
    alpha = np.full((4, 4), 200, dtype=np.uint8)
    result = filter_image(gray, BOX3, FilterSettings(), alpha=alpha)
    assert result.pixels.shape == (4, 4, 2)
    assert (result.pixels[..., 0] == 100).all() and (result.pixels[..., 1] == 200).all()


def test_raw_output_with_alpha_appends_float_alpha():
    gray = np.full((3, 3), 100, dtype=np.uint8)
    alpha = np.full((3, 3), 255, dtype=np.uint8)
    result = filter_image(gray, BOX3, FilterSettings(raw=True), alpha=alpha)
    assert result.pixels.dtype == np.float32 and result.pixels.shape == (3, 3, 2)
    np.testing.assert_allclose(result.pixels[..., 0], 100, rtol=1e-6)
    np.testing.assert_allclose(result.pixels[..., 1], 255)


@pytest.mark.parametrize("alpha_value", [255, 128, 51])
def test_offset_is_not_scaled_by_alpha(alpha_value):
    """--offset shifts the visible response; it must not be divided by a pixel's alpha."""
    gray = np.full((5, 5), 80, dtype=np.uint8)
    alpha = np.full((5, 5), alpha_value, dtype=np.uint8)
    settings = FilterSettings(offset=128, range_mode="clip")
    result = filter_image(gray, SOBEL_X, settings, alpha=alpha)
    # a flat region: sobel gives 0 everywhere, plus the offset
    assert (result.pixels[..., 0] == 128).all()
    assert (result.pixels[..., 1] == alpha_value).all()


IDENTITY3 = np.array([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]])


@given(
    hnp.arrays(np.uint16, st.tuples(st.integers(1, 6), st.integers(1, 6), st.sampled_from([1, 3]))),
    st.data(),
)
@hsettings(max_examples=60, deadline=None)
def test_identity_with_alpha_returns_every_16_bit_value_exactly(colour, data):
    """Alpha pictures skip premultiplication for a kernel acting per pixel: no float32 loss."""
    alpha = data.draw(hnp.arrays(np.uint16, colour.shape[:2]))
    colour = colour[..., 0] if colour.shape[2] == 1 else colour
    op = data.draw(st.sampled_from(["convolve", "correlate"]))
    result = filter_image(colour, IDENTITY3, FilterSettings(op=op), alpha=alpha, max_value=65535)
    np.testing.assert_array_equal(result.pixels[..., :-1].reshape(colour.shape), colour)
    np.testing.assert_array_equal(result.pixels[..., -1], alpha)
    raw = filter_image(colour, IDENTITY3, FilterSettings(op=op, raw=True), alpha=alpha)
    np.testing.assert_array_equal(raw.response, colour)  # the float response itself is exact


def test_identity_keeps_the_hidden_colour_of_a_transparent_pixel():
    colour, alpha = rgba_blue_next_to_hidden_red()
    result = filter_image(colour, IDENTITY3, FilterSettings(), alpha=alpha)
    np.testing.assert_array_equal(result.pixels[..., :3], colour)  # hidden red kept, not 0


def test_a_shifting_delta_still_premultiplies():
    """A single tap off the anchor reads a neighbour: the hidden red must not appear."""
    colour, alpha = rgba_blue_next_to_hidden_red()
    shift = np.zeros((3, 3))
    shift[1, 2] = 1.0  # correlate: each pixel takes its right neighbour
    assert acts_per_pixel(IDENTITY3) and acts_per_pixel(2 * IDENTITY3)
    assert not acts_per_pixel(shift)
    result = filter_image(colour, shift, FilterSettings(op="correlate"), alpha=alpha)
    assert (result.pixels[:, 3, 0] == 0).all()  # column 3 is opaque; its neighbour hidden red
