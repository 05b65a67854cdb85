"""A Gaussian whose given size cuts it short: one note on stderr, from every command."""

from __future__ import annotations

import json

import numpy as np

from helpers import invoke

NOTE = "gaussian:5:4: size 5 cuts the Gaussian (sigma 4) at 0.5 sigma from the centre"


def test_apply_detect_and_kernels_say_once_that_the_gaussian_is_cut(samples, tmp_path):
    runs = [
        ("apply", samples / "camera.png", "-k", "gaussian:5:4", "-o", tmp_path / "o.png"),
        ("detect", samples / "camera.png", "-k", "gaussian:5:4"),
        ("kernels", "gaussian:5:4"),
    ]
    for args in runs:
        result = invoke(*args)
        assert result.exit_code == 0, result.stderr
        assert sum(NOTE in line for line in result.stderr.splitlines()) == 1, result.stderr


def test_size_left_out_is_derived_from_sigma_and_says_nothing(tmp_path):
    result = invoke("kernels", "gaussian::4", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    doc = json.loads(result.stdout)
    assert doc["shape"] == [33, 33]
    assert np.isclose(np.sum(doc["weights"]), 1.0)
