"""``params`` and ``receptive-field``: a layer stack parsed once, traced, calculated.

:func:`params` and :func:`receptive_field` return the calculated data and
every form the commands print (JSON document, CSV records, table rows);
:func:`draw_field` draws one unit's receptive field on a photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnnfilter.errors import UsageError
from cnnfilter.tasks._common import check_finite, check_output_path, output_format

__all__ = [
    "PARAMS_NUMERIC",
    "FIELDS_NUMERIC",
    "Params",
    "Fields",
    "Drawn",
    "params",
    "receptive_field",
    "draw_field",
]

#: Columns (0-based) of the tables that hold numbers (right-aligned).
PARAMS_NUMERIC = frozenset({3, 4, 5, 6, 7})
FIELDS_NUMERIC = frozenset({3, 4, 5, 6})


def _trace(arch: Path):
    from cnnfilter.arch import load_network
    from cnnfilter.arch.shapes import trace

    return trace(load_network(arch))


@dataclass(frozen=True)
class Params:
    """``params``: the :class:`cnnfilter.arch.calc.Summary` and its printed forms."""

    summary: object
    compare: bool = False

    @property
    def title(self) -> str:
        net = self.summary.trace.network
        return f"{net.name}: input {net.input}"

    @property
    def report(self) -> dict:
        """The ``params --json`` document."""
        from cnnfilter.arch import report

        return report.params_document(self.summary, compare=self.compare)

    def records(self) -> list[dict]:
        """One record per layer and a ``total`` record (``params --csv``)."""
        from cnnfilter.arch import report

        s = self.summary
        records = report.params_records(s, compare=self.compare)
        total = {key: "" for key in records[0]} | {
            "name": "total",
            "parameters": s.parameters,
            "non_trainable": s.non_trainable,
            "macs": s.macs,
            "activation_bytes": s.activation_bytes,
            "share": 1.0 if s.parameters else 0.0,
        }
        if self.compare:
            total["locally_connected_parameters"] = s.locally_connected
        return [*records, total]

    def table(self, indent: str = "  "):
        """``(headers, rows)`` of the table."""
        from cnnfilter.arch import report

        return report.params_table(self.summary, compare=self.compare, indent=indent)

    def footer(self) -> list[tuple[str, str]]:
        """``(label, text)`` lines under the table: the totals."""
        from cnnfilter.arch import report

        return report.params_totals(self.summary, compare=self.compare)


def params(arch: Path | str, *, compare: bool = False) -> Params:
    """Per-layer shapes, parameters, MACs and memory of the layer file ``arch`` (or ``-``).

    Raises:
        UsageError: a malformed layer file (``file:line: layer ...; fix: ...``).
    """
    from cnnfilter.arch.calc import summarize

    return Params(summarize(_trace(Path(arch))), compare)


@dataclass(frozen=True)
class Fields:
    """``receptive-field``: the :class:`cnnfilter.arch.receptive.ReceptiveFields` and forms."""

    fields: object

    @property
    def title(self) -> str:
        net = self.fields.trace.network
        return f"{net.name}: input {net.input}"

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(self.fields.warnings)

    @property
    def report(self) -> dict:
        """The ``receptive-field --json`` document."""
        from cnnfilter.arch import report

        return report.fields_document(self.fields)

    def records(self) -> list[dict]:
        """One record per layer (``receptive-field --csv``)."""
        from cnnfilter.arch import report

        return report.fields_records(self.fields)

    def table(self, indent: str = "  "):
        """``(headers, rows)`` of the table."""
        from cnnfilter.arch import report

        return report.fields_table(self.fields, indent=indent)

    def footer(self) -> list[tuple[str, str]]:
        """``(label, text)`` lines under the table: the source and the conventions."""
        from cnnfilter.arch import report

        lines = [
            ("source", report.SOURCE),
            (
                "start",
                "input coordinate of the centre of unit 0's field (pixel centres at 0, 1, "
                "...); unit i is centred at start + i j",
            ),
        ]
        if any(row.field.approximate for row in self.fields.rows):
            lines.append(("~", "approximate: adaptive pooling with unequal windows"))
        return lines


def receptive_field(arch: Path | str) -> Fields:
    """Receptive field size, jump, start and effective padding of every layer of ``arch``.

    Raises:
        UsageError: a malformed layer file.
    """
    from cnnfilter.arch.receptive import receptive_fields

    return Fields(receptive_fields(_trace(Path(arch))))


@dataclass(frozen=True)
class Drawn:
    """One unit's field drawn: where it lies and what was written."""

    layer: str
    unit: tuple[int, int]
    box: tuple[int, int, int, int]
    input_hw: tuple[int, int]
    inside_share: float
    image: str
    image_text: str
    output: str
    fit: str | None = None


def check_drawing(image, layer, unit, output) -> None:
    """The drawing options go together: ``image`` needs ``layer`` and ``output``.

    Raises:
        UsageError: one without the others.
    """
    if image is None and any(v is not None for v in (layer, unit, output)):
        raise UsageError("layer=, unit= and output= draw on a photo: add image=PATH")
    if image is not None and (layer is None or output is None):
        raise UsageError("image= needs layer=NAME and output=PATH (-o)")


def draw_field(
    fields: Fields,
    image: Path,
    layer: str,
    unit: tuple[int, int] | None,
    output: Path,
    *,
    fmt: str | None = None,
    force: bool = False,
    max_pixels: int | None = None,
    fit: str = "crop",
) -> Drawn:
    """Draw the receptive field of ``unit`` (row, col; default the centre) of ``layer``.

    The photo stands for the network's input (resized to it). A photo of
    another aspect than the input is first centre-cropped (``fit='crop'``,
    the default) or letterboxed (``fit='letterbox'``) to the input's aspect
    (:func:`cnnfilter.render.fit_to_input`), so that a square field is drawn
    square; a caption names the layer, the unit, the field's size and the fit.

    Raises:
        UsageError: an unknown layer (with the closest names), a unit outside
            the layer's grid, a bad output format, an existing output.
    """
    from cnnfilter import imageio, render
    from cnnfilter.render import receptive_field_picture

    row = _find_layer(fields.fields, layer)
    r, c = _check_unit(row, layer, unit)
    output_format(output, fmt)  # fails before the work
    source = fields.fields.trace.network.source
    layer_file = Path("-" if source == "<stdin>" else source)
    check_output_path(output, [image, (layer_file, "layer file")], force=force)
    net_input = fields.fields.trace.network.input
    box = row.field.box(r, c)
    loaded = imageio.read_image(image, max_pixels=max_pixels or imageio.DEFAULT_MAX_PIXELS)
    check_finite(loaded.pixels, image)
    hw_in = (net_input.height, net_input.width)
    if fit not in render.FIT_MODES:
        raise UsageError(f"fit must be one of {', '.join(render.FIT_MODES)}, got {fit!r}")
    photo = render.display_rgb(loaded.pixels, loaded.max_value)
    fitted = render.fit_to_input(photo, hw_in, fit)
    picture = receptive_field_picture(fitted, box, hw_in)
    top, left, bottom, right = box
    done = {"crop": "centre-cropped", "letterbox": "letterboxed"}[fit]
    reshaped = "" if fitted.shape[:2] == photo.shape[:2] else f", photo {done} to its aspect"
    caption = (
        f"receptive field of {layer} unit ({r}, {c}): {bottom - top + 1} x {right - left + 1} "
        f"of the {hw_in[0]} x {hw_in[1]} input{reshaped}"
    )
    picture = render.with_caption(picture, caption)
    imageio.write_image(output, picture, force=force, fmt=fmt)
    inside = max(0, min(bottom, net_input.height - 1) - max(top, 0) + 1) * max(
        0, min(right, net_input.width - 1) - max(left, 0) + 1
    )
    share = inside / ((bottom - top + 1) * (right - left + 1))
    hw = (net_input.height, net_input.width)
    return Drawn(
        layer, (r, c), box, hw, share, str(image), loaded.shape_text, str(output),
        fit if fitted.shape[:2] != photo.shape[:2] else None,
    )  # fmt: skip


def _find_layer(fields, layer: str):
    """The layer's row, or an error naming the closest layer names."""
    import difflib

    row = fields.find(layer)
    if row is None:
        names = [r.step.layer.name for r in fields.rows]
        close = difflib.get_close_matches(layer, names, n=3) or difflib.get_close_matches(
            layer, names, n=3, cutoff=0
        )
        raise UsageError(
            f"layer=: no layer named {layer!r} in {fields.trace.network.source}; "
            f"did you mean {', '.join(close)}?"
        )
    return row


def _check_unit(row, layer: str, unit: tuple[int, int] | None) -> tuple[int, int]:
    """The unit (default: the centre of the layer's grid), checked against the grid."""
    from cnnfilter.arch.layers import Flatten

    step = row.step
    grid_shape = step.input if isinstance(step.layer, Flatten) else step.output
    grid = (1, 1) if grid_shape.flat else (grid_shape.height, grid_shape.width)
    r, c = unit if unit is not None else (grid[0] // 2, grid[1] // 2)
    if not (0 <= r < grid[0] and 0 <= c < grid[1]):
        raise UsageError(
            f"unit={r},{c} is outside layer {layer!r}, whose units form a "
            f"{grid[0]} x {grid[1]} grid (rows 0..{grid[0] - 1}, "
            f"columns 0..{grid[1] - 1})"
        )
    return r, c
