"""The layer types of an ``arch.yaml`` file, as frozen dataclasses.

Each class is one layer type; its fields are the options a user may write,
and each field's metadata holds the option's converter, default and aliases
(the Keras and PyTorch spellings users paste). :data:`LAYER_TYPES` maps every
accepted type spelling to its class. The parser, the ``--help`` text and the
docs read this one registry.

Spatial options are stored per axis as ``(rows, cols)`` pairs; explicit
padding as ``(top, bottom, left, right)``.

The package, one module per family (import from here; each module names its own):

* :mod:`~cnnfilter.arch.layers.options`: the option converters, :class:`OptionError`,
  the spellings of activations and other type names;
* :mod:`~cnnfilter.arch.layers.base`: :class:`Layer`, :class:`Inferred`, :class:`Shape`,
  :class:`Network`, :func:`layer_error`, the window arithmetic;
* :mod:`~cnnfilter.arch.layers.conv`: conv2d, depthwise, separable, transposed and
  locally connected convolutions;
* :mod:`~cnnfilter.arch.layers.pooling`: max/avg, global and adaptive pooling, zero
  padding, upsample;
* :mod:`~cnnfilter.arch.layers.normalization`: batchnorm, groupnorm, layernorm,
  layer_scale;
* :mod:`~cnnfilter.arch.layers.activations`: the activations (PReLU's slopes);
* :mod:`~cnnfilter.arch.layers.structure`: dense, flatten, dropout, stochastic depth,
  channel shuffle/split, merges and residuals, blocks, imported model-file nodes;
* :mod:`~cnnfilter.arch.layers.registry`: :data:`LAYER_TYPES` (the one table of kinds),
  :func:`canonical_type`, :func:`option_specs`.
"""

from cnnfilter.arch.layers.activations import ELU, GELU, Activation, LeakyReLU, PReLU, Softmax
from cnnfilter.arch.layers.base import Inferred, Layer, Network, Shape, layer_error
from cnnfilter.arch.layers.conv import (
    Conv2d,
    ConvTranspose2d,
    DepthwiseConv2d,
    LocallyConnected2d,
    SeparableConv2d,
)
from cnnfilter.arch.layers.normalization import BatchNorm2d, GroupNorm, LayerNorm, LayerScale
from cnnfilter.arch.layers.options import ACTIVATIONS, OptionError, Padding
from cnnfilter.arch.layers.pooling import (
    AdaptivePool2d,
    AvgPool2d,
    GlobalPool2d,
    MaxPool2d,
    Upsample,
    ZeroPadding2d,
)
from cnnfilter.arch.layers.registry import LAYER_TYPES, canonical_type, option_specs
from cnnfilter.arch.layers.structure import (
    Block,
    ChannelShuffle,
    ChannelSplit,
    Dense,
    Dropout,
    Flatten,
    Imported,
    Merge,
    Residual,
    StochasticDepth,
)

__all__ = [
    "ACTIVATIONS",
    "LAYER_TYPES",
    "Activation",
    "AdaptivePool2d",
    "AvgPool2d",
    "BatchNorm2d",
    "Conv2d",
    "Dense",
    "DepthwiseConv2d",
    "Dropout",
    "Flatten",
    "GlobalPool2d",
    "Layer",
    "LeakyReLU",
    "LocallyConnected2d",
    "MaxPool2d",
    "OptionError",
    "Padding",
    "Residual",
    "Merge",
    "Block",
    "Inferred",
    "ConvTranspose2d",
    "SeparableConv2d",
    "Upsample",
    "StochasticDepth",
    "GroupNorm",
    "LayerNorm",
    "LayerScale",
    "ELU",
    "GELU",
    "PReLU",
    "ChannelShuffle",
    "ChannelSplit",
    "Shape",
    "Network",
    "Imported",
    "layer_error",
    "Softmax",
    "ZeroPadding2d",
    "canonical_type",
    "option_specs",
]
