"""``apply``: one input image (or each of a batch) read, checked, filtered, encoded, written.

:func:`prepare` checks everything before any work (inputs, kernel, options,
outputs, in that order) and returns the :class:`ApplySpec` and the batch's
jobs; :func:`apply_one` runs a single file, :func:`run_batch` many.

:func:`render_apply` is the unit of work of both a single ``apply`` and each
file of a batch (:mod:`cnnfilter.tasks.batch`). It is a plain function of a frozen,
picklable :class:`ApplySpec`, so that a worker process can run it; it returns
the encoded bytes and a report, and leaves writing to the caller (one process
owns every output file, so an interrupted batch never leaves a half-written
one).

The report is the JSON object ``apply --json`` prints; its keys are listed in
:data:`APPLY_REPORT_KEYS` and documented in docs/reference/json.md.
The method plan is resolved once per image (:func:`cnnfilter.engine.filtering.plan_method`)
and passed down to every filtering call; the report states it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cnnfilter.engine.choices import GRADIENT_PAIRS
from cnnfilter.engine.image_filter import FilterSettings
from cnnfilter.errors import UsageError
from cnnfilter.imageio import DEFAULT_MAX_PIXELS, DEFAULT_PNG_COMPRESS_LEVEL
from cnnfilter.kernels import Kernel, check_weights
from cnnfilter.tasks._common import (
    STDIO,
    check_finite,
    check_output_path,
    output_format,
    shape3,
    write_output,
)

__all__ = [
    "APPLY_REPORT_KEYS",
    "ApplySpec",
    "Prepared",
    "Rendered",
    "apply_one",
    "batch_report",
    "memory_limit",
    "prepare",
    "render_apply",
    "render_job",
    "run_batch",
    "scaled",
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
    "range": "how the response became pixels: clip, abs, rescale, stretch or raw",
    "stretch": "stretch only: percentile, level (the |response| drawn as full white), "
    "black_percentile, black (the |response| drawn as black), gamma",
    "combine": "'magnitude' when several kernels were combined (sqrt of the sum of squares)",
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
        to_srgb: convert colour from the input's ICC profile to sRGB before
            filtering (else the stored values are filtered and the profile kept).
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
    to_srgb: bool = False
    more_weights: tuple = ()

    @property
    def all_weights(self):
        """The kernel, or the kernels that ``settings.combine='magnitude'`` combines."""
        return [self.weights, *self.more_weights] if self.more_weights else self.weights


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
    notes: tuple[str, ...] = ()


def render_apply(
    spec: ApplySpec, source: str | Path, target: str | Path, *, pending=None
) -> Rendered:
    """Read ``source``, filter it as ``spec`` says, and encode it for ``target``.

    ``target`` only decides the format (its extension, unless ``spec.fmt``);
    nothing is written. ``.npy`` targets keep the raw float response.
    ``pending``: a read of ``source`` started earlier
    (:func:`cnnfilter.tasks.readahead.start_read`), collected here in place
    of reading; it is used only when it read ``source`` with the spec's
    ``max_pixels``, ``frame`` and ``to_srgb``. The ``read`` timing is then
    the wait for it.

    Raises:
        UsageError: unknown output format, a kernel too costly for this image
            (:func:`cnnfilter.engine.cost.check_filter_cost`), bad geometry,
            ``--side-by-side`` with a non-8-bit result, ``--frame`` too large.
        ProcessingError: the image cannot be read or decoded.
    """
    from cnnfilter import imageio
    from cnnfilter.engine.boundary import canonical_boundary
    from cnnfilter.engine.cost import check_filter_cost
    from cnnfilter.engine.filtering import filter_geometry, plan_method, work_dtype
    from cnnfilter.engine.image_filter import filter_image
    from cnnfilter.render import side_by_side as compose

    t0 = time.perf_counter()
    read = dict(max_pixels=spec.max_pixels, frame=spec.frame, to_srgb=spec.to_srgb)
    loaded = pending.take(source, **read) if pending is not None else None
    if loaded is None:
        loaded = imageio.read_image(source, **read)
    if not spec.settings.raw:  # a raw map keeps NaN/inf in the windows over them
        check_finite(loaded.pixels, source)
    t1 = time.perf_counter()
    if str(target) == STDIO and not spec.fmt:
        fmt = imageio.stdout_format(loaded.format)
    else:
        fmt = output_format(target, spec.fmt)
    settings = spec.settings
    keeps_float = fmt == "NPY" or (fmt == "TIFF" and settings.range_mode == "auto")
    if not settings.raw and (fmt == "NPY" or (loaded.pixels.dtype.kind == "f" and keeps_float)):
        settings = replace(settings, raw=True)  # a float picture stays float where it can
    _check_picture_channels(loaded, spec, fmt)
    flipped = settings.op == "convolve"
    options = dict(padding=settings.padding, stride=settings.stride, dilation=settings.dilation)
    check_filter_cost(
        loaded.pixels.shape,
        spec.weights,
        image_dtype=loaded.pixels.dtype,
        flipped=flipped,
        channels="sum" if settings.sum_channels else "separate",
        method=settings.method,
        memory_limit=spec.memory_limit,
        **options,
    )
    geom = filter_geometry(loaded.pixels.shape, spec.weights.shape, flipped=flipped, **options)
    rows, cols = geom.out_shape
    if spec.side_by_side:  # the input, a gap of 8 and the result
        rows, cols = max(rows, loaded.pixels.shape[0]), cols + 8 + loaded.pixels.shape[1]
    imageio.check_output_size(fmt, rows, cols)  # before the work, not in the encoder
    # the plan, once: after the cost check (which needs no SVD unless a limit is near)
    plan = plan_method(spec.weights, method=settings.method, dtype=work_dtype(loaded.pixels.dtype))
    result = filter_image(
        loaded.pixels,
        spec.all_weights,
        settings,
        alpha=loaded.alpha,
        max_value=loaded.max_value,
        plan=plan,
    )
    t2 = time.perf_counter()
    pixels = result.pixels
    if spec.side_by_side:
        if pixels.dtype != loaded.pixels.dtype or pixels.dtype.kind != "u" or pixels.itemsize != 1:
            raise UsageError(
                "side_by_side=True needs an 8-bit result; drop it for .npy or 16-bit output"
            )
        pixels = compose(loaded.pixels, pixels)
    if (
        pixels.dtype.kind == "f"
        and fmt not in ("NPY", "TIFF")
        and not (
            pixels.ndim == 2
            and fmt == "PPM"
            and imageio.netpbm_variant(target, spec.fmt) in (None, "pfm")
        )
    ):
        raise UsageError(
            f"range_mode='raw' keeps the float response ({' x '.join(map(str, pixels.shape))}), "
            f"which only .npy, a .tif or a single-channel .pfm can hold, not {fmt}; write .npy, or "
            "use range_mode='clip', abs or rescale to map it to pixels"
        )
    meta = loaded.meta.resized(loaded.pixels.shape[:2], pixels.shape[:2]) if loaded.meta else None
    data, write_notes = imageio.encode_picture(
        pixels,
        fmt,
        compress_level=spec.compress_level,
        quality=spec.quality,
        meta=meta,
        variant=imageio.netpbm_variant(target, spec.fmt),
    )
    depth_note = next((n for n in write_notes if n.startswith("16-bit")), None)
    read_notes = tuple(loaded.meta.notes) if loaded.meta else ()
    t3 = time.perf_counter()
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
            "dtype": "uint8" if depth_note else str(pixels.dtype),  # as written
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
        "stretch": {
            "percentile": settings.percentile,
            "level": result.level,
            "black_percentile": settings.black_percentile,
            "black": result.black,
            "gamma": settings.gamma,
        }
        if result.range_mode == "stretch"
        else None,
        "combine": settings.combine if spec.more_weights else None,
        "method": plan.method,  # the plan that ran, resolved once above
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
        plan.describe(),
        depth_note,
        read_notes + tuple(n for n in write_notes if n != depth_note),
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
            "write .npy to keep them, or add sum_channels=True to sum them into one map"
        )


def render_job(spec: ApplySpec, job) -> Rendered:
    """:func:`render_apply` for a :class:`cnnfilter.tasks.batch.Job` (a batch worker's task)."""
    return render_apply(spec, job.source, job.target)


#: Extension written for each format when ``fmt`` renames files in an output folder.
_EXTENSIONS = {
    "PNG": "png",
    "JPEG": "jpg",
    "TIFF": "tif",
    "BMP": "bmp",
    "WEBP": "webp",
    "GIF": "gif",
    "NPY": "npy",
    "PPM": "ppm",
    "TGA": "tga",
    "JPEG2000": "jp2",
}


@dataclass(frozen=True)
class Prepared:
    """A checked ``apply``: the spec, the batch's jobs (None for one file), the kernel.

    ``scale_note`` says how the kernel was scaled (``"scale 1/16"``, or ``""``).
    """

    spec: ApplySpec
    jobs: list | None
    kernel: Kernel
    scale_note: str = ""

    @property
    def single(self) -> bool:
        """One input to one output (not a batch)."""
        return self.jobs is None


def scaled(k: Kernel, scale: float | str | None) -> tuple[Kernel, str, float | None]:
    """Apply a scale (a factor, or ``auto``: divide by the sum unless it is 0).

    Returns:
        The scaled kernel, a note (``"scale 1/16"``, ``""``), and the factor
        applied (None when none was).

    Raises:
        UsageError: the scaled weights are not finite.
    """
    if scale is None:
        return k, "", None
    if scale == "auto":
        total = float(k.weights.sum())
        if abs(total) < 1e-12:
            return k, "scale auto: the kernel sums to 0, left unscaled", None
        return replace(k, weights=k.weights / total), f"scale 1/{total:g}", (1.0 / total)
    weights = k.weights * scale
    check_weights(weights, k.name)
    return replace(k, weights=weights), f"scale {scale:g}", float(scale)


def prepare(
    images: list[str],
    output: str,
    *,
    kernel: str | None = None,
    kernel_file: Path | None = None,
    scale: float | str | None = None,
    settings: FilterSettings,
    fmt: str | None = None,
    recursive: bool = False,
    force: bool = False,
    **options,
) -> Prepared:
    """Check an ``apply`` before any work and fix what it will do.

    The checks run in this order, so that the first error names the first
    thing to fix: the inputs (and every output name and format), the kernel
    and its scale, the boundary, then whether the one output exists or is
    the input (a batch checks existing outputs in :func:`run_batch`).

    Args:
        images, output: the inputs (files, folders, globs, ``-``) and the
            output (file, ``-``, pattern or folder).
        kernel, kernel_file: the kernel (exactly one).
        scale: a factor, ``"auto"`` or None.
        settings: operation, geometry, boundary, range, method; ``raw`` is
            set here for ``.npy`` output.
        fmt, recursive, force: as the command's options.
        options: further :class:`ApplySpec` fields (side_by_side, quality,
            compress_level, max_pixels, frame).

    Raises:
        UsageError: the first problem found.
    """
    from cnnfilter.engine.boundary import canonical_boundary

    jobs = plan_inputs(images, output, fmt=fmt, recursive=recursive, kernel_file=kernel_file)
    single = jobs is None
    kernels = combined_kernels(kernel, kernel_file, settings.combine)
    k, scale_note, factor = scaled(kernels[0], scale)
    more = tuple(scaled(m, scale)[0].weights for m in kernels[1:])
    if more:
        settings = replace(settings, combine="magnitude")
        names = ", ".join(m.name for m in kernels)
        label = kernel if isinstance(kernel, str) and kernel in GRADIENT_PAIRS else "magnitude"
        k = Kernel(f"{label} (magnitude of {names})", k.weights, k.source, k.description)
    canonical_boundary(settings.boundary)  # an unknown mode fails here, before any output check
    out_format = None
    if single:
        out_format = output_format(output, fmt, source=images[0])
    elif fmt:
        out_format = output_format("x", fmt)
    if single and output != STDIO:
        check_output_path(
            Path(output), [Path(images[0]), (kernel_file, "kernel file")], force=force
        )
    raw = out_format == "NPY" or settings.range_mode == "raw"
    settings = replace(settings, raw=raw)
    options = {key: value for key, value in options.items() if value is not None}
    spec = ApplySpec(
        k.weights, k.name, settings, scale=factor, fmt=fmt, more_weights=more, **options
    )
    return Prepared(spec, jobs, k, scale_note)


def combined_kernels(kernel, kernel_file, combine: str = "none") -> list[Kernel]:
    """The kernels of one ``apply``: one, or those ``combine='magnitude'`` combines.

    ``kernel`` is a name or matrix, or a list of them (``combine='magnitude'``
    needs two or more of one shape); a name of
    :data:`cnnfilter.engine.choices.GRADIENT_PAIRS` (``sobel``) stands for its
    pair, combined by magnitude.

    Raises:
        UsageError: as :func:`cnnfilter.tasks.kernels.load_kernel`, or kernels
            of different shapes, or ``magnitude`` with one kernel.
    """
    from cnnfilter.tasks.kernels import load_kernel

    names = [kernel] if isinstance(kernel, str) or kernel is None else list(kernel)
    if len(names) == 1 and isinstance(names[0], str) and names[0].strip() in GRADIENT_PAIRS:
        names = list(GRADIENT_PAIRS[names[0].strip()])
        combine = "magnitude"
    if combine != "magnitude":
        if len(names) > 1:
            raise UsageError("several kernels need combine='magnitude' (or one run each)")
        return [load_kernel(names[0], kernel_file)]
    if kernel_file is not None or len(names) < 2:
        raise UsageError(
            "combine='magnitude' needs two or more kernels given as kernel= "
            "(e.g. sobel-x and sobel-y), or kernel='sobel'"
        )
    loaded = [load_kernel(n, None) for n in names]
    shapes = {m.weights.shape for m in loaded}
    if len(shapes) != 1:
        raise UsageError(
            "combine='magnitude' needs kernels of one shape, got "
            + ", ".join(f"{m.name} {'x'.join(map(str, m.weights.shape))}" for m in loaded)
        )
    return loaded


def plan_inputs(
    images: list[str],
    output: str,
    *,
    fmt: str | None,
    recursive: bool,
    kernel_file: Path | None = None,
):
    """None for the classic one-file run; else the batch's jobs.

    A batch is several inputs, a folder, a glob, an output pattern or an
    output folder. The inputs must exist and every output name and format is
    checked here; whether outputs already exist is checked later, after the
    kernel and options (the one-file run) or by
    :func:`cnnfilter.tasks.batch.split_existing` (a batch).

    Raises:
        UsageError: a missing input, a folder into one output file, a bad format.
    """
    from cnnfilter import imageio
    from cnnfilter.tasks import batch

    path = Path(images[0])
    if (
        len(images) == 1
        and (output == STDIO or not batch.is_batch_output(output, existing_dir=False))
        and (images[0] == STDIO or path.is_file() or not set("*?[") & set(images[0]))
    ):
        if images[0] != STDIO and path.is_dir():
            _refuse_folder_to_one_output(images[0], output)
        imageio.check_input_file(images[0])
        if output != STDIO and os.path.isdir(output):  # (no OSError on a name too long)
            _refuse_folder_as_file(output)
        output_format(output, fmt)
        imageio.check_format_matches(output, fmt)
        return None
    folder = None if batch.is_pattern(output) else Path(output)
    inputs = batch.expand_inputs(images, recursive=recursive, exclude=folder)
    ext = _extension(output_format("x", fmt)) if fmt else None
    protected = [kernel_file] if kernel_file is not None else []
    jobs = batch.plan_jobs(inputs, output, ext=ext, protected=protected)
    for job in jobs:  # an unknown or conflicting format fails now, not once per file
        output_format(job.target, fmt)
        imageio.check_format_matches(job.target, fmt)
    return jobs


def _extension(fmt: str) -> str:
    """The extension written for ``fmt`` in an output folder (``"png"``)."""
    from cnnfilter import imageio

    if fmt in _EXTENSIONS:
        return _EXTENSIONS[fmt]
    return next(e for e, f in sorted(imageio.IMAGE_EXTENSIONS.items()) if f == fmt).lstrip(".")


def _refuse_folder_as_file(output: str) -> None:
    """``-o results`` naming an existing folder: apply can also write into it (``results/``)."""
    name = output.rstrip("/" + os.sep) or output
    raise UsageError(
        f"output {output!r} is a folder; give a file name ({name}/result.png), the folder "
        f"with a '/' ({name}/: the result keeps the input's name) or a pattern such as "
        f"'{name}/{{stem}}.png'"
    )


def _refuse_folder_to_one_output(folder: str, output: str) -> None:
    """A folder input gives several results: one output file cannot hold them."""
    out = Path("out" if output == STDIO else output)
    stem = out.with_suffix("") if out.suffix else out
    ext = out.suffix or ".png"
    raise UsageError(
        f"{folder!r} is a folder, which gives several inputs: give an output folder ending in "
        f"'/' (-o {stem.as_posix()}/) or a pattern such as '{stem.as_posix()}/{{stem}}{ext}'"
    )


def _finish_report(report: dict, write_start: float) -> dict:
    """Add the write and total times (ms) to a job's report."""
    timings = dict(report["timings_ms"])
    timings["write"] = round((time.perf_counter() - write_start) * 1000, 3)
    timings["total"] = round(
        timings["read"] + timings["filter"] + timings["encode"] + timings["write"], 3
    )
    return {**report, "timings_ms": timings}


def apply_one(spec: ApplySpec, source: str, target: str, *, force: bool, pending=None) -> Rendered:
    """Filter one file and write it (or stdout for ``-``); the report has write and total times.

    ``pending``: as :func:`render_apply`.

    Raises:
        UsageError, ProcessingError: as :func:`render_apply` and the write.
    """
    rendered = render_apply(spec, source, target, pending=pending)
    start = time.perf_counter()
    write_output(target, rendered.data, force=force)
    return replace(rendered, report=_finish_report(rendered.report, start))


def write_job(force: bool, job, rendered: Rendered) -> dict:
    """Batch ``finish``: write one result (this process owns every output file)."""
    start = time.perf_counter()
    write_output(job.target, rendered.data, force=force or job.replace, make_dirs=True)
    return _finish_report(rendered.report, start)


def run_batch(
    spec: ApplySpec, to_run: list, *, force: bool, workers: int, on_outcome=None, client=None
):
    """Run the jobs (from :func:`cnnfilter.tasks.batch.split_existing`) in ``workers`` processes.

    With ``client`` (a ``distributed.Client`` from
    :func:`cnnfilter.tasks._cluster.open_client`) the jobs run on that Dask
    cluster, one task per file, each read, filtered and written by a worker
    (the paths must be reachable from every worker).

    Returns:
        The :class:`cnnfilter.tasks.batch.BatchResult`; one failing input is
        recorded in its outcome and the others go on.
    """
    import functools

    from cnnfilter.tasks import batch

    return batch.run_jobs(
        to_run,
        functools.partial(render_job, spec),
        functools.partial(write_job, force),
        workers=workers,
        on_outcome=on_outcome,
        client=client,
    )


def batch_report(result, inputs: int) -> dict:
    """The ``apply --json`` document of a batch: a summary and one entry per file."""
    return {
        "summary": {
            "inputs": inputs,
            "done": result.count("done"),
            "skipped": result.count("skipped"),
            "failed": result.count("failed"),
            "interrupted": result.interrupted,
        },
        "files": [
            {
                "input": str(o.job.source),
                "output": str(o.job.target),
                "status": o.status,
                "reason": o.reason or None,
                "report": o.report or None,
            }
            for o in result.outcomes
        ],
    }


def kernel_output(output: str, kernel_name: str) -> str:
    """``output`` with ``{kernel}`` replaced by a file-safe form of the kernel's name.

    >>> kernel_output("out/{kernel}.png", "gaussian:7:1.5")
    'out/gaussian_7_1.5.png'
    """
    import re

    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", kernel_name).strip("_") or "kernel"
    return output.replace("{kernel}", safe)


def check_several(images: list[str], output: str, kernels: list[str], *, montage: bool) -> None:
    """Several kernels without ``combine``: one input, and ``{kernel}`` in output or a montage.

    Raises:
        UsageError: several inputs, or neither ``{kernel}`` nor ``montage``.
    """
    if len(images) != 1:
        raise UsageError("several kernels take one input image (run a batch once per kernel)")
    if not montage and "{kernel}" not in output:
        raise UsageError(
            f"{len(kernels)} kernels give {len(kernels)} results: put {{kernel}} in the output "
            "name (out/{kernel}.png), add montage=True for one labelled picture, or "
            "combine='magnitude' for their gradient magnitude"
        )


def montage(prepared: list[Prepared], source: str, target: str, *, force: bool) -> dict:
    """One picture: each kernel's result under its name, side by side (8-bit, gray or RGB).

    Returns:
        ``{"output": target, "panels": [kernel names], "range": [range modes]}``.

    Raises:
        UsageError, ProcessingError: as :func:`render_apply` and the write.
    """
    from cnnfilter import imageio, render
    from cnnfilter.engine.image_filter import filter_image

    spec0 = prepared[0].spec
    loaded = imageio.read_image(source, max_pixels=spec0.max_pixels, frame=spec0.frame)
    check_finite(loaded.pixels, source)
    panels, modes = [], []
    for p in prepared:
        settings = replace(p.spec.settings, raw=False)
        result = filter_image(
            loaded.pixels, p.spec.all_weights, settings, alpha=loaded.alpha,
            max_value=loaded.max_value,
        )  # fmt: skip
        white = loaded.max_value if result.pixels.dtype.kind in "ui" else 255
        picture = render.display_rgb(result.pixels, white)
        panels.append(render.with_caption(picture, f"{p.kernel.name} ({result.range_mode})"))
        modes.append(result.range_mode)
    picture = panels[0]
    for panel in panels[1:]:
        picture = render.side_by_side(picture, panel)
    imageio.write_image(Path(target), picture, force=force, fmt=spec0.fmt)
    return {"output": target, "panels": [p.kernel.name for p in prepared], "range": modes}
