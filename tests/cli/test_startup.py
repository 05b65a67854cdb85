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
import pytest
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


def run_probe(argv: list[str]) -> tuple[dict[str, bool], str, int]:
    """Run the CLI with ``argv`` in a fresh interpreter (stdout a pipe): heavy modules
    loaded afterwards, the command's stdout, its exit code."""
    probe = (
        "import json, sys\nfrom cnnfilter.cli import app\n"
        f"sys.argv = ['cnnfilter', *{argv!r}]\ncode = 0\n"
        "try:\n    app()\nexcept SystemExit as exc:\n    code = exc.code or 0\n"
        f"sys.stderr.write('\\nPROBE' + json.dumps([{{m: m in sys.modules for m in {HEAVY!r}}}, "
        "code]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=ENV
    )
    loaded, code = json.loads(proc.stderr.rsplit("PROBE", 1)[1])
    return loaded, proc.stdout, code


SUBCOMMANDS = ["apply", "detect", "pool", "kernels", "params", "receptive-field"]


@pytest.mark.parametrize("argv", [["--help"], *([c, "--help"] for c in SUBCOMMANDS)])
def test_help_of_every_command_imports_no_heavy_module(argv):
    loaded, out, code = run_probe(argv)
    assert code == 0 and "Usage:" in out  # the probe really printed the help
    assert loaded == dict.fromkeys(HEAVY, False), [m for m, v in loaded.items() if v]


def test_kernels_listing_to_a_pipe_imports_neither_scipy_pil_nor_yaml():
    # the listing builds its two tables (registry and other tools' names) with NumPy and
    # Rich; the start-up goal for `kernels` is open (docs/speed.md)
    loaded, out, code = run_probe(["kernels"])
    assert code == 0 and "sobel-x" in out and "sobel_h" in out  # both tables were printed
    assert not any(loaded[m] for m in ("scipy", "PIL", "yaml")), loaded


def test_one_kernel_in_detail_needs_numpy_but_not_scipy_pil_or_yaml():
    loaded, out, code = run_probe(["kernels", "sobel-x"])
    assert code == 0 and "sum: 0" in out
    assert loaded["numpy"]  # the matrix is computed: the probe really ran the command
    assert not any(loaded[m] for m in ("scipy", "PIL", "yaml"))


def test_params_list_imports_no_heavy_module_where_it_exists():
    loaded, out, code = run_probe(["params", "--list"])
    if code == 2 and not out:  # `params --list` is not on this branch (yet)
        pytest.skip("params has no --list option here")
    assert code == 0 and out.strip()
    assert not any(loaded[m] for m in ("numpy", "rich", "scipy", "PIL")), loaded


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
