"""Normalisation layers on one ``(H, W, C)`` map: batch, group and layer normalisation, and
the per-channel layer scale (PyTorch's formulas, float32)."""

from __future__ import annotations

import numpy as np

from cnnfilter.engine.layers.base import F32, _vector, as_map
from cnnfilter.errors import UsageError

# ----------------------------------------------------------------- normalisation


def batchnorm(
    x: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    *,
    eps: float = 1e-5,
) -> np.ndarray:
    """Batch normalisation at inference (``torch.nn.BatchNorm2d`` in ``eval()`` mode).

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel (last
    axis), with the stored running statistics; computed as one scale and one
    shift per channel, as PyTorch does. ``weight``/``bias`` None mean 1 / 0
    (``affine=False``).

    Args:
        x: ``(..., C)``.
        running_mean, running_var, weight, bias: ``(C,)``.
        eps: added to the variance (PyTorch's default 1e-5; Keras' 1e-3).

    Returns:
        Same shape as ``x``, float32.

    Raises:
        UsageError: a vector of the wrong length, or a negative variance.
    """
    x = as_map(x, ndim=(1, 2, 3))
    c = x.shape[-1]
    var = _vector(running_var, c, "running_var").astype(np.float64)
    if (var < 0).any():
        raise UsageError("running_var must be >= 0 (it is a variance)")
    scale = 1.0 / np.sqrt(var + eps)
    if weight is not None:
        scale = scale * _vector(weight, c, "weight")
    shift = -_vector(running_mean, c, "running_mean") * scale
    if bias is not None:
        shift = shift + _vector(bias, c, "bias")
    out = x * scale.astype(F32)
    out += shift.astype(F32)
    return out


def group_norm(
    x: np.ndarray,
    num_groups: int,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    *,
    eps: float = 1e-5,
) -> np.ndarray:
    """Group normalisation (Wu & He 2018; ``torch.nn.GroupNorm``) of one ``(H, W, C)`` map.

    The channels are cut into ``num_groups`` consecutive groups; each group's
    ``H W C / G`` values are normalised by their own mean and biased
    variance: ``y = (x - mean_g) / sqrt(var_g + eps) * weight[c] + bias[c]``.
    Statistics in float64. ``num_groups = 1`` is LayerNorm over (H, W, C);
    ``num_groups = C`` is InstanceNorm.

    Raises:
        UsageError: ``num_groups`` does not divide the channels, vectors of the wrong length.
    """
    x = as_map(x)
    h, w, c = x.shape
    if not (isinstance(num_groups, int) and num_groups >= 1 and c % num_groups == 0):
        raise UsageError(
            f"num_groups={num_groups!r} must be an integer dividing the channels ({c})"
        )
    g = x.reshape(h * w, num_groups, c // num_groups).astype(np.float64)
    mean = g.mean(axis=(0, 2), keepdims=True)
    var = ((g - mean) ** 2).mean(axis=(0, 2), keepdims=True)
    y = ((g - mean) / np.sqrt(var + eps)).reshape(h, w, c)
    if weight is not None:
        y = y * _vector(weight, c, "weight")
    if bias is not None:
        y = y + _vector(bias, c, "bias")
    return y.astype(F32)


def layer_norm(
    x: np.ndarray,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    *,
    eps: float = 1e-5,
) -> np.ndarray:
    """Layer normalisation over the channels at each position (``torch.nn.LayerNorm(C)`` on
    channels-last data, ConvNeXt's use; Keras ``LayerNormalization(axis=-1)``).

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, mean and biased
    variance over the last axis (Ba et al. 2016), in float64.

    Args:
        x: ``(..., C)``.
        weight, bias: ``(C,)`` or None (1 / 0).

    Raises:
        UsageError: vectors of the wrong length.
    """
    x = as_map(x, ndim=(1, 2, 3))
    c = x.shape[-1]
    v = x.astype(np.float64)
    mean = v.mean(axis=-1, keepdims=True)
    var = ((v - mean) ** 2).mean(axis=-1, keepdims=True)
    y = (v - mean) / np.sqrt(var + eps)
    if weight is not None:
        y = y * _vector(weight, c, "weight")
    if bias is not None:
        y = y + _vector(bias, c, "bias")
    return y.astype(F32)


def layer_scale(x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """``x * gamma`` per channel (ConvNeXt's layer scale, Touvron et al. 2021 "CaiT").

    Raises:
        UsageError: ``gamma`` not one value per channel.
    """
    x = as_map(x, ndim=(1, 2, 3))
    return x * _vector(gamma, x.shape[-1], "gamma")
