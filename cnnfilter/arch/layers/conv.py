"""Convolution layer kinds: conv2d, depthwise, separable, transposed and locally connected
convolutions, each with its shape, parameter, MAC and receptive-field rules."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

from cnnfilter.arch.layers.base import Inferred, Layer, Shape, _kernel_text, _windows
from cnnfilter.arch.layers.options import (
    OptionError,
    Padding,
    _activation_name,
    _int,
    _int_or_none,
    _kernel_names,
    _lc_padding,
    boolean,
    opt,
    padding,
    pair,
    positive,
)
from cnnfilter.engine.geometry import as_pair


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
    activation: str | None = opt(
        _activation_name, None, doc="no parameters; forward applies it after the layer, as Keras"
    )
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
