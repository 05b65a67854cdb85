"""Numbers too large for the float32 engine are refused up front, in one line."""

from __future__ import annotations

import pytest

from helpers import invoke


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-k", "[[1e39]]"], "weight of magnitude 1e+39"),
        (["-k", "box", "--scale", "1e300"], "weights (after --scale) must lie within"),
        (["-k", "box", "--offset", "1e300"], "--offset must be a finite number"),
        (["-k", "box", "--cval", "nan"], "--cval must be a finite number"),
    ],
)
def test_out_of_range_numbers_are_usage_errors(samples, tmp_path, extra, message):
    out = tmp_path / "out.png"
    result = invoke(["apply", str(samples / "camera.png"), *extra, "-o", str(out)])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


# -- issue 10 item 12: output formats' size limits, per file, before the work ---------------


def _strip(path, cols, rows=1):
    """A tiny PNG of ``rows`` x ``cols`` pixels (compresses to a few hundred bytes)."""
    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((rows, cols), 90, np.uint8)).save(path)
    return path


@pytest.mark.parametrize(("ext", "fmt", "limit"), [("webp", "WEBP", 16383), ("jpg", "JPEG", 65500)])
def test_an_input_too_wide_for_the_output_format_fails_alone_in_a_batch(tmp_path, ext, fmt, limit):
    src = tmp_path / "in"
    src.mkdir()
    _strip(src / "a_small.png", 40, rows=3)
    _strip(src / "b_wide.png", limit + 1)
    _strip(src / "c_exact.png", limit)  # the limit itself is fine
    out = tmp_path / "out"
    result = invoke("apply", src, "-k", "box", "-o", f"{out}/{{stem}}.{ext}", "-j", "1")
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "2 done, 0 skipped, 1 failed" in result.stderr
    assert (
        f"failed {src / 'b_wide.png'}: the output would be 1 x {limit + 1} pixels (H x W), "
        f"but {fmt} holds at most {limit} x {limit}" in result.stderr
    )
    assert sorted(p.name for p in out.iterdir()) == [f"a_small.{ext}", f"c_exact.{ext}"]


def test_the_format_limit_is_checked_before_the_filter_runs(tmp_path, monkeypatch):
    from cnnfilter.engine import image_filter

    def never(*args, **kwargs):
        raise AssertionError("the filter ran before the size check")

    monkeypatch.setattr(image_filter, "filter_image", never)
    src = _strip(tmp_path / "wide.png", 16384)
    result = invoke("apply", src, "-k", "box", "-o", tmp_path / "wide.webp")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: the output would be 1 x 16384 pixels (H x W), but WEBP holds at most "
        "16383 x 16383; write .png or .tif instead, or use a larger stride"
    )


def test_a_larger_stride_brings_the_output_within_the_format(tmp_path):
    src = _strip(tmp_path / "wide.png", 16384)
    result = invoke("apply", src, "-k", "box", "--stride", "2", "-o", tmp_path / "half.webp")
    assert result.exit_code == 0, result.stderr
    from PIL import Image

    with Image.open(tmp_path / "half.webp") as im:
        assert im.size == (8192, 1)


# -- issue 10 item 14: tiny or huge sigmas, giant YAML integers, absurd dilation ------------


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("gaussian:5:1e-300", "SIGMA"),
        ("gaussian:4:0.01", "SIGMA"),  # even size: every tap underflowed to 0, then 0/0
        ("log:5:1e-300", "SIGMA"),  # sigma**4 == 0: ZeroDivisionError
        ("log:5:1e300", "SIGMA"),  # sigma**4 overflows: OverflowError
        ("dog:5:1e-300", "SIGMA1"),
        ("dog:5:1:5e-324", "SIGMA2"),
    ],
)
def test_tiny_or_huge_sigma_is_one_line(samples, tmp_path, spec, name):
    out = tmp_path / "out.png"
    result = invoke("apply", samples / "coins.png", "-k", spec, "-o", out)
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith(f"Error: kernel '{spec}': {name} must lie within 0.1 to 100000 pixels")
    assert len(line.splitlines()) == 1
    assert not out.exists()


def test_every_accepted_sigma_gives_a_finite_kernel():
    import numpy as np
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from cnnfilter.kernels import SIGMA_RANGE, resolve_kernel

    @settings(max_examples=60, derandomize=True, deadline=None)
    @given(
        st.sampled_from(["gaussian", "log", "dog"]),
        st.integers(1, 12),
        st.floats(*SIGMA_RANGE),
        st.floats(*SIGMA_RANGE),
    )
    def check(name, size, s1, s2):
        spec = f"{name}:{size}:{s1!r}" + (f":{s2!r}" if name == "dog" else "")
        if name == "dog" and s1 == s2:
            return
        assert np.isfinite(resolve_kernel(spec).weights).all(), spec

    check()


_BIG = "9" * 5000  # Python refuses int() of over 4300 digits (ValueError)


@pytest.mark.parametrize("command", ["params", "receptive-field"])
@pytest.mark.parametrize(
    ("text", "line", "where"),
    [
        (
            "input: [32, 32, 3]\nlayers:\n"
            f"  - conv2d: {{filters: 8, kernel_size: 3, padding: {_BIG}}}",
            3,
            "layer 'conv2d_1' (conv2d)",
        ),
        (
            f"input: [{_BIG}, 32, 3]\nlayers:\n  - conv2d: {{filters: 8, kernel_size: 3}}",
            1,
            "top level",
        ),
        (f"input: [32, 32, 3]\nlayers: {_BIG}", 2, "top level"),
        (f"input: [32, 32, 3]\nlayers:\n  - conv2d: {_BIG}", 3, "layer 'conv2d'"),
    ],
)
def test_yaml_integers_of_over_4300_digits_are_one_line(tmp_path, command, text, line, where):
    arch = tmp_path / "net.yaml"
    arch.write_text(text)
    result = invoke(command, arch)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: {arch}:{line}: {where}: a number of 5000 characters, more digits than Python "
        "reads (4300); fix: write the size you mean; a layer's sizes are far smaller"
    )


@pytest.mark.parametrize("dilation", ["100000000000000000000", "1e20"])
def test_receptive_field_with_dilation_1e20_is_one_line(tmp_path, dilation):
    arch = tmp_path / "net.yaml"
    arch.write_text(
        f"input: [32, 32, 3]\nlayers:\n  - conv2d: {{filters: 8, kernel_size: 3, "
        f"dilation: {dilation}}}\n"
    )
    result = invoke("receptive-field", arch, "--json")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith(f"Error: {arch}:3: layer 'conv2d_1' (conv2d): ")
    assert len(line.splitlines()) == 1 and result.stdout == ""


# -- issue 10 item 15: NaN and inf, as option values and inside float images -----------------


def _float_inputs(tmp_path):
    """64 x 64 float32 ramps with one NaN (a .npy) and one inf (a float TIFF) at (3, 5)."""
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    with_nan, with_inf = ramp.copy(), ramp.copy()
    with_nan[3, 5], with_inf[3, 5] = np.nan, np.inf
    np.save(tmp_path / "nan.npy", with_nan)
    Image.fromarray(with_inf, mode="F").save(tmp_path / "inf.tif")
    return tmp_path / "nan.npy", tmp_path / "inf.tif"


@pytest.mark.parametrize(
    "args",
    [
        ["apply", "{img}", "-k", "box", "--range", "rescale", "-o", "{out}.png"],
        ["apply", "{img}", "-k", "sobel", "--range", "stretch", "-o", "{out}.png"],
        ["pool", "{img}", "-o", "{out}.npy"],
        ["pool", "{img}", "--op", "avg", "-o", "{out}.png"],
    ],
)
@pytest.mark.parametrize("which", [0, 1], ids=["nan-npy", "inf-tiff"])
def test_a_float_image_holding_nan_or_inf_is_refused_by_every_command(tmp_path, args, which):
    img = _float_inputs(tmp_path)[which]
    out = tmp_path / "result"
    result = invoke([a.format(img=img, out=out) for a in args])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.strip() == (
        f"Error: '{img}' holds 1 value(s) that are NaN or inf (the first at row 3, column 5); "
        "every value must be a finite number: replace them first (numpy.nan_to_num)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inf.tif", "nan.npy"]


def test_a_raw_response_keeps_nan_in_the_windows_over_it(tmp_path):
    # issue 15: only outputs whose window covers a non-finite input are non-finite
    import numpy as np

    img = _float_inputs(tmp_path)[0]  # nan.npy: one NaN at row 3, column 5
    out = tmp_path / "r.npy"
    result = invoke("apply", img, "-k", "box", "--op", "correlate", "--boundary", "constant",
                    "--range", "raw", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    values = np.load(out)
    expected = np.zeros(values.shape[:2], dtype=bool)
    expected[2:5, 4:7] = True  # the 3x3 windows that cover (3, 5)
    np.testing.assert_array_equal(np.isnan(values).reshape(values.shape[:2]), expected)


def test_detect_keeps_nan_in_its_map_instead_of_refusing(tmp_path):
    img = _float_inputs(tmp_path)[0]
    result = invoke("detect", img, "-k", "[[1,0],[0,1]]")
    assert result.exit_code == 0, result.stderr
    assert "NaN or inf" in result.stderr and "Traceback" not in result.stderr


_COMMANDS_WITH_FLOATS = {
    "apply": ["apply", "{img}", "-k", "sobel", "-o", "{out}"],
    "detect": ["detect", "{img}", "-k", "[[1,0],[0,1]]", "--same-size", "--raw", "{out}.npy"],
    "pool": ["pool", "{img}", "--op", "lp", "-o", "{out}"],
}


def _float_options():
    """Every option of type float of every command, read from the Typer app itself."""
    import typing

    import typer.main

    from cnnfilter.cli import app

    group = typer.main.get_command(app)
    found = []
    for name, command in sorted(group.commands.items()):
        hints = typing.get_type_hints(command.callback)  # the command function's annotations
        for param in command.params:
            if param.param_type_name == "option" and hints.get(param.name) in (float, float | None):
                found.append((name, max(param.opts, key=len)))
    return found


def test_the_float_options_are_the_known_ones():
    # A new float option gets the refusal below for free; this lists them so that a new
    # command with one is added to _COMMANDS_WITH_FLOATS.
    assert {c for c, _ in _float_options()} <= set(_COMMANDS_WITH_FLOATS)
    assert len(_float_options()) >= 7


@pytest.mark.parametrize(("command", "flag"), _float_options())
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999", "-Infinity"])
def test_every_float_option_refuses_nan_and_inf(samples, tmp_path, command, flag, value):
    out = tmp_path / "out.png"
    args = [a.format(img=samples / "coins.png", out=out) for a in _COMMANDS_WITH_FLOATS[command]]
    result = invoke(*args, f"{flag}={value}")
    assert result.exit_code == 2, result.stderr
    shown = {"1e999": "inf", "-Infinity": "-inf"}.get(value, value)
    assert result.stderr.strip() == f"Error: {flag} must be a finite number, got {shown}"
    assert list(tmp_path.iterdir()) == []


def test_pad_value_beyond_float32_is_refused(samples, tmp_path):
    result = invoke(
        "detect", samples / "coins.png", "-k", "[[1]]", "--same-size",
        "--raw", tmp_path / "m.npy", "--pad-value", "1e300",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--pad-value 1e+300 must be a finite number that a float32 map can hold" in result.stderr
    assert not (tmp_path / "m.npy").exists()
