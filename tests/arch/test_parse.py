"""arch.yaml parsing: the format, the aliases, and every malformed-file error."""

from __future__ import annotations

import re
import textwrap

import pytest

from cnnfilter.arch import parse as parse_module
from cnnfilter.arch.layers import (
    Activation,
    AdaptivePool2d,
    BatchNorm2d,
    Conv2d,
    Dense,
    Flatten,
    LeakyReLU,
    MaxPool2d,
    Residual,
    Shape,
)
from cnnfilter.arch.parse import load_network, parse_network
from cnnfilter.cli._errors import exit_code_for
from cnnfilter.errors import UsageError

from helpers import ROOT

ISSUE_EXAMPLE = """\
name: small-net                 # optional
input: [224, 224, 3]            # height, width, channels
layers:
  - conv2d: {filters: 64, kernel_size: 3, padding: 1, name: conv1_1}
  - relu
  - maxpool2d: {kernel_size: 2, stride: 2}
  - residual:
      body:
        - conv2d: {filters: 64, kernel_size: 3, padding: 1, bias: false}
        - batchnorm2d
      shortcut: []              # identity when empty or absent
  - repeat: {times: 2, layers: [ {conv2d: {filters: 64, kernel_size: 3, padding: same}} ]}
  - adaptive_avgpool2d: {output_size: 7}
  - flatten
  - dense: {units: 10}
"""


def parse(text: str):
    return parse_network(textwrap.dedent(text), source="net.yaml")


def one_layer(layer_yaml: str, input_shape: str = "[8, 8, 3]"):
    return parse(f"input: {input_shape}\nlayers:\n  - {layer_yaml}\n").layers[0]


# ------------------------------------------------------------------ format


def test_issue_example_parses_into_frozen_layers_with_lines_and_names():
    net = parse(ISSUE_EXAMPLE)
    assert net.name == "small-net"
    assert net.input == Shape(224, 224, 3)
    assert [type(layer) for layer in net.layers] == [
        Conv2d,
        Activation,
        MaxPool2d,
        Residual,
        Conv2d,
        Conv2d,
        AdaptivePool2d,
        Flatten,
        Dense,
    ]
    conv = net.layers[0]
    assert (conv.name, conv.line, conv.filters, conv.kernel_size, conv.padding) == (
        "conv1_1",
        4,
        64,
        (3, 3),
        (1, 1, 1, 1),
    )
    residual = net.layers[3]
    assert [layer.name for layer in residual.body] == ["conv2d_1", "batchnorm2d_1"]
    assert residual.shortcut == ()
    assert net.layers[4].padding == "same" and net.layers[4].line == 12
    assert [layer.name for layer in net.layers[4:6]] == ["conv2d_2", "conv2d_3"]
    with pytest.raises(AttributeError):
        conv.filters = 3  # frozen


def test_name_defaults_to_the_file_stem(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("input: [4, 4, 1]\nlayers: [relu]\n")
    assert load_network(path).name == "tiny"
    assert load_network(path).source == str(path)


@pytest.mark.parametrize(
    ("spelling", "options"),
    [
        ("conv2d", "{filters: 8, kernel_size: 3, stride: 2, bias: false}"),
        ("Conv2d", "{out_channels: 8, kernel_size: 3, stride: 2, bias: false}"),
        ("Conv2D", "{filters: 8, kernel: 3, strides: 2, use_bias: false}"),
        ("Convolution2D", "{filters: 8, kernel_size: [3, 3], strides: [2, 2], use_bias: false}"),
    ],
)
def test_keras_and_pytorch_spellings_give_the_same_layer(spelling, options):
    layer = one_layer(f"{spelling}: {options}")
    assert isinstance(layer, Conv2d)
    assert (layer.type, layer.filters, layer.kernel_size, layer.stride, layer.bias) == (
        "conv2d",
        8,
        (3, 3),
        (2, 2),
        False,
    )


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("Linear: {out_features: 4}", "dense"),
        ("MaxPooling2D: {pool_size: 2}", "maxpool2d"),
        ("AveragePooling2D: {pool_size: 2}", "avgpool2d"),
        ("GlobalAveragePooling2D", "global_avgpool2d"),
        ("AdaptiveMaxPool2d: {output_size: 1}", "adaptive_maxpool2d"),
        ("BatchNormalization", "batchnorm2d"),
        ("LeakyReLU: {alpha: 0.2}", "leaky_relu"),
        ("ReLU6", "relu6"),
        ("DepthwiseConv2D: {kernel_size: 3}", "depthwise_conv2d"),
        ("LocallyConnected2D: {filters: 2, kernel_size: 3}", "locally_connected2d"),
        ("ZeroPadding2D: {padding: [[1, 2], [3, 4]]}", "zero_padding2d"),
    ],
)
def test_type_aliases_map_to_the_canonical_type(spelling, canonical):
    layer = one_layer(spelling, "[8, 8, 3]")
    assert layer.type == canonical


def test_pool_stride_defaults_to_none_meaning_the_kernel_and_leaky_slope_alias():
    assert one_layer("maxpool2d: {kernel_size: 3}").stride is None
    assert one_layer("LeakyReLU: {alpha: 0.2}").negative_slope == 0.2
    assert isinstance(one_layer("leaky_relu"), LeakyReLU)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", (1, 1, 1, 1)),
        ("[1, 2]", (1, 1, 2, 2)),
        ("[0, 1, 2, 3]", (0, 1, 2, 3)),
        ("[[0, 1], [2, 3]]", (0, 1, 2, 3)),
        ("same", "same"),
        ("VALID", "valid"),
    ],
)
def test_padding_forms(text, expected):
    assert one_layer(f"conv2d: {{filters: 1, kernel_size: 3, padding: {text}}}").padding == expected


def test_bare_type_and_null_options_are_the_same():
    assert one_layer("batchnorm2d") == one_layer("batchnorm2d:").__class__(
        name="batchnorm2d_1", line=3, type="batchnorm2d"
    )
    assert isinstance(one_layer("batchnorm2d:"), BatchNorm2d)


def test_repeat_numbers_explicit_names_with_placeholder_or_suffix():
    net = parse("""\
        input: [8, 8, 3]
        layers:
          - repeat:
              times: 3
              start: 0
              layers:
                - conv2d: {filters: 3, kernel_size: 1, name: "block.{i}.conv"}
                - relu: {name: act}
        """)
    assert [layer.name for layer in net.layers] == [
        "block.0.conv",
        "act_0",
        "block.1.conv",
        "act_1",
        "block.2.conv",
        "act_2",
    ]


def test_yaml_anchors_and_aliases_are_allowed_within_bounds():
    net = parse("""\
        input: [8, 8, 3]
        layers:
          - &c {conv2d: {filters: 3, kernel_size: 1}}
          - *c
        """)
    assert [layer.name for layer in net.layers] == ["conv2d_1", "conv2d_2"]


# ------------------------------------------------------------------ errors

ERRORS = [
    # (name, text, line, pattern)
    (
        "unknown layer",
        "input: [8, 8, 3]\nlayers:\n  - conv2dd: {filters: 2}\n",
        3,
        r"layer 'conv2dd': unknown layer type 'conv2dd'; fix: did you mean conv2d\?",
    ),
    (
        "unknown option",
        "input: [8, 8, 3]\nlayers:\n  - conv2d: {filtres: 2, kernel_size: 3}\n",
        3,
        r"layer 'conv2d_1' \(conv2d\): unknown option 'filtres'; fix: did you mean filters\?",
    ),
    (
        "missing option",
        "input: [8, 8, 3]\nlayers:\n  - relu\n  - conv2d: {kernel_size: 3}\n",
        4,
        r"layer 'conv2d_1' \(conv2d\): missing option 'filters'; fix: add filters: <value>",
    ),
    (
        "bad value",
        "input: [8, 8, 3]\nlayers:\n  - conv2d: {filters: -1, kernel_size: 3}\n",
        3,
        r"filters: must be >= 1, got -1; fix: use a value >= 1",
    ),
    (
        "bool is not an int",
        "input: [8, 8, 3]\nlayers:\n  - dense: {units: true}\n",
        3,
        r"units: expected an integer, got True",
    ),
    (
        "bad padding",
        "input: [8, 8, 3]\nlayers:\n  - conv2d: {filters: 1, kernel_size: 3, padding: full}\n",
        3,
        r"unknown padding 'full'; fix: write same, valid",
    ),
    (
        "option twice via alias",
        "input: [8, 8, 3]\nlayers:\n  - conv2d: {filters: 1, out_channels: 2, kernel_size: 3}\n",
        3,
        r"option 'filters' given twice \(as 'out_channels'\)",
    ),
    (
        "duplicate key",
        "input: [8, 8, 3]\nlayers:\n  - conv2d: {filters: 1,\n      filters: 2, kernel_size: 3}\n",
        4,
        r"option 'filters' given twice \(also line 3\)",
    ),
    (
        "two-key layer",
        "input: [8, 8, 3]\nlayers:\n  - conv2d: {filters: 1, kernel_size: 3}\n    name: c\n",
        3,
        r"a layer must be a type name or a one-key mapping.*put name: inside",
    ),
    (
        "duplicate names",
        "input: [8, 8, 3]\nlayers:\n  - relu: {name: a}\n  - relu: {name: a}\n",
        4,
        r"layer 'a' \(relu\): the name is already used on line 3; fix: give each layer its own",
    ),
    (
        "unsafe python tag",
        "input: [8, 8, 3]\nlayers:\n  - !!python/object/apply:os.system ['echo hi']\n",
        3,
        r"unsafe or unsupported YAML tag 'tag:yaml.org,2002:python/object/apply",
    ),
    (
        "custom tag",
        "input: [8, 8, 3]\nlayers:\n  - relu: {name: !secret x}\n",
        3,
        r"unsafe or unsupported YAML tag '!secret'",
    ),
    (
        "merge key",
        "input: [8, 8, 3]\nbase: &b {filters: 1}\nlayers:\n  - conv2d: {<<: *b, kernel_size: 3}\n",
        2,
        r"unknown key 'base'",
    ),
    (
        "merge key in layer",
        "input: [8, 8, 3]\nlayers:\n  - conv2d: {<<: {filters: 1}, kernel_size: 3}\n",
        3,
        r"unsafe or unsupported YAML tag 'tag:yaml.org,2002:merge'",
    ),
    (
        "invalid yaml",
        "input: [8, 8, 3]\nlayers:\n  - conv2d: {filters: 1\n  - relu\n",
        5,
        r"invalid YAML .* flow mapping started on line 3\); fix: check the indentation",
    ),
    ("empty file", "", 1, r"the file is empty"),
    ("not a mapping", "- relu\n", 1, r"top level: expected a mapping"),
    ("missing layers", "input: [8, 8, 3]\n", 1, r"missing layers:; fix: write layers:"),
    ("missing input", "layers: [relu]\n", 1, r"missing input:; fix: write input: \[height"),
    ("bad input", "input: [8, 8]\nlayers: [relu]\n", 1, r"input \[8, 8\] is not \[height, width"),
    ("no layers", "input: [8, 8, 3]\nlayers: []\n", 2, r"no layers"),
    (
        "unknown top key",
        "input: [8, 8, 3]\nlayer: [relu]\nlayers: [relu]\n",
        2,
        r"unknown key 'layer'; fix: use only name, input, blocks and layers",
    ),
    (
        "residual without body",
        "input: [8, 8, 3]\nlayers:\n  - residual: {shortcut: []}\n",
        3,
        r"layer 'residual_1' \(residual\): missing option 'body'",
    ),
    (
        "repeat without times",
        "input: [8, 8, 3]\nlayers:\n  - repeat: {layers: [relu]}\n",
        3,
        r"repeat: missing option 'times'",
    ),
    (
        "repeat zero times",
        "input: [8, 8, 3]\nlayers:\n  - repeat: {times: -1, layers: [relu]}\n",
        3,
        r"repeat: times -1 is not a whole number >= 0",
    ),
    (
        "activation name",
        "input: [8, 8, 3]\nlayers:\n  - dense: {units: 2, activation: swoosh}\n",
        3,
        r"unknown activation 'swoosh'",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "pattern"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_malformed_file_gives_one_line_with_file_line_layer_and_fix(text, line, pattern):
    with pytest.raises(UsageError, match=pattern) as info:
        parse_network(text, source="bad.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"bad.yaml:{line}: "), message
    assert "fix: " in message
    assert exit_code_for(info.value) == 2


def test_billion_laughs_alias_bomb_stops_at_a_budget():
    # 10 levels, each repeating the previous anchor 10 times: 10**9 layers in 1 KB.
    lines = ["input: [8, 8, 3]", "layers:", "  - &a0 {dropout: {rate: 0.1}}"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"  - &a{i} {{repeat: {{times: 1, layers: [{refs}]}}}}")
    text = "\n".join(lines) + "\n"
    assert len(text) < 1500
    with pytest.raises(UsageError, match=r"more than \d+ (YAML nodes|layers)\b.*; fix: "):
        parse_network(text, source="bomb.yaml")


def test_nested_repeat_counts_are_bounded():
    nested = "relu"
    for _ in range(8):
        nested = f"{{repeat: {{times: 10, layers: [{nested}]}}}}"
    with pytest.raises(
        UsageError, match=r"more than 20000 layers after expanding repeat \(the limit\); fix: lower"
    ):
        parse_network(f"input: [8, 8, 3]\nlayers: [{nested}]\n", source="bomb.yaml")


def test_alias_fan_out_is_bounded_by_the_node_budget(monkeypatch):
    monkeypatch.setattr(parse_module, "MAX_NODES", 500)
    layer = "{conv2d: {filters: 1, kernel_size: 1}}"
    text = f"input: [8, 8, 3]\nlayers:\n  - &l {layer}\n" + "  - *l\n" * 200
    with pytest.raises(
        UsageError,
        match=r"expands to more than 500 YAML nodes \(an alias counts at each use\); fix: remove",
    ):
        parse_network(text, source="fan.yaml")


def test_deep_nesting_is_refused_before_the_recursive_composer():
    text = "input: [8, 8, 3]\nlayers: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(UsageError, match=r"bad.yaml:2: top level: YAML nested deeper than 50"):
        parse_network(text, source="bad.yaml")


def test_file_errors(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (parse_module.MAX_BYTES + 1))
    with pytest.raises(UsageError, match=r"larger than 1000000 bytes"):
        load_network(big)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(UsageError, match=r"not UTF-8 text; fix: save it as UTF-8"):
        load_network(latin)
    with pytest.raises(UsageError, match=r"cannot read the layer file"):
        load_network(tmp_path / "missing.yaml")


def test_every_sample_parses(samples):
    paths = sorted((samples / "arch").glob("*.yaml"))
    assert len(paths) >= 6
    for path in paths:
        net = load_network(path)
        assert net.layers, path
        assert re.fullmatch(r"[\w.-]+", net.name)


def test_every_layer_type_is_documented():
    from cnnfilter.arch.layers import LAYER_TYPES

    docs = (ROOT / "docs" / "reference" / "arch-yaml.md").read_text()
    missing = [name for name in LAYER_TYPES if f"`{name}`" not in docs]
    assert missing == []
