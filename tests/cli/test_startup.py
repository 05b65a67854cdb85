"""The CLI starts light: --help and kernels import neither scipy, PIL nor yaml.

Measured start times live in benchmarks/run.py; these tests only check which
modules get imported, in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from helpers import ROOT, invoke

#: This checkout first on the path, whichever one the venv points at.
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

HEAVY = ("scipy", "PIL", "yaml", "numpy", "rich")


def modules_after(code: str) -> dict[str, bool]:
    probe = (
        code + f"\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=ENV
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_heavy_module():
    loaded = modules_after("import cnnfilter.cli")
    assert loaded == dict.fromkeys(HEAVY, False)


def test_help_imports_neither_scipy_pil_yaml_nor_numpy():
    loaded = modules_after(
        "import sys\nfrom cnnfilter.cli import app\nsys.argv = ['cnnfilter', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    assert not any(loaded[m] for m in ("scipy", "PIL", "yaml", "numpy"))


def test_kernels_command_imports_neither_scipy_pil_nor_yaml():
    loaded = modules_after(
        "import sys\nfrom cnnfilter.cli import app\nsys.argv = ['cnnfilter', 'kernels']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    assert loaded["numpy"]  # the table shows matrices; the probe really ran the command
    assert not any(loaded[m] for m in ("scipy", "PIL", "yaml"))


def test_apply_reports_the_method_that_ran_and_accepts_method_option(samples, tmp_path):
    src = samples / "coins.png"
    auto = invoke(
        ["apply", str(src), "-k", "gaussian:9:2", "-o", str(tmp_path / "a.png")],
        catch_exceptions=False,
    )
    assert auto.exit_code == 0, auto.stderr
    assert "method separable (auto: rank-1 9x9 kernel" in auto.stderr
    fft = invoke(
        ["apply", str(src), "-k", "gaussian:9:2", "--method", "fft", "-o", str(tmp_path / "f.png")],
        catch_exceptions=False,
    )
    assert fft.exit_code == 0, fft.stderr
    assert "method fft (9x9 kernel)" in fft.stderr
    a = np.asarray(Image.open(tmp_path / "a.png")).astype(int)
    f = np.asarray(Image.open(tmp_path / "f.png")).astype(int)
    assert np.abs(a - f).max() <= 1  # same filter, rounding may flip a half-way pixel


def test_apply_refuses_separable_for_a_full_rank_kernel(samples, tmp_path):
    result = invoke(
        [
            "apply",
            str(samples / "coins.png"),
            "-k",
            "laplacian",
            "--method",
            "separable",
            "-o",
            str(tmp_path / "x.png"),
        ],
    )
    assert result.exit_code == 2
    assert "needs a rank-1 kernel" in result.stderr and "--method auto" in result.stderr
    assert not (tmp_path / "x.png").exists()
