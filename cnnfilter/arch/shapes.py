"""Follow a tensor through a parsed network: every layer's input and output shape.

The shape rule of each layer kind lives on its class (:meth:`Layer.infer
<cnnfilter.arch.layers.base.Layer.infer>`); this module walks the tree. Every
sliding-window layer gets its output size from
:func:`cnnfilter.engine.geometry.resolve_axes`, the geometry the ``apply`` and
``pool`` commands use; ``padding: same`` follows TensorFlow's rule. The
resolved per-axis geometry is kept on each :class:`Step` so that the
parameter and receptive-field calculators never recompute it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cnnfilter.arch.layers.base import Layer, Network, Shape, layer_error
from cnnfilter.arch.layers.structure import Block, Merge
from cnnfilter.engine.geometry import AxisGeometry

__all__ = ["Step", "Trace", "trace"]


@dataclass(frozen=True)
class Step:
    """One layer with the shapes it sees and makes.

    ``rows`` and ``cols`` hold the resolved window geometry (kernel, stride,
    dilation, padding before/after, output size) of windowed layers, zero
    padding and global pooling; ``None`` for the others. A merge keeps its
    branches' steps in ``branches`` (``(name, steps)`` pairs); a block use keeps
    its layers' steps as one branch named ``""``.
    """

    layer: Layer
    input: Shape
    output: Shape
    rows: AxisGeometry | None = None
    cols: AxisGeometry | None = None
    branches: tuple[tuple[str, tuple[Step, ...]], ...] = ()

    @property
    def body(self) -> tuple[Step, ...]:
        """The first branch's steps (a residual's body)."""
        return self.branches[0][1] if self.branches and isinstance(self.layer, Merge) else ()

    @property
    def shortcut(self) -> tuple[Step, ...]:
        """The second branch's steps (a residual's shortcut)."""
        return self.branches[1][1] if len(self.branches) > 1 else ()

    @property
    def kind(self) -> str:
        """What the table shows as its type: the merge op, the block name, else the type."""
        if isinstance(self.layer, Merge):
            return self.layer.op
        if isinstance(self.layer, Block):
            return self.layer.block
        return self.layer.type


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
        """``(depth, step)`` in display order: a group's layers, then the group's row."""
        return _walk(self.steps, 0)


def _walk(steps: tuple[Step, ...], depth: int) -> Iterator[tuple[int, Step]]:
    for step in steps:
        for _, branch in step.branches:
            yield from _walk(branch, depth + 1)
        yield depth, step


def trace(network: Network) -> Trace:
    """Resolve the output shape of every layer of ``network``.

    Raises:
        UsageError: a layer cannot take its input: an output of size zero, a
            spatial layer on a flat input, a channel count that does not match
            ``in_channels`` / ``in_features`` / ``num_features`` / ``groups``, or
            branches whose shapes do not merge. The message names the file,
            line, layer and fix.

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


def _step(layer: Layer, shape: Shape, source: str) -> Step:
    def fail(problem: str, fix: str):
        return layer_error(source, layer, problem, fix)

    if isinstance(layer, Block):
        inner = _steps(layer.layers, shape, source)
        return Step(layer, shape, inner[-1].output if inner else shape, branches=(("", inner),))
    if isinstance(layer, Merge):
        branches = tuple((name, _steps(ls, shape, source)) for name, ls in layer.branches)
        outputs = [
            (name, steps[-1].output, steps[-1].layer.name) if steps else (name, shape, None)
            for name, steps in branches
        ]
        return Step(layer, shape, layer.merge(outputs, shape, fail), branches=branches)
    if layer.spatial and shape.flat:
        raise fail(
            f"needs an H x W x C input but gets the flat {shape}",
            "move it before the flatten, dense or global pooling layer",
        )
    inferred = layer.infer(shape, fail)
    return Step(layer, shape, inferred.output, inferred.rows, inferred.cols)
