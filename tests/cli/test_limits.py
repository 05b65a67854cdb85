"""Numbers too large for the float32 engine are refused up front, in one line."""

from __future__ import annotations

import pytest

from helpers import invoke


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-k", "[[1e39]]"], "weight of magnitude 1e+39"),
        (["-k", "box", "--scale", "1e300"], "weights (after --scale) must lie within"),
        (["-k", "box", "--offset", "1e300"], "--offset must be a finite number"),
        (["-k", "box", "--cval", "nan"], "--cval must be a finite number"),
    ],
)
def test_out_of_range_numbers_are_usage_errors(samples, tmp_path, extra, message):
    out = tmp_path / "out.png"
    result = invoke(["apply", str(samples / "camera.png"), *extra, "-o", str(out)])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


# -- issue 10 item 12: output formats' size limits, per file, before the work ---------------


def _strip(path, cols, rows=1):
    """A tiny PNG of ``rows`` x ``cols`` pixels (compresses to a few hundred bytes)."""
    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((rows, cols), 90, np.uint8)).save(path)
    return path


@pytest.mark.parametrize(("ext", "fmt", "limit"), [("webp", "WEBP", 16383), ("jpg", "JPEG", 65500)])
def test_an_input_too_wide_for_the_output_format_fails_alone_in_a_batch(tmp_path, ext, fmt, limit):
    src = tmp_path / "in"
    src.mkdir()
    _strip(src / "a_small.png", 40, rows=3)
    _strip(src / "b_wide.png", limit + 1)
    _strip(src / "c_exact.png", limit)  # the limit itself is fine
    out = tmp_path / "out"
    result = invoke("apply", src, "-k", "box", "-o", f"{out}/{{stem}}.{ext}", "-j", "1")
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "2 done, 0 skipped, 1 failed" in result.stderr
    assert (
        f"failed {src / 'b_wide.png'}: the output would be 1 x {limit + 1} pixels (H x W), "
        f"but {fmt} holds at most {limit} x {limit}" in result.stderr
    )
    assert sorted(p.name for p in out.iterdir()) == [f"a_small.{ext}", f"c_exact.{ext}"]


def test_the_format_limit_is_checked_before_the_filter_runs(tmp_path, monkeypatch):
    from cnnfilter.engine import image_filter

    def never(*args, **kwargs):
        raise AssertionError("the filter ran before the size check")

    monkeypatch.setattr(image_filter, "filter_image", never)
    src = _strip(tmp_path / "wide.png", 16384)
    result = invoke("apply", src, "-k", "box", "-o", tmp_path / "wide.webp")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: the output would be 1 x 16384 pixels (H x W), but WEBP holds at most "
        "16383 x 16383; write .png or .tif instead, or use a larger stride"
    )


def test_a_larger_stride_brings_the_output_within_the_format(tmp_path):
    src = _strip(tmp_path / "wide.png", 16384)
    result = invoke("apply", src, "-k", "box", "--stride", "2", "-o", tmp_path / "half.webp")
    assert result.exit_code == 0, result.stderr
    from PIL import Image

    with Image.open(tmp_path / "half.webp") as im:
        assert im.size == (8192, 1)
