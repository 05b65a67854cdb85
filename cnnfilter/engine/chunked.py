"""Filtering and pooling arrays larger than memory, one output block at a time.

The source is any array-like with ``shape``, ``dtype`` and NumPy basic
slicing (a Zarr array, a tiled TIFF opened with tifffile's ``aszarr``, a
``numpy.memmap``, a NumPy array); nothing here opens a file. The result is a
lazy ``dask.array`` whose blocks are computed by the in-memory engine:

1. the output is cut into blocks of ``chunk x chunk`` pixels
   (:func:`output_chunks`);
2. for an output block ``[o0, o1)`` along an axis, the kernel reads the
   padded input positions ``[o0 * s, (o1 - 1) * s + d (k - 1) + 1)``: the
   block's own pixels plus its halo of ``k_eff - 1`` (``k_eff = d (k - 1) + 1``
   from the geometry), with the stride applied from the block's first output
   on, so a stride or dilation across block edges needs no realignment;
3. those positions are mapped to source pixels by the boundary mode's own
   index rule (:data:`cnnfilter.engine.boundary.BOUNDARIES`, the rule the
   in-memory tiles use), and read as a few rectangles
   (:func:`read_window`): the image is extended exactly as in memory, for any
   padding and every mode (``wrap`` reads the far side of the image);
4. the block is the in-memory function on that window with ``padding='valid'``
   (:func:`cnnfilter.engine.image_filter.filter_image`,
   :func:`cnnfilter.engine.pooling.pool2d`'s passes).

Why not ``dask.array.map_overlap`` with a symmetric ``depth`` and dask's
``boundary``: its halo is the same on both sides and trimmed per input
chunk, while a strided, dilated or even-sized kernel needs an asymmetric
window whose first output lands on a multiple of the stride, and dask's
boundary names cover four of the five modes (no ``symmetric`` with the
edge pixel repeated, in dask's sense ``reflect``, for a pad wider than a
chunk). Reading each block's window by the engine's own index rule gives the
in-memory values by construction; the per-block work is then the in-memory
engine itself, and dask only schedules blocks (threads here, processes or
machines with ``distributed``).

Memory: each task holds one window (``(chunk + k_eff - 1)^2`` pixels, the
working float dtype) and its block; the scheduler runs as many tasks at a
time as it has threads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from cnnfilter.engine.boundary import boundary_mode
from cnnfilter.engine.geometry import AxisGeometry
from cnnfilter.errors import UsageError

__all__ = [
    "DEFAULT_CHUNK",
    "POINTWISE_RANGES",
    "filter_chunked",
    "filter_geometry_of",
    "output_chunks",
    "pool_chunked",
    "read_window",
    "runs",
]

#: Output block side, pixels: 1024 x 1024 float32 is 4 MiB per block.
DEFAULT_CHUNK = 1024

#: Range modes a block can map on its own (``rescale`` and ``stretch`` need
#: statistics of the whole response).
POINTWISE_RANGES = ("clip", "abs")


def output_chunks(n: int, chunk: int) -> tuple[int, ...]:
    """Block sizes along an output axis of ``n`` pixels.

    >>> output_chunks(10, 4)
    (4, 4, 2)
    """
    if chunk < 1:
        raise UsageError(f"chunk must be >= 1, got {chunk}")
    full, rest = divmod(n, chunk)
    return (chunk,) * full + ((rest,) if rest else ())


def runs(index: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Split source indices into runs read as one slice each.

    Returns ``(start, stop, first, step)`` per run: positions
    ``[start, stop)`` of ``index`` hold ``first, first + step, ...`` with
    ``step`` 1 or -1, or ``first == -1`` (the constant fill).

    >>> runs(np.array([2, 1, 0, 0, 1, 2, -1, -1]))
    [(0, 3, 2, -1), (3, 6, 0, 1), (6, 8, -1, 0)]
    """
    out = []
    i, n = 0, len(index)
    while i < n:
        first = int(index[i])
        if first < 0:
            j = i + 1
            while j < n and index[j] < 0:
                j += 1
            out.append((i, j, -1, 0))
            i = j
            continue
        step = 1
        if i + 1 < n and index[i + 1] == first - 1:
            step = -1
        j = i + 1
        while j < n and index[j] == index[j - 1] + step and index[j] >= 0:
            j += 1
        out.append((i, j, first, step))
        i = j
    return out


def _axis_index(ax: AxisGeometry, lo: int, hi: int, mode: str) -> np.ndarray:
    """Source index of padded positions ``[lo, hi)`` (-1: the constant fill)."""
    return boundary_mode(mode).source_index(np.arange(lo, hi) - ax.pad_before, ax.n)


def read_window(
    src, row_index: np.ndarray, col_index: np.ndarray, *, cval: float, dtype: np.dtype
) -> np.ndarray:
    """``src[row_index][:, col_index]`` (``-1`` -> ``cval``) as ``dtype``, read by runs.

    Each pair of a row run and a column run (:func:`runs`) is one slice of
    ``src`` (a contiguous rectangle, reversed in memory for a reflected run),
    so a Zarr or TIFF source reads only the chunks the window touches.
    """
    out = np.empty((len(row_index), len(col_index)) + tuple(src.shape[2:]), dtype=dtype)
    col_runs = runs(col_index)
    for r0, r1, rf, rs in runs(row_index):
        for c0, c1, cf, cs in col_runs:
            if rf < 0 or cf < 0:
                out[r0:r1, c0:c1] = cval
                continue
            rows = _span(rf, rs, r1 - r0)
            cols = _span(cf, cs, c1 - c0)
            part = np.asarray(src[rows, cols])
            if rs < 0:
                part = part[::-1]
            if cs < 0:
                part = part[:, ::-1]
            out[r0:r1, c0:c1] = part
    return out


def _span(first: int, step: int, count: int) -> slice:
    return slice(first, first + count) if step > 0 else slice(first - count + 1, first + 1)


def _window_bounds(ax: AxisGeometry, o0: int, o1: int) -> tuple[int, int]:
    """Padded input positions ``[lo, hi)`` that outputs ``[o0, o1)`` read."""
    lo = o0 * ax.stride
    return lo, (o1 - 1) * ax.stride + ax.effective_kernel_size


def filter_geometry_of(shape: Sequence[int], weights: np.ndarray, settings):
    """The global geometry (:func:`cnnfilter.engine.filtering.filter_geometry`) of a filtering."""
    from cnnfilter.engine.filtering import filter_geometry

    return filter_geometry(
        tuple(shape), np.shape(weights), padding=settings.padding, stride=settings.stride,
        dilation=settings.dilation, flipped=settings.op == "convolve",
    )  # fmt: skip


def _filter_block(
    src, weights, settings, geom, mode, max_value, plan, block_info=None
) -> np.ndarray:
    from cnnfilter.engine.filtering import work_dtype
    from cnnfilter.engine.image_filter import filter_image

    (y0, y1), (x0, x1) = block_info[None]["array-location"][:2]
    rlo, rhi = _window_bounds(geom.rows, y0, y1)
    clo, chi = _window_bounds(geom.cols, x0, x1)
    window = read_window(
        src, _axis_index(geom.rows, rlo, rhi, mode), _axis_index(geom.cols, clo, chi, mode),
        cval=settings.cval, dtype=work_dtype(src.dtype),
    )  # fmt: skip
    result = filter_image(window, weights, settings, max_value=max_value, plan=plan)
    return result.pixels


def filter_chunked(
    src,
    weights,
    settings,
    *,
    max_value: float,
    source_dtype: np.dtype | None = None,
    chunk: int = DEFAULT_CHUNK,
):
    """``filter_image(src, weights, settings).pixels`` as a lazy dask array, block by block.

    Args:
        src: ``(H, W)`` or ``(H, W, C)`` array-like (see the module notes).
        weights: the kernel ``(kh, kw)`` or ``(kh, kw, C)`` (a list of them
            for ``settings.combine == 'magnitude'``).
        settings: a :class:`cnnfilter.engine.image_filter.FilterSettings`;
            ``raw`` or a range mode of :data:`POINTWISE_RANGES` (``auto``
            resolved by the caller).
        max_value: full white of the source (255, 65535, 1.0).
        source_dtype: the dtype whose range mapping applies (default ``src.dtype``).
        chunk: output block side in pixels.

    Returns:
        A ``dask.array.Array`` of the in-memory result's shape and dtype:
        each block equals the same block of the in-memory result.

    Raises:
        UsageError: ``rescale`` or ``stretch`` (whole-response statistics),
            an unknown boundary, bad geometry, an empty output.
    """
    import dask.array as da

    from cnnfilter.engine.filtering import plan_method, work_dtype

    if not settings.raw and settings.range_mode not in POINTWISE_RANGES:
        raise UsageError(
            f"range_mode={settings.range_mode!r} needs the whole response at once; a chunked "
            "run maps each block alone: use range_mode='clip', 'abs' or 'raw'"
        )
    kernels = list(weights) if settings.combine == "magnitude" else [weights]
    geom = filter_geometry_of(src.shape, kernels[0], settings)
    oh, ow = geom.out_shape
    if oh <= 0 or ow <= 0:
        raise UsageError(
            "the output would be empty: the kernel does not fit in the image with this padding"
        )
    mode = boundary_mode(settings.boundary).name
    wd = work_dtype(src.dtype)
    plan = plan_method(kernels[0], method=settings.method, dtype=wd)
    source_dtype = np.dtype(source_dtype or src.dtype)
    summed = settings.sum_channels or np.ndim(kernels[0]) == 3
    extra = () if len(src.shape) == 2 or summed else tuple(src.shape[2:])
    if settings.raw:
        dtype = wd
    else:
        dtype = source_dtype if source_dtype.kind in "ui" else np.dtype(np.uint8)
    block_settings = replace(settings, padding="valid")
    chunks = (output_chunks(oh, chunk), output_chunks(ow, chunk)) + tuple((c,) for c in extra)
    return da.map_blocks(
        _block_as, chunks=chunks, dtype=dtype, meta=np.empty((0,) * len(chunks), dtype),
        src=src, weights=weights, settings=block_settings, geom=geom, mode=mode,
        max_value=max_value, plan=plan, source_dtype=source_dtype,
    )  # fmt: skip


def _block_as(src, weights, settings, geom, mode, max_value, plan, source_dtype, block_info=None):
    """One output block; the range mapping follows ``source_dtype`` (an integer picture)."""
    from cnnfilter.engine.intensity import storable_pixels

    if settings.raw:
        return _filter_block(src, weights, settings, geom, mode, max_value, plan, block_info)
    raw = _filter_block(
        src, weights, replace(settings, raw=True), geom, mode, max_value, plan, block_info
    )
    return storable_pixels(
        raw, settings.range_mode, max_value=max_value, source_dtype=source_dtype,
        percentile=settings.percentile, gamma=settings.gamma,
        black_percentile=settings.black_percentile,
    )  # fmt: skip


# -- pooling ---------------------------------------------------------------------------


def pool_chunked(src, spec, *, chunk: int = DEFAULT_CHUNK):
    """``pool2d(src, spec)`` as a lazy dask array, block by block (max and avg).

    Each block pools its window of the padded input (``-inf``/lowest or 0
    outside the image, as :func:`cnnfilter.engine.pooling.pool2d`) with the
    same passes, and average pooling divides by the global divisors of its
    rows and columns, so every value equals the in-memory one.

    Raises:
        UsageError: Lp pooling (use the in-memory path), an empty output.
    """
    import dask.array as da

    from cnnfilter.engine.filtering import work_dtype
    from cnnfilter.engine.pooling import pool_axes

    if spec.op not in ("max", "avg"):
        raise UsageError("a chunked run pools with op='max' or op='avg'; Lp pooling runs in memory")
    rows, cols = pool_axes(src.shape, spec)
    dtype = np.dtype(src.dtype) if spec.op == "max" else work_dtype(src.dtype)
    extra = tuple(src.shape[2:])
    chunks = (output_chunks(rows.out, chunk), output_chunks(cols.out, chunk))
    chunks += tuple((c,) for c in extra)
    return da.map_blocks(
        _pool_block, chunks=chunks, dtype=dtype, meta=np.empty((0,) * len(chunks), dtype),
        src=src, spec=spec, rows=rows, cols=cols,
    )  # fmt: skip


def _pool_block(src, spec, rows, cols, block_info=None) -> np.ndarray:
    from cnnfilter.engine import pooling

    (y0, y1), (x0, x1) = block_info[None]["array-location"][:2]
    rlo, rhi = _window_bounds(rows, y0, y1)
    clo, chi = _window_bounds(cols, x0, x1)
    x = src
    if spec.op == "max":
        fill = pooling._lowest(np.dtype(src.dtype))
        dtype = np.dtype(src.dtype)
    else:
        fill, dtype = 0, np.dtype(src.dtype)
    ext = read_window(
        x, _axis_index(rows, rlo, rhi, "constant"), _axis_index(cols, clo, chi, "constant"),
        cval=fill, dtype=dtype,
    )  # fmt: skip
    brow = _block_axis(rows, y1 - y0)
    bcol = _block_axis(cols, x1 - x0)
    op = np.maximum if spec.op == "max" else np.add
    out_dtype = dtype if spec.op == "max" else pooling.work_dtype(dtype)
    out = np.empty((y1 - y0, x1 - x0) + ext.shape[2:], dtype=out_dtype)
    pooling._combine_taps(ext, brow, bcol, out, op)
    if spec.op == "avg":
        _divide_block(out, rows, cols, (y0, y1), (x0, x1), spec.count_include_pad)
    return out


def _block_axis(ax: AxisGeometry, out: int) -> AxisGeometry:
    """The geometry of a block's already-padded window: no padding, ``out`` outputs."""
    n = (out - 1) * ax.stride + ax.effective_kernel_size
    return AxisGeometry(n, ax.kernel_size, ax.stride, ax.dilation, 0, 0, out)


def _divide_block(out, rows, cols, yr, xr, include_pad) -> None:
    """:func:`cnnfilter.engine.pooling._divide` restricted to one block (same arithmetic)."""
    from cnnfilter.engine.pooling import _divisor_1d

    rdiv, cdiv = _divisor_1d(rows, include_pad), _divisor_1d(cols, include_pad)
    if np.all(rdiv == rdiv[0]) and np.all(cdiv == cdiv[0]):
        out *= out.dtype.type(1.0 / (rdiv[0] * cdiv[0]))
        return
    div = np.outer(rdiv[yr[0] : yr[1]], cdiv[xr[0] : xr[1]]).astype(out.dtype)
    out /= div if out.ndim == 2 else div[:, :, np.newaxis]


def block_count(shape: Sequence[int], chunk: int) -> int:
    """How many blocks an output of ``shape`` is cut into."""
    return math.prod(len(output_chunks(n, chunk)) for n in shape[:2])
