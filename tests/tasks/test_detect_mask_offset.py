"""detect's peak and same-size cell for masked (alpha) and plain templates.

The peak is the template's top-left image pixel, whatever part of the template is
opaque; ``--same-size`` puts each cell on its window's centre ``(r + (kh-1)//2,
c + (kw-1)//2)``, for odd and even sides (tests/engine/test_masked_ncc_reference.py
checks the masked map itself against a window loop).
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnfilter.engine.geometry import valid_map_padding


@pytest.mark.parametrize("size", [(5, 5), (6, 6), (4, 9), (9, 4), (16, 18)])
@pytest.mark.parametrize("masked", [False, True])
def test_detect_peak_and_same_size_cell_for_masked_and_plain_templates(tmp_path, size, masked):
    """detect: the peak is the template's top-left pixel; --same-size puts it on the
    window's centre ``(r + (kh-1)//2, c + (kw-1)//2)``; masked or not."""
    from PIL import Image

    from cnnfilter.tasks.detect import detect

    rng = np.random.default_rng(size[0] * 7 + size[1])
    kh, kw = size
    image = rng.integers(0, 256, (kh + 25, kw + 30, 3)).astype(np.uint8)
    r0, c0 = 13, 21
    crop = image[r0 : r0 + kh, c0 : c0 + kw].copy()
    alpha = np.full((kh, kw), 255, dtype=np.uint8)
    if masked:
        alpha[: kh // 2, :] = 0  # only the bottom half is opaque
        alpha[:, : kw // 3] = 0
        crop[alpha == 0] = 0
    Image.fromarray(image).save(tmp_path / "scene.png")
    Image.fromarray(np.dstack([crop, alpha])).save(tmp_path / "patch.png")
    found = detect(
        tmp_path / "scene.png", template=tmp_path / "patch.png", method="ncc", top=1,
        raw=tmp_path / "same.npy", same_size=True,
    )  # fmt: skip
    assert found.report["pattern"]["mask"] == ("alpha" if masked else None)
    assert (found.peaks[0].row, found.peaks[0].col) == (r0, c0)
    assert found.peaks[0].score == pytest.approx(1.0, abs=1e-9)
    same = np.load(tmp_path / "same.npy")
    assert same.shape == image.shape[:2]
    top, _, left, _ = valid_map_padding((kh, kw))
    assert (top, left) == ((kh - 1) // 2, (kw - 1) // 2)
    r, c = np.unravel_index(np.argmax(same), same.shape)
    assert (r, c) == (r0 + (kh - 1) // 2, c0 + (kw - 1) // 2)
