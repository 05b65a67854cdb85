"""Max, average and Lp pooling with the semantics of PyTorch's pooling layers.

Each channel of an ``(H, W)`` or ``(H, W, C)`` array is pooled on its own,
giving exactly the values and shapes of ``torch.nn.MaxPool2d``,
``AvgPool2d`` and ``LPPool2d`` (checked against PyTorch 2.13 in
``tests/test_pooling.py``):

* the output size per axis is :func:`cnnfilter.engine.geometry.output_size`
  (``floor`` or, with ``ceil_mode``, ``ceil`` of ``(n + 2p - d(k-1) - 1)/s``,
  plus 1; in ceil mode a last window that would start inside the bottom or
  right padding is dropped);
* max pooling pads with ``-inf`` (the dtype's minimum for integers), so a
  padded cell never wins; ties go to the first tap in row-major order and a
  NaN wins over any number (PyTorch's ``val > max || isnan(val)`` rule);
* average pooling pads with 0. Its divisor, per window, is the window
  clipped to the *padded* input (``end = min(start + k, n + p)``) when
  ``count_include_pad`` is true, or clipped to the real input otherwise; a
  ceil-mode window that hangs past the padding is therefore divided by
  fewer than ``k*k`` cells in both modes;
* Lp pooling computes ``(sum x^p)^(1/p)`` over the window, as PyTorch does:
  ``avg_pool2d(x^p) * kh * kw`` then ``^(1/p)``, which means a ceil-mode
  window that hangs past the input is scaled up by ``kh*kw / cells``. Lp
  pooling has no padding and no dilation (neither has ``LPPool2d``).

PyTorch also requires ``padding <= kernel_size // 2`` per axis; the same rule
is enforced here, so every window overlaps the input.

Speed: the ``kh`` kernel rows are combined down whole rows of the (padded)
input with ``np.maximum``/``np.add`` in place (long contiguous loops), then
the ``kw`` kernel columns across that result as strided views; no Python
loop over windows. The output is cut into blocks of rows that are
combined on every core (NumPy's ufuncs release the GIL), each block small
enough to stay in cache across the passes. Measured on the 2-core
test machine, 2x2 pooling of a 12 MP RGB float32 image: one pass over the
whole image per tap 64 ms (max) / 68 ms (avg); blocks of 64 output rows on
2 threads 34 ms / 33 ms (blocks of 8 to 128 rows: 34-38 ms); rows first,
then columns: 23-26 ms / 27-31 ms; the columns one channel at a time
(:data:`CHANNEL_LOOP_MAX`): CPU time 52-62 ms -> 28-39 ms (max), of which
the rows pass, which reads the image once, is 13.4-13.9 ms, as long as a
copy of the image (14.3 ms).

Dtypes: max pooling keeps the input dtype; average and Lp pooling return
:func:`cnnfilter.engine.filtering.work_dtype` (float32 for inputs of up to 16
bits, float64 otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from cnnfilter.engine._tiled import scratch
from cnnfilter.engine.choices import POOL_OPS as _POOL_OPS
from cnnfilter.engine.filtering import work_dtype
from cnnfilter.engine.geometry import AxisGeometry, as_pair, check_pool_padding, resolve_axes
from cnnfilter.engine.threads import thread_budget
from cnnfilter.errors import UsageError

__all__ = [
    "POOL_OPS",
    "PoolSpec",
    "pool_spec",
    "pool_axes",
    "pool2d",
    "max_pool2d_with_indices",
]

#: ``op`` names and what each computes over a window.
POOL_OPS = _POOL_OPS

IntPair = int | Sequence[int]


@dataclass(frozen=True)
class PoolSpec:
    """A validated pooling layer: per-axis ``(rows, cols)`` pairs.

    Build it with :func:`pool_spec`, which checks PyTorch's rules.
    """

    op: str
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    ceil_mode: bool = False
    count_include_pad: bool = True
    p: float = 2.0


def pool_spec(
    op: str,
    kernel_size: IntPair,
    *,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    p: float = 2.0,
) -> PoolSpec:
    """Check a pooling layer's settings and return them as a :class:`PoolSpec`.

    Args:
        op: ``"max"``, ``"avg"`` or ``"lp"`` (:data:`POOL_OPS`).
        kernel_size: window ``k`` or ``(kh, kw)``, >= 1.
        stride: step ``s`` or ``(sh, sw)``, >= 1; None means the kernel size
            (PyTorch's default).
        padding: ``p`` or ``(ph, pw)`` on both sides of each axis, with
            ``0 <= p <= k // 2`` (PyTorch's rule). Max and average only.
        dilation: spacing of the taps, max pooling only.
        ceil_mode: round the output size up (see the module notes).
        count_include_pad: average pooling only; see the module notes.
        p: the power of Lp pooling, finite and > 0.

    Raises:
        UsageError: an unknown op, values out of range, padding above half
            the kernel, or an option the op does not have (padding or
            dilation for ``lp``, dilation for ``avg``).

    >>> pool_spec("max", 2)
    PoolSpec(op='max', kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), \
ceil_mode=False, count_include_pad=True, p=2.0)
    """
    if op not in POOL_OPS:
        raise UsageError(f"op must be one of {', '.join(POOL_OPS)}; got op={op!r}")
    k = as_pair(kernel_size, name="kernel_size")
    s = k if stride is None else as_pair(stride, name="stride")
    pad = as_pair(padding, name="padding", minimum=0)
    d = as_pair(dilation, name="dilation")
    for axis, ki, pi in zip(("rows", "cols"), k, pad, strict=True):
        check_pool_padding(ki, pi, axis=axis)
    if op == "lp":
        if pad != (0, 0) or d != (1, 1):
            raise UsageError(
                "Lp pooling takes no padding and no dilation (as torch.nn.LPPool2d); "
                "use padding=0 and dilation=1, or op='max' or op='avg'"
            )
        if not (isinstance(p, int | float) and math.isfinite(p) and p > 0):
            raise UsageError(
                f"the Lp power p must be a finite number > 0, got {p!r} (p = inf is max pooling: "
                "use op='max')"
            )
    if op == "avg" and d != (1, 1):
        raise UsageError(
            "average pooling has no dilation (as torch.nn.AvgPool2d); use dilation=1 or op='max'"
        )
    return PoolSpec(op, k, s, pad, d, bool(ceil_mode), bool(count_include_pad), float(p))


def pool_axes(shape: tuple[int, ...], spec: PoolSpec) -> tuple[AxisGeometry, AxisGeometry]:
    """The row and column geometry of pooling an array of ``shape`` (``(H, W, ...)``).

    Raises:
        UsageError: the output would be empty (window larger than the padded input).

    >>> rows, cols = pool_axes((5, 7), pool_spec("max", 2, padding=1, ceil_mode=True))
    >>> rows.out, cols.out
    (3, 4)
    """
    rows, cols = resolve_axes(
        shape,
        spec.kernel_size,
        spec.padding,
        stride=spec.stride,
        dilation=spec.dilation,
        ceil_mode=spec.ceil_mode,
    )
    for what, ax in (("row", rows), ("column", cols)):
        if ax.out <= 0:
            raise UsageError(
                f"the output would be empty: a {what} window spans "
                f"{ax.effective_kernel_size} pixels but the padded input has "
                f"{ax.n + ax.pad_before + ax.pad_after}; use a smaller kernel or more padding"
            )
    return rows, cols


def _check_array(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim not in (2, 3) or x.size == 0:
        raise UsageError(f"pooling input must have shape (H, W) or (H, W, C), got {x.shape}")
    if x.dtype.kind not in "biuf":
        raise UsageError(f"pooling input must hold numbers, got dtype {x.dtype}")
    return x


def _lowest(dtype: np.dtype):
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind == "b":
        return False
    return np.iinfo(dtype).min


def _extended(x: np.ndarray, rows: AxisGeometry, cols: AxisGeometry, fill) -> np.ndarray:
    """``x`` padded by ``padding`` before and by whatever the last windows need after.

    Returns ``x`` itself (no copy) when no padding is needed.
    """
    need_after = []
    for ax in (rows, cols):
        span = (ax.out - 1) * ax.stride + ax.effective_kernel_size
        need_after.append(max(span - ax.pad_before - ax.n, 0))
    if rows.pad_before == cols.pad_before == 0 and need_after == [0, 0]:
        return x
    shape = (rows.n + rows.pad_before + need_after[0], cols.n + cols.pad_before + need_after[1])
    ext = np.full(shape + x.shape[2:], fill, dtype=x.dtype)
    ext[rows.pad_before : rows.pad_before + rows.n, cols.pad_before : cols.pad_before + cols.n] = x
    return ext


def _tap_views(ext: np.ndarray, rows: AxisGeometry, cols: AxisGeometry):
    """Yield ``(i, j, view)`` for every kernel tap; ``view`` has shape ``(oh, ow, ...)``."""
    for i in range(rows.kernel_size):
        r0 = i * rows.dilation
        rsl = slice(r0, r0 + (rows.out - 1) * rows.stride + 1, rows.stride)
        for j in range(cols.kernel_size):
            c0 = j * cols.dilation
            yield i, j, ext[rsl, c0 : c0 + (cols.out - 1) * cols.stride + 1 : cols.stride]


#: Bytes per block of rows combined on one core (see the module notes): the
#: larger of the output rows and the row-combined rows of a block. Rows are
#: combined down first, then across with the stride. Measured, 2x2 stride-2
#: pooling of 4000x3000x3 float32, two threads, max / avg (ms): tap by tap
#: (every pass strided) 35 / 36 and 38 / 51; rows first 23 / 27 and 26 / 31.
_BLOCK_BYTES = 1 << 20


#: Channel counts up to this are folded across the columns one channel at a time.
#: A strided view ``(rows, ow, C)`` of an ``(H, W, C)`` block has a unit stride only
#: along C, so NumPy's inner loop would run over C (3 values) per call of its loop
#: function; one call per channel makes the inner loop run along the ``ow`` columns
#: (stride ``s C``) instead. Measured, 2x2 stride-2 max pooling of 4000x3000x3 float32,
#: one thread, CPU time of the across pass: 33.5-34.4 ms as one ``(rows, ow, 3)``
#: call per block, 10.5-12.8 ms per channel (a contiguous max of shifted rows plus a
#: 12-byte-item copy of every other pixel: 15.0-15.4 ms).
CHANNEL_LOOP_MAX = 8


def _fold(views: list, out: np.ndarray, combine: Callable, casting: str, by_channel=False) -> None:
    """``out = combine(views[0], views[1], ...)``: one pass per view after the second.

    ``by_channel``: views strided along the columns, folded one channel at a time
    when there are few (:data:`CHANNEL_LOOP_MAX`).
    """
    if by_channel and out.ndim == 3 and 1 < out.shape[2] <= CHANNEL_LOOP_MAX and len(views) > 1:
        for c in range(out.shape[2]):
            _fold([v[..., c] for v in views], out[..., c], combine, casting)
        return
    if len(views) == 1:
        np.copyto(out, views[0], casting=casting)
        return
    combine(views[0], views[1], out=out, dtype=out.dtype, casting=casting)
    for view in views[2:]:
        combine(out, view, out=out, casting=casting)


def _combine_taps(
    ext: np.ndarray,
    rows: AxisGeometry,
    cols: AxisGeometry,
    out: np.ndarray,
    combine: Callable,
    scale=None,
) -> None:
    """``out = combine(tap_1, tap_2, ...)`` over every kernel tap, by blocks of rows.

    Per block, the kernel rows are combined down whole padded rows (cast to
    ``out.dtype``), then the kernel columns across them with the stride, then
    (average pooling) the block is multiplied by ``scale`` while in cache;
    blocks run on :func:`~cnnfilter.engine.threads.thread_budget` threads.
    """
    acc_row_bytes = math.prod(ext.shape[1:]) * out.itemsize
    block = max(1, _BLOCK_BYTES // max(out[:1].nbytes, acc_row_bytes, 1))
    casting = "unsafe" if ext.dtype.kind == "b" else "same_kind"

    def run(r0: int) -> None:
        r1 = min(r0 + block, rows.out)
        target = out[r0:r1]
        # Down the rows first, on whole rows (long contiguous inner loops), then
        # across the columns with the stride: kh + kw - 2 passes, only kw - 1 of
        # them strided, instead of kh * kw strided passes. The first two taps of
        # each direction are combined in one pass (no copy of the first).
        acc = scratch("pool", (r1 - r0,) + ext.shape[1:], out.dtype)
        downs = []
        for i in range(rows.kernel_size):
            start = r0 * rows.stride + i * rows.dilation
            downs.append(ext[start : start + (r1 - r0 - 1) * rows.stride + 1 : rows.stride])
        _fold(downs, acc, combine, casting)
        across = []
        for j in range(cols.kernel_size):
            c0 = j * cols.dilation
            across.append(acc[:, c0 : c0 + (cols.out - 1) * cols.stride + 1 : cols.stride])
        _fold(across, target, combine, "same_kind", by_channel=cols.stride > 1)
        if scale is not None:
            np.multiply(target, scale, out=target)

    starts = range(0, rows.out, block)
    workers = thread_budget()
    if len(starts) == 1 or workers < 2:
        for r0 in starts:
            run(r0)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, starts))


def _divisor_1d(ax: AxisGeometry, include_pad: bool) -> np.ndarray:
    """Per-output cell counts along one axis (PyTorch's avg_pool2d divisor rule)."""
    start = np.arange(ax.out) * ax.stride - ax.pad_before
    end = np.minimum(start + ax.kernel_size, ax.n + ax.pad_after)
    if include_pad:
        return (end - start).astype(np.float64)
    return (np.minimum(end, ax.n) - np.maximum(start, 0)).astype(np.float64)


def _divide(out: np.ndarray, rows: AxisGeometry, cols: AxisGeometry, include_pad: bool) -> None:
    rdiv, cdiv = _divisor_1d(rows, include_pad), _divisor_1d(cols, include_pad)
    if np.all(rdiv == rdiv[0]) and np.all(cdiv == cdiv[0]):
        out *= out.dtype.type(1.0 / (rdiv[0] * cdiv[0]))
        return
    div = np.outer(rdiv, cdiv).astype(out.dtype)
    out /= div if out.ndim == 2 else div[:, :, np.newaxis]


def pool2d(x: np.ndarray, spec: PoolSpec) -> np.ndarray:
    """Pool each channel of ``x`` with the layer ``spec`` (see the module notes).

    Args:
        x: ``(H, W)`` or ``(H, W, C)`` array of numbers.
        spec: from :func:`pool_spec`.

    Returns:
        ``(oh, ow)`` or ``(oh, ow, C)``; ``oh, ow`` from :func:`pool_axes`.
        Max keeps ``x``'s dtype; avg and lp return ``work_dtype(x.dtype)``.

    Raises:
        UsageError: bad shape or dtype, an empty output, or Lp pooling of
            negative values with a power that makes them undefined (PyTorch
            returns NaN there).

    >>> x = np.arange(25.0).reshape(5, 5)
    >>> pool2d(x, pool_spec("max", 2, padding=1, ceil_mode=True))
    array([[ 0.,  2.,  4.],
           [10., 12., 14.],
           [20., 22., 24.]])
    >>> pool2d(x, pool_spec("avg", 2, padding=1))[0]
    array([0.  , 0.75, 1.75])
    """
    x = _check_array(x)
    rows, cols = pool_axes(x.shape, spec)
    if spec.op == "max":
        ext = _extended(x, rows, cols, _lowest(x.dtype))
        out = np.empty((rows.out, cols.out) + x.shape[2:], dtype=x.dtype)
        _combine_taps(ext, rows, cols, out, np.maximum)
        return out
    wd = work_dtype(x.dtype)
    if spec.op == "avg":
        ext = _extended(x, rows, cols, 0)
        out = np.empty((rows.out, cols.out) + x.shape[2:], dtype=wd)
        rdiv = _divisor_1d(rows, spec.count_include_pad)
        cdiv = _divisor_1d(cols, spec.count_include_pad)
        if np.all(rdiv == rdiv[0]) and np.all(cdiv == cdiv[0]):  # one divisor: in the blocks
            _combine_taps(ext, rows, cols, out, np.add, wd.type(1.0 / (rdiv[0] * cdiv[0])))
        else:
            _combine_taps(ext, rows, cols, out, np.add)
            _divide(out, rows, cols, spec.count_include_pad)
        return out
    return _lp_pool(x, rows, cols, spec, wd)


def _lp_pool(x: np.ndarray, rows, cols, spec: PoolSpec, wd: np.dtype) -> np.ndarray:
    """Lp pooling, ``(sum of x^p)^(1/p)``; refuses results that overflow or are undefined.

    Raises:
        UsageError: ``x^p`` or its window sums overflow ``wd`` (p too large for
            the values), or negative values with a p that makes them undefined.
    """
    input_inf = bool(np.isinf(x).any()) if x.dtype.kind == "f" else False
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        data = np.power(x.astype(wd, copy=False), wd.type(spec.p))
        ext = _extended(data, rows, cols, 0)
        out = np.empty((rows.out, cols.out) + x.shape[2:], dtype=wd)
        _combine_taps(ext, rows, cols, out, np.add)
        # PyTorch's avg_pool2d(x^p, padding=0, count_include_pad=True) * kh * kw.
        _divide(out, rows, cols, True)
        out *= wd.type(spec.kernel_size[0] * spec.kernel_size[1])
        overflow = not input_inf and bool(np.isinf(data).any() or np.isinf(out).any())
        out = np.power(out, wd.type(1.0 / spec.p))
    if overflow:
        largest = float(np.nanmax(np.abs(x))) if x.size else 0.0
        raise UsageError(
            f"Lp pooling with p = {spec.p:g} overflows: p is too large for values up to "
            f"{largest:g} (x^p or its window sums exceed {wd.name}'s "
            f"{float(np.finfo(wd).max):.3g}); use a smaller p, or scale the input down"
        )
    if np.isnan(out).any() and not np.isnan(x).any():
        raise UsageError(
            f"Lp pooling with p = {spec.p:g} is undefined here: the input has negative values "
            "whose p-th power or p-th root is not a real number (PyTorch returns NaN); use an "
            "even integer p, or max/avg pooling"
        )
    return out


def max_pool2d_with_indices(x: np.ndarray, spec: PoolSpec) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling and the position of each window's winner (PyTorch's ``return_indices``).

    Returns:
        ``(values, indices)``: values as :func:`pool2d`; indices int64 of the
        same shape, each the flat index ``row * W + col`` into the input
        channel (as ``torch.nn.MaxPool2d(return_indices=True)``): the first
        tap in row-major order among equal maxima, or the last NaN.

    Raises:
        UsageError: ``spec.op`` is not ``"max"``, or as :func:`pool2d`.

    >>> x = np.array([[1, 3], [3, 2]])
    >>> max_pool2d_with_indices(x, pool_spec("max", 2))[1]
    array([[1]])
    """
    if spec.op != "max":
        raise UsageError(f"winner indices exist for max pooling only, not {spec.op!r}")
    x = _check_array(x)
    rows, cols = pool_axes(x.shape, spec)
    # float64 with -inf padding, so that a real pixel equal to the dtype minimum still
    # beats the padding it ties with.
    ext = _extended(x.astype(np.float64), rows, cols, -np.inf)
    shape = (rows.out, cols.out) + x.shape[2:]
    best = np.full(shape, -np.inf)
    r_base = np.arange(rows.out) * rows.stride - rows.pad_before
    c_base = np.arange(cols.out) * cols.stride - cols.pad_before
    width = x.shape[1]
    # Before any tap wins, PyTorch's index is the first tap at or after the window start
    # that is not in the top/left padding; it stays so for a window wholly in the padding.
    r_first = np.where(r_base < 0, r_base + -(r_base // rows.dilation) * rows.dilation, r_base)
    c_first = np.where(c_base < 0, c_base + -(c_base // cols.dilation) * cols.dilation, c_base)
    index = np.empty(shape, dtype=np.int64)
    index[...] = (r_first[:, None] * width + c_first[None, :]).reshape(
        (rows.out, cols.out) + (1,) * (x.ndim - 2)
    )
    for i, j, view in _tap_views(ext, rows, cols):
        better = (view > best) | np.isnan(view)
        flat = (r_base[:, None] + i * rows.dilation) * width + c_base[None, :] + j * cols.dilation
        if x.ndim == 3:
            flat = np.broadcast_to(flat[:, :, None], shape)
        np.copyto(best, view, where=better)
        np.copyto(index, flat, where=better)
    return pool2d(x, spec), index
