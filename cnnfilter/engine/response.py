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
  from running sums, exact (int32/int64) for integer images. Both are
  computed one tile of windows at a time (:func:`_tiled_ncc`).

  **Flat template or flat window.** The correlation coefficient is 0/0
  there; the map holds **0** ("no evidence either way"), as OpenCV and
  scikit-image do, never NaN or inf. A window is flat when its values are
  all equal (integer images), or when its standard deviation is below
  ``1e-6`` times the value range of the image (float images, masks).

  **Mask.** A template's alpha weights the windows with OpenCV's masked
  formula (:func:`_masked_terms`); the map's cells are the same windows as
  without a mask (top-left pixel ``(r, c)``, whatever part is opaque).
  Its sums are correlations of the whole image, so a near-flat window far
  from the image's mean loses digits: error below ``eps * (range / s)^2``
  (``s`` the window's weighted standard deviation), 1e-9 where ``s > range
  / 1000``, ~1e-6 for ``s = 1`` in a full 16-bit range
  (tests/engine/test_masked_ncc_reference.py).

  **Precision.** Everything runs in float64: without a mask the values are
  within ~1e-9 of the exact coefficient on every window, near-flat ones, large offsets
  (1e4 + small detail) and 16-bit ranges included (checked against a
  window-by-window two-pass reference in tests/engine/test_ncc_precision.py).
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
    """The unmasked ncc map, its number of flat windows and the plan (:func:`_tiled_ncc`).

    The FFT plan computes the numerator tile by tile with the variances; a direct
    or separable plan correlates the whole image first (float images centred on
    their channel means: the zero-mean template makes that exact, and the sums
    cancel less).
    """
    tz = tmpl - tmpl.mean(axis=(0, 1))
    # Twice: the rounded mean of a template far from 0 (1e4 + small detail) leaves
    # sum(tz) ~ eps * n * level, which multiplies each window's level in the
    # numerator; after a second pass it is ~ eps * n * |tz|.
    tz -= tz.mean(axis=(0, 1))
    weights = tz if tz.shape[2] > 1 else tz[:, :, 0]
    plan = plan_method(weights, method=method, dtype=np.float64)  # once, for every channel
    numerator = None
    if plan.method != "fft":
        source = data
        if data.dtype.kind == "f":
            source = data - data.mean(axis=(0, 1), dtype=np.float64)
        numerator = _corr64(source if tz.shape[2] > 1 else source[:, :, 0], weights, plan)
    values, flats = _tiled_ncc(data, tz, limit, flat_out, numerator)
    return values, flats, plan


#: FFT tile of :func:`_tiled_ncc`, rows x columns, for a ``kh x kw`` template: the
#: fast lengths at or above ``NCC_TILE_FACTOR * (kh, kw)`` and at least
#: ``NCC_TILE_MIN`` (cut to the image). Measured for a 64 x 64 template on 12 MP gray,
#: one thread, CPU time of the whole call, best of 4 on a loaded machine: 256 x 1024
#: 0.70 s, 384 x 768 0.75, 768 x 768 0.75, 640 x 640 0.77, 512 x 1024 0.77,
#: 512 x 768 0.77: all within the noise; 512 x 768 keeps a tile's transform (3 MB)
#: near the 2 MB L2 cache and gives 42 tiles to share between the cores.
#: A large template's tile stops growing at ``NCC_TILE_MAX`` or twice the template
#: (so that the cores still share several tiles).
NCC_TILE_FACTOR = (8, 12)
NCC_TILE_MIN = (256, 384)
NCC_TILE_MAX = (1024, 1536)


def _ncc_tile_shape(kh: int, kw: int, h: int, w: int) -> tuple[int, int]:
    """``(fh, fw)``: the FFT tile of :func:`_tiled_ncc` (see :data:`NCC_TILE_FACTOR`)."""
    from scipy import fft

    sides = []
    for k, n, factor, least, most in zip(
        (kh, kw), (h, w), NCC_TILE_FACTOR, NCC_TILE_MIN, NCC_TILE_MAX, strict=True
    ):
        side = min(max(factor * k, least), max(most, 2 * k))
        sides.append(fft.next_fast_len(min(side, n), real=True))
    return sides[0], sides[1]


def _run_sums(a: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Sums of ``k`` consecutive entries along ``axis`` (valid: ``a.shape[axis] - k + 1``).

    Pairwise doubling: sums of 1, 2, 4, ... entries, combined by the binary digits of
    ``k`` (``log2 k`` whole-array adds, each in cache; numpy's ``cumsum`` is a scalar
    loop, about 4x slower here). Exact for integers held in float64 below 2^53, and
    more accurate than integral images for floats (no large running sums).
    """
    length = a.shape[axis] - k + 1
    lead = (slice(None),) * axis
    res = None
    off, span, p = 0, 1, a
    while True:
        if k & 1:
            part = p[lead + (slice(off, off + length),)]
            if res is None:
                res = part.copy()
            else:
                res += part
            off += span
        k >>= 1
        if not k:
            return res
        size = p.shape[axis]
        p = p[lead + (slice(0, size - span),)] + p[lead + (slice(span, size),)]
        span *= 2


def _int_window_sums(src: np.ndarray, kh: int, kw: int, acc: np.dtype) -> np.ndarray:
    """``(rows - kh + 1, C + 1, cols - kw + 1)``: every window's ``sum I`` per channel and
    ``sum I^2`` over all channels.

    ``src``: an integer tile ``(rows, cols, C)``; sums in ``acc`` (int32 or int64),
    exact while a window's sum of squares fits (the running sums may wrap around:
    their differences are still right). The planes are interleaved by rows, ``(rows,
    C + 1, cols)``, so that one call per row adds a contiguous block to the vertical
    running sums (measured on a 512 x 768 gray tile: 0.5 ms, against 1.2 ms for
    separate planes); horizontal running sums by ``cumsum``; then differences. One
    sum of squares for all channels: 4 window sums for RGB instead of 6.
    """
    from cnnfilter.engine._tiled import scratch

    rows, cols, depth = src.shape
    planes = scratch("ncc_planes", (rows, depth + 1, cols), acc)
    np.copyto(planes[:, :depth], src.transpose(0, 2, 1), casting="unsafe")
    squares = planes[:, depth]
    np.multiply(planes[:, 0], planes[:, 0], out=squares)
    for c in range(1, depth):
        squares += planes[:, c] * planes[:, c]
    cs = scratch("ncc_cs", (rows + 1, depth + 1, cols), acc)
    cs[0] = 0
    for i in range(rows):
        np.add(cs[i], planes[i], out=cs[i + 1])
    vert = scratch("ncc_vert", (rows - kh + 1, depth + 1, cols), acc)
    np.subtract(cs[kh:], cs[:-kh], out=vert)
    ch = scratch("ncc_ch", (rows - kh + 1, depth + 1, cols + 1), acc)
    ch[:, :, 0] = 0
    np.cumsum(vert, axis=2, dtype=acc, out=ch[:, :, 1:])
    sums = scratch("ncc_sums", (rows - kh + 1, depth + 1, cols - kw + 1), acc)
    np.subtract(ch[:, :, kw:], ch[:, :, :-kw], out=sums)
    return sums


def _int_variance(src: np.ndarray, kh: int, kw: int, acc: np.dtype) -> np.ndarray:
    """``n * sum over channels and window of (I - window mean)^2``, exact, integer tile.

    ``n S2 - sum_c S1_c^2`` from :func:`_int_window_sums`; in float64 when ``acc`` is
    int32 (``sum_c S1_c^2 <= n S2 < n 2^31``, exact below 2^53), in int64 otherwise
    (the caller checks ``n^2 C peak^2 < 2^62``). A flat window gives exactly 0.
    """
    sums = _int_window_sums(src, kh, kw, acc)
    depth = src.shape[2]
    n = kh * kw
    if acc == np.int32:
        var = np.multiply(sums[:, depth], float(n), dtype=np.float64)
        for c in range(depth):
            var -= np.multiply(sums[:, c], sums[:, c], dtype=np.float64)
        return var
    var = sums[:, depth] * n
    for c in range(depth):
        var -= sums[:, c] * sums[:, c]
    return var.astype(np.float64)


def _float_variance(x: np.ndarray, kh: int, kw: int, integer: bool, limit: float) -> np.ndarray:
    """``n * sum over the window of (I - window mean)^2`` for a float64 tile.

    ``x`` is centred on a constant (the tile's mean). ``n S2 - S1^2`` with the window
    sums by pairwise doubling (:func:`_run_sums`), whose rounding is below
    ``err = 64 eps n S2`` (``log2 n`` levels of sums, with a margin). Where that
    could be more than 1e-7 of the value (a window whose mean is farther from the
    tile's centre than ~4000 times its standard deviation) and the window is not
    certainly flat (``value + err <= limit``), the window is summed again
    directly, two-pass. ``integer`` (integers too large for exact sums): a window
    that is not flat has ``n * var >= n - 1``, so smaller values are 0.
    """
    n = kh * kw
    both = np.stack([x, x * x])
    s1, s2 = _run_sums(_run_sums(both, kh, 1), kw, 2)
    var = s2 * float(n)
    var -= s1 * s1
    np.maximum(var, 0.0, out=var)
    if integer:
        var[var < 0.25 * n] = 0.0
        return var
    # rounding of n S2 - S1^2: a few eps * n S2 (pairwise sums, log2 n levels)
    err = s2 * ((64 * np.finfo(np.float64).eps) * n)
    suspect = (var * 1e-7 < err) & (var + err > limit)
    if suspect.any():
        from numpy.lib.stride_tricks import sliding_window_view

        rows, cols = np.nonzero(suspect)
        windows = sliding_window_view(x, (kh, kw))
        for lo in range(0, rows.size, 256):
            r, c = rows[lo : lo + 256], cols[lo : lo + 256]
            w = windows[r, c]
            w = w - w.mean(axis=(1, 2), keepdims=True)
            var[r, c] = n * (w * w).sum(axis=(1, 2))
    return var


def _variance_kind(data: np.ndarray, n: int):
    """How :func:`_tiled_ncc` sums window variances: an int dtype (exact) or None (float).

    ``data``: ``(H, W, C)``; a window's sum of squares over all channels is at most
    ``n C peak^2``.
    """
    if data.dtype.kind not in "biu" or data.size == 0:
        return None
    peak = max(abs(int(data.min())), abs(int(data.max())))
    squares = n * data.shape[2] * peak * peak
    if squares < 2**31:
        return np.dtype(np.int32)
    if n * squares < 2**62:
        return np.dtype(np.int64)
    return None


def _tiled_ncc(data: np.ndarray, tz: np.ndarray, limit: float, flat_out, numerator=None):
    """The unmasked ncc, one tile of windows at a time: ``(map, number of flat windows)``.

    Each tile of output windows is done whole while its data is in cache, on every
    core: its image rows and columns are converted to float64 (float images centred
    on the tile's channel mean: exact for the numerator, as ``tz`` sums to 0, and
    it keeps the rounding relative to the tile's spread rather than its level),
    transformed (``scipy.fft.rfft2``), multiplied by the zero-mean template's
    spectrum and summed over channels, transformed back (overlap-save). The window
    variances come from the same tile: exact integer sums for integer images
    (:func:`_int_variance`), float ones otherwise (:func:`_float_variance`); the
    quotient goes straight into the map. ``numerator`` (the correlation of the whole
    image with ``tz``, from a direct or separable plan), when given, replaces the
    tiles' transforms.
    """
    from scipy import fft

    from cnnfilter.engine._tiled import chunks, parallel, scratch

    kh, kw, depth = tz.shape
    h, w = data.shape[:2]
    n = kh * kw
    oh, ow = h - kh + 1, w - kw + 1
    fh, fw = _ncc_tile_shape(kh, kw, h, w)
    # scaled so that the quotient is num / sqrt(n * var): sqrt(var * tt) = sqrt(n var) * this
    gain = 1.0 / np.sqrt(float((tz * tz).sum()) / n)
    if numerator is None:
        specs = [fft.rfft2(tz[::-1, ::-1, c] * gain, s=(fh, fw)) for c in range(depth)]
    acc = _variance_kind(data, n)
    integer = data.dtype.kind in "biu"
    out = np.empty((oh, ow))
    flats: list[int] = []

    def tile(o0: int, o1: int, p0: int, p1: int) -> None:
        block = data[o0 : o1 + kh - 1, p0 : p1 + kw - 1]
        total = None
        var = None if acc is None else _int_variance(block, kh, kw, acc)
        for c in range(depth):
            src = block[:, :, c]
            x = None
            if numerator is None or acc is None:
                x = scratch("ncc_x", src.shape, np.dtype(np.float64))
                np.copyto(x, src, casting="unsafe")
                if acc != np.int32:  # a wide range: keep the rounding relative to the spread
                    centre = float(x.mean())
                    x -= round(centre) if integer else centre
            if numerator is None:
                spec = fft.rfft2(x, s=(fh, fw))
                spec *= specs[c]
                total = spec if total is None else np.add(total, spec, out=total)
            if acc is None:
                v = _float_variance(x, kh, kw, integer, limit * n)
                var = v if var is None else np.add(var, v, out=var)
        if numerator is None:
            # inverse along the columns, then along the rows only for the rows kept
            # (measured: 40% less time than irfft2 for a 512 x 768 tile)
            total = fft.ifft(total, axis=0, overwrite_x=True)[kh - 1 : kh - 1 + o1 - o0]
            num = fft.irfft(total, n=fw, axis=1, overwrite_x=True)[:, kw - 1 : kw - 1 + p1 - p0]
        else:
            num = numerator[o0:o1, p0:p1] * gain
        flat = _tile_quotient(num, var, limit * n, out[o0:o1, p0:p1])
        flats.append(0 if flat is None else int(np.count_nonzero(flat)))
        if flat_out is not None:
            flat_out[o0:o1, p0:p1] = False if flat is None else flat

    per_h, per_w = fh - kh + 1, fw - kw + 1
    bounds = [(a, b, c, d) for a, b in chunks(oh, per_h) for c, d in chunks(ow, per_w)]
    parallel(tile, bounds)
    return out, sum(flats)


def _tile_quotient(num: np.ndarray, var: np.ndarray, limit: float, dst: np.ndarray):
    """``dst = clip(num / sqrt(var), -1, 1)``, 0 where ``var <= limit``; the flat mask.

    ``var`` (float64, overwritten) is ``n`` times the window variance sum; ``num``
    was scaled to match. The flat mask (None when no window is flat) is only built
    when the smallest variance says it is needed.
    """
    flat = None
    if float(var.min()) <= limit:
        flat = var <= limit
        var[flat] = 1.0
    np.sqrt(var, out=var)
    np.divide(num, var, out=dst)
    if flat is not None:
        dst[flat] = 0.0
    np.clip(dst, -1.0, 1.0, out=dst)
    return flat


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
    plans: dict = {}

    def corr(x: np.ndarray, k: np.ndarray) -> np.ndarray:
        # one plan per distinct kernel: the mask is the same in every channel, and each
        # plan's rank-1 check is an SVD (12 plans for an RGB soft mask otherwise; under
        # load one SVD of 64 x 64 took 90-150 ms on 2-thread OpenBLAS)
        key = k.tobytes()
        if key not in plans:
            plans[key] = plan_method(k, method=method, dtype=np.float64)
        return _corr64(x, k, plans[key])

    for c in range(data.shape[2]):
        x = data[:, :, c].astype(np.float64)
        x -= x.mean()
        ibar = corr(x, a[:, :, c]) / sa[c]
        mb = ibar * sa[c] if binary else corr(x, b[:, :, c])
        numerator += corr(x, u[:, :, c]) - ibar * u[:, :, c].sum()
        var += corr(x * x, b[:, :, c]) - 2 * ibar * mb + ibar * ibar * sb[c]
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
