"""``cnnfilter formats``: the image formats this installation reads and writes."""

from __future__ import annotations

from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded, print_table, stdout_console
from cnnfilter.cli._options import JsonOption, QuietOption, VerboseOption
from cnnfilter.cli._output import Notes, emit_json

#: Column headings, shared by the terminal table and ``--markdown``.
HEADERS = ["format", "extensions", "read", "written", "bits", "lossy", "metadata kept"]


def format_rows(doc: dict) -> list[list[str]]:
    """One row of text per format of the ``formats --json`` document, as :data:`HEADERS`."""
    rows = []
    for f in doc["formats"]:
        read = "no"
        if f["read"]:
            read = "Pillow's modes" if f["name"] != "NPY" else "any shape and dtype"
            if f["read_deep"]:
                read += ", " + ", ".join(f["read_deep"])
        rows.append(
            [
                f["name"],
                " ".join(f["extensions"]),
                read,
                ", ".join(f["written"]) or "-",
                ", ".join(map(str, f["bits"])) or "-",
                "yes" if f["lossy"] else "no",
                ", ".join(f["metadata"]) or "-",
            ]
        )
    return rows


@app.command()
@guarded
def formats(
    json_out: JsonOption = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the table as Markdown on stdout.")
    ] = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """List the image formats read and written, with bit depths and the metadata kept.

    Measured on the installed Pillow (each mode written and read back once),
    plus the 16-bit colour kinds of PNG and TIFF when cnnfilter[16bit] is
    installed. "Pillow's modes": what Pillow decodes, mapped as in
    docs/reference/formats.md (palette to colour, CMYK to RGB...).

    Example: cnnfilter formats --markdown
    """
    from cnnfilter.tasks.formats import formats_document

    notes = Notes.of(quiet=quiet, verbose=verbose)
    if json_out and markdown:
        raise typer.BadParameter("give one of --json and --markdown", param_hint="--markdown")
    doc = formats_document()
    if json_out:
        emit_json(doc)
        return
    rows = format_rows(doc)
    if markdown:
        from cnnfilter.arch.report import to_markdown

        typer.echo(to_markdown(HEADERS, rows))
    else:
        from rich.table import Table

        table = Table(*HEADERS)
        for row in rows:
            table.add_row(*row)
        print_table(stdout_console(), table)
    if not doc["codecs_16bit"]:
        notes("16-bit colour PNG/TIFF need: pip install 'cnnfilter[16bit]'")
