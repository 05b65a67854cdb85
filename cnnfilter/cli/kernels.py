"""``cnnfilter kernels``: the named kernels, or one kernel in detail."""

from __future__ import annotations

from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded, print_tables, stdout_console
from cnnfilter.cli._complete import complete_kernel
from cnnfilter.cli._options import (
    DxOption,
    DyOption,
    JsonOption,
    KsizeOption,
    QuietOption,
    TableOption,
    VerboseOption,
    example,
)
from cnnfilter.cli._output import Notes, emit_json


@app.command(epilog=example("cnnfilter kernels Laplacian:2"))
@guarded
def kernels(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="[KERNEL]",
            help="One kernel in detail (e.g. sobel-x, gaussian:7:1.5, sobel_h, Laplacian:2).",
            autocompletion=complete_kernel,
            show_default=False,
        ),
    ] = None,
    dx: DxOption = None,
    dy: DyOption = None,
    ksize: KsizeOption = None,
    json_out: JsonOption = False,
    table: TableOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """List the named kernels (matrix, sum, separability, source) and the names other tools
    use, with the convention of each; or show one kernel."""
    from cnnfilter.foreign_kernels import opencv_sobel_spec
    from cnnfilter.kernels import resolve_kernel
    from cnnfilter.tasks.kernels import kernel_document, stored_registry_document

    notes = Notes.of(quiet=quiet, verbose=verbose)
    form = _table_form(table)
    name = opencv_sobel_spec(name, dx, dy, ksize)
    if name is not None:
        k = resolve_kernel(name)
        for line in k.notes:
            notes(line)
        doc = kernel_document(k)
        if json_out:
            emit_json(doc)
        else:
            _print_kernel(doc, k.weights)
    elif json_out:
        emit_json(stored_registry_document())
    else:
        _print_registry(stored_registry_document(), form)


def _table_form(table: str | None) -> str | None:
    from cnnfilter.cli._tables import TABLE_FORMS
    from cnnfilter.errors import UsageError

    if table is not None and table not in TABLE_FORMS:
        raise UsageError(f"table= must be one of {', '.join(TABLE_FORMS)}, got {table!r}")
    return table


def _print_kernel(doc: dict, weights) -> None:
    """One kernel: its matrix, sum, separability, description, source and convention."""
    from cnnfilter.kernels import DRAWN_UNFLIPPED, format_number
    from cnnfilter.render import kernel_text

    console = stdout_console()
    console.print(f"{doc['name']} ({'x'.join(map(str, doc['shape']))})")
    console.print(kernel_text(weights), markup=False)
    console.print(f"sum: {format_number(doc['sum'])}")
    factors = doc["factors"]
    if factors is None:
        console.print("separable: no")
    else:
        col = ", ".join(format_number(round(v, 6)) for v in factors["column"])
        row = ", ".join(format_number(round(v, 6)) for v in factors["row"])
        console.print(f"separable: yes, column [{col}] x row [{row}]")
    if doc["description"]:
        console.print(f"what: {doc['description']}")
    if doc["source"]:
        console.print(f"source: {doc['source']}")
    if doc["name"] in DRAWN_UNFLIPPED:
        console.print(
            "drawn as the pattern it matches: detect and apply --op correlate use it as "
            "drawn; apply's default convolution rotates it 180 degrees"
        )
    else:
        console.print("written for convolution; with --op correlate it is applied unflipped")


def _print_registry(doc: dict, form: str | None) -> None:
    """The registry as a table, then the names of other tools with their conventions."""
    print_tables(registry_tables(doc), form)


def registry_tables(doc: dict) -> list:
    """The two tables of ``cnnfilter kernels`` (plain strings; no NumPy, no Rich)."""
    from cnnfilter.cli._tables import Rows
    from cnnfilter.kernels import format_number

    table = Rows(
        title="Named kernels (written for convolution; NAME:PARAMS: the size with the defaults)",
        title_justify="left",
    )
    for col in ("name", "size", "sum", "separable", "what", "source"):
        table.add_column(col, justify="right" if col == "sum" else "left")
    for entry in doc["kernels"]:
        table.add_row(
            entry["usage"],
            "x".join(map(str, entry["shape"])),
            format_number(round(entry["sum"], 10)),
            "yes" if entry["separable"] else "no",
            entry["description"],
            entry["source"],
        )
    other = Rows(
        title="Names from other tools (apply's default convolution gives the tool's result "
        "with the --boundary the convention names)",
        title_justify="left",
    )
    for col in ("name", "tool", "what", "convention"):
        other.add_column(col)
    for entry in doc["aliases"]:
        other.add_row(entry["usage"], entry["tool"], entry["what"], entry["convention"])
    return [table, other]
