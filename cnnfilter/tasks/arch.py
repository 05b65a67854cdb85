"""``params`` and ``receptive-field``: a layer stack parsed once, traced, calculated.

:func:`params` and :func:`receptive_field` return the calculated data and
every form the commands print (JSON document, CSV records, table rows);
:func:`draw_field` draws one unit's receptive field on a photo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cnnfilter.errors import UsageError
from cnnfilter.tasks._common import check_finite, check_output_path, output_format

__all__ = [
    "PARAMS_NUMERIC",
    "builtin_architectures",
    "parse_input",
    "FIELDS_NUMERIC",
    "Params",
    "Fields",
    "Drawn",
    "params",
    "receptive_field",
    "draw_field",
]

#: Header names of the tables' number columns (right-aligned).
PARAMS_NUMERIC = frozenset(
    {"parameters", "params", "non-trainable", "non-train", "MACs", "share", "if locally connected"}
)
FIELDS_NUMERIC = frozenset({"field r", "jump j", "start", "eff. padding"})


def builtin_architectures() -> list[tuple[str, str]]:
    """``(name, description)`` of every built-in architecture (``params --list``)."""
    from cnnfilter.arch import zoo

    return [(name, zoo.describe(name)) for name in zoo.names()]


def resolve_arch(arch: Path | str) -> Path | str:
    """``arch`` itself when it is ``-`` or an existing file, else the built-in of that name.

    Raises:
        UsageError: neither a file nor a built-in name (with the closest built-ins).
    """
    from cnnfilter.arch import zoo

    text = str(arch)
    if text == "-" or Path(text).exists() or text.endswith((".yaml", ".yml")):
        return arch
    found = zoo.path(text)
    if found is None:
        from cnnfilter.arch.names import close_names

        close = close_names(text.lower(), zoo.names())
        hint = f"did you mean {', '.join(close)}?" if close else "list them with --list"
        raise UsageError(f"{text}: no such layer file and no built-in architecture; {hint}")
    return found


def parse_input(text: str, *, channels_first: bool = False):
    """``224x224x3`` (height x width x channels) or, with ``channels_first``,
    ``3x224x224`` -> :class:`~cnnfilter.arch.layers.base.Shape`.

    Raises:
        UsageError: not three whole numbers >= 1, or a channels-first-looking value
            without ``channels_first``.
    """
    from cnnfilter.arch.layers.base import Shape

    parts = text.lower().replace(" ", "").replace(",", "x").split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise UsageError(f"input={text!r}: write HxWxC, e.g. 224x224x3")
    a, b, c = (int(p) for p in parts)
    if channels_first:
        return Shape(b, c, a)
    if a <= 4 and b > 4 and c > 4:
        raise UsageError(
            f"input={text!r} looks channels-first (CxHxW); write {b}x{c}x{a} "
            "(height x width x channels) or add channels_first=True"
        )
    return Shape(a, b, c)


MODEL_SUFFIXES = {".onnx": "onnx", ".keras": "keras", ".json": "keras"}
"""Model files read instead of an ``arch.yaml``, by their suffix."""


def model_kind(arch: Path | str) -> str | None:
    """``onnx`` or ``keras`` for a model file (by suffix), ``None`` for a layer file."""
    return MODEL_SUFFIXES.get(Path(str(arch)).suffix.lower()) if str(arch) != "-" else None


def load_model(arch: Path | str, input_shape=None):
    """A :class:`cnnfilter.arch.fromonnx.ModelGraph` for any source: an ONNX or Keras
    model file, or a layer file / built-in name (no warnings).

    Raises:
        UsageError: an unreadable or malformed file (one line naming it and the fix).
    """
    from cnnfilter.arch import load_network
    from cnnfilter.arch.fromonnx import ModelGraph

    kind = model_kind(arch)
    if kind == "onnx":
        from cnnfilter.arch.fromonnx import read_onnx

        return read_onnx(arch, input_shape=input_shape)
    if kind == "keras":
        from cnnfilter.arch.fromkeras import read_keras

        return read_keras(arch, input_shape=input_shape)
    return ModelGraph(load_network(resolve_arch(arch), input_shape=input_shape))


def _trace(arch: Path | str, input_shape=None):
    from cnnfilter.arch.shapes import trace

    model = load_model(arch, input_shape)
    return trace(model.network), model


@dataclass(frozen=True)
class Params:
    """``params``: the :class:`cnnfilter.arch.calc.Summary` and its printed forms."""

    summary: object
    compare: bool = False
    depth: int | None = None
    batch_size: int = 1
    dtype: str = "float32"
    #: what the model file's reader said (unknown ops, shared weights...)
    warnings: tuple[str, ...] = ()
    #: the :class:`cnnfilter.arch.fromonnx.ModelGraph` read (for ``to_yaml``)
    model: object = None

    @property
    def title(self) -> str:
        net = self.summary.trace.network
        return f"{net.name}: input {net.input}"

    @property
    def report(self) -> dict:
        """The ``params --json`` document."""
        from cnnfilter.arch import report

        document = report.params_document(
            self.summary, compare=self.compare, batch_size=self.batch_size, dtype=self.dtype
        )
        document["warnings"] = list(self.warnings)
        return document

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

    def table(self, indent: str = "  ", width: int | None = None):
        """``(headers, rows)`` of the table, fitted to ``width`` columns when given
        (columns dropped in :data:`cnnfilter.arch.report.PARAMS_DROP_ORDER`)."""
        from cnnfilter.arch import report

        headers, rows = report.params_table(
            self.summary, compare=self.compare, indent=indent, depth=self.depth
        )
        headers, rows, _ = report.fit_columns(headers, rows, width, report.PARAMS_DROP_ORDER)
        return headers, rows

    def footer(self) -> list[tuple[str, str]]:
        """``(label, text)`` lines under the table: the totals and the memory estimate."""
        from cnnfilter.arch import report

        return report.params_totals(
            self.summary, compare=self.compare, batch_size=self.batch_size, dtype=self.dtype
        )


def params(
    arch: Path | str,
    *,
    compare: bool = False,
    input_shape=None,
    depth: int | None = None,
    batch_size: int = 1,
    dtype: str = "float32",
) -> Params:
    """Per-layer shapes, parameters, MACs and memory of the layer file ``arch`` (``-``:
    stdin; a name such as ``resnet50``: the built-in architecture).

    ``input_shape`` (a :class:`~cnnfilter.arch.layers.base.Shape`, see :func:`parse_input`)
    replaces the file's input; ``depth`` hides rows nested deeper; ``batch_size`` and
    ``dtype`` (float32, float16, bfloat16) size the memory estimate.

    Raises:
        UsageError: a malformed layer file (``file:line: layer ...; fix: ...``), an
            unknown name, a bad depth, batch size or dtype.
    """
    from cnnfilter.arch.calc import DTYPES, summarize

    if dtype not in DTYPES:
        raise UsageError(f"dtype={dtype!r}: use one of {', '.join(DTYPES)}")
    if batch_size < 1 or (depth is not None and depth < 0):
        raise UsageError("batch_size= must be >= 1 and depth= >= 0")
    traced, model = _trace(arch, input_shape)
    return Params(summary=summarize(traced), compare=compare, depth=depth, batch_size=batch_size,
                  dtype=dtype, warnings=tuple(model.warnings), model=model)  # fmt: skip


@dataclass(frozen=True)
class Fields:
    """``receptive-field``: the :class:`cnnfilter.arch.receptive.ReceptiveFields` and forms."""

    fields: object
    depth: int | None = None
    #: what the model file's reader said, before the receptive-field warnings
    model_warnings: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        net = self.fields.trace.network
        return f"{net.name}: input {net.input}"

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.model_warnings + tuple(self.fields.warnings)

    def warnings_through(self, layer: str) -> tuple[str, ...]:
        """The warnings that concern ``layer`` or a layer before it (walk order).

        A drawing of one unit of ``conv5_3`` need not say that ``fc6``, further on,
        sees past the input. Warnings that name no layer are all kept.
        """
        names = [row.step.layer.name for row in self.fields.rows]
        if layer not in names:
            return self.warnings
        later = set(names[names.index(layer) + 1 :])
        kept = []
        for warning in self.fields.warnings:
            named = re.match(r"layer '([^']*)'", warning)
            if named is None or named[1] not in later:
                kept.append(warning)
        return self.model_warnings + tuple(kept)

    @property
    def report(self) -> dict:
        """The ``receptive-field --json`` document."""
        from cnnfilter.arch import report

        document = report.fields_document(self.fields)
        document["warnings"] = list(self.warnings)
        return document

    def records(self) -> list[dict]:
        """One record per layer (``receptive-field --csv``)."""
        from cnnfilter.arch import report

        return report.fields_records(self.fields)

    def table(self, indent: str = "  ", width: int | None = None):
        """``(headers, rows)`` of the table (``width``: dropped columns, see
        :data:`cnnfilter.arch.report.FIELDS_DROP_ORDER`)."""
        from cnnfilter.arch import report

        headers, rows = report.fields_table(self.fields, indent=indent, depth=self.depth)
        headers, rows, _ = report.fit_columns(headers, rows, width, report.FIELDS_DROP_ORDER)
        return headers, rows

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
        if any(row.largest is not None for row in self.fields.rows):
            lines.append(
                (
                    "branches",
                    "the field follows the main path (the first branch of each concat, add or "
                    "multiply); '(max r)' is the largest field over all branches",
                )
            )
        if any(row.field.approximate for row in self.fields.rows):
            lines.append(("~", "approximate: adaptive pooling with unequal windows"))
        return lines


def receptive_field(arch: Path | str, *, input_shape=None, depth: int | None = None) -> Fields:
    """Receptive field size, jump, start and effective padding of every layer of ``arch``
    (a file, ``-`` or a built-in name; ``input_shape`` replaces the file's input).

    Raises:
        UsageError: a malformed layer file.
    """
    from cnnfilter.arch.receptive import receptive_fields

    traced, model = _trace(arch, input_shape)
    return Fields(receptive_fields(traced), depth, tuple(model.warnings))


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
    from cnnfilter.arch.layers.structure import Flatten

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


def write_yaml(result: Params, output: Path, *, force: bool = False) -> str:
    """Write the network of ``result`` (read from a model file) as ``arch.yaml`` at
    ``output`` (atomically: a temporary file renamed), and return the text.

    Raises:
        UsageError: a node has no ``arch.yaml`` equivalent (unknown ops, ops such as
            Transpose, weights shared between nodes), or ``output`` exists without
            ``force`` or is the model file.
    """
    import os
    import tempfile

    from cnnfilter.arch.toyaml import network_yaml

    model = result.model
    network = result.summary.trace.network
    blocked = list(model.unwritable) + [f"{name} (shared weights)" for name in model.shared]
    if blocked:
        shown = ", ".join(blocked[:8]) + (
            f" and {len(blocked) - 8} more" if len(blocked) > 8 else ""
        )
        raise UsageError(
            f"to_yaml: {len(blocked)} node(s) have no arch.yaml equivalent: {shown}; "
            "fix: count the model as it is (without to_yaml), or edit those nodes out of it"
        )
    check_output_path(output, [(Path(network.source), "model file")], force=force)
    text = network_yaml(network, comment=f"written by cnnfilter params from {network.source}")
    folder = Path(output).resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=".cnnfilter-", suffix=".yaml", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return text
