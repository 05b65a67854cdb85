"""Fuzzing the parsers of untrusted input: every input succeeds or ends in a documented error.

"Documented error" means :class:`cnnfilter.errors.UsageError` (exit 2) or
:class:`cnnfilter.errors.ProcessingError` (exit 1); any other exception is a
bug that would reach the user as a traceback. Each example also runs under a
watchdog, so a hang fails the test instead of stalling the suite.

The runs are derandomized (the same examples every time) and small, so the
suite stays fast and reproducible. For a long local fuzz session:
``CNNFILTER_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py``
(random, not derandomized).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnfilter import imageio
from cnnfilter.errors import CnnfilterError
from cnnfilter.kernels import REGISTRY, resolve_kernel

from helpers import watchdog

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LONG = int(os.environ.get("CNNFILTER_FUZZ_EXAMPLES", "0"))

#: Seconds one example may take before it counts as a hang (a guard, not a speed test).
WATCHDOG_SECONDS = 20


def fuzz_settings(examples: int):
    return settings(
        max_examples=LONG or examples,
        derandomize=not LONG,
        deadline=None,  # timing on a shared 2-core machine is noise; the watchdog catches hangs
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )


def succeeds_or_documented_error(func, *args, **kwargs):
    """Run ``func``; return its result, or None after a documented error."""
    with watchdog(WATCHDOG_SECONDS):
        try:
            return func(*args, **kwargs)
        except CnnfilterError as exc:
            message = str(exc)
            assert message and "\n" not in message, f"not one clear line: {message!r}"
            return None


# -- the kernel parser -----------------------------------------------------------------------

KERNEL_ALPHABET = "0123456789-+.,;:[]eEnaifx \n#\"'_" + "abcdgilmnoprstuxy"
names = st.sampled_from(sorted(REGISTRY) + ["sobelx", "laplace", "blur", "reflect"])
params = st.lists(
    st.one_of(
        st.integers(-5, 40).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.text(KERNEL_ALPHABET, max_size=4),
    ),
    max_size=4,
)
named_specs = st.builds(lambda n, p: ":".join([n, *p]), names, params)
numbers = st.one_of(
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.text("0123456789-.e", max_size=3),
)
json_like = st.recursive(
    numbers | st.booleans() | st.none() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=40,
).map(lambda v: __import__("json").dumps(v))
rows = st.lists(st.lists(numbers.map(str), max_size=6), max_size=6).map(
    lambda rs: ";".join(",".join(r) for r in rs)
)
kernel_specs = st.one_of(named_specs, json_like, rows, st.text(KERNEL_ALPHABET, max_size=40))


@fuzz_settings(400)
@given(kernel_specs)
def test_kernel_spec_parses_or_is_a_usage_error(spec):
    kernel = succeeds_or_documented_error(resolve_kernel, spec)
    if kernel is not None:
        w = kernel.weights
        assert w.dtype == np.float64 and w.ndim in (2, 3) and w.size > 0
        assert np.all(np.isfinite(w))


# -- the image reader ------------------------------------------------------------------------


def _small_samples() -> list[bytes]:
    """Small crops of the real sample photos, in every format cnnfilter reads."""
    out = []
    with Image.open(os.path.join(ROOT, "samples", "astronaut.png")) as im:
        rgb = im.convert("RGB").crop((200, 100, 216, 112))
    with Image.open(os.path.join(ROOT, "samples", "horse.png")) as im:
        rgba = im.convert("RGBA").crop((100, 100, 112, 110))
    variants = [
        (rgb, "PNG", {}),
        (rgb, "JPEG", {"quality": 80}),
        (rgb.convert("L"), "BMP", {}),
        (rgb, "TIFF", {}),
        (rgb.convert("CMYK"), "TIFF", {"compression": "tiff_deflate"}),
        (rgba, "WEBP", {"lossless": True}),
        (rgba, "PNG", {}),
        (rgb.convert("LA"), "PNG", {}),
        (rgb.convert("I;16"), "PNG", {}),
        (rgb.convert("F"), "TIFF", {}),
        (rgb.convert("P"), "GIF", {"save_all": True, "append_images": [rgb.convert("P")] * 2}),
        (rgb.convert("1"), "TIFF", {"compression": "group4"}),
    ]
    for image, fmt, options in variants:
        buf = io.BytesIO()
        image.save(buf, format=fmt, **options)
        out.append(buf.getvalue())
    return out


SAMPLES = _small_samples()


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


def check_decoded(loaded) -> None:
    if loaded is None:
        return
    h, w = loaded.pixels.shape[:2]
    assert loaded.pixels.ndim in (2, 3) and h * w <= 10**6
    if loaded.alpha is not None:
        assert loaded.alpha.shape == (h, w)


@fuzz_settings(600)
@given(mutated(), st.integers(0, 2))
def test_mutated_real_images_decode_or_fail_cleanly(data, frame):
    check_decoded(
        succeeds_or_documented_error(imageio.decode_image, data, max_pixels=10**6, frame=frame)
    )


@fuzz_settings(200)
@given(st.binary(max_size=512))
def test_random_bytes_decode_or_fail_cleanly(data):
    check_decoded(succeeds_or_documented_error(imageio.decode_image, data, max_pixels=10**6))


@fuzz_settings(150)
@given(
    st.sampled_from([s[:16] for s in SAMPLES]),  # a real signature and header start
    st.binary(min_size=0, max_size=300),
)
def test_real_signature_with_random_body_fails_cleanly(head, body):
    check_decoded(succeeds_or_documented_error(imageio.decode_image, head + body, max_pixels=10**6))


@pytest.mark.parametrize("index", range(len(SAMPLES)))
def test_unmutated_samples_decode(index):
    loaded = imageio.decode_image(SAMPLES[index])
    assert loaded.pixels.shape[:2] in ((12, 16), (10, 12))


# -- the arch.yaml parser and the calculators behind params / receptive-field ---------------

ARCH_DIR = os.path.join(ROOT, "samples", "arch")
ARCH_SAMPLES = [
    Path(ARCH_DIR, name).read_text(encoding="utf-8")
    for name in sorted(os.listdir(ARCH_DIR))
    if name.endswith(".yaml")
]
YAML_ALPHABET = "abcdefghijklmnopqrstuvwxyz_0123456789 -:,[]{}\n#&*!'\".+e"
LAYER_NAMES = [
    "conv2d", "conv", "maxpool2d", "avgpool2d", "adaptive_avgpool2d", "dense", "linear",
    "flatten", "relu", "batchnorm2d", "dropout", "residual", "repeat", "locally_connected2d",
    "globalavgpool2d", "unknown_layer",
]  # fmt: skip
OPTIONS = [
    "filters", "kernel_size", "stride", "padding", "dilation", "units", "bias", "name",
    "times", "layers", "body", "shortcut", "output_size", "rate", "groups", "ceil_mode",
    "out_channels", "in_channels",
]  # fmt: skip
yaml_values = st.one_of(
    st.integers(-3, 300).map(str),
    st.sampled_from(["0", "1e400", "-0", "1.5", "99999999999999999999", "null", "true",
                     "same", "valid", "full", "'x'", "[3, 3]", "[1, 2, 3, 4]", "[]", "{}",
                     "!!python/object/apply:os.system ['true']", "*a", "&a 3"]),
)  # fmt: skip


@st.composite
def generated_arch(draw) -> str:
    h, w, c = draw(st.tuples(st.integers(0, 300), st.integers(0, 300), st.integers(0, 8)))
    lines = [f"input: [{h}, {w}, {c}]", "layers:"]
    for _ in range(draw(st.integers(0, 8))):
        layer = draw(st.sampled_from(LAYER_NAMES))
        opts = draw(st.lists(st.tuples(st.sampled_from(OPTIONS), yaml_values), max_size=4))
        body = ", ".join(f"{k}: {v}" for k, v in opts)
        lines.append(f"  - {layer}: {{{body}}}" if opts else f"  - {layer}")
    return "\n".join(lines) + "\n"


@st.composite
def mutated_arch(draw) -> str:
    text = draw(st.sampled_from(ARCH_SAMPLES))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "duplicate-line"]))
        if kind == "insert":
            text = text[:at] + draw(st.text(YAML_ALPHABET, min_size=1, max_size=8)) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)) :]
        elif kind == "replace":
            text = text[:at] + draw(st.sampled_from(YAML_ALPHABET)) + text[at + 1 :]
        else:
            lines = text.splitlines(keepends=True)
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                lines.insert(i, lines[i])
                text = "".join(lines)
    return text


def run_arch_commands(text: str) -> None:
    """What params and receptive-field compute, JSON documents included."""
    import json

    from cnnfilter.arch import parse_network, report
    from cnnfilter.arch.calc import summarize
    from cnnfilter.arch.receptive import receptive_fields
    from cnnfilter.arch.shapes import trace

    network = parse_network(text, source="fuzz.yaml")
    traced = trace(network)
    json.dumps(report.params_document(summarize(traced), compare=True), allow_nan=False)
    json.dumps(report.fields_document(receptive_fields(traced)), allow_nan=False)


@fuzz_settings(300)
@given(st.one_of(generated_arch(), mutated_arch()))
def test_arch_files_parse_and_compute_or_give_a_usage_error(text):
    succeeds_or_documented_error(run_arch_commands, text)


@fuzz_settings(150)
@given(st.text(YAML_ALPHABET, max_size=200))
def test_random_yaml_text_gives_a_usage_error(text):
    succeeds_or_documented_error(run_arch_commands, text)


# -- forward: layer files with inline weights, run on a small photo ---------------------------

weight_values = st.one_of(
    st.floats(-4, 4, allow_nan=False, width=32).map(repr),
    st.sampled_from([".nan", ".inf", "-.inf", "1e39", "1e-3", "3.0e38", "abc", "null", "true"]),
)


def _nested(depth_sizes: list[int], values) -> st.SearchStrategy[str]:
    """A YAML flow list of ``depth_sizes`` (ragged or too deep when drawn so)."""
    if not depth_sizes:
        return values
    inner = _nested(depth_sizes[1:], values)
    return st.lists(inner, min_size=1, max_size=depth_sizes[0]).map(
        lambda items: "[" + ", ".join(items) + "]"
    )


arrays = st.lists(st.integers(1, 3), min_size=0, max_size=5).flatmap(
    lambda sizes: _nested(sizes, weight_values)
)
kernel_entries = st.one_of(
    st.sampled_from(["sobel-x", "curve", "none", "sobel", "box:3", "nosuch", "gaussian:5:0", "3"]),
    st.lists(st.sampled_from(["sobel-x", "none", "box:2"]), min_size=1, max_size=4).map(
        lambda names: "[" + ", ".join(names) + "]"
    ),
)
FORWARD_LAYERS = {
    "conv2d": ["filters", "kernel_size", "groups", "dilation", "padding", "stride", "weight",
               "bias", "kernels"],
    "depthwise_conv2d": ["kernel_size", "depth_multiplier", "weight", "bias", "padding"],
    "separable_conv2d": ["filters", "kernel_size", "depthwise_weight", "pointwise_weight"],
    "conv_transpose2d": ["filters", "kernel_size", "stride", "groups", "weight", "bias"],
    "batchnorm2d": ["running_mean", "running_var", "weight", "bias"],
    "dense": ["units", "weight", "bias"],
    "flatten": [], "relu": [], "maxpool2d": ["kernel_size", "ceil_mode"],
    "prelu": ["weight", "num_parameters"], "upsample": ["scale_factor"],
}  # fmt: skip
_ARRAY_KEYS = {"weight", "bias", "running_mean", "running_var", "depthwise_weight",
               "pointwise_weight"}  # fmt: skip


@st.composite
def forward_arch(draw) -> str:
    lines = ["input: [6, 6, 1]", "layers:"]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(sorted(FORWARD_LAYERS)))
        keys = draw(st.lists(st.sampled_from(FORWARD_LAYERS[kind] or ["name"]), max_size=4,
                             unique=True))  # fmt: skip
        opts = []
        for key in keys:
            if key in _ARRAY_KEYS and draw(st.booleans()):
                value = draw(arrays)
            elif key == "kernels":
                value = "[" + ", ".join(draw(st.lists(kernel_entries, max_size=3))) + "]"
            else:
                value = draw(st.sampled_from(["1", "2", "3", "0", "-1", "true", "[1, 2]", "same"]))
            opts.append(f"{key}: {value}")
        lines.append(f"  - {kind}: {{{', '.join(opts)}}}" if opts else f"  - {kind}")
    return "\n".join(lines) + "\n"


def run_forward(text: str, x: np.ndarray, init: str | None) -> None:
    from cnnfilter.arch import parse_network
    from cnnfilter.arch.layers import Shape
    from cnnfilter.arch.run import run_network
    from cnnfilter.arch.shapes import trace
    from cnnfilter.arch.weights import Weights

    network = parse_network(text, source="fuzz.yaml", input_shape=Shape(*x.shape))
    trace(network)
    with np.errstate(all="ignore"):
        run_network(network, x, Weights({}, init, 0))


@fuzz_settings(200)
@given(forward_arch(), st.sampled_from([1, 3]), st.sampled_from([None, "he"]))
def test_forward_on_layer_files_with_inline_weights_runs_or_gives_a_usage_error(text, c, init):
    x = np.random.default_rng(0).random((6, 6, c), dtype=np.float32)
    succeeds_or_documented_error(run_forward, text, x, init)
