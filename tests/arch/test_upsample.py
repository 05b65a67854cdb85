"""arch.yaml's ``upsample``: every mode of the engine's upsample (nearest, nearest-exact,
bilinear, align_corners, fractional factors), its shape rule against the engine's output,
and its receptive field against a brute-force one: perturb one input pixel of the engine's
upsample and see which outputs change."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from cnnfilter.arch.calc import summarize
from cnnfilter.arch.layers import Shape
from cnnfilter.arch.parse import parse_network
from cnnfilter.arch.receptive import receptive_fields
from cnnfilter.arch.shapes import trace
from cnnfilter.engine.layers import upsample
from cnnfilter.errors import UsageError


def _net(options: str, h: int, w: int):
    text = f"input: [{h}, {w}, 1]\nlayers:\n  - upsample: {{{options}}}\n"
    return trace(parse_network(text, source="net.yaml"))


def _influence(h: int, w: int, kwargs: dict) -> np.ndarray:
    """``hit[i, j, o, p]``: output ``(o, p)`` changes when input ``(i, j)`` does."""
    base = upsample(np.zeros((h, w, 1), np.float32), **kwargs)[..., 0]
    hit = np.zeros((h, w, *base.shape), bool)
    for i, j in itertools.product(range(h), range(w)):
        x = np.zeros((h, w, 1), np.float32)
        x[i, j] = 1.0
        hit[i, j] = upsample(x, **kwargs)[..., 0] != base
    return hit


# (yaml options, engine keyword arguments); each runs on several input sizes
CASES = [
    ("scale_factor: 2", dict(scale_factor=2)),
    ("scale_factor: [3, 2]", dict(scale_factor=(3, 2))),
    ("scale_factor: 1.7", dict(scale_factor=1.7)),
    ("scale_factor: 0.5", dict(scale_factor=0.5)),
    ("size: [3, 4]", dict(size=(3, 4))),
    ("size: [13, 9]", dict(size=(13, 9))),
    ("size: [1, 2]", dict(size=(1, 2))),
    ("scale_factor: [2.5, 1.3], mode: nearest-exact",
     dict(scale_factor=(2.5, 1.3), mode="nearest-exact")),
    ("scale_factor: 0.6, mode: nearest-exact", dict(scale_factor=0.6, mode="nearest-exact")),
    ("size: [3, 13], mode: nearest-exact", dict(size=(3, 13), mode="nearest-exact")),
    ("scale_factor: 2, mode: bilinear", dict(scale_factor=2, mode="bilinear")),
    ("scale_factor: 1.7, mode: bilinear", dict(scale_factor=1.7, mode="bilinear")),
    ("size: [3, 4], mode: bilinear", dict(size=(3, 4), mode="bilinear")),
    ("size: [9, 13], mode: bilinear, align_corners: true",
     dict(size=(9, 13), mode="bilinear", align_corners=True)),
    ("scale_factor: 1.7, mode: bilinear, align_corners: true",
     dict(scale_factor=1.7, mode="bilinear", align_corners=True)),
    ("size: [2, 1], mode: bilinear, align_corners: true",
     dict(size=(2, 1), mode="bilinear", align_corners=True)),
]  # fmt: skip
SIZES = [(1, 2), (5, 11), (9, 6), (7, 7)]


@pytest.mark.parametrize(("options", "kwargs"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize(("h", "w"), SIZES)
def test_the_receptive_field_holds_every_input_that_changes_an_output(options, kwargs, h, w):
    try:
        upsample(np.zeros((h, w, 1), np.float32), **kwargs)
    except UsageError:  # a factor below 1 on a small input: no output pixel
        with pytest.raises(UsageError, match="use a larger scale_factor"):
            _net(options, h, w)
        return
    t = _net(options, h, w)
    out = t.steps[-1].output
    hit = _influence(h, w, kwargs)
    assert hit.shape[2:] == (out.height, out.width)  # the shape rule is the engine's
    field = receptive_fields(t).rows[-1].field
    mode = kwargs.get("mode", "nearest")
    reach = {"nearest": 1, "nearest-exact": Fraction(1, 2), "bilinear": 1}[mode]
    for axis, n, m, seen in ((field.rows, h, out.height, hit.any(axis=(1, 3))),
                             (field.cols, w, out.width, hit.any(axis=(0, 2)))):  # fmt: skip
        for o in range(m):
            inputs = np.flatnonzero(seen[:, o])
            assert inputs.size, (o, "reads no input")
            first, last = axis.span(o)
            # every input that changes output o is in its field, and the field is at
            # most one pixel wider than the inputs it may read (kernel 1 or 2)
            assert first <= inputs.min() and inputs.max() <= last, (o, inputs, first, last)
            assert min(last, n - 1) - max(first, 0) + 1 <= (2 if mode == "bilinear" else 1) + 1
            # the field's centre is the source coordinate: within `reach` of each input read
            centre = axis.start + o * axis.jump
            assert all(abs(centre - i) <= reach + Fraction(1, 10**6) for i in inputs), (
                o, centre, inputs,
            )  # fmt: skip


def test_align_corners_has_stride_n_minus_1_over_out_minus_1_and_offset_0():
    f = receptive_fields(_net("size: [9, 13], mode: bilinear, align_corners: true", 5, 11))
    rows, cols = f.rows[-1].field.rows, f.rows[-1].field.cols
    assert (rows.size, rows.jump, rows.start) == (2, Fraction(4, 8), 0)
    assert (cols.size, cols.jump, cols.start) == (2, Fraction(10, 12), 0)


def test_nearest_exact_is_centred_like_bilinear_with_one_input():
    f = receptive_fields(_net("scale_factor: 2, mode: nearest-exact", 4, 4)).rows[-1].field
    assert (f.rows.size, f.rows.jump, f.rows.start) == (1, Fraction(1, 2), Fraction(-1, 4))


def test_nearest_downsampling_floors_its_source():
    # size 3 from 9: output o reads input 3 o (floor(o * 9 / 3)), not the window's middle
    f = receptive_fields(_net("size: [3, 3]", 9, 9)).rows[-1].field
    assert [f.rows.span(o) for o in range(3)] == [(0, 0), (3, 3), (6, 6)]


@pytest.mark.parametrize(
    ("options", "shape"),
    [
        ("scale_factor: 1.7", Shape(8, 18, 1)),  # floor(5 * 1.7), floor(11 * 1.7)
        ("scale_factor: [0.5, 2.5]", Shape(2, 27, 1)),
        ("scale_factor: 2, mode: nearest-exact", Shape(10, 22, 1)),
        ("size: [9, 13], mode: bilinear, align_corners: true", Shape(9, 13, 1)),
    ],
)
def test_shape_rule_and_no_parameters_or_macs(options, shape):
    row = summarize(_net(options, 5, 11)).rows[-1]
    assert row.step.output == shape
    assert (row.cost.parameters, row.cost.non_trainable, row.cost.macs) == (0, 0, 0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("scale_factor: 2, align_corners: true", "align_corners applies to mode bilinear"),
        ("scale_factor: 2, mode: nearest-exact, align_corners: true", "align_corners applies"),
        ("scale_factor: 0.05", "turns 5 x 11 into 0 x 0"),
        ("scale_factor: -1", "must be a number above 0"),
        ("scale_factor: [1, 2, 3]", "expected f or \\[rows, cols\\]"),
        ("scale_factor: 2, mode: bicubic", "expected one of nearest, nearest-exact, bilinear"),
        ("size: [2.5, 3]", "expected an integer"),
    ],
)
def test_bad_upsample_options_are_one_error(options, message):
    with pytest.raises(UsageError, match=message):
        _net(options, 5, 11)
