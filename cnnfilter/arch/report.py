"""Turn a :class:`~cnnfilter.arch.calc.Summary` or a
:class:`~cnnfilter.arch.receptive.ReceptiveFields` into records, JSON, CSV
and Markdown. Pure functions: data in, text or plain Python data out.

The JSON documents are a stable interface (documented in docs/reference/json.md):

* ``params``: ``network``, ``source``, ``input`` ``{height, width,
  channels}``, ``conventions`` (text), ``layers`` (list of ``{name, type,
  depth, output, parameters, non_trainable, macs, activation_bytes, share}``
  plus ``locally_connected_parameters`` with ``compare=True``) and ``total``
  ``{parameters, trainable, non_trainable, parameters_with_running_stats,
  macs, parameter_bytes, activation_bytes, input_bytes}`` (plus
  ``locally_connected_parameters``).
* ``receptive-field``: ``network``, ``source``, ``input``, ``reference``,
  ``layers`` (list of ``{name, type, depth, output, receptive_field, jump,
  start, effective_padding, approximate}``, each spatial value a
  ``[rows, cols]`` pair) and ``warnings``.

``output`` is ``[height, width, channels]``, or ``[features]`` when flat.
"""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from typing import Any

from cnnfilter.arch.calc import Summary
from cnnfilter.arch.layers.base import Shape
from cnnfilter.arch.receptive import SOURCE, ReceptiveFields

__all__ = [
    "CONVENTIONS",
    "human_bytes",
    "human_count",
    "params_document",
    "params_records",
    "fields_document",
    "fields_records",
    "to_csv",
    "to_markdown",
]

CONVENTIONS = {
    "parameters": (
        "weights and biases, BatchNorm scale and shift included: PyTorch's count and the "
        "published totals (= trainable)"
    ),
    "non_trainable": (
        "BatchNorm running mean and variance; Keras' 'Total params' includes them "
        "(parameters_with_running_stats), PyTorch's count does not"
    ),
    "macs": (
        "multiply-accumulates of conv, depthwise, locally-connected and dense weights for one "
        "image; biases and parameter-free layers (pooling, activations, BatchNorm, additions) "
        "excluded: torchvision's 'GFLOPS' convention"
    ),
    "memory": (
        "float32, batch of 1; parameter memory includes running statistics; activation memory "
        "is the sum of every layer's output, the input excluded"
    ),
}


def human_count(value: float, unit: str = "") -> str:
    """``15470264320`` -> ``"15.47 G"``; small values as they are.

    >>> human_count(15_470_264_320), human_count(950)
    ('15.47 G', '950')
    """
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}"
    return f"{value:g}{' ' + unit if unit else ''}"


def human_bytes(value: int) -> str:
    """Bytes in binary units: ``553430176`` -> ``"527.79 MiB"``.

    >>> human_bytes(553_430_176), human_bytes(512)
    ('527.79 MiB', '512 B')
    """
    for factor, prefix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if value >= factor:
            return f"{value / factor:.2f} {prefix}"
    return f"{value} B"


def _shape(shape: Shape) -> list[int]:
    return [shape.channels] if shape.flat else [shape.height, shape.width, shape.channels]


def _input(summary_or_fields) -> dict[str, int]:
    shape = summary_or_fields.trace.network.input
    return {"height": shape.height, "width": shape.width, "channels": shape.channels}


def params_records(summary: Summary, *, compare: bool = False) -> list[dict[str, Any]]:
    """One plain dict per table row (raw numbers, ``share`` as a fraction).

    ``parameters``, ``non_trainable``, ``macs`` are the layer's own (0 for a group:
    a merge or a block use); ``total_parameters`` and ``total_macs`` are a group's
    sums over the layers inside it (``None`` for a layer).
    """
    records = []
    for row in summary.rows:
        step = row.step
        record = {
            "name": step.layer.name,
            "type": step.kind,
            "depth": row.depth,
            "input": _shape(step.input),
            "output": _shape(step.output),
            "kernel": step.layer.kernel(step),
            "parameters": row.cost.parameters,
            "non_trainable": row.cost.non_trainable,
            "macs": row.cost.macs,
            "activation_bytes": row.cost.activation_bytes,
            "share": summary.share(row),
        }
        group = row.total is not None
        record["total_parameters"] = row.total.parameters if group else None
        record["total_macs"] = row.total.macs if group else None
        if compare:
            record["locally_connected_parameters"] = row.cost.locally_connected
        records.append(record)
    return records


def params_document(
    summary: Summary, *, compare: bool = False, batch_size: int = 1, dtype: str = "float32"
) -> dict[str, Any]:
    """The ``params`` JSON report (see the module docstring); ``memory`` in bytes for
    ``batch_size`` images of ``dtype`` (:meth:`Summary.memory`)."""
    total = {
        "parameters": summary.parameters,
        "trainable": summary.parameters,
        "non_trainable": summary.non_trainable,
        "parameters_with_running_stats": summary.parameters + summary.non_trainable,
        "macs": summary.macs,
        "parameter_bytes": summary.parameter_bytes,
        "activation_bytes": summary.activation_bytes,
        "input_bytes": summary.input_bytes,
    }
    if compare:
        total["locally_connected_parameters"] = summary.locally_connected
    memory = {"batch_size": batch_size, "dtype": dtype}
    memory.update(summary.memory(batch_size=batch_size, dtype=dtype))
    network = summary.trace.network
    return {
        "network": network.name,
        "source": network.source,
        "input": _input(summary),
        "conventions": dict(CONVENTIONS),
        "layers": params_records(summary, compare=compare),
        "total": total,
        "memory": memory,
    }


def _json_number(value: int | Fraction) -> int | float:
    value = Fraction(value)
    return int(value) if value.denominator == 1 else float(value)


def fields_records(fields: ReceptiveFields) -> list[dict[str, Any]]:
    """One plain dict per layer: ``[rows, cols]`` pairs for each field value."""
    records = []
    for row in fields.rows:
        f = row.field
        records.append(
            {
                "name": row.step.layer.name,
                "type": row.step.kind,
                "depth": row.depth,
                "output": _shape(row.step.output),
                "receptive_field": [_json_number(f.rows.size), _json_number(f.cols.size)],
                "largest_receptive_field": (
                    None if row.largest is None else [_json_number(v) for v in row.largest]
                ),
                "jump": [_json_number(f.rows.jump), _json_number(f.cols.jump)],
                "start": [_json_number(f.rows.start), _json_number(f.cols.start)],
                "effective_padding": [_json_number(f.rows.padding), _json_number(f.cols.padding)],
                "approximate": f.approximate,
            }
        )
    return records


def fields_document(fields: ReceptiveFields) -> dict[str, Any]:
    """The ``receptive-field`` JSON report."""
    network = fields.trace.network
    return {
        "network": network.name,
        "source": network.source,
        "input": _input(fields),
        "reference": SOURCE,
        "layers": fields_records(fields),
        "warnings": list(fields.warnings),
    }


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return "x".join(str(v) for v in value)
    if value is None:
        return ""
    return str(value)


def to_csv(records: list[dict[str, Any]]) -> str:
    """Records as CSV with a header row; lists are written ``a x b`` as ``axb``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(records[0]))
    for record in records:
        writer.writerow([_cell(v) for v in record.values()])
    return buffer.getvalue()


def to_markdown(headers: list[str], rows: list[list[str]], *, right: set[int] = frozenset()) -> str:
    """A GitHub Markdown table; columns whose index is in ``right`` align right.

    >>> print(to_markdown(["a", "b"], [["x", "1"]], right={1}))
    | a | b |
    | --- | ---: |
    | x | 1 |
    """

    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    rule = ["---:" if i in right else "---" for i in range(len(headers))]
    return "\n".join([line(headers), "| " + " | ".join(rule) + " |", *map(line, rows)])


def _pair_text(a: int | Fraction, b: int | Fraction) -> str:
    text_a, text_b = (str(_json_number(Fraction(v))) for v in (a, b))
    return text_a if text_a == text_b else f"{text_a} x {text_b}"


#: Columns of the ``params`` table; numbers from ``parameters`` on.
PARAMS_HEADERS = [
    "layer",
    "type",
    "input",
    "output",
    "kernel",
    "parameters",
    "non-trainable",
    "MACs",
    "share",
]
#: Short headers, used when the full ones do not fit the terminal.
SHORT_HEADERS = {"parameters": "params", "non-trainable": "non-train", "kernel": "kernel"}
#: Which columns go first when the table is wider than the terminal (documented in
#: docs/params.md): the input shape, the kernel, the share, the non-trainable count,
#: the type. Layer, output, parameters and MACs always stay.
PARAMS_DROP_ORDER = ["input", "kernel", "share", "non-trainable", "type"]


def params_table(
    summary: Summary, *, compare: bool = False, indent: str = "  ", depth: int | None = None
) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted rows of the ``params`` table (numbers from column 5 on).

    A group's row (a merge or a block use) shows the totals of the layers inside
    it; ``depth`` hides the rows nested deeper than it (``--depth``).
    """
    headers = list(PARAMS_HEADERS)
    if compare:
        headers.append("if locally connected")
    rows = []
    for row in summary.rows:
        if depth is not None and row.depth > depth:
            continue
        step, shown = row.step, row.shown
        cells = [
            indent * row.depth + step.layer.name,
            step.kind,
            str(step.input),
            str(step.output),
            step.layer.kernel(step),
            f"{shown.parameters:,}",
            f"{shown.non_trainable:,}" if shown.non_trainable else "",
            human_count(shown.macs) if shown.macs else "",
            f"{100 * summary.share(row):.1f}%" if shown.parameters else "",
        ]
        if compare:
            lc = row.cost.locally_connected
            cells.append("" if lc is None else f"{lc:,}")
        rows.append(cells)
    return headers, rows


def _width(headers: list[str], rows: list[list[str]], keep: list[int]) -> int:
    """Width of a Rich table with a box: cells, one space either side, borders."""
    widths = [max([len(headers[i])] + [len(r[i]) for r in rows]) for i in keep]
    return sum(widths) + 3 * len(keep) + 1


def fit_columns(
    headers: list[str], rows: list[list[str]], width: int | None, drop_order: list[str]
) -> tuple[list[str], list[list[str]], list[int]]:
    """Drop and abbreviate columns until the table fits ``width`` characters.

    First the long headers are shortened (:data:`SHORT_HEADERS`), then the
    columns of ``drop_order`` are dropped one by one. ``width=None`` (a pipe or a
    file) keeps every column. Returns the headers, the rows and the kept column
    indices of the original table.
    """
    keep = list(range(len(headers)))
    if width is None or _width(headers, rows, keep) <= width:
        return headers, rows, keep
    original, headers = headers, [SHORT_HEADERS.get(h, h) for h in headers]
    for name in drop_order:
        if _width(headers, rows, keep) <= width:
            break
        if name in original:
            keep.remove(original.index(name))
    return [headers[i] for i in keep], [[r[i] for i in keep] for r in rows], keep


def params_totals(
    summary: Summary, *, compare: bool = False, batch_size: int = 1, dtype: str = "float32"
) -> list[tuple[str, str]]:
    """``(label, value and convention)`` lines printed under the table."""
    memory = summary.memory(batch_size=batch_size, dtype=dtype)
    batch = f"{dtype}, batch of {batch_size}"
    if summary.non_trainable:  # BatchNorm layers: say where their numbers went
        trainable = "trainable; PyTorch's count, BatchNorm scale and shift included"
        frozen = (
            "BatchNorm running mean and variance; with them, Keras' 'Total params': "
            f"{summary.parameters + summary.non_trainable:,}"
        )
    else:
        trainable = "trainable; PyTorch's count"
        frozen = "no BatchNorm running statistics: Keras' 'Total params' is the same"
    lines = [
        ("parameters", f"{summary.parameters:,} ({trainable})"),
        ("non-trainable", f"{summary.non_trainable:,} ({frozen})"),
        (
            "MACs",
            f"{human_count(summary.macs)} ({summary.macs:,}; conv, depthwise, "
            "locally-connected and dense weights only, biases and parameter-free layers "
            "excluded: torchvision's 'GFLOPS')",
        ),
        (
            "parameter memory",
            f"{human_bytes(memory['parameters'])} ({dtype}, running statistics included)",
        ),
        ("input memory", f"{human_bytes(memory['input'])} ({batch})"),
        (
            "activation memory",
            f"{human_bytes(memory['activations'])} ({batch}, every layer's output once, "
            "input excluded: inference)",
        ),
        (
            "forward/backward",
            f"{human_bytes(memory['forward_backward'])} ({batch}: twice the outputs of the "
            "layers with parameters, kept for the backward pass and their gradients; "
            "torchinfo's 'Forward/backward pass size')",
        ),
        (
            "estimated total",
            f"{human_bytes(memory['total'])} (input + forward/backward + parameters: "
            "torchinfo's 'Estimated Total Size')",
        ),
    ]
    if compare:
        ratio = summary.locally_connected / summary.parameters if summary.parameters else 0
        lines.append(
            (
                "if locally connected",
                f"{summary.locally_connected:,} parameters "
                f"({ratio:,.{0 if ratio >= 10 else 1}f} x) with unshared weights in every conv "
                "and depthwise layer "
                "(Keras LocallyConnected2D: one kernel and bias per output position)",
            )
        )
    return lines


#: Columns of the ``receptive-field`` table dropped first when it is too wide.
FIELDS_DROP_ORDER = ["eff. padding", "type", "start"]


def fields_table(
    fields: ReceptiveFields, *, indent: str = "  ", depth: int | None = None
) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted rows of the ``receptive-field`` table (one value when
    rows and columns agree, else ``rows x cols``; ``(max r)``: the largest field over
    all branches when it differs; ``depth`` hides deeper rows)."""
    headers = ["layer", "type", "output", "field r", "jump j", "start", "eff. padding"]
    rows = []
    for row in fields.rows:
        if depth is not None and row.depth > depth:
            continue
        f = row.field
        mark = "~" if f.approximate else ""
        rows.append(
            [
                indent * row.depth + row.step.layer.name,
                row.step.kind,
                str(row.step.output),
                mark
                + _pair_text(f.rows.size, f.cols.size)
                + ("" if row.largest is None else f" (max {_pair_text(*row.largest)})"),
                mark + _pair_text(f.rows.jump, f.cols.jump),
                _pair_text(f.rows.start, f.cols.start),
                _pair_text(f.rows.padding, f.cols.padding),
            ]
        )
    return headers, rows
