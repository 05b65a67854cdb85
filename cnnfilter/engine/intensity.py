"""Mapping float responses to storable pixel values, and alpha handling.

A filter's response is a float array that may be negative (edge detectors)
or exceed full white (sharpening). The article's ``astype('uint8')`` wraps
such values around (-190 becomes 66, 1020 becomes 252); these functions never
wrap: they clip, take magnitudes or rescale, and round to nearest.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from cnnfilter.engine.choices import RANGE_MODES as _RANGE_MODES
from cnnfilter.engine.choices import (
    STRETCH_BLACK_PERCENTILE,
    STRETCH_GAMMA,
    STRETCH_PERCENTILE,
)
from cnnfilter.engine.threads import thread_budget
from cnnfilter.errors import UsageError

__all__ = [
    "RANGE_MODES",
    "choose_range",
    "stretch_levels",
    "channel_levels",
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


def stretch_levels(
    response: np.ndarray,
    percentile: float = STRETCH_PERCENTILE,
    black_percentile: float = STRETCH_BLACK_PERCENTILE,
) -> tuple[float, float]:
    """The values of ``|response|`` that ``stretch`` maps to black and to full white.

    Both are percentiles of ``|response|`` over the whole array (all channels
    together, so colours keep their balance; NumPy's default linear
    interpolation; non-finite values left out), as ImageMagick's
    ``-contrast-stretch black%xwhite%`` picks its points from the histogram:

    * white: the ``percentile``-th. When that is 0 (a map that is mostly 0) the
      largest ``|value|`` is used instead; 0 for an all-zero map.
    * black: the ``black_percentile``-th, or 0 when that is not below white (a
      map of a few distinct values, such as 0 and 4).

    Equal to ``np.percentile(np.abs(response.astype(np.float64)),
    [black_percentile, percentile])`` bit for bit; large float arrays take
    :func:`_fast_levels` (a sample picks a window of values around each rank,
    and only those are partitioned), the others :func:`_rows_levels`, the rule
    :func:`channel_levels` applies to each channel of a map.

    Args:
        response: float or integer array, any shape.
        percentile: in ``(0, 100]``.
        black_percentile: in ``[0, percentile)``.

    Returns:
        ``(black, white)`` as Python floats, ``0 <= black < white`` unless both are 0.

    Raises:
        UsageError: a percentile outside its range.

    >>> stretch_levels(np.arange(201.0), 99.5, 50)
    (100.0, 199.0)
    >>> stretch_levels(np.array([0.0, 0.0, 0.0, -7.0]), 50, 25)
    (0.0, 7.0)
    """
    qs = _checked_percentiles(percentile, black_percentile)
    levels = _fast_levels(np.asarray(response), qs)
    if levels is None:
        mag = _magnitudes(np.asarray(response).reshape(1, -1))
        if mag.size and not np.isfinite(mag).all():
            mag = mag[np.isfinite(mag)].reshape(1, -1)
        return _rows_levels(mag, qs)[0]
    black, white = levels
    return (black if black < white else 0.0), white


def channel_levels(
    maps: np.ndarray,
    percentile: float = STRETCH_PERCENTILE,
    black_percentile: float = STRETCH_BLACK_PERCENTILE,
) -> list[tuple[float, float]]:
    """:func:`stretch_levels` of each channel of an ``H x W x C`` map, in one pass.

    ``channel_levels(maps, p, b)[i] == stretch_levels(maps[..., i], p, b)`` bit for
    bit (the one rule, :func:`_rows_levels`: ``np.percentile`` of the channel's finite
    ``|value|``, white falling back to the largest ``|value|`` when the percentile
    is 0, black to 0 when not below white); ``forward``'s montages draw each tile at
    its own white level this way.

    How: one ``(C, H W)`` copy of ``|maps|`` (:func:`_channel_rows`; float32 stays
    float32: ``abs`` and the order are exact, the order statistics are widened to float64
    for NumPy's interpolation), partitioned along its rows (:func:`_order_pairs`),
    instead of a float64 copy of the strided tile, a NaN check and a ``np.percentile``
    call per channel. A channel holding a NaN or an inf is done alone, its finite
    values only. Measured (``python benchmarks/montage.py``: the 99.5th percentile of
    every tile of a float32 map, half its channels after a ReLU; CPU time, best of 3,
    two runs on 2 shared cores, one ``np.percentile`` per tile -> this): 112 x 112 x 64
    22-28 -> 5.6-6.8 ms, 56 x 56 x 256 40-44 -> 4.6-5.2 ms, 7 x 7 x 512 12-15 -> 0.3 ms
    (docs/speed.md, "Montages").

    Args:
        maps: ``(H, W, C)`` float or integer array (``(H, W)``: one channel).
        percentile: in ``(0, 100]``.
        black_percentile: in ``[0, percentile)``.

    Returns:
        ``C`` pairs ``(black, white)`` of Python floats.

    Raises:
        UsageError: a percentile outside its range.
        ValueError: ``maps`` not 2- or 3-dimensional.

    >>> x = np.zeros((2, 2, 3)); x[..., 0] = [[1, -2], [3, 4]]; x[0, 0, 1] = -5
    >>> channel_levels(x, 50, 0)
    [(1.0, 2.5), (0.0, 5.0), (0.0, 0.0)]
    """
    qs = _checked_percentiles(percentile, black_percentile)
    x = np.asarray(maps)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3:
        raise ValueError(f"maps must be (H, W, C) or (H, W), got shape {x.shape}")
    mag = _channel_rows(x)
    finite = np.isfinite(mag).all(axis=1)
    if finite.all():
        return _rows_levels(mag, qs)
    levels = [(0.0, 0.0)] * x.shape[2]
    good = np.flatnonzero(finite)
    for i, level in zip(good.tolist(), _rows_levels(mag[good], qs), strict=True):
        levels[i] = level
    for i in np.flatnonzero(~finite).tolist():
        row = mag[i]
        levels[i] = _rows_levels(row[np.isfinite(row)].reshape(1, -1), qs)[0]
    return levels


def _checked_percentiles(percentile: float, black_percentile: float) -> tuple[float, float]:
    """``(black_percentile, percentile)``, or UsageError naming the one out of its range."""
    if not 0 < percentile <= 100:
        raise UsageError(f"percentile must be in (0, 100], got {percentile!r}")
    if not 0 <= black_percentile < percentile:
        raise UsageError(
            f"black percentile must be in [0, {percentile:g}) (below the white one), got "
            f"{black_percentile!r}"
        )
    return black_percentile, percentile


def _magnitudes(x: np.ndarray) -> np.ndarray:
    """``|x|`` as a new C-contiguous array: float32 and float64 in their own dtype (exact),
    anything else in float64 (``abs`` of int8's -128 would wrap)."""
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    return np.abs(x, order="C")


def _channel_rows(x: np.ndarray) -> np.ndarray:
    """``|x|`` of an ``(H, W, C)`` map as a new C-contiguous ``(C, H W)`` array, dtype as
    :func:`_magnitudes`. Copied 64 pixels at a time: a block's ``64 x C`` values stay in
    cache while they are scattered to the rows (one ``np.ascontiguousarray`` of the
    transpose took 4 ms for 112 x 112 x 64 float32, the blocks 0.6-0.8 ms)."""
    flat = x.reshape(-1, x.shape[2])
    if flat.dtype not in (np.float32, np.float64):
        flat = flat.astype(np.float64)
    rows = np.empty(flat.shape[::-1], flat.dtype)
    for i in range(0, flat.shape[0], 64):
        rows[:, i : i + 64] = flat[i : i + 64].T
    return np.abs(rows, out=rows)


def _rows_levels(mag: np.ndarray, qs: tuple[float, float]) -> list[tuple[float, float]]:
    """The stretch rule on each row of ``mag`` (``(R, n)`` finite ``|values|``, a copy of
    the caller's own: partitioned in place): ``(black, white)`` per row.

    ``np.percentile(row.astype(np.float64), qs)`` bit for bit, as NumPy's ``linear``
    method computes it: position ``v = (n - 1) q / 100``, order statistics ``floor(v)``
    and ``min(floor(v) + 1, n - 1)`` (:func:`_order_pairs`), :func:`_lerp` between them
    in float64 (``t = v - floor(v)``). Then white falls back to the row's largest value
    when it is 0 (0 for an empty row) and black to 0 when it is not below white.
    """
    rows, n = mag.shape
    if not n:
        return [(0.0, 0.0)] * rows
    positions = [(n - 1) * (q / 100) for q in qs]
    pairs = _order_pairs(mag, positions)
    black, white = (
        _lerp(a.astype(np.float64), b.astype(np.float64), v - math.floor(v))
        for (a, b), v in zip(pairs, positions, strict=True)
    )
    flat = ~(white > 0)
    if flat.any():
        white[flat] = mag[flat].max(axis=1)
    black[~(black < white)] = 0.0
    return list(zip(black.tolist(), white.tolist(), strict=True))


def _order_pairs(mag: np.ndarray, positions: list[float]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each position ``v``, the ``floor(v)``-th and ``min(floor(v) + 1, n - 1)``-th
    smallest values of each row of ``mag`` (``(R, n)``, partitioned in place).

    One single-rank partition per rank, the highest first, each over the part left of the
    rank above (a partition at two ranks at once took 3-5x as long as at one), and the next
    order statistic as the smallest value right of the rank (NumPy's percentile partitions
    at both ranks together). A whole position (``v = floor(v)``, as the 0th percentile's)
    needs no next value (:func:`_lerp` with ``t = 0`` is its first value exactly), and at
    rank 0 it is the row's minimum, with no partition (one on a part of each row took
    4.5 ms for 64 rows of 12 544 values, the minimum 0.15 ms).
    """
    n = mag.shape[1]
    need_next: dict[int, bool] = {}
    for v in positions:
        k = math.floor(v)
        need_next[k] = need_next.get(k, False) or (v > k and k + 1 < n)
    pairs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    end = n  # mag[:, :end] holds the end smallest values; mag[:, end] the end-th
    for k in sorted(need_next, reverse=True):
        if k == 0 and not need_next[k]:
            low = mag[:, :end].min(axis=1)
        else:
            mag[:, :end].partition(k, axis=1)
            low = mag[:, k]
        high = mag[:, k + 1 : end + 1].min(axis=1) if need_next[k] else low
        pairs[k] = (low, high)
        end = k
    return [pairs[math.floor(v)] for v in positions]


#: Arrays of at least this many values take :func:`_fast_levels`.
TAIL_MIN_SIZE = 1 << 16
#: Values in the sample that picks :func:`_fast_levels`'s windows.
TAIL_SAMPLE = 1 << 17


def _lerp(a, b, t: float):
    """NumPy's ``_lerp`` (linear percentile) on Python floats or float64 arrays ``a``, ``b``
    and a float ``t``: IEEE doubles, the same steps."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


class _Window(NamedTuple):
    """Where one percentile's order statistics are looked for (see :func:`_fast_levels`)."""

    v: float  # NumPy's position (n - 1) q
    lo: int  # floor(v): the lower order statistic's rank
    t_lo: float | None  # the window's lower bound (None: open)
    t_hi: float | None  # its upper bound (None: open)


def _fast_levels(x: np.ndarray, percentiles) -> list[float] | None:
    """The ``percentiles`` of ``|x|`` for a large float array, or None to take the sorting way.

    NumPy's rule: position ``v = (n - 1) q`` of the sorted ``|x|``, ``q = p / 100``,
    interpolated between order statistics ``floor(v)`` and ``floor(v) + 1``. A
    strided sample of :data:`TAIL_SAMPLE` values gives, for each percentile, a
    window ``[lo, hi]`` of values that holds that position with room to spare
    (6 square roots of the sample size in rank on each side; a window reaching
    the sample's end is open there). One pass over blocks of the array counts
    the values below each window and keeps those inside it (``|x|`` in the
    array's own float dtype: exact; a window of one value, as ties of integer
    responses give, is only counted). When the count below is at most
    ``floor(v)`` and the window reaches past ``floor(v) + 1`` (checked, not
    assumed), the two order statistics are those of the kept values, shifted
    by that count. None for small, non-contiguous, non-float or non-finite
    arrays, a window that would hold the whole array, a sample that misled, or
    a white level (the last percentile) of 0 (the caller's rule applies).

    Measured on the 12 MP RGB float32 Sobel response of ``benchmarks/run.py``
    (CPU time, best of 5): ``np.percentile`` of the float64 copy 640-900 ms;
    this, 99.5th alone 65 ms, 75th and 99.5th 78 ms (134 ms with noise added,
    which breaks the ties).
    """
    if x.dtype not in (np.float32, np.float64) or x.size < TAIL_MIN_SIZE:
        return None
    if not x.flags.c_contiguous:
        return None
    flat = x.reshape(-1)
    windows = _windows(np.sort(np.abs(flat[:: max(1, flat.size // TAIL_SAMPLE)])), flat.size,
                       percentiles)  # fmt: skip
    if windows is None:
        return None
    parts = _in_blocks(flat, 1 << 18, lambda part: [_scan(np.abs(part), w) for w in windows])
    if not _all_finite(flat):
        return None
    levels = [_window_level(w, [part[i] for part in parts]) for i, w in enumerate(windows)]
    if None in levels or not levels[-1] > 0:
        return None
    return levels


def _windows(sample: np.ndarray, n: int, percentiles) -> list[_Window] | None:
    """One :class:`_Window` per percentile from the sorted ``sample`` of ``n`` values."""
    k = sample.size
    slack = 6 * math.sqrt(k)
    windows = []
    for p in percentiles:
        v = (n - 1) * (p / 100)
        lo = math.floor(v)
        j_lo = math.floor(k * (lo / n) - slack) - 1
        j_hi = math.ceil(k * ((lo + 1) / n) + slack) + 1
        t_lo = sample[j_lo] if j_lo > 0 else None
        t_hi = sample[j_hi] if j_hi < k else None
        if lo + 1 >= n or (t_lo is None and t_hi is None):
            return None
        windows.append(_Window(v, lo, t_lo, t_hi))
    return windows


def _scan(mag: np.ndarray, w: _Window) -> tuple[int, np.ndarray | int]:
    """``(values below the window, values inside it)`` of one block of ``|x|``: the values
    themselves, or their count for a one-value window."""
    if w.t_lo is None:
        return 0, mag[mag <= w.t_hi]
    inside = mag >= w.t_lo
    # all finite (checked by the caller): the values under t_lo are the rest
    below = mag.size - int(np.count_nonzero(inside))
    if w.t_hi is None:
        return below, mag[inside]
    if w.t_lo == w.t_hi:  # ties (integer responses): counting is enough
        return below, int(np.count_nonzero(mag == w.t_lo))
    inside &= mag <= w.t_hi
    return below, mag[inside]


def _window_level(w: _Window, found: list) -> float | None:
    """The percentile from the blocks' :func:`_scan` results, or None if the sample misled
    (the ranks lie outside the window)."""
    below = sum(b for b, _ in found)
    single = w.t_lo is not None and w.t_lo == w.t_hi
    kept = None if single else np.concatenate([values for _, values in found])
    size = sum(c for _, c in found) if single else kept.size
    if below > w.lo or below + size < w.lo + 2:
        return None
    if single:
        return float(w.t_lo)  # both order statistics are that one value
    ks = [w.lo - below, w.lo + 1 - below]
    kept.partition(ks)
    return _lerp(float(kept[ks[0]]), float(kept[ks[1]]), w.v - w.lo)


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
    black_percentile: float = STRETCH_BLACK_PERCENTILE,
    levels: tuple[float, float] | None = None,
) -> np.ndarray:
    """Map a float response to ``dtype`` pixels in ``[0, max_value]``, rounding to nearest.

    Args:
        response: float array of any shape.
        mode: ``clip``, ``abs``, ``rescale`` or ``stretch`` (see :data:`RANGE_MODES`).
        max_value: full white (255 for uint8, 65535 for uint16).
        dtype: integer output dtype.
        percentile, gamma, black_percentile: ``stretch`` only.
        levels: ``stretch`` only: :func:`stretch_levels` of ``response`` (black,
            white) when the caller has them already (computed otherwise).

    ``rescale`` maps the response's minimum to 0 and maximum to ``max_value``
    over the whole array (all channels together, so colours keep their
    balance); a constant response maps to 0.

    ``stretch`` maps ``v`` to ``max_value * clip((|v| - B) / (L - B), 0, 1) ** gamma``
    with ``(B, L)`` = :func:`stretch_levels` (the ``black_percentile`` and
    ``percentile`` of ``|v|``, whole array): the weakest ``black_percentile`` %
    of responses are black (the noise floor of a photo's flat areas), the
    strongest ``100 - percentile`` % full white, and a gamma under 1 lifts the
    weak ones in between (``gamma = 0.5`` as a square root, correctly rounded;
    other values by ``np.power``). Every mode runs on blocks of rows on the
    thread budget's threads.

    >>> to_pixels(np.array([0.0, -25.0, 100.0, -100.0, 400.0]), "stretch", max_value=255,
    ...           dtype=np.uint8, percentile=75, gamma=0.5, black_percentile=0)
    array([  0, 128, 255, 255, 255], dtype=uint8)
    >>> to_pixels(np.array([0.0, 5.0, 10.0, -10.0, 60.0, 110.0]), "stretch", max_value=255,
    ...           dtype=np.uint8, percentile=100, gamma=1, black_percentile=40)
    array([  0,   0,   0,   0, 128, 255], dtype=uint8)

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
        if levels is None:
            levels = stretch_levels(x, percentile, black_percentile)
        lo, white = levels
        factor = 1.0 / (white - lo) if white > lo else 0.0
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
    """One block of :func:`to_pixels`, in float (stretch: ``lo`` the black level, ``factor``
    ``1 / (white - black)``)."""
    if mode == "stretch":
        # max_value * clip((|x| - black) / (white - black), 0, 1) ** gamma, rounded
        # (factor 1 / (white - black); 0 everywhere for an all-zero map)
        t = np.abs(part).astype(np.float64 if part.dtype == np.float64 else np.float32)
        if lo:
            t -= lo
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
    black_percentile: float = STRETCH_BLACK_PERCENTILE,
    levels: tuple[float, float] | None = None,
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
        percentile, gamma, black_percentile: ``stretch`` only (:func:`to_pixels`).
        source_dtype: the source picture's dtype.
        levels: ``stretch`` of an integer picture only: :func:`stretch_levels` of
            ``response``, when the caller has them (a float picture's response is
            scaled first, so its levels are computed here).

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
    shape = dict(percentile=percentile, gamma=gamma, black_percentile=black_percentile)
    if source_dtype.kind in "ui":
        return to_pixels(
            response, mode, max_value=max_value, dtype=source_dtype, levels=levels, **shape
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
