"""``cnnfilter kernels``: the named kernels, or one kernel in detail."""

from __future__ import annotations

from typing import Annotated

import typer

from cnnfilter.cli._app import (
    app,
    guarded,
    plain_table,
    print_table,
    stdout_console,
    stdout_is_plain,
)
from cnnfilter.cli._options import JsonOption, QuietOption, VerboseOption
from cnnfilter.cli._output import Notes, emit_json


@app.command()
@guarded
def kernels(
    name: Annotated[
        str | None, typer.Argument(help="One kernel (e.g. sobel-x or gaussian:7:1.5).")
    ] = None,
    json_out: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """List the named kernels: matrix, sum, separability and source."""
    from cnnfilter.kernels import resolve_kernel
    from cnnfilter.tasks.kernels import kernel_document, registry_document, registry_listing

    Notes.of(quiet=quiet, verbose=verbose)  # nothing to say on stderr; -q and -v are checked
    if name is not None:
        k = resolve_kernel(name)
        doc = kernel_document(k)
        if json_out:
            emit_json(doc)
        else:
            _print_kernel(doc, k.weights)
    elif json_out:
        emit_json(registry_document())
    else:
        _print_registry(registry_listing())


def _print_kernel(doc: dict, weights) -> None:
    """One kernel: its matrix, sum, separability, description and source."""
    from cnnfilter.render import format_number, kernel_text

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
    console.print("written for convolution; with --op correlate it is applied unflipped")


def _print_registry(listing: list[list[str]]) -> None:
    """The registry as a table: plain text on a pipe (no Rich, no NumPy), Rich in a terminal."""
    title = "Named kernels (written for convolution)"
    header = ["name", "size", "sum", "separable", "what", "source"]
    if stdout_is_plain():
        typer.echo(plain_table(title, header, listing))
        return
    from rich.table import Table

    table = Table(title=title)
    for col in header:
        table.add_column(col)
    for row in listing:
        table.add_row(*row)
    print_table(console=stdout_console(), table=table)
