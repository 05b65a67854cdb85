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
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar

from cnnfilter.engine.geometry import (
    AxisGeometry,
    as_pair,
    check_pool_padding,
    parse_padding,
    resolve_axes,
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


def _kernel_names(value: Any) -> tuple[str | tuple[str, ...], ...]:
    """The filters of a hand-set layer: per filter a registry kernel spec (the same kernel on
    every input channel) or a list of specs, one per input channel (``none``: zeros).

    >>> _kernel_names(["curve", ["sobel-x", "none"]])
    ('curve', ('sobel-x', 'none'))
    """
    items = value if isinstance(value, list) else [value]

    def spec(v: Any) -> bool:
        return isinstance(v, str) and bool(v.strip())

    def entry(v: Any) -> bool:
        return spec(v) or (isinstance(v, list) and bool(v) and all(spec(k) for k in v))

    if not items or len(items) > 1024 or not all(entry(v) for v in items):
        raise OptionError(
            f"expected a list of kernel names, got {value!r}",
            "write kernels: [sobel-x, curve], or one name per input channel: "
            "kernels: [[sobel-x, none, none], curve]",
        )
    return tuple(v.strip() if isinstance(v, str) else tuple(k.strip() for k in v) for v in items)


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
#
# One class per layer kind, and in it every rule of that kind: the options it
# takes (the fields), ``infer`` (output shape and window geometry), ``weights``
# (trainable, non-trainable), ``macs`` and ``field`` (receptive field). The
# calculators in shapes.py, calc.py and receptive.py only walk the tree and
# call these. A ``step`` argument is a :class:`cnnfilter.arch.shapes.Step`.


def _flat(shape: Shape) -> bool:
    return shape.flat


@dataclass(frozen=True, kw_only=True)
class Layer:
    """Base of every layer: its unique name, its line in the file and its canonical type.

    The default rules are those of an element-wise layer without weights: the
    output shape is the input shape, no parameters, no MACs, the receptive
    field unchanged.
    """

    name: str
    line: int
    type: str
    #: ``(trainable, non_trainable)`` counted from a model file's weights (ONNX
    #: initializers, a shared one counted at its first use); ``None``: :meth:`weights`.
    counted: tuple[int, int] | None = field(default=None, compare=False, repr=False)
    #: Inline weight arrays written in the arch file (``weight: [[...]]``, ``bias: [...]``),
    #: ``(key, nested tuples of floats, shape)`` per array; ``forward`` uses them first.
    arrays: tuple[tuple[str, Any, tuple[int, ...]], ...] = field(
        default=(), compare=False, repr=False
    )

    #: The inline arrays this kind takes (``forward``'s keys: ``weight``, ``bias``, ...).
    array_keys: ClassVar[tuple[str, ...]] = ()
    #: Needs an ``H x W x C`` input (refused after flatten / global pooling).
    spatial: ClassVar[bool] = False

    @classmethod
    def complete(cls, values: dict[str, Any]) -> dict[str, Any]:
        """The options as given, with those that follow from others filled in (before the
        parser checks the required ones). Raises :class:`OptionError`."""
        return values

    def infer(self, shape: Shape, fail: Callable[[str, str], Exception]) -> Inferred:
        """Output shape (and window geometry) for ``shape``; ``fail(problem, fix)`` builds
        the error to raise."""
        return Inferred(shape)

    def weights(self, step) -> tuple[int, int]:
        """``(trainable, non_trainable)`` parameter counts."""
        return 0, 0

    def macs(self, step) -> int:
        """Multiply-accumulates for one image (torchvision's "GFLOPS" convention)."""
        return 0

    def kernel(self, step) -> str:
        """The weight shape for the summary's kernel column ('' when none): Keras'
        ``(kh, kw, in, out)`` order for convolutions, ``in x out`` for dense layers."""
        return ""

    def field(self, step, rows, cols):
        """Receptive field after this layer: the window rule when it has a window."""
        if step.rows is not None and step.cols is not None:
            return rows.window(step.rows), cols.window(step.cols)
        return rows, cols


@dataclass(frozen=True)
class Inferred:
    """What :meth:`Layer.infer` returns: the output shape and the window per axis."""

    output: Shape
    rows: AxisGeometry | None = None
    cols: AxisGeometry | None = None


def _check_channels(layer, c: int, fail, fix: str) -> None:
    """A convolution's ``in_channels`` (when given) and ``groups`` against ``c`` input channels.

    PyTorch's Conv2d/ConvTranspose2d rule: ``groups`` divides both the input channels and
    the filters.
    """
    if layer.in_channels is not None and layer.in_channels != c:
        raise fail(f"in_channels is {layer.in_channels} but its input has {c} channels", fix)
    if c % layer.groups or layer.filters % layer.groups:
        raise fail(
            f"groups {layer.groups} must divide the input channels {c} and the "
            f"filters {layer.filters}",
            "choose groups that divide both",
        )


def _windows(layer, shape: Shape, fail, *, pool: bool = False) -> tuple[AxisGeometry, ...]:
    """Resolve padding and output size along rows and columns.

    ``padding: same`` follows TensorFlow's rule; pooling layers follow
    PyTorch's ``padding <= kernel_size // 2``.
    """
    stride = layer.stride if layer.stride is not None else layer.kernel_size
    if pool and not isinstance(layer.padding, str):
        for k, pads in zip(layer.kernel_size, (layer.padding[:2], layer.padding[2:]), strict=True):
            try:
                check_pool_padding(k, max(pads))
            except ValueError:
                raise fail(
                    f"padding {max(pads)} is more than half the kernel {k} (PyTorch refuses it)",
                    f"use padding <= {k // 2}",
                ) from None
    rows, cols = resolve_axes(
        (shape.height, shape.width),
        layer.kernel_size,
        layer.padding,
        stride=stride,
        dilation=layer.dilation,
        same_rule="tensorflow",
        ceil_mode=getattr(layer, "ceil_mode", False),
    )
    if rows.out < 1 or cols.out < 1:
        raise fail(
            f"output would be {rows.out} x {cols.out}: input {shape.height} x {shape.width} "
            f"with padding {rows.pad_before + rows.pad_after} x {cols.pad_before + cols.pad_after} "
            f"is smaller than the kernel span {rows.effective_kernel_size} x "
            f"{cols.effective_kernel_size}",
            "use a smaller kernel, stride or dilation, more padding, or a larger input",
        )
    return rows, cols


def _kernel_text(*dims: int) -> str:
    return " x ".join(str(d) for d in dims)


@dataclass(frozen=True, kw_only=True)
class Conv2d(Layer):
    """2-D convolution with shared weights (PyTorch ``Conv2d``, Keras ``Conv2D``).

    Parameters ``F (C / groups) kh kw + F`` (bias); MACs ``F (C / groups) kh kw Ho Wo``.
    Source: https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html (weight of
    shape ``(out_channels, in_channels / groups, kH, kW)``).
    """

    filters: int = opt(positive, dataclasses.MISSING, "out_channels")
    kernel_size: tuple[int, int] = opt(pair, dataclasses.MISSING, "kernel")
    stride: tuple[int, int] = opt(pair, (1, 1), "strides")
    padding: Padding = opt(padding, (0, 0, 0, 0))
    dilation: tuple[int, int] = opt(pair, (1, 1), "dilation_rate")
    groups: int = opt(positive, 1)
    bias: bool = opt(boolean, True, "use_bias")
    in_channels: int | None = opt(_int_or_none, None, doc="checked against the input")
    activation: str | None = opt(_activation_name, None, doc="no parameters; informational")
    kernels: tuple[str | tuple[str, ...], ...] | None = opt(
        _kernel_names,
        None,
        doc="registry kernels as the filters (forward): one filter each (a name, or a list "
        "of names, one per input channel), filters and kernel_size follow",
    )

    spatial: ClassVar[bool] = True
    array_keys: ClassVar[tuple[str, ...]] = ("weight", "bias")

    @classmethod
    def complete(cls, values):
        """``kernels: [names]`` sets ``filters`` (one per name) and ``kernel_size`` (the
        largest kernel's; smaller ones are zero-padded round their centre by ``forward``)."""
        if values.get("kernels") is None:
            return values
        from cnnfilter.errors import UsageError
        from cnnfilter.kernels import resolve_kernel

        names = [
            k for e in values["kernels"] for k in ((e,) if isinstance(e, str) else e) if k != "none"
        ]
        if not names:
            raise OptionError("every kernel is 'none'", "name at least one registry kernel")
        try:
            shapes = [resolve_kernel(k).weights.shape[:2] for k in names]
        except UsageError as exc:
            raise OptionError(str(exc), "see 'cnnfilter kernels' for the names") from None
        size = (max(s[0] for s in shapes), max(s[1] for s in shapes))
        n = len(values["kernels"])
        if values.get("filters", n) != n:
            raise OptionError(
                f"filters is {values['filters']} but kernels names {n}", "drop filters"
            )
        if values.get("kernel_size", size) != size:
            raise OptionError(
                f"kernel_size is {values['kernel_size']} but the largest kernel is {size}",
                "drop kernel_size",
            )
        return {**values, "filters": n, "kernel_size": size}

    def infer(self, shape, fail):
        c = shape.channels
        _check_channels(self, c, fail, f"write in_channels: {c} or fix the layers before it")
        rows, cols = _windows(self, shape, fail)
        return Inferred(Shape(rows.out, cols.out, self.filters), rows, cols)

    def _kernel_weights(self, c_in: int) -> int:
        kh, kw = self.kernel_size
        return self.filters * (c_in // self.groups) * kh * kw

    def weights(self, step):
        return self._kernel_weights(step.input.channels) + (self.filters if self.bias else 0), 0

    def macs(self, step):
        return self._kernel_weights(step.input.channels) * step.output.height * step.output.width

    def kernel(self, step):
        return _kernel_text(*self.kernel_size, step.input.channels // self.groups, self.filters)


@dataclass(frozen=True, kw_only=True)
class DepthwiseConv2d(Layer):
    """One kernel per input channel (Keras ``DepthwiseConv2D``; PyTorch ``Conv2d`` with
    ``groups = in_channels``).

    Parameters ``C m kh kw + C m`` (bias), ``m`` the depth multiplier; MACs
    ``C m kh kw Ho Wo``. Source: https://keras.io/api/layers/convolution_layers/depthwise_convolution2d/
    """

    kernel_size: tuple[int, int] = opt(pair, dataclasses.MISSING, "kernel")
    stride: tuple[int, int] = opt(pair, (1, 1), "strides")
    padding: Padding = opt(padding, (0, 0, 0, 0))
    dilation: tuple[int, int] = opt(pair, (1, 1), "dilation_rate")
    depth_multiplier: int = opt(positive, 1)
    bias: bool = opt(boolean, True, "use_bias")
    activation: str | None = opt(_activation_name, None)

    spatial: ClassVar[bool] = True
    array_keys: ClassVar[tuple[str, ...]] = ("weight", "bias")

    def infer(self, shape, fail):
        rows, cols = _windows(self, shape, fail)
        return Inferred(
            Shape(rows.out, cols.out, shape.channels * self.depth_multiplier), rows, cols
        )

    def weights(self, step):
        kh, kw = self.kernel_size
        out = step.output.channels
        return out * kh * kw + (out if self.bias else 0), 0

    def macs(self, step):
        kh, kw = self.kernel_size
        return step.output.channels * kh * kw * step.output.height * step.output.width

    def kernel(self, step):
        return _kernel_text(*self.kernel_size, step.input.channels, self.depth_multiplier)


@dataclass(frozen=True, kw_only=True)
class SeparableConv2d(Layer):
    """Depthwise then pointwise convolution (Keras ``SeparableConv2D``).

    Parameters ``C m kh kw`` (depthwise) ``+ C m F`` (pointwise) ``+ F`` (bias, on the
    pointwise part only); MACs ``(C m kh kw + C m F) Ho Wo``.
    Source: https://keras.io/api/layers/convolution_layers/separable_convolution2d/
    """

    filters: int = opt(positive, dataclasses.MISSING, "out_channels")
    kernel_size: tuple[int, int] = opt(pair, dataclasses.MISSING, "kernel")
    stride: tuple[int, int] = opt(pair, (1, 1), "strides")
    padding: Padding = opt(padding, (0, 0, 0, 0))
    dilation: tuple[int, int] = opt(pair, (1, 1), "dilation_rate")
    depth_multiplier: int = opt(positive, 1)
    bias: bool = opt(boolean, True, "use_bias")
    activation: str | None = opt(_activation_name, None)

    spatial: ClassVar[bool] = True
    array_keys: ClassVar[tuple[str, ...]] = ("depthwise.weight", "pointwise.weight", "bias")

    def infer(self, shape, fail):
        rows, cols = _windows(self, shape, fail)
        return Inferred(Shape(rows.out, cols.out, self.filters), rows, cols)

    def _per_position(self, c_in: int) -> int:
        kh, kw = self.kernel_size
        mid = c_in * self.depth_multiplier
        return mid * kh * kw + mid * self.filters

    def weights(self, step):
        return self._per_position(step.input.channels) + (self.filters if self.bias else 0), 0

    def macs(self, step):
        out = step.output
        return self._per_position(step.input.channels) * out.height * out.width

    def kernel(self, step):
        mid = step.input.channels * self.depth_multiplier
        return _kernel_text(*self.kernel_size, step.input.channels, self.depth_multiplier) + (
            f" + 1 x 1 x {mid} x {self.filters}"
        )


def _pytorch_padding(value: Any) -> tuple[int, int]:
    if isinstance(value, str):
        raise OptionError(f"expected p or [ph, pw], got {value!r}", "write p or [ph, pw] (PyTorch)")
    return as_pair(_check_ints(value, 0), name="padding", minimum=0)


def _check_ints(value: Any, minimum: int) -> Any:
    for v in value if isinstance(value, list) else [value]:
        _int(v, minimum)
    if isinstance(value, list) and len(value) != 2:
        raise OptionError(f"expected a value or [rows, cols], got {value!r}", "write v or [r, c]")
    return value


def _pair0(value: Any) -> tuple[int, int]:
    return as_pair(_check_ints(value, 0), name="value", minimum=0)


@dataclass(frozen=True, kw_only=True)
class ConvTranspose2d(Layer):
    """Transposed convolution (PyTorch ``ConvTranspose2d``, Keras ``Conv2DTranspose``).

    Output size (PyTorch): ``(n - 1) s - 2 p + d (k - 1) + output_padding + 1``.
    Parameters ``C (F / groups) kh kw + F``; MACs ``C (F / groups) kh kw H W`` (every
    input value is multiplied by every kernel tap once).
    Source: https://pytorch.org/docs/stable/generated/torch.nn.ConvTranspose2d.html
    Receptive field: a stride ``1/s`` layer (Araujo et al., Distill 2019).
    """

    filters: int = opt(positive, dataclasses.MISSING, "out_channels")
    kernel_size: tuple[int, int] = opt(pair, dataclasses.MISSING, "kernel")
    stride: tuple[int, int] = opt(pair, (1, 1), "strides")
    padding: tuple[int, int] = opt(_pytorch_padding, (0, 0))
    output_padding: tuple[int, int] = opt(_pair0, (0, 0))
    dilation: tuple[int, int] = opt(pair, (1, 1), "dilation_rate")
    groups: int = opt(positive, 1)
    bias: bool = opt(boolean, True, "use_bias")
    in_channels: int | None = opt(_int_or_none, None, doc="checked against the input")

    spatial: ClassVar[bool] = True
    array_keys: ClassVar[tuple[str, ...]] = ("weight", "bias")

    def infer(self, shape, fail):
        c = shape.channels
        _check_channels(self, c, fail, f"write in_channels: {c}")
        sizes = []
        for n, k, s, p, op, d in zip(
            (shape.height, shape.width),
            self.kernel_size,
            self.stride,
            self.padding,
            self.output_padding,
            self.dilation,
            strict=True,
        ):
            if op >= max(s, d):
                raise fail(
                    f"output_padding {op} must be smaller than the stride or the dilation",
                    "lower output_padding",
                )
            sizes.append((n - 1) * s - 2 * p + d * (k - 1) + op + 1)
        if min(sizes) < 1:
            raise fail(f"output would be {sizes[0]} x {sizes[1]}", "use less padding")
        return Inferred(Shape(sizes[0], sizes[1], self.filters))

    def _kernel_weights(self, c_in: int) -> int:
        kh, kw = self.kernel_size
        return c_in * (self.filters // self.groups) * kh * kw

    def weights(self, step):
        return self._kernel_weights(step.input.channels) + (self.filters if self.bias else 0), 0

    def macs(self, step):
        return self._kernel_weights(step.input.channels) * step.input.height * step.input.width

    def kernel(self, step):
        return _kernel_text(*self.kernel_size, self.filters // self.groups, step.input.channels)

    def field(self, step, rows, cols):
        out = []
        for axis, k, s, p, d in zip(
            (rows, cols), self.kernel_size, self.stride, self.padding, self.dilation, strict=True
        ):
            # Output o reads inputs i = (o + p - t d) / s: about ceil(k_eff / s) of them,
            # centred on (o + p - (k_eff - 1) / 2) / s.
            k_eff = d * (k - 1) + 1
            out.append(axis.fractional(-(-k_eff // s), s, Fraction(2 * p - (k_eff - 1), 2 * s)))
        return out[0], out[1]


@dataclass(frozen=True, kw_only=True)
class LocallyConnected2d(Layer):
    """Unshared weights: one kernel per output position (Keras ``LocallyConnected2D``).

    Parameters ``Ho Wo F C kh kw + Ho Wo F``; MACs = the weights.
    Source: https://keras.io/2.15/api/layers/locally_connected_layers/locall_connected2d/
    """

    filters: int = opt(positive, dataclasses.MISSING, "out_channels")
    kernel_size: tuple[int, int] = opt(pair, dataclasses.MISSING, "kernel")
    stride: tuple[int, int] = opt(pair, (1, 1), "strides")
    padding: Padding = opt(_lc_padding, "valid")
    bias: bool = opt(boolean, True, "use_bias")
    activation: str | None = opt(_activation_name, None)

    dilation: ClassVar[tuple[int, int]] = (1, 1)
    spatial: ClassVar[bool] = True
    array_keys: ClassVar[tuple[str, ...]] = ("weight", "bias")

    def infer(self, shape, fail):
        rows, cols = _windows(self, shape, fail)
        return Inferred(Shape(rows.out, cols.out, self.filters), rows, cols)

    def _kernel_weights(self, step) -> int:
        kh, kw = self.kernel_size
        out = step.output
        return out.height * out.width * self.filters * step.input.channels * kh * kw

    def weights(self, step):
        out = step.output
        biases = out.height * out.width * self.filters if self.bias else 0
        return self._kernel_weights(step) + biases, 0

    def macs(self, step):
        return self._kernel_weights(step)

    def kernel(self, step):
        return _kernel_text(*self.kernel_size, step.input.channels, self.filters)


@dataclass(frozen=True, kw_only=True)
class Dense(Layer):
    """Fully connected layer (Keras ``Dense``, PyTorch ``Linear``) on the last axis.

    On a flat input of ``C`` features: ``C units + units`` parameters, ``C units`` MACs.
    On an ``H x W x C`` input it acts on the channels at every position (Keras: "the
    dense layer operates on the last axis"; PyTorch ``Linear`` on ``(*, in_features)``):
    same parameters, ``H W C units`` MACs, output ``H x W x units``.
    Sources: https://keras.io/api/layers/core_layers/dense/,
    https://pytorch.org/docs/stable/generated/torch.nn.Linear.html
    """

    units: int = opt(positive, dataclasses.MISSING, "out_features")
    bias: bool = opt(boolean, True, "use_bias")
    in_features: int | None = opt(_int_or_none, None, doc="checked against the input")
    activation: str | None = opt(_activation_name, None)

    array_keys: ClassVar[tuple[str, ...]] = ("weight", "bias")

    def infer(self, shape, fail):
        if self.in_features is not None and self.in_features != shape.channels:
            if not shape.flat and self.in_features == shape.size:
                raise fail(
                    f"in_features is {self.in_features} = {shape} but its input is not flat "
                    f"(a dense layer on {shape} acts on its {shape.channels} channels)",
                    "add '- flatten' before it",
                )
            raise fail(
                f"in_features is {self.in_features} but its input has {shape.channels}",
                f"write in_features: {shape.channels} or fix the layers before it",
            )
        return Inferred(Shape(shape.height, shape.width, self.units, flat=shape.flat))

    def weights(self, step):
        return step.input.channels * self.units + (self.units if self.bias else 0), 0

    def macs(self, step):
        i = step.input
        return i.height * i.width * i.channels * self.units

    def kernel(self, step):
        return _kernel_text(step.input.channels, self.units)


@dataclass(frozen=True, kw_only=True)
class MaxPool2d(Layer):
    """Max pooling with PyTorch's semantics; ``stride`` defaults to the kernel.

    No parameters, no MACs. Source: https://pytorch.org/docs/stable/generated/torch.nn.MaxPool2d.html
    """

    kernel_size: tuple[int, int] = opt(pair, dataclasses.MISSING, "pool_size", "kernel")
    stride: tuple[int, int] | None = opt(_pair_or_none, None, "strides")
    padding: Padding = opt(padding, (0, 0, 0, 0))
    dilation: tuple[int, int] = opt(pair, (1, 1))
    ceil_mode: bool = opt(boolean, False)

    spatial: ClassVar[bool] = True

    def infer(self, shape, fail):
        rows, cols = _windows(self, shape, fail, pool=True)
        return Inferred(Shape(rows.out, cols.out, shape.channels), rows, cols)

    def kernel(self, step):
        return _kernel_text(*self.kernel_size)


@dataclass(frozen=True, kw_only=True)
class AvgPool2d(Layer):
    """Average pooling with PyTorch's semantics; ``stride`` defaults to the kernel.

    No parameters, no MACs. Source: https://pytorch.org/docs/stable/generated/torch.nn.AvgPool2d.html
    """

    kernel_size: tuple[int, int] = opt(pair, dataclasses.MISSING, "pool_size", "kernel")
    stride: tuple[int, int] | None = opt(_pair_or_none, None, "strides")
    padding: Padding = opt(padding, (0, 0, 0, 0))
    ceil_mode: bool = opt(boolean, False)
    count_include_pad: bool = opt(boolean, True)

    dilation: ClassVar[tuple[int, int]] = (1, 1)
    spatial: ClassVar[bool] = True

    infer = MaxPool2d.infer
    kernel = MaxPool2d.kernel


@dataclass(frozen=True, kw_only=True)
class GlobalPool2d(Layer):
    """Pool each channel to one value (Keras ``GlobalAveragePooling2D``).

    The output is flat, or ``1 x 1 x C`` with ``keepdims: true`` (Keras' option). No
    parameters, no MACs; the receptive field: one window the size of the input.
    """

    op: str = "avg"
    keepdims: bool = opt(boolean, False)

    spatial: ClassVar[bool] = True

    def infer(self, shape, fail):
        rows = AxisGeometry(shape.height, shape.height, 1, 1, 0, 0, 1)
        cols = AxisGeometry(shape.width, shape.width, 1, 1, 0, 0, 1)
        return Inferred(Shape(1, 1, shape.channels, flat=not self.keepdims), rows, cols)


@dataclass(frozen=True, kw_only=True)
class AdaptivePool2d(Layer):
    """PyTorch's adaptive pooling to a fixed ``output_size`` (no parameters, no MACs).

    Source: https://pytorch.org/docs/stable/generated/torch.nn.AdaptiveAvgPool2d.html
    """

    op: str = "avg"
    output_size: tuple[int, int] = opt(pair, dataclasses.MISSING)

    spatial: ClassVar[bool] = True

    def infer(self, shape, fail):
        out_h, out_w = self.output_size
        return Inferred(Shape(out_h, out_w, shape.channels))


@dataclass(frozen=True, kw_only=True)
class ZeroPadding2d(Layer):
    """Zero rows and columns around each map (Keras ``ZeroPadding2D``)."""

    padding: Padding = opt(padding, (1, 1, 1, 1))

    spatial: ClassVar[bool] = True

    def infer(self, shape, fail):
        top, bottom, left, right = self.padding
        rows = AxisGeometry(shape.height, 1, 1, 1, top, bottom, shape.height + top + bottom)
        cols = AxisGeometry(shape.width, 1, 1, 1, left, right, shape.width + left + right)
        return Inferred(Shape(rows.out, cols.out, shape.channels), rows, cols)


def _factor(value: Any) -> int | float:
    factor = _number(value)
    if not 0.0 < factor <= 1e4:
        raise OptionError(
            f"must be a number above 0, got {value!r}", "write a factor like 2 or 1.5"
        )
    return int(factor) if factor == int(factor) else factor


def _scale(value: Any) -> tuple[int | float, int | float] | None:
    """``f`` or ``[rows, cols]``: positive numbers, whole or fractional (PyTorch's
    ``scale_factor``); a whole number is kept as an int."""
    if value is None:
        return None
    if isinstance(value, list):
        if len(value) != 2:
            raise OptionError(f"expected f or [rows, cols], got {value!r}", "write 2 or [2, 1.5]")
        return _factor(value[0]), _factor(value[1])
    return _factor(value), _factor(value)


def _as_fraction(value: int | float) -> Fraction:
    """A YAML factor as the exact ratio it stands for (``1.7`` -> 17/10)."""
    return Fraction(value).limit_denominator(10**6)


#: Interpolation modes of ``upsample`` (PyTorch's names; Keras' ``interpolation``).
UPSAMPLE_MODES = ("nearest", "nearest-exact", "bilinear")


@dataclass(frozen=True, kw_only=True)
class Upsample(Layer):
    """Upsampling by ``scale_factor`` (whole or fractional) or to a ``size`` (PyTorch
    ``Upsample``, Keras ``UpSampling2D``); ``mode`` nearest, nearest-exact or bilinear,
    ``align_corners`` for bilinear. No parameters, no MACs.

    Output: ``size``, or ``floor(n * scale_factor)`` per axis (PyTorch). Source
    coordinate of output ``o`` (aten/src/ATen/native/UpSample.h), with ``s`` the
    factor when one is given, else ``out / n``:

    * nearest: input ``floor(o / s)`` (PyTorch's legacy rule);
    * nearest-exact: input ``floor((o + 1/2) / s)``, the rounding of ``(o + 1/2) / s - 1/2``;
    * bilinear: inputs ``floor(c)`` and ``floor(c) + 1`` round ``c = (o + 1/2) / s - 1/2``,
      or with ``align_corners`` ``c = o (n - 1) / (out - 1)`` (the factor only sizes).

    Receptive field (Araujo et al., Distill 2019, "upsampling"): a layer of stride
    ``1/s`` (align_corners: ``(n - 1) / (out - 1)``) whose kernel is the input values
    one output reads, 1 (nearest) or 2 (bilinear), output ``o`` centred on ``c``; for
    nearest on ``o / s + min(0, (1/2) / s - 1/2)`` (at or left of ``o / s``, which it
    floors). Source: https://pytorch.org/docs/stable/generated/torch.nn.Upsample.html
    """

    scale_factor: tuple[int | float, int | float] | None = opt(_scale, None, "size_factor")
    size: tuple[int, int] | None = opt(_pair_or_none, None)
    mode: str = opt(lambda v: _choice(v, UPSAMPLE_MODES), "nearest", "interpolation")
    align_corners: bool = opt(boolean, False)

    spatial: ClassVar[bool] = True

    def infer(self, shape, fail):
        if (self.scale_factor is None) == (self.size is None):
            raise fail("give one of scale_factor and size", "write scale_factor: 2 or size: [h, w]")
        if self.align_corners and self.mode != "bilinear":
            raise fail(
                f"align_corners applies to mode bilinear, not {self.mode}",
                "write mode: bilinear or leave align_corners out",
            )
        if self.size is not None:
            return Inferred(Shape(self.size[0], self.size[1], shape.channels))
        sh, sw = self.scale_factor  # PyTorch: floor(float(n) * scale_factor), in doubles
        height, width = math.floor(shape.height * float(sh)), math.floor(shape.width * float(sw))
        if height < 1 or width < 1:
            raise fail(
                f"scale_factor {self.scale_factor} turns {shape.height} x {shape.width} "
                f"into {height} x {width}",
                "use a larger scale_factor",
            )
        return Inferred(Shape(height, width, shape.channels))

    def field(self, step, rows, cols):
        k = 2 if self.mode == "bilinear" else 1
        factors = (None, None) if self.scale_factor is None else self.scale_factor
        out = []
        for axis, n, o, factor in (
            (rows, step.input.height, step.output.height, factors[0]),
            (cols, step.input.width, step.output.width, factors[1]),
        ):
            out.append(axis.fractional(k, *self._geometry(n, o, factor)))
        return out[0], out[1]

    def _geometry(self, n: int, out: int, factor) -> tuple[Fraction, Fraction]:
        """``(scale, centre)`` of :meth:`AxisField.fractional` along one axis: output
        ``o`` reads round input coordinate ``centre + o / scale``."""
        if self.align_corners:  # one output or one input: every output reads input 0
            return (Fraction(out - 1, n - 1) if n > 1 < out else Fraction(out, n)), Fraction(0)
        s = Fraction(out, n) if factor is None else _as_fraction(factor)
        centre = Fraction(1, 2) / s - Fraction(1, 2)
        if self.mode == "nearest":
            centre = min(centre, Fraction(0))
        return s, centre


def _choice(value: Any, names: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in names:
        raise OptionError(f"expected one of {', '.join(names)}, got {value!r}", f"write {names[0]}")
    return value.lower()


@dataclass(frozen=True, kw_only=True)
class Flatten(Layer):
    """Flatten ``H x W x C`` into ``H*W*C`` features."""

    def infer(self, shape, fail):
        return Inferred(Shape(1, 1, shape.size, flat=True))


@dataclass(frozen=True, kw_only=True)
class Dropout(Layer):
    """Dropout (PyTorch ``Dropout``/``Dropout2d``): no parameters, no shape change."""

    rate: float = opt(_rate, 0.5, "p")
    inplace: bool = opt(boolean, False)


@dataclass(frozen=True, kw_only=True)
class StochasticDepth(Layer):
    """Randomly drops a residual branch while training (torchvision ``StochasticDepth``):
    no parameters, no shape change.

    Source: https://pytorch.org/vision/stable/generated/torchvision.ops.StochasticDepth.html
    """

    rate: float = opt(_rate, 0.0, "p", "drop_rate")
    mode: str = opt(lambda v: _choice(v, ("row", "batch")), "row")


def _check_features(layer, value: int | None, shape: Shape, fail) -> None:
    if value is not None and value != shape.channels:
        raise fail(
            f"num_features is {value} but its input has {shape.channels} channels",
            f"write num_features: {shape.channels}",
        )


@dataclass(frozen=True, kw_only=True)
class BatchNorm2d(Layer):
    """Batch normalisation: ``2C`` trainable (scale, shift), ``2C`` running statistics.

    PyTorch keeps the running mean and variance as buffers (not in ``parameters()``);
    Keras counts them as non-trainable weights. No MACs (torchvision's convention).
    Sources: https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html,
    https://keras.io/api/layers/normalization_layers/batch_normalization/
    """

    num_features: int | None = opt(_int_or_none, None, doc="checked against the input")
    eps: float = opt(_number, 1e-5, "epsilon")
    momentum: float = opt(_number, 0.1)
    affine: bool = opt(boolean, True)
    track_running_stats: bool = opt(boolean, True)

    array_keys: ClassVar[tuple[str, ...]] = ("weight", "bias", "running_mean", "running_var")

    def infer(self, shape, fail):
        _check_features(self, self.num_features, shape, fail)
        return Inferred(shape)

    def weights(self, step):
        c = step.input.channels
        return (2 * c if self.affine else 0), (2 * c if self.track_running_stats else 0)


@dataclass(frozen=True, kw_only=True)
class GroupNorm(Layer):
    """Group normalisation (PyTorch ``GroupNorm``): ``2C`` trainable with ``affine``.

    ``num_groups`` must divide ``C``. Source:
    https://pytorch.org/docs/stable/generated/torch.nn.GroupNorm.html
    """

    num_groups: int = opt(positive, dataclasses.MISSING, "groups")
    num_channels: int | None = opt(_int_or_none, None, doc="checked against the input")
    eps: float = opt(_number, 1e-5, "epsilon")
    affine: bool = opt(boolean, True)

    array_keys: ClassVar[tuple[str, ...]] = ("weight", "bias")

    def infer(self, shape, fail):
        _check_features(self, self.num_channels, shape, fail)
        if shape.channels % self.num_groups:
            raise fail(
                f"num_groups {self.num_groups} does not divide the {shape.channels} channels",
                "choose num_groups that divides the channels",
            )
        return Inferred(shape)

    def weights(self, step):
        return (2 * step.input.channels if self.affine else 0), 0


@dataclass(frozen=True, kw_only=True)
class LayerNorm(Layer):
    """Layer normalisation over the channels at each position, as ConvNeXt uses it
    (PyTorch ``LayerNorm(C)`` on channels-last data, Keras ``LayerNormalization(axis=-1)``).

    ``C`` scales + ``C`` shifts (``elementwise_affine``; the shift dropped with
    ``bias: false``). Source: https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html
    """

    normalized_shape: int | None = opt(_int_or_none, None, doc="checked against the input")
    eps: float = opt(_number, 1e-5, "epsilon")
    elementwise_affine: bool = opt(boolean, True, "scale")
    bias: bool = opt(boolean, True, "center")

    array_keys: ClassVar[tuple[str, ...]] = ("weight", "bias")

    def infer(self, shape, fail):
        _check_features(self, self.normalized_shape, shape, fail)
        return Inferred(shape)

    def weights(self, step):
        c = step.input.channels
        return (c * (1 + self.bias) if self.elementwise_affine else 0), 0


@dataclass(frozen=True, kw_only=True)
class LayerScale(Layer):
    """A learnt scale per channel, ``x * gamma`` (ConvNeXt's ``layer_scale``, Keras
    ``LayerScale``): ``C`` parameters, no MACs counted (an element-wise product).

    Source: torchvision ``CNBlock.layer_scale`` (shape ``(C, 1, 1)``);
    https://keras.io/api/layers/regularization_layers/ (LayerScale).
    """

    init_values: float = opt(_number, 1e-6, "layer_scale")

    array_keys: ClassVar[tuple[str, ...]] = ("weight",)

    def weights(self, step):
        return step.input.channels, 0


def _num_parameters(value: Any) -> int | str:
    if value == "channels":
        return value
    return positive(value)


@dataclass(frozen=True, kw_only=True)
class Activation(Layer):
    """An element-wise activation: no parameters, no shape change, no MACs."""

    function: str = "identity"
    inplace: bool = opt(boolean, False)


@dataclass(frozen=True, kw_only=True)
class LeakyReLU(Activation):
    """Leaky ReLU; ``negative_slope`` is Keras' ``alpha``."""

    negative_slope: float = opt(_number, 0.01, "alpha")


@dataclass(frozen=True, kw_only=True)
class ELU(Activation):
    """ELU; ``alpha`` = 1 by default (PyTorch ``ELU``, Keras ``ELU``)."""

    alpha: float = opt(_number, 1.0)


@dataclass(frozen=True, kw_only=True)
class GELU(Activation):
    """GELU; ``approximate`` none (``x Phi(x)``, erf) or tanh (PyTorch ``GELU``; Keras'
    ``approximate=True``). Source: https://pytorch.org/docs/stable/generated/torch.nn.GELU.html
    """

    approximate: str = opt(lambda v: _choice(v, ("none", "tanh")), "none")


@dataclass(frozen=True, kw_only=True)
class PReLU(Activation):
    """Parametric ReLU: a learnt negative slope. ``num_parameters`` 1 (PyTorch's
    default, one slope shared) or ``channels`` (one per channel, PyTorch
    ``PReLU(num_parameters=C)``, Keras ``PReLU(shared_axes=[1, 2])``).

    Source: https://pytorch.org/docs/stable/generated/torch.nn.PReLU.html
    """

    num_parameters: int | str = opt(_num_parameters, 1)

    array_keys: ClassVar[tuple[str, ...]] = ("weight",)

    def weights(self, step):
        if self.num_parameters == "channels":
            return step.input.channels, 0
        return self.num_parameters, 0


@dataclass(frozen=True, kw_only=True)
class Softmax(Activation):
    """Softmax along one axis (the channels by default)."""

    dim: int = opt(_int_any, -1, "axis")


@dataclass(frozen=True, kw_only=True)
class ChannelShuffle(Layer):
    """Interleave the channels of ``groups`` groups (ShuffleNet; PyTorch
    ``ChannelShuffle``): no parameters, no MACs. ``groups`` must divide ``C``.

    Source: https://pytorch.org/docs/stable/generated/torch.nn.ChannelShuffle.html
    """

    groups: int = opt(positive, dataclasses.MISSING)

    def infer(self, shape, fail):
        if shape.channels % self.groups:
            raise fail(
                f"groups {self.groups} does not divide the {shape.channels} channels",
                "choose groups that divides the channels",
            )
        return Inferred(shape)


@dataclass(frozen=True, kw_only=True)
class ChannelSplit(Layer):
    """Keep part ``index`` of the channels cut into ``parts`` equal parts (ShuffleNet V2's
    ``x.chunk(2, dim=1)``): no parameters, no MACs.

    Source: https://pytorch.org/docs/stable/generated/torch.chunk.html
    """

    parts: int = opt(positive, 2, "chunks", "sections")
    index: int = opt(lambda v: _int(v, 0), 0, "part")

    def infer(self, shape, fail):
        if shape.channels % self.parts or self.index >= self.parts:
            raise fail(
                f"cannot take part {self.index} of {shape.channels} channels in {self.parts} parts",
                "use parts that divide the channels and index < parts",
            )
        return Inferred(Shape(shape.height, shape.width, shape.channels // self.parts, shape.flat))


# Merges of branches: each branch a tuple of layers; an empty branch is the identity.


@dataclass(frozen=True, kw_only=True)
class Merge(Layer):
    """Branches that read the same input, then ``add``, ``concat`` (channels) or
    ``multiply`` their outputs; ``aux`` passes its input through and keeps a side
    branch (an auxiliary classifier).

    * add: all branch outputs equal (PyTorch ``x + y``, Keras ``Add``);
    * multiply: equal, or ``1 x 1 x C`` broadcast over ``H x W x C`` (a
      squeeze-and-excitation gate; Keras ``Multiply``);
    * concat: equal ``H x W``, channels summed (``torch.cat(dim=1)``, Keras
      ``Concatenate``).

    The merge itself has no parameters and no MACs; its branches' layers have
    theirs. The first branch is the *main path* of the receptive field.
    """

    op: str = "add"
    branches: tuple[tuple[str, tuple[Layer, ...]], ...] = ()
    #: ``aux`` only: the side branch runs in training only (torchvision's aux
    #: classifiers), so its MACs are left out of the inference count.
    train_only: bool = False

    def merge(self, outputs: list[tuple[str, Shape, str | None]], shape: Shape, fail) -> Shape:
        """The merged shape of ``(branch, output, last layer or None)`` per branch (an
        identity branch gives ``shape``)."""
        outputs = [(name, out) for name, out, _ in outputs]
        if self.op == "aux":
            return shape
        first_name, first = outputs[0]
        if self.op == "concat":
            for name, out in outputs[1:]:
                if (out.height, out.width, out.flat) != (first.height, first.width, first.flat):
                    raise fail(
                        f"branch '{name}' ends in {out} but branch '{first_name}' in {first}: "
                        "concat needs equal height and width",
                        "make the strides and paddings of the branches agree",
                    )
            return Shape(first.height, first.width, sum(o.channels for _, o in outputs), first.flat)
        full = max((o for _, o in outputs), key=lambda o: o.size)
        for name, out in outputs:
            broadcast = self.op == "multiply" and out.size == out.channels == full.channels
            if out != full and not broadcast:
                other = next(n for n, o in outputs if o == full)
                raise fail(
                    f"branch '{name}' ends in {out} but branch '{other}' in {full}",
                    "make the shapes agree, e.g. a shortcut 1x1 conv2d with the body's stride "
                    "and filters"
                    + (" (multiply also takes 1 x 1 x C)" if self.op == "multiply" else ""),
                )
        return full


@dataclass(frozen=True, kw_only=True)
class Residual(Merge):
    """``body(x) + shortcut(x)``; an empty shortcut is the identity."""

    def merge(self, outputs, shape, fail):
        (_, body, body_last), (_, short, short_last) = outputs
        if body != short:
            short_desc = f"'{short_last}'" if short_last else "the identity"
            raise fail(
                f"the body ends in {body} (layer '{body_last}') but the shortcut in "
                f"{short} ({short_desc})",
                "make the shapes agree, e.g. a shortcut 1x1 conv2d with the body's stride and "
                "filters",
            )
        return body

    @property
    def body(self) -> tuple[Layer, ...]:
        return self.branches[0][1]

    @property
    def shortcut(self) -> tuple[Layer, ...]:
        return self.branches[1][1] if len(self.branches) > 1 else ()


@dataclass(frozen=True, kw_only=True)
class Block(Layer):
    """One use of a block defined under ``blocks:`` (its layers in sequence), kept as a
    group so that the summary can indent and collapse it (``--depth``)."""

    block: str = ""
    layers: tuple[Layer, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Imported(Layer):
    """A node of a model file (ONNX, Keras) with no ``arch.yaml`` layer kind: its output
    shape is the one the file's shape inference gave, its parameters those of its
    weights (:attr:`Layer.counted`), its MACs ``mac_count`` (0 unless the importer
    knows the op's arithmetic, e.g. a ``MatMul`` with a constant operand).

    ``known`` is false for an op the importer does not know: the table marks its row
    and a warning names it. ``output_shape`` ``None`` passes the input shape on.
    """

    op: str = ""
    output_shape: Shape | None = None
    mac_count: int = 0
    known: bool = True

    def infer(self, shape, fail):
        return Inferred(self.output_shape if self.output_shape is not None else shape)

    def macs(self, step):
        return self.mac_count


ACTIVATIONS = (
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "hardswish",
    "hardsigmoid",
    "sigmoid",
    "tanh",
    "softmax",
    "softplus",
    "mish",
    "prelu",
    "identity",
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

# Other spellings, compared after lower-casing and removing underscores.
_ALIASES = {
    "conv": "conv2d",
    "convolution2d": "conv2d",
    "depthwiseconv2d": "depthwise_conv2d",
    "separableconv2d": "separable_conv2d",
    "convtranspose2d": "conv_transpose2d",
    "conv2dtranspose": "conv_transpose2d",
    "deconv2d": "conv_transpose2d",
    "locallyconnected2d": "locally_connected2d",
    "linear": "dense",
    "maxpooling2d": "maxpool2d",
    "averagepooling2d": "avgpool2d",
    "avgpooling2d": "avgpool2d",
    "globalaveragepooling2d": "global_avgpool2d",
    "globalmaxpooling2d": "global_maxpool2d",
    "batchnormalization": "batchnorm2d",
    "groupnormalization": "groupnorm",
    "layernormalization": "layernorm",
    "upsampling2d": "upsample",
    "dropout2d": "dropout",
    "swish": "silu",
    "hardswish": "hardswish",
    "hardsigmoid": "hardsigmoid",
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
