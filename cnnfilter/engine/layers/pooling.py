"""Pooling and resampling layers on one ``(H, W, C)`` map: max and average pooling (through
:mod:`cnnfilter.engine.pooling`), adaptive and global pooling, and :func:`upsample`
(nearest, nearest-exact, bilinear; PyTorch's source coordinates)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cnnfilter.engine.geometry import as_pair
from cnnfilter.engine.layers.base import F32, IntPair, as_map
from cnnfilter.engine.pooling import pool2d, pool_spec
from cnnfilter.errors import UsageError

# ----------------------------------------------------------------- pooling


def max_pool2d(
    x: np.ndarray,
    kernel_size: IntPair,
    *,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """``torch.nn.MaxPool2d`` on ``(H, W, C)``: the engine's pooling (PyTorch-exact).

    All channels at once; output size, ``-inf`` padding, ``ceil_mode`` and
    PyTorch's ``padding <= k // 2`` rule as that module documents.
    """
    spec = pool_spec(
        "max", kernel_size, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode
    )
    return pool2d(as_map(x), spec)


def avg_pool2d(
    x: np.ndarray,
    kernel_size: IntPair,
    *,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """``torch.nn.AvgPool2d`` on ``(H, W, C)``: the engine's pooling (PyTorch's divisor rule)."""
    spec = pool_spec(
        "avg", kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
    )  # fmt: skip
    return pool2d(as_map(x), spec).astype(F32, copy=False)


def adaptive_ranges(n: int, out: int) -> list[tuple[int, int]]:
    """The ``[start, end)`` windows of adaptive pooling ``n -> out`` along one axis.

    ``start = floor(i n / out)``, ``end = ceil((i + 1) n / out)``: PyTorch's
    ``start_index``/``end_index`` (aten/src/ATen/native/AdaptivePooling.h).
    Windows cover the axis, may overlap, and differ in length by at most one.

    >>> adaptive_ranges(5, 3)
    [(0, 2), (1, 4), (3, 5)]
    """
    if out < 1:
        raise UsageError(f"adaptive pooling output size must be >= 1, got {out}")
    return [((i * n) // out, -(-((i + 1) * n) // out)) for i in range(out)]


def _adaptive(x: np.ndarray, output_size: IntPair, reduce) -> np.ndarray:
    x = as_map(x)
    oh, ow = as_pair(output_size, name="output_size")
    rows = np.stack([reduce(x[a:b], axis=0) for a, b in adaptive_ranges(x.shape[0], oh)])
    return np.stack([reduce(rows[:, a:b], axis=1) for a, b in adaptive_ranges(x.shape[1], ow)], 1)


def adaptive_avg_pool2d(x: np.ndarray, output_size: IntPair) -> np.ndarray:
    """``torch.nn.AdaptiveAvgPool2d``: ``(H, W, C)`` -> ``(oh, ow, C)`` (:func:`adaptive_ranges`).

    Rows are averaged first, then columns (the mean over a rectangle is the
    mean of its row means): ``oh + ow`` NumPy reductions.
    """
    return _adaptive(x, output_size, np.mean).astype(F32, copy=False)


def adaptive_max_pool2d(x: np.ndarray, output_size: IntPair) -> np.ndarray:
    """``torch.nn.AdaptiveMaxPool2d``: ``(H, W, C)`` -> ``(oh, ow, C)``, see adaptive_ranges."""
    return _adaptive(x, output_size, np.max)


def global_avg_pool(x: np.ndarray, *, keepdims: bool = False) -> np.ndarray:
    """Mean over rows and columns: ``(H, W, C)`` -> ``(C,)`` (``(1, 1, C)`` with ``keepdims``)."""
    return as_map(x).mean(axis=(0, 1), keepdims=keepdims, dtype=np.float64).astype(F32)


def global_max_pool(x: np.ndarray, *, keepdims: bool = False) -> np.ndarray:
    """Maximum over rows and columns: ``(H, W, C)`` -> ``(C,)``; ``(1, 1, C)`` with keepdims."""
    return as_map(x).max(axis=(0, 1), keepdims=keepdims)


# ----------------------------------------------------------------- resizing


def _resize_target(n: int, size: int | None, scale: float | None) -> int:
    if size is not None:
        return int(size)
    return int(math.floor(n * float(scale)))  # PyTorch: floor(input_size * scale_factor)


def _src_scale(n: int, out: int, scale: float | None, align_corners: bool) -> np.float32:
    """PyTorch's ``area_pixel_compute_scale`` (aten/src/ATen/native/UpSample.h)."""
    if align_corners:
        return F32((n - 1) / (out - 1)) if out > 1 else F32(0)
    if scale is not None and scale > 0:
        return F32(1.0 / scale)
    return F32(n) / F32(out)


def _nearest_index(n: int, out: int, scale: float | None, mode: str) -> np.ndarray:
    dst = np.arange(out, dtype=F32)
    s = _src_scale(n, out, scale, False)
    if mode == "nearest-exact":
        src = np.floor((dst + F32(0.5)) * s)
    elif out == n:
        src = dst
    elif out == 2 * n:
        src = np.floor(dst / 2)  # PyTorch's shortcut: output_index >> 1
    else:
        src = np.floor(dst * s)
    return np.minimum(src.astype(np.int64), n - 1)


def _linear_weights(n: int, out: int, scale: float | None, align_corners: bool):
    """Indices ``i0, i1`` and weight ``lam`` of ``(1 - lam) x[i0] + lam x[i1]`` per output."""
    s = _src_scale(n, out, scale, align_corners)
    dst = np.arange(out, dtype=F32)
    if align_corners:
        src = s * dst
    else:
        src = np.maximum(s * (dst + F32(0.5)) - F32(0.5), F32(0))
    i0 = np.minimum(src.astype(np.int64), n - 1)  # src >= 0, so truncation is floor
    i1 = np.minimum(i0 + 1, n - 1)
    lam = (src - i0).astype(F32)
    return i0, i1, lam


def upsample(
    x: np.ndarray,
    *,
    size: IntPair | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool = False,
) -> np.ndarray:
    """``torch.nn.Upsample`` / ``F.interpolate`` of ``(H, W, C)``: nearest or bilinear.

    Output size: ``size``, or ``floor(n * scale_factor)`` per axis. Source
    coordinate of output pixel ``o`` (aten/src/ATen/native/UpSample.h,
    ``area_pixel_compute_source_index`` and ``nearest_idx``), with
    ``scale = 1 / scale_factor`` when a factor is given, else ``n / out``:

    * ``"nearest"``: ``min(floor(o * scale), n - 1)`` (legacy PyTorch/OpenCV
      rule, not centred); ``"nearest-exact"``: ``floor((o + 0.5) * scale)``;
    * ``"bilinear"``, ``align_corners=False``: ``max(scale (o + 0.5) - 0.5,
      0)`` (pixel centres aligned); ``align_corners=True``:
      ``o (n - 1) / (out - 1)`` (corner pixels aligned, the factor ignored).
      Then ``(1 - l) x[i0] + l x[i0 + 1]`` per axis (rows, then columns).

    Raises:
        UsageError: neither or both of ``size`` and ``scale_factor``, an
            unknown mode, or ``align_corners`` with a nearest mode.
    """
    x = as_map(x)
    if (size is None) == (scale_factor is None):
        raise UsageError("give exactly one of size and scale_factor")
    if mode not in ("nearest", "nearest-exact", "bilinear"):
        raise UsageError(f"mode must be 'nearest', 'nearest-exact' or 'bilinear', got {mode!r}")
    if align_corners and mode != "bilinear":
        raise UsageError("align_corners applies to mode='bilinear' only")
    sizes = (None, None) if size is None else as_pair(size, name="size")
    if scale_factor is None:
        scales = (None, None)
    elif isinstance(scale_factor, int | float):
        scales = (float(scale_factor), float(scale_factor))
    else:
        scales = tuple(float(v) for v in scale_factor)
    out = x
    for axis in (0, 1):
        n = x.shape[axis]
        m = _resize_target(n, sizes[axis], scales[axis])
        if m < 1:
            raise UsageError(f"the resized size would be {m}; use a larger size or factor")
        if mode == "bilinear":
            i0, i1, lam = _linear_weights(n, m, scales[axis], align_corners)
            shape = (-1, 1, 1) if axis == 0 else (1, -1, 1)
            lam = lam.reshape(shape)
            a, b = np.take(out, i0, axis=axis), np.take(out, i1, axis=axis)
            out = a + lam * (b - a)
        else:
            out = np.take(out, _nearest_index(n, m, scales[axis], mode), axis=axis)
    return np.ascontiguousarray(out, dtype=F32)
