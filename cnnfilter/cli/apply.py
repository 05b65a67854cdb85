"""``cnnfilter apply``: filter an image (or a batch of them) with a kernel."""

from __future__ import annotations

import contextlib
import math
from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded
from cnnfilter.cli._complete import (
    complete_boundary,
    complete_image,
    complete_kernel,
    complete_path,
)
from cnnfilter.cli._options import (
    KERNEL_HELP,
    ChunkedOption,
    ChunkSizeOption,
    DxOption,
    DyOption,
    ForceOption,
    FormatOption,
    FrameOption,
    JsonOption,
    KernelFileOption,
    KsizeOption,
    MaxPixelsOption,
    QuietOption,
    SchedulerOption,
    VerboseOption,
    choice_enum,
    choices_help,
    example,
    frame_note,
)
from cnnfilter.cli._output import Notes, check_stdout_use, emit_json
from cnnfilter.cli._parse import parse_ints, parse_padding, parse_scale
from cnnfilter.engine.choices import (
    AUTO_METHOD,
    BOUNDARIES,
    COMBINE_MODES,
    FILTER_METHODS,
    GRADIENT_PAIRS,
    OPERATIONS,
    RANGE_MODES,
    RAW_RANGE,
    STRETCH_BLACK_PERCENTILE,
    STRETCH_GAMMA,
    STRETCH_PERCENTILE,
    with_auto,
)
from cnnfilter.errors import UsageError

Op = choice_enum("Op", OPERATIONS)
Method = choice_enum("Method", with_auto(FILTER_METHODS, AUTO_METHOD))
RangeMode = choice_enum("RangeMode", {**RANGE_MODES, **RAW_RANGE})
Combine = choice_enum("Combine", COMBINE_MODES)

_KERNELS_HELP = (
    KERNEL_HELP + " Repeat -k for several kernels: one output each ({kernel} in -o), one "
    f"labelled --montage, or --combine magnitude; {', '.join(GRADIENT_PAIRS)} stand for their "
    "-x and -y pair combined by magnitude."
)

_BOUNDARY_HELP = choices_help(
    BOUNDARIES,
    "How the image is extended past its border (scipy/numpy/OpenCV/PyTorch names accepted):",
)


def check_magnitude(option: str, value: float, limit: float = 1e20) -> None:
    """Refuse a NaN, infinite or float32-overflowing ``--offset``/``--cval``."""
    if not math.isfinite(value) or abs(value) > limit:
        raise UsageError(
            f"{option} must be a finite number within ±{limit:.0e}, got {_given(value)}"
        )


#: --gamma's upper bound: at 1e6 every value below 0.99999 of the level is black already.
STRETCH_MAX_GAMMA = 1e6


def _given(value: float) -> str:
    """``value`` as typed, every digit kept: ``100.0001`` (``:g`` wrote 100, in range)."""
    text = repr(float(value))
    return text.removesuffix(".0")


def _check_stretch(
    percentile: float, black_percentile: float | None, gamma: float, range_mode: str
) -> float:
    """Refuse ``--percentile``, ``--black-percentile`` or ``--gamma`` outside its range;
    return the black percentile: as given, else its default (75), which a ``--percentile``
    at or below it refuses under a range that may stretch (0, unused, under the others)."""
    if not 0 < percentile <= 100:
        raise UsageError(f"--percentile must be in (0, 100], got {_given(percentile)}")
    if not 0 < gamma < STRETCH_MAX_GAMMA:
        raise UsageError(
            f"--gamma must be above 0 and below {STRETCH_MAX_GAMMA:.0e}, got {_given(gamma)}"
        )
    if black_percentile is None:
        if percentile > STRETCH_BLACK_PERCENTILE:
            return STRETCH_BLACK_PERCENTILE
        if range_mode not in ("auto", "stretch"):
            return 0.0  # unused: no stretch
        raise UsageError(
            f"--percentile {_given(percentile)} is not above --black-percentile's default, "
            f"{_given(STRETCH_BLACK_PERCENTILE)}: give --black-percentile below "
            f"{_given(percentile)} too (0: no black point)"
        )
    if not 0 <= black_percentile < percentile:
        raise UsageError(
            f"--black-percentile must be in [0, {_given(percentile)}) (below --percentile), "
            f"got {_given(black_percentile)}"
        )
    return black_percentile


@app.command(
    epilog=example(
        "cnnfilter apply samples/astronaut.png -k sobel-x -o edges.png",
        "cnnfilter apply photos/ --recursive -k sobel-x -o out/ --workers 2",
    )
)
@guarded
def apply(
    images: Annotated[
        list[str],
        typer.Argument(
            metavar="IMAGE",
            autocompletion=complete_image,
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
            metavar="OUT",
            autocompletion=complete_path,
            help="Output file (the format follows the extension), - for stdout (the "
            "input's format unless --format), a pattern such as out/{stem}_edges.png "
            "({stem}, {name}, {ext}, {parent}) or a folder such as out/.",
        ),
    ],
    kernel: Annotated[
        list[str] | None,
        typer.Option(
            "--kernel",
            "-k",
            metavar="NAME|MATRIX",
            help=_KERNELS_HELP,
            autocompletion=complete_kernel,
        ),
    ] = None,
    kernel_file: KernelFileOption = None,
    dx: DxOption = None,
    dy: DyOption = None,
    ksize: KsizeOption = None,
    op: Annotated[
        Op, typer.Option(metavar="convolve|correlate", help=choices_help(OPERATIONS))
    ] = Op["convolve"],
    boundary: Annotated[
        str, typer.Option(metavar="MODE", help=_BOUNDARY_HELP, autocompletion=complete_boundary)
    ] = "symmetric",
    cval: Annotated[
        float, typer.Option(metavar="K", help="Fill value for --boundary constant.")
    ] = 0.0,
    padding: Annotated[
        str,
        typer.Option(
            metavar="same|valid|full|P|PH,PW|T,B,L,R",
            help="Output size: same, valid, full, or CNN padding P | PH,PW | T,B,L,R.",
        ),
    ] = "same",
    stride: Annotated[
        str, typer.Option(metavar="S|SH,SW", help="Step of the kernel: S or SH,SW.")
    ] = "1",
    dilation: Annotated[
        str, typer.Option(metavar="D|DH,DW", help="Spacing of kernel taps: D or DH,DW.")
    ] = "1",
    sum_channels: Annotated[
        bool,
        typer.Option(
            "--sum-channels",
            help="Sum the per-channel responses into one map (a CNN filter on RGB).",
        ),
    ] = False,
    scale: Annotated[
        str | None,
        typer.Option(metavar="X|auto", help="Multiply the kernel by a number, or 'auto' (1/sum)."),
    ] = None,
    offset: Annotated[float, typer.Option(metavar="X", help="Add to every response value.")] = 0.0,
    range_: Annotated[
        RangeMode,
        typer.Option(
            "--range",
            metavar="|".join({**RANGE_MODES, **RAW_RANGE}),
            help=choices_help(
                {**RANGE_MODES, **RAW_RANGE}, "Map the response to pixels (never wraps around):"
            ),
        ),
    ] = RangeMode["auto"],
    percentile: Annotated[
        float,
        typer.Option(
            help="--range stretch: the percentile of |response| drawn as full white.",
        ),
    ] = STRETCH_PERCENTILE,
    black_percentile: Annotated[
        float | None,
        typer.Option(
            metavar="X",
            help="--range stretch: the percentile of |response| drawn as black (the noise "
            "floor of flat areas; 0 keeps every response above the weakest), below "
            f"--percentile.  [default: {STRETCH_BLACK_PERCENTILE:g}]",
        ),
    ] = None,
    gamma: Annotated[
        float,
        typer.Option(
            help="--range stretch: exponent applied after stretching (< 1 lifts weak edges).",
        ),
    ] = STRETCH_GAMMA,
    combine: Annotated[Combine, typer.Option(help=choices_help(COMBINE_MODES))] = Combine["none"],
    montage: Annotated[
        bool,
        typer.Option(
            "--montage",
            help="Several kernels: write one picture to -o, each result under its kernel's name.",
        ),
    ] = False,
    side_by_side: Annotated[
        bool, typer.Option("--side-by-side", help="Write the original and the result side by side.")
    ] = False,
    force: ForceOption = False,
    compress_level: Annotated[
        int | None, typer.Option(metavar="0-9", min=0, max=9, help="PNG zlib level 0-9.")
    ] = None,
    quality: Annotated[
        int,
        typer.Option(
            metavar="1-100",
            min=1,
            max=100,
            help="JPEG/WebP quality (JPEG: full colour resolution, 4:4:4, at 90 and above, as "
            "ImageMagick).",
        ),
    ] = 95,
    fmt: FormatOption = None,
    json_out: JsonOption = False,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Search input folders' sub-folders too.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-j",
            metavar="N",
            min=1,
            help="Processes for a batch (default: the number of cores).",
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
    scheduler: SchedulerOption = None,
    chunked: ChunkedOption = False,
    chunk_size: ChunkSizeOption = 1024,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    max_pixels: MaxPixelsOption = None,
    frame: FrameOption = 0,
    method: Annotated[
        Method,
        typer.Option(
            metavar="auto|" + "|".join(FILTER_METHODS),
            help=choices_help(with_auto(FILTER_METHODS, AUTO_METHOD)),
        ),
    ] = Method["auto"],
    to_srgb: Annotated[
        bool,
        typer.Option(
            "--to-srgb",
            help="Convert colour from the input's ICC profile to sRGB before filtering "
            "(default: filter the stored values and carry the profile to the output).",
        ),
    ] = False,
) -> None:
    """Filter an image with a kernel (convolution by default) and write the result.

    Several inputs, a folder or a glob make a batch: -o is then a folder or a
    pattern, and --workers processes share the files.
    """
    from cnnfilter.tasks.readahead import start_read

    # first: the input's decode runs on another core while the rest starts
    several = len(kernel or ()) > 1 and Combine(combine).value == "none"
    pending = None if several or montage else start_read(
        images, output, max_pixels=max_pixels, frame=frame, to_srgb=to_srgb, chunked=chunked
    )  # fmt: skip

    with _collected(pending):  # no read-ahead outlives the command, whatever happens
        from cnnfilter.engine.image_filter import FilterSettings
        from cnnfilter.tasks import apply as task

        notes = Notes.of(quiet=quiet, verbose=verbose)
        if threads is not None:
            from cnnfilter.engine.threads import set_thread_budget

            set_thread_budget(threads)
        check_stdout_use(output, json_out=json_out)
        kernel = _sobel_kernels(kernel, dx, dy, ksize)
        parsed_scale, parsed_padding = parse_scale(scale), parse_padding(padding)
        check_magnitude("--offset", offset)
        check_magnitude("--cval", cval)
        black_percentile = _check_stretch(
            percentile, black_percentile, gamma, RangeMode(range_).value
        )
        settings = FilterSettings(
            op=Op(op).value, padding=parsed_padding, boundary=boundary, cval=cval,
            stride=parse_ints("--stride", stride), dilation=parse_ints("--dilation", dilation),
            sum_channels=sum_channels, offset=offset, range_mode=RangeMode(range_).value,
            method=Method(method).value, percentile=percentile, gamma=gamma,
            black_percentile=black_percentile, combine=Combine(combine).value,
        )  # fmt: skip
        options = dict(
            kernel_file=kernel_file, scale=parsed_scale, settings=settings, fmt=fmt,
            recursive=recursive, force=force, side_by_side=side_by_side, quality=quality,
            compress_level=compress_level, max_pixels=max_pixels, frame=frame,
            to_srgb=to_srgb or None,
        )  # fmt: skip
        kernels = kernel or []
        if len(kernels) > 1 and settings.combine == "none":
            _apply_each(images, output, kernels, options, montage=montage, notes=notes,
                        json_out=json_out)  # fmt: skip
            return
        if montage:
            raise UsageError("--montage needs several kernels (-k A -k B ...)")
        chosen = kernels[0] if len(kernels) == 1 else (kernels or None)
        large = dict(scheduler=scheduler, workers=workers, chunk=chunk_size)
        if _run_chunked(images, output, chosen, options, large, chunked=chunked, notes=notes,
                        json_out=json_out):  # fmt: skip
            return
        prepared = task.prepare(images, output, kernel=chosen, **options)
        if not prepared.single:
            from cnnfilter.cli._batch import run_batch
            from cnnfilter.tasks._cluster import scheduler_from_env

            run_batch(prepared, force=force, skip_existing=skip_existing, workers=workers,
                      notes=notes, json_out=json_out,
                      scheduler=scheduler_from_env(scheduler))  # fmt: skip
            return
        _refuse_scheduler_for_one(scheduler)
        given = dict(boundary=boundary, padding=padding, stride=stride, dilation=dilation)
        _apply_one(prepared, images[0], output, given, force=force, notes=notes, json_out=json_out,
                   pending=pending)  # fmt: skip


@contextlib.contextmanager
def _collected(pending):
    """Wait for the read-ahead on leaving (an earlier check failed, or Ctrl-C).

    Its decode runs on a thread that also lifts Pillow's global pixel limit
    while it reads; a command run in-process (tests, ``cnnfilter.cli.main``
    from Python) must not leave it running.
    """
    try:
        yield
    finally:
        if pending is not None:
            pending.wait()


def _apply_one(prepared, source: str, output: str, given: dict, *, force, notes, json_out,
               pending=None):  # fmt: skip
    """One image: filter, write, and report (the run line, notes, timings, JSON)."""
    from cnnfilter.tasks import apply as task

    rendered = task.apply_one(prepared.spec, source, output, force=force, pending=pending)
    notes(_run_line(prepared, rendered, source, output, given))
    for line in prepared.kernel.notes:
        notes(line)
    notes.detail(_timings(rendered.report["timings_ms"]))
    for note in (rendered.depth_note, *rendered.notes):
        if note:
            notes(f"{'<stdout>' if output == '-' else output}: {note}")
    if json_out:
        emit_json(rendered.report)


def _run_chunked(images, output, kernel, options, large, *, chunked, notes, json_out) -> bool:
    """A --chunked (or .zarr) run: filter block by block; False when this is not one."""
    from cnnfilter.tasks import large as task

    if len(images) != 1 or not task.is_chunked_run(images[0], output, chunked):
        return False
    from cnnfilter.tasks._cluster import scheduler_from_env

    spec = task.prepare_apply(kernel=kernel, **options)
    scheduler = scheduler_from_env(large["scheduler"])
    report = task.apply_chunked(
        spec, images[0], output, force=options["force"], chunk=large["chunk"],
        scheduler=scheduler, workers=large["workers"],
    )  # fmt: skip
    inp, out = report["input"], report["output"]
    notes(
        f"chunked {report['kernel']['name']} over {images[0]} ({' x '.join(map(str, inp['shape']))}"
        f", {inp['dtype']}): {report['blocks']} blocks of {report['chunk']} px on "
        f"{scheduler or 'this machine'}, range {report['range']}; "
        f"{report['timings_ms']['total'] / 1000:.1f} s; wrote {output} "
        f"({' x '.join(map(str, out['shape']))}, {out['dtype']}, {out['format']})"
    )
    if json_out:
        emit_json(report)
    return True


def _apply_each(images, output, kernels, options, *, montage, notes, json_out) -> None:
    """Several kernels, no --combine: one output each ({kernel} in -o) or one --montage."""
    from cnnfilter.tasks import apply as task

    task.check_several(images, output, kernels, montage=montage)
    if montage:
        each = [task.prepare(images, output, kernel=k, **options) for k in kernels]
        done = task.montage(each, images[0], output, force=options["force"])
        notes(
            f"montage of {len(kernels)} kernels ({', '.join(done['panels'])}) over "
            f"{images[0]}, each labelled with its kernel and range; wrote {output}"
        )
        if json_out:
            emit_json(done)
        return
    targets = [task.kernel_output(output, k) for k in kernels]
    if len(set(targets)) != len(targets):
        raise UsageError("two kernels give the same output name; give distinct kernels")
    each = [
        task.prepare(images, t, kernel=k, **options) for k, t in zip(kernels, targets, strict=True)
    ]
    reports = []
    for prepared, target in zip(each, targets, strict=True):
        rendered = task.apply_one(prepared.spec, images[0], target, force=options["force"])
        notes(f"{prepared.kernel.name}: range {rendered.report['range']}; wrote {target}")
        reports.append(rendered.report)
    if json_out:
        emit_json({"files": reports})


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
        f"{shape_out} ({report['response']['dtype']}), range {_range_text(report)}; method "
        f"{rendered.method_text}; {report['timings_ms']['filter']:.0f} ms; wrote "
        f"{'<stdout>' if target == '-' else target}{frame_note(inp['frame'], inp['frames'])}"
    )


def _range_text(report: dict) -> str:
    """``stretch (|response| from 8 (75th percentile) to 412.3 (99.5th), gamma 0.5)``, or
    the mode's name."""
    stretch = report.get("stretch")
    if not stretch:
        return report["range"]
    return (
        f"stretch (|response| from {stretch['black']:.4g} ({stretch['black_percentile']:g}th "
        f"percentile) to {stretch['level']:.4g} ({stretch['percentile']:g}th), "
        f"gamma {stretch['gamma']:g})"
    )


def _timings(timings: dict) -> str:
    """``timings: read 3 ms, filter 12 ms, ...`` for ``-v``."""
    return "timings: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in timings.items())


def _sobel_kernels(kernel: list[str] | None, dx, dy, ksize) -> list[str] | None:
    """``-k Sobel --dx 1 --dy 0 --ksize 5`` as OpenCV's Sobel kernel; others unchanged."""
    from cnnfilter.foreign_kernels import opencv_sobel_spec

    if kernel is not None and len(kernel) == 1:
        return [opencv_sobel_spec(kernel[0], dx, dy, ksize)]
    if dx is not None or dy is not None or ksize is not None:
        return [opencv_sobel_spec(None, dx, dy, ksize)]  # refused, as for `kernels`
    return kernel


def _refuse_scheduler_for_one(scheduler: str | None) -> None:
    if scheduler:
        raise UsageError(
            "--scheduler runs a batch (several inputs, a folder or an output pattern) or a "
            "--chunked image; one image runs here: drop --scheduler or add --chunked"
        )
