"""docs/gallery.sh rebuilds the article's pictures in docs/img as they are shipped."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
from PIL import Image

from helpers import ROOT, invoke

GALLERY = ROOT / "docs" / "gallery.sh"


def _commands() -> list[list[str]]:
    import shlex

    lines = GALLERY.read_text().splitlines()
    return [shlex.split(line)[1:] for line in lines if line.startswith("cnnfilter ")]


def test_the_gallery_script_is_valid_bash_with_one_command_per_picture():
    assert subprocess.run(["bash", "-n", str(GALLERY)], check=False).returncode == 0
    commands = _commands()
    assert len(commands) == 11
    outputs = [c[c.index("-o") + 1] for c in commands]
    assert sorted(outputs) == sorted(
        f"docs/img/{p.name}" for p in (ROOT / "docs" / "img").glob("*.jpg")
        if p.name.startswith(("article_", "table_"))
    )  # fmt: skip


def test_the_gallery_commands_rebuild_the_shipped_pictures(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    (tmp_path / "docs" / "img").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    for args in _commands():
        result = invoke(args)
        assert result.exit_code == 0, (args, result.stderr)
        name = args[args.index("-o") + 1]
        with Image.open(tmp_path / name) as im:
            rebuilt = np.asarray(im, dtype=np.float64)
        with Image.open(ROOT / name) as im:
            shipped = np.asarray(im, dtype=np.float64)
        assert rebuilt.shape == shipped.shape, name
        assert np.abs(rebuilt - shipped).mean() < 1.0, name  # JPEG: same picture, any encoder
