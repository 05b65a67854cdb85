"""Receptive fields of every layer of a traced network.

Source: Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional
Neural Networks", Distill, 2019 (https://distill.pub/2019/computing-receptive-fields/).
Along each axis, with ``k_eff = d (k - 1) + 1`` for a layer of kernel ``k``,
stride ``s``, dilation ``d`` and padding ``p`` before the first pixel::

    r_out = r_in + (k_eff - 1) j_in        receptive field size, in input pixels
    j_out = j_in s                         jump: input pixels between neighbour units
    left_out = left_in - p j_in            first input pixel of unit 0's field

starting from ``r = 1, j = 1, left = 0`` at the input. Pixel centres are at
0, 1, 2, ...; unit ``i`` of a layer sees input pixels
``left + i j .. left + i j + r - 1`` (some of them in the padding, outside
``0 .. n - 1``). The *start* is the centre of unit 0's field,
``left + (r - 1) / 2``, and the article's *effective padding* is ``-left``
(its table gives VGG16 pool5: r = 212, j = 32, padding 90).

Layers without a window keep the field; a dense layer on a flattened
``H x W`` grid acts as an ``H x W`` kernel; global pooling as a kernel the size
of its input. Each layer kind's rule is its class's
:meth:`~cnnfilter.arch.layers.base.Layer.field`.

Upsampling and transposed convolution make the jump fractional (Araujo et al.,
section "Upsampling" and "transposed convolution": a layer of stride ``1/s``
whose kernel is the number of input values one output reads)::

    j_out = j_in / s      r_out = r_in + (k_in - 1) j_in      start_out = start_in + c j_in

with ``k_in`` = 1 (nearest), 2 (bilinear) or ``ceil(k_eff / s)`` (transposed
convolution), and ``c`` the input coordinate of output unit 0's centre.

Branches (residual, concat, multiply) follow the *main path*, the first branch
listed: the field of a merge is the main path's field (for a residual whose
shortcut is the identity or a 1x1 convolution, also the union of both). The
largest field over all branches is given beside it (``largest``), as Araujo et
al. do for multi-path networks; the two differ in Inception-style blocks. A
warning says when the branches are not aligned (different centres or jumps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from cnnfilter.arch.layers.pooling import AdaptivePool2d
from cnnfilter.arch.layers.structure import Block, Dense, Merge
from cnnfilter.arch.shapes import Step, Trace
from cnnfilter.engine.geometry import AxisGeometry, effective_kernel_size
from cnnfilter.errors import UsageError

__all__ = ["SOURCE", "AxisField", "Field", "FieldRow", "ReceptiveFields", "receptive_fields"]

#: Most positions one layer's walk may visit (the uneven adaptive windows, the input
#: rows no window reads): a few seconds of Python; beyond it the layer is refused.
MAX_WALK = 5_000_000

SOURCE = (
    'Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks", '
    "Distill 2019"
)


@dataclass(frozen=True)
class AxisField:
    """Receptive field along one axis: size ``r``, jump ``j``, first pixel ``left``.

    Integers, or :class:`~fractions.Fraction` after upsampling or a transposed
    convolution (a fractional jump).
    """

    size: int | Fraction
    jump: int | Fraction
    left: int | Fraction

    @property
    def start(self) -> Fraction:
        """Centre of unit 0's field, in input pixels (a half when ``size`` is even)."""
        return self.left + Fraction(self.size - 1, 2)

    @property
    def padding(self) -> int:
        """Effective padding of Araujo et al.: input pixels before pixel 0 in unit 0's field."""
        return -self.left

    def span(self, unit: int) -> tuple[int, int]:
        """First and last input pixel (inclusive) of unit ``unit``'s field (widened to
        whole pixels when the jump is fractional)."""
        first = self.left + unit * self.jump
        return math.floor(first), math.ceil(first + self.size - 1)

    def fractional(self, k_in: int, scale, centre) -> AxisField:
        """The field after a layer of stride ``1/scale`` that reads ``k_in`` neighbouring
        input units, output unit 0 centred on input unit coordinate ``centre``."""
        size = self.size + (k_in - 1) * self.jump
        start = self.start + Fraction(centre) * self.jump
        return AxisField(
            _simplify(size),
            _simplify(Fraction(self.jump) / scale),
            _simplify(start - Fraction(size - 1, 2)),
        )

    def window(self, geometry: AxisGeometry) -> AxisField:
        """The field after a layer with this window geometry (the recurrence above)."""
        k_eff = effective_kernel_size(geometry.kernel_size, geometry.dilation)
        return AxisField(
            self.size + (k_eff - 1) * self.jump,
            self.jump * geometry.stride,
            self.left - geometry.pad_before * self.jump,
        )


@dataclass(frozen=True)
class Field:
    """Receptive field of a layer's units along rows and columns.

    ``approximate`` is set after adaptive pooling with windows of unequal size.
    """

    rows: AxisField
    cols: AxisField
    approximate: bool = False

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)`` input pixels (inclusive) of unit ``(row, col)``.

        May reach outside the input (into the padding): callers clip.
        """
        top, bottom = self.rows.span(row)
        left, right = self.cols.span(col)
        return top, left, bottom, right


@dataclass(frozen=True)
class FieldRow:
    """One line of the receptive-field table."""

    depth: int
    step: Step
    field: Field
    #: The largest field over every path to this layer, when it differs from ``field``.
    largest: tuple[int | Fraction, int | Fraction] | None = None


@dataclass(frozen=True)
class ReceptiveFields:
    """Fields of every layer (in :meth:`Trace.walk` order) and the warnings."""

    trace: Trace
    rows: tuple[FieldRow, ...]
    warnings: tuple[str, ...]

    def find(self, name: str) -> FieldRow | None:
        """The row of the layer called ``name``, or ``None``."""
        return next((row for row in self.rows if row.step.layer.name == name), None)


class _Walker:
    def __init__(self, trace: Trace, largest: bool = False) -> None:
        self.input = trace.network.input
        self.rows: list[FieldRow] = []
        self.warnings: list[str] = []
        self.exceeded = False
        self.blocks: list[str] = []  # enclosing merges, innermost last
        self.largest = largest  # follow the largest branch instead of the first
        self.gate_noted = False
        self.in_gate = 0  # inside a broadcast gate branch: no "exceeds the input" warning

    def steps(self, steps, field: Field, grid: tuple[int, int], depth: int):
        for step in steps:
            field, grid = self.step(step, field, grid, depth)
        return field, grid

    def step(self, step: Step, field: Field, grid: tuple[int, int], depth: int):
        layer = step.layer
        if isinstance(layer, Merge):
            field = self.merge(step, field, grid, depth)
        elif isinstance(layer, Block):
            field, _ = self.steps(step.branches[0][1], field, grid, depth + 1)
        elif isinstance(layer, Dense) and grid != (1, 1) and step.input.flat:
            # The first dense layer after flatten: one window over the whole grid.
            rows = AxisGeometry(grid[0], grid[0], 1, 1, 0, 0, 1)
            cols = AxisGeometry(grid[1], grid[1], 1, 1, 0, 0, 1)
            field = Field(field.rows.window(rows), field.cols.window(cols), field.approximate)
        elif isinstance(layer, AdaptivePool2d):
            field = self.adaptive(step, field)
        else:
            if step.rows is not None and step.cols is not None:
                self.check_dropped(step)
            rows, cols = layer.field(step, field.rows, field.cols)
            field = Field(rows, cols, field.approximate)
        if not step.output.flat:
            grid = (step.output.height, step.output.width)
        elif isinstance(layer, Dense) or step.rows is not None:
            grid = (1, 1)
        self.rows.append(FieldRow(depth, step, field))
        self.check_exceeds(step, field)
        return field, grid

    def merge(self, step: Step, field: Field, grid, depth: int) -> Field:
        """The main path (the first branch), or with ``largest`` the largest branch.

        A branch pooled to ``1 x 1`` and broadcast (a squeeze-and-excitation gate) sees
        the whole input; it is not followed, and a warning says so once per network.
        """
        kind = "residual" if step.layer.type == "residual" else step.layer.op
        self.blocks.append(f"{kind} '{step.layer.name}'")
        ends = []
        for name, branch in step.branches:
            out = branch[-1].output if branch else step.input
            gate = out.height * out.width == 1 and step.output.height * step.output.width > 1
            self.in_gate += gate
            end, _ = self.steps(branch, field, grid, depth + 1)
            self.in_gate -= gate
            if gate and not self.gate_noted:
                self.gate_noted = True
                self.warnings.append(
                    f"{step.layer.op} '{step.layer.name}': branch '{name}' is pooled to 1 x 1 "
                    "and broadcast (a gate): it sees the whole input; the field shown follows "
                    "the other branches (so in every such block)"
                )
            if not gate:
                ends.append(end)
        self.blocks.pop()
        if step.layer.op == "aux" or not ends:
            return field
        if len(ends) == 2 and step.layer.op == "add":
            return self.union(step, ends[0], ends[1])
        main = max(ends, key=lambda e: e.rows.size * e.cols.size) if self.largest else ends[0]
        return Field(main.rows, main.cols, any(e.approximate for e in ends))

    def union(self, step: Step, body: Field, short: Field) -> Field:
        axes = []
        for name, a, b in (("rows", body.rows, short.rows), ("columns", body.cols, short.cols)):
            if (a.start != b.start or a.jump != b.jump) and not self.largest:
                self.warnings.append(
                    f"residual '{step.layer.name}': its branches are not aligned along {name} "
                    f"(body units centred at {_num(a.start)} + {_num(a.jump)} i, shortcut at "
                    f"{_num(b.start)} + {_num(b.jump)} i): the sum mixes units that see different "
                    "places"
                )
            left = min(a.left, b.left)
            right = max(a.left + a.size - 1, b.left + b.size - 1)
            axes.append(AxisField(right - left + 1, a.jump, left))
        return Field(axes[0], axes[1], body.approximate or short.approximate)

    def adaptive(self, step: Step, field: Field) -> Field:
        _check_walk(step, step.output.height + step.output.width, "adaptive pooling windows")
        axes, approximate = [], field.approximate
        for n, o, axis in (
            (step.input.height, step.output.height, field.rows),
            (step.input.width, step.output.width, field.cols),
        ):
            # PyTorch: window i covers floor(i n / o) .. ceil((i + 1) n / o) - 1.
            sizes = {-(-(i + 1) * n // o) - i * n // o for i in range(o)}
            if n % o == 0:
                geometry = AxisGeometry(n, n // o, n // o, 1, 0, 0, o)
            else:
                approximate = True
                geometry = AxisGeometry(n, max(sizes), max(n // o, 1), 1, 0, 0, o)
            axes.append(axis.window(geometry))
        if approximate and not field.approximate:
            self.warnings.append(
                f"layer '{step.layer.name}': adaptive pooling from {step.input.height} x "
                f"{step.input.width} to {step.output.height} x {step.output.width} uses windows "
                "of unequal size and spacing; from here on the field is the largest window's "
                "and the jump is rounded down"
            )
        return Field(axes[0], axes[1], approximate)

    def check_exceeds(self, step: Step, field: Field) -> None:
        if self.exceeded or self.in_gate:
            return
        if field.rows.size > self.input.height or field.cols.size > self.input.width:
            self.exceeded = True
            self.warnings.append(
                f"layer '{step.layer.name}': its receptive field "
                f"({field.rows.size} x {field.cols.size}) already exceeds the "
                f"{self.input.height} x {self.input.width} input; from here on every unit "
                "also sees padding"
            )

    def check_dropped(self, step: Step) -> None:
        walk = sum(g.n + g.out * g.kernel_size for g in (step.rows, step.cols))
        _check_walk(step, walk, "input positions and window taps")
        missed = [_unseen(g) for g in (step.rows, step.cols)]
        if any(missed):
            g = step.rows if missed[0] else step.cols
            self.warnings.append(
                f"layer '{step.layer.name}': {missed[0]} of {step.rows.n} input rows and "
                f"{missed[1]} of {step.cols.n} input columns reach no output unit (kernel "
                f"{g.kernel_size}, stride {g.stride}, dilation {g.dilation}, padding "
                f"{g.pad_before}+{g.pad_after}); "
                + (
                    f"the other branch of {self.blocks[-1]} may still see them"
                    if self.blocks
                    else "what only they carry is lost"
                )
            )


def _check_walk(step: Step, count: int, what: str) -> None:
    """Refuse, before it starts, a layer whose walk would visit more than :data:`MAX_WALK`."""
    if count > MAX_WALK:
        raise UsageError(
            f"layer '{step.layer.name}': the receptive-field walk would visit about {count:.1e} "
            f"{what} (the limit is {MAX_WALK:,}); use a smaller input, padding, dilation or "
            "output size (params reports the shapes without this walk)"
        )


def _simplify(value: Fraction) -> int | Fraction:
    value = Fraction(value)
    return int(value) if value.denominator == 1 else value


def _unseen(g: AxisGeometry) -> int:
    """Input positions ``0 .. n - 1`` that no window of the layer reads."""
    seen = bytearray(g.n)
    for o in range(g.out):
        for t in range(g.kernel_size):
            x = o * g.stride + t * g.dilation - g.pad_before
            if 0 <= x < g.n:
                seen[x] = 1
    return g.n - sum(seen)


def _num(value: int | Fraction) -> str:
    value = Fraction(value)
    return str(int(value)) if value.denominator == 1 else str(float(value))


def receptive_fields(trace: Trace) -> ReceptiveFields:
    """Receptive field size, jump, start and effective padding of every layer.

    Returns the rows in :meth:`~cnnfilter.arch.shapes.Trace.walk` order and the
    warnings: a field that exceeds the input (once, at the first such layer), a
    layer whose stride or dilation leaves input pixels unread, residual
    branches that are not aligned, adaptive pooling with unequal windows.

    >>> from cnnfilter.arch.parse import parse_network
    >>> from cnnfilter.arch.shapes import trace
    >>> net = parse_network('''input: [32, 32, 3]
    ... layers: [conv2d: {filters: 4, kernel_size: 3, padding: 1},
    ...          maxpool2d: {kernel_size: 2}, conv2d: {filters: 4, kernel_size: 3, dilation: 2}]''')
    >>> [(r.field.rows.size, r.field.rows.jump, r.field.rows.padding)
    ...  for r in receptive_fields(trace(net)).rows]
    [(3, 1, 1), (4, 2, 1), (12, 2, 1)]
    """
    unit = AxisField(1, 1, 0)
    net_input = trace.network.input
    grid = (net_input.height, net_input.width)
    walker = _Walker(trace)
    walker.steps(trace.steps, Field(unit, unit), grid, 0)
    rows = walker.rows
    if any(isinstance(step.layer, Merge) and len(step.branches) > 1 for _, step in trace.walk()):
        widest = _Walker(trace, largest=True)
        widest.steps(trace.steps, Field(unit, unit), grid, 0)
        rows = [
            row
            if (row.field.rows.size, row.field.cols.size) == (w.field.rows.size, w.field.cols.size)
            else FieldRow(row.depth, row.step, row.field, (w.field.rows.size, w.field.cols.size))
            for row, w in zip(rows, widest.rows, strict=True)
        ]
    return ReceptiveFields(trace, tuple(rows), tuple(walker.warnings))
