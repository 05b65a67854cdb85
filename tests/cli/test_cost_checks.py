"""Every command's work is bounded before it starts: one line with the estimate and the limit."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import error_line

HUGE = "100000000000000000000"


@pytest.mark.parametrize(
    ("layers", "estimate"),
    [
        (f"  - conv2d: {{filters: 8, kernel: 3, padding: {HUGE}}}", "1.2e+21 input positions"),
        ("  - adaptive_avgpool2d: {output_size: 100000000000}", "2.0e+11 adaptive pooling"),
    ],
)
def test_receptive_field_refuses_a_walk_above_the_limit(tmp_path, layers, estimate):
    arch = tmp_path / "net.yaml"
    arch.write_text(f"input: [32, 32, 3]\nlayers:\n{layers}\n")
    line = error_line(2, ["receptive-field", arch])
    assert estimate in line and "the limit is 5,000,000" in line


def test_receptive_field_refuses_a_huge_input_from_yaml_ints(tmp_path):
    arch = tmp_path / "net.yaml"
    arch.write_text(
        "input: [100000000, 100000000, 3]\nlayers:\n  - conv2d: {filters: 8, kernel: 3}\n"
    )
    line = error_line(2, ["receptive-field", arch])
    assert "8.0e+08 input positions and window taps (the limit is 5,000,000)" in line


def test_receptive_field_of_a_normal_net_still_runs(tmp_path):
    arch = tmp_path / "net.yaml"
    arch.write_text(
        "input: [64, 64, 3]\nlayers:\n  - conv2d: {filters: 8, kernel: 3, padding: 1}\n"
    )
    from helpers import invoke

    assert invoke("receptive-field", arch).exit_code == 0


def test_pool_refuses_a_padded_copy_that_cannot_fit(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(src)
    line = error_line(2, ["pool", src, "--size", "1000000", "--padding", "500000"])
    assert "padded to 1000008 x 1000008 needs about 7.3 TiB of memory, above the" in line
