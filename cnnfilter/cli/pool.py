"""``cnnfilter pool``: max, average and Lp pooling of an image or a .npy feature map."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded, stderr_console, stdout_console
from cnnfilter.cli._complete import complete_image
from cnnfilter.cli._options import (
    ChunkedOption,
    ChunkSizeOption,
    ForceOption,
    FormatOption,
    FrameOption,
    JsonOption,
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
from cnnfilter.cli._parse import parse_ints
from cnnfilter.engine.choices import POOL_OPS
from cnnfilter.errors import UsageError

PoolOp = choice_enum("PoolOp", POOL_OPS)


@app.command(epilog=example("cnnfilter pool samples/astronaut.png --op max --size 2 -o pooled.png"))
@guarded
def pool(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            autocompletion=complete_image,
            help="Image (PNG, JPEG, TIFF...) or .npy array (H, W) or (H, W, C).",
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Pooled result: an image file, or .npy for the exact values. Without -o "
            "only the shapes are reported.",
        ),
    ] = None,
    op: Annotated[PoolOp, typer.Option(help=choices_help(POOL_OPS))] = PoolOp["max"],
    size: Annotated[
        str, typer.Option("--size", metavar="K|KH,KW", help="Window size: K or KH,KW.")
    ] = "2",
    stride: Annotated[
        str | None,
        typer.Option(metavar="S|SH,SW", help="Step: S or SH,SW (default: the window size)."),
    ] = None,
    padding: Annotated[
        str,
        typer.Option(
            metavar="P|PH,PW",
            help="P or PH,PW on both sides, at most half the window; max pads with -inf, "
            "avg with 0.",
        ),
    ] = "0",
    dilation: Annotated[
        str, typer.Option(metavar="D|DH,DW", help="Spacing of window taps: D or DH,DW (max only).")
    ] = "1",
    ceil_mode: Annotated[
        bool,
        typer.Option(
            "--ceil-mode",
            help="Round the output size up; a last window starting in the padding is dropped.",
        ),
    ] = False,
    count_include_pad: Annotated[
        bool,
        typer.Option(
            "--count-include-pad/--no-count-include-pad",
            help="avg: count padding cells in the divisor (PyTorch's default).",
        ),
    ] = True,
    p: Annotated[float, typer.Option("--p", help="The power of lp pooling (> 0).")] = 2.0,
    show_winners: Annotated[
        Path | None,
        typer.Option(
            "--show-winners",
            help="max only: write a picture of the input with the pixel that won each "
            "window lit (yellow; per channel red/green/blue for colour).",
        ),
    ] = None,
    json_out: JsonOption = False,
    force: ForceOption = False,
    fmt: FormatOption = None,
    max_pixels: MaxPixelsOption = None,
    frame: FrameOption = 0,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    scheduler: SchedulerOption = None,
    chunked: ChunkedOption = False,
    chunk_size: ChunkSizeOption = 1024,
) -> None:
    """Pool an image or feature map per channel, exactly as PyTorch's pooling layers.

    Prints the input and output shapes and the output-size formula with its
    numbers. 8-bit images stay 8-bit: max keeps the values, avg is rounded to
    the nearest integer.
    """
    from cnnfilter.tasks import pool as task

    notes = Notes.of(quiet=quiet, verbose=verbose)
    spec = task.make_spec(
        PoolOp(op).value,
        parse_ints("--size", size),
        stride=None if stride is None else parse_ints("--stride", stride),
        padding=parse_ints("--padding", padding, minimum=0),
        dilation=parse_ints("--dilation", dilation),
        ceil_mode=ceil_mode, count_include_pad=count_include_pad, p=p, show_winners=show_winners,
    )  # fmt: skip
    check_stdout_use(output, json_out=json_out)
    if _run_chunked(source, spec, output, force, scheduler, chunked, chunk_size, notes, json_out):
        return
    if scheduler:
        raise UsageError("--scheduler runs a --chunked pool; drop it or add --chunked")
    done = task.pool(
        source, spec, output=output, fmt=fmt, show_winners=show_winners, force=force,
        max_pixels=max_pixels, frame=frame,
    )  # fmt: skip
    report = done.report
    if json_out:
        emit_json(report)
    else:  # the image itself may be on stdout (-o -): the report then goes to stderr
        _print_shapes(report, stderr_console() if str(output) == "-" else stdout_console())
    alpha = ", alpha pooled as the last channel" if done.kind == "image with alpha" else ""
    notes(
        f"{report['op']} pooling of {'<stdin>' if str(source) == '-' else source} per channel"
        f"{alpha}; {report['timings_ms']['pool']:.0f} ms{frame_note(done.frame, done.frames)}"
    )
    notes.detail(f"method: {report['method']}; total {report['timings_ms']['total']:.0f} ms")
    for line in done.notes:
        notes(line)


def _run_chunked(source, spec, output, force, scheduler, chunked, chunk, notes, json_out) -> bool:
    """A --chunked (or .zarr) pool, block by block; False when this is not one."""
    from cnnfilter.tasks import large
    from cnnfilter.tasks._cluster import scheduler_from_env

    if not large.is_chunked_run(source, output, chunked):
        return False
    if output is None:
        raise UsageError("--chunked needs -o (a .tif or .zarr to write)")
    where = scheduler_from_env(scheduler)
    report = large.pool_chunked(
        str(source), spec, str(output), force=force, chunk=chunk, scheduler=where
    )
    inp, out = report["input"], report["output"]
    notes(
        f"chunked {report['op']} pooling of {source} ({' x '.join(map(str, inp['shape']))}): "
        f"{report['blocks']} blocks on {where or 'this machine'}; "
        f"{report['timings_ms']['total'] / 1000:.1f} s; wrote {output} "
        f"({' x '.join(map(str, out['shape']))}, {out['dtype']}, {out['format']})"
    )
    if json_out:
        emit_json(report)
    return True


def _shape(shape: list[int], dtype: str) -> str:
    return f"{' x '.join(map(str, shape))} ({dtype})"


def _print_shapes(report: dict, console) -> None:
    """The settings, the input and output shapes and the formula per axis."""
    op = report["op"]
    extra = ""
    if op == "avg":
        extra = f", count_include_pad {'on' if report['count_include_pad'] else 'off'}"
    elif op == "lp":
        extra = f", p {report['p']:g}"
    kh, kw = report["kernel_size"]
    (sh, sw), (ph, pw), (dh, dw) = report["stride"], report["padding"], report["dilation"]
    console.print(
        f"{op} pooling: kernel {kh}x{kw}, stride {sh}x{sw}, padding {ph},{pw}, dilation "
        f"{dh}x{dw}, {'ceil' if report['ceil_mode'] else 'floor'} mode{extra}"
    )
    console.print(f"input   {_shape(report['input_shape'], report['input_dtype'])}")
    rnd = "ceil" if report["ceil_mode"] else "floor"
    console.print(f"out = {rnd}((n + 2p - d(k-1) - 1) / s) + 1")
    console.print(f"  rows: {report['axes']['rows']['formula']}")
    console.print(f"  cols: {report['axes']['cols']['formula']}")
    console.print(f"output  {_shape(report['output_shape'], report['output_dtype'])}")
