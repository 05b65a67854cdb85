"""cnnfilter: filter and inspect images the way the layers of a CNN do.

The public API (see ``docs/api.md``)::

    from cnnfilter import (correlate, convolve, pool2d, response_map, kernel,
                           read_image, write_image, summarize, forward)

Importing :mod:`cnnfilter` is light: each name is imported on first use
(PEP 562 module ``__getattr__``), so ``import cnnfilter`` loads neither NumPy
nor Pillow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnfilter._api import forward, kernel, pool2d, summarize
    from cnnfilter.engine.filtering import convolve, correlate
    from cnnfilter.engine.response import response_map
    from cnnfilter.errors import CnnfilterError, ProcessingError, UsageError
    from cnnfilter.imageio import read_image, write_image

#: Public name -> the module that defines it.
_LAZY = {
    "correlate": "cnnfilter.engine.filtering",
    "convolve": "cnnfilter.engine.filtering",
    "pool2d": "cnnfilter._api",
    "response_map": "cnnfilter.engine.response",
    "kernel": "cnnfilter._api",
    "read_image": "cnnfilter.imageio",
    "write_image": "cnnfilter.imageio",
    "summarize": "cnnfilter._api",
    "forward": "cnnfilter._api",
    "CnnfilterError": "cnnfilter.errors",
    "UsageError": "cnnfilter.errors",
    "ProcessingError": "cnnfilter.errors",
}

__all__ = [
    "correlate",
    "convolve",
    "pool2d",
    "response_map",
    "kernel",
    "read_image",
    "write_image",
    "summarize",
    "forward",
    "CnnfilterError",
    "UsageError",
    "ProcessingError",
    "__version__",
]


def _version() -> str:
    """The installed distribution's version (pyproject.toml is the one source)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cnnfilter")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value = _version()
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'cnnfilter' has no attribute {name!r}")
    globals()[name] = value  # the next access skips __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
