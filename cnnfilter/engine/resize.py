"""Resizing and cropping a photo for a network's input, as torchvision's ImageNet transforms do.

Pure functions on ``(H, W, C)`` float arrays. :func:`resize_bilinear` is Pillow's
``Image.resize(..., BILINEAR)`` (which is what ``torchvision.transforms.Resize`` runs on
a PIL image, and what its tensor path computes with ``antialias=True``): a triangle
filter whose support widens with the reduction factor, so shrinking a photo averages
every source pixel instead of sampling a few (no aliasing). Source: Pillow's
``libImaging/Resample.c`` (``precompute_coeffs``), reproduced here as one weight
matrix per axis, applied as two matrix products.
"""

from __future__ import annotations

import numpy as np

from cnnfilter.errors import UsageError

__all__ = ["center_crop", "resize_bilinear", "shorter_side_size"]


def _weights(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` float64 rows of Pillow's bilinear resampling coefficients."""
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 1.0 * filterscale  # the triangle filter's support is 1
    out = np.zeros((n_out, n_in))
    for i in range(n_out):
        centre = (i + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), n_in)
        taps = (np.arange(lo, hi) - centre + 0.5) / filterscale
        w = np.clip(1.0 - np.abs(taps), 0.0, None)
        total = w.sum()
        out[i, lo:hi] = w / total if total else w
    return out


def resize_bilinear(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``x`` ``(H, W, C)`` resized to ``size`` = ``(h, w)`` pixels, antialiased bilinear.

    Returns float32 ``(h, w, C)``. Equal to Pillow's ``resize((w, h), BILINEAR)`` of
    each channel in mode ``F`` (to float32 rounding); a same-size resize is the identity.

    Raises:
        UsageError: a size below 1 pixel.
    """
    h, w = size
    if h < 1 or w < 1:
        raise UsageError(f"size={h}x{w}: a resized photo needs at least 1 x 1 pixels")
    x = np.asarray(x, dtype=np.float32)
    rows = _weights(x.shape[0], h).astype(np.float32)
    cols = _weights(x.shape[1], w).astype(np.float32)
    tmp = np.tensordot(rows, x, axes=(1, 0))  # (h, W, C)
    return np.einsum("jw,hwc->hjc", cols, tmp).astype(np.float32, copy=False)


def shorter_side_size(hw: tuple[int, int], short: int) -> tuple[int, int]:
    """``(h, w)`` with the shorter side ``short`` and the aspect ratio kept.

    torchvision's ``Resize(short)``: the longer side is ``int(short * long / shorter)``
    (truncated).

    >>> shorter_side_size((512, 768), 256)
    (256, 384)
    >>> shorter_side_size((500, 375), 256)
    (341, 256)
    """
    h, w = hw
    if w <= h:
        return int(short * h / w), short
    return short, int(short * w / h)


def center_crop(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The central ``size`` = ``(h, w)`` window of ``x`` ``(H, W, ...)``, a view.

    torchvision's ``CenterCrop``: the top-left corner at ``round((H - h) / 2)``,
    ``round((W - w) / 2)`` (Python's round, half to even).

    Raises:
        UsageError: a window larger than ``x``.
    """
    h, w = size
    if h > x.shape[0] or w > x.shape[1]:
        raise UsageError(
            f"size: cannot crop {h} x {w} out of a {x.shape[0]} x {x.shape[1]} photo; "
            f"fix: resize the photo to at least {h} x {w} first"
        )
    top = int(round((x.shape[0] - h) / 2.0))
    left = int(round((x.shape[1] - w) / 2.0))
    return x[top : top + h, left : left + w]
