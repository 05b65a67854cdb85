"""Receptive fields: hand recurrences, a published table, a brute-force reach check."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnfilter.arch.parse import load_network, parse_network
from cnnfilter.arch.receptive import receptive_fields
from cnnfilter.arch.shapes import trace
from cnnfilter.errors import UsageError
from cnnfilter.render import receptive_field_picture


def fields_of(text: str):
    return receptive_fields(trace(parse_network(text, source="net.yaml")))


def table(fields):
    """name -> (r, j, start, effective padding) along rows."""
    return {
        row.step.layer.name: (
            row.field.rows.size,
            row.field.rows.jump,
            row.field.rows.start,
            row.field.rows.padding,
        )
        for row in fields.rows
    }


# ------------------------------------------------------------ hand recurrence


def test_small_stack_against_the_hand_recurrence():
    f = table(
        fields_of("""
input: [32, 32, 3]
layers:
  - conv2d: {filters: 4, kernel_size: 3, padding: 1, name: a}
  - conv2d: {filters: 4, kernel_size: 3, padding: 1, name: b}
  - maxpool2d: {kernel_size: 2, name: p}
  - conv2d: {filters: 4, kernel_size: 3, dilation: 2, padding: 2, name: d}
  - conv2d: {filters: 4, kernel_size: 5, stride: 2, name: s}
""")
    )
    # r_out = r_in + (k_eff - 1) j_in; j_out = j_in s; padding += p j_in; start = -P + (r - 1) / 2
    assert f["a"] == (3, 1, 0, 1)  # 1 + 2*1
    assert f["b"] == (5, 1, 0, 2)  # 3 + 2*1
    assert f["p"] == (6, 2, Fraction(1, 2), 2)  # 5 + 1*1, j 2
    assert f["d"] == (14, 2, Fraction(1, 2), 6)  # k_eff 5: 6 + 4*2, P 2 + 2*2
    assert f["s"] == (22, 4, Fraction(9, 2), 6)  # 14 + 4*2, j 4, no padding


def test_uneven_same_padding_puts_the_extra_pixel_after():
    fields = fields_of(
        "input: [7, 8, 1]\nlayers: [conv2d: {filters: 1, kernel_size: 4, "
        "stride: 3, padding: same, name: c}]"
    )
    row = fields.rows[0].field
    # rows: out 3, total (3 - 1) 3 + 4 - 7 = 3 -> 1 before; cols: out 3, total 2 -> 1 before
    assert (row.rows.size, row.rows.jump, row.rows.padding, row.rows.start) == (
        4,
        3,
        1,
        Fraction(1, 2),
    )
    assert row.box(2, 1) == (5, 2, 8, 5)  # last row unit reaches 2 pixels past the bottom


def test_vgg16_matches_the_distill_table(samples):
    f = table(receptive_fields(trace(load_network(samples / "arch" / "vgg16.yaml"))))
    # Araujo, Norris & Sim (Distill 2019), table of receptive fields: VGG16 pool5.
    r, j, start, padding = f["pool5"]
    assert (r, j, padding) == (212, 32, 90)
    assert start == Fraction(31, 2)
    assert f["conv5_3"][:2] == (196, 16)
    assert f["fc6"][0] == 404  # a dense layer on 7 x 7: a 7 x 7 window


def test_resnet18_branches_stay_aligned_and_take_the_longer_field(samples):
    fields = receptive_fields(trace(load_network(samples / "arch" / "resnet18.yaml")))
    f = table(fields)
    assert f["layer2.0"] == f["layer2.0.conv2"]  # the body is longer than the 1x1 shortcut
    assert f["layer2.0.downsample.0"][0] < f["layer2.0.conv2"][0]
    assert f["layer4.1"][:2] == (435, 32)
    assert not any("not aligned" in w for w in fields.warnings)
    assert (
        sum("reach no output unit" in w for w in fields.warnings) == 3
    )  # the 1x1 stride-2 shortcuts


def test_misaligned_residual_branches_warn_and_take_the_union():
    fields = fields_of("""
input: [16, 16, 1]
layers:
  - residual:
      name: block
      body: [conv2d: {filters: 1, kernel_size: 3, padding: [0, 2, 0, 2]}]
""")
    f = table(fields)
    assert f["block"][:2] == (3, 1)  # union of [0, 2] and [0, 0]
    assert any(
        "residual 'block': its branches are not aligned along rows" in w for w in fields.warnings
    )


def test_warnings_for_a_field_larger_than_the_input_and_for_unread_pixels():
    fields = fields_of("""
input: [10, 10, 1]
layers:
  - conv2d: {filters: 1, kernel_size: 2, stride: 3, name: gappy}
  - conv2d: {filters: 1, kernel_size: 3, padding: 2, name: wide}
  - conv2d: {filters: 1, kernel_size: 3, padding: 2, name: wider}
""")
    warnings = list(fields.warnings)
    # windows at 0-1, 3-4, 6-7: pixels 2, 5, 8, 9 of each axis are never read
    assert warnings[0].startswith(
        "layer 'gappy': 4 of 10 input rows and 4 of 10 input columns reach no output unit"
    )
    assert warnings[1].startswith(
        "layer 'wider': its receptive field (14 x 14) already exceeds the 10 x 10 input"
    )
    assert len(warnings) == 2  # the 'exceeds' warning is given once


def test_dilation_with_an_even_stride_skips_odd_pixels():
    fields = fields_of(
        "input: [9, 9, 1]\nlayers: [conv2d: {filters: 1, kernel_size: 3, "
        "dilation: 2, stride: 2, name: c}]"
    )
    assert fields.warnings[0].startswith("layer 'c': 4 of 9 input rows")


def test_adaptive_pooling_with_unequal_windows_is_flagged_approximate():
    fields = fields_of("input: [10, 10, 1]\nlayers: [adaptive_avgpool2d: {output_size: 3}]")
    assert fields.rows[0].field.approximate
    assert "windows of unequal size" in fields.warnings[0]
    even = fields_of("input: [12, 12, 1]\nlayers: [adaptive_avgpool2d: {output_size: 3}]")
    assert not even.rows[0].field.approximate and not even.warnings
    assert table(even)["adaptive_avgpool2d_1"][:2] == (4, 4)


# ---------------------------------------------------------------- brute force


def brute_force_layers(n: int, layers: list[dict]) -> list[tuple[int, int, int, int, int]]:
    """(k, s, d, before, out) per layer, computed here from the definitions."""
    geometry = []
    for layer in layers:
        k, s, d, pad, ceil = layer["k"], layer["s"], layer["d"], layer["pad"], layer["ceil"]
        k_eff = d * (k - 1) + 1
        if pad == "same":  # TensorFlow: out = ceil(n / s), extra pixel after
            out = -(-n // s)
            total = max((out - 1) * s + k_eff - n, 0)
            before, after = total // 2, total - total // 2
        else:
            before = after = pad
        span = n + before + after - k_eff
        if ceil:  # PyTorch ceil_mode: drop a last window that starts in the right padding
            out = -(-span // s) + 1  # PyTorch's div_rtn: a window may overhang by < stride
            if (out - 1) * s >= n + before:
                out -= 1
        else:
            out = span // s + 1 if span >= 0 else 0
        if out <= 0:
            return []
        geometry.append((k, s, d, before, out))
        n = out
    return geometry


def reach(geometry, unit: int, sizes: list[int], *, virtual: bool) -> set[int]:
    """Input pixels that output ``unit`` depends on, following each window back.

    ``virtual``: keep positions in the padding (as if the lattice went on), so
    the extreme positions give the full field; else only real pixels.
    """
    positions = {unit}
    for (k, s, d, before, _), n in zip(reversed(geometry), reversed(sizes), strict=True):
        positions = {x * s - before + t * d for x in positions for t in range(k)}
        if not virtual:
            positions = {x for x in positions if 0 <= x < n}
    return positions


def stack_yaml(n: int, m: int, layers: list[dict]) -> str:
    lines = [f"input: [{n}, {m}, 1]", "layers:"]
    for i, layer in enumerate(layers):
        if layer["pool"]:
            opts = (
                f"kernel_size: {layer['k']}, stride: {layer['s']}, dilation: {layer['d']}, "
                f"padding: {layer['pad']}, ceil_mode: {str(layer['ceil']).lower()}"
            )
            lines.append(f"  - maxpool2d: {{{opts}, name: l{i}}}")
        else:
            opts = (
                f"filters: 1, kernel_size: {layer['k']}, stride: {layer['s']}, "
                f"dilation: {layer['d']}, padding: {layer['pad']}"
            )
            lines.append(f"  - conv2d: {{{opts}, name: l{i}}}")
    return "\n".join(lines) + "\n"


@st.composite
def layer_specs(draw):
    pool = draw(st.booleans())
    k = draw(st.integers(1, 5))
    s = draw(st.integers(1, 3))
    d = draw(st.integers(1, 3))
    if pool:  # PyTorch: explicit pooling padding at most half the kernel
        pad = draw(st.one_of(st.just("same"), st.integers(0, k // 2)))
        ceil = draw(st.booleans()) and pad != "same"
    else:
        pad = draw(st.one_of(st.just("same"), st.integers(0, 3)))
        ceil = False
    return {"pool": pool, "k": k, "s": s, "d": d, "pad": pad, "ceil": ceil}


def check_axis(axis_field, n: int, layers: list[dict], out: int) -> None:
    geometry = brute_force_layers(n, layers)
    assert geometry and geometry[-1][4] == out
    sizes = [n] + [g[4] for g in geometry[:-1]]
    for unit in range(out):
        first, last = axis_field.span(unit)
        virtual = reach(geometry, unit, sizes, virtual=True)
        assert (min(virtual), max(virtual)) == (first, last)
        real = reach(geometry, unit, sizes, virtual=False)
        assert real <= set(range(max(first, 0), min(last, n - 1) + 1))
        if 0 <= first and last < n:  # fully inside: every position is a real pixel
            assert real == virtual
        assert axis_field.start + unit * axis_field.jump == Fraction(first + last, 2)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 30),
    m=st.integers(1, 30),
    layers=st.lists(layer_specs(), min_size=1, max_size=4),
)
def test_fields_match_a_brute_force_reach_of_input_pixels(n, m, layers):
    try:
        fields = fields_of(stack_yaml(n, m, layers))
    except UsageError as exc:
        assert "output would be" in str(exc)
        assert not brute_force_layers(n, layers) or not brute_force_layers(m, layers)
        return
    last = fields.rows[-1]
    check_axis(last.field.rows, n, layers, last.step.output.height)
    check_axis(last.field.cols, m, layers, last.step.output.width)


@pytest.mark.parametrize(
    ("n", "k", "s", "d"), [(7, 4, 3, 1), (10, 3, 2, 2), (5, 2, 1, 3), (9, 4, 2, 1), (6, 1, 3, 1)]
)
def test_same_padding_on_odd_sizes_matches_brute_force(n, k, s, d):
    layers = [{"pool": False, "k": k, "s": s, "d": d, "pad": "same", "ceil": False}] * 2
    fields = fields_of(stack_yaml(n, n + 1, layers))
    last = fields.rows[-1]
    assert last.step.output.height == math.ceil(math.ceil(n / s) / s)
    check_axis(last.field.rows, n, layers, last.step.output.height)
    check_axis(last.field.cols, n + 1, layers, last.step.output.width)


def test_unread_pixel_warning_matches_brute_force():
    rng = np.random.default_rng(7)
    for _ in range(50):
        n, k, s, d = (
            int(v)
            for v in (
                rng.integers(3, 30),
                rng.integers(1, 4),
                rng.integers(1, 5),
                rng.integers(1, 4),
            )
        )
        layers = [{"pool": False, "k": k, "s": s, "d": d, "pad": 0, "ceil": False}]
        geometry = brute_force_layers(n, layers)
        if not geometry:
            continue
        seen = set().union(*(reach(geometry, u, [n], virtual=False) for u in range(geometry[0][4])))
        warned = fields_of(stack_yaml(n, n, layers)).warnings
        if len(seen) < n:
            assert warned and warned[0].startswith(f"layer 'l0': {n - len(seen)} of {n} input rows")
        else:
            assert not [w for w in warned if "reach no output unit" in w]


# ------------------------------------------------------------------- picture


def test_picture_dims_outside_and_grows_for_the_padding():
    photo = np.full((20, 40, 3), 200, dtype=np.uint8)
    # input 10 x 20: one input pixel = 2 x 2 photo pixels; field rows -2..4, cols 5..9
    picture = receptive_field_picture(photo, (-2, 5, 4, 9), (10, 20))
    assert picture.shape == (24, 40, 3) and picture.dtype == np.uint8
    assert (picture[4 + 15, 30] == 70).all()  # outside the field: 200 * 0.35
    assert (picture[4 + 5, 14] == 200).all()  # inside the field, inside the photo
    tinted, grey = picture[2, 14], picture[2, 30]  # padding inside / outside the field
    assert tinted[0] > tinted[2] + 60  # checkerboard tinted orange
    assert grey[0] == grey[1] == grey[2] and grey[0] in (150, 190)  # plain checkerboard
    assert tuple(picture[0, 14]) == (255, 200, 0)  # the outline


def test_picture_accepts_gray_uint16_and_float():
    gray16 = np.full((8, 8), 65535, dtype=np.uint16)
    assert receptive_field_picture(gray16, (0, 0, 3, 3), (8, 8), max_value=65535)[6, 6, 0] == 89
    floats = np.ones((32, 32, 3), dtype=np.float32)
    picture = receptive_field_picture(floats, (2, 2, 5, 5), (8, 8), max_value=1.0)
    assert tuple(picture[10, 20]) == (255, 255, 255)  # inside the field, off the marks


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((3, 0, 2, 1), "top <= bottom"),
        ((-9, -9, -1, -1), "entirely outside"),
    ],
)
def test_picture_checks_its_box(box, message):
    with pytest.raises(ValueError, match=message):
        receptive_field_picture(np.zeros((4, 4), np.uint8), box, (4, 4))
