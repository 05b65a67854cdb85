"""One input image through ``apply``: read, check the cost, filter, encode.

:func:`render_apply` is the unit of work of both a single ``apply`` and each
file of a batch (:mod:`cnnfilter.tasks.batch`). It is a plain function of a frozen,
picklable :class:`ApplySpec`, so that a worker process can run it; it returns
the encoded bytes and a report, and leaves writing to the caller (one process
owns every output file, so an interrupted batch never leaves a half-written
one).

The report is the JSON object ``apply --json`` prints; its keys are listed in
:data:`APPLY_REPORT_KEYS` and documented in the README's "Pipelines and batch" section.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cnnfilter.engine.image_filter import FilterSettings
from cnnfilter.errors import UsageError
from cnnfilter.imageio import DEFAULT_MAX_PIXELS, DEFAULT_PNG_COMPRESS_LEVEL

__all__ = [
    "APPLY_REPORT_KEYS",
    "ApplySpec",
    "Rendered",
    "memory_limit",
    "render_apply",
    "render_job",
    "shape3",
]

#: Top-level keys of the ``apply --json`` report, and what each holds. Stable: keys
#: may be added, never renamed or removed.
APPLY_REPORT_KEYS = {
    "input": "path, shape [H, W, C] (alpha counted), dtype, mode, format, frame, frames",
    "output": "path ('-' for stdout), shape [H, W, C], dtype, format, bytes",
    "kernel": "name, shape [kh, kw] or [kh, kw, C], sum, scale (null when not scaled)",
    "operation": "'convolution' or 'cross-correlation'",
    "boundary": "the boundary mode's canonical name (symmetric, mirror, edge, wrap, constant)",
    "padding": "spec ('same', 'valid', 'full' or the numbers given) and pixels [top, bottom, "
    "left, right]",
    "stride": "[rows, cols]",
    "dilation": "[rows, cols]",
    "channels": "'separate' or 'sum'",
    "range": "how the response became pixels: clip, abs, rescale or raw",
    "method": "the method that ran: 'direct', 'separable' or 'fft'",
    "response": "shape [H, W, C], dtype, min, max of the float response (null if not finite)",
    "timings_ms": "read, filter, encode (and write, total, added by the caller)",
}


def memory_limit() -> int:
    """The machine's physical memory in bytes (16 GiB when it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


@dataclass(frozen=True)
class ApplySpec:
    """Everything ``apply`` does to each image, fixed before the first one is read.

    Attributes:
        weights: the kernel, ``(kh, kw)`` or ``(kh, kw, C)`` float64.
        kernel_name: as printed (``sobel-x``, ``gaussian:7:1.5``, ``custom``).
        scale: the ``--scale`` factor applied to ``weights`` (None if none).
        settings: operation, geometry, boundary, range.
        fmt: ``--format`` (None: each output's extension decides).
        side_by_side: write the original and the result side by side.
        compress_level, quality: PNG and JPEG/WebP options.
        max_pixels, frame: passed to :func:`cnnfilter.imageio.read_image`.
        memory_limit: most working memory a filtering call may need, bytes.
    """

    weights: np.ndarray
    kernel_name: str
    settings: FilterSettings
    scale: float | None = None
    fmt: str | None = None
    side_by_side: bool = False
    compress_level: int = DEFAULT_PNG_COMPRESS_LEVEL
    quality: int = 95
    max_pixels: int = DEFAULT_MAX_PIXELS
    frame: int = 0
    memory_limit: int = field(default_factory=memory_limit)


@dataclass(frozen=True)
class Rendered:
    """An encoded result and its report (see :data:`APPLY_REPORT_KEYS`).

    ``response_shape`` is the float response's own shape, ``(oh, ow)`` or
    ``(oh, ow, C)``; ``method_text`` says which method ran and why
    (:meth:`cnnfilter.engine.filtering.FilterPlan.describe`); ``depth_note``
    says that 16-bit pixels were written as 8 bits
    (:func:`cnnfilter.imageio.fit_bit_depth`), or is None.
    """

    data: bytes
    format: str
    report: dict
    response_shape: tuple[int, ...] = ()
    method_text: str = ""
    depth_note: str | None = None


def shape3(shape: tuple[int, ...]) -> list[int]:
    """``(H, W)`` -> ``[H, W, 1]``; ``(H, W, C)`` unchanged, as a list.

    >>> shape3((4, 5)), shape3((4, 5, 3))
    ([4, 5, 1], [4, 5, 3])
    """
    return [int(s) for s in shape] + ([1] if len(shape) == 2 else [])


def render_apply(spec: ApplySpec, source: str | Path, target: str | Path) -> Rendered:
    """Read ``source``, filter it as ``spec`` says, and encode it for ``target``.

    ``target`` only decides the format (its extension, unless ``spec.fmt``);
    nothing is written. ``.npy`` targets keep the raw float response.

    Raises:
        UsageError: unknown output format, a kernel too costly for this image
            (:func:`cnnfilter.engine.cost.check_filter_cost`), bad geometry,
            ``--side-by-side`` with a non-8-bit result, ``--frame`` too large.
        ProcessingError: the image cannot be read or decoded.
    """
    from cnnfilter import imageio
    from cnnfilter.engine.boundary import canonical_boundary
    from cnnfilter.engine.cost import check_filter_cost
    from cnnfilter.engine.filtering import filter_geometry
    from cnnfilter.engine.image_filter import filter_image
    from cnnfilter.render import side_by_side as compose

    fmt = imageio.output_format(target, spec.fmt)
    settings = spec.settings
    if fmt == "NPY" and not settings.raw:
        settings = replace(settings, raw=True)
    t0 = time.perf_counter()
    loaded = imageio.read_image(source, max_pixels=spec.max_pixels, frame=spec.frame)
    t1 = time.perf_counter()
    _check_picture_channels(loaded, spec, fmt)
    flipped = settings.op == "convolve"
    options = dict(padding=settings.padding, stride=settings.stride, dilation=settings.dilation)
    cost = check_filter_cost(
        loaded.pixels.shape,
        spec.weights,
        image_dtype=loaded.pixels.dtype,
        flipped=flipped,
        channels="sum" if settings.sum_channels else "separate",
        method=settings.method,
        memory_limit=spec.memory_limit,
        **options,
    )
    result = filter_image(
        loaded.pixels, spec.weights, settings, alpha=loaded.alpha, max_value=loaded.max_value
    )
    t2 = time.perf_counter()
    pixels = result.pixels
    if spec.side_by_side:
        if pixels.dtype != loaded.pixels.dtype or pixels.dtype.kind != "u" or pixels.itemsize != 1:
            raise UsageError(
                "--side-by-side needs an 8-bit result; drop it for .npy or 16-bit output"
            )
        pixels = compose(loaded.pixels, pixels)
    pixels, depth_note = imageio.fit_bit_depth(pixels, fmt)
    if pixels.dtype.kind == "f" and fmt != "NPY" and not (fmt == "TIFF" and pixels.ndim == 2):
        raise UsageError(
            f"--range raw keeps the float response ({' x '.join(map(str, pixels.shape))}), "
            f"which only .npy or a single-channel .tif can hold, not {fmt}; write .npy, or "
            "use --range clip, abs or rescale to map it to pixels"
        )
    data = imageio.encode_image(
        pixels, fmt, compress_level=spec.compress_level, quality=spec.quality
    )
    t3 = time.perf_counter()
    geom = filter_geometry(loaded.pixels.shape, spec.weights.shape, flipped=flipped, **options)
    response = result.response
    low, high = float(response.min()), float(response.max())  # no temporary mask
    report = {
        "input": {
            "path": str(source),
            "shape": shape3(loaded.pixels.shape[:2])[:2]
            + [shape3(loaded.pixels.shape)[2] + (loaded.alpha is not None)],
            "dtype": str(loaded.pixels.dtype),
            "mode": loaded.mode,
            "format": loaded.format,
            "frame": loaded.frame,
            "frames": loaded.frames,
        },
        "output": {
            "path": str(target),
            "shape": shape3(pixels.shape),
            "dtype": str(pixels.dtype),
            "format": fmt,
            "bytes": len(data),
        },
        "kernel": {
            "name": spec.kernel_name,
            "shape": [int(s) for s in spec.weights.shape],
            "sum": float(spec.weights.sum()),
            "scale": spec.scale,
        },
        "operation": result.operation,
        "boundary": canonical_boundary(settings.boundary),
        "padding": {
            "spec": settings.padding
            if isinstance(settings.padding, str)
            else list(np.atleast_1d(settings.padding).tolist()),
            "pixels": [
                geom.rows.pad_before,
                geom.rows.pad_after,
                geom.cols.pad_before,
                geom.cols.pad_after,
            ],
        },
        "stride": [geom.rows.stride, geom.cols.stride],
        "dilation": [geom.rows.dilation, geom.cols.dilation],
        "channels": "sum" if settings.sum_channels or spec.weights.ndim == 3 else "separate",
        "range": result.range_mode,
        "method": (result.method or cost.method).split(" ", 1)[0],  # "separable (auto: ...)"
        "response": {
            "shape": shape3(response.shape),
            "dtype": str(response.dtype),
            "min": low if np.isfinite(low) else None,
            "max": high if np.isfinite(high) else None,
        },
        "timings_ms": {
            "read": round((t1 - t0) * 1000, 3),
            "filter": round((t2 - t1) * 1000, 3),
            "encode": round((t3 - t2) * 1000, 3),
        },
    }
    return Rendered(
        data,
        fmt,
        report,
        tuple(int(n) for n in response.shape),
        result.method or cost.method,
        depth_note,
    )


def _check_picture_channels(loaded, spec: ApplySpec, fmt: str) -> None:
    """Refuse, before filtering, a result of more channels than a picture holds.

    Only a ``.npy`` feature map can have other than 1 or 3 colour channels.
    """
    pixels = loaded.pixels
    summed = spec.settings.sum_channels or spec.weights.ndim == 3
    channels = 1 if pixels.ndim == 2 or summed else pixels.shape[2]
    if fmt != "NPY" and loaded.alpha is None and channels not in (1, 3, 4):
        raise UsageError(
            f"the response would have {channels} channels, but a picture holds 1, 3 or 4; "
            "write .npy to keep them, or add --sum-channels to sum them into one map"
        )


def render_job(spec: ApplySpec, job) -> Rendered:
    """:func:`render_apply` for a :class:`cnnfilter.tasks.batch.Job` (a batch worker's task)."""
    return render_apply(spec, job.source, job.target)
