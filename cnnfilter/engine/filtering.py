"""2-D convolution and cross-correlation of images with a kernel.

One private function, :func:`_filter`, computes both public operations:

* :func:`correlate` (cross-correlation, what a CNN layer computes and what
  OpenCV's ``filter2D`` and ``scipy.ndimage.correlate`` compute):
  ``out[y, x] = sum_ij w[i, j] * in[y*s + i*d - p_top, x*s + j*d - p_left]``;
* :func:`convolve` (true convolution, the flipped kernel, what
  ``scipy.signal.convolve2d`` and ``scipy.ndimage.convolve`` compute and what
  the article uses): the same sum with ``w`` flipped in both axes.

Dtype rule (:func:`work_dtype`): the result is float32 for inputs of up to 16
bits (uint8, uint16, int8, int16, bool, float16, float32), float64 for
float64 and wider integers. Sums never accumulate in an integer type.

Methods (:func:`plan_method` picks one; all agree to floating-point rounding;
the implementations are in :mod:`cnnfilter.engine._tiled`):

* ``direct``: per row tile, ``kw`` banded matrix products (BLAS ``?gemm``
  with ``beta = 1``), one per kernel column, each reading the source rows
  shifted by that column and adding into the output rows in place
  (:class:`~cnnfilter.engine._tiled.FlatRows`); where that does not apply
  (column stride > 1, channels summed, image borders) one banded product
  sums each kernel column's taps down the rows, then one shifted add per
  kernel column;
* ``separable``: rank-1 kernels as a column pass and a row pass, both banded
  matrix products;
* ``fft``: overlap-save over square tiles with scipy.fft.

NaN and inf in the image: every method gives non-finite values exactly
where a window covers one under a non-zero weight, with the direct sum's
IEEE value (the FFT by masks, :func:`_fft_nonfinite`).

Each works on tiles of the border-extended image built on demand from the
input (no padded copy, no float copy of the whole input, no stride-1 output
when a stride is asked for), on every core.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnnfilter.engine import _tiled
from cnnfilter.engine.boundary import boundary_mode, canonical_boundary
from cnnfilter.engine.choices import FILTER_METHODS
from cnnfilter.engine.geometry import AxisGeometry, PaddingSpec, resolve_axes
from cnnfilter.engine.separable import separate
from cnnfilter.errors import UsageError

__all__ = [
    "FilterGeometry",
    "FilterPlan",
    "METHODS",
    "plan_method",
    "choose_method",
    "correlate",
    "convolve",
    "filter_geometry",
    "work_dtype",
]


def work_dtype(dtype: np.dtype | type) -> np.dtype:
    """The floating dtype the engine computes in for an input of ``dtype``.

    >>> work_dtype(np.uint8), work_dtype(np.float64)
    (dtype('float32'), dtype('float64'))
    """
    dtype = np.dtype(dtype)
    if dtype == np.float64 or dtype == np.longdouble:
        return np.dtype(np.float64)
    if dtype.kind in "iu" and dtype.itemsize > 2:
        return np.dtype(np.float64)
    if dtype.kind in "biuf":
        return np.dtype(np.float32)
    raise UsageError(f"image dtype must be boolean, integer or float, got {dtype}")


@dataclass(frozen=True)
class FilterGeometry:
    """Resolved geometry of one filtering call: rows and columns."""

    rows: AxisGeometry
    cols: AxisGeometry

    @property
    def out_shape(self) -> tuple[int, int]:
        """``(out_rows, out_cols)``."""
        return self.rows.out, self.cols.out


def filter_geometry(
    image_shape: tuple[int, ...],
    kernel_shape: tuple[int, ...],
    *,
    padding: PaddingSpec = "same",
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    flipped: bool = False,
) -> FilterGeometry:
    """Output size and explicit paddings of a filtering call, per axis.

    Parses ``padding`` with :func:`cnnfilter.engine.geometry.parse_padding`
    and resolves it with :func:`~cnnfilter.engine.geometry.resolve_axes`
    (``"same"`` by the scipy.ndimage anchor rule).

    Raises:
        UsageError: bad stride, dilation or padding values.
        TypeError: values that are not integers.
    """
    rows, cols = resolve_axes(
        image_shape,
        kernel_shape[:2],
        padding,
        stride=stride,
        dilation=dilation,
        flipped=flipped,
        same_rule="ndimage",
    )
    return FilterGeometry(rows, cols)


def _check_not_text(image: np.ndarray, kernel: np.ndarray) -> None:
    """A name or a path where an array belongs: say which function turns it into one."""
    if image.dtype.kind in "USO" and image.ndim == 0:
        raise UsageError(
            f"image={str(image)!r} is text, not an array: read the file first,"
            f" image=cnnfilter.read_image({str(image)!r}).pixels"
        )
    if kernel.dtype.kind in "USO" and kernel.ndim == 0:
        raise UsageError(
            f"kernel={str(kernel)!r} is text, not an array: pass its weights,"
            f" kernel=cnnfilter.kernel({str(kernel)!r})"
        )
    if kernel.dtype.kind not in "biuf":  # complex weights would lose their imaginary part
        raise UsageError(f"kernel dtype must be boolean, integer or float, got {kernel.dtype}")


def _check_inputs(image: np.ndarray, kernel: np.ndarray, channels: str) -> None:
    _check_not_text(image, kernel)
    if image.ndim not in (2, 3) or image.size == 0:
        raise UsageError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")
    if kernel.ndim not in (2, 3) or kernel.size == 0:
        raise UsageError(f"kernel must have shape (kh, kw) or (kh, kw, C), got {kernel.shape}")
    if not np.all(np.isfinite(kernel)):
        raise UsageError("kernel contains NaN or inf; every weight must be a finite number")
    if kernel.ndim == 3:
        channels_in = image.shape[2] if image.ndim == 3 else 1
        if kernel.shape[2] != channels_in:
            raise UsageError(
                f"a 3-D kernel of shape {kernel.shape} needs an image with {kernel.shape[2]} "
                f"channels, got {channels_in}"
            )
    if channels not in ("separate", "sum"):
        raise UsageError(f"channels must be 'separate' or 'sum', got {channels!r}")


def _filter(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    flip: bool,
    padding: PaddingSpec,
    boundary: str,
    cval: float,
    stride: int | Sequence[int],
    dilation: int | Sequence[int],
    channels: str,
    method: str | FilterPlan = "auto",
    work: np.dtype | type | None = None,
) -> np.ndarray:
    """Both public operations; ``work`` overrides :func:`work_dtype` (float64 for ncc)."""
    image = np.asarray(image)
    kernel = np.asarray(kernel)
    _check_inputs(image, kernel, channels)
    dtype = work_dtype(image.dtype) if work is None else np.dtype(work)
    weights = np.asarray(kernel, dtype=dtype)
    if flip:
        weights = weights[::-1, ::-1]
    geom = filter_geometry(
        image.shape, weights.shape, padding=padding, stride=stride, dilation=dilation, flipped=flip
    )
    oh, ow = geom.out_shape
    if oh == 0 or ow == 0:
        raise UsageError(
            f"the output would be empty: a {kernel.shape[0]}x{kernel.shape[1]} kernel "
            f"(dilation {geom.rows.dilation}x{geom.cols.dilation}) does not fit in a "
            f"{image.shape[0]}x{image.shape[1]} image with this padding; use padding 'same' "
            "or 'full', or a smaller kernel"
        )
    mode = canonical_boundary(boundary)
    plan = plan_method(weights, method=method, dtype=dtype)
    if image.dtype.kind == "b":
        image = image.view(np.uint8)
    if weights.ndim == 3:
        # One map: the sum over channels of each channel's response to its own slice.
        source = image if image.ndim == 3 else image[:, :, np.newaxis]
        planes = [(source[:, :, c], weights[:, :, c]) for c in range(weights.shape[2])]
        out = np.empty((oh, ow), dtype=dtype)
        sum_channels = False
    else:
        planes = [(image, weights)]
        sum_channels = image.ndim == 3 and channels == "sum"
        out = np.empty((oh, ow) + (image.shape[2:] if not sum_channels else ()), dtype=dtype)
    rows, cols = geom.rows, geom.cols
    if plan.method == "fft":
        if _has_nonfinite(image, mode, cval):
            call = dict(
                padding=padding, boundary=boundary, stride=stride, dilation=dilation, work=work
            )
            return _fft_nonfinite(image, kernel, flip, cval, channels, plan, call)
        return _tiled.run_fft(planes, out, rows, cols, mode, cval, sum_channels=sum_channels)
    steps = (rows.stride, cols.stride, rows.dilation, cols.dilation)
    check = image.dtype.kind == "f"  # integer pixels are always finite
    if plan.method == "separable":
        tile_fns = [
            _tiled.SeparableTile(*_factors(w, dtype, plan.rtol), steps, check) for _, w in planes
        ]
    else:
        tile_fns = [_tiled.StackedDirectTile(w, steps, check) for _, w in planes]
    pairs = [(src, fn) for (src, _), fn in zip(planes, tile_fns, strict=True)]
    with np.errstate(invalid="ignore"):  # inf - inf is NaN, the documented IEEE answer
        return _tiled.run_rows(pairs, out, rows, cols, mode, cval, sum_channels=sum_channels)


def _has_nonfinite(image: np.ndarray, mode: str, cval: float) -> bool:
    """True when the extended image holds a NaN or an inf (pixels, or the fill value)."""
    if boundary_mode(mode).fills and not math.isfinite(cval):
        return True
    return image.dtype.kind == "f" and not bool(np.isfinite(image).all())


#: Kernels with more non-zero taps than this count their non-finite inputs in
#: float64 (a float32 FFT's rounding error on counts of up to this many stays
#: far below the 0.5 that separates 0 from 1).
_COUNT_FLOAT32_MAX_TAPS = 2**16


def _fft_nonfinite(image, kernel, flip, cval, channels, plan, call) -> np.ndarray:
    """The FFT result with NaN and inf placed as the direct method places them.

    An FFT mixes every input of a tile into every output, so one NaN or inf
    would spoil the whole tile. Instead: the FFT runs on the image with every
    non-finite value replaced by 0 (and a non-finite ``cval`` by 0); then the
    non-finite inputs each output's window covers are counted by correlating
    0/1 masks of them with 0/1 masks of the kernel's signs, with the call's
    geometry and boundary (exact small integers). As the direct method's IEEE
    arithmetic gives (zero taps never touch their input, ``w * inf`` has the
    sign of ``w``):

    * a covered NaN, or covered infinities pulling both ways -> NaN;
    * covered infinities all pulling up (``+inf`` under ``w > 0`` or
      ``-inf`` under ``w < 0``) -> ``+inf``; all pulling down -> ``-inf``;
    * no covered non-finite input -> the FFT's value.
    """
    finite_cval = cval if math.isfinite(cval) else 0.0
    with np.errstate(invalid="ignore"):
        clean = np.where(np.isfinite(image), image, np.zeros((), image.dtype))
    out = _filter(
        clean, kernel, flip=flip, cval=finite_cval, channels=channels, method=plan, **call
    )
    taps = int(np.count_nonzero(kernel))
    mask_dtype = np.float32 if taps <= _COUNT_FLOAT32_MAX_TAPS else np.float64

    def covered(mask: np.ndarray, weights: np.ndarray, fill: bool) -> np.ndarray:
        if not fill and not mask.any():
            return np.zeros(out.shape, dtype=bool)
        counts = _filter(
            mask.astype(mask_dtype), weights.astype(mask_dtype), flip=flip, cval=float(fill),
            channels=channels, method="auto", **{**call, "work": None},
        )  # fmt: skip
        return counts > 0.5

    nan = covered(np.isnan(image), kernel != 0, math.isnan(cval))
    up = down = np.zeros(out.shape, dtype=bool)
    plus, minus = image == np.inf, image == -np.inf
    if plus.any() or minus.any() or math.isinf(cval):
        pos, neg = kernel > 0, kernel < 0
        up = covered(plus, pos, cval == np.inf) | covered(minus, neg, cval == -np.inf)
        down = covered(plus, neg, cval == np.inf) | covered(minus, pos, cval == -np.inf)
    out[up & ~down] = np.inf
    out[down & ~up] = -np.inf
    out[nan | (up & down)] = np.nan
    return out


def _factors(weights: np.ndarray, dtype: np.dtype, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    """Column and row of a rank-1 kernel, exact for kernels such as Sobel or a box.

    The SVD's factors carry square roots (``sqrt(sigma_1)``), so even an
    integer kernel gives results like 4199.9995 instead of 4200. Taking the
    column through the largest weight and the row divided by it reproduces
    such kernels exactly; the SVD's factors are kept when they fit better.
    """
    w = np.asarray(weights, dtype=np.float64)
    i0, j0 = np.unravel_index(np.argmax(np.abs(w)), w.shape)
    svd_col, svd_row = separate(w, rtol=rtol)
    col, row = svd_col, svd_row
    if w[i0, j0] != 0:
        pivot_col, pivot_row = w[:, j0].copy(), w[i0, :] / w[i0, j0]
        pivot_err = np.abs(np.outer(pivot_col, pivot_row) - w).max()
        if pivot_err <= np.abs(np.outer(svd_col, svd_row) - w).max():
            col, row = pivot_col, pivot_row
    return col.astype(dtype), row.astype(dtype)


#: ``method="auto"`` crossovers, measured on the 2-core benchmark machine
#: (per-channel 'same' filtering of a 4000x3000x3 float32 photo, both
#: threads, best of 2, machine shared with a load average of ~2.5):
#: random kxk kernels, direct vs FFT: 5x5 185 / 591 ms, 7x7 329 / 499 ms,
#: 9x9 308 / 446 ms, 11x11 320 / 511 ms, 13x13 331 / 535 ms, 15x15 424 /
#: 373 ms, 19x19 596 / 393 ms. Direct is chosen up to this many non-zero taps
#: (between 13x13 = 169 and 15x15 = 225).
DIRECT_MAX_TAPS = 196
#: Small kernels (issue 16), where the time of a direct call goes. One thread,
#: OPENBLAS_NUM_THREADS=1, 4000x3000x3 float32, the tile loop of
#: :class:`~cnnfilter.engine._tiled.StackedDirectTile` (4 output rows a tile), on
#: the shared machine at load 6-8 (ms, two runs): 3x3 whole 202 / 252 = banded
#: product 55 / 64 + shifted adds 71 / 99 + the rest (per-tile Python, the
#: input-tile NaN check) ~75; 5x5 whole 379 / 418 = product 203 / 161 + adds
#: 142 / 111. Tried: checking the input tile instead of each output row for
#: NaN (72 -> ~20 ms); one ``np.add.reduce`` over a strided stack of the
#: shifted views instead of kw - 1 adds (3x3 43-51 vs 40 ms, 5x5 57-95 vs
#: 53-112: no gain); 2, 3, 6, 8 rows a tile (no setting better than 4 beyond
#: the noise).
#:
#: Second round (issue 16, ms of one thread on the interior rows, load 2-4):
#: the partial sums and their adds were the cost, so the products now add into
#: the output themselves: ``?gemm`` with ``beta = 1`` on flat rows
#: (:class:`~cnnfilter.engine._tiled.FlatRows`), 3x3 56-60, 5x5 101-109, against
#: 121-140 / 173 for the stacked product and adds. Also measured and dropped:
#: ``kw`` shifted copies of the tile and one ``matmul`` (3x3 81-121 by tile
#: rows 1-8, 5x5 194-393); one ``np.einsum('yijq,ij->yq')`` over a strided view
#: (no partial sums, but a multiply-add pass per tap: 102-147 / 197-201);
#: ``scipy.ndimage.correlate1d`` per kernel row into float32, summed (436 /
#: 1397: its line buffers are float64); ``scipy.linalg.blas.sgemm`` does the
#: same as the ctypes call but costs 50-250 ms to import and copies arrays
#: that are not Fortran-ordered. Whole calls, CPU time of one thread (the
#: machine's load makes wall times swing 2x): 3x3 72-108 ms, 5x5 96-143 ms,
#: OpenCV's ``filter2D`` 62-99 ms, so within 1.2-1.8x of it (it was 2-4x);
#: uint8 sources 3x3 75-99 / 5x5 107-121 (the old path 136-165 / 220-256).
#: What still bounds it: the band multiplies ``(rows + kh - 1) / kh`` zeros
#: per tap (2x the MACs of 3x3 in 4-row tiles) and each kernel column reads
#: the tile and the output rows once more; filter2D keeps the sums in
#: registers. With the new direct method, random kernels direct / FFT (CPU
#: ms, one thread): 13x13 477 / 787, 15x15 424 / 608, 17x17 506 / 571,
#: 19x19 1480 / 627: the crossover moved from 14x14 to about 17x17, but the
#: measurements are too noisy under this load to move DIRECT_MAX_TAPS yet;
#: Gaussians direct / separable: 7x7 143 / 169, 9x9 195 / 191, 11x11 243 /
#: 187 (SEPARABLE_MIN_TAPS kept at 25 for the same reason).
#: Separable (two 1-D passes) is chosen for rank-1 kernels up to this many
#: taps in the two passes together (kh + kw). Gaussians, separable vs FFT:
#: 31x31 230 / 550 ms, 63x63 402 / 740 ms, 127x127 848 / 896 ms.
SEPARABLE_MAX_TAPS = 220
#: ... and of more than this many taps (kh * kw): below, direct is faster.
#: Measured, one worker, 4000x3000x3 float32, direct / separable (ms): box
#: 3x3 67 / 124, Sobel 3x3 75 / 120, Gaussian 5x5 126 / 120, 7x7 176 / 126,
#: 9x9 226 / 130, 15x15 438 / 156.
SEPARABLE_MIN_TAPS = 25
#: Backwards-compatible name: kernels with more taps than this use the FFT.
FFT_MIN_TAPS = DIRECT_MAX_TAPS

#: ``method`` names and what each does (the table lives in :mod:`cnnfilter.engine.choices`).
METHODS = FILTER_METHODS


@dataclass(frozen=True)
class FilterPlan:
    """The method a filtering call runs, and why.

    Attributes:
        method: ``"direct"``, ``"separable"`` or ``"fft"``.
        requested: the method asked for (``"auto"`` or one of the above).
        reason: a short phrase for people (what the kernel looked like).
        rtol: the rank-1 tolerance used for ``separable``.
    """

    method: str
    requested: str
    reason: str
    rtol: float = 0.0

    def describe(self) -> str:
        """``"separable (auto: rank-1 15x15 kernel, two 1-D passes)"``."""
        how = "auto: " if self.requested == "auto" else ""
        return f"{self.method} ({how}{self.reason})"


def _taps(count: int) -> str:
    """``"1 non-zero tap"``, ``"9 non-zero taps"``.

    >>> _taps(1), _taps(9)
    ('1 non-zero tap', '9 non-zero taps')
    """
    return f"{count} non-zero tap{'' if count == 1 else 's'}"


def _rank_rtol(dtype: np.dtype) -> float:
    """Tolerance on sigma_2 / sigma_1 below which dropping sigma_2 is below rounding."""
    return 1e-7 if np.dtype(dtype) == np.float32 else 1e-14


def plan_method(
    kernel: np.ndarray, *, method: str | FilterPlan = "auto", dtype: np.dtype | type = np.float32
) -> FilterPlan:
    """Decide how a kernel is applied: direct, separable or FFT.

    ``auto`` picks ``separable`` for a rank-1 kernel (each 2-D slice rank 1 by
    :func:`cnnfilter.engine.separable.separate` with a tolerance below the
    rounding of ``dtype``) whose ``kh + kw`` is at most
    :data:`SEPARABLE_MAX_TAPS` and which has more than
    :data:`SEPARABLE_MIN_TAPS` non-zero taps; otherwise ``direct`` up to
    :data:`DIRECT_MAX_TAPS` non-zero taps and ``fft`` above. Every method
    gives the same result to floating-point rounding.

    A plan is resolved once per call and passed down: ``method`` may be a
    :class:`FilterPlan` already made for this kernel, returned as it is (the
    filtering functions accept one as their ``method``), so that the SVD
    behind ``auto`` and ``separable`` runs once. ``direct`` and ``fft`` need
    no SVD.

    Args:
        kernel: ``(kh, kw)`` or ``(kh, kw, C)`` finite weights.
        method: ``"auto"``, ``"direct"``, ``"separable"``, ``"fft"`` or a
            :class:`FilterPlan`.
        dtype: the working dtype (:func:`work_dtype`), float32 or float64.

    Raises:
        UsageError: an unknown method, or ``separable`` for a kernel that is
            not rank 1.

    >>> plan_method(np.ones((7, 7))).method, plan_method(np.ones((3, 3))).method
    ('separable', 'direct')
    >>> plan_method(np.ones((31, 31)) + np.eye(31)).describe()
    'fft (auto: 31x31 kernel: 961 non-zero taps > 196)'
    """
    if isinstance(method, FilterPlan):
        return method
    if method not in ("auto", *METHODS):
        raise UsageError(f"method must be auto, {', '.join(METHODS)}; got {method!r}")
    w = np.asarray(kernel)
    kh, kw = w.shape[:2]
    size = f"{kh}x{kw}" + (f"x{w.shape[2]}" if w.ndim == 3 else "")
    taps = int(np.count_nonzero(w)) // (w.shape[2] if w.ndim == 3 else 1)
    if method == "direct":
        return FilterPlan("direct", method, f"{size} kernel: {_taps(taps)}")
    if method == "fft":
        return FilterPlan("fft", method, f"{size} kernel")
    rtol = _rank_rtol(dtype)
    slices = [w] if w.ndim == 2 else [w[:, :, c] for c in range(w.shape[2])]
    rank1 = all(separate(s, rtol=rtol) is not None for s in slices)
    if method == "separable":
        if not rank1:
            raise UsageError(
                f"method separable needs a rank-1 kernel (an outer product of a column and a "
                f"row); this {size} kernel is not; use method='auto', method='direct' or "
                "method='fft'"
            )
        return FilterPlan("separable", method, f"rank-1 {size} kernel: {kh} + {kw} taps", rtol)
    if (
        rank1
        and kh > 1
        and kw > 1
        and kh + kw <= SEPARABLE_MAX_TAPS
        and taps > max(kh + kw, SEPARABLE_MIN_TAPS)
    ):
        return FilterPlan(
            "separable", method, f"rank-1 {size} kernel: {kh} + {kw} taps instead of {taps}", rtol
        )
    if taps <= DIRECT_MAX_TAPS:
        return FilterPlan("direct", method, f"{size} kernel: {_taps(taps)}")
    return FilterPlan("fft", method, f"{size} kernel: {taps} non-zero taps > {DIRECT_MAX_TAPS}")


def choose_method(method: str, kernel_hw: tuple[int, int], *, kernel=None) -> str:
    """The method ``auto`` resolves to for a kernel of ``kernel_hw`` taps.

    Without ``kernel`` only the size is known (every tap counted as non-zero,
    no separability); with it, as :func:`plan_method`.

    Raises:
        UsageError: an unknown method name.

    >>> choose_method("auto", (3, 3)), choose_method("auto", (31, 31))
    ('direct', 'fft')
    """
    if kernel is not None:
        return plan_method(kernel, method=method).method
    if method not in ("auto", *METHODS):
        raise UsageError(f"method must be auto, {', '.join(METHODS)}; got {method!r}")
    if method != "auto":
        return method
    return "fft" if kernel_hw[0] * kernel_hw[1] > DIRECT_MAX_TAPS else "direct"


def correlate(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    padding: PaddingSpec = "same",
    boundary: str = "symmetric",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    channels: str = "separate",
    method: str | FilterPlan = "auto",
) -> np.ndarray:
    """Cross-correlate an image with a kernel (no flip): what a CNN layer computes.

    ``out[y, x] = sum_{i,j} w[i, j] * ext[y*s_r + i*d_r - p_top, x*s_c + j*d_c - p_left]``
    where ``ext`` is the image extended by ``boundary``.

    Args:
        image: array of shape ``(H, W)`` or ``(H, W, C)``, any real dtype.
        kernel: ``(kh, kw)`` (any size, odd, even or rectangular) or
            ``(kh, kw, C)``, finite values.
        padding: ``"same"`` (output ``ceil(H / s) x ceil(W / s)``; the anchor
            is tap ``k_eff // 2``, as scipy.ndimage with ``origin=0``),
            ``"valid"``, ``"full"``, an int, ``(rows, cols)`` or
            ``(top, bottom, left, right)`` (CNN-style zero-based padding
            filled according to ``boundary``).
        boundary: a mode of :mod:`cnnfilter.engine.boundary` or an alias.
        cval: fill value of the ``constant`` boundary.
        stride, dilation: ints or ``(rows, cols)`` pairs, >= 1.
        channels: ``"separate"`` filters each channel on its own (output
            ``(oh, ow, C)``); ``"sum"`` sums the per-channel responses into
            one map ``(oh, ow)``. A 3-D kernel always gives one map.
        method: ``"direct"`` (shifted multiply-adds), ``"separable"`` (two
            1-D passes; rank-1 kernels only), ``"fft"`` (overlap-save) or
            ``"auto"`` (:func:`plan_method`); all agree to float rounding.
            A :class:`FilterPlan` from :func:`plan_method` runs as planned.

    Returns:
        ``(oh, ow)`` or ``(oh, ow, C)`` array in :func:`work_dtype` of the
        image, with ``oh`` from :func:`cnnfilter.engine.geometry.output_size`.

    Raises:
        UsageError (a ValueError): bad shapes, NaN/inf in the kernel, a 3-D
            kernel whose depth is not the image's channel count, unknown
            boundary or padding, or an empty output; a kernel name or a file
            name where an array belongs (the message names
            :func:`cnnfilter.kernel` or :func:`cnnfilter.read_image`); a
            complex, text or object array.

    >>> img = np.arange(5.0)[np.newaxis, :]
    >>> correlate(img, np.array([[1.0, 0.0, -1.0]]), boundary="edge")
    array([[-1., -2., -2., -2., -1.]])
    """
    return _filter(
        image,
        kernel,
        flip=False,
        padding=padding,
        boundary=boundary,
        cval=cval,
        stride=stride,
        dilation=dilation,
        channels=channels,
        method=method,
    )


def convolve(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    padding: PaddingSpec = "same",
    boundary: str = "symmetric",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    channels: str = "separate",
    method: str | FilterPlan = "auto",
) -> np.ndarray:
    """Convolve an image with a kernel: cross-correlation with the flipped kernel.

    Matches ``scipy.signal.convolve2d`` (``boundary='symm'``, the article's
    call, is ``boundary="symmetric"``) for odd kernels, and
    ``scipy.ndimage.convolve`` (``origin=0``) for every kernel size in
    ``"same"`` mode: for an even kernel the anchor is tap ``(k_eff - 1) // 2``
    of the flipped kernel. Arguments, result and errors as :func:`correlate`.

    >>> img = np.arange(5.0)[np.newaxis, :]
    >>> convolve(img, np.array([[1.0, 0.0, -1.0]]), boundary="edge")
    array([[1., 2., 2., 2., 1.]])
    """
    return _filter(
        image,
        kernel,
        flip=True,
        padding=padding,
        boundary=boundary,
        cval=cval,
        stride=stride,
        dilation=dilation,
        channels=channels,
        method=method,
    )
