"""Each layer kind of issue 12 against a count written by hand (the arithmetic is in the
test) or a published network figure (tests/arch/test_zoo.py holds those)."""

from __future__ import annotations

import textwrap
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnfilter.arch.calc import summarize
from cnnfilter.arch.layers import ACTIVATIONS, Shape
from cnnfilter.arch.parse import parse_network
from cnnfilter.arch.receptive import receptive_fields
from cnnfilter.arch.shapes import trace
from cnnfilter.errors import UsageError


def net(layers: str, input_shape: str = "[8, 8, 4]", blocks: str = ""):
    text = f"input: {input_shape}\n{textwrap.dedent(blocks)}layers:\n{textwrap.dedent(layers)}"
    return parse_network(text, source="net.yaml")


def summary(layers: str, input_shape: str = "[8, 8, 4]", blocks: str = ""):
    return summarize(trace(net(layers, input_shape, blocks)))


def one(layer: str, input_shape: str = "[8, 8, 4]"):
    s = summary(f"  - {layer}\n", input_shape)
    row = s.rows[-1]
    return row.step.output, row.cost.parameters, row.cost.non_trainable, row.cost.macs


# ------------------------------------------------------------- weighted layers


def test_conv_transpose2d_follows_pytorchs_output_size_and_counts():
    # out = (n - 1) s - 2 p + d (k - 1) + output_padding + 1 = 3*2 - 2 + 2 + 1 + 1 = 8
    # weights C_in (F / groups) k k = 4 * 3 * 3 * 3 = 108, + 3 biases; MACs 108 * 4 * 4 inputs
    out, params, _, macs = one(
        "conv_transpose2d: {filters: 3, kernel_size: 3, stride: 2, padding: 1, output_padding: 1}",
        "[4, 4, 4]",
    )
    assert (out, params, macs) == (Shape(8, 8, 3), 111, 1728)


def test_conv_transpose2d_dcgan_generator_layer():
    # DCGAN's first generator layer: ConvTranspose2d(100, 512, 4, 1, 0, bias=False) on 1x1:
    # 4 x 4 x 512 and 100 * 512 * 16 = 819,200 weights (Radford et al. 2016, PyTorch example).
    out, params, _, _ = one(
        "ConvTranspose2d: {in_channels: 100, out_channels: 512, kernel_size: 4, bias: false}",
        "[1, 1, 100]",
    )
    assert (out, params) == (Shape(4, 4, 512), 819_200)


def test_conv_transpose2d_refuses_output_padding_not_below_the_stride():
    with pytest.raises(UsageError, match="output_padding 2 must be smaller than the stride"):
        one("conv_transpose2d: {filters: 1, kernel_size: 3, stride: 2, output_padding: 2}")


def test_separable_conv2d_counts_depthwise_pointwise_and_pointwise_bias():
    # Keras SeparableConv2D(16, 3) on 8 channels: 8*3*3 + 8*16 + 16 = 72 + 128 + 16 = 216;
    # MACs (72 + 128) per position x 8 x 8 positions ('same') = 12,800
    out, params, _, macs = one(
        "SeparableConv2D: {filters: 16, kernel_size: 3, padding: same}", "[8, 8, 8]"
    )
    assert (out, params, macs) == (Shape(8, 8, 16), 216, 12_800)


def test_dense_on_a_feature_map_acts_on_the_last_axis():
    # ConvNeXt's pointwise Linear(96, 384) on 7 x 7 x 96: 96*384 + 384 = 37,248 parameters,
    # 7*7*96*384 = 1,806,336 MACs, output 7 x 7 x 384
    out, params, _, macs = one("dense: {units: 384}", "[7, 7, 96]")
    assert (out, params, macs) == (Shape(7, 7, 384), 37_248, 1_806_336)


def test_dense_with_the_flattened_in_features_on_a_map_says_add_flatten():
    with pytest.raises(UsageError, match=r"in_features is 48 = 4 x 4 x 3 .*add '- flatten'"):
        one("Linear: {in_features: 48, out_features: 2}", "[4, 4, 3]")


@pytest.mark.parametrize(
    ("layer", "trainable", "running"),
    [
        ("groupnorm: {num_groups: 2}", 8, 0),  # scale and shift per channel: 2 * 4
        ("layernorm", 8, 0),  # LayerNorm(C): weight and bias, 2 * 4
        ("layernorm: {bias: false}", 4, 0),
        ("layer_scale", 4, 0),  # gamma of shape (C, 1, 1)
        ("prelu", 1, 0),  # PyTorch's default: one shared slope
        ("prelu: {num_parameters: channels}", 4, 0),
        ("batchnorm2d", 8, 8),
        ("stochastic_depth: {rate: 0.1}", 0, 0),
        ("dropout: {rate: 0.3}", 0, 0),
        ("channel_shuffle: {groups: 2}", 0, 0),
        ("upsample: {scale_factor: 2}", 0, 0),
    ],
)
def test_normalisation_scale_and_free_layers_count_by_hand(layer, trainable, running):
    _, params, non_trainable, macs = one(layer)
    assert (params, non_trainable, macs) == (trainable, running, 0)


@pytest.mark.parametrize("name", [a for a in ACTIVATIONS if a != "prelu"])
def test_every_activation_has_no_parameters_and_keeps_the_shape(name):
    assert one(name)[:3] == (Shape(8, 8, 4), 0, 0)


def test_swish_and_hardswish_spellings_are_accepted():
    types = [layer.type for layer in net("  - swish\n  - HardSwish\n  - Hardsigmoid\n").layers]
    assert types == ["silu", "hardswish", "hardsigmoid"]


def test_groupnorm_refuses_groups_that_do_not_divide_the_channels():
    with pytest.raises(UsageError, match="num_groups 3 does not divide the 4 channels"):
        one("groupnorm: {num_groups: 3}")


def test_upsample_by_scale_or_to_a_size():
    assert one("upsample: {scale_factor: [2, 3], mode: bilinear}")[0] == Shape(16, 24, 4)
    assert one("UpSampling2D: {size: [5, 7]}")[0] == Shape(5, 7, 4)
    with pytest.raises(UsageError, match="give one of scale_factor and size"):
        one("upsample")


def test_channel_split_takes_one_part():
    assert one("channel_split: {parts: 2, index: 1}")[0] == Shape(8, 8, 2)
    with pytest.raises(UsageError, match="cannot take part 2 of 4 channels in 2 parts"):
        one("channel_split: {parts: 2, index: 2}")


# ------------------------------------------------------------------ merges


def test_concat_adds_the_branch_channels_and_counts_every_branch():
    # GoogLeNet-style: 1x1 (4*2 + 2) | 3x3 pad 1 (4*3*9 + 3) | identity: 2 + 3 + 4 channels
    s = summary(
        """\
          - concat:
              name: mix
              branches:
                a: [conv2d: {filters: 2, kernel_size: 1}]
                b: [conv2d: {filters: 3, kernel_size: 3, padding: 1}]
                c: []
        """
    )
    assert s.trace.output == Shape(8, 8, 9)
    assert s.parameters == (4 * 2 + 2) + (4 * 3 * 9 + 3)
    mix = next(r for r in s.rows if r.step.layer.name == "mix")
    assert mix.total.parameters == s.parameters and mix.step.kind == "concat"


def test_concat_refuses_branches_of_different_sizes():
    with pytest.raises(UsageError, match="concat needs equal height and width"):
        summary(
            """\
              - concat:
                  branches: [[maxpool2d: {kernel_size: 2}], []]
            """
        )


def test_squeeze_and_excitation_multiplies_by_a_broadcast_gate():
    # SE on 8 x 8 x 16, squeeze 4: fc1 16*4 + 4 = 68, fc2 4*16 + 16 = 80
    s = summary(
        """\
          - multiply:
              branches:
                scale:
                  - global_avgpool2d: {keepdims: true}
                  - conv2d: {filters: 4, kernel_size: 1}
                  - relu
                  - conv2d: {filters: 16, kernel_size: 1}
                  - hardsigmoid
                x: []
        """,
        "[8, 8, 16]",
    )
    assert (s.trace.output, s.parameters, s.macs) == (Shape(8, 8, 16), 148, 64 + 64)


def test_add_refuses_branches_of_different_shapes():
    with pytest.raises(UsageError, match="branch 'a' ends in 4 x 4 x 4 but branch 'b' in"):
        summary("  - add: {branches: {a: [maxpool2d: {kernel_size: 2}], b: []}}\n")


def test_aux_branch_counts_its_parameters_but_not_its_macs_when_training_only():
    s = summary(
        """\
          - aux: {layers: [flatten, dense: {units: 10}]}
          - conv2d: {filters: 1, kernel_size: 1}
        """
    )
    # aux dense 256*10 + 10 = 2,570; conv 4 + 1 = 5; MACs: only the conv's 4 * 64
    assert (s.trace.output, s.parameters, s.macs) == (Shape(8, 8, 1), 2_575, 256)


# ------------------------------------------------------------------ blocks

BLOCKS = """\
blocks:
  unit:
    args: [filters, stride: 1]
    layers:
      - conv2d: {filters: $filters, kernel_size: 3, stride: $stride, padding: 1, name: conv}
      - conv2d: {filters: "${filters * 2}", kernel_size: 1, name: expand}
"""


def test_a_block_used_with_arguments_expands_with_prefixed_names():
    n = net(
        "  - unit: {filters: 2, name: b1}\n  - unit: {filters: 3, stride: 2, name: b2}\n",
        blocks=BLOCKS,
    )
    s = summarize(trace(n))
    assert s.trace.output == Shape(4, 4, 6)
    names = [r.step.layer.name for r in s.rows]
    assert names == ["b1.conv", "b1.expand", "b1", "b2.conv", "b2.expand", "b2"]
    # b1: 4*2*9 + 2 = 74, 2*4 + 4 = 12; b2: 4*3*9 + 3 = 111, 3*6 + 6 = 24
    assert s.parameters == 74 + 12 + 111 + 24


@pytest.mark.parametrize(
    ("use", "message"),
    [
        ("unit: {stride: 2}", "missing argument 'filters'"),
        ("unit: {filters: 2, strides: 2}", "unknown argument 'strides'; fix: did you mean stride"),
        ("unit: {filters: two}", r"layer 'unit_1.conv' \(conv2d\): filters: expected an integer"),
    ],
)
def test_block_argument_mistakes_name_the_argument(use, message):
    with pytest.raises(UsageError, match=message):
        trace(net(f"  - {use}\n", blocks=BLOCKS))


def test_arguments_outside_a_block_are_refused():
    with pytest.raises(UsageError, match="uses a block argument outside a block"):
        net("  - conv2d: {filters: $f, kernel_size: 1}\n")


def test_expressions_allow_arithmetic_only():
    blocks = (
        "blocks:\n  b:\n    args: [x]\n"
        "    layers: [conv2d: {filters: \"${__import__('os')}\", kernel_size: 1}]\n"
    )
    with pytest.raises(UsageError, match="Call is not allowed|is not allowed"):
        net("  - b: {x: 1}\n", blocks=blocks)


def test_a_block_that_uses_itself_stops_at_the_nesting_bound():
    blocks = "blocks:\n  loop:\n    layers: [loop]\n"
    with pytest.raises(UsageError, match="nested deeper than"):
        net("  - loop\n", blocks=blocks)


def test_repeat_zero_times_is_a_condition():
    blocks = (
        "blocks:\n  b:\n    args: [n]\n    layers: [repeat: {times: $n, layers: [relu]}, flatten]\n"
    )
    s = summarize(trace(net("  - b: {n: 0}\n", blocks=blocks)))
    assert [r.step.layer.type for r in s.rows] == ["flatten", "b"]


# ------------------------------------------------------------------ input layout


def test_a_channels_first_input_is_refused_with_the_channels_last_form():
    with pytest.raises(UsageError, match=r"fix: write input: \[224, 224, 3\]"):
        net("  - relu\n", "[3, 224, 224]")


def test_input_override_replaces_the_files_input():
    n = parse_network("input: [3, 224, 224]\nlayers: [relu]\n", input_shape=Shape(32, 32, 3))
    assert n.input == Shape(32, 32, 3)


# ------------------------------------------------------------------ receptive fields


def fields(layers: str, input_shape: str = "[8, 8, 1]"):
    return receptive_fields(trace(net(layers, input_shape))).rows


def test_nearest_upsampling_halves_the_jump_and_keeps_the_field():
    # conv 3x3 pad 1: r 3, j 1, start 0. Upsample x2 (stride 1/2, one input read):
    # r 3, j 1/2, unit 0 centred on input (0 + 1/2) / 2 - 1/2 = -1/4.
    rows = fields(
        "  - conv2d: {filters: 1, kernel_size: 3, padding: 1}\n  - upsample: {scale_factor: 2}\n"
    )
    f = rows[-1].field.rows
    assert (f.size, f.jump, f.start) == (3, Fraction(1, 2), Fraction(-1, 4))


def test_bilinear_upsampling_reads_two_inputs():
    rows = fields("  - upsample: {scale_factor: 2, mode: bilinear}\n")
    f = rows[-1].field.rows
    assert (f.size, f.jump, f.start) == (2, Fraction(1, 2), Fraction(-1, 4))


def test_transposed_convolution_is_a_stride_one_half_layer():
    # k 4, s 2, p 1: each output reads ceil(4 / 2) = 2 inputs: r = 1 + (2 - 1) 1 = 2;
    # j = 1/2; unit 0 centred on (p - (k - 1)/2) / s = (1 - 3/2) / 2 = -1/4.
    rows = fields("  - conv_transpose2d: {filters: 1, kernel_size: 4, stride: 2, padding: 1}\n")
    f = rows[-1].field.rows
    assert (f.size, f.jump, f.start) == (2, Fraction(1, 2), Fraction(-1, 4))


def test_a_downsample_then_upsample_returns_to_jump_one():
    rows = fields(
        "  - conv2d: {filters: 1, kernel_size: 2, stride: 2}\n"
        "  - conv_transpose2d: {filters: 1, kernel_size: 2, stride: 2}\n"
    )
    f = rows[-1].field.rows
    assert f.jump == 1 and f.size == 2 + (1 - 1) * 2  # each output reads one input unit


def test_concat_follows_the_main_path_and_states_the_largest_field():
    rows = fields(
        """\
          - concat:
              branches:
                main: [conv2d: {filters: 1, kernel_size: 1}]
                wide: [conv2d: {filters: 1, kernel_size: 5, padding: 2}]
          - conv2d: {filters: 1, kernel_size: 3, padding: 1}
        """
    )
    merge, last = rows[-2], rows[-1]
    assert merge.field.rows.size == 1 and merge.largest == (5, 5)
    assert last.field.rows.size == 3 and last.largest == (7, 7)


def test_the_small_unet_sample_by_hand():
    from cnnfilter.arch.parse import load_network

    from helpers import ROOT

    s = summarize(trace(load_network(ROOT / "samples" / "arch" / "small_unet.yaml")))
    # enc1 1*16*9+16, enc2 16*32*9+32, bottleneck 32*64*9+64, up1 (transposed) 64*32*2*2+32,
    # dec1 32*16*9+16, head 32*2+2
    assert s.parameters == 160 + 4_640 + 18_496 + 8_224 + 4_624 + 66
    assert s.trace.output == Shape(64, 64, 2)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 20),
    k=st.integers(1, 5),
    s=st.integers(1, 3),
    d=st.integers(1, 2),
    data=st.data(),
)
def test_conv_transpose2d_inverts_conv2d_output_size(n, k, s, d, data):
    # A convolution with the same kernel, stride, padding and dilation maps the transposed
    # convolution's output size back to n (PyTorch: ConvTranspose2d is Conv2d's gradient).
    from cnnfilter.engine.geometry import output_size

    p = data.draw(st.integers(0, (d * (k - 1)) // 2))
    layer = (
        f"conv_transpose2d: {{filters: 1, kernel_size: {k}, stride: {s}, padding: {p}, "
        f"dilation: {d}}}"
    )
    try:
        out = one(layer, f"[{n}, {n}, 1]")[0]
    except UsageError:
        assert (n - 1) * s - 2 * p + d * (k - 1) + 1 < 1
        return
    assert output_size(out.height, k, stride=s, padding=p, dilation=d) == n
