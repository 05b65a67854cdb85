"""Built-in architectures: ``arch.yaml`` files shipped inside the package.

``cnnfilter params resnet50`` reads ``zoo/resnet50.yaml``; ``cnnfilter params
--list`` prints :func:`names`. The files use the block syntax of
docs/reference/arch-yaml.md and torchvision's layer names; each one's
parameter count equals torchvision's published ``num_params`` and its MACs
its published ``GFLOPS`` (tests/arch/test_zoo.py).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["describe", "names", "path"]


def _folder() -> Path:
    # this package's folder: the files are installed as files (setuptools package-data), and
    # importlib.resources would add 10 ms of imports to `cnnfilter params --list`
    return Path(__file__).resolve().parent


def names() -> list[str]:
    """The built-in architectures, sorted."""
    return sorted(p.stem for p in _folder().glob("*.yaml"))


def path(name: str) -> Path | None:
    """The file of the built-in ``name`` (``ResNet50`` and ``resnet-50`` too), or ``None``."""
    key = name.lower().replace("-", "_")
    stems = names()
    if key in stems:  # not is_file(): it raises on a name too long for the file system
        return _folder() / f"{key}.yaml"
    compact = key.replace("_", "")
    for stem in stems:
        if stem.replace("_", "") == compact:
            return _folder() / f"{stem}.yaml"
    return None


def describe(name: str) -> str:
    """The first comment line of the built-in ``name`` (its one-line description)."""
    with path(name).open(encoding="utf-8") as lines:  # read up to that line only
        for line in lines:
            if line.startswith("#"):
                return line.lstrip("# ").strip()
    return ""
