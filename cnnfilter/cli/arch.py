"""``cnnfilter params`` and ``cnnfilter receptive-field``: the layer-stack calculator.

Each command calls :mod:`cnnfilter.tasks.arch` (which parses the arch.yaml
once) and renders: a table by default, ``--json``, ``--csv`` or
``--markdown`` on stdout; notes and warnings on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded, print_table, stdout_console
from cnnfilter.cli._complete import complete_arch
from cnnfilter.cli._options import (
    ForceOption,
    FormatOption,
    JsonOption,
    MaxPixelsOption,
    OutputOption,
    QuietOption,
    VerboseOption,
    choice_enum,
    example,
)
from cnnfilter.cli._output import Notes, emit_json
from cnnfilter.errors import UsageError

Compare = choice_enum(
    "Compare", {"locally-connected": "each conv layer's parameters with unshared weights"}
)

ArchFile = Annotated[
    Path,
    typer.Argument(
        metavar="ARCH",
        autocompletion=complete_arch,
        help="Layer file (arch.yaml), or - for stdin; format in docs/reference/arch-yaml.md, "
        "examples in samples/arch/.",
        dir_okay=False,  # not exists=True: it would refuse '-'; load_network reports a missing file
    ),
]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print the table as CSV on stdout.")]
MarkdownOption = Annotated[
    bool, typer.Option("--markdown", help="Print the table as Markdown on stdout.")
]


def _report_form(json_out: bool, csv: bool, markdown: bool) -> str:
    """``json``, ``csv``, ``markdown`` or ``table`` (the default); at most one flag."""
    chosen = [name for name, on in (("json", json_out), ("csv", csv), ("markdown", markdown)) if on]
    if len(chosen) > 1:
        raise UsageError(
            "give one of --json, --csv and --markdown "
            f"(got {' and '.join('--' + c for c in chosen)})"
        )
    return chosen[0] if chosen else "table"


def _render(result, form: str, numeric) -> None:
    """Print a params or receptive-field result in ``form`` on stdout."""
    from cnnfilter.arch import report

    if form == "json":
        emit_json(result.report)
    elif form == "csv":
        print(report.to_csv(result.records()), end="")
    elif form == "markdown":
        headers, rows = result.table(indent="· ")
        print(f"**{result.title}**\n")
        print(report.to_markdown(headers, rows, right=numeric))
        print()
        print("\n".join(f"- {label}: {text}" for label, text in result.footer()))
    else:
        _print_table(result.title, *result.table(), result.footer(), numeric)


def _print_table(title: str, headers, rows, footer, numeric) -> None:
    from rich.table import Table

    console = stdout_console()
    table = Table(title=title, title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i in numeric else "left")
    for row in rows:
        table.add_row(*row)
    print_table(console, table)
    for label, text in footer:
        console.print(f"{label}: {text}")


@app.command(epilog=example("cnnfilter params samples/arch/vgg16.yaml --markdown"))
@guarded
def params(
    arch: ArchFile,
    json_out: JsonOption = False,
    csv: CsvOption = False,
    markdown: MarkdownOption = False,
    compare: Annotated[
        Compare | None,
        typer.Option(
            help="Add a column with each conv layer's parameters if its weights were unshared "
            "(locally connected, one kernel per output position)."
        ),
    ] = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Per-layer output shape, parameters, MACs and memory of a layer stack, and totals."""
    from cnnfilter.tasks.arch import PARAMS_NUMERIC
    from cnnfilter.tasks.arch import params as run_params

    Notes.of(quiet=quiet, verbose=verbose)
    form = _report_form(json_out, csv, markdown)
    _render(run_params(arch, compare=compare is not None), form, PARAMS_NUMERIC)


def _unit(text: str) -> tuple[int, int]:
    parts = text.replace(" ", "").split(",")
    try:
        row, col = (int(p) for p in parts)
    except ValueError:
        raise UsageError(f"--unit must be ROW,COL (e.g. 7,7), got {text!r}") from None
    return row, col


@app.command(
    "receptive-field",
    epilog=example(
        "cnnfilter receptive-field samples/arch/vgg16.yaml --csv",
        "cnnfilter receptive-field samples/arch/vgg16.yaml --layer conv5_3 \\",
        "    --image samples/astronaut.png --unit 7,7 -o rf.png",
    ),
)
@guarded
def receptive_field(
    arch: ArchFile,
    json_out: JsonOption = False,
    csv: CsvOption = False,
    markdown: MarkdownOption = False,
    image: Annotated[
        Path | None,
        typer.Option(help="Photo to draw one unit's receptive field on (needs --layer and -o)."),
    ] = None,
    layer: Annotated[
        str | None, typer.Option(metavar="NAME", help="Layer whose unit is drawn.")
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option(
            metavar="ROW,COL",
            help="ROW,COL of the unit in the layer's output (default: the centre).",
        ),
    ] = None,
    output: OutputOption = None,
    fmt: FormatOption = None,
    force: ForceOption = False,
    max_pixels: MaxPixelsOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Receptive field size, jump, start and effective padding of every layer.

    Recurrence and terms of Araujo, Norris & Sim, "Computing Receptive Fields
    of Convolutional Neural Networks" (Distill 2019).
    """
    from cnnfilter.tasks import arch as task

    notes = Notes.of(quiet=quiet, verbose=verbose)
    form = _report_form(json_out, csv, markdown)
    task.check_drawing(image, layer, unit, output)
    if image is not None:
        from cnnfilter import imageio

        imageio.check_input_file(image)
    fields = task.receptive_field(arch)
    if image is not None:
        drawn = task.draw_field(
            fields, image, layer, _unit(unit) if unit is not None else None, output, fmt=fmt,
            force=force, max_pixels=max_pixels,
        )  # fmt: skip
    for warning in fields.warnings:  # after the drawing, so that its errors stand alone
        notes.warn(f"Warning: {warning}")
    if image is not None:
        notes(_drawn_line(drawn))
    else:
        _render(fields, form, task.FIELDS_NUMERIC)


def _drawn_line(drawn) -> str:
    """Where the drawn field lies, on stderr."""
    top, left, bottom, right = drawn.box
    (r, c), (height, width) = drawn.unit, drawn.input_hw
    where = (
        "all inside the image"
        if drawn.inside_share == 1
        else f"{drawn.inside_share:.0%} inside the image, the rest in the padding"
    )
    return (
        f"layer {drawn.layer} unit ({r}, {c}): field rows {top}..{bottom}, columns "
        f"{left}..{right} of the {height} x {width} input ({bottom - top + 1} x "
        f"{right - left + 1}, {where}); {drawn.image} ({drawn.image_text}) stands for the "
        f"input; wrote {drawn.output}"
    )
