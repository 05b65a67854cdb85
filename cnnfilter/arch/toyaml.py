"""Write a :class:`~cnnfilter.arch.layers.base.Network` as ``arch.yaml`` text (``params
model.onnx --to-yaml out.yaml``), so that a network read from a model file can be
edited and recounted.

Each layer is one line, ``- type: {name: ..., option: value}``, with only the options
that differ from their defaults; merges become ``add``/``concat``/``multiply`` with
their branches; name groups (``--depth`` blocks) are written as their layers. Values
are written as JSON, which YAML reads as the same values (names with ``/`` or ``.``
stay one string).
"""

from __future__ import annotations

import dataclasses
import json

from cnnfilter.arch.layers.activations import Activation
from cnnfilter.arch.layers.base import Layer, Network
from cnnfilter.arch.layers.pooling import GlobalPool2d
from cnnfilter.arch.layers.registry import LAYER_TYPES, option_specs
from cnnfilter.arch.layers.structure import Block, Imported, Merge

__all__ = ["network_yaml", "yaml_type"]


def yaml_type(layer: Layer) -> str | None:
    """The ``arch.yaml`` type of ``layer`` (``None`` for an :class:`Imported` node)."""
    if isinstance(layer, Imported):
        return None
    if isinstance(layer, Activation):
        return layer.function
    if isinstance(layer, GlobalPool2d):
        return f"global_{layer.op}pool2d"
    for name, (cls, fixed) in LAYER_TYPES.items():
        if cls is type(layer) and not fixed:
            return name
    return None


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _options(layer: Layer) -> dict:
    values = {"name": layer.name}
    for option, spec in option_specs(type(layer)).items():
        value = getattr(layer, option)
        if spec.default is not dataclasses.MISSING and value == spec.default:
            continue
        values[option] = _plain(value)
    return values


def _lines(layers, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for layer in layers:
        if isinstance(layer, Block):
            lines += _lines(layer.layers, indent)
        elif isinstance(layer, Merge):
            lines.append(f"{pad}- {layer.op}:")
            lines.append(f"{pad}    name: {json.dumps(layer.name)}")
            lines.append(f"{pad}    branches:")
            for name, branch in layer.branches:
                if not branch:
                    lines.append(f"{pad}      {json.dumps('b' + name)}: []")
                    continue
                lines.append(f"{pad}      {json.dumps('b' + name)}:")
                lines += _lines(branch, indent + 8)
        else:
            kind = yaml_type(layer)
            if kind is None:
                raise ValueError(f"layer {layer.name!r} has no arch.yaml type")
            options = ", ".join(f"{k}: {json.dumps(v)}" for k, v in _options(layer).items())
            lines.append(f"{pad}- {kind}: {{{options}}}")
    return lines


def network_yaml(network: Network, *, comment: str = "") -> str:
    """``arch.yaml`` text for ``network``.

    Raises:
        ValueError: a layer has no ``arch.yaml`` type (an :class:`Imported` node).

    >>> from cnnfilter.arch.parse import parse_network
    >>> net = parse_network("input: [8, 8, 3]\\nlayers: [conv2d: {filters: 4, kernel_size: 3}]")
    >>> print(network_yaml(net))
    input: [8, 8, 3]
    layers:
      - conv2d: {name: "conv2d_1", filters: 4, kernel_size: [3, 3]}
    <BLANKLINE>
    """
    shape = network.input
    head = [f"# {line}" for line in comment.splitlines()]
    head.append(f"input: [{shape.height}, {shape.width}, {shape.channels}]")
    return "\n".join([*head, "layers:", *_lines(network.layers, 2)]) + "\n"
