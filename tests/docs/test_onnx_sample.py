"""samples/models/article_cnn.onnx is what samples/models/make_article_cnn.py makes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_onnx_sample_is_what_its_script_makes():
    pytest.importorskip("onnx")
    path = ROOT / "samples" / "models" / "make_article_cnn.py"
    spec = importlib.util.spec_from_file_location("make_article_cnn", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = (ROOT / "samples" / "models" / "article_cnn.onnx").read_bytes()
    assert module.model().SerializeToString() == shipped
    assert len(shipped) < 200_000
