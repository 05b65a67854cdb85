"""Response maps of a pattern over an image, and their peaks.

A response map says, for every place the pattern fits inside the image, how
strongly the image there looks like the pattern. Both methods slide the
pattern over the image without padding (``padding="valid"``), so the map of
an ``H x W`` image and a ``kh x kw`` pattern is ``(H - kh + 1) x (W - kw + 1)``
and **map cell** ``(r, c)`` **is the window whose top-left pixel is image
pixel** ``(r, c)``, the convention of OpenCV's ``matchTemplate`` and of
scikit-image's ``match_template`` (without ``pad_input``). The window's
centre is image pixel ``(r + (kh - 1) / 2, c + (kw - 1) / 2)``.

* ``raw``: the cross-correlation a CNN layer computes, the plain sum of
  products ``sum_ij w[i, j] * I[r + i, c + j]`` over rows, columns and
  channels (the article's 6600). Computed by
  :func:`cnnfilter.engine.filtering.correlate`, which switches to the FFT for
  large patterns.
* ``ncc``: zero-mean normalised cross-correlation, in ``[-1, 1]``, equal to
  OpenCV's ``TM_CCOEFF_NORMED`` and scikit-image's ``match_template``::

      ncc(r, c) = sum T'(i, j) I'(r + i, c + j) / sqrt(sum T'^2 * sum I'^2)

  where ``T'`` is the template minus its mean and ``I'`` the window minus
  its mean. For colour, the means are taken per channel and the sums run
  over all channels (OpenCV's rule; scikit-image agrees on gray images).
  The numerator is ``correlate(image, T')`` (``T'`` sums to 0, so the
  window mean drops out); the window sums ``sum I`` and ``sum I^2`` come
  from integral images, exact in int64 for integer images.

  **Flat template or flat window.** The correlation coefficient is 0/0
  there; the map holds **0** ("no evidence either way"), as OpenCV and
  scikit-image do, never NaN or inf. A window is flat when its values are
  all equal (integer images), or when its standard deviation is below
  ``1e-6`` times the value range of the image (float images, masks).

  **Mask.** A template's alpha weights the windows with OpenCV's masked
  formula (:func:`_masked_terms`).

  **Precision.** Everything runs in float64: the values are within ~1e-11
  of the exact coefficient on every window, near-flat ones included.
  OpenCV's float32 ``matchTemplate`` errs by up to 0.17 there (measured by
  ``benchmarks/detect.py``); the float64 FFT is what keeps gray ncc slower
  than OpenCV (see docs/speed.md).

**Non-finite pixels.** NaN or inf in the image make exactly the map cells
whose window covers one non-finite (raw: the direct sum's IEEE value, see
:mod:`cnnfilter.engine.filtering`; ncc: NaN). The pattern must be finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnfilter.engine.choices import RESPONSE_METHODS
from cnnfilter.engine.filtering import (
    FilterPlan,
    _filter,
    correlate,
    filter_geometry,
    plan_method,
    work_dtype,
)
from cnnfilter.errors import UsageError

__all__ = [
    "METHODS",
    "FLAT_STD_FRACTION",
    "Peak",
    "ResponseMap",
    "response_map",
    "ncc_map",
    "raw_map",
    "find_peaks",
]

#: ``method`` names and what each computes.
METHODS = RESPONSE_METHODS

#: A float window is flat when its standard deviation is below this fraction of the
#: image's value range.
FLAT_STD_FRACTION = 1e-6


@dataclass(frozen=True)
class ResponseMap:
    """A response map and what it took to make it.

    Attributes:
        values: ``(H - kh + 1, W - kw + 1)`` float map; cell ``(r, c)`` is the
            window with top-left image pixel ``(r, c)``.
        method: ``"raw"`` or ``"ncc"``.
        pattern_shape: ``(kh, kw)`` of the pattern.
        flat_template: ncc only: the template is flat, so the map is all 0.
        flat_windows: ncc only: number of flat windows (set to 0).
        masked: ncc only: the template's mask (alpha) weighted the windows.
        plan: how the correlation ran (:class:`~cnnfilter.engine.filtering.FilterPlan`:
            direct, separable or fft, and why), resolved once from the kernel that was
            correlated (ncc: the zero-mean template); None when nothing was correlated
            (a flat ncc template).
    """

    values: np.ndarray
    method: str
    pattern_shape: tuple[int, int]
    flat_template: bool = False
    flat_windows: int = 0
    plan: FilterPlan | None = None
    masked: bool = False


def _check_array(name: str, array: np.ndarray, dims: str, *, finite: bool) -> np.ndarray:
    """``array`` as an ndarray of numbers with 2 or 3 dimensions, or a UsageError."""
    array = np.asarray(array)
    if array.ndim not in (2, 3) or array.size == 0:
        raise UsageError(f"{name} must have shape {dims}, got {array.shape}")
    if array.dtype.kind not in "biuf":
        raise UsageError(f"{name} must hold numbers, got dtype {array.dtype}")
    if finite and array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise UsageError(f"{name} contains NaN or inf; every value must be a finite number")
    return array


def _check(image: np.ndarray, pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays checked; a 3-D pattern of one channel becomes 2-D for a gray image.

    The image may hold NaN or inf (the map is NaN or inf where a window covers
    one); the pattern must be finite.
    """
    image = _check_array("image", image, "(H, W) or (H, W, C)", finite=False)
    pattern = _check_array("pattern", pattern, "(kh, kw) or (kh, kw, C)", finite=True)
    if pattern.ndim == 3:
        depth = image.shape[2] if image.ndim == 3 else 1
        if pattern.shape[2] != depth:
            raise UsageError(
                f"the pattern has {pattern.shape[2]} channels but the image has {depth}; give a "
                "pattern with the image's channels, or a gray (2-D) one"
            )
        if image.ndim == 2:
            pattern = pattern[:, :, 0]
    kh, kw = pattern.shape[:2]
    if kh > image.shape[0] or kw > image.shape[1]:
        raise UsageError(
            f"the pattern ({kh}x{kw}) is larger than the image "
            f"({image.shape[0]}x{image.shape[1]}); it must fit inside it"
        )
    return image, pattern


def raw_map(image: np.ndarray, pattern: np.ndarray, *, method: str = "auto") -> np.ndarray:
    """Cross-correlation (no flip) of ``image`` with ``pattern``, summed over channels.

    Args:
        image: ``(H, W)`` or ``(H, W, C)``, numbers (NaN and inf allowed:
            the map is non-finite exactly where a window covers one under a
            non-zero tap, as :func:`~cnnfilter.engine.filtering.correlate`).
        pattern: ``(kh, kw)`` (applied to every channel) or ``(kh, kw, C)``.
        method: ``"auto"``, ``"direct"`` or ``"fft"``, as the engine's
            :func:`~cnnfilter.engine.filtering.correlate`.

    Returns:
        ``(H - kh + 1, W - kw + 1)`` array in ``work_dtype(image.dtype)``.

    Raises:
        UsageError: bad shapes, NaN/inf in the pattern, a pattern larger than
            the image or with another channel count.

    >>> img = np.zeros((3, 4)); img[1, 2] = 50
    >>> raw_map(img, np.array([[0.0, 30.0], [0.0, 0.0]]))  # the 30 tap meets the 50 at (1, 1)
    array([[   0.,    0.,    0.],
           [   0., 1500.,    0.]])
    """
    image, pattern = _check(image, pattern)
    return correlate(image, pattern, padding="valid", channels="sum", method=method)


#: Output rows per strip of :func:`_variance_sums`: a strip's integral image of a
#: 4000-column photo is ~3 MB, in cache. Measured on 12 MP gray, 64x64 windows, two
#: threads on a loaded 2-core machine: whole-image integral images 6.7 s, strips of 32
#: rows 0.5 s (the whole-image arrays are 96 MB each and every pass goes to memory).
VARIANCE_STRIP_ROWS = 256


def _variance_sums(data: np.ndarray, kh: int, kw: int, finish=None) -> np.ndarray:
    """``sum over channels and window of (I - window mean)^2``, >= 0, float64.

    ``finish(o0, o1, var)``, when given, runs on each finished strip of output
    rows ``[o0, o1)`` while it is in cache (the ncc quotient).

    ``data``: ``(H, W, C)``. Integral images (cumulative sums along the rows,
    then the columns) of each strip of output rows, on every core. Integer
    channels sum in int64 and ``n S2 - S1^2`` is exact (0 exactly for a flat
    window) while it fits; float channels are centred on their mean first and
    sum in float64.
    """
    from cnnfilter.engine._tiled import chunks, parallel, scratch

    h, w, depth = data.shape
    n = kh * kw
    out = np.zeros((h - kh + 1, w - kw + 1))
    integer = data.dtype.kind in "biu"
    acc = np.float64
    if integer:
        peak = int(np.abs(data).max()) if data.size else 0
        exact = n * n * peak * peak < 2**62
        means = [0] * depth
        # int32 integral images wrap around, but every window sum (< 2^31) comes out
        # right from their differences; int64 otherwise.
        acc = np.int32 if n * peak * peak < 2**31 else np.int64
    else:
        means = [float(data[:, :, c].mean()) for c in range(depth)]

    def strip(o0: int, o1: int) -> None:
        dst = out[o0:o1]
        for c in range(depth):
            src = data[o0 : o1 + kh - 1, :, c]
            x = scratch("var_x", src.shape, np.dtype(acc))
            np.copyto(x, src, casting="unsafe")
            if not integer:
                x -= means[c]
            s1 = _box_sums(x, kh, kw, "s1")
            np.multiply(x, x, out=x)
            s2 = _box_sums(x, kh, kw, "s2")
            if integer and exact:  # exact in float64 too: n S2 and S1^2 stay below 2^53
                var = scratch("var_v", s2.shape, np.dtype(np.float64))
                sq = scratch("var_q", s1.shape, np.dtype(np.float64))
                np.multiply(s2, float(n), out=var, casting="unsafe")
                np.copyto(sq, s1, casting="unsafe")
                np.multiply(sq, sq, out=sq)
                np.subtract(var, sq, out=var)
                np.multiply(var, 1.0 / n, out=var)
                np.add(dst, var, out=dst)
            elif integer:
                var = s2 - s1.astype(np.float64) ** 2 / n
                var[var < 0.25] = 0.0  # a window that is not flat has var >= (n - 1) / n
                dst += var
            else:
                dst += np.maximum(s2 - s1 * s1 / n, 0.0)
        if finish is not None:
            finish(o0, o1, dst)

    parallel(strip, chunks(out.shape[0], VARIANCE_STRIP_ROWS))
    return out


def _box_sums(x: np.ndarray, kh: int, kw: int, tag: str) -> np.ndarray:
    """Sums over every ``kh x kw`` window of a 2-D strip (valid), by integral images.

    Works in per-thread scratch buffers named by ``tag`` (fresh multi-megabyte
    arrays cost page faults on every strip); the result is valid until the
    thread's next call with the same ``tag``.
    """
    from cnnfilter.engine._tiled import scratch

    rows, width = x.shape
    cs = scratch(tag + "_v", (rows + 1, width), x.dtype)
    cs[0] = 0
    # Row by row: numpy's cumsum along axis 0 walks each column in turn (measured on a
    # 320 x 4000 int32 strip: 55 ms, against 1 ms for these row adds).
    for i in range(rows):
        np.add(cs[i], x[i], out=cs[i + 1])
    cols = scratch(tag + "_c", (rows - kh + 1, width), x.dtype)
    np.subtract(cs[kh:], cs[:-kh], out=cols)
    ch = scratch(tag + "_h", (rows - kh + 1, width + 1), x.dtype)
    ch[:, 0] = 0
    np.cumsum(cols, axis=1, out=ch[:, 1:])
    res = scratch(tag + "_r", (rows - kh + 1, width - kw + 1), x.dtype)
    np.subtract(ch[:, kw:], ch[:, :-kw], out=res)
    return res


def _corr64(data: np.ndarray, weights: np.ndarray, plan: FilterPlan | str) -> np.ndarray:
    """Valid cross-correlation in float64 of ``(H, W)``/``(H, W, C)`` data, summed over channels."""
    return _filter(
        data, weights, flip=False, padding="valid", boundary="symmetric", cval=0.0, stride=1,
        dilation=1, channels="sum", method=plan, work=np.float64,
    )  # fmt: skip


def _quotient(num: np.ndarray, var: np.ndarray, tt: float, limit: float, flat_out=None) -> int:
    """``num = clip(num / sqrt(var * tt), -1, 1)`` in place, 0 where ``var <= limit``.

    ``var`` is overwritten; ``flat_out`` (bool, same shape), when given,
    receives the flat windows. Returns the number of flat windows.
    """
    flat = var <= limit
    if flat_out is not None:
        flat_out[...] = flat
    np.multiply(var, tt, out=var)
    np.sqrt(var, out=var)
    var[flat] = 1.0
    np.divide(num, var, out=num)
    num[flat] = 0.0
    np.clip(num, -1.0, 1.0, out=num)
    return int(np.count_nonzero(flat))


def _plain_ncc(data: np.ndarray, tmpl: np.ndarray, method, limit: float, flat_out) -> tuple:
    """The unmasked ncc map, its number of flat windows and the plan.

    The numerator is one correlation of the image (as it is, no copy: the
    engine converts tiles to float64) with the zero-mean template, summed over
    channels in the frequency domain (one inverse transform for all channels).
    The quotient is taken strip by strip as the window variances come.
    """
    kh, kw, depth = tmpl.shape
    tz = tmpl - tmpl.mean(axis=(0, 1))
    tt = float((tz * tz).sum())
    weights = tz if depth > 1 else tz[:, :, 0]
    plan = plan_method(weights, method=method, dtype=np.float64)  # once, for every channel
    source = data if depth > 1 else data[:, :, 0]
    numerator = _corr64(source, weights, plan)
    flats: list[int] = []

    def finish(o0: int, o1: int, var: np.ndarray) -> None:
        part = None if flat_out is None else flat_out[o0:o1]
        flats.append(_quotient(numerator[o0:o1], var, tt, limit, part))

    _variance_sums(data, kh, kw, finish=finish)
    return numerator, sum(flats), plan


def _masked_terms(data: np.ndarray, tmpl: np.ndarray, weights: np.ndarray, method) -> tuple:
    """Numerator, window variance sum, template energy and plan of the masked ncc.

    OpenCV's formula (``matchTemplate`` with a mask, ``TM_CCOEFF_NORMED``),
    with ``M`` the mask, means weighted by ``M`` and products by ``M^2``::

        T' = M (T - sum(M T) / sum(M)),  I' = M (I - sum(M I) / sum(M))  (per window)
        ncc = sum T' I' / sqrt(sum T'^2 * sum I'^2)

    Per channel: ``ibar = corr(I, M) / sum M``; ``sum T' I' = corr(I, u) - ibar
    sum u`` with ``u = M^2 (T - tbar)``; ``sum I'^2 = corr(I^2, M^2) - 2 ibar
    corr(I, M^2) + ibar^2 sum M^2``. A 0/1 mask needs three correlations per
    channel, another mask four. The image is centred on its channel means
    first (the correlations cancel less).
    """
    a = weights
    b = a * a
    binary = bool(np.all((a == 0) | (a == 1)))
    sa, sb = a.sum(axis=(0, 1)), b.sum(axis=(0, 1))
    tbar = (a * tmpl).sum(axis=(0, 1)) / sa
    u = b * (tmpl - tbar)
    tt = float((b * (tmpl - tbar) ** 2).sum())
    # each correlation plans for its own kernel (the mask may be rank 1 where u is not)
    plan = plan_method(u[:, :, 0], method=method, dtype=np.float64)
    if isinstance(method, FilterPlan):
        method = method.method
    shape = (data.shape[0] - tmpl.shape[0] + 1, data.shape[1] - tmpl.shape[1] + 1)
    numerator, var = np.zeros(shape), np.zeros(shape)
    for c in range(data.shape[2]):
        x = data[:, :, c].astype(np.float64)
        x -= x.mean()
        ibar = _corr64(x, a[:, :, c], method) / sa[c]
        mb = ibar * sa[c] if binary else _corr64(x, b[:, :, c], method)
        numerator += _corr64(x, u[:, :, c], method) - ibar * u[:, :, c].sum()
        var += _corr64(x * x, b[:, :, c], method) - 2 * ibar * mb + ibar * ibar * sb[c]
    np.maximum(var, 0.0, out=var)
    return numerator, var, tt, plan


def _check_mask(mask, template: np.ndarray, depth: int) -> np.ndarray:
    """The mask as ``(kh, kw, depth)`` float64 weights in ``[0, 1]``, or a UsageError."""
    m = np.asarray(mask)
    kh, kw = template.shape[:2]
    if m.dtype.kind not in "biuf" or m.shape[:2] != (kh, kw) or m.ndim not in (2, 3):
        raise UsageError(
            f"mask must be numbers of shape ({kh}, {kw}) or ({kh}, {kw}, C) like the template, "
            f"got {m.dtype} {m.shape}"
        )
    m = m.astype(np.float64)
    if not np.all(np.isfinite(m)) or m.min() < 0 or m.max() > 1:
        raise UsageError("mask values must be weights in [0, 1] (alpha / 255 for 8-bit alpha)")
    if m.ndim == 3 and m.shape[2] not in (1, depth):
        raise UsageError(f"mask has {m.shape[2]} channels; give 1 or {depth}")
    m = m.reshape(kh, kw, -1)
    if not np.all(m.sum(axis=(0, 1)) > 0):
        raise UsageError(
            "the mask is 0 everywhere (a fully transparent template): nothing to match"
        )
    return np.broadcast_to(m, (kh, kw, depth))


def _covered(bad: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Valid windows of ``footprint`` (kh, kw) that cover a True pixel of ``bad`` (H, W)."""
    dtype = np.float32 if footprint.sum() <= 2**16 else np.float64
    counts = correlate(bad.astype(dtype), footprint.astype(dtype), padding="valid")
    return counts > 0.5


def ncc_map(
    image: np.ndarray,
    template: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    method: str | FilterPlan = "auto",
) -> ResponseMap:
    """Zero-mean normalised cross-correlation (OpenCV ``TM_CCOEFF_NORMED``), valid windows.

    Args:
        image: ``(H, W)`` or ``(H, W, C)``, numbers. NaN and inf are allowed:
            a window that covers one (under a non-zero mask weight) scores NaN.
        template: ``(kh, kw)`` (used for every channel) or ``(kh, kw, C)``.
        mask: None, or weights in ``[0, 1]`` of shape ``(kh, kw)`` or
            ``(kh, kw, C)`` (a template's alpha / 255): only the weighted
            pixels count, with OpenCV's masked formula (see
            :func:`_masked_terms`); an exact copy of the opaque part scores 1.
        method: how the correlations are computed (``"auto"`` picks the FFT
            for templates of more than :data:`~cnnfilter.engine.filtering.DIRECT_MAX_TAPS`
            taps); always in float64.

    Returns:
        A :class:`ResponseMap` with float64 values in ``[-1, 1]`` (NaN where a
        window covers a non-finite pixel); 0 where the template or the window
        is flat (see the module notes; a masked window is flat when its
        weighted standard deviation is below ``1e-6`` of the image's range).

    Raises:
        UsageError: as :func:`raw_map`; a mask of another shape, with values
            outside ``[0, 1]``, or 0 everywhere.

    >>> img = np.array([[0, 0, 0, 0], [0, 9, 1, 0], [0, 0, 0, 0]], dtype=np.uint8)
    >>> ncc_map(img, img[1:3, 1:3]).values.round(3)  # the copy scores 1 at its top-left (1, 1)
    array([[-0.382, -0.439, -0.382],
           [-0.229,  1.   ,  0.994]])
    """
    image, template = _check(image, template)
    kh, kw = template.shape[:2]
    data = image if image.ndim == 3 else image[:, :, np.newaxis]
    depth = data.shape[2]
    tmpl = np.asarray(template, dtype=np.float64)
    if tmpl.ndim == 2:
        tmpl = np.repeat(tmpl[:, :, np.newaxis], depth, axis=2)
    weights = None if mask is None else _check_mask(mask, template, depth)
    shape = filter_geometry(data.shape, (kh, kw), padding="valid").out_shape
    bad = None
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        bad = ~np.isfinite(data).all(axis=2)
        data = np.where(np.isfinite(data), data, 0.0)
    if weights is None:
        flat_template = np.all(np.ptp(tmpl.reshape(-1, depth), axis=0) == 0)
    else:
        flat_template = all(np.ptp(tmpl[:, :, c][weights[:, :, c] > 0]) == 0 for c in range(depth))
    if flat_template:
        values = np.zeros(shape)
        if bad is not None:
            foot = np.ones((kh, kw)) if weights is None else (weights != 0).any(axis=2)
            values[_covered(bad, foot)] = np.nan
        return ResponseMap(values, "ncc", (kh, kw), flat_template=True, masked=mask is not None)
    n = kh * kw if weights is None else float((weights * weights).sum()) / depth
    limit = 0.0  # integer windows: flat exactly when the exact variance sum is 0
    if data.dtype.kind == "f" or weights is not None:
        span = max(float(np.ptp(data[:, :, c])) for c in range(depth))
        limit = depth * n * (FLAT_STD_FRACTION * span) ** 2
    flat = None if bad is None else np.zeros(shape, dtype=bool)
    if weights is None:
        out, flats, plan = _plain_ncc(data, tmpl, method, limit, flat)
    else:
        out, var, tt, plan = _masked_terms(data, tmpl, weights, method)
        flats = _quotient(out, var, tt, limit, flat)
    if bad is not None:
        foot = np.ones((kh, kw)) if weights is None else (weights != 0).any(axis=2)
        covered = _covered(bad, foot)
        flats = int(np.count_nonzero(flat & ~covered))
        out[covered] = np.nan
    return ResponseMap(out, "ncc", (kh, kw), flat_windows=flats, plan=plan, masked=mask is not None)


def response_map(
    image: np.ndarray,
    pattern: np.ndarray,
    *,
    method: str = "raw",
    impl: str = "auto",
    mask: np.ndarray | None = None,
) -> ResponseMap:
    """The response map of ``pattern`` over ``image`` by ``method`` (:data:`METHODS`).

    ``impl`` (``auto``/``direct``/``separable``/``fft``) chooses how the
    correlation is computed; every choice gives the same values to float
    rounding. The plan that ran is the result's ``plan``, resolved once.
    ``mask`` (weights in ``[0, 1]``, ``(kh, kw)``, a template's alpha): ncc
    uses OpenCV's masked formula (:func:`ncc_map`); raw multiplies the
    pattern by it (transparent taps add nothing).

    Raises:
        UsageError: unknown method, or as :func:`raw_map` and :func:`ncc_map`.
    """
    if method == "raw":
        image, pattern = _check(image, pattern)
        if mask is not None:
            weights = _check_mask(mask, pattern, pattern.shape[2] if pattern.ndim == 3 else 1)
            pattern = pattern * (weights if pattern.ndim == 3 else weights[:, :, 0])
        plan = plan_method(pattern, method=impl, dtype=work_dtype(image.dtype))
        values = correlate(image, pattern, padding="valid", channels="sum", method=plan)
        shape = tuple(np.shape(pattern)[:2])
        return ResponseMap(values, "raw", shape, plan=plan, masked=mask is not None)
    if method == "ncc":
        return ncc_map(image, pattern, method=impl, mask=mask)
    raise UsageError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


@dataclass(frozen=True)
class Peak:
    """One peak of a response map: the map cell ``(row, col)`` and its score."""

    row: int
    col: int
    score: float


def find_peaks(
    values: np.ndarray,
    *,
    top: int = 10,
    min_distance: int = 1,
    threshold: float | None = None,
) -> list[Peak]:
    """The ``top`` highest local maxima of a 2-D map, at least ``min_distance`` apart.

    The rule, for every map shape and value pattern (``D = min_distance``):

    1. Only finite cells count: NaN and +-inf cells are never peaks and are
       left out of every neighbourhood.
    2. A **candidate** is a finite cell at least as large as every finite
       cell of the ``(2D + 1) x (2D + 1)`` square around it (cells past the
       border do not count), and ``>= threshold`` when one is given.
    3. Background: when the finite cells are not all equal, a cell equal to
       their minimum is not a candidate (a flat background is never a peak).
       When they are all equal (a constant map, a 1x1 map), every cell is a
       candidate: the whole map is one plateau.
    4. Plateaus: neighbouring candidates (8-connected) always hold the same
       value (each is at least the other); each connected group is **one**
       peak, placed at its cell nearest the group's centroid (ties: smaller
       row, then smaller column).
    5. Peaks are taken from the highest down (ties: smaller row, then
       smaller column); a peak within ``D`` rows **and** ``D`` columns of one
       already taken is skipped, so no two reported peaks are within
       Chebyshev distance ``D`` (scikit-image's ``peak_local_max`` spacing).

    So a map with a finite cell always reports at least one peak unless the
    threshold removes it, and a map smaller than ``D`` reports its maximum.

    Args:
        values: ``(h, w)`` map, any float values (NaN/inf are skipped).
        top: largest number of peaks returned (>= 1).
        min_distance: ``D`` >= 1.
        threshold: smallest score reported, or None.

    Returns:
        Peaks sorted by score, highest first; ``score`` is a finite float.

    Raises:
        UsageError: a map that is not 2-D or is empty, ``top`` or ``min_distance`` < 1.

    >>> m = np.zeros((5, 7)); m[1, 1] = 3; m[1, 2] = 2; m[3, 5] = 1
    >>> [(p.row, p.col, p.score) for p in find_peaks(m, min_distance=1)]
    [(1, 1, 3.0), (3, 5, 1.0)]
    >>> find_peaks(np.array([[0.25]]))  # a 1x1 map: its one value is the best match
    [Peak(row=0, col=0, score=0.25)]
    """
    from scipy import ndimage

    values = np.asarray(values)
    if values.ndim != 2 or values.size == 0:
        raise UsageError(f"a response map must be 2-D and not empty, got shape {values.shape}")
    if top < 1:
        raise UsageError(f"top must be >= 1, got {top}")
    if min_distance < 1:
        raise UsageError(f"min_distance must be >= 1, got {min_distance}")
    values = values.astype(np.float64, copy=False)
    finite = np.isfinite(values)
    if not finite.any():
        return []
    work = np.where(finite, values, -np.inf)
    size = 2 * min_distance + 1
    local_max = ndimage.maximum_filter(work, size=size, mode="constant", cval=-np.inf)
    candidates = finite & (work == local_max)
    lowest, highest = values[finite].min(), values[finite].max()
    if highest > lowest:
        candidates &= work > lowest
    if threshold is not None:
        candidates &= work >= threshold
    rows, cols = _plateau_representatives(candidates)
    scores = values[rows, cols]
    order = np.lexsort((cols, rows, -scores))
    blocked = np.zeros(values.shape, dtype=bool)
    peaks: list[Peak] = []
    d = min_distance
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if blocked[r, c]:
            continue
        peaks.append(Peak(r, c, float(scores[k])))
        if len(peaks) == top:
            break
        blocked[max(r - d, 0) : r + d + 1, max(c - d, 0) : c + d + 1] = True
    return peaks


def _plateau_representatives(candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One cell per 8-connected group of candidates: the one nearest the group's centroid."""
    from scipy import ndimage

    labels, count = ndimage.label(candidates, structure=np.ones((3, 3), dtype=bool))
    rows, cols = np.nonzero(labels)
    if count == rows.size:  # no plateau: every group is one cell
        return rows, cols
    lab = labels[rows, cols]
    sizes = np.bincount(lab, minlength=count + 1)
    centre_r = np.bincount(lab, weights=rows, minlength=count + 1) / np.maximum(sizes, 1)
    centre_c = np.bincount(lab, weights=cols, minlength=count + 1) / np.maximum(sizes, 1)
    dist = (rows - centre_r[lab]) ** 2 + (cols - centre_c[lab]) ** 2
    order = np.lexsort((cols, rows, dist, lab))
    first = order[np.r_[True, lab[order][1:] != lab[order][:-1]]]
    return rows[first], cols[first]
