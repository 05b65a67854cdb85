"""Shared fixtures: the sample photos and a fixed random generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

#: tests/data holds a generator script that imports PyTorch, run by hand only.
collect_ignore_glob = ["data/*.py"]

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture
def samples() -> Path:
    """The folder of real sample photos shipped with the project."""
    return SAMPLES


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, so that failures reproduce."""
    return np.random.default_rng(20261129)
