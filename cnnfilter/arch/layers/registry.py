"""The registry of layer kinds: :data:`LAYER_TYPES` maps every canonical type name to its
class (and the fields the name fixes); :func:`canonical_type` reads any accepted spelling.
The parser, the ``--help`` text and the docs read this one table."""

from __future__ import annotations

import dataclasses

from cnnfilter.arch.layers.activations import ELU, GELU, Activation, LeakyReLU, PReLU, Softmax
from cnnfilter.arch.layers.base import Layer
from cnnfilter.arch.layers.conv import (
    Conv2d,
    ConvTranspose2d,
    DepthwiseConv2d,
    LocallyConnected2d,
    SeparableConv2d,
)
from cnnfilter.arch.layers.normalization import BatchNorm2d, GroupNorm, LayerNorm, LayerScale
from cnnfilter.arch.layers.options import _ALIASES, ACTIVATIONS, _key
from cnnfilter.arch.layers.pooling import (
    AdaptivePool2d,
    AvgPool2d,
    GlobalPool2d,
    MaxPool2d,
    Upsample,
    ZeroPadding2d,
)
from cnnfilter.arch.layers.structure import (
    ChannelShuffle,
    ChannelSplit,
    Dense,
    Dropout,
    Flatten,
    StochasticDepth,
)

_ACTIVATION_CLASSES = {
    "leaky_relu": LeakyReLU,
    "softmax": Softmax,
    "elu": ELU,
    "prelu": PReLU,
    "gelu": GELU,
}


# canonical type -> (class, fixed fields)
_TYPES: dict[str, tuple[type[Layer], dict[str, str]]] = {
    "conv2d": (Conv2d, {}),
    "depthwise_conv2d": (DepthwiseConv2d, {}),
    "separable_conv2d": (SeparableConv2d, {}),
    "conv_transpose2d": (ConvTranspose2d, {}),
    "locally_connected2d": (LocallyConnected2d, {}),
    "dense": (Dense, {}),
    "maxpool2d": (MaxPool2d, {}),
    "avgpool2d": (AvgPool2d, {}),
    "global_avgpool2d": (GlobalPool2d, {"op": "avg"}),
    "global_maxpool2d": (GlobalPool2d, {"op": "max"}),
    "adaptive_avgpool2d": (AdaptivePool2d, {"op": "avg"}),
    "adaptive_maxpool2d": (AdaptivePool2d, {"op": "max"}),
    "zero_padding2d": (ZeroPadding2d, {}),
    "upsample": (Upsample, {}),
    "flatten": (Flatten, {}),
    "dropout": (Dropout, {}),
    "stochastic_depth": (StochasticDepth, {}),
    "batchnorm2d": (BatchNorm2d, {}),
    "groupnorm": (GroupNorm, {}),
    "layernorm": (LayerNorm, {}),
    "layer_scale": (LayerScale, {}),
    "channel_shuffle": (ChannelShuffle, {}),
    "channel_split": (ChannelSplit, {}),
    **{
        name: (_ACTIVATION_CLASSES.get(name, Activation), {"function": name})
        for name in ACTIVATIONS
    },
}


LAYER_TYPES: dict[str, tuple[type[Layer], dict[str, str]]] = dict(_TYPES)
"""Canonical type name -> (layer class, fields fixed by the type name)."""


_LOOKUP = {_key(name): name for name in _TYPES} | dict(_ALIASES)


def canonical_type(name: str) -> str | None:
    """The canonical type of a spelling (``Conv2D`` -> ``conv2d``), or ``None``.

    >>> canonical_type("MaxPooling2D"), canonical_type("Linear"), canonical_type("conv3d")
    ('maxpool2d', 'dense', None)
    """
    return _LOOKUP.get(_key(name))


def option_specs(cls: type[Layer]) -> dict[str, dataclasses.Field]:
    """User options of a layer class: ``{option name: field}`` (aliases in metadata)."""
    return {f.name: f for f in dataclasses.fields(cls) if "convert" in f.metadata}
