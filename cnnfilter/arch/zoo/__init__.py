"""Built-in architectures: ``arch.yaml`` files shipped inside the package.

``cnnfilter params resnet50`` reads ``zoo/resnet50.yaml``; ``cnnfilter params
--list`` prints :func:`names`. The files use the block syntax of
docs/reference/arch-yaml.md and torchvision's layer names; each one's
parameter count equals torchvision's published ``num_params`` and its MACs
its published ``GFLOPS`` (tests/arch/test_zoo.py).
"""

from __future__ import annotations

import re
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
    """The first sentence of the built-in ``name``'s opening comment (its description),
    its lines joined: the first line alone stopped mid-sentence (``alexnet``: "... (the
    "one weird trick" variant,")."""
    words: list[str] = []
    with path(name).open(encoding="utf-8") as lines:  # read up to that sentence only
        for line in lines:
            if not line.startswith("#"):
                if words:
                    break
                continue
            words.append(line.lstrip("# ").strip())
            if words[-1].endswith(".") or _SENTENCE_END.search(words[-1]):
                break
    text = " ".join(w for w in words if w)
    end = _SENTENCE_END.search(text)
    return text[: end.start() + 1] if end else text


#: a full stop, then the capital of the next sentence ("et al. 2015" goes on)
_SENTENCE_END = re.compile(r"\.\s+(?=[A-Z])")
