"""The layer types of an ``arch.yaml`` file, as frozen dataclasses.

Each class is one layer type; its fields are the options a user may write,
and each field's metadata holds the option's converter, default and aliases
(the Keras and PyTorch spellings users paste). :data:`LAYER_TYPES` maps every
accepted type spelling to its class. The parser, the ``--help`` text and the
docs read this one registry.

Spatial options are stored per axis as ``(rows, cols)`` pairs; explicit
padding as ``(top, bottom, left, right)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cnnfilter.engine.geometry import as_pair, parse_padding

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
    "Shape",
    "Network",
    "layer_error",
    "Softmax",
    "ZeroPadding2d",
    "canonical_type",
    "option_specs",
]

Padding = str | tuple[int, int, int, int]
"""``"same"``, ``"valid"`` or explicit ``(top, bottom, left, right)`` in pixels."""


class OptionError(ValueError):
    """An option value breaks its rule; ``fix`` says what to write instead."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


# ---------------------------------------------------------------- converters
# Each converter takes the plain YAML value (int, float, bool, str, None or a
# short list of those) and returns the stored value or raises OptionError.


def _int(value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"expected an integer, got {value!r}", "write a whole number")
    if value < minimum:
        raise OptionError(f"must be >= {minimum}, got {value}", f"use a value >= {minimum}")
    return value


def positive(value: Any) -> int:
    """An integer >= 1 (filters, units, groups...)."""
    return _int(value, 1)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else _int(value, 1)


def pair(value: Any) -> tuple[int, int]:
    """``k`` or ``[rows, cols]``, each >= 1 (kernel size, stride, dilation)."""
    if isinstance(value, list) and len(value) != 2:
        raise OptionError(f"expected k or [rows, cols], got {value!r}", "write k or [kh, kw]")
    for v in value if isinstance(value, list) else [value]:
        _int(v, 1)  # the YAML wording: "expected an integer", "must be >= 1"
    return as_pair(value, name="value")


def _pair_or_none(value: Any) -> tuple[int, int] | None:
    return None if value is None else pair(value)


_PADDING_FIX = "write same, valid, p, [ph, pw] or [top, bottom, left, right]"


def padding(value: Any) -> Padding:
    """``same``, ``valid``, ``p``, ``[ph, pw]``, ``[top, bottom, left, right]``
    or Keras' ``[[top, bottom], [left, right]]``; explicit values >= 0.

    Read by :func:`cnnfilter.engine.geometry.parse_padding`, the parser of
    ``apply --padding`` and :func:`cnnfilter.correlate` too; ``arch.yaml`` has
    no ``full``.
    """
    names = ("same", "valid")
    if isinstance(value, str) and value.strip().lower() not in names:
        raise OptionError(f"unknown padding {value!r}", _PADDING_FIX)
    if isinstance(value, bool) or not isinstance(value, int | str | list):
        raise OptionError(f"expected a padding, got {value!r}", _PADDING_FIX)
    try:
        return parse_padding(value, names=names)
    except (TypeError, ValueError) as exc:
        raise OptionError(str(exc), _PADDING_FIX) from None


def _lc_padding(value: Any) -> Padding:
    if not isinstance(value, str) or value.strip().lower() not in ("same", "valid"):
        raise OptionError(f"expected valid or same, got {value!r}", "write valid or same")
    return parse_padding(value)


def boolean(value: Any) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise OptionError(f"expected true or false, got {value!r}", "write true or false")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OptionError(f"expected a number, got {value!r}", "write a number")
    return float(value)


def _rate(value: Any) -> float:
    rate = _number(value)
    if not 0.0 <= rate < 1.0:
        raise OptionError(f"must be in [0, 1), got {value!r}", "write a rate like 0.5")
    return rate


def _int_any(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"expected an integer, got {value!r}", "write a whole number")
    return value


def _activation_name(value: Any) -> str | None:
    if value is None:
        return None
    name = canonical_type(value) if isinstance(value, str) else None
    if name not in ACTIVATIONS:
        raise OptionError(
            f"unknown activation {value!r}", f"write one of {', '.join(sorted(ACTIVATIONS))}"
        )
    return name


def opt(
    convert: Callable[[Any], Any],
    default: Any = dataclasses.MISSING,
    *aliases: str,
    doc: str = "",
) -> Any:
    """A dataclass field that is a user option: converter, default, aliases."""
    meta = {"convert": convert, "aliases": aliases, "doc": doc}
    if default is dataclasses.MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


# ------------------------------------------------------------------- layers


@dataclass(frozen=True, kw_only=True)
class Layer:
    """Base of every layer: its unique name, its line in the file and its canonical type."""

    name: str
    line: int
    type: str


@dataclass(frozen=True, kw_only=True)
class Conv2d(Layer):
    """2-D convolution with shared weights (PyTorch Conv2d, Keras Conv2D)."""

    filters: int = opt(positive, dataclasses.MISSING, "out_channels")
    kernel_size: tuple[int, int] = opt(pair, dataclasses.MISSING, "kernel")
    stride: tuple[int, int] = opt(pair, (1, 1), "strides")
    padding: Padding = opt(padding, (0, 0, 0, 0))
    dilation: tuple[int, int] = opt(pair, (1, 1), "dilation_rate")
    groups: int = opt(positive, 1)
    bias: bool = opt(boolean, True, "use_bias")
    in_channels: int | None = opt(_int_or_none, None, doc="checked against the input")
    activation: str | None = opt(_activation_name, None, doc="no parameters; informational")


@dataclass(frozen=True, kw_only=True)
class DepthwiseConv2d(Layer):
    """One kernel per input channel (Keras DepthwiseConv2D)."""

    kernel_size: tuple[int, int] = opt(pair, dataclasses.MISSING, "kernel")
    stride: tuple[int, int] = opt(pair, (1, 1), "strides")
    padding: Padding = opt(padding, (0, 0, 0, 0))
    dilation: tuple[int, int] = opt(pair, (1, 1), "dilation_rate")
    depth_multiplier: int = opt(positive, 1)
    bias: bool = opt(boolean, True, "use_bias")
    activation: str | None = opt(_activation_name, None)


@dataclass(frozen=True, kw_only=True)
class LocallyConnected2d(Layer):
    """Unshared weights: one kernel per output position (Keras LocallyConnected2D)."""

    filters: int = opt(positive, dataclasses.MISSING, "out_channels")
    kernel_size: tuple[int, int] = opt(pair, dataclasses.MISSING, "kernel")
    stride: tuple[int, int] = opt(pair, (1, 1), "strides")
    padding: Padding = opt(_lc_padding, "valid")
    bias: bool = opt(boolean, True, "use_bias")
    activation: str | None = opt(_activation_name, None)

    dilation: ClassVar[tuple[int, int]] = (1, 1)


@dataclass(frozen=True, kw_only=True)
class Dense(Layer):
    """Fully connected layer on a flat input (Keras Dense, PyTorch Linear)."""

    units: int = opt(positive, dataclasses.MISSING, "out_features")
    bias: bool = opt(boolean, True, "use_bias")
    in_features: int | None = opt(_int_or_none, None, doc="checked against the input")
    activation: str | None = opt(_activation_name, None)


@dataclass(frozen=True, kw_only=True)
class MaxPool2d(Layer):
    """Max pooling with PyTorch's semantics; ``stride`` defaults to the kernel."""

    kernel_size: tuple[int, int] = opt(pair, dataclasses.MISSING, "pool_size", "kernel")
    stride: tuple[int, int] | None = opt(_pair_or_none, None, "strides")
    padding: Padding = opt(padding, (0, 0, 0, 0))
    dilation: tuple[int, int] = opt(pair, (1, 1))
    ceil_mode: bool = opt(boolean, False)


@dataclass(frozen=True, kw_only=True)
class AvgPool2d(Layer):
    """Average pooling with PyTorch's semantics; ``stride`` defaults to the kernel."""

    kernel_size: tuple[int, int] = opt(pair, dataclasses.MISSING, "pool_size", "kernel")
    stride: tuple[int, int] | None = opt(_pair_or_none, None, "strides")
    padding: Padding = opt(padding, (0, 0, 0, 0))
    ceil_mode: bool = opt(boolean, False)
    count_include_pad: bool = opt(boolean, True)

    dilation: ClassVar[tuple[int, int]] = (1, 1)


@dataclass(frozen=True, kw_only=True)
class GlobalPool2d(Layer):
    """Pool each channel to one value; the output is flat (Keras semantics)."""

    op: str = "avg"


@dataclass(frozen=True, kw_only=True)
class AdaptivePool2d(Layer):
    """PyTorch's adaptive pooling to a fixed ``output_size``."""

    op: str = "avg"
    output_size: tuple[int, int] = opt(pair, dataclasses.MISSING)


@dataclass(frozen=True, kw_only=True)
class ZeroPadding2d(Layer):
    """Zero rows and columns around each map (Keras ZeroPadding2D)."""

    padding: Padding = opt(padding, (1, 1, 1, 1))


@dataclass(frozen=True, kw_only=True)
class Flatten(Layer):
    """Flatten ``H x W x C`` into ``H*W*C`` features."""


@dataclass(frozen=True, kw_only=True)
class Dropout(Layer):
    """Dropout: no parameters, no shape change."""

    rate: float = opt(_rate, 0.5, "p")
    inplace: bool = opt(boolean, False)


@dataclass(frozen=True, kw_only=True)
class BatchNorm2d(Layer):
    """Batch normalisation: ``2C`` trainable (scale, shift), ``2C`` running stats."""

    num_features: int | None = opt(_int_or_none, None, doc="checked against the input")
    eps: float = opt(_number, 1e-5, "epsilon")
    momentum: float = opt(_number, 0.1)
    affine: bool = opt(boolean, True)
    track_running_stats: bool = opt(boolean, True)


@dataclass(frozen=True, kw_only=True)
class Activation(Layer):
    """An element-wise activation: no parameters, no shape change."""

    function: str = "identity"
    inplace: bool = opt(boolean, False)


@dataclass(frozen=True, kw_only=True)
class LeakyReLU(Activation):
    """Leaky ReLU; ``negative_slope`` is Keras' ``alpha``."""

    negative_slope: float = opt(_number, 0.01, "alpha")


@dataclass(frozen=True, kw_only=True)
class Softmax(Activation):
    """Softmax along one axis (the channels by default)."""

    dim: int = opt(_int_any, -1, "axis")


@dataclass(frozen=True, kw_only=True)
class Residual(Layer):
    """``body(x) + shortcut(x)``; an empty shortcut is the identity."""

    body: tuple[Layer, ...] = ()
    shortcut: tuple[Layer, ...] = ()


ACTIVATIONS = ("relu", "relu6", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "identity")

# canonical type -> (class, fixed fields)
_TYPES: dict[str, tuple[type[Layer], dict[str, str]]] = {
    "conv2d": (Conv2d, {}),
    "depthwise_conv2d": (DepthwiseConv2d, {}),
    "locally_connected2d": (LocallyConnected2d, {}),
    "dense": (Dense, {}),
    "maxpool2d": (MaxPool2d, {}),
    "avgpool2d": (AvgPool2d, {}),
    "global_avgpool2d": (GlobalPool2d, {"op": "avg"}),
    "global_maxpool2d": (GlobalPool2d, {"op": "max"}),
    "adaptive_avgpool2d": (AdaptivePool2d, {"op": "avg"}),
    "adaptive_maxpool2d": (AdaptivePool2d, {"op": "max"}),
    "zero_padding2d": (ZeroPadding2d, {}),
    "flatten": (Flatten, {}),
    "dropout": (Dropout, {}),
    "batchnorm2d": (BatchNorm2d, {}),
    **{
        name: (
            {"leaky_relu": LeakyReLU, "softmax": Softmax}.get(name, Activation),
            {"function": name},
        )
        for name in ACTIVATIONS
    },
}

# Other spellings, compared after lower-casing and removing underscores.
_ALIASES = {
    "conv": "conv2d",
    "convolution2d": "conv2d",
    "depthwiseconv2d": "depthwise_conv2d",
    "locallyconnected2d": "locally_connected2d",
    "linear": "dense",
    "maxpooling2d": "maxpool2d",
    "averagepooling2d": "avgpool2d",
    "avgpooling2d": "avgpool2d",
    "globalaveragepooling2d": "global_avgpool2d",
    "globalmaxpooling2d": "global_maxpool2d",
    "batchnormalization": "batchnorm2d",
    "dropout2d": "dropout",
}

LAYER_TYPES: dict[str, tuple[type[Layer], dict[str, str]]] = dict(_TYPES)
"""Canonical type name -> (layer class, fields fixed by the type name)."""


def _key(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


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


# ------------------------------------------------------------------ network


@dataclass(frozen=True)
class Shape:
    """A tensor shape for one image: ``height x width x channels``, or flat.

    A flat shape (after ``flatten``, ``dense`` or global pooling) has
    ``height == width == 1`` and ``channels`` features.

    >>> str(Shape(224, 224, 3)), str(Shape(1, 1, 4096, flat=True))
    ('224 x 224 x 3', '4096')
    """

    height: int
    width: int
    channels: int
    flat: bool = False

    @property
    def size(self) -> int:
        """Number of values: ``height * width * channels``."""
        return self.height * self.width * self.channels

    def __str__(self) -> str:
        if self.flat:
            return str(self.channels)
        return f"{self.height} x {self.width} x {self.channels}"


@dataclass(frozen=True)
class Network:
    """A parsed ``arch.yaml``: the input shape and the layers, in order.

    ``source`` is the file name used in error messages; ``repeat`` blocks are
    already expanded, ``residual`` blocks are :class:`Residual` layers.
    """

    name: str
    input: Shape
    layers: tuple[Layer, ...]
    source: str = "<arch>"


def layer_error(source: str, layer: Layer, problem: str, fix: str):
    """The one-line :class:`~cnnfilter.errors.UsageError` for a bad layer.

    ``"<file>:<line>: layer '<name>' (<type>): <problem>; fix: <fix>"``.
    """
    from cnnfilter.errors import UsageError

    return UsageError(
        f"{source}:{layer.line}: layer '{layer.name}' ({layer.type}): {problem}; fix: {fix}"
    )
