"""``apply`` and ``pool`` on images larger than memory: chunk by chunk, optionally on a cluster.

The input is a tiled TIFF/BigTIFF or a Zarr array
(:class:`cnnfilter.codecs.large.LargeArray`), read by rectangles; the output
is computed block by block by :mod:`cnnfilter.engine.chunked` (each block the
in-memory engine on its window plus the kernel's halo) and written as a
tiled BigTIFF (one row of blocks in memory at a time) or a Zarr array (block
by block). With ``scheduler`` the blocks run on a Dask cluster
(:func:`cnnfilter.tasks._cluster.open_client`); else on this machine's
threads (dask's threaded scheduler, one block per core).

Values: the in-memory result, bit for bit for max/avg pooling, and for the
direct and separable methods where the BLAS sums each banded product in the
same order whatever the block shape (numpy 2.x's OpenBLAS here; numpy 1.24's
differs by one float32 unit in the last place); the FFT method (larger
kernels) agrees to float rounding, as the in-memory methods agree with one
another.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from pathlib import Path

from cnnfilter.errors import UsageError

__all__ = ["is_chunked_run", "prepare_apply", "apply_chunked", "pool_chunked"]


def is_chunked_run(source: str | Path, output: str | Path | None, chunked: bool) -> bool:
    """True when ``chunked`` is asked, or the input or output is a Zarr array."""
    from cnnfilter.codecs.large import is_zarr_path

    return bool(chunked) or is_zarr_path(source) or (output is not None and is_zarr_path(output))


def prepare_apply(
    *,
    kernel=None,
    kernel_file=None,
    scale=None,
    settings,
    side_by_side: bool = False,
    **_ignored,
):
    """The :class:`cnnfilter.tasks.apply.ApplySpec` of a chunked ``apply``: kernel, scale, settings.

    Options of the in-memory path that do not apply to a TIFF/Zarr written
    block by block (format, quality, max_pixels...) are ignored.

    Raises:
        UsageError: as :func:`cnnfilter.tasks.apply.prepare` for the kernel and
            boundary; ``side_by_side``.
    """
    from cnnfilter.engine.boundary import canonical_boundary
    from cnnfilter.tasks.apply import ApplySpec, combined_kernels, scaled

    if side_by_side:
        raise UsageError("side_by_side=True is not available for a chunked run")
    kernels = combined_kernels(kernel, kernel_file, settings.combine)
    k, _, factor = scaled(kernels[0], scale)
    more = tuple(scaled(m, scale)[0].weights for m in kernels[1:])
    if more:
        settings = replace(settings, combine="magnitude")
    canonical_boundary(settings.boundary)
    return ApplySpec(k.weights, k.name, settings, scale=factor, more_weights=more)


def _check_paths(source: str, output: str) -> None:
    from cnnfilter.codecs.large import large_format

    if output == "-" or source == "-":
        raise UsageError("a chunked run reads and writes files, not standard input or output")
    large_format(output)
    if Path(output).resolve() == Path(source).resolve():
        raise UsageError(
            f"output {output!r} is the input; cnnfilter never overwrites its input: choose "
            "another output"
        )


def _scheduler_context(scheduler: str | None, workers: int | None):
    if not scheduler:
        return contextlib.nullcontext(None)
    from cnnfilter.tasks._cluster import open_client

    return open_client(scheduler, workers=workers or 2)


def _store(darr, output: str, *, force: bool) -> tuple[str, int]:
    from cnnfilter.codecs import large

    if large.large_format(output) == "ZARR":
        return "ZARR", large.write_zarr(output, darr, force=force)
    return "TIFF", large.write_tiled_tiff(output, darr, force=force)


def _resolved_settings(spec, src, fmt: str):
    """``raw`` for float sources in float-keeping formats, else the pointwise range mode."""
    from cnnfilter.engine.intensity import choose_range

    settings = spec.settings
    if settings.raw or settings.range_mode == "raw":
        return replace(settings, raw=True)
    if src.dtype.kind == "f" and settings.range_mode == "auto":
        return replace(settings, raw=True)  # a float picture stays float (TIFF, Zarr)
    kernels = spec.all_weights if spec.more_weights else [spec.weights]
    total = sum(abs(float(k.sum())) for k in kernels)
    return replace(settings, range_mode=choose_range(settings.range_mode, total))


def apply_chunked(
    spec,
    source: str,
    output: str,
    *,
    force: bool,
    chunk: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> dict:
    """Filter a large image block by block and write it (tiled BigTIFF or Zarr).

    Args:
        spec: an :class:`cnnfilter.tasks.apply.ApplySpec` (``side_by_side``,
            ``to_srgb`` and ``frame`` do not apply).
        source, output: a ``.tif``/``.zarr`` input and output.
        chunk: output block side (default
            :data:`cnnfilter.engine.chunked.DEFAULT_CHUNK`).
        scheduler: a Dask scheduler address, ``"local"``, or None (threads here).
        workers: processes of a ``"local"`` cluster.

    Returns:
        The report: input, output, kernel, boundary, stride, dilation, range,
        chunk, blocks, scheduler, timings_ms.

    Raises:
        UsageError: unsupported formats or options (``rescale``/``stretch``
            ranges, side_by_side), Dask or Zarr missing.
        ProcessingError: a read or write failed.
    """
    from cnnfilter.codecs.large import LargeArray
    from cnnfilter.engine import chunked as engine

    _check_paths(source, output)
    if spec.side_by_side:
        raise UsageError("side_by_side=True is not available for a chunked run")
    t0 = time.perf_counter()
    src = LargeArray(source)
    settings = _resolved_settings(spec, src, "")
    chunk = chunk or engine.DEFAULT_CHUNK
    darr = engine.filter_chunked(
        src, spec.all_weights, settings, max_value=src.max_value, chunk=chunk
    )
    files = _write_chunked(src, darr, source, output, scheduler, workers, force=force)
    elapsed = time.perf_counter() - t0
    return {
        **files,
        "kernel": {"name": spec.kernel_name, "shape": [int(s) for s in spec.weights.shape]},
        "boundary": settings.boundary,
        "stride": settings.stride,
        "dilation": settings.dilation,
        "range": "raw" if settings.raw else settings.range_mode,
        "chunk": chunk,
        "blocks": engine.block_count(darr.shape, chunk),
        "scheduler": scheduler or "threads",
        "timings_ms": {"total": round(elapsed * 1000, 3)},
    }  # fmt: skip


def pool_chunked(
    source: str,
    spec,
    output: str,
    *,
    force: bool,
    chunk: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> dict:
    """Pool a large image block by block (max or avg) and write it (tiled BigTIFF or Zarr).

    8- and 16-bit inputs keep their dtype (avg rounded, as the in-memory
    ``pool`` writes pictures); float inputs are written as float.

    Raises:
        UsageError: Lp pooling, unsupported formats, Dask or Zarr missing.
        ProcessingError: a read or write failed.
    """
    from cnnfilter.codecs.large import LargeArray
    from cnnfilter.engine import chunked as engine
    from cnnfilter.engine.intensity import storable_pixels

    _check_paths(source, output)
    t0 = time.perf_counter()
    src = LargeArray(source)
    chunk = chunk or engine.DEFAULT_CHUNK
    darr = engine.pool_chunked(src, spec, chunk=chunk)
    if src.dtype.kind in "ui" and darr.dtype != src.dtype:
        darr = darr.map_blocks(
            storable_pixels, "clip", max_value=src.max_value, source_dtype=src.dtype,
            dtype=src.dtype,
        )  # fmt: skip
    files = _write_chunked(src, darr, source, output, scheduler, workers, force=force)
    elapsed = time.perf_counter() - t0
    return {
        **files,
        "op": spec.op,
        "kernel_size": list(spec.kernel_size),
        "stride": list(spec.stride),
        "chunk": chunk,
        "blocks": engine.block_count(darr.shape, chunk),
        "scheduler": scheduler or "threads",
        "timings_ms": {"total": round(elapsed * 1000, 3)},
    }  # fmt: skip


def _write_chunked(src, darr, source: str, output: str, scheduler, workers, *, force: bool):
    """Compute ``darr`` block by block into ``output`` (closing ``src`` after); the report's
    ``input`` and ``output`` entries."""
    try:
        with _scheduler_context(scheduler, workers):
            fmt, size = _store(darr, output, force=force)
    finally:
        src.close()
    return {
        "input": {"path": source, "shape": list(src.shape), "dtype": str(src.dtype),
                  "format": src.format},
        "output": {"path": output, "shape": list(darr.shape), "dtype": str(darr.dtype),
                   "format": fmt, "bytes": size},
    }  # fmt: skip
