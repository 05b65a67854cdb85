"""The public API: ``from cnnfilter import ...``, lazy imports, and docs/api.md's examples."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version

import numpy as np
import pytest
import scipy.ndimage as ndi

import cnnfilter

from helpers import ROOT

API = ["correlate", "convolve", "pool2d", "response_map", "kernel", "read_image",
       "write_image", "summarize", "forward"]  # fmt: skip
DOC = ROOT / "docs" / "api.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_every_public_function_has_one_example_in_docs_api():
    text = DOC.read_text(encoding="utf-8")
    blocks = python_blocks(text)
    assert len(blocks) == len(API)
    for name, block in zip(API, blocks, strict=True):
        assert f"## {name}\n" in text
        assert re.search(rf"\b{name}\(", block), f"the {name} example does not call it"


@pytest.mark.parametrize("index", range(len(API)), ids=API)
def test_docs_api_example_runs_from_the_repository_root(index, monkeypatch):
    block = python_blocks(DOC.read_text(encoding="utf-8"))[index]
    monkeypatch.chdir(ROOT)
    exec(compile(block, f"docs/api.md[{API[index]}]", "exec"), {"__name__": "__docs__"})


def test_import_cnnfilter_loads_no_heavy_module():
    code = (
        "import sys, json, cnnfilter\n"
        "print(json.dumps([m for m in ('numpy', 'scipy', 'PIL', 'yaml', 'rich', 'typer') "
        "if m in sys.modules]))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env=env)  # fmt: skip
    assert json.loads(proc.stdout) == []


def test_all_names_resolve_to_the_library_functions():
    from cnnfilter import imageio
    from cnnfilter.engine import filtering, response

    assert set(API) <= set(cnnfilter.__all__)
    assert cnnfilter.correlate is filtering.correlate
    assert cnnfilter.convolve is filtering.convolve
    assert cnnfilter.response_map is response.response_map
    assert cnnfilter.read_image is imageio.read_image
    assert cnnfilter.write_image is imageio.write_image
    assert set(API) <= set(dir(cnnfilter))
    with pytest.raises(AttributeError, match="has no attribute 'corelate'"):
        _ = cnnfilter.corelate


def test_version_comes_from_the_installed_metadata():
    assert cnnfilter.__version__ == version("cnnfilter")


def test_pool2d_keywords_match_pytorch_reference_values():
    x = np.arange(25.0).reshape(5, 5)
    out = cnnfilter.pool2d(x, 2, padding=1, ceil_mode=True)
    assert out.tolist() == [[0, 2, 4], [10, 12, 14], [20, 22, 24]]
    with pytest.raises(cnnfilter.UsageError, match=r"^op must be one of max, avg, lp; got op='x'"):
        cnnfilter.pool2d(x, 2, op="x")


def test_correlate_equals_scipy_ndimage():
    rng = np.random.default_rng(3)
    image, w = rng.standard_normal((20, 17)), rng.standard_normal((4, 3))
    got = cnnfilter.correlate(image, w, boundary="constant")
    np.testing.assert_allclose(got, ndi.correlate(image, w, mode="constant"), atol=1e-10)


def test_kernel_returns_registry_weights_and_refuses_unknown_names():
    assert cnnfilter.kernel("box:3").sum() == pytest.approx(1.0)
    with pytest.raises(cnnfilter.UsageError, match="sobel-x"):
        cnnfilter.kernel("sobel-xx")


@pytest.mark.parametrize("name", ["resnet18.yaml", "lenet5.yaml", "alexnet.yaml"])
def test_summarize_joins_params_and_fields_row_by_row(name):
    from cnnfilter.arch import load_network
    from cnnfilter.arch.receptive import receptive_fields
    from cnnfilter.arch.shapes import trace

    summary = cnnfilter.summarize(ROOT / "samples" / "arch" / name)
    fields = receptive_fields(trace(load_network(ROOT / "samples" / "arch" / name)))
    assert [row["name"] for row in summary["layers"]] == [r.step.layer.name for r in fields.rows]
    assert [row["receptive_field"] for row in summary["layers"]] == [
        [r.field.rows.size, r.field.cols.size] for r in fields.rows
    ]
    assert summary["total"]["parameters"] == sum(row["parameters"] for row in summary["layers"])


def test_summarize_names_the_layer_of_a_bad_dict_and_refuses_other_types():
    bad = {"input": [8, 8, 3], "layers": [{"conv2d": {"filters": 1, "kernel_size": 3,
                                                      "padding": "full"}}]}  # fmt: skip
    with pytest.raises(cnnfilter.UsageError, match=r"<dict>:\d+: layer 'conv2d_1'.*padding"):
        cnnfilter.summarize(bad)
    with pytest.raises(TypeError, match="arch must be a file path, a built-in name, a dict or a"):
        cnnfilter.summarize(42)


def test_all_lists_exactly_the_lazy_names():
    assert set(cnnfilter.__all__) == set(cnnfilter._LAZY) | {"__version__"}
