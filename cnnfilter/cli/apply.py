"""``cnnfilter apply`` (filter an image with a kernel) and ``cnnfilter kernels``."""

from __future__ import annotations

import math
import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded, note, print_table, stdout_console
from cnnfilter.cli._output import check_stdout_use, emit_json, write_output
from cnnfilter.cli._parse import (
    FrameOption,
    MaxPixelsOption,
    check_output_path,
    frame_note,
    parse_ints,
    parse_padding,
    parse_scale,
)
from cnnfilter.errors import UsageError
from cnnfilter.kernels import (
    REGISTRY,
    Kernel,
    check_weights,
    load_kernel_file,
    resolve_kernel,
)


class Op(str, Enum):
    convolve = "convolve"
    correlate = "correlate"


class Method(str, Enum):
    auto = "auto"
    direct = "direct"
    separable = "separable"
    fft = "fft"


class RangeMode(str, Enum):
    auto = "auto"
    clip = "clip"
    abs = "abs"
    rescale = "rescale"
    raw = "raw"


_KERNEL_HELP = (
    "Named kernel (" + ", ".join(e.usage for e in REGISTRY.values()) + "), inline JSON "
    "'[[0,-1,0],[-1,5,-1],[0,-1,0]]' or rows '1,0,-1;2,0,-2;1,0,-1'. See 'cnnfilter kernels'."
)


def load_kernel(kernel: str | None, kernel_file: Path | None) -> Kernel:
    """The kernel from ``--kernel`` or ``--kernel-file`` (exactly one)."""
    if (kernel is None) == (kernel_file is None):
        raise UsageError("give exactly one of --kernel NAME|MATRIX and --kernel-file PATH")
    return resolve_kernel(kernel) if kernel is not None else load_kernel_file(kernel_file)


def scaled(k: Kernel, scale: float | str | None) -> tuple[Kernel, str]:
    """Apply ``--scale`` (a factor, or ``auto``: divide by the sum unless it is 0)."""
    if scale is None:
        return k, ""
    if scale == "auto":
        total = float(k.weights.sum())
        if abs(total) < 1e-12:
            return k, "scale auto: the kernel sums to 0, left unscaled"
        return Kernel(k.name, k.weights / total, k.source, k.description), f"scale 1/{total:g}"
    weights = k.weights * scale
    check_weights(weights, k.name)
    return Kernel(k.name, weights, k.source, k.description), f"scale {scale:g}"


def check_magnitude(option: str, value: float, limit: float = 1e20) -> None:
    """Refuse a NaN, infinite or float32-overflowing ``--offset``/``--cval``."""
    if not math.isfinite(value) or abs(value) > limit:
        raise UsageError(f"{option} must be a finite number within ±{limit:.0e}, got {value:g}")


@app.command()
@guarded
def apply(
    images: Annotated[
        list[str],
        typer.Argument(
            help="Input images (PNG, JPEG, TIFF, BMP, WebP...) or .npy feature maps (H, W) "
            "or (H, W, C), folders, globs, or - for stdin.",
            show_default=False,
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Output file (the format follows the extension), - for stdout (with "
            "--format), a pattern such as out/{stem}_edges.png ({stem}, {name}, {ext}, "
            "{parent}) or a folder such as out/.",
        ),
    ],
    kernel: Annotated[str | None, typer.Option("--kernel", "-k", help=_KERNEL_HELP)] = None,
    kernel_file: Annotated[
        Path | None,
        typer.Option("--kernel-file", help="Kernel from a .txt/.csv matrix, .json or .npy file."),
    ] = None,
    op: Annotated[
        Op,
        typer.Option(
            help="convolve: convolution, the kernel flipped (scipy.signal.convolve2d, the "
            "article); correlate: cross-correlation, no flip (a CNN layer, OpenCV filter2D)."
        ),
    ] = Op.convolve,
    boundary: Annotated[
        str,
        typer.Option(
            help="How the image is extended past its border: symmetric (cba|abcd), mirror "
            "(dcb|abcd), edge, wrap, constant; scipy/numpy/OpenCV/PyTorch names accepted."
        ),
    ] = "symmetric",
    cval: Annotated[float, typer.Option(help="Fill value for --boundary constant.")] = 0.0,
    padding: Annotated[
        str,
        typer.Option(help="Output size: same, valid, full, or CNN padding P | PH,PW | T,B,L,R."),
    ] = "same",
    stride: Annotated[str, typer.Option(help="Step of the kernel: S or SH,SW.")] = "1",
    dilation: Annotated[str, typer.Option(help="Spacing of kernel taps: D or DH,DW.")] = "1",
    sum_channels: Annotated[
        bool,
        typer.Option(
            "--sum-channels",
            help="Sum the per-channel responses into one map (a CNN filter on RGB).",
        ),
    ] = False,
    scale: Annotated[
        str | None, typer.Option(help="Multiply the kernel by a number, or 'auto' (1/sum).")
    ] = None,
    offset: Annotated[float, typer.Option(help="Add to every response value.")] = 0.0,
    range_: Annotated[
        RangeMode,
        typer.Option(
            "--range",
            help="Map the response to pixels: auto (abs for zero-sum kernels, clip otherwise), "
            "clip, abs, rescale; raw keeps the float response (.npy, or a gray .tif). Never "
            "wraps around. .npy output is always raw.",
        ),
    ] = RangeMode.auto,
    side_by_side: Annotated[
        bool, typer.Option("--side-by-side", help="Write the original and the result side by side.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing output file.")
    ] = False,
    compress_level: Annotated[
        int | None, typer.Option(min=0, max=9, help="PNG zlib level 0-9.")
    ] = None,
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG/WebP quality.")] = 95,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Output format: png, jpg, tiff, bmp, webp, gif, npy. Needed for -o -; "
            "with an output folder it sets the files' extension.",
        ),
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="Print a JSON report on stdout (keys: README, 'Pipelines and batch')."
        ),
    ] = False,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Search input folders' sub-folders too.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-j", min=1, help="Processes for a batch (default: the number of cores)."
        ),
    ] = None,
    skip_existing: Annotated[
        bool,
        typer.Option("--skip-existing", help="Batch: keep outputs that exist (resume a run)."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no per-run line.")
    ] = False,
    max_pixels: MaxPixelsOption = None,
    frame: FrameOption = 0,
    method: Annotated[
        Method,
        typer.Option(
            help="How to compute: auto picks separable for rank-1 kernels above 5x5, direct for "
            "other small ones, fft for large ones; all give the same result to float32 rounding."
        ),
    ] = Method.auto,
) -> None:
    """Filter an image with a kernel (convolution by default) and write the result.

    Example: cnnfilter apply samples/astronaut.png --kernel sobel-x -o edges.png

    Batch: cnnfilter apply photos/ --recursive --kernel sobel-x -o out/ --workers 2
    """
    from cnnfilter import imageio
    from cnnfilter.engine.boundary import canonical_boundary
    from cnnfilter.engine.image_filter import FilterSettings
    from cnnfilter.tasks.apply import ApplySpec

    # Order of the checks: inputs, then kernel and options, then outputs (exists, is
    # the input), so that the first error names the first thing to fix.
    check_stdout_use(output, json_out=json_out)
    jobs = _plan(images, output, fmt=fmt, recursive=recursive)
    single = jobs is None
    original = load_kernel(kernel, kernel_file)
    parsed_scale = parse_scale(scale)
    k, scale_note = scaled(original, parsed_scale)
    parsed_padding = parse_padding(padding)
    canonical_boundary(boundary)  # an unknown mode fails here, before any output check
    check_magnitude("--offset", offset)
    check_magnitude("--cval", cval)
    strides, dilations = parse_ints("--stride", stride), parse_ints("--dilation", dilation)
    out_format = (
        imageio.output_format(output if single else "-", fmt, format_option=True)
        if single or fmt
        else None
    )
    if single and output != imageio.STDIO:
        check_output_path(Path(output), [Path(images[0])], force=force)
    settings = FilterSettings(
        op=op.value,
        padding=parsed_padding,
        boundary=boundary,
        cval=cval,
        stride=strides,
        dilation=dilations,
        sum_channels=sum_channels,
        offset=offset,
        range_mode=range_.value,
        raw=out_format == "NPY" or range_ is RangeMode.raw,
        method=method.value,
    )
    spec = ApplySpec(
        weights=k.weights,
        kernel_name=k.name,
        settings=settings,
        scale=_scale_factor(original, parsed_scale),
        fmt=fmt,
        side_by_side=side_by_side,
        quality=quality,
        max_pixels=max_pixels or imageio.DEFAULT_MAX_PIXELS,
        frame=frame,
        **({"compress_level": compress_level} if compress_level is not None else {}),
    )
    if not single:
        _run_batch(spec, jobs, force=force, skip_existing=skip_existing, workers=workers,
                   quiet=quiet, json_out=json_out)  # fmt: skip
        return
    from cnnfilter.tasks.apply import render_apply, shape3

    rendered = render_apply(spec, images[0], output)
    start = time.perf_counter()
    write_output(output, rendered.data, force=force)
    report = _finish_report(rendered.report, start)
    kernel_size = "x".join(str(n) for n in k.weights.shape)  # 3x3, or 3x3x3 for a 3-D kernel
    canonical = report["boundary"]
    boundary_text = (
        canonical if canonical == boundary.strip().lower() else f"{canonical} ({boundary})"
    )
    inp = report["input"]
    shape_out = " x ".join(str(s) for s in shape3(rendered.response_shape))
    if not quiet:
        source, target = _shown(images[0], "<stdin>"), _shown(output, "<stdout>")
        note(
            f"{report['operation']} of {source} ({' x '.join(map(str, inp['shape']))}, "
            f"{inp['dtype']}) with {k.name} ({kernel_size}"
            f"{', ' + scale_note if scale_note else ''}); boundary {boundary_text}, padding "
            f"{padding}, stride {stride}, dilation "
            f"{dilation}{', channels summed' if sum_channels else ''}; response {shape_out} "
            f"({report['response']['dtype']}), range {report['range']}; method "
            f"{rendered.method_text}; {report['timings_ms']['filter']:.0f} ms; wrote {target}"
            f"{frame_note(inp['frame'], inp['frames'])}"
        )
    if rendered.depth_note:
        note(f"{_shown(output, '<stdout>')}: {rendered.depth_note}")
    if json_out:
        emit_json(report)


#: Extension written for each format when --format renames files in an output folder.
_EXTENSIONS = {
    "PNG": "png",
    "JPEG": "jpg",
    "TIFF": "tif",
    "BMP": "bmp",
    "WEBP": "webp",
    "GIF": "gif",
    "NPY": "npy",
}


def _plan(images: list[str], output: str, *, fmt: str | None, recursive: bool):
    """None for the classic one-file run; else the batch's jobs.

    A batch is several inputs, a folder, a glob, an output pattern or an
    output folder. The inputs must exist and every output name and format is
    checked here; whether outputs already exist is checked later, by the
    caller, after the kernel and options (the one-file run) or by
    :func:`cnnfilter.tasks.batch.split_existing` (a batch).
    """
    from cnnfilter import imageio
    from cnnfilter.tasks import batch

    path = Path(images[0])
    if (
        len(images) == 1
        and (output == imageio.STDIO or not batch.is_batch_output(output, existing_dir=False))
        and (images[0] == imageio.STDIO or path.is_file() or not set("*?[") & set(images[0]))
    ):
        if images[0] != imageio.STDIO and path.is_dir():
            _refuse_folder_to_one_output(images[0], output)
        imageio.check_input_file(images[0])
        imageio.output_format(output, fmt, format_option=True)
        imageio.check_format_matches(output, fmt)
        return None
    folder = None if batch.is_pattern(output) else Path(output)
    inputs = batch.expand_inputs(images, recursive=recursive, exclude=folder)
    ext = (
        _EXTENSIONS[imageio.output_format(imageio.STDIO, fmt, format_option=True)] if fmt else None
    )
    jobs = batch.plan_jobs(inputs, output, ext=ext)
    for job in jobs:  # an unknown or conflicting format fails now, not once per file
        imageio.output_format(job.target, fmt, format_option=True)
        imageio.check_format_matches(job.target, fmt)
    return jobs


def _refuse_folder_to_one_output(folder: str, output: str) -> None:
    """A folder input gives several results: one output file cannot hold them."""
    out = Path("out" if output == "-" else output)
    stem = out.with_suffix("") if out.suffix else out
    ext = out.suffix or ".png"
    raise UsageError(
        f"{folder!r} is a folder, which gives several inputs: give an output folder ending in "
        f"'/' (-o {stem.as_posix()}/) or a pattern such as '{stem.as_posix()}/{{stem}}{ext}'"
    )


def _shown(name: str, stdio: str) -> str:
    return stdio if name == "-" else name


def _scale_factor(original: Kernel, parsed: float | str | None) -> float | None:
    if parsed is None:
        return None
    if parsed == "auto":
        total = float(original.weights.sum())
        return None if abs(total) < 1e-12 else 1.0 / total
    return float(parsed)


def _finish_report(report: dict, write_start: float) -> dict:
    """Add the write and total times (ms) to a job's report."""
    timings = dict(report["timings_ms"])
    timings["write"] = round((time.perf_counter() - write_start) * 1000, 3)
    timings["total"] = round(
        timings["read"] + timings["filter"] + timings["encode"] + timings["write"], 3
    )
    return {**report, "timings_ms": timings}


def _write_job(force: bool, job, rendered) -> dict:
    """Batch ``finish``: write one result (this process owns every output file)."""
    start = time.perf_counter()
    write_output(job.target, rendered.data, force=force, make_dirs=True)
    return _finish_report(rendered.report, start)


def _run_batch(spec, jobs, *, force, skip_existing, workers, quiet, json_out) -> None:
    """Run the planned jobs with a progress bar; summary on stderr, exit 1 if any failed."""
    import functools

    from cnnfilter.cli._app import animations_enabled, interrupted_exit
    from cnnfilter.cli._output import batch_progress
    from cnnfilter.tasks import batch
    from cnnfilter.tasks.apply import render_job

    to_run, skipped = batch.split_existing(jobs, force=force, skip_existing=skip_existing)
    workers = max(1, min(workers or batch.default_workers(), len(to_run)))  # as many as used
    shown = batch_progress(len(to_run), enabled=animations_enabled(quiet=quiet) and len(to_run) > 1)

    def on_outcome(outcome) -> None:
        shown.advance()
        if outcome.status == "failed":
            shown.print(f"failed {outcome.job.source}: {outcome.reason}")

    with shown:
        result = batch.run_jobs(
            to_run,
            functools.partial(render_job, spec),
            functools.partial(_write_job, force),
            workers=workers,
            on_outcome=on_outcome,
        )
    result.outcomes = sorted(result.outcomes + skipped, key=lambda o: o.job.index)
    lines = list(batch.summarize(result))
    note(
        f"apply: {lines[0]}"
        + (
            f" ({len(jobs)} inputs, {workers} worker{'s' if workers > 1 else ''})"
            if len(to_run) > 1
            else ""
        )
    )
    for line in lines[1:]:
        note(line)
    if json_out:
        emit_json(
            {
                "summary": {
                    "inputs": len(jobs),
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
        )
    if result.interrupted:
        interrupted_exit(result.interrupted)
    if result.count("failed"):
        raise typer.Exit(1)


@app.command()
@guarded
def kernels(
    name: Annotated[
        str | None, typer.Argument(help="One kernel (e.g. sobel-x or gaussian:7:1.5).")
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option("--json", help="Print JSON on stdout (keys: README, 'Pipelines and batch')."),
    ] = False,
) -> None:
    """List the named kernels: matrix, sum, separability and source."""
    from rich.table import Table

    from cnnfilter.engine.separable import separate
    from cnnfilter.render import format_number, kernel_text

    if json_out:
        emit_json(_kernel_document(resolve_kernel(name)) if name else _registry_document())
        return
    console = stdout_console()
    if name is not None:
        k = resolve_kernel(name)
        w = k.weights
        console.print(f"{k.name} ({'x'.join(map(str, w.shape))})")
        console.print(kernel_text(w), markup=False)
        sep = separate(w) if w.ndim == 2 else None
        console.print(f"sum: {format_number(float(w.sum()))}")
        if sep is None:
            console.print("separable: no")
        else:
            col, row = _readable_factors(*sep)
            console.print(
                "separable: yes, column ["
                + ", ".join(format_number(round(v, 6)) for v in col)
                + "] x row ["
                + ", ".join(format_number(round(v, 6)) for v in row)
                + "]"
            )
        if k.description:
            console.print(f"what: {k.description}")
        if k.source:
            console.print(f"source: {k.source}")
        console.print("written for convolution; with --op correlate it is applied unflipped")
        return
    table = Table(title="Named kernels (written for convolution)")
    for col in ("name", "size", "sum", "separable", "what", "source"):
        table.add_column(col)
    for entry in REGISTRY.values():
        w = entry.make([])
        table.add_row(
            entry.usage,
            f"{w.shape[0]}x{w.shape[1]}",
            format_number(round(float(w.sum()), 10)),
            "yes" if separate(w) is not None else "no",
            entry.description,
            entry.source,
        )
    print_table(console, table)


def _readable_factors(col, row):
    """Scale a rank-1 split for reading: the column sums to 1 (or its smallest entry is 1)."""
    if abs(col.sum()) > 1e-9 and abs(row.sum()) > 1e-9:
        unit = float(col.sum())  # column sums to 1, row carries the kernel's sum
    else:
        nonzero = abs(col[abs(col) > 1e-12])
        unit = float(nonzero.min()) if nonzero.size else 1.0  # smallest entry 1
    return col / unit, row * unit


def _kernel_document(k: Kernel) -> dict:
    """``kernels NAME --json``: name, shape, weights, sum, separable, factors, what, source."""
    from cnnfilter.engine.separable import separate

    w = k.weights
    sep = separate(w) if w.ndim == 2 else None
    factors = None
    if sep is not None:
        col, row = _readable_factors(*sep)
        factors = {"column": [round(float(v), 12) + 0.0 for v in col],  # + 0.0: no -0
                   "row": [round(float(v), 12) + 0.0 for v in row]}  # fmt: skip
    return {
        "name": k.name,
        "shape": list(w.shape),
        "weights": w.tolist(),
        "sum": float(w.sum()),
        "separable": sep is not None,
        "factors": factors,
        "description": k.description,
        "source": k.source,
        "convention": "convolution",
    }


def _registry_document() -> dict:
    """``kernels --json``: every named kernel, with its default parameters."""
    entries = []
    for entry in REGISTRY.values():
        doc = _kernel_document(Kernel(entry.name, entry.make([]), entry.source, entry.description))
        doc["usage"] = entry.usage
        doc["parameters"] = dict(zip(entry.params, entry.defaults, strict=True))
        entries.append(doc)
    return {"kernels": entries}
