"""Activation layer kinds: element-wise, no shape change, no MACs; PReLU's learnt slopes
are the only parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from cnnfilter.arch.layers.base import Layer
from cnnfilter.arch.layers.options import _choice, _int_any, _number, boolean, opt, positive


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
