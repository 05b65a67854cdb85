"""The one output-size formula and the padding rules of engine/geometry.py.

Reference: PyTorch's Conv2d / MaxPool2d documentation,
``out = floor((n + 2p - d (k - 1) - 1) / s + 1)`` (``ceil`` with ``ceil_mode``,
dropping a last window that starts in the right padding), and TensorFlow's
``padding="SAME"`` rule ``out = ceil(n / s)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnfilter.engine.geometry import (
    PADDING_NAMES,
    AxisGeometry,
    as_pair,
    check_pool_padding,
    effective_kernel_size,
    output_size,
    padding_spec,
    parse_ints,
    parse_padding,
    resolve_axes,
    resolve_padding,
    same_padding,
)
from cnnfilter.errors import UsageError


def torch_output_size(n, k, s, p, d, ceil_mode=False):
    """PyTorch's documented formula, written out independently (symmetric padding)."""
    numerator = n + 2 * p - d * (k - 1) - 1
    if ceil_mode:
        out = math.ceil(numerator / s) + 1
        if (out - 1) * s >= n + p:
            out -= 1
        return out
    return math.floor(numerator / s + 1)


# ---------------------------------------------------------------- literal values


@pytest.mark.parametrize(
    ("n", "k", "kwargs", "expected"),
    [
        (224, 3, dict(padding=1), 224),  # VGG conv: size kept
        (224, 7, dict(stride=2, padding=3), 112),  # ResNet stem
        (112, 3, dict(stride=2, padding=1), 56),  # ResNet max pool
        (227, 11, dict(stride=4), 55),  # AlexNet conv1
        (55, 3, dict(stride=2), 27),  # AlexNet pool1
        (32, 5, {}, 28),  # LeNet conv1
        (28, 2, dict(stride=2), 14),  # LeNet pool
        (7, 3, dict(stride=2, dilation=2), 2),  # k_eff = 5
        (5, 3, dict(padding=(0, 2)), 5),  # asymmetric padding
        (4, 5, {}, 0),  # kernel longer than the input: empty
        (4, 4, {}, 1),
        (5, 2, dict(stride=2, padding=1, ceil_mode=True), 3),
        (6, 3, dict(stride=2, ceil_mode=True), 3),  # ceil(3/2)+1 = 3
        (6, 3, dict(stride=2), 2),
        (5, 3, dict(stride=2, padding=1, ceil_mode=True), 3),
    ],
)
def test_output_size_literal_values(n, k, kwargs, expected):
    assert output_size(n, k, **kwargs) == expected


def test_effective_kernel_size_literal_values():
    assert effective_kernel_size(3, 1) == 3
    assert effective_kernel_size(3, 2) == 5
    assert effective_kernel_size(3, 4) == 9
    assert effective_kernel_size(1, 7) == 1
    assert effective_kernel_size(2, 3) == 4


@pytest.mark.parametrize(
    ("n", "k", "s", "d", "expected"),
    [
        (224, 3, 2, 1, (0, 1)),  # TF SAME: out 112, total 1, extra pixel after
        (5, 4, 1, 1, (1, 2)),
        (5, 3, 1, 1, (1, 1)),
        (10, 3, 3, 1, (1, 1)),  # out 4, total (4-1)*3+3-10 = 2
        (10, 1, 1, 1, (0, 0)),
        (9, 3, 1, 2, (2, 2)),  # k_eff 5
        (3, 1, 2, 1, (0, 0)),  # total would be negative: clamped at 0
    ],
)
def test_same_padding_literal_values(n, k, s, d, expected):
    assert same_padding(n, k, stride=s, dilation=d) == expected


@pytest.mark.parametrize(
    ("k", "d", "flipped", "expected"),
    [
        (3, 1, False, (1, 1)),
        (3, 1, True, (1, 1)),
        (4, 1, False, (2, 1)),  # scipy.ndimage.correlate: anchor tap k // 2
        (4, 1, True, (1, 2)),  # scipy.ndimage.convolve: anchor (k - 1) // 2
        (2, 1, False, (1, 0)),
        (2, 1, True, (0, 1)),
        (1, 1, False, (0, 0)),
        (3, 2, False, (2, 2)),  # k_eff 5
        (2, 3, False, (2, 1)),  # k_eff 4
        (2, 3, True, (1, 2)),
    ],
)
def test_ndimage_same_padding_literal_values(k, d, flipped, expected):
    assert same_padding(10, k, dilation=d, rule="ndimage", flipped=flipped) == expected


def test_resolve_padding_named_modes_literal_values():
    assert resolve_padding(10, 3, "same") == AxisGeometry(10, 3, 1, 1, 1, 1, 10)
    assert resolve_padding(10, 3, "valid") == AxisGeometry(10, 3, 1, 1, 0, 0, 8)
    assert resolve_padding(10, 3, "full") == AxisGeometry(10, 3, 1, 1, 2, 2, 12)
    assert resolve_padding(10, 4, "same") == AxisGeometry(10, 4, 1, 1, 2, 1, 10)
    assert resolve_padding(10, 4, "same", flipped=True) == AxisGeometry(10, 4, 1, 1, 1, 2, 10)
    assert resolve_padding(10, 3, "SAME", stride=2).out == 5
    assert resolve_padding(10, 3, "full", dilation=2) == AxisGeometry(10, 3, 1, 2, 4, 4, 14)
    assert resolve_padding(10, 3, 2) == AxisGeometry(10, 3, 1, 1, 2, 2, 12)
    assert resolve_padding(10, 3, (0, 3), stride=3) == AxisGeometry(10, 3, 3, 1, 0, 3, 4)
    assert resolve_padding(2, 5, "valid").out == 0


# ---------------------------------------------------------------- properties

sizes = st.integers(1, 300)
kernels = st.integers(1, 12)
strides = st.integers(1, 6)
dilations = st.integers(1, 4)
pads = st.integers(0, 8)


@settings(max_examples=300, deadline=None)
@given(n=sizes, k=kernels, s=strides, p=pads, d=dilations)
def test_output_size_matches_pytorch_formula(n, k, s, p, d):
    k_eff = d * (k - 1) + 1
    got = output_size(n, k, stride=s, padding=p, dilation=d)
    if n + 2 * p < k_eff:
        assert got == 0
    else:
        assert got == torch_output_size(n, k, s, p, d)
        # every window fits and the next one would not
        assert (got - 1) * s + k_eff <= n + 2 * p < got * s + k_eff


@settings(max_examples=300, deadline=None)
@given(n=sizes, k=kernels, s=strides, d=dilations)
def test_output_size_ceil_mode_matches_pytorch_pooling(n, k, s, d):
    p = min(k // 2, 3)  # PyTorch requires pad <= kernel_size / 2 for pooling
    if n + 2 * p < d * (k - 1) + 1:
        return
    got = output_size(n, k, stride=s, padding=p, dilation=d, ceil_mode=True)
    assert got == torch_output_size(n, k, s, p, d, ceil_mode=True)
    assert got >= output_size(n, k, stride=s, padding=p, dilation=d)


@settings(max_examples=300, deadline=None)
@given(n=sizes, k=kernels, s=strides, d=dilations)
def test_same_padding_gives_ceil_n_over_s(n, k, s, d):
    before, after = same_padding(n, k, stride=s, dilation=d)
    assert 0 <= after - before <= 1  # the extra pixel goes after, as in TensorFlow
    assert output_size(n, k, stride=s, padding=(before, after), dilation=d) == -(-n // s)


@settings(max_examples=300, deadline=None)
@given(n=sizes, k=kernels, s=strides, d=dilations, flipped=st.booleans())
def test_resolve_padding_same_gives_ceil_n_over_s(n, k, s, d, flipped):
    geom = resolve_padding(n, k, "same", stride=s, dilation=d, flipped=flipped)
    assert geom.out == math.ceil(n / s)
    assert geom.pad_before + geom.pad_after == d * (k - 1)


@settings(max_examples=200, deadline=None)
@given(n=sizes, k=kernels, s=strides, d=dilations, before=pads, after=pads)
def test_resolve_padding_integer_pair_uses_the_one_formula(n, k, s, d, before, after):
    geom = resolve_padding(n, k, (before, after), stride=s, dilation=d)
    assert (geom.pad_before, geom.pad_after) == (before, after)
    assert geom.out == output_size(n, k, stride=s, padding=(before, after), dilation=d)


@settings(max_examples=200, deadline=None)
@given(n=sizes, k=kernels, s=strides, d=dilations)
def test_full_and_valid_sizes(n, k, s, d):
    k_eff = d * (k - 1) + 1
    full = resolve_padding(n, k, "full", stride=s, dilation=d).out
    valid = resolve_padding(n, k, "valid", stride=s, dilation=d).out
    assert full == (n + k_eff - 2) // s + 1
    assert valid == (0 if n < k_eff else (n - k_eff) // s + 1)


# ---------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(n=0, kernel_size=3), ValueError, r"input size must be >= 1, got 0"),
        (dict(n=5, kernel_size=0), ValueError, r"kernel_size must be >= 1, got 0"),
        (dict(n=5, kernel_size=3, stride=0), ValueError, r"stride must be >= 1, got 0"),
        (dict(n=5, kernel_size=3, dilation=0), ValueError, r"dilation must be >= 1, got 0"),
        (dict(n=5, kernel_size=3, padding=-1), ValueError, r"padding must be >= 0, got -1"),
        (dict(n=5, kernel_size=3, padding=(1, -2)), ValueError, r"padding must be >= 0, got -2"),
        (dict(n=5, kernel_size=3, padding=(1, 2, 3)), ValueError, r"\(before, after\)"),
        (dict(n=5.0, kernel_size=3), TypeError, r"input size must be an integer, got 5\.0"),
        (dict(n=5, kernel_size=True), TypeError, r"kernel_size must be an integer, got True"),
        (dict(n=5, kernel_size=3, stride="2"), TypeError, r"stride must be an integer"),
    ],
)
def test_output_size_refuses_bad_arguments(kwargs, error, match):
    n = kwargs.pop("n")
    k = kwargs.pop("kernel_size")
    with pytest.raises(error, match=match):
        output_size(n, k, **kwargs)


def test_same_padding_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"stride must be >= 1, got 0"):
        same_padding(5, 3, stride=0)
    with pytest.raises(ValueError, match=r"input size must be >= 1, got -3"):
        same_padding(-3, 3)


def test_ndimage_same_padding_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"dilation must be >= 1, got 0"):
        same_padding(5, 3, dilation=0, rule="ndimage")
    with pytest.raises(ValueError, match=r"kernel_size must be >= 1, got 0"):
        same_padding(5, 0, rule="ndimage")
    with pytest.raises(UsageError, match=r"rule must be one of ndimage, tensorflow; got 'keras'"):
        same_padding(5, 3, rule="keras")


def test_resolve_padding_refuses_unknown_names_and_negative_padding():
    with pytest.raises(UsageError, match=r"padding must be 'same', 'valid', 'full'.*'half'"):
        resolve_padding(10, 3, "half")
    with pytest.raises(ValueError, match=r"padding must be >= 0, got -1"):
        resolve_padding(10, 3, -1)


# ---------------------------------------------------------------- the two "same" rules


def tf_same_reference(n, k_eff, s):
    """TensorFlow's documented SAME rule, written from its guide."""
    out = math.ceil(n / s)
    pad_total = max((out - 1) * s + k_eff - n, 0)
    top = pad_total // 2
    return top, pad_total - top


@settings(max_examples=300, deadline=None)
@given(n=sizes, k=kernels, s=strides, d=dilations)
def test_tensorflow_rule_matches_its_documented_formula(n, k, s, d):
    k_eff = d * (k - 1) + 1
    assert same_padding(n, k, stride=s, dilation=d, rule="tensorflow") == tf_same_reference(
        n, k_eff, s
    )


def padded_correlation(x, w, before, after, s):
    """Cross-correlation of 1-D ``x`` zero-padded by (before, after), every s-th window."""
    ext = np.concatenate([np.zeros(before), x, np.zeros(after)])
    full = np.array([ext[i : i + len(w)] @ w for i in range(len(ext) - len(w) + 1)])
    return full[::s]


def dilated(w, d):
    out = np.zeros(d * (len(w) - 1) + 1)
    out[::d] = w
    return out


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 40), k=kernels, s=strides, d=dilations, flipped=st.booleans(),
    seed=st.integers(0, 2**16),
)  # fmt: skip
def test_ndimage_rule_matches_scipy_ndimage_anchor(n, k, s, d, flipped, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(n), rng.standard_normal(k)
    wd = dilated(w, d)
    before, after = same_padding(n, k, stride=s, dilation=d, rule="ndimage", flipped=flipped)
    if flipped:  # convolution: correlation with the flipped kernel
        expected = ndi.convolve1d(x, wd, mode="constant")[::s]
        got = padded_correlation(x, wd[::-1], before, after, s)
    else:
        expected = ndi.correlate1d(x, wd, mode="constant")[::s]
        got = padded_correlation(x, wd, before, after, s)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@settings(max_examples=300, deadline=None)
@given(n=sizes, k=kernels, s=strides, d=dilations, rule=st.sampled_from(["ndimage", "tensorflow"]))
def test_both_same_rules_give_ceil_n_over_s(n, k, s, d, rule):
    before, after = same_padding(n, k, stride=s, dilation=d, rule=rule)
    assert output_size(n, k, stride=s, padding=(before, after), dilation=d) == math.ceil(n / s)


# ---------------------------------------------------------------- PyTorch's pooling rule


@given(k=st.integers(1, 20), p=st.integers(0, 20))
def test_pool_padding_rule_matches_pytorch(k, p):
    # torch.nn.MaxPool2d docs / ATen pool2d_shape_check: "pad should be at most half of
    # kernel size" (kW / 2 >= padW, integer division in C++).
    allowed = p <= k / 2
    if allowed:
        check_pool_padding(k, p)
    else:
        with pytest.raises(UsageError, match=rf"padding {p} \(rows\) is more than half"):
            check_pool_padding(k, p, axis="rows")


def test_pool_axes_carry_the_formula_terms():
    rows, cols = resolve_axes((5, 6), 2, 1, stride=2, ceil_mode=True)
    assert (rows.out, cols.out) == (3, 4)
    assert rows.padding == 1 and rows.numerator == 5 and rows.dropped
    assert not cols.dropped
    assert rows.formula().startswith("ceil((5 + 2*1 - 1*(2-1) - 1)/2) + 1 = 4")
    uneven = AxisGeometry(5, 2, 1, 1, 0, 1, 5)
    with pytest.raises(ValueError, match="uneven padding"):
        _ = uneven.padding


# ---------------------------------------------------------------- the padding parser

ints = st.integers(0, 50)
separators = st.sampled_from([",", ", ", "x", " , "])


@st.composite
def written_paddings(draw):
    """(a padding in one of its written forms, the (top, bottom, left, right) it means)."""
    form = draw(st.sampled_from(["int", "pair", "four", "keras", "text1", "text2", "text4"]))
    top, bottom, left, right = sides = draw(st.tuples(ints, ints, ints, ints))
    sep = draw(separators)
    if form == "int":
        return top, (top, top, top, top)
    if form == "pair":
        return draw(st.sampled_from([(top, left), [top, left]])), (top, top, left, left)
    if form == "four":
        return draw(st.sampled_from([sides, list(sides)])), sides
    if form == "keras":
        return [[top, bottom], [left, right]], (top, bottom, left, right)
    if form == "text1":
        return f" {top} ", (top, top, top, top)
    if form == "text2":
        return f"{top}{sep}{left}", (top, top, left, left)
    return sep.join(map(str, (top, bottom, left, right))), (top, bottom, left, right)


@settings(max_examples=400, deadline=None)
@given(written_paddings())
def test_parser_reads_every_written_form(written):
    value, sides = written
    assert parse_padding(value) == sides
    assert parse_padding(parse_padding(value)) == sides  # its own output parses back
    assert parse_padding(",".join(map(str, sides))) == sides  # and so does its text


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(sorted(PADDING_NAMES)), data=st.data())
def test_parser_reads_names_in_any_case(name, data):
    spelled = "".join(c.upper() if data.draw(st.booleans()) else c for c in name)
    assert parse_padding(f" {spelled}\t") == name
    assert padding_spec(spelled) == name


@pytest.mark.parametrize(
    ("value", "given"),
    [("2", 2), ("2,1", (2, 1)), ("0x3", (0, 3)), ("1,2,3,4", (1, 2, 3, 4)), (3, 3),
     ((1, 2), (1, 2)), ([[0, 1], [2, 3]], (0, 1, 2, 3)), (np.int64(4), 4), ("valid", "valid")],
)  # fmt: skip
def test_padding_spec_keeps_the_form_given(value, given):
    assert padding_spec(value) == given


@pytest.mark.parametrize(
    ("value", "kwargs", "match"),
    [
        ("half", {}, r"padding must be same, valid, full, an integer P, PH,PW or "
         r"TOP,BOTTOM,LEFT,RIGHT; got 'half'"),
        ("full", {"names": ("same", "valid")}, r"must be same, valid, an integer"),
        ("1,2,3", {}, r"got '1,2,3'"),
        ("-1", {"name": "--padding"}, r"^--padding must be >= 0, got -1$"),
        ("1,-1", {"name": "--padding"}, r"^--padding values must all be >= 0, got 1,-1$"),
        (-2, {}, r"^padding must be >= 0, got -2$"),
        ((1, -2), {}, r"padding values must all be >= 0, got \(1, -2\)"),
        ((1, 2, 3), {}, r"got \(1, 2, 3\)"),
        ([[1], [2, 3]], {}, r"got \[\[1\], \[2, 3\]\]"),
        ((1.5, 2), {}, r"got \(1.5, 2\)"),
        (True, {}, r"got True"),
        (None, {}, r"got None"),
    ],
)  # fmt: skip
def test_parser_refuses_bad_paddings_by_name(value, kwargs, match):
    with pytest.raises(UsageError, match=match):
        parse_padding(value, **kwargs)


def test_parse_ints_reads_command_line_numbers():
    assert parse_ints("3", name="--stride") == 3
    assert parse_ints(" 2 , 1 ", name="--stride") == (2, 1)
    assert parse_ints("0,0,1,2", name="--padding", counts=(1, 2, 4), minimum=0) == (0, 0, 1, 2)
    with pytest.raises(UsageError, match=r"^--stride must be an integer or comma-separated"):
        parse_ints("two", name="--stride")
    with pytest.raises(UsageError, match=r"^--dilation takes 1 or 2 value\(s\), got '1,2,3'$"):
        parse_ints("1,2,3", name="--dilation")
    with pytest.raises(UsageError, match=r"^--stride must be >= 1, got 0$"):
        parse_ints("0", name="--stride")


def test_as_pair_checks_each_value():
    assert as_pair(np.int32(2), name="stride") == (2, 2)
    assert as_pair([3, 1], name="stride") == (3, 1)
    with pytest.raises(UsageError, match=r"^stride must be >= 1, got 0$"):
        as_pair((1, 0), name="stride")
    with pytest.raises(UsageError, match=r"stride must be an integer or a \(rows, cols\) pair"):
        as_pair((1, 2, 3), name="stride")
    with pytest.raises(TypeError, match=r"stride must be an integer or a \(rows, cols\) pair"):
        as_pair("2", name="stride")
    with pytest.raises(TypeError, match=r"got True"):
        as_pair(True, name="stride")


def test_resolve_axes_reads_the_padding_once_for_both_axes():
    rows, cols = resolve_axes((10, 8), (3, 4), (1, 2, 0, 3))
    assert rows == AxisGeometry(10, 3, 1, 1, 1, 2, 11)
    assert cols == AxisGeometry(8, 4, 1, 1, 0, 3, 8)
    rows, cols = resolve_axes((10, 8), 4, "same", same_rule="tensorflow", stride=(2, 3))
    assert (rows.pad_before, rows.pad_after, rows.out) == (1, 1, 5)
    assert (cols.pad_before, cols.pad_after, cols.out) == (1, 1, 3)
