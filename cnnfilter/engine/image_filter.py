"""Filtering a whole picture: colour, alpha and the output range, on arrays.

This is what ``cnnfilter apply`` runs between reading and writing a file;
it composes :mod:`cnnfilter.engine.filtering` and
:mod:`cnnfilter.engine.intensity` and does no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnnfilter.engine.choices import (
    COMBINE_MODES,
    OPERATION_NAMES,
    STRETCH_BLACK_PERCENTILE,
    STRETCH_GAMMA,
    STRETCH_PERCENTILE,
)
from cnnfilter.engine.filtering import FilterPlan, convolve, correlate, plan_method, work_dtype
from cnnfilter.engine.intensity import (
    choose_range,
    premultiply,
    storable_pixels,
    stretch_levels,
    unpremultiply,
)
from cnnfilter.errors import UsageError

__all__ = ["FilterSettings", "FilterResult", "filter_image", "acts_per_pixel", "OPERATIONS"]

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
    percentile: float = STRETCH_PERCENTILE
    gamma: float = STRETCH_GAMMA
    black_percentile: float = STRETCH_BLACK_PERCENTILE
    combine: str = "none"


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
        level: ``stretch`` only: the ``|response|`` mapped to full white
            (:func:`cnnfilter.engine.intensity.stretch_levels`), else None.
        black: ``stretch`` only: the ``|response|`` mapped to black (at or
            under it), else None.
    """

    pixels: np.ndarray
    response: np.ndarray
    range_mode: str
    operation: str
    method: str = ""
    level: float | None = None
    black: float | None = None


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

    A kernel whose non-zero weights all sit on the anchor tap (the identity;
    :func:`acts_per_pixel`) mixes no neighbours, so nothing can bleed: the
    straight colour is filtered as it is, and the identity returns every
    value exactly, the hidden colour of transparent pixels included.

    The alpha channel itself is kept, not filtered: each output pixel takes
    the alpha of the input pixel under the kernel's anchor (the same sampling
    as the colour, including stride and padding).

    With ``settings.combine == "magnitude"``, ``weights`` is a sequence of
    kernels of one shape; each response is computed as above and they are
    combined into ``sqrt(r1^2 + r2^2 + ...)`` (the gradient magnitude of
    ``sobel-x`` and ``sobel-y``, as ``numpy.hypot`` of the two responses)
    before the offset and the range mapping.

    Args:
        pixels: ``(H, W)`` or ``(H, W, C)``; uint8, uint16 or float.
        weights: ``(kh, kw)`` or ``(kh, kw, C)`` kernel (a sequence of them
            for ``combine="magnitude"``).
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
    kernels = _kernels(weights, settings)
    plan = plan_method(kernels[0], method=plan or settings.method, dtype=work_dtype(pixels.dtype))
    response, alpha_out = _response(pixels, kernels[0], settings, alpha, max_value, plan)
    if len(kernels) > 1:
        response = response * response
        for k in kernels[1:]:
            kplan = plan_method(k, method=settings.method, dtype=work_dtype(pixels.dtype))
            more, _ = _response(pixels, k, settings, alpha, max_value, kplan)
            response += more * more
        np.sqrt(response, out=response)
    if settings.offset:  # after unpremultiplying: the offset is not scaled by alpha
        response += settings.offset
    offset = settings.offset
    exact_ints = len(kernels) == 1 and _cannot_overflow(pixels, kernels[0], offset, response)
    if alpha is not None or not exact_ints:  # skip a pass where no value can overflow
        _check_finite(response, pixels)
    if settings.raw:
        mode = "raw"
        out = response
        if alpha_out is not None:
            out = _stack(out, alpha_out.astype(out.dtype))
        return FilterResult(out, response, mode, OPERATIONS[settings.op], plan.describe())
    kernel_sum = sum(abs(float(np.sum(k))) for k in kernels)
    mode = choose_range(settings.range_mode, kernel_sum)
    level = black = raw_levels = None
    if mode == "stretch":
        scale = 255.0 / max_value if pixels.dtype.kind == "f" else 1.0
        # once: the report's too
        raw_levels = stretch_levels(response, settings.percentile, settings.black_percentile)
        black, level = (v * scale for v in raw_levels)
    # float pictures (full white = max_value) are written as 8-bit
    out = storable_pixels(
        response, mode, max_value=max_value, source_dtype=pixels.dtype,
        percentile=settings.percentile, gamma=settings.gamma,
        black_percentile=settings.black_percentile, levels=raw_levels,
    )  # fmt: skip
    dtype = out.dtype
    white = max_value if np.issubdtype(pixels.dtype, np.integer) else 255.0
    if alpha_out is not None:
        out = _stack(out, np.rint(alpha_out * (white / max_value)).astype(dtype))
    return FilterResult(out, response, mode, OPERATIONS[settings.op], plan.describe(), level, black)


def _kernels(weights, settings) -> list:
    """The kernels to run (one, or several for ``combine='magnitude'``), checked."""
    if settings.op not in OPERATIONS:
        raise UsageError(f"op must be 'convolve' or 'correlate', got {settings.op!r}")
    if settings.combine not in COMBINE_MODES:
        raise UsageError(
            f"combine must be one of {', '.join(COMBINE_MODES)}, got {settings.combine!r}"
        )
    if settings.combine != "magnitude":
        return [weights]
    kernels = list(weights)
    if len(kernels) < 2 or len({np.shape(k) for k in kernels}) != 1:
        raise UsageError("combine='magnitude' needs two or more kernels of one shape")
    return kernels


def _response(pixels, weights, settings, alpha, max_value, plan):
    """One kernel's float response (alpha handled) and the alpha sampled at the anchors."""
    run = convolve if settings.op == "convolve" else correlate
    options = dict(
        padding=settings.padding,
        boundary=settings.boundary,
        cval=settings.cval,
        stride=settings.stride,
        dilation=settings.dilation,
    )
    channels = "sum" if settings.sum_channels else "separate"
    if alpha is None or acts_per_pixel(weights):
        # A kernel whose taps all sit on the anchor mixes no neighbours, so nothing can
        # bleed: premultiplying would only add float32 rounding and blank the hidden colour
        # of fully transparent pixels, which the identity must keep.
        response = run(pixels, weights, channels=channels, method=plan, **options)
        alpha_out = None if alpha is None else _sample_alpha(alpha, weights.shape[:2], run, options)
        return response, alpha_out
    source = premultiply(pixels, alpha, max_value)
    response = run(source, weights, channels=channels, method=plan, **options)
    alpha_out = _sample_alpha(alpha, weights.shape[:2], run, options)
    total = float(np.sum(weights))
    if weights.ndim == 2 and total > 0 and np.all(weights >= 0):
        # weights / total: the same rank and taps, so the same plan
        coverage = run(alpha.astype(np.float32), weights / total, method=plan, **options)
        response = unpremultiply(response, coverage, max_value)
    else:
        response = unpremultiply(response, alpha_out, max_value)
    return response, alpha_out


def acts_per_pixel(weights: np.ndarray) -> bool:
    """True when every non-zero weight sits on the anchor tap ``(kh // 2, kw // 2)``.

    Such a kernel (the identity, a scaled identity, a per-channel weighting
    of a ``(kh, kw, C)`` kernel) computes each output pixel from the input
    pixel under its anchor alone; :func:`filter_image` then filters the
    straight colour, unpremultiplied, so the identity is exact.

    >>> acts_per_pixel(np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]]))
    True
    >>> acts_per_pixel(np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0]]))
    False
    """
    w = np.asarray(weights)
    kh, kw = w.shape[:2]
    off = np.ones((kh, kw), dtype=bool)
    off[kh // 2, kw // 2] = False
    return not np.any(w[off])


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
