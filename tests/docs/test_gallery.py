"""docs/gallery.sh rebuilds every picture in docs/img as it is shipped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from helpers import ROOT, invoke

GALLERY = ROOT / "docs" / "gallery.sh"


def _commands() -> list[list[str]]:
    import shlex

    lines = GALLERY.read_text().splitlines()
    return [shlex.split(line)[1:] for line in lines if line.startswith("cnnfilter ")]


#: The options that name a picture a command writes.
OUTPUT_FLAGS = ("-o", "--heatmap", "--overlay", "--show-winners")


def _outputs(args: list[str]) -> list[str]:
    """The pictures a command writes; ``forward -o FOLDER`` writes a folder of montages
    (``NN_<layer>.png``), listed from the folder (shipped, or just rebuilt)."""
    named = [args[i + 1] for i, a in enumerate(args) if a in OUTPUT_FLAGS]
    if args[0] != "forward":
        return named
    return [f"{named[0]}/{p.name}" for p in sorted((Path.cwd() / named[0]).glob("*.png"))]


def _shipped() -> list[str]:
    img = ROOT / "docs" / "img"
    return sorted(str(p.relative_to(ROOT)) for p in img.rglob("*") if p.suffix in (".png", ".jpg"))


def test_the_gallery_script_makes_every_picture_in_docs_img(monkeypatch):
    assert subprocess.run(["bash", "-n", str(GALLERY)], check=False).returncode == 0
    monkeypatch.chdir(ROOT)
    outputs = [name for args in _commands() for name in _outputs(args)]
    assert len(outputs) == len(set(outputs))
    assert sorted(outputs) == _shipped()
    # every forward folder holds one montage per layer of its arch file
    for args in _commands():
        if args[0] == "forward":
            assert len(_outputs(args)) >= 3, args
    # every input is a shipped file
    for args in _commands():
        for a in args:
            if a.startswith("samples/"):
                assert (ROOT / a).is_file(), a


def test_the_gallery_script_runs_in_bash(tmp_path):
    # the script itself, as a user runs it, on a scratch copy of the repository's files
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    (tmp_path / "docs").mkdir()
    shutil.copy(GALLERY, tmp_path / "docs" / "gallery.sh")
    import os
    import sys

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(tmp_path / "docs" / "gallery.sh")], env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "docs" / "img").iterdir())) == len(
        list((ROOT / "docs" / "img").iterdir())
    )


def test_the_gallery_commands_rebuild_the_shipped_pictures(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    (tmp_path / "docs" / "img").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    rebuilt_names = []
    for args in _commands():
        result = invoke(args)
        assert result.exit_code == 0, (args, result.stderr)
        rebuilt_names += _outputs(args)
        for name in _outputs(args):
            with Image.open(tmp_path / name) as im:
                rebuilt = np.asarray(im, dtype=np.float64)
            with Image.open(ROOT / name) as im:
                shipped = np.asarray(im, dtype=np.float64)
            assert rebuilt.shape == shipped.shape, name
            assert np.abs(rebuilt - shipped).mean() < 1.0, name  # JPEG: any encoder
    assert sorted(rebuilt_names) == _shipped()
