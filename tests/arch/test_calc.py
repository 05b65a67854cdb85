"""Shapes, parameters and MACs against published counts and written-out values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnfilter.arch.calc import summarize
from cnnfilter.arch.layers import Shape
from cnnfilter.arch.parse import load_network, parse_network
from cnnfilter.arch.shapes import trace
from cnnfilter.errors import UsageError


def summary_of(text: str):
    return summarize(trace(parse_network(text, source="net.yaml")))


def sample(samples, name: str):
    return summarize(trace(load_network(samples / "arch" / f"{name}.yaml")))


def by_name(summary):
    return {row.step.layer.name: row for row in summary.rows}


# ------------------------------------------------------------ published totals

# Parameters: torchvision's model pages (PyTorch's count, running stats excluded)
# and LeCun et al. 1998 for LeNet-5. MACs: torchvision's "GFLOPS" column.
PUBLISHED = [
    ("lenet5", 61_706, 0, None),
    ("alexnet", 61_100_840, 0, "0.71"),
    ("vgg16", 138_357_544, 0, "15.47"),
    ("resnet18", 11_689_512, 9_600, "1.81"),
    ("resnet50", 25_557_032, 53_120, "4.09"),
]


@pytest.mark.parametrize(("name", "parameters", "running", "gmacs"), PUBLISHED)
def test_sample_totals_match_published_counts_to_the_unit(
    samples, name, parameters, running, gmacs
):
    summary = sample(samples, name)
    assert summary.parameters == parameters
    assert summary.non_trainable == running
    if gmacs is not None:
        assert f"{summary.macs / 1e9:.2f}" == gmacs


def test_exact_macs_of_the_samples(samples):
    # VGG16: 15,346,630,656 in the convolutions + 123,633,664 in the dense layers.
    assert sample(samples, "vgg16").macs == 15_470_264_320
    assert sample(samples, "resnet18").macs == 1_814_073_344
    assert sample(samples, "lenet5").macs == 416_520


def test_article_locally_connected_example(samples):
    summary = sample(samples, "article_locally_connected")
    (row,) = summary.rows
    assert row.cost.parameters == 45 == 5 * 3 * 3
    assert row.cost.locally_connected == 46_080 == 32 * 32 * 5 * 3 * 3
    assert summary.locally_connected == 46_080


def test_dense_layers_hold_most_of_vgg16_parameters(samples):
    summary = sample(samples, "vgg16")
    dense = sum(summary.share(row) for row in summary.rows if row.step.layer.type == "dense")
    assert 0.89 < dense < 0.90


# ------------------------------------------------------------- per layer

VGG16 = [  # name, output, parameters
    ("conv1_1", "224 x 224 x 64", 1_792),
    ("conv1_2", "224 x 224 x 64", 36_928),
    ("pool1", "112 x 112 x 64", 0),
    ("conv2_1", "112 x 112 x 128", 73_856),
    ("conv2_2", "112 x 112 x 128", 147_584),
    ("pool2", "56 x 56 x 128", 0),
    ("conv3_1", "56 x 56 x 256", 295_168),
    ("conv3_2", "56 x 56 x 256", 590_080),
    ("conv3_3", "56 x 56 x 256", 590_080),
    ("pool3", "28 x 28 x 256", 0),
    ("conv4_1", "28 x 28 x 512", 1_180_160),
    ("conv4_2", "28 x 28 x 512", 2_359_808),
    ("conv4_3", "28 x 28 x 512", 2_359_808),
    ("pool4", "14 x 14 x 512", 0),
    ("conv5_1", "14 x 14 x 512", 2_359_808),
    ("conv5_2", "14 x 14 x 512", 2_359_808),
    ("conv5_3", "14 x 14 x 512", 2_359_808),
    ("pool5", "7 x 7 x 512", 0),
    ("avgpool", "7 x 7 x 512", 0),
    ("flatten_1", "25088", 0),
    ("fc6", "4096", 102_764_544),
    ("fc7", "4096", 16_781_312),
    ("fc8", "1000", 4_097_000),
]


def test_vgg16_per_layer_shapes_and_parameters(samples):
    rows = by_name(sample(samples, "vgg16"))
    assert [(n, str(rows[n].step.output), rows[n].cost.parameters) for n, _, _ in VGG16] == VGG16
    assert rows["conv1_1"].cost.macs == 224 * 224 * 64 * 3 * 3 * 3 == 86_704_128
    assert rows["fc6"].cost.macs == 25_088 * 4_096


RESNET18 = [  # name, output, parameters
    ("conv1", "112 x 112 x 64", 9_408),
    ("bn1", "112 x 112 x 64", 128),
    ("maxpool", "56 x 56 x 64", 0),
    ("layer1.0.conv1", "56 x 56 x 64", 36_864),
    ("layer1.0.bn1", "56 x 56 x 64", 128),
    ("layer1.0.conv2", "56 x 56 x 64", 36_864),
    ("layer1.0", "56 x 56 x 64", 0),
    ("layer1.1.conv2", "56 x 56 x 64", 36_864),
    ("layer2.0.conv1", "28 x 28 x 128", 73_728),
    ("layer2.0.conv2", "28 x 28 x 128", 147_456),
    ("layer2.0.downsample.0", "28 x 28 x 128", 8_192),
    ("layer2.0.downsample.1", "28 x 28 x 128", 256),
    ("layer2.1.conv1", "28 x 28 x 128", 147_456),
    ("layer3.0.conv1", "14 x 14 x 256", 294_912),
    ("layer3.0.conv2", "14 x 14 x 256", 589_824),
    ("layer3.0.downsample.0", "14 x 14 x 256", 32_768),
    ("layer3.1.conv2", "14 x 14 x 256", 589_824),
    ("layer4.0.conv1", "7 x 7 x 512", 1_179_648),
    ("layer4.0.conv2", "7 x 7 x 512", 2_359_296),
    ("layer4.0.downsample.0", "7 x 7 x 512", 131_072),
    ("layer4.0.downsample.1", "7 x 7 x 512", 1_024),
    ("layer4.1.conv2", "7 x 7 x 512", 2_359_296),
    ("layer4.1", "7 x 7 x 512", 0),
    ("avgpool", "1 x 1 x 512", 0),
    ("flatten_1", "512", 0),
    ("fc", "1000", 513_000),
]


def test_resnet18_per_layer_shapes_and_parameters(samples):
    summary = sample(samples, "resnet18")
    rows = by_name(summary)
    got = [(n, str(rows[n].step.output), rows[n].cost.parameters) for n, _, _ in RESNET18]
    assert got == RESNET18
    assert rows["bn1"].cost.non_trainable == 128
    assert sum(r.step.layer.type == "conv2d" for r in summary.rows) == 20
    assert sum(r.step.layer.type == "batchnorm2d" for r in summary.rows) == 20
    # the block rows come after their branches, at depth 0; branch rows at depth 1
    assert (rows["layer1.0"].depth, rows["layer1.0.conv1"].depth) == (0, 1)


# -------------------------------------------------------- layer formulas


def test_layer_formulas_written_out():
    s = by_name(
        summary_of("""
input: [8, 8, 4]
layers:
  - conv2d: {filters: 6, kernel_size: [3, 1], groups: 2, name: grouped}
  - depthwise_conv2d: {kernel_size: 3, depth_multiplier: 2, padding: same, name: dw}
  - locally_connected2d: {filters: 2, kernel_size: 2, stride: 2, name: lc}
  - batchnorm2d: {affine: false, name: bn}
  - zero_padding2d: {padding: [1, 0, 2, 3], name: zp}
  - avgpool2d: {kernel_size: 3, stride: 2, padding: 1, ceil_mode: true, name: pool}
  - global_maxpool2d: {name: gmp}
  - dense: {units: 3, bias: false, name: fc}
""")
    )
    # grouped: 6 filters x (4 / 2 channels) x 3 x 1 + 6 biases; output 6 x 8
    assert (str(s["grouped"].step.output), s["grouped"].cost.parameters) == ("6 x 8 x 6", 42)
    assert s["grouped"].cost.macs == 36 * 48  # weights x output positions
    # depthwise: 6 channels x 2 x 3 x 3 + 12 biases
    assert (str(s["dw"].step.output), s["dw"].cost.parameters) == ("6 x 8 x 12", 120)
    # locally connected: 3 x 4 positions x 2 filters x (12 x 2 x 2) + 3 x 4 x 2 biases
    assert (str(s["lc"].step.output), s["lc"].cost.parameters) == ("3 x 4 x 2", 1176)
    assert s["lc"].cost.macs == 1152
    assert (s["bn"].cost.parameters, s["bn"].cost.non_trainable) == (0, 4)
    assert str(s["zp"].step.output) == "4 x 9 x 2"
    # PyTorch ceil mode: rows ceil((4 + 2 - 3) / 2) + 1 = 3, cols ceil((9 + 2 - 3) / 2) + 1 = 5
    assert str(s["pool"].step.output) == "3 x 5 x 2"
    assert s["gmp"].step.output == Shape(1, 1, 2, flat=True)
    assert (s["fc"].cost.parameters, s["fc"].cost.macs) == (6, 6)


def test_same_padding_follows_tensorflow_ceil_rule():
    s = summary_of(
        "input: [7, 10, 1]\nlayers: [conv2d: {filters: 1, kernel_size: 4, stride: 3, "
        "padding: same}]"
    )
    step = s.rows[0].step
    assert str(step.output) == "3 x 4 x 1"
    # rows: total = (3 - 1) 3 + 4 - 7 = 3 -> 1 before, 2 after
    assert (step.rows.pad_before, step.rows.pad_after) == (1, 2)
    assert (step.cols.pad_before, step.cols.pad_after) == (1, 2)


def test_memory_totals():
    s = summary_of("input: [4, 4, 2]\nlayers: [batchnorm2d, flatten, dense: {units: 3}]")
    assert (s.parameters, s.non_trainable, s.macs) == (103, 4, 96)
    assert s.parameter_bytes == 107 * 4
    assert s.activation_bytes == (32 + 32 + 3) * 4
    assert s.input_bytes == 32 * 4


# ---------------------------------------------------------------- errors

SHAPE_ERRORS = [
    (
        "input: [4, 4, 1]\nlayers:\n  - conv2d: {filters: 1, kernel_size: 3}\n"
        "  - conv2d: {filters: 1, kernel_size: 3, name: too_big}\n",
        r"net.yaml:4: layer 'too_big' \(conv2d\): output would be 0 x 0: input 2 x 2 with padding "
        r"0 x 0 is smaller than the kernel span 3 x 3; fix: use a smaller kernel",
    ),
    (
        "input: [4, 4, 1]\nlayers:\n  - dense: {units: 2, in_features: 16}\n",
        r"net.yaml:3: layer 'dense_1' \(dense\): in_features is 16 = 4 x 4 x 1 but its input "
        r"is not flat \(a dense layer on 4 x 4 x 1 acts on its 1 channels\); "
        r"fix: add '- flatten' before it",
    ),
    (
        "input: [4, 4, 1]\nlayers:\n  - flatten\n  - conv2d: {filters: 1, kernel_size: 1}\n",
        r"net.yaml:4: layer 'conv2d_1' \(conv2d\): needs an H x W x C input but gets the flat 16",
    ),
    (
        "input: [4, 4, 3]\nlayers:\n  - Conv2d: {in_channels: 1, out_channels: 2, kernel: 1}\n",
        r"in_channels is 1 but its input has 3 channels; fix: write in_channels: 3",
    ),
    (
        "input: [4, 4, 3]\nlayers:\n  - flatten\n  - Linear: {in_features: 47, out_features: 2}\n",
        r"net.yaml:4: .*in_features is 47 but its input has 48; fix: write in_features: 48",
    ),
    (
        "input: [4, 4, 3]\nlayers:\n  - batchnorm2d: {num_features: 4}\n",
        r"num_features is 4 but its input has 3 channels",
    ),
    (
        "input: [4, 4, 3]\nlayers:\n  - conv2d: {filters: 4, kernel_size: 1, groups: 2}\n",
        r"groups 2 must divide the input channels 3 and the filters 4",
    ),
    (
        "input: [4, 4, 3]\nlayers:\n  - maxpool2d: {kernel_size: 2, padding: 2}\n",
        r"padding 2 is more than half the kernel 2 \(PyTorch refuses it\); fix: use padding <= 1",
    ),
    (
        "input: [8, 8, 3]\nlayers:\n  - residual:\n      name: block\n      body:\n"
        "        - conv2d: {filters: 4, kernel_size: 3, stride: 2, padding: 1, name: c}\n",
        r"net.yaml:3: layer 'block' \(residual\): the body ends in 4 x 4 x 4 \(layer 'c'\) but the "
        r"shortcut in 8 x 8 x 3 \(the identity\); fix: make the shapes agree",
    ),
]


@pytest.mark.parametrize(("text", "pattern"), SHAPE_ERRORS)
def test_shape_errors_name_file_line_layer_and_fix(text, pattern):
    with pytest.raises(UsageError, match=pattern) as info:
        summary_of(text)
    assert "\n" not in str(info.value) and "fix: " in str(info.value)


# ------------------------------------------------------------ properties

sizes = st.integers(1, 40)
kernels = st.integers(1, 5)
strides = st.integers(1, 3)


@settings(max_examples=200, deadline=None)
@given(
    n=sizes,
    m=sizes,
    c=st.integers(1, 4),
    f=st.integers(1, 4),
    k=kernels,
    s=strides,
    pad=st.sampled_from(["same", "valid"]),
    bias=st.booleans(),
)
def test_compare_column_equals_a_real_locally_connected_layer(n, m, c, f, k, s, pad, bias):
    options = (
        f"filters: {f}, kernel_size: {k}, stride: {s}, padding: {pad}, bias: {str(bias).lower()}"
    )
    try:
        conv = summary_of(f"input: [{n}, {m}, {c}]\nlayers: [conv2d: {{{options}}}]")
    except UsageError:
        assert pad == "valid" and (n < k or m < k)
        return
    lc = summary_of(f"input: [{n}, {m}, {c}]\nlayers: [locally_connected2d: {{{options}}}]")
    assert conv.rows[0].cost.locally_connected == lc.parameters
    assert conv.rows[0].step.output == lc.rows[0].step.output
    assert conv.macs == lc.macs
    if pad == "same":
        assert str(conv.rows[0].step.output) == f"{math.ceil(n / s)} x {math.ceil(m / s)} x {f}"


@settings(max_examples=100, deadline=None)
@given(
    layers=st.lists(
        st.sampled_from(
            [
                "conv2d: {filters: 3, kernel_size: 3, padding: same}",
                "batchnorm2d",
                "relu",
                "maxpool2d: {kernel_size: 2, ceil_mode: true}",
                "depthwise_conv2d: {kernel_size: 3, padding: 1}",
            ]
        ),
        min_size=1,
        max_size=6,
    )
)
def test_totals_are_the_sum_of_the_rows(layers):
    text = "input: [64, 64, 3]\nlayers:\n" + "".join(f"  - {layer}\n" for layer in layers)
    s = summary_of(text)
    assert s.parameters == sum(r.cost.parameters for r in s.rows)
    assert s.macs == sum(r.cost.macs for r in s.rows)
    assert s.activation_bytes == sum(r.step.output.size * 4 for r in s.rows)
