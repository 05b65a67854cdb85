"""Pooling and resampling layer kinds: max and average pooling, global and adaptive
pooling, zero padding and upsampling (no parameters, no MACs; their windows shape the
receptive field)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

from cnnfilter.arch.layers.base import Inferred, Layer, Shape, _kernel_text, _windows
from cnnfilter.arch.layers.options import (
    OptionError,
    Padding,
    _choice,
    _number,
    _pair_or_none,
    boolean,
    opt,
    padding,
    pair,
)
from cnnfilter.engine.geometry import AxisGeometry


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
