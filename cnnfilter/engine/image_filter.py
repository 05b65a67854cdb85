"""Filtering a whole picture: colour, alpha and the output range, on arrays.

This is what ``cnnfilter apply`` runs between reading and writing a file;
it composes :mod:`cnnfilter.engine.filtering` and
:mod:`cnnfilter.engine.intensity` and does no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnnfilter.engine.choices import OPERATION_NAMES
from cnnfilter.engine.filtering import FilterPlan, convolve, correlate, plan_method, work_dtype
from cnnfilter.engine.intensity import choose_range, premultiply, storable_pixels, unpremultiply
from cnnfilter.errors import UsageError

__all__ = ["FilterSettings", "FilterResult", "filter_image", "OPERATIONS"]

#: ``op`` values and the name reports print for each (from :mod:`cnnfilter.engine.choices`).
OPERATIONS = OPERATION_NAMES


@dataclass(frozen=True)
class FilterSettings:
    """Everything ``apply`` needs besides the arrays."""

    op: str = "convolve"
    padding: str | int | Sequence[int] = "same"
    boundary: str = "symmetric"
    cval: float = 0.0
    stride: int | Sequence[int] = 1
    dilation: int | Sequence[int] = 1
    sum_channels: bool = False
    offset: float = 0.0
    range_mode: str = "auto"
    raw: bool = False
    method: str = "auto"


@dataclass(frozen=True)
class FilterResult:
    """The output pixels and what was done.

    Attributes:
        pixels: ``(oh, ow)``, ``(oh, ow, C)`` or with alpha appended as the
            last channel; the input's integer dtype, or float (``raw``).
        response: the float response before range mapping (no alpha).
        range_mode: the resolved ``range_mode`` (``"raw"`` when not mapped).
        operation: ``"convolution"`` or ``"cross-correlation"``.
        method: what ran, as :meth:`cnnfilter.engine.filtering.FilterPlan.describe`
            (``"separable (auto: rank-1 7x7 kernel: 7 + 7 taps instead of 49)"``).
    """

    pixels: np.ndarray
    response: np.ndarray
    range_mode: str
    operation: str
    method: str = ""


def filter_image(
    pixels: np.ndarray,
    weights: np.ndarray,
    settings: FilterSettings,
    *,
    alpha: np.ndarray | None = None,
    max_value: float = 255.0,
    plan: FilterPlan | None = None,
) -> FilterResult:
    """Filter a picture's colour channels and carry its alpha channel along.

    Alpha (straight alpha in the file) is handled premultiplied: the colour is
    multiplied by alpha before filtering, so the hidden colour of transparent
    pixels never bleeds into visible ones, then divided back:

    * for kernels with no negative weight (blurs, identity), by the filtered
      alpha normalised by the kernel's sum, the weighted share of opacity
      under the window ("normalised convolution", Knutsson & Westin 1993):
      a blur of an opaque pixel beside transparent ones keeps its colour
      instead of darkening towards black;
    * for kernels with negative weights (edges, sharpening), whose filtered
      alpha can vanish or change sign, by the kept alpha below.

    The alpha channel itself is kept, not filtered: each output pixel takes
    the alpha of the input pixel under the kernel's anchor (the same sampling
    as the colour, including stride and padding).

    Args:
        pixels: ``(H, W)`` or ``(H, W, C)``; uint8, uint16 or float.
        weights: ``(kh, kw)`` or ``(kh, kw, C)`` kernel.
        settings: operation, geometry, boundary and output range.
        alpha: ``(H, W)`` alpha of the same dtype as ``pixels``, or None.
        max_value: full white of ``pixels`` (255, 65535 or 1.0).
        plan: the method plan, resolved once by the caller
            (:func:`cnnfilter.engine.filtering.plan_method` with
            ``settings.method``); None: resolved here, once.

    Returns:
        :class:`FilterResult`; integer input keeps its dtype unless
        ``settings.raw``; float input (full white ``max_value``) becomes
        uint8 through the same range mapping unless ``settings.raw``.

    Raises:
        UsageError: as :func:`cnnfilter.engine.filtering.correlate`, an
            unknown operation or range, or a response that overflows its
            float dtype (inf or NaN from a finite input; numpy's overflow
            warnings are silenced, this one error says it instead).
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _filter_image(pixels, weights, settings, alpha=alpha, max_value=max_value, plan=plan)


def _cannot_overflow(pixels, weights, offset: float, response: np.ndarray) -> bool:
    """True when no response value can be inf or NaN: integer pixels, and the largest
    possible ``|sum w x| + |offset|`` (dtype maximum times the sum of ``|w|``) fits the
    response's dtype. Saves a pass over the response (and a boolean image) per call."""
    if pixels.dtype.kind not in "biu":
        return False
    top = 1.0 if pixels.dtype.kind == "b" else float(np.iinfo(pixels.dtype).max)
    top = max(top, float(-np.iinfo(pixels.dtype).min) if pixels.dtype.kind == "i" else 0.0)
    bound = top * float(np.abs(weights).sum()) * (weights.shape[2] if weights.ndim == 3 else 1)
    if pixels.ndim == 3 and weights.ndim == 2:
        bound *= pixels.shape[2]  # channels summed, at worst
    return bound + abs(offset) < float(np.finfo(response.dtype).max) / 4


def _check_finite(response: np.ndarray, pixels: np.ndarray) -> None:
    """Refuse an inf/NaN response computed from a finite input (float overflow)."""
    if np.isfinite(response).all() or (pixels.dtype.kind == "f" and not np.isfinite(pixels).all()):
        return
    largest = float(np.max(np.abs(pixels))) if pixels.size else 0.0
    top = float(np.finfo(response.dtype).max)
    raise UsageError(
        f"the response overflows {response.dtype.name} (largest {top:.3g}): input values up "
        f"to {largest:.3g} times the kernel weights are too large; scale the kernel down "
        "(a smaller scale=) or the input"
    )


def _filter_image(pixels, weights, settings, *, alpha, max_value, plan) -> FilterResult:
    if settings.op not in OPERATIONS:
        raise UsageError(f"op must be 'convolve' or 'correlate', got {settings.op!r}")
    run = convolve if settings.op == "convolve" else correlate
    options = dict(
        padding=settings.padding,
        boundary=settings.boundary,
        cval=settings.cval,
        stride=settings.stride,
        dilation=settings.dilation,
    )
    channels = "sum" if settings.sum_channels else "separate"
    plan = plan_method(weights, method=plan or settings.method, dtype=work_dtype(pixels.dtype))
    source = pixels if alpha is None else premultiply(pixels, alpha, max_value)
    response = run(source, weights, channels=channels, method=plan, **options)
    alpha_out = None
    if alpha is not None:
        alpha_out = _sample_alpha(alpha, weights.shape[:2], run, options)
        total = float(np.sum(weights))
        if weights.ndim == 2 and total > 0 and np.all(weights >= 0):
            # weights / total: the same rank and taps, so the same plan
            coverage = run(alpha.astype(np.float32), weights / total, method=plan, **options)
            response = unpremultiply(response, coverage, max_value)
        else:
            response = unpremultiply(response, alpha_out, max_value)
    if settings.offset:  # after unpremultiplying: the offset is not scaled by alpha
        response += settings.offset
    if alpha is not None or not _cannot_overflow(pixels, weights, settings.offset, response):
        _check_finite(response, pixels)
    if settings.raw:
        mode = "raw"
        out = response
        if alpha_out is not None:
            out = _stack(out, alpha_out.astype(out.dtype))
        return FilterResult(out, response, mode, OPERATIONS[settings.op], plan.describe())
    mode = choose_range(settings.range_mode, float(np.sum(weights)))
    # float pictures (full white = max_value) are written as 8-bit
    out = storable_pixels(response, mode, max_value=max_value, source_dtype=pixels.dtype)
    dtype = out.dtype
    white = max_value if np.issubdtype(pixels.dtype, np.integer) else 255.0
    if alpha_out is not None:
        out = _stack(out, np.rint(alpha_out * (white / max_value)).astype(dtype))
    return FilterResult(out, response, mode, OPERATIONS[settings.op], plan.describe())


def _sample_alpha(alpha, kernel_hw, run, options) -> np.ndarray:
    """Alpha at each output pixel's anchor: a delta kernel through the same geometry."""
    kh, kw = kernel_hw
    delta = np.zeros((kh, kw), dtype=np.float32)
    delta[kh // 2, kw // 2] = 1.0
    return run(alpha.astype(np.float32), delta, method="direct", **options)  # 1 tap, exact


def _stack(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    if colour.ndim == 2:
        return np.stack([colour, alpha], axis=-1)
    return np.concatenate([colour, alpha[..., np.newaxis]], axis=-1)
