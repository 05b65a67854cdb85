"""``cnnfilter apply``: filter an image (or a batch of them) with a kernel."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded
from cnnfilter.cli._options import (
    ForceOption,
    FormatOption,
    FrameOption,
    JsonOption,
    KernelFileOption,
    KernelOption,
    MaxPixelsOption,
    QuietOption,
    VerboseOption,
    choice_enum,
    choices_help,
    frame_note,
)
from cnnfilter.cli._output import Notes, check_stdout_use, emit_json
from cnnfilter.cli._parse import parse_ints, parse_padding, parse_scale
from cnnfilter.engine.choices import (
    AUTO_METHOD,
    BOUNDARIES,
    FILTER_METHODS,
    OPERATIONS,
    RANGE_MODES,
    RAW_RANGE,
    with_auto,
)
from cnnfilter.errors import UsageError

Op = choice_enum("Op", OPERATIONS)
Method = choice_enum("Method", with_auto(FILTER_METHODS, AUTO_METHOD))
RangeMode = choice_enum("RangeMode", {**RANGE_MODES, **RAW_RANGE})

_BOUNDARY_HELP = choices_help(
    BOUNDARIES,
    "How the image is extended past its border (scipy/numpy/OpenCV/PyTorch names accepted):",
)


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
    kernel: KernelOption = None,
    kernel_file: KernelFileOption = None,
    op: Annotated[Op, typer.Option(help=choices_help(OPERATIONS))] = Op["convolve"],
    boundary: Annotated[str, typer.Option(help=_BOUNDARY_HELP)] = "symmetric",
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
            help=choices_help(
                {**RANGE_MODES, **RAW_RANGE}, "Map the response to pixels (never wraps around):"
            ),
        ),
    ] = RangeMode["auto"],
    side_by_side: Annotated[
        bool, typer.Option("--side-by-side", help="Write the original and the result side by side.")
    ] = False,
    force: ForceOption = False,
    compress_level: Annotated[
        int | None, typer.Option(min=0, max=9, help="PNG zlib level 0-9.")
    ] = None,
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG/WebP quality.")] = 95,
    fmt: FormatOption = None,
    json_out: JsonOption = False,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Search input folders' sub-folders too.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-j", min=1, help="Processes for a batch (default: the number of cores)."
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="Cores for the whole run: filtering and encoding threads, shared by a "
            "batch's workers (default: every core).",
        ),
    ] = None,
    skip_existing: Annotated[
        bool,
        typer.Option("--skip-existing", help="Batch: keep outputs that exist (resume a run)."),
    ] = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    max_pixels: MaxPixelsOption = None,
    frame: FrameOption = 0,
    method: Annotated[
        Method, typer.Option(help=choices_help(with_auto(FILTER_METHODS, AUTO_METHOD)))
    ] = Method["auto"],
) -> None:
    """Filter an image with a kernel (convolution by default) and write the result.

    Example: cnnfilter apply samples/astronaut.png --kernel sobel-x -o edges.png

    Batch: cnnfilter apply photos/ --recursive --kernel sobel-x -o out/ --workers 2
    """
    from cnnfilter.engine.image_filter import FilterSettings
    from cnnfilter.tasks import apply as task

    notes = Notes.of(quiet=quiet, verbose=verbose)
    if threads is not None:
        from cnnfilter.engine.threads import set_thread_budget

        set_thread_budget(threads)
    check_stdout_use(output, json_out=json_out)
    parsed_scale, parsed_padding = parse_scale(scale), parse_padding(padding)
    check_magnitude("--offset", offset)
    check_magnitude("--cval", cval)
    settings = FilterSettings(
        op=Op(op).value, padding=parsed_padding, boundary=boundary, cval=cval,
        stride=parse_ints("--stride", stride), dilation=parse_ints("--dilation", dilation),
        sum_channels=sum_channels, offset=offset, range_mode=RangeMode(range_).value,
        method=Method(method).value,
    )  # fmt: skip
    prepared = task.prepare(
        images, output, kernel=kernel, kernel_file=kernel_file, scale=parsed_scale,
        settings=settings, fmt=fmt, recursive=recursive, force=force, side_by_side=side_by_side,
        quality=quality, compress_level=compress_level,
        max_pixels=max_pixels, frame=frame,
    )  # fmt: skip
    if not prepared.single:
        from cnnfilter.cli._batch import run_batch

        run_batch(prepared, force=force, skip_existing=skip_existing, workers=workers,
                  notes=notes, json_out=json_out)  # fmt: skip
        return
    rendered = task.apply_one(prepared.spec, images[0], output, force=force)
    given = dict(boundary=boundary, padding=padding, stride=stride, dilation=dilation)
    notes(_run_line(prepared, rendered, images[0], output, given))
    notes.detail(_timings(rendered.report["timings_ms"]))
    if rendered.depth_note:
        notes(f"{'<stdout>' if output == '-' else output}: {rendered.depth_note}")
    if json_out:
        emit_json(rendered.report)


def _run_line(prepared, rendered, source: str, target: str, given: dict) -> str:
    """The one line on stderr: what was filtered with what, how, how fast, where to."""
    report, k = rendered.report, prepared.kernel
    kernel_size = "x".join(str(n) for n in k.weights.shape)  # 3x3, or 3x3x3 for a 3-D kernel
    canonical = report["boundary"]
    typed = given["boundary"].strip().lower()
    boundary_text = canonical if canonical == typed else f"{canonical} ({given['boundary']})"
    inp = report["input"]
    shape_out = " x ".join(str(s) for s in report["response"]["shape"])
    scale_note = f", {prepared.scale_note}" if prepared.scale_note else ""
    summed = ", channels summed" if prepared.spec.settings.sum_channels else ""
    return (
        f"{report['operation']} of {'<stdin>' if source == '-' else source} "
        f"({' x '.join(map(str, inp['shape']))}, {inp['dtype']}) with {k.name} "
        f"({kernel_size}{scale_note}); boundary {boundary_text}, padding {given['padding']}, "
        f"stride {given['stride']}, dilation {given['dilation']}{summed}; response "
        f"{shape_out} ({report['response']['dtype']}), range {report['range']}; method "
        f"{rendered.method_text}; {report['timings_ms']['filter']:.0f} ms; wrote "
        f"{'<stdout>' if target == '-' else target}{frame_note(inp['frame'], inp['frames'])}"
    )


def _timings(timings: dict) -> str:
    """``timings: read 3 ms, filter 12 ms, ...`` for ``-v``."""
    return "timings: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in timings.items())
