"""Structure layer kinds: dense, flatten, dropout and stochastic depth, channel shuffle and
split, merges of branches (add, concat, multiply, aux; residual), uses of a block, and the
nodes of model files with no ``arch.yaml`` kind (:class:`Imported`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from cnnfilter.arch.layers.base import Inferred, Layer, Shape, _kernel_text
from cnnfilter.arch.layers.options import (
    _activation_name,
    _choice,
    _int,
    _int_or_none,
    _rate,
    boolean,
    opt,
    positive,
)


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
