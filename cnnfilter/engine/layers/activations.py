"""Activation functions, element-wise (softmax over the channels), float32, and their
table :data:`ACTIVATIONS` (name -> function)."""

from __future__ import annotations

import math

import numpy as np

from cnnfilter.engine.layers.base import F32, _vector, as_map
from cnnfilter.errors import UsageError

# ----------------------------------------------------------------- activations


def relu(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)``."""
    return np.maximum(as_map(x, ndim=(1, 2, 3)), F32(0))


def relu6(x: np.ndarray) -> np.ndarray:
    """``min(max(x, 0), 6)`` (MobileNet)."""
    return np.clip(as_map(x, ndim=(1, 2, 3)), F32(0), F32(6))


def leaky_relu(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """``x`` where ``x >= 0``, else ``negative_slope * x`` (PyTorch's default slope 0.01)."""
    x = as_map(x, ndim=(1, 2, 3))
    return np.where(x >= 0, x, x * F32(negative_slope))


def elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """``x`` where ``x > 0``, else ``alpha (exp(x) - 1)`` (Clevert et al. 2016)."""
    x = as_map(x, ndim=(1, 2, 3))
    return np.where(x > 0, x, F32(alpha) * np.expm1(np.minimum(x, F32(0))))


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """Gaussian error linear unit (Hendrycks & Gimpel 2016), as ``torch.nn.GELU``.

    ``approximate="none"``: ``x Phi(x) = x (1 + erf(x / sqrt 2)) / 2`` with
    scipy.special.erf (a ufunc, float32 in and out; ``math.erf`` is one
    Python call per value, about 1000x slower on a feature map, and SciPy is
    already a dependency); ``"tanh"``: ``x (1 + tanh(sqrt(2/pi) (x + 0.044715
    x^3))) / 2``.

    Raises:
        UsageError: another ``approximate``.
    """
    x = as_map(x, ndim=(1, 2, 3))
    if approximate == "none":
        from scipy.special import erf

        return (F32(0.5) * x * (F32(1) + erf(x * F32(1 / math.sqrt(2))))).astype(F32)
    if approximate == "tanh":
        inner = F32(math.sqrt(2 / math.pi)) * (x + F32(0.044715) * x * x * x)
        return F32(0.5) * x * (F32(1) + np.tanh(inner))
    raise UsageError(f"approximate must be 'none' or 'tanh', got {approximate!r}")


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` (scipy.special.expit: no overflow for large ``|x|``)."""
    from scipy.special import expit

    return expit(as_map(x, ndim=(1, 2, 3)))


def silu(x: np.ndarray) -> np.ndarray:
    """``x sigmoid(x)`` (SiLU / swish)."""
    x = as_map(x, ndim=(1, 2, 3))
    return x * sigmoid(x)


def hardsigmoid(x: np.ndarray) -> np.ndarray:
    """``relu6(x + 3) / 6`` (MobileNetV3, PyTorch's form)."""
    x = as_map(x, ndim=(1, 2, 3))
    return np.clip(x + F32(3), F32(0), F32(6)) / F32(6)


def hardswish(x: np.ndarray) -> np.ndarray:
    """``x relu6(x + 3) / 6`` (MobileNetV3)."""
    x = as_map(x, ndim=(1, 2, 3))
    return x * np.clip(x + F32(3), F32(0), F32(6)) / F32(6)


def tanh(x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent."""
    return np.tanh(as_map(x, ndim=(1, 2, 3)))


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the channels (the last axis; PyTorch's ``dim=1`` of N x C x H x W).

    ``exp(x - max) / sum exp(x - max)``: the maximum is subtracted first, so
    no overflow.
    """
    x = as_map(x, ndim=(1, 2, 3))
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def prelu(x: np.ndarray, weight: np.ndarray | float) -> np.ndarray:
    """``x`` where ``x >= 0``, else ``weight * x`` (He et al. 2015); one weight or ``(C,)``.

    Raises:
        UsageError: ``weight`` neither one value nor one per channel.
    """
    x = as_map(x, ndim=(1, 2, 3))
    w = np.asarray(weight, dtype=F32).reshape(-1)
    if w.size != 1:
        w = _vector(w, x.shape[-1], "weight")
    return np.where(x >= 0, x, x * w)


def softplus(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """``log(1 + exp(beta x)) / beta``, and ``x`` where ``beta x > threshold``
    (``torch.nn.Softplus``'s defaults and rule); ``np.logaddexp`` avoids the overflow."""
    x = as_map(x, ndim=(1, 2, 3))
    bx = x * F32(beta)
    return np.where(bx > threshold, x, np.logaddexp(F32(0), bx) / F32(beta)).astype(F32)


def mish(x: np.ndarray) -> np.ndarray:
    """``x tanh(softplus(x))`` (Misra 2019; ``torch.nn.Mish``)."""
    x = as_map(x, ndim=(1, 2, 3))
    return (x * np.tanh(np.logaddexp(F32(0), x))).astype(F32)


#: Activation name -> function (element-wise, or over the channels for softmax).
ACTIVATIONS = {
    "relu": relu,
    "relu6": relu6,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "gelu": gelu,
    "silu": silu,
    "hardswish": hardswish,
    "hardsigmoid": hardsigmoid,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "softplus": softplus,
    "mish": mish,
    "prelu": prelu,
}
