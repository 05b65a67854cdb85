"""Layer stacks: ``arch.yaml`` parsing, shapes, parameters, MACs, receptive fields.

Parse once with :func:`load_network` / :func:`parse_network`; every
calculator takes the parsed :class:`Network` (or its :class:`Trace`) and
never reads YAML again. No deep-learning framework is imported.

The names below are imported on first use (PEP 562 module ``__getattr__``), so
that ``cnnfilter.arch.zoo`` (``cnnfilter params --list``) loads without YAML.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnfilter.arch.layers.base import Layer, Network, Shape
    from cnnfilter.arch.layers.registry import LAYER_TYPES
    from cnnfilter.arch.parse import load_network, parse_network

__all__ = ["LAYER_TYPES", "Layer", "Network", "Shape", "load_network", "parse_network"]

#: Public name -> the module that defines it.
_LAZY = {
    "LAYER_TYPES": "cnnfilter.arch.layers.registry",
    "Layer": "cnnfilter.arch.layers.base",
    "Network": "cnnfilter.arch.layers.base",
    "Shape": "cnnfilter.arch.layers.base",
    "load_network": "cnnfilter.arch.parse",
    "parse_network": "cnnfilter.arch.parse",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'cnnfilter.arch' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # the next access skips __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
