"""``cnnfilter detect``: where in an image a pattern responds (response map and peaks)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded, print_table, stdout_console
from cnnfilter.cli._complete import complete_image
from cnnfilter.cli._options import (
    ForceOption,
    FrameOption,
    JsonOption,
    KernelFileOption,
    KernelOption,
    MaxPixelsOption,
    QuietOption,
    VerboseOption,
    choice_enum,
    choices_help,
    example,
    frame_note,
)
from cnnfilter.cli._output import Notes, emit_json
from cnnfilter.engine.choices import RESPONSE_METHODS

Method = choice_enum("Method", RESPONSE_METHODS)

_METHOD_HELP = choices_help(
    RESPONSE_METHODS,
    "raw (the default) is the article's 6600; ncc: 1.0 = exact copy, 0 where the template or "
    "window is flat.",
)


@app.command(epilog=example("cnnfilter detect samples/coins.png -k laplacian --top 10"))
@guarded
def detect(
    image: Annotated[
        Path,
        typer.Argument(
            metavar="IMAGE",
            autocompletion=complete_image,
            help="Input image (PNG, JPEG, TIFF, BMP, WebP...) or .npy feature map (H, W[, C]).",
        ),
    ],
    kernel: KernelOption = None,
    kernel_file: KernelFileOption = None,
    template: Annotated[
        Path | None,
        typer.Option(
            "--template",
            "-t",
            help="Pattern cut from an image (PNG...); colour templates need a colour image.",
        ),
    ] = None,
    method: Annotated[Method | None, typer.Option(help=_METHOD_HELP, show_default=False)] = None,
    top: Annotated[int, typer.Option(metavar="N", min=1, help="How many peaks to report.")] = 10,
    min_distance: Annotated[
        int | None,
        typer.Option(
            metavar="PIXELS",
            min=1,
            help="Peaks closer than this many pixels in both rows and columns are merged "
            "(default: half the pattern's shorter side, at least 1).",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(metavar="SCORE", help="Report only peaks with a score >= this."),
    ] = None,
    json_out: JsonOption = False,
    heatmap: Annotated[
        Path | None,
        typer.Option(
            help="Write the response map in colour (viridis; blue-white-red centred on 0 "
            "when it has both signs; raw maps reach the 99.5th percentile of |value|) with a "
            "colour bar and a caption. One pixel per window: (H-kh+1) x (W-kw+1), or H x W "
            "with --same-size; small maps are enlarged by a whole factor."
        ),
    ] = None,
    overlay: Annotated[
        Path | None,
        typer.Option(
            help="Write the photo, dimmed and desaturated, with the same-size map blended over "
            "it (strong responses opaque, weak ones clear), the peaks boxed with rank and "
            "score (best in yellow), a colour bar and a caption."
        ),
    ] = None,
    raw: Annotated[
        Path | None,
        typer.Option("--raw", help="Write the float response map as .npy or float .tif."),
    ] = None,
    same_size: Annotated[
        bool,
        typer.Option(
            "--same-size",
            help="Pad the map written by --heatmap and --raw back to the image's H x W, each "
            "cell on its window's centre (skimage match_template pad_input=True), with "
            "--pad-value. The overlay always uses the same-size map; peaks stay top-left.",
        ),
    ] = False,
    pad_value: Annotated[
        float, typer.Option(help="Value of the cells --same-size adds (0: no response).")
    ] = 0.0,
    force: ForceOption = False,
    max_pixels: MaxPixelsOption = None,
    frame: FrameOption = 0,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Show where a pattern responds in an image: response map, peaks and pictures.

    The response is the cross-correlation of the image with the pattern (a
    kernel or a template patch), summed over colour channels, at every place
    the pattern fits inside the image. Registry kernels, written for
    convolution, are applied unflipped (cross-correlation): antisymmetric
    ones (sobel-x, prewitt...) give the opposite sign of apply's default.
    A peak at (row, col) means the pattern's top-left corner lies on image
    pixel (row, col).
    """
    from cnnfilter.tasks.detect import detect as run_detect

    notes = Notes.of(quiet=quiet, verbose=verbose)
    found = run_detect(
        image, kernel=kernel, kernel_file=kernel_file, template=template,
        method="raw" if method is None else Method(method).value, top=top,
        min_distance=min_distance, threshold=threshold,
        heatmap=heatmap, overlay=overlay, raw=raw, same_size=same_size, pad_value=pad_value,
        force=force, max_pixels=max_pixels,
        frame=frame,
    )  # fmt: skip
    notes(_run_line(found, str(image)))
    if template is not None and method is None:  # --method not given
        notes(_RAW_TEMPLATE_NOTE)
    notes.detail(f"method plan: {found.report['plan'] or 'none (flat template)'}")
    for line in found.notes:
        notes(line)
    if json_out:
        emit_json(found.report)  # NaN/inf as null: strict JSON
    else:
        _print_peaks(found, top)


#: A template run on the default method: raw sums rank bright places first, not copies.
_RAW_TEMPLATE_NOTE = (
    "note: --method raw (the default) is a plain sum of products, highest where the image is "
    "bright; --method ncc scores each place by its likeness to the template (1.0: an exact "
    "copy)"
)


def _run_line(found, image: str) -> str:
    """The one line on stderr: what was correlated with what, by which plan, how fast."""
    report = found.report
    kh, kw = found.pattern.weights.shape[:2]
    depth = found.pattern.weights.shape[2:]
    values = found.response.values
    what = "raw sum of products" if report["method"] == "raw" else "zero-mean normalised (ncc)"
    return (
        f"cross-correlation ({what}, {report['implementation']}) of "
        f"{'<stdin>' if image == '-' else image} ({found.image_text}"
        f"{', alpha ignored' if found.alpha else ''}) with {found.pattern.name} "
        f"({kh}x{kw}{'x' + str(depth[0]) if depth else ''})"
        f"{', channels summed' if report['image_shape'][2] > 1 else ''}; response map "
        f"{values.shape[0]} x {values.shape[1]}, {_range_text(report['map_range'], values)}; "
        f"{report['timings_ms']['response']:.0f} ms"
        f"{frame_note(found.frame, found.frames)}"
    )


def _range_text(finite_range, values) -> str:
    """``range [lo, hi]`` of the finite cells, and how many are NaN or inf."""
    import numpy as np

    text = (
        "no finite value"
        if finite_range is None
        else "range [{:.6g}, {:.6g}]".format(*finite_range)
    )
    bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    return text + (f" ({bad:,} cells NaN or inf: their windows cover one)" if bad else "")


def _print_peaks(found, top: int) -> None:
    """The peaks as a table on stdout (or one line when there are none)."""
    from rich.table import Table

    peaks, method = found.peaks, found.report["method"]
    count = len(peaks)
    title = f"top {count} peaks" if count > 1 else "1 peak"
    if count < top:  # fewer local maxima than asked for: say so
        title = f"{count} peak{'s' if count != 1 else ''} ({count} of the {top} asked for)"
    table = Table(
        title=f"{title} of {found.pattern.name} ({method})",
        caption="row, col: image pixel under the pattern's top-left corner",
    )
    for col in ("rank", "row", "col", "score"):
        table.add_column(col, justify="right")
    for i, p in enumerate(peaks):
        score = f"{p.score:.4f}" if method == "ncc" else f"{p.score:.6g}"
        table.add_row(str(i + 1), str(p.row), str(p.col), score)
    console = stdout_console()
    if peaks:
        print_table(console, table)
    else:
        console.print("no peaks (the map is flat, or no value reaches --threshold)")
