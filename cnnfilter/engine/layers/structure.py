"""Layers that reshape or combine maps: :func:`dense`, :func:`flatten`, the merges of
branches (:func:`add`, :func:`multiply`, :func:`concat`), :func:`channel_shuffle` and
:func:`dropout` (the identity at inference)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnnfilter.engine.layers.base import F32, _vector, as_map
from cnnfilter.errors import UsageError

# ----------------------------------------------------------------- dense and shape


def dense(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``torch.nn.Linear`` on the last axis: ``x @ weight.T + bias``.

    Args:
        x: ``(..., in)``, e.g. ``(N,)`` after :func:`flatten` or ``(H, W,
            C)`` (then it is a 1 x 1 convolution).
        weight: ``(out, in)``, PyTorch's layout (Keras' ``(in, out)``:
            :func:`keras_to_torch`).
        bias: ``(out,)`` or None.

    Returns:
        ``(..., out)`` float32.

    Raises:
        UsageError: ``weight``'s ``in`` differs from ``x``'s last axis.
    """
    x = as_map(x, ndim=(1, 2, 3))
    w = np.asarray(weight, dtype=F32)
    if w.ndim != 2 or w.shape[1] != x.shape[-1]:
        raise UsageError(
            f"weight must be (out, in={x.shape[-1]}) for an input of {x.shape}, got {w.shape}"
        )
    y = x @ w.T
    if bias is not None:
        y = y + _vector(bias, w.shape[0], "bias")
    return y


def flatten(x: np.ndarray, order: str = "chw") -> np.ndarray:
    """``(H, W, C)`` -> ``(H W C,)`` in the order a following dense layer's weights expect.

    ``order="chw"``: channel by channel, each row by row -- what
    ``torch.flatten`` gives on PyTorch's ``C x H x W`` tensors, so a
    ``Linear`` weight trained in PyTorch needs it. ``order="hwc"``: pixel by
    pixel, all channels of a pixel together -- Keras' ``Flatten`` on its
    channels-last ``H x W x C`` tensors (and NumPy's own ``ravel``). The same
    numbers in another order would silently scramble the dense layer.

    Raises:
        UsageError: another ``order``.
    """
    x = as_map(x, ndim=(1, 2, 3))
    if order == "chw":
        return np.ascontiguousarray(np.moveaxis(x, -1, 0)).reshape(-1)
    if order == "hwc":
        return x.reshape(-1)
    raise UsageError(f"order must be 'chw' (PyTorch) or 'hwc' (Keras), got {order!r}")


def _same_shapes(name: str, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    maps = [as_map(a, name=name, ndim=(1, 2, 3)) for a in arrays]
    if not maps:
        raise UsageError(f"{name} needs at least one input")
    shapes = {m.shape for m in maps}
    if len(shapes) > 1:
        raise UsageError(f"{name} needs inputs of one shape, got {sorted(shapes)}")
    return maps


def add(*arrays: np.ndarray) -> np.ndarray:
    """Element-wise sum of maps of one shape (a residual connection)."""
    maps = _same_shapes("add", arrays)
    out = maps[0].copy()
    for m in maps[1:]:
        out += m
    return out


def multiply(*arrays: np.ndarray) -> np.ndarray:
    """Element-wise product of maps of one shape (attention gates, squeeze-excitation)."""
    maps = _same_shapes("multiply", arrays)
    out = maps[0].copy()
    for m in maps[1:]:
        out *= m
    return out


def concat(*arrays: np.ndarray) -> np.ndarray:
    """Maps of one ``H x W`` stacked along the channels (``torch.cat(dim=1)``), in order.

    Raises:
        UsageError: no input, or inputs of different ``H x W``.
    """
    maps = [as_map(a, name="concat") for a in arrays]
    if not maps:
        raise UsageError("concat needs at least one input")
    sizes = {m.shape[:2] for m in maps}
    if len(sizes) > 1:
        raise UsageError(f"concat needs inputs of one H x W, got {sorted(sizes)}")
    return np.concatenate(maps, axis=-1)


def channel_shuffle(x: np.ndarray, groups: int) -> np.ndarray:
    """ShuffleNet's channel shuffle (``torch.nn.ChannelShuffle``) of ``(H, W, C)``.

    Channels viewed as ``(groups, C / groups)``, transposed, flattened: output
    channel ``i * groups + k`` is input channel ``k * (C / groups) + i``.

    Raises:
        UsageError: ``groups`` does not divide the channels.

    >>> channel_shuffle(np.arange(6).reshape(1, 1, 6), 2)[0, 0]
    array([0., 3., 1., 4., 2., 5.], dtype=float32)
    """
    x = as_map(x)
    h, w, c = x.shape
    if not (isinstance(groups, int) and groups >= 1 and c % groups == 0):
        raise UsageError(f"groups={groups!r} must be an integer dividing the channels ({c})")
    return np.ascontiguousarray(x.reshape(h, w, groups, c // groups).transpose(0, 1, 3, 2)).reshape(
        h, w, c
    )


def dropout(x: np.ndarray, p: float = 0.5) -> np.ndarray:
    """Identity: dropout does nothing at inference (PyTorch's ``eval()``), ``p`` is ignored."""
    return as_map(x, ndim=(1, 2, 3))
