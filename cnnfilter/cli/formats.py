"""``cnnfilter formats``: the image formats this installation reads and writes."""

from __future__ import annotations

from cnnfilter.cli._app import app, guarded, print_table, stdout_console
from cnnfilter.cli._options import JsonOption, QuietOption, VerboseOption
from cnnfilter.cli._output import Notes, emit_json


@app.command()
@guarded
def formats(
    json_out: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """List the image formats read and written, with bit depths and the metadata kept."""
    from cnnfilter.tasks.formats import formats_document

    notes = Notes.of(quiet=quiet, verbose=verbose)
    doc = formats_document()
    if json_out:
        emit_json(doc)
        return
    from rich.table import Table

    table = Table("format", "extensions", "read", "written", "lossy", "metadata kept")
    for f in doc["formats"]:
        table.add_row(
            f["name"],
            " ".join(f["extensions"]),
            "yes" if f["read"] else "no",
            ", ".join(f["written"]) or "-",
            "yes" if f["lossy"] else "no",
            ", ".join(f["metadata"]) or "-",
        )
    print_table(stdout_console(), table)
    if not doc["codecs_16bit"]:
        notes("16-bit colour PNG/TIFF need: pip install 'cnnfilter[16bit]'")
