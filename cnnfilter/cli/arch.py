"""``cnnfilter params`` and ``cnnfilter receptive-field``: the layer-stack calculator.

Each command parses the arch.yaml once, calls :mod:`cnnfilter.arch` and
renders; results go to stdout, notes and warnings to stderr.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded, note, print_table, stdout_console
from cnnfilter.cli._parse import MaxPixelsOption
from cnnfilter.errors import UsageError


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class Compare(str, Enum):
    locally_connected = "locally-connected"


ArchFile = Annotated[
    Path,
    typer.Argument(
        help="Layer file (arch.yaml), or - for stdin; format in the README, examples in "
        "samples/arch/.",
        dir_okay=False,  # not exists=True: it would refuse '-'; load_network reports a missing file
    ),
]
FormatOption = Annotated[
    Format, typer.Option("--format", "-f", help="table (Rich), json, csv or markdown.")
]
_NUMERIC = {3, 4, 5, 6, 7}


def _trace(arch: Path):
    from cnnfilter.arch import load_network
    from cnnfilter.arch.shapes import trace

    return trace(load_network(arch))


def _print_table(title: str, headers, rows, footer: list[tuple[str, str]]) -> None:
    from rich.table import Table

    console = stdout_console()
    table = Table(title=title, title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i in _NUMERIC else "left")
    for row in rows:
        table.add_row(*row)
    print_table(console, table)
    for label, text in footer:
        console.print(f"{label}: {text}")


@app.command()
@guarded
def params(
    arch: ArchFile,
    format: FormatOption = Format.table,
    compare: Annotated[
        Compare | None,
        typer.Option(
            help="Add a column with each conv layer's parameters if its weights were unshared "
            "(locally connected, one kernel per output position)."
        ),
    ] = None,
) -> None:
    """Per-layer output shape, parameters, MACs and memory of a layer stack, and totals.

    Example: cnnfilter params samples/arch/vgg16.yaml --format markdown
    """
    import json

    from cnnfilter.arch import report
    from cnnfilter.arch.calc import summarize

    summary = summarize(_trace(arch))
    with_lc = compare is Compare.locally_connected
    if format is Format.json:
        print(json.dumps(report.params_document(summary, compare=with_lc), indent=2))
    elif format is Format.csv:
        records = report.params_records(summary, compare=with_lc)
        total = {key: "" for key in records[0]} | {
            "name": "total",
            "parameters": summary.parameters,
            "non_trainable": summary.non_trainable,
            "macs": summary.macs,
            "activation_bytes": summary.activation_bytes,
            "share": 1.0 if summary.parameters else 0.0,
        }
        if with_lc:
            total["locally_connected_parameters"] = summary.locally_connected
        print(report.to_csv([*records, total]), end="")
    else:
        totals = report.params_totals(summary, compare=with_lc)
        net = summary.trace.network
        title = f"{net.name}: input {net.input}"
        if format is Format.markdown:
            headers, rows = report.params_table(summary, compare=with_lc, indent="· ")
            print(f"**{title}**\n")
            print(report.to_markdown(headers, rows, right=_NUMERIC))
            print()
            print("\n".join(f"- {label}: {text}" for label, text in totals))
        else:
            headers, rows = report.params_table(summary, compare=with_lc)
            _print_table(title, headers, rows, totals)


def _unit(text: str) -> tuple[int, int]:
    parts = text.replace(" ", "").split(",")
    try:
        row, col = (int(p) for p in parts)
    except ValueError:
        raise UsageError(f"--unit must be ROW,COL (e.g. 7,7), got {text!r}") from None
    return row, col


@app.command("receptive-field")
@guarded
def receptive_field(
    arch: ArchFile,
    format: FormatOption = Format.table,
    image: Annotated[
        Path | None,
        typer.Option(help="Photo to draw one unit's receptive field on (needs --layer and -o)."),
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer whose unit is drawn.")] = None,
    unit: Annotated[
        str | None,
        typer.Option(help="ROW,COL of the unit in the layer's output (default: the centre)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Picture to write (PNG, JPEG...).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output.")] = False,
    max_pixels: MaxPixelsOption = None,
) -> None:
    """Receptive field size, jump, start and effective padding of every layer.

    Recurrence and terms of Araujo, Norris & Sim, "Computing Receptive Fields
    of Convolutional Neural Networks" (Distill 2019).

    Example: cnnfilter receptive-field samples/arch/vgg16.yaml --image
    samples/astronaut.png --layer conv5_3 --unit 7,7 -o rf.png
    """
    import json

    from cnnfilter.arch import report
    from cnnfilter.arch.receptive import receptive_fields

    drawing = (layer, unit, output)
    if image is None and any(v is not None for v in drawing):
        raise UsageError("--layer, --unit and --output draw on a photo: add --image PATH")
    if image is not None and (layer is None or output is None):
        raise UsageError("--image needs --layer NAME and --output PATH (-o)")
    if image is not None:
        from cnnfilter import imageio

        imageio.check_input_file(image)
    fields = receptive_fields(_trace(arch))
    if image is not None:
        _draw(fields, image, layer, unit, output, force=force, max_pixels=max_pixels)
    for warning in fields.warnings:  # after the drawing, so that its errors stand alone
        note(f"Warning: {warning}")
    if image is not None:
        return
    if format is Format.json:
        print(json.dumps(report.fields_document(fields), indent=2))
    elif format is Format.csv:
        print(report.to_csv(report.fields_records(fields)), end="")
    else:
        net = fields.trace.network
        title = f"{net.name}: input {net.input}"
        footer = [
            ("source", report.SOURCE),
            (
                "start",
                "input coordinate of the centre of unit 0's field (pixel centres at 0, 1, "
                "...); unit i is centred at start + i j",
            ),
        ]
        if any(row.field.approximate for row in fields.rows):
            footer.append(("~", "approximate: adaptive pooling with unequal windows"))
        if format is Format.markdown:
            headers, rows = report.fields_table(fields, indent="· ")
            print(f"**{title}**\n")
            print(report.to_markdown(headers, rows, right={3, 4, 5, 6}))
            print()
            print("\n".join(f"- {label}: {text}" for label, text in footer))
        else:
            headers, rows = report.fields_table(fields)
            _print_table(title, headers, rows, footer)


def _draw(
    fields,
    image: Path,
    layer: str,
    unit: str | None,
    output: Path,
    *,
    force: bool,
    max_pixels: int | None,
):
    import difflib

    from cnnfilter import imageio
    from cnnfilter.arch.layers import Flatten
    from cnnfilter.cli._parse import check_output_path
    from cnnfilter.render import receptive_field_picture

    row = fields.find(layer)
    if row is None:
        names = [r.step.layer.name for r in fields.rows]
        close = difflib.get_close_matches(layer, names, n=3) or difflib.get_close_matches(
            layer, names, n=3, cutoff=0
        )
        hint = f"did you mean {', '.join(close)}?"
        raise UsageError(
            f"--layer: no layer named {layer!r} in {fields.trace.network.source}; " + hint
        )
    step = row.step
    grid_shape = step.input if isinstance(step.layer, Flatten) else step.output
    grid = (1, 1) if grid_shape.flat else (grid_shape.height, grid_shape.width)
    r, c = _unit(unit) if unit is not None else (grid[0] // 2, grid[1] // 2)
    if not (0 <= r < grid[0] and 0 <= c < grid[1]):
        raise UsageError(
            f"--unit {r},{c} is outside layer {layer!r}, whose units form a "
            f"{grid[0]} x {grid[1]} grid (rows 0..{grid[0] - 1}, "
            f"columns 0..{grid[1] - 1})"
        )
    imageio.output_format(output)  # an unknown extension fails before the work
    check_output_path(output, [image], force=force)
    net_input = fields.trace.network.input
    box = row.field.box(r, c)
    loaded = imageio.read_image(image, max_pixels=max_pixels or imageio.DEFAULT_MAX_PIXELS)
    picture = receptive_field_picture(
        loaded.pixels, box, (net_input.height, net_input.width), max_value=loaded.max_value
    )
    imageio.write_image(output, picture, force=force)
    top, left, bottom, right = box
    inside = max(0, min(bottom, net_input.height - 1) - max(top, 0) + 1) * max(
        0, min(right, net_input.width - 1) - max(left, 0) + 1
    )
    share = inside / ((bottom - top + 1) * (right - left + 1))
    note(
        f"layer {layer} unit ({r}, {c}): field rows {top}..{bottom}, columns {left}..{right} of "
        f"the {net_input.height} x {net_input.width} input ({bottom - top + 1} x "
        f"{right - left + 1}, "
        + (
            "all inside the image"
            if share == 1
            else f"{share:.0%} inside the image, the rest in the padding"
        )
        + f"); "
        f"{image} ({loaded.shape_text}) stands for the input; wrote {output}"
    )
