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
