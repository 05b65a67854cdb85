"""engine.resize: Pillow's antialiased bilinear resize and torchvision's crop arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnfilter.engine.resize import center_crop, resize_bilinear, shorter_side_size
from cnnfilter.errors import UsageError

sizes = st.integers(1, 40)


@settings(max_examples=60, deadline=None)
@given(sizes, sizes, sizes, sizes, st.integers(0, 2**32 - 1))
def test_resize_matches_pillow_in_mode_f(h, w, oh, ow, seed):
    from PIL import Image

    x = np.random.default_rng(seed).random((h, w, 1)).astype(np.float32)
    want = np.asarray(Image.fromarray(x[..., 0], "F").resize((ow, oh), Image.BILINEAR))
    np.testing.assert_allclose(resize_bilinear(x, (oh, ow))[..., 0], want, atol=2e-6)


@settings(max_examples=60, deadline=None)
@given(sizes, sizes, sizes, sizes, st.floats(-10, 10))
def test_a_constant_photo_stays_constant_and_same_size_is_identity(h, w, oh, ow, value):
    x = np.full((h, w, 2), value, dtype=np.float32)
    np.testing.assert_allclose(resize_bilinear(x, (oh, ow)), value, atol=1e-5 * (1 + abs(value)))
    y = np.random.default_rng(0).random((h, w, 2)).astype(np.float32)
    np.testing.assert_array_equal(resize_bilinear(y, (h, w)), y)


def test_shorter_side_and_crop_follow_torchvision():
    # torchvision: Resize(256) of 451 x 300 (w x h) -> 384 x 256, CenterCrop(224) at (16, 80)
    assert shorter_side_size((300, 451), 256) == (256, 384)
    assert shorter_side_size((451, 300), 256) == (384, 256)
    x = np.arange(7 * 10).reshape(7, 10)
    assert center_crop(x, (4, 4))[0, 0] == x[2, 3]  # round(1.5) = 2, round(3.0) = 3
    assert center_crop(x, (2, 5))[0, 0] == x[2, 2]  # round(2.5) = 2 (half to even)
    with pytest.raises(UsageError, match="cannot crop 8 x 4 out of a 7 x 10 photo"):
        center_crop(x, (8, 4))
    with pytest.raises(UsageError, match="at least 1 x 1"):
        resize_bilinear(np.zeros((3, 3, 1)), (0, 3))
