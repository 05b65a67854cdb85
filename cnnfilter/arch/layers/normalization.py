"""Normalisation layer kinds: batchnorm, groupnorm, layernorm and layer_scale (their
learnt scales and shifts, and batchnorm's running statistics)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from cnnfilter.arch.layers.base import Inferred, Layer, Shape
from cnnfilter.arch.layers.options import _int_or_none, _number, boolean, opt, positive


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
