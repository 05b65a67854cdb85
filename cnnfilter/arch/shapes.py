"""Follow a tensor through a parsed network: every layer's input and output shape.

Every sliding-window layer (convolutions, pooling, zero padding) gets its
output size from :func:`cnnfilter.engine.geometry.output_size`, the formula
the ``apply`` and ``pool`` commands use; ``padding: same`` follows
TensorFlow's rule (:func:`~cnnfilter.engine.geometry.same_padding`). The
resolved per-axis geometry is kept on each :class:`Step` so that the
parameter and receptive-field calculators never recompute it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cnnfilter.arch.layers import (
    AdaptivePool2d,
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Flatten,
    GlobalPool2d,
    Layer,
    LocallyConnected2d,
    MaxPool2d,
    Network,
    Residual,
    Shape,
    ZeroPadding2d,
    layer_error,
)
from cnnfilter.engine.geometry import AxisGeometry, output_size, same_padding

__all__ = ["Step", "Trace", "trace"]

_WINDOWED = (Conv2d, DepthwiseConv2d, LocallyConnected2d, MaxPool2d, AvgPool2d)


@dataclass(frozen=True)
class Step:
    """One layer with the shapes it sees and makes.

    ``rows`` and ``cols`` hold the resolved window geometry (kernel, stride,
    dilation, padding before/after, output size) of windowed layers, zero
    padding and global pooling; ``None`` for the others. A residual step keeps
    its branches in ``body`` and ``shortcut``; its ``output`` is their sum.
    """

    layer: Layer
    input: Shape
    output: Shape
    rows: AxisGeometry | None = None
    cols: AxisGeometry | None = None
    body: tuple[Step, ...] = ()
    shortcut: tuple[Step, ...] = ()


@dataclass(frozen=True)
class Trace:
    """A network with every layer's shapes resolved (see :func:`trace`)."""

    network: Network
    steps: tuple[Step, ...]

    @property
    def output(self) -> Shape:
        """The network's output shape."""
        return self.steps[-1].output

    def walk(self) -> Iterator[tuple[int, Step]]:
        """``(depth, step)`` in display order: a residual's branches, then its sum."""
        return _walk(self.steps, 0)


def _walk(steps: tuple[Step, ...], depth: int) -> Iterator[tuple[int, Step]]:
    for step in steps:
        yield from _walk(step.body, depth + 1)
        yield from _walk(step.shortcut, depth + 1)
        yield depth, step


def trace(network: Network) -> Trace:
    """Resolve the output shape of every layer of ``network``.

    Raises:
        UsageError: a layer cannot take its input: an output of size zero, a
            dense layer on an unflattened input, a spatial layer on a flat one,
            a channel count that does not match ``in_channels`` /
            ``num_features`` / ``groups``, or residual branches whose shapes
            differ. The message names the file, line, layer and fix.

    >>> from cnnfilter.arch.parse import parse_network
    >>> net = parse_network("input: [32, 32, 3]\\nlayers: [conv2d: {filters: 8, kernel_size: 5}]")
    >>> str(trace(net).output)
    '28 x 28 x 8'
    """
    return Trace(network, _steps(network.layers, network.input, network.source))


def _steps(layers: tuple[Layer, ...], shape: Shape, source: str) -> tuple[Step, ...]:
    steps = []
    for layer in layers:
        step = _step(layer, shape, source)
        steps.append(step)
        shape = step.output
    return tuple(steps)


def _step(layer: Layer, shape: Shape, source: str) -> Step:  # noqa: C901  (helper B splits it)
    def error(problem: str, fix: str):
        return layer_error(source, layer, problem, fix)

    if isinstance(layer, Residual):
        return _residual(layer, shape, source)
    if isinstance(layer, Dense):
        if not shape.flat:
            raise error(f"needs a flat input but gets {shape}", "add '- flatten' before it")
        if layer.in_features is not None and layer.in_features != shape.channels:
            raise error(
                f"in_features is {layer.in_features} but its input has {shape.channels}",
                f"write in_features: {shape.channels} or fix the layers before it",
            )
        return Step(layer, shape, Shape(1, 1, layer.units, flat=True))
    if isinstance(layer, Flatten):
        return Step(layer, shape, Shape(1, 1, shape.size, flat=True))
    if isinstance(layer, BatchNorm2d):
        if layer.num_features is not None and layer.num_features != shape.channels:
            raise error(
                f"num_features is {layer.num_features} but its input has {shape.channels} channels",
                f"write num_features: {shape.channels}",
            )
        return Step(layer, shape, shape)
    if not isinstance(layer, _WINDOWED + (ZeroPadding2d, GlobalPool2d, AdaptivePool2d)):
        return Step(layer, shape, shape)  # activations, dropout: element-wise
    if shape.flat:
        raise error(
            f"needs an H x W x C input but gets the flat {shape}",
            "move it before the flatten, dense or global pooling layer",
        )
    if isinstance(layer, GlobalPool2d):
        rows = AxisGeometry(shape.height, shape.height, 1, 1, 0, 0, 1)
        cols = AxisGeometry(shape.width, shape.width, 1, 1, 0, 0, 1)
        return Step(layer, shape, Shape(1, 1, shape.channels, flat=True), rows, cols)
    if isinstance(layer, AdaptivePool2d):
        out_h, out_w = layer.output_size
        return Step(layer, shape, Shape(out_h, out_w, shape.channels))
    if isinstance(layer, ZeroPadding2d):
        top, bottom, left, right = layer.padding
        rows = AxisGeometry(shape.height, 1, 1, 1, top, bottom, shape.height + top + bottom)
        cols = AxisGeometry(shape.width, 1, 1, 1, left, right, shape.width + left + right)
        return Step(layer, shape, Shape(rows.out, cols.out, shape.channels), rows, cols)
    rows, cols = _windows(layer, shape, error)
    return Step(layer, shape, Shape(rows.out, cols.out, _channels(layer, shape, error)), rows, cols)


def _windows(layer, shape: Shape, error) -> tuple[AxisGeometry, AxisGeometry]:
    """Resolve padding and output size along rows and along columns."""
    stride = layer.stride if layer.stride is not None else layer.kernel_size
    ceil_mode = getattr(layer, "ceil_mode", False)
    pads = layer.padding
    axes = []
    for axis, n in enumerate((shape.height, shape.width)):
        k, s, d = layer.kernel_size[axis], stride[axis], layer.dilation[axis]
        if pads == "same":
            before, after = same_padding(n, k, stride=s, dilation=d)
        elif pads == "valid":
            before = after = 0
        else:
            before, after = pads[2 * axis], pads[2 * axis + 1]
            if isinstance(layer, MaxPool2d | AvgPool2d) and max(before, after) > k // 2:
                raise error(
                    f"padding {max(before, after)} is more than half the kernel {k} "
                    "(PyTorch refuses it)",
                    f"use padding <= {k // 2}",
                )
        out = output_size(n, k, stride=s, padding=(before, after), dilation=d, ceil_mode=ceil_mode)
        axes.append(AxisGeometry(n, k, s, d, before, after, out))
    rows, cols = axes
    if rows.out < 1 or cols.out < 1:
        span = tuple(
            d * (k - 1) + 1 for k, d in zip(layer.kernel_size, layer.dilation, strict=True)
        )
        raise error(
            f"output would be {rows.out} x {cols.out}: input {shape.height} x {shape.width} "
            f"with padding {rows.pad_before + rows.pad_after} x {cols.pad_before + cols.pad_after} "
            f"is smaller than the kernel span {span[0]} x {span[1]}",
            "use a smaller kernel, stride or dilation, more padding, or a larger input",
        )
    return rows, cols


def _channels(layer, shape: Shape, error) -> int:
    c = shape.channels
    if isinstance(layer, Conv2d):
        if layer.in_channels is not None and layer.in_channels != c:
            raise error(
                f"in_channels is {layer.in_channels} but its input has {c} channels",
                f"write in_channels: {c} or fix the layers before it",
            )
        if c % layer.groups or layer.filters % layer.groups:
            raise error(
                f"groups {layer.groups} must divide the input channels {c} and the "
                f"filters {layer.filters}",
                "choose groups that divide both",
            )
        return layer.filters
    if isinstance(layer, DepthwiseConv2d):
        return c * layer.depth_multiplier
    if isinstance(layer, LocallyConnected2d):
        return layer.filters
    return c  # pooling


def _residual(layer: Residual, shape: Shape, source: str) -> Step:
    body = _steps(layer.body, shape, source)
    shortcut = _steps(layer.shortcut, shape, source)
    out_body = body[-1].output
    out_short = shortcut[-1].output if shortcut else shape
    if out_body != out_short:
        short_desc = f"'{shortcut[-1].layer.name}'" if shortcut else "the identity"
        raise layer_error(
            source,
            layer,
            f"the body ends in {out_body} (layer '{body[-1].layer.name}') but the shortcut in "
            f"{out_short} ({short_desc})",
            "make the shapes agree, e.g. a shortcut 1x1 conv2d with the body's stride and filters",
        )
    return Step(layer, shape, out_body, body=body, shortcut=shortcut)
