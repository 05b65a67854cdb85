"""Tiled implementations behind :mod:`cnnfilter.engine.filtering`.

Nothing here is public. Every method works on tiles of the boundary-extended
("padded") image that are built on demand from the source array, so the
padded image, a float copy of the input and the stride-1 response are never
materialised whole:

* :func:`build_tile` copies rows ``[r0, r1)`` and columns ``[c0, c1)`` of the
  padded image (padded coordinates) into a float buffer, extending the border
  with index maps equal to ``numpy.pad``'s modes;
* :func:`run_rows` splits the output into row tiles of a few rows and runs
  a tile function on each, on every core (BLAS, NumPy's ufuncs and scipy.fft
  release the GIL; each worker's BLAS is kept single-threaded);
* :class:`FlatRows` (column stride 1, one plane) ``kw`` BLAS products per
  row tile, each adding one kernel column's taps into the output rows in
  place (``?gemm`` with ``beta = 1`` through ctypes, :func:`cblas_gemm`);
* :class:`StackedDirectTile` one banded matrix product per tile sums every
  kernel column down the rows, then one shifted add per kernel column
  (border rows, column strides, channels summed, no reachable BLAS);
* :class:`SeparableTile` a column pass and a row pass, both banded products;
* :func:`direct_tile` shifted multiply-adds, one pass per non-zero tap (the
  fallback for tiles holding NaN or inf);
* :func:`run_fft` overlap-save FFT over square tiles, scipy.fft.

Shapes: a source is ``(H, W)`` or ``(H, W, C)``; a tile has the same number of
dimensions; the output ``(oh, ow)`` or ``(oh, ow, C)``.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from collections.abc import Callable, Sequence

import numpy as np

from cnnfilter.engine.boundary import boundary_mode
from cnnfilter.engine.geometry import AxisGeometry, effective_kernel_size
from cnnfilter.engine.threads import cores, single_threaded_blas, thread_budget, worker_thread_setup

#: Every core this process may run on (the threads used: ``threads.thread_budget()``).
WORKERS = cores()

_local = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A per-thread reusable buffer (avoids page faults from fresh allocations)."""
    store = getattr(_local, "store", None)
    if store is None:
        store = _local.store = {}
    size = math.prod(shape)
    buf = store.get((name, dtype))
    if buf is None or buf.size < size:
        buf = store[(name, dtype)] = np.empty(max(size, 1), dtype=dtype)
    return buf[:size].reshape(shape)


def extend_index(positions: np.ndarray, axis: AxisGeometry, mode: str) -> np.ndarray:
    """Source index of each padded position; -1 outside the image for ``constant``.

    The rule is the mode's :attr:`~cnnfilter.engine.boundary.Boundary.source_index`
    in :data:`~cnnfilter.engine.boundary.BOUNDARIES`, equal to ``numpy.pad``
    of ``arange(n)`` for any padding width.

    Raises:
        UsageError: an unknown mode name.
    """
    return boundary_mode(mode).source_index(positions - axis.pad_before, axis.n)


def _fills(mode: str) -> bool:
    """True when ``mode`` puts ``cval`` outside the image (raises for an unknown mode)."""
    return boundary_mode(mode).fills


@functools.lru_cache(maxsize=256)
def _extended_range(lo: int, hi: int, axis: AxisGeometry, mode: str) -> np.ndarray:
    """:func:`extend_index` of ``arange(lo, hi)``, cached (every row tile asks again)."""
    idx = extend_index(np.arange(lo, hi), axis, mode)
    idx.setflags(write=False)
    return idx


def _split(start: int, stop: int, axis: AxisGeometry) -> tuple[int, int]:
    """``[start, a)`` before the image, ``[a, b)`` inside, ``[b, stop)`` after."""
    a = min(max(start, axis.pad_before), stop)
    b = max(min(stop, axis.pad_before + axis.n), a)
    return a, b


def _fill_columns(dst, rows, cols: AxisGeometry, c0, c1, mode, cval) -> None:
    """``dst[:, k] = extended(rows)[:, c0 + k]`` for a block of source rows."""
    a, b = _split(c0, c1, cols)
    pb = cols.pad_before
    if b > a:
        dst[:, a - c0 : b - c0] = rows[:, a - pb : b - pb]
    for lo, hi in ((c0, a), (b, c1)):
        if hi <= lo:
            continue
        if _fills(mode):
            dst[:, lo - c0 : hi - c0] = cval
        else:
            dst[:, lo - c0 : hi - c0] = rows[:, _extended_range(lo, hi, cols, mode)]


def build_tile(
    src: np.ndarray,
    rows: AxisGeometry,
    cols: AxisGeometry,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
    mode: str,
    cval: float,
    out: np.ndarray,
) -> np.ndarray:
    """Fill ``out`` with rows ``[r0, r1)``, columns ``[c0, c1)`` of the padded ``src``.

    ``out``: ``(r1 - r0, c1 - c0) + src.shape[2:]`` of the working dtype; the
    conversion from the source dtype happens in the copy.
    """
    a, b = _split(r0, r1, rows)
    pb = rows.pad_before
    if b > a:
        _fill_columns(out[a - r0 : b - r0], src[a - pb : b - pb], cols, c0, c1, mode, cval)
    for lo, hi in ((r0, a), (b, r1)):
        if hi <= lo:
            continue
        if _fills(mode):
            out[lo - r0 : hi - r0] = cval
        else:
            picked = src[_extended_range(lo, hi, rows, mode)]
            _fill_columns(out[lo - r0 : hi - r0], picked, cols, c0, c1, mode, cval)
    return out


def parallel(func: Callable[..., None], bounds: Sequence[tuple[int, ...]]) -> None:
    """Run ``func(*bound)`` for every bound, on :func:`thread_budget` threads when useful.

    Each thread takes the next bound from a shared counter until none is
    left (a thread slowed down by other processes simply takes fewer). No
    future per bound: measured, 3x3 kernel on 4000x3000x3 float32, one
    worker, 750 row tiles: 87 ms with a ThreadPoolExecutor future per tile,
    62 ms with the counter. The first exception raised is re-raised here.
    """
    # BLAS single-threaded for the region (threadpoolctl), or per worker thread
    # (the ctypes fallback: even one worker runs in its own thread for that).
    workers = max(1, min(thread_budget(), len(bounds)))
    counter = itertools.count()
    lock = threading.Lock()
    errors: list[BaseException] = []
    state = np.geterr()  # threads start with numpy's default: carry the caller's errstate

    def loop() -> None:
        worker_thread_setup()
        try:
            with np.errstate(**state):
                while not errors:
                    with lock:
                        i = next(counter)
                    if i >= len(bounds):
                        return
                    func(*bounds[i])
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(workers)]
    with single_threaded_blas():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


def chunks(n: int, size: int) -> list[tuple[int, int]]:
    """``[(0, size), (size, 2 size), ..., (.., n)]``."""
    size = max(1, size)
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def direct_tile(
    tile: np.ndarray,
    weights: np.ndarray,
    steps: tuple[int, int, int, int],
    out: np.ndarray,
    *,
    accumulate: bool,
) -> None:
    """``out (+)= correlation of tile with weights``: one pass per non-zero tap.

    ``steps`` = ``(stride_rows, stride_cols, dilation_rows, dilation_cols)``;
    only the strided outputs are computed. Taps of weight +1/-1 are one
    add/subtract pass instead of a multiply and an add.
    """
    sh, sw, dh, dw = steps
    oh, ow = out.shape[:2]
    tmp = None
    first = not accumulate
    for i in range(weights.shape[0]):
        rsl = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
        for j in range(weights.shape[1]):
            w = weights[i, j]
            if w == 0:
                continue
            view = tile[rsl, j * dw : j * dw + (ow - 1) * sw + 1 : sw]
            if first:
                np.multiply(view, w, out=out)
                first = False
            elif w == 1:
                np.add(out, view, out=out)
            elif w == -1:
                np.subtract(out, view, out=out)
            else:
                if tmp is None:
                    tmp = scratch("tmp", out.shape, out.dtype)
                np.multiply(view, w, out=tmp)
                np.add(out, tmp, out=out)
    if first:
        out.fill(0)


def _steps_band(weights: np.ndarray, out_rows: int, in_rows: int, stride: int, dilation: int):
    """Stacked banded matrices ``B[j]`` (``(kw, out_rows, in_rows)``), one per kernel column.

    ``(B[j] @ x)[y] = sum_i weights[i, j] * x[y * stride + i * dilation]``.
    """
    kh, kw = weights.shape
    band = np.zeros((kw, out_rows, in_rows), dtype=weights.dtype)
    y = np.arange(out_rows)[:, np.newaxis]
    i = np.arange(kh)[np.newaxis, :]
    for j in range(kw):
        band[j, y, y * stride + i * dilation] = weights[np.newaxis, :, j]
    return band


class _Banded:
    """Shared parts of the BLAS tile functions: cached band matrices, NaN fallback.

    A banded product also multiplies the zeros outside the band; one NaN or
    inf pixel would spread through them over a whole tile column. So when the
    source is float and a tile's result is not finite, the tile is recomputed
    tap by tap (:func:`direct_tile`), which gives non-finite values only where
    the kernel reaches them.
    """

    def __init__(self, weights: np.ndarray, steps: tuple[int, int, int, int], check: bool):
        self.weights, self.steps, self.check = weights, steps, check
        self._cache: dict[tuple, np.ndarray] = {}
        self._lock = threading.Lock()

    def cached(self, key: tuple, build: Callable[[], np.ndarray]) -> np.ndarray:
        value = self._cache.get(key)
        if value is None:
            value = build()
            with self._lock:
                self._cache[key] = value
        return value

    def fallback(self, tile: np.ndarray, out: np.ndarray, start: np.ndarray | None) -> bool:
        """Redo the tile tap by tap if its result is not finite; True if redone."""
        if not self.check or _all_finite(out):
            return False
        if start is not None:
            out[...] = start
        direct_tile(tile, self.weights, self.steps, out, accumulate=start is not None)
        return True


def _all_finite(values: np.ndarray) -> bool:
    """False if ``values`` holds a NaN or an inf (or squares past the dtype's range).

    One BLAS dot product, cheaper than a sum: measured over the 4-row tiles
    of a 4000x3000x3 float32 result, one thread, 6.2 ms against 8.7 ms for
    ``np.add.reduce``. A false alarm (values above 1e19 in float32) only
    sends the tile to the slower tap-by-tap path, which gives the same result.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow here is the answer
        if values.flags.c_contiguous:
            flat = values.reshape(-1)
            return bool(np.isfinite(np.dot(flat, flat)))
        if values.ndim >= 2 and values[0].flags.c_contiguous:  # a block of columns: by row
            return all(np.isfinite(np.dot(r, r)) for r in values.reshape(values.shape[0], -1))
        return bool(np.isfinite(np.add.reduce(values, axis=None)))


class StackedDirectTile(_Banded):
    """Direct correlation as one BLAS product and ``kw`` shifted adds per tile.

    ``Z[j] = B[j] @ tile`` sums every kernel column's taps down the rows
    (banded matrices of :func:`_steps_band`, stride and dilation built in),
    then ``out[:, x] = sum_j Z[j][:, x * stride + j * dilation]``. Exact sums
    of the same products as :func:`direct_tile`, in a different order.

    NaN/inf: the *input* tile is checked (one BLAS dot over contiguous rows)
    before the product; a tile that is not finite goes tap by tap. Measured,
    one thread, 3x3 on 4000x3000x3 float32 under load: checking each
    finished output tile row by row (the previous way) cost 72 ms of 428.
    """

    #: Output rows per tile. Measured, product + adds of a 3x3 kernel over a
    #: 4000x3000x3 float32 image, one thread: 4 rows 17 + 13 ms, 8 rows 34 + 12,
    #: 16 rows 50 + 11, 32 rows 82 + 12 (the band multiplies
    #: (rows + kh - 1) / kh times more zeros than taps as the tile grows).
    #: Again with the source fast path of :func:`run_rows`, whole call, one
    #: worker, 3x3 / 5x5 kernel (ms): 2 rows 114 / 141, 3 rows 95 / 158,
    #: 4 rows 87 / 142, 6 rows 106 / 142, 8 rows 114 / 182.
    tile_rows = 4
    #: :func:`run_rows` may pass unpadded source rows and a column ``shift``.
    reads_source = True

    def __call__(
        self, tile: np.ndarray, out: np.ndarray, *, accumulate: bool, shift: int = 0
    ) -> None:
        """``out (+)=`` the correlation of ``tile``.

        Output column ``u`` is the window starting at tile column
        ``shift + u * stride_cols``.
        """
        sh, sw, dh, dw = self.steps
        if self.check and not _all_finite(tile):
            # a NaN or inf would spread through the band's zeros: tap by tap instead
            direct_tile(tile[:, shift:], self.weights, self.steps, out, accumulate=accumulate)
            return
        kw = self.weights.shape[1]
        oh, ow = out.shape[:2]
        th = tile.shape[0]
        band = self._cache.get((oh, th))
        if band is None:
            band = self.cached(
                (oh, th), lambda: _steps_band(self.weights, oh, th, sh, dh).reshape(kw * oh, th)
            )
        z = scratch("z", (kw, oh) + tile.shape[1:], out.dtype)
        np.matmul(band, tile.reshape(th, -1), out=z.reshape(kw * oh, -1))
        last = shift + (ow - 1) * sw + 1
        views = [z[j][:, shift + j * dw : last + j * dw : sw] for j in range(kw)]
        if accumulate:
            np.add(out, views[0], out=out)
        elif kw == 1:
            np.copyto(out, views[0])
        else:
            # two views in one pass: one pass fewer than a copy then adds
            np.add(views[0], views[1], out=out)
            views = views[1:]
        for view in views[1:]:
            np.add(out, view, out=out)


#: Output columns per block of the separable row pass (a Toeplitz block
#: shared by every block); measured with SeparableTile.tile_rows.
ROW_BLOCK = 16


class SeparableTile(_Banded):
    #: Output rows per tile (the row pass multiplies ``chans * rows`` columns
    #: at once). Measured with ROW_BLOCK, 15x15 Gaussian on 4000x3000x3
    #: float32, two threads (rows/block: ms): 16/16 145, 16/32 166, 32/16 108,
    #: 32/32 119, 32/64 207, 64/16 256, 64/64 204.
    tile_rows = 32

    """Two 1-D passes, both BLAS products; no transposing copy of the input.

    Column pass: ``midT = tile2d.T @ B.T``, giving the intermediate with
    columns first (``(tw, C, oh)``); row pass: one Toeplitz block
    ``R (ROW_BLOCK, span)`` times overlapping windows of ``midT``
    (a batched product over blocks of output columns); then one transposing
    copy into ``out``.
    """

    def __init__(self, col, row, steps, check: bool):
        super().__init__(np.outer(col, row).astype(col.dtype), steps, check)
        self.col, self.row = col, row

    def __call__(self, tile: np.ndarray, out: np.ndarray, *, accumulate: bool) -> None:
        sh, sw, dh, dw = self.steps
        oh, ow = out.shape[:2]
        th, tw = tile.shape[:2]
        chans = tile.shape[2] if tile.ndim == 3 else 1
        dtype = out.dtype
        keff_w = effective_kernel_size(self.row.size, dw)
        block = min(ROW_BLOCK, ow)
        span = (block - 1) * sw + keff_w
        nb = -(-ow // block)
        rows_needed = max(tw, (nb - 1) * block * sw + span)
        band_t = self.cached(
            ("col", oh, th),
            lambda: np.ascontiguousarray(_steps_band(self.col[:, None], oh, th, sh, dh)[0].T),
        )
        row_band = self.cached(
            ("row", block), lambda: _steps_band(self.row[:, None], block, span, sw, dw)[0]
        )
        mid_t = scratch("midT", (rows_needed, chans * oh), dtype)
        with np.errstate(invalid="ignore"):  # inf * 0 in the bands: the fallback redoes it
            np.matmul(
                tile.reshape(th, tw * chans).T, band_t, out=mid_t[:tw].reshape(tw * chans, oh)
            )
        if rows_needed > tw:
            mid_t[tw:] = 0
        item = dtype.itemsize
        windows = np.lib.stride_tricks.as_strided(
            mid_t,
            shape=(nb, span, chans * oh),
            strides=(block * sw * chans * oh * item, chans * oh * item, item),
            writeable=False,
        )
        res = scratch("res", (nb, block, chans * oh), dtype)
        with np.errstate(invalid="ignore"):
            np.matmul(row_band, windows, out=res)
        res = res.reshape(nb * block, chans, oh)[:ow]
        start = out.copy() if accumulate and self.check else None
        view = res.transpose(2, 0, 1) if tile.ndim == 3 else res[:, 0, :].T
        if accumulate:
            np.add(out, view, out=out)
        else:
            np.copyto(out, view)
        self.fallback(tile, out, start)


def _interior(axis: AxisGeometry, keff: int) -> tuple[int, int]:
    """Outputs ``[lo, hi)`` whose windows lie wholly inside the image along ``axis``."""
    lo = -(-axis.pad_before // axis.stride)
    last = axis.n - keff + axis.pad_before
    hi = min(axis.out, last // axis.stride + 1) if last >= 0 else 0
    return lo, max(hi, lo)


@functools.cache
def cblas_gemm(kind: str) -> Callable | None:
    """``cblas_sgemm`` (``kind="s"``) or ``cblas_dgemm`` (``"d"``) of numpy's own BLAS, or None.

    Found through ctypes in the OpenBLAS that numpy's pip wheels bundle (the
    library numpy's ``matmul`` calls, so the thread limit of
    :mod:`cnnfilter.engine.threads` applies to it); None on other builds
    (MKL, Accelerate, conda), where :class:`FlatRows` is not used. Checked
    once on a small product before use. Arguments (row-major, no transposes):
    ``order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc``
    with pointers as integers. ctypes releases the GIL for the call.

    Why not ``scipy.linalg.blas.sgemm`` (the same routine, ``beta`` included):
    it costs 50-250 ms to import (``cnnfilter apply`` keeps scipy out of the
    direct method), and its wrapper copies any array that is not
    Fortran-contiguous. numpy's ``matmul`` has no ``beta``.
    """
    import ctypes
    import glob
    import os

    root = os.path.dirname(np.__file__)
    paths = glob.glob(os.path.join(os.path.dirname(root), "numpy.libs", "*openblas*"))
    paths += glob.glob(os.path.join(root, ".dylibs", "*openblas*"))
    real = ctypes.c_float if kind == "s" else ctypes.c_double
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name, index in (
            (f"scipy_cblas_{kind}gemm64_", ctypes.c_int64),
            (f"cblas_{kind}gemm64_", ctypes.c_int64),
            (f"scipy_cblas_{kind}gemm", ctypes.c_int),
            (f"cblas_{kind}gemm", ctypes.c_int),
        ):
            func = getattr(lib, name, None)
            if func is None:
                continue
            ptr = ctypes.c_void_p
            func.argtypes = [ctypes.c_int] * 3 + [index] * 3 + [real, ptr, index, ptr, index]
            func.argtypes += [real, ptr, index]
            func.restype = None
            if _gemm_works(func, np.float32 if kind == "s" else np.float64):
                return func
    return None


def _gemm_works(func: Callable, dtype) -> bool:
    """True when ``func`` computes ``C = A @ B + C`` of a small product correctly."""
    rng = np.random.default_rng(0)
    a, b = rng.random((3, 4)).astype(dtype), rng.random((4, 5)).astype(dtype)
    c = np.ones((3, 5), dtype=dtype)
    func(101, 111, 111, 3, 5, 4, 1.0, a.ctypes.data, 4, b.ctypes.data, 5, 1.0, c.ctypes.data, 5)
    return bool(np.allclose(c, a @ b + 1, rtol=1e-5))


#: :class:`FlatRows` is used when this is true (tests set it false to check the fallback).
USE_FLAT_ROWS = True


class FlatRows:
    """Direct correlation of whole row tiles as ``kw`` BLAS products accumulating in place.

    For column stride 1, flatten the source rows: with ``L = W * C`` values a
    row, output ``out[y, x, c]`` (flat position ``p = x C + c`` in its row) is

        ``sum_j (B_j @ S_j)[y, p]``,  ``S_j[r, p] = src_flat[(r0 + r) L + p + off_j]``

    where ``off_j = (j d_c - pad_left) C`` and ``B_j`` is the banded
    ``(rows, tile rows)`` matrix of kernel column ``j`` (:func:`_steps_band`,
    row stride and dilation built in). Each ``S_j`` is a plain strided view
    of the source (row stride ``L``), so ``?gemm`` with ``beta = 1`` adds each
    kernel column's product straight into the output rows: no partial sums
    written and added back, no shifted copies. Flat positions whose window
    crosses the left or right image border wrap into the neighbouring row;
    those output columns are recomputed afterwards tap by tap (the border
    strips of :func:`run_rows`), and anything they read is only checked for
    NaN/inf (a tile with one goes the way of :class:`StackedDirectTile`).

    The source is read in place when it is C-contiguous in the working dtype;
    other dtypes (uint8 photos) are converted a tile of rows at a time into a
    buffer with a margin before and after.

    Measured, one thread, 4000x3000x3 float32, interior rows, 4 rows a tile
    (ms): 3x3 56-60 against 121-140 for :class:`StackedDirectTile`, 5x5 101-109
    against 173 (shifted copies and one ``matmul`` instead: 81 / 194; one
    ``np.einsum`` over a strided view: 102-147 / 200;
    ``scipy.ndimage.correlate1d`` per kernel row: 436 / 1397).
    """

    def __init__(self, tile_fn: StackedDirectTile, src, out, cols: AxisGeometry, gemm):
        self.fn, self.src, self.gemm = tile_fn, src, gemm
        self.chans = math.prod(src.shape[2:])
        self.width = src.shape[1] * self.chans
        dw = cols.dilation
        kw = tile_fn.weights.shape[1]
        self.offsets = [(j * dw - cols.pad_before) * self.chans for j in range(kw)]
        self.before = max(0, -min(self.offsets))
        self.after = max(0, max(self.offsets))
        self.in_place = src.dtype == out.dtype
        self.flat = src.reshape(-1) if self.in_place else None
        self.whole = out.shape[1] == src.shape[1]  # output rows as long as source rows
        self.item = out.itemsize
        # NaN/inf: one check of the whole source instead of one per tile (the tiles'
        # rows overlap: 2x the reads for 5x5 in 4-row tiles; measured, one thread,
        # 5x5 on 12 MP RGB float32, CPU time 96 ms without the per-tile checks and
        # 168 ms with them). Tiles are checked one by one only when it finds one.
        self.check = tile_fn.check and not (self.in_place and _all_finite(self.flat))

    def bands(self, oh: int, th: int):
        """``B_j`` as C-contiguous ``(oh, th)`` matrices and their addresses (cached)."""
        sh, _, dh, _ = self.fn.steps

        def build():
            band = np.ascontiguousarray(_steps_band(self.fn.weights, oh, th, sh, dh))
            return band, [band[j].ctypes.data for j in range(band.shape[0])]

        return self.fn.cached(("flat", oh, th), build)

    def __call__(self, r0: int, th: int, dst: np.ndarray, col_lo: int, col_hi: int) -> bool:
        """``dst`` (``(oh, ow, ...)``) from source rows ``[r0, r0 + th)``; False if not finite."""
        L, dtype = self.width, dst.dtype
        lo, hi = r0 * L - self.before, (r0 + th) * L + self.after
        if self.in_place and lo >= 0 and hi <= self.flat.size:
            buf, base = self.flat, r0 * L
        else:
            buf = scratch("flat", (self.before + th * L + self.after,), dtype)
            buf[: self.before] = 0
            buf[self.before + th * L :] = 0
            rows = buf[self.before : self.before + th * L].reshape((th,) + self.src.shape[1:])
            np.copyto(rows, self.src[r0 : r0 + th], casting="unsafe")
            base, lo, hi = self.before, 0, buf.size
        if self.check and not _all_finite(buf[lo:hi]):
            return False
        oh = dst.shape[0]
        acc = dst.reshape(oh, L) if self.whole else scratch("acc", (oh, L), dtype)
        _, ptrs = self.bands(oh, th)
        start, c_ptr, item = buf.ctypes.data + base * self.item, acc.ctypes.data, self.item
        for j, off in enumerate(self.offsets):
            beta = 0.0 if j == 0 else 1.0
            self.gemm(101, 111, 111, oh, L, th, 1.0, ptrs[j], th, start + off * item, L, beta,
                      c_ptr, L)  # fmt: skip
        if not self.whole:
            part = acc[:, col_lo * self.chans : col_hi * self.chans]
            dst[:, col_lo:col_hi] = part.reshape((oh, col_hi - col_lo) + self.src.shape[2:])
        return True


def _flat_rows(planes, out, cols: AxisGeometry, sum_channels: bool, col_hi: int):
    """A :class:`FlatRows` for this call, or None when it does not apply.

    ``col_hi``: the end of the output columns whose windows lie inside; they
    must also lie left of the image's right border (a flat row has ``W``
    positions), which a left padding wider than the kernel breaks.
    """
    src, fn = planes[0]
    if not (
        USE_FLAT_ROWS
        and col_hi <= src.shape[1]
        and len(planes) == 1
        and not sum_channels
        and isinstance(fn, StackedDirectTile)
        and cols.stride == 1
        and src.flags.c_contiguous
        and out.flags.c_contiguous
        and out.dtype in (np.float32, np.float64)
    ):
        return None
    gemm = cblas_gemm("s" if out.dtype == np.float32 else "d")
    return None if gemm is None else FlatRows(fn, src, out, cols, gemm)


def run_rows(
    planes: Sequence[tuple[np.ndarray, Callable]],
    out: np.ndarray,
    rows: AxisGeometry,
    cols: AxisGeometry,
    mode: str,
    cval: float,
    *,
    sum_channels: bool = False,
) -> np.ndarray:
    """Row-tiled driver: ``out = sum over planes of tile_fn(plane)``.

    Each plane is ``(src, tile_fn)``; ``tile_fn(tile, out_rows, accumulate=)``
    writes (or adds) its result for the tile into ``out_rows``, and
    ``tile_fn.tile_rows`` is the number of output rows per tile. With
    ``sum_channels`` the ``(H, W, C)`` tile is summed over channels first.

    Flat rows: with one C-contiguous plane, a :class:`StackedDirectTile`
    and column stride 1, row tiles whose windows lie inside the image run as
    :class:`FlatRows` (when numpy's BLAS is reachable, :func:`cblas_gemm`),
    the border columns afterwards as below.

    Source fast path: when one C-contiguous plane already has the working
    dtype and its tile function takes ``shift=`` (:class:`StackedDirectTile`),
    row tiles whose windows lie inside the image read the source rows as
    they are, with no tile copy, and compute the columns whose windows lie
    inside; the few border columns are computed afterwards tap by tap
    (:func:`direct_tile`) on two narrow strips of the padded image.
    """
    keff_h, keff_w = rows.effective_kernel_size, cols.effective_kernel_size
    width = (cols.out - 1) * cols.stride + keff_w
    per_tile = min(planes[0][1].tile_rows, max(1, -(-rows.out // (4 * thread_budget()))))
    src0, fn0 = planes[0]
    row_lo, row_hi = _interior(rows, keff_h)
    col_lo, col_hi = _interior(cols, keff_w)
    fast = (
        len(planes) == 1
        and not sum_channels
        and getattr(fn0, "reads_source", False)
        and src0.dtype == out.dtype
        and src0.flags.c_contiguous
        and col_hi > col_lo
    )
    flat = _flat_rows(planes, out, cols, sum_channels, col_hi) if col_hi > col_lo else None
    fast_rows = [False]  # any row tile ran on the source

    def work(o0: int, o1: int) -> None:
        r0, r1 = o0 * rows.stride, (o1 - 1) * rows.stride + keff_h
        dst = out[o0:o1]
        inside = row_lo <= o0 and o1 <= row_hi
        if flat is not None and inside and flat(r0 - rows.pad_before, r1 - r0, dst, col_lo, col_hi):
            fast_rows[0] = True
            return
        if fast and inside:
            fast_rows[0] = True
            pb = rows.pad_before
            shift = col_lo * cols.stride - cols.pad_before
            fn0(src0[r0 - pb : r1 - pb], dst[:, col_lo:col_hi], accumulate=False, shift=shift)
            return
        for p, (src, tile_fn) in enumerate(planes):
            tile = scratch("tile", (r1 - r0, width) + src.shape[2:], out.dtype)
            build_tile(src, rows, cols, r0, r1, 0, width, mode, cval, tile)
            if sum_channels:
                summed = scratch("summed", tile.shape[:2], out.dtype)
                np.copyto(summed, tile[..., 0])
                for c in range(1, tile.shape[2]):
                    np.add(summed, tile[..., c], out=summed)
                tile = summed
            tile_fn(tile, dst, accumulate=p > 0)

    bounds = chunks(rows.out, per_tile)
    parallel(work, bounds)
    if (fast or flat is not None) and fast_rows[0]:
        # the rows the source fast path covered: every whole tile inside [row_lo, row_hi)
        inside = [(o0, o1) for o0, o1 in bounds if row_lo <= o0 and o1 <= row_hi]
        a, b = inside[0][0], inside[-1][1]
        for x0, x1 in ((0, col_lo), (col_hi, cols.out)):
            if x1 <= x0:
                continue
            c0, c1 = x0 * cols.stride, (x1 - 1) * cols.stride + keff_w
            r0, r1 = a * rows.stride, (b - 1) * rows.stride + keff_h
            strip = np.empty((r1 - r0, c1 - c0) + src0.shape[2:], dtype=out.dtype)
            build_tile(src0, rows, cols, r0, r1, c0, c1, mode, cval, strip)
            direct_tile(strip, fn0.weights, fn0.steps, out[a:b, x0:x1], accumulate=False)
    return out


#: FFT tile side for a kernel of effective side ``k`` (the larger side): the
#: fast length at or above ``FFT_TILE_FACTOR * k``, at least ``FFT_TILE_MIN``
#: and at most ``FFT_TILE_MAX``. Measured per channel on 4000x3000x3 float32,
#: one thread, tile side 384 / 512 / 640 / 768 / 1024: 31x31 410 / 524 / 665 /
#: 504 / 820 ms; 63x63 480 / 469 / 474 / 516 / 1197 ms (a 1024 tile of three
#: channels, 12 MB of spectrum, no longer fits in cache).
FFT_TILE_FACTOR = 10
FFT_TILE_MIN = 384
FFT_TILE_MAX = 640


def fft_tile_side(n_needed: int, keff: int) -> int:
    """FFT length along one axis for overlap-save tiles (see FFT_TILE_FACTOR)."""
    from scipy import fft

    target = min(max(FFT_TILE_FACTOR * keff, FFT_TILE_MIN), max(FFT_TILE_MAX, 2 * keff))
    return fft.next_fast_len(min(target, n_needed), real=True)


def run_fft(
    planes: Sequence[tuple[np.ndarray, np.ndarray]],
    out: np.ndarray,
    rows: AxisGeometry,
    cols: AxisGeometry,
    mode: str,
    cval: float,
    *,
    sum_channels: bool = False,
) -> np.ndarray:
    """Overlap-save FFT correlation over 2-D tiles: ``out = sum over planes``.

    Each plane is ``(src, weights)`` with ``src`` ``(H, W)`` or ``(H, W, C)``
    and 2-D ``weights`` (already in correlation orientation). Channels of a
    plane are transformed together; the planes of a 3-D kernel are summed in
    the frequency domain (one inverse transform per tile). Only the strided
    outputs are kept from each tile.
    """
    from scipy import fft

    sh, sw, dh, dw = rows.stride, cols.stride, rows.dilation, cols.dilation
    keff_h, keff_w = rows.effective_kernel_size, cols.effective_kernel_size
    need_h = (rows.out - 1) * sh + keff_h
    need_w = (cols.out - 1) * sw + keff_w
    fh, fw = fft_tile_side(need_h, keff_h), fft_tile_side(need_w, keff_w)
    per_h = (fh - keff_h) // sh + 1
    per_w = (fw - keff_w) // sw + 1
    specs = []
    for _, weights in planes:
        dilated = np.zeros((keff_h, keff_w), dtype=out.dtype)
        dilated[::dh, ::dw] = weights
        specs.append(fft.rfft2(dilated[::-1, ::-1], s=(fh, fw)))
    dtype = out.dtype
    ndim_src = planes[0][0].ndim
    channel_out = out.ndim == 3

    def work_tile(o0: int, o1: int, p0: int, p1: int) -> None:
        r0, r1 = o0 * sh, (o1 - 1) * sh + keff_h
        c0, c1 = p0 * sw, (p1 - 1) * sw + keff_w
        total = None
        for (src, _), spec in zip(planes, specs, strict=True):
            if ndim_src == 3 and not sum_channels:
                # channels first and contiguous: the transforms run on whole planes
                tile = scratch("tile", (src.shape[2], r1 - r0, c1 - c0), dtype)
                for c in range(src.shape[2]):
                    build_tile(src[:, :, c], rows, cols, r0, r1, c0, c1, mode, cval, tile[c])
            else:
                tile = scratch("tile", (r1 - r0, c1 - c0) + src.shape[2:], dtype)
                build_tile(src, rows, cols, r0, r1, c0, c1, mode, cval, tile)
                if ndim_src == 3:
                    tile = tile.sum(axis=2)
            x = fft.rfft2(tile, s=(fh, fw), axes=(-2, -1))
            x *= spec
            if total is None:
                total = x
            else:
                total += x
        res = fft.irfft2(total, s=(fh, fw), axes=(-2, -1), overwrite_x=True)
        res = res[
            ...,
            keff_h - 1 : keff_h - 1 + (o1 - o0 - 1) * sh + 1 : sh,
            keff_w - 1 : keff_w - 1 + (p1 - p0 - 1) * sw + 1 : sw,
        ]
        if channel_out:
            out[o0:o1, p0:p1] = np.moveaxis(res, 0, -1)
        else:
            out[o0:o1, p0:p1] = res

    bounds = [
        (o0, o1, p0, p1) for o0, o1 in chunks(rows.out, per_h) for p0, p1 in chunks(cols.out, per_w)
    ]
    parallel(work_tile, bounds)
    return out
