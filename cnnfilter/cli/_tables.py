"""Tables on stdout in the form the reader needs: boxes for people, plain text for programs.

* ``box`` (the default on a terminal): a Rich table whose columns wrap at
  spaces only, so a number or a header word is never split; when even that
  does not fit the terminal (60 columns and a wide table), each row is printed
  as ``column: value`` lines instead.
* ``plain`` (the default to a pipe or a file): fixed-width columns separated
  by two spaces, no box drawing, one line per row at its natural width, for
  ``grep``, ``awk`` and ``cut``.
* ``tsv``: a header line and rows, tab-separated (``--table tsv``).

Every table given to :func:`render_table` is a ``rich.table.Table`` whose
cells are plain strings (the form the commands build), or a :class:`Rows`:
the same table without Rich, which a listing builds so that printing it to a
pipe or a file never imports Rich (:func:`table_text`; Rich only draws the
boxes on a terminal, :meth:`Rows.to_rich`).
"""

from __future__ import annotations

import textwrap

__all__ = ["TABLE_FORMS", "Rows", "render_table", "table_text"]

#: ``--table`` choices and what each prints.
TABLE_FORMS = {
    "box": "Rich box drawing (the default on a terminal)",
    "plain": "fixed-width columns, no box drawing (the default to a pipe or file)",
    "tsv": "tab-separated values with a header line",
}


class _Column:
    def __init__(self, header: str, justify: str) -> None:
        self.header = header
        self.justify = justify
        self._cells: list[str] = []  # the name Rich's Column gives its cells


class Rows:
    """A table of plain strings with the parts of a ``rich.table.Table`` this module reads.

    ``Rows(title=..., title_justify="left")``, ``add_column(header,
    justify=...)`` and ``add_row(*cells)`` as Rich's; :meth:`to_rich` is the
    Rich table for the box form.
    """

    def __init__(
        self, title: str | None = None, caption: str | None = None, title_justify: str = "center"
    ) -> None:
        self.title = title
        self.caption = caption
        self.title_justify = title_justify
        self.columns: list[_Column] = []

    def add_column(self, header: str, justify: str = "left") -> None:
        self.columns.append(_Column(header, justify))

    def add_row(self, *cells: str) -> None:
        for column, cell in zip(self.columns, cells, strict=True):
            column._cells.append(cell)

    def to_rich(self):
        """The same table as a ``rich.table.Table``."""
        from rich.table import Table

        table = Table(title=self.title, caption=self.caption, title_justify=self.title_justify)
        for column in self.columns:
            table.add_column(column.header, justify=column.justify)
        for row in zip(*(c._cells for c in self.columns), strict=True):
            table.add_row(*row)
        return table


def table_text(table, form: str = "plain") -> str:
    """``table`` (Rich's or :class:`Rows`) as ``plain`` or ``tsv`` text."""
    return _tsv(table) if form == "tsv" else _plain(table)


def _grid(table) -> tuple[list[str], list[list[str]], list[bool]]:
    headers = [str(c.header) for c in table.columns]
    cells = [[str(cell) for cell in c._cells] for c in table.columns]
    rows = [list(row) for row in zip(*cells, strict=True)] if cells else []
    right = [c.justify == "right" for c in table.columns]
    return headers, rows, right


def _plain(table) -> str:
    headers, rows, right = _grid(table)
    widths = [max(len(x) for x in [h, *(r[i] for r in rows)]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        cells = [
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ]
        return "  ".join(cells).rstrip()

    out = [str(table.title)] if table.title else []
    out += [line(headers), *(line(r) for r in rows)]
    if table.caption:
        out.append(str(table.caption))
    return "\n".join(out) + "\n"


def _tsv(table) -> str:
    headers, rows, _ = _grid(table)
    clean = [[v.replace("\t", " ").replace("\n", " ") for v in r] for r in [headers, *rows]]
    return "\n".join("\t".join(r) for r in clean) + "\n"


def _records(table, width: int) -> str:
    """Each row as ``column: value`` lines, wrapped at spaces: for a too narrow terminal."""
    headers, rows, _ = _grid(table)
    label = max(len(h) for h in headers) + 2
    out = textwrap.wrap(str(table.title), width=width) if table.title else []
    for row in rows:
        out.append("")
        for header, value in zip(headers, row, strict=True):
            room = width - label
            if any(len(word) > room for word in value.split()):  # a long word: on its own line
                out.append(f"{header}:")
                out += textwrap.wrap(value, width=width, break_long_words=False) or [""]
                continue
            lines = textwrap.wrap(
                value, width=room, break_long_words=False, break_on_hyphens=False
            ) or [""]  # fmt: skip
            out.append(f"{header + ':':<{label}}{lines[0]}")
            out += [" " * label + more for more in lines[1:]]
    if table.caption:
        out += ["", str(table.caption)]
    return "\n".join(out) + "\n"


def render_table(console, table, form: str | None = None) -> None:
    """Print ``table`` on ``console`` as ``form`` (default: box on a terminal, else plain)."""
    form = form or ("box" if console.is_terminal else "plain")
    if form == "plain":
        console.file.write(_plain(table))
    elif form == "tsv":
        console.file.write(_tsv(table))
    else:
        _box(console, table)


def _box(console, table) -> None:
    for column in table.columns:
        column.no_wrap = False
        column.overflow = "fold"  # wraps at spaces; folds only a word wider than the column
        words = [str(column.header), *(str(c) for c in column._cells)]
        if column.justify == "right":  # numbers: never split
            column.min_width = max(len(w) for w in words)
        else:  # text: split between words only
            column.min_width = max(len(w) for text in words for w in text.split() or [""])
    # each column: its widest word, one space either side, one rule; plus the last rule
    needed = sum(c.min_width + 3 for c in table.columns) + 1
    if needed > console.width:
        console.file.write(_records(table, console.width))
    else:
        console.print(table)
