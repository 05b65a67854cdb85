"""A forward montage of a layer with no finite value (float32 overflow: inf, then inf x 0 =
NaN) must not caption it as the range of a layer of zeros."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

m = importlib.import_module("cnnfilter.render.montage")  # the module, not the function


@pytest.mark.parametrize("shape", [(4, 4, 3), (3,), (1, 1, 3)])
def test_a_layer_without_a_finite_value_is_not_captioned_as_zeros(monkeypatch, shape):
    captions = []

    def caption(canvas, text):
        captions.append(text)
        return canvas

    monkeypatch.setattr(m, "with_caption", caption)
    maps = np.full(shape, np.nan, np.float32)
    maps.reshape(-1)[1::2] = np.inf
    m.montage(maps, title="c2 (conv2d)")
    zeros = []
    m.montage(np.zeros(shape, np.float32), title="c2 (conv2d)")
    zeros.append(captions.pop())
    (text,) = captions
    assert text != zeros[0]
    assert "range 0 .. 0" not in text and "finite" in text
