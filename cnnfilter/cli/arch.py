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
    choices_help,
    example,
)
from cnnfilter.cli._output import Notes, emit_json
from cnnfilter.errors import UsageError

#: ``--fit`` choices (the table lives in cnnfilter.render.FIT_MODES; kept here as text so that
#: the CLI does not import NumPy at start-up).
FIT_HELP = {
    "crop": "the centred part with the input's aspect (torchvision Resize + CenterCrop)",
    "letterbox": "the whole photo, with gray bars to the input's aspect",
}
Fit = choice_enum("Fit", FIT_HELP)
FIT_DONE = {"crop": "centre-cropped to the input's aspect", "letterbox": "letterboxed"}

Compare = choice_enum(
    "Compare", {"locally-connected": "each conv layer's parameters with unshared weights"}
)

ArchFile = Annotated[
    Path,
    typer.Argument(
        metavar="ARCH",
        autocompletion=complete_arch,
        help="Layer file (arch.yaml), a model file (.onnx; Keras .keras or .json), - for "
        "stdin, or a built-in architecture such as resnet50 (see --list); format in "
        "docs/reference/arch-yaml.md.",
        dir_okay=False,  # not exists=True: it would refuse '-' and built-in names
    ),
]
OptionalArchFile = Annotated[
    Path | None,
    typer.Argument(
        metavar="ARCH",
        autocompletion=complete_arch,
        help="Layer file (arch.yaml), a model file (.onnx; Keras .keras or .json), - for "
        "stdin, or a built-in architecture such as resnet50 (see --list); format in "
        "docs/reference/arch-yaml.md.",
        dir_okay=False,
        show_default=False,
    ),
]
InputOption = Annotated[
    str | None,
    typer.Option(
        "--input",
        metavar="HxWxC",
        help="Replace the file's input: HxWxC, e.g. 224x224x3 (CxHxW with --channels-first); "
        "a model file's too (needed when its size is symbolic).",
    ),
]
ChannelsFirstOption = Annotated[
    bool, typer.Option("--channels-first", help="Read --input as CxHxW (PyTorch's order).")
]
DepthOption = Annotated[
    int | None,
    typer.Option(min=0, help="Show rows nested at most this deep; a block's row sums its layers."),
]
WidthOption = Annotated[
    int | None,
    typer.Option(
        "--width",
        min=40,
        help="Fit the table to this many columns (default: the terminal's width; piped "
        "output keeps every column).",
    ),
]
Dtype = choice_enum(
    "Dtype",
    {"float32": "4 bytes a value", "float16": "2 bytes a value", "bfloat16": "2 bytes a value"},
)
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


def _terminal_width(console, width: int | None) -> int | None:
    """``--width``, else the terminal's width, or ``None`` for a pipe or a file (full table)."""
    if width is not None:
        console.width = width
        return width
    return console.width if console.is_terminal else None


def _render(result, form: str, numeric, width: int | None = None) -> None:
    """Print a params or receptive-field result in ``form`` on stdout."""
    from cnnfilter.arch import report

    if form == "json":
        emit_json(result.report)
    elif form == "csv":
        print(report.to_csv(result.records()), end="")
    elif form == "markdown":
        headers, rows = result.table(indent="· ")
        print(f"**{result.title}**\n")
        right = {i for i, header in enumerate(headers) if header in numeric}
        print(report.to_markdown(headers, rows, right=right))
        print()
        print("\n".join(f"- {label}: {text}" for label, text in result.footer()))
    else:
        console = stdout_console()
        fit = _terminal_width(console, width)
        headers, rows = result.table(width=fit)
        _print_table(console, result.title, headers, rows, result.footer(), numeric, fit)


def _print_table(console, title: str, headers, rows, footer, numeric, width=None) -> None:
    import textwrap

    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, header in enumerate(headers):
        # Numbers and header words never fold: only the layer names give way.
        natural = max([len(header)] + [len(row[i]) for row in rows])
        table.add_column(
            header,
            justify="right" if header in numeric else "left",
            min_width=None if i == 0 else natural,
        )
    for row in rows:
        table.add_row(*row)
    print_table(console, table)
    for label, text in footer:
        line = f"{label}: {text}"
        if width is not None:  # whole words on each line of a narrow terminal
            line = textwrap.fill(line, width, subsequent_indent="  ", break_on_hyphens=False)
        console.print(line, markup=False)


@app.command(epilog=example("cnnfilter params samples/arch/vgg16.yaml --markdown"))
@guarded
def params(
    arch: OptionalArchFile = None,
    json_out: JsonOption = False,
    csv: CsvOption = False,
    markdown: MarkdownOption = False,
    list_builtin: Annotated[
        bool, typer.Option("--list", help="List the built-in architectures and exit.")
    ] = False,
    input_text: InputOption = None,
    channels_first: ChannelsFirstOption = False,
    width: WidthOption = None,
    depth: DepthOption = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Images per batch for the memory estimate.")
    ] = 1,
    dtype: Annotated[Dtype, typer.Option(help="Value type for the memory estimate.")] = "float32",
    compare: Annotated[
        Compare | None,
        typer.Option(
            help="Add a column with each conv layer's parameters if its weights were unshared "
            "(locally connected, one kernel per output position)."
        ),
    ] = None,
    to_yaml: Annotated[
        Path | None,
        typer.Option(
            "--to-yaml",
            help="Also write the network as an arch.yaml file (a model file whose every node "
            "has an arch.yaml kind), to edit and recount.",
            dir_okay=False,
        ),
    ] = None,
    force: ForceOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Per-layer shapes, kernel, parameters and MACs of a layer stack or a model file
    (.onnx, Keras .keras or .json); totals and memory."""
    from cnnfilter.tasks import arch as task

    notes = Notes.of(quiet=quiet, verbose=verbose)
    form = _report_form(json_out, csv, markdown)
    if list_builtin:
        _print_builtin(task.builtin_architectures(), form)
        return
    if arch is None:
        raise UsageError("give a layer file, - or a built-in name (see --list)")
    shape = task.parse_input(input_text, channels_first=channels_first) if input_text else None
    result = task.params(
        arch,
        compare=compare is not None,
        input_shape=shape,
        depth=depth,
        batch_size=batch_size,
        dtype=getattr(dtype, "value", dtype),
    )
    if to_yaml is not None:
        task.write_yaml(result, to_yaml, force=force)
    for warning in result.warnings:
        notes.warn(f"Warning: {warning}")
    _render(result, form, task.PARAMS_NUMERIC, width)
    if to_yaml is not None:
        notes(f"wrote {to_yaml} (arch.yaml of {len(result.summary.rows)} rows)")


def _print_builtin(entries, form: str) -> None:
    if form == "json":
        emit_json({"architectures": [{"name": n, "description": d} for n, d in entries]})
        return
    width = max(len(name) for name, _ in entries)
    for name, description in entries:
        print(f"{name:<{width}}  {description}")


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
    input_text: InputOption = None,
    channels_first: ChannelsFirstOption = False,
    width: WidthOption = None,
    depth: DepthOption = None,
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
    fit: Annotated[
        Fit, typer.Option(help=choices_help(FIT_HELP, "A photo of another aspect than the input:"))
    ] = Fit["crop"],
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
    shape = task.parse_input(input_text, channels_first=channels_first) if input_text else None
    fields = task.receptive_field(arch, input_shape=shape, depth=depth)
    if image is not None:
        drawn = task.draw_field(
            fields, image, layer, _unit(unit) if unit is not None else None, output, fmt=fmt,
            force=force, max_pixels=max_pixels, fit=Fit(fit).value,
        )  # fmt: skip
    warnings = fields.warnings if image is None else fields.warnings_through(layer)
    for warning in warnings:  # after the drawing, so that its errors stand alone
        notes.warn(f"Warning: {warning}")
    if image is not None:
        notes(_drawn_line(drawn))
    else:
        _render(fields, form, task.FIELDS_NUMERIC, width)


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
        f"{right - left + 1}, {where}); {drawn.image} ({drawn.image_text}"
        f"{', ' + FIT_DONE[drawn.fit] if drawn.fit else ''}) stands for the input; wrote "
        f"{drawn.output}"
    )
