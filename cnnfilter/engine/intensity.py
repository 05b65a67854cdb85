"""Mapping float responses to storable pixel values, and alpha handling.

A filter's response is a float array that may be negative (edge detectors)
or exceed full white (sharpening). The article's ``astype('uint8')`` wraps
such values around (-190 becomes 66, 1020 becomes 252); these functions never
wrap: they clip, take magnitudes or rescale, and round to nearest.
"""

from __future__ import annotations

import math

import numpy as np

from cnnfilter.engine.choices import RANGE_MODES as _RANGE_MODES
from cnnfilter.engine.choices import STRETCH_GAMMA, STRETCH_PERCENTILE
from cnnfilter.engine.threads import thread_budget
from cnnfilter.errors import UsageError

__all__ = [
    "RANGE_MODES",
    "choose_range",
    "stretch_level",
    "to_pixels",
    "storable_pixels",
    "premultiply",
    "unpremultiply",
]

#: ``range_mode`` choices and what each does (from :mod:`cnnfilter.engine.choices`).
RANGE_MODES = _RANGE_MODES


def choose_range(mode: str, kernel_sum: float, *, atol: float = 1e-9) -> str:
    """Resolve ``auto``: ``stretch`` when ``|kernel_sum| <= atol``, else ``clip``.

    (Until issue 15, ``auto`` chose ``abs`` for kernels that sum to 0; edge
    maps then came out nearly black, e.g. ``edge-1`` on ``samples/chelsea.png``
    averaged 8.6 of 255.)

    >>> choose_range("auto", 0.0), choose_range("auto", 1.0), choose_range("rescale", 0.0)
    ('stretch', 'clip', 'rescale')
    """
    if mode not in RANGE_MODES:
        raise UsageError(f"range must be one of {', '.join(RANGE_MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    return "stretch" if abs(kernel_sum) <= atol else "clip"


def stretch_level(response: np.ndarray, percentile: float = STRETCH_PERCENTILE) -> float:
    """The value of ``|response|`` that ``stretch`` maps to full white.

    The ``percentile``-th percentile of ``|response|`` over the whole array
    (all channels together, so colours keep their balance; NumPy's default
    linear interpolation; non-finite values left out). When that is 0 (a map
    that is mostly 0) the largest ``|value|`` is used instead; 0 for an
    all-zero map.

    Equal to ``np.percentile(np.abs(response.astype(np.float64)), percentile)``
    bit for bit; large float arrays take :func:`_tail_level` (a sample picks a
    threshold, only the values above it are partitioned).

    Raises:
        UsageError: ``percentile`` outside ``(0, 100]``.

    >>> stretch_level(np.arange(201.0), 99.5)
    199.0
    >>> stretch_level(np.array([0.0, 0.0, 0.0, -7.0]), 50)
    7.0
    """
    if not 0 < percentile <= 100:
        raise UsageError(f"percentile must be in (0, 100], got {percentile!r}")
    level = _tail_level(np.asarray(response), percentile)
    if level is not None:
        return level
    a = np.abs(np.asarray(response, dtype=np.float64)).ravel()
    if a.size and not np.isfinite(a).all():
        a = a[np.isfinite(a)]
    if not a.size:
        return 0.0
    level = float(np.percentile(a, percentile))
    return level if level > 0 else float(a.max())


#: Arrays of at least this many values take :func:`_tail_level`.
TAIL_MIN_SIZE = 1 << 16
#: Values in the sample that picks :func:`_tail_level`'s threshold.
TAIL_SAMPLE = 1 << 17


def _lerp(a: float, b: float, t: float) -> float:
    """NumPy's ``_lerp`` (linear percentile) on Python floats: IEEE doubles, the same steps."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _tail_level(x: np.ndarray, percentile: float) -> float | None:
    """:func:`stretch_level` of a large float array, or None to take the sorting way.

    NumPy's rule: position ``v = (n - 1) q`` of the sorted ``|x|``, ``q = p / 100``,
    interpolated between order statistics ``floor(v)`` and ``floor(v) + 1``. A
    strided sample of :data:`TAIL_SAMPLE` values gives a threshold ``t`` well
    below that position (6 square roots of the sample size in rank); one pass
    over blocks of the array keeps the values ``>= t`` (``|x|`` in the array's
    own float dtype: exact). When at most ``floor(v)`` values lie below ``t``
    (checked, not assumed) the two order statistics are those of the kept
    values, shifted by that count. None for small, non-contiguous, non-float
    or non-finite arrays, a percentile too low for a small tail, or a level of
    0 (the caller's rule applies).

    Measured on the 12 MP RGB float32 Sobel response of ``benchmarks/run.py``
    (CPU time): ``np.percentile`` of the float64 copy 640-900 ms, this 40-60 ms.
    """
    if x.dtype not in (np.float32, np.float64) or x.size < TAIL_MIN_SIZE:
        return None
    if not x.flags.c_contiguous:
        return None
    flat = x.reshape(-1)
    n = flat.size
    v = (n - 1) * (percentile / 100)
    if v >= n - 1:
        return None
    lo = math.floor(v)
    sample = np.abs(flat[:: max(1, n // TAIL_SAMPLE)])
    k = sample.size
    j = math.floor(k * (lo / n) - 6 * math.sqrt(k)) - 1
    if j <= 0:
        return None
    t = np.partition(sample, j)[j]
    parts = _in_blocks(flat, 1 << 18, lambda part: _at_least(part, t))
    tail = np.concatenate(parts)
    below = n - tail.size  # NaN compares False: counted here, ruled out below
    if below > lo or not _all_finite(flat):
        return None
    ks = [lo - below] + ([lo + 1 - below] if lo + 1 < n else [])
    tail.partition(ks)
    level = _lerp(float(tail[ks[0]]), float(tail[ks[-1]]), v - lo)
    return level if level > 0 else None


def _at_least(part: np.ndarray, t) -> np.ndarray:
    """The values of ``|part|`` that are ``>= t``."""
    mag = np.abs(part)
    return mag[mag >= t]


def _all_finite(values: np.ndarray) -> bool:
    """False if ``values`` holds a NaN or an inf (or squares past the dtype: a false alarm
    that only sends the caller the slow way)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.dot(values, values)))


def _in_blocks(flat: np.ndarray, block: int, func) -> list:
    """``[func(flat[i:i + block]) for each block]``, on the thread budget's threads."""
    starts = range(0, flat.size, block)
    workers = min(thread_budget(), len(starts))
    if workers < 2:
        return [func(flat[i : i + block]) for i in starts]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda i: func(flat[i : i + block]), starts))


def to_pixels(
    response: np.ndarray,
    mode: str,
    *,
    max_value: float,
    dtype: np.dtype,
    percentile: float = STRETCH_PERCENTILE,
    gamma: float = STRETCH_GAMMA,
    level: float | None = None,
) -> np.ndarray:
    """Map a float response to ``dtype`` pixels in ``[0, max_value]``, rounding to nearest.

    Args:
        response: float array of any shape.
        mode: ``clip``, ``abs``, ``rescale`` or ``stretch`` (see :data:`RANGE_MODES`).
        max_value: full white (255 for uint8, 65535 for uint16).
        dtype: integer output dtype.
        percentile, gamma: ``stretch`` only.
        level: ``stretch`` only: :func:`stretch_level` of ``response`` when the
            caller has it already (it is computed otherwise).

    ``rescale`` maps the response's minimum to 0 and maximum to ``max_value``
    over the whole array (all channels together, so colours keep their
    balance); a constant response maps to 0.

    ``stretch`` maps ``v`` to ``max_value * min(|v| / L, 1) ** gamma`` with
    ``L`` = :func:`stretch_level` (``percentile`` of ``|v|``, whole array):
    the strongest ``100 - percentile`` % of responses are full white, and a
    gamma under 1 lifts the weak ones (``gamma = 0.5`` as a square root,
    correctly rounded; other values by ``np.power``). Every mode runs on
    blocks of rows on the thread budget's threads.

    >>> to_pixels(np.array([0.0, -25.0, 100.0, -100.0, 400.0]), "stretch", max_value=255,
    ...           dtype=np.uint8, percentile=75, gamma=0.5)
    array([  0, 128, 255, 255, 255], dtype=uint8)

    >>> to_pixels(np.array([-190.0, 12.4, 300.0]), "clip", max_value=255, dtype=np.uint8)
    array([  0,  12, 255], dtype=uint8)
    >>> to_pixels(np.array([-190.0, 12.5, 1020.0]), "abs", max_value=255, dtype=np.uint8)
    array([190,  12, 255], dtype=uint8)
    """
    x = np.asarray(response)
    if mode not in ("abs", "rescale", "clip", "stretch"):
        raise UsageError(f"range must be clip, abs, rescale or stretch here, got {mode!r}")
    lo, factor = 0.0, 1.0
    if mode == "stretch":
        if not gamma > 0:
            raise UsageError(f"gamma must be > 0, got {gamma!r}")
        level = stretch_level(x, percentile) if level is None else level
        factor = 1.0 / level if level > 0 else 0.0
    if mode == "rescale" and x.size:
        lo, hi = float(np.min(x)), float(np.max(x))
        factor = max_value / (hi - lo) if hi > lo else 0.0
    out = np.empty(x.shape, dtype=dtype)
    # Row blocks of ~1 MB: the float temporaries stay in cache instead of
    # costing two more image-sized arrays (measured on a 12 MP RGB response:
    # 225-760 ms whole-array, the upper figure with fresh pages, vs ~60 ms),
    # on the thread budget's threads (numpy's ufuncs release the GIL).
    if not x.ndim:
        out[...] = _map_block(x, mode, lo, factor, max_value, gamma)
        return out
    rows = max(1, (1 << 20) // max(1, x[:1].nbytes))

    def run(r0: int) -> None:
        out[r0 : r0 + rows] = _map_block(x[r0 : r0 + rows], mode, lo, factor, max_value, gamma)

    starts = range(0, x.shape[0], rows)
    workers = min(thread_budget(), len(starts))
    if workers < 2:
        for r0 in starts:
            run(r0)
        return out
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, starts))
    return out


def _map_block(part: np.ndarray, mode: str, lo: float, factor: float, max_value: float, gamma):
    """One block of :func:`to_pixels`, in float (``factor``: ``1 / level`` for stretch)."""
    if mode == "stretch":
        # max_value * min(|x| / level, 1) ** gamma, rounded (0 everywhere for level 0)
        t = np.abs(part).astype(np.float64 if part.dtype == np.float64 else np.float32)
        t *= factor
        np.clip(t, 0, 1, out=t)
        if gamma == 0.5:
            np.sqrt(t, out=t)
        elif gamma != 1:
            np.power(t, gamma, out=t)
        t *= max_value
        np.rint(t, out=t)
        return t
    t = np.abs(part) if mode == "abs" else np.array(part, dtype=np.result_type(part, 1.0))
    if mode == "rescale":
        t -= lo
        t *= factor
    np.rint(t, out=t)
    np.clip(t, 0, max_value, out=t)
    return t


def storable_pixels(
    response: np.ndarray,
    mode: str,
    *,
    max_value: float,
    source_dtype: np.dtype | type,
    percentile: float = STRETCH_PERCENTILE,
    gamma: float = STRETCH_GAMMA,
    level: float | None = None,
) -> np.ndarray:
    """The pixels a picture file stores for a float ``response`` of a picture.

    The one "response -> storable pixels" rule of ``apply`` and ``pool``:

    * an integer picture (uint8, uint16) keeps its dtype: the response is
      mapped to ``[0, max_value]`` by ``mode`` (:func:`to_pixels`);
    * a float picture (full white ``max_value``, often 1.0) becomes 8-bit:
      the response is scaled by ``255 / max_value``, then mapped to
      ``[0, 255]``.

    Args:
        response: float array, any shape (``(H, W)`` or ``(H, W, C)``).
        mode: ``clip``, ``abs``, ``rescale`` or ``stretch``.
        max_value: full white of the source picture (255, 65535 or 1.0).
        percentile, gamma: ``stretch`` only (:func:`to_pixels`).
        source_dtype: the source picture's dtype.
        level: ``stretch`` of an integer picture only: :func:`stretch_level` of
            ``response``, when the caller has it (a float picture's response is
            scaled first, so its level is computed here).

    Returns:
        An array of ``response``'s shape, ``source_dtype`` (integer) or uint8.

    >>> storable_pixels(np.array([-0.5, 0.5, 2.0]), "clip", max_value=1.0,
    ...                 source_dtype=np.float32)
    array([  0, 128, 255], dtype=uint8)
    >>> storable_pixels(np.array([-3.0, 300.0]), "abs", max_value=65535,
    ...                 source_dtype=np.uint16)
    array([  3, 300], dtype=uint16)
    """
    source_dtype = np.dtype(source_dtype)
    shape = dict(percentile=percentile, gamma=gamma)
    if source_dtype.kind in "ui":
        return to_pixels(
            response, mode, max_value=max_value, dtype=source_dtype, level=level, **shape
        )
    scaled = response * np.float32(255.0 / max_value)
    return to_pixels(scaled, mode, max_value=255.0, dtype=np.dtype(np.uint8), **shape)


def premultiply(colour: np.ndarray, alpha: np.ndarray, max_value: float) -> np.ndarray:
    """``colour * alpha / max_value`` as float32: colour of transparent pixels becomes 0.

    ``colour``: ``(H, W)`` or ``(H, W, C)``; ``alpha``: ``(H, W)``.
    """
    a = alpha.astype(np.float32) / np.float32(max_value)
    c = colour.astype(np.float32)
    return c * (a if c.ndim == 2 else a[..., np.newaxis])


def unpremultiply(colour: np.ndarray, alpha: np.ndarray, max_value: float) -> np.ndarray:
    """Divide a premultiplied colour by ``alpha / max_value``; 0 where alpha is 0."""
    a = alpha.astype(colour.dtype) / max_value
    if colour.ndim == 3:
        a = a[..., np.newaxis]
    out = np.zeros_like(colour)
    np.divide(colour, a, out=out, where=np.broadcast_to(a > 0, colour.shape))
    return out
