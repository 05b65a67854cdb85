"""Packaging: one version, the declared floors are the tested ones, the licence ships.

The version is written once, in pyproject.toml; ``cnnfilter.__version__`` reads
the installed metadata. These tests read the *installed* metadata too, so a
stale install (``pip install -e .`` not re-run after a change to
pyproject.toml) fails here instead of drifting silently.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.version import Version

import cnnfilter

from helpers import ROOT

FLOORS = ROOT / "constraints" / "floors.txt"


def _installed(name: str = "cnnfilter") -> metadata.Distribution:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        pytest.fail("cnnfilter is not installed: run pip install -e '.[test]' first")


def _floor_pins() -> dict[str, Version]:
    """``name -> version`` from constraints/floors.txt (``name==version`` lines)."""
    pins = {}
    for line in FLOORS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"floors.txt: {line!r} is not a name==version pin"
            pins[name.strip().lower()] = Version(version.strip())
    return pins


def _declared_floors() -> dict[str, Version]:
    """``name -> floor`` of the installed metadata's runtime requirements (no extras)."""
    floors = {}
    for req in _installed().requires or []:
        if "extra ==" in req:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)", req.strip())
        assert match, f"runtime requirement {req!r} has no plain '>=' floor"
        floors[match[1].lower()] = Version(match[2])
    return floors


def test_the_version_written_in_pyproject_is_the_installed_and_the_package_version():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    written = re.findall(r'^version = "([^"]+)"$', text, flags=re.MULTILINE)
    assert len(written) == 1, "pyproject.toml must write the version once, in [project]"
    assert re.fullmatch(r"\d+\.\d+\.\d+", written[0])
    assert _installed().version == written[0], "stale install: re-run pip install -e ."
    assert cnnfilter.__version__ == written[0]


def test_version_option_prints_the_package_version():
    expected = f"cnnfilter {cnnfilter.__version__}"
    module = subprocess.run(
        [sys.executable, "-m", "cnnfilter", "--version"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert module.stdout.strip() == expected
    script = shutil.which("cnnfilter", path=str(Path(sys.executable).parent))
    assert script, "the cnnfilter console script is not installed beside this Python"
    console = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert console.stdout.strip() == expected
    assert console.stderr == ""


def test_every_runtime_dependency_has_its_floor_pinned_in_the_floors_file():
    declared = _declared_floors()
    assert set(declared) == {"typer", "numpy", "scipy", "pillow", "rich", "pyyaml"}
    pins = _floor_pins()
    assert pins == declared, "pyproject.toml floors and constraints/floors.txt pins differ"


def test_the_licence_is_spdx_mit_and_ships_with_the_distribution():
    meta = _installed().metadata
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the cnnfilter developers" in text
