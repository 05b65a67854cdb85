"""Shell pipelines: '-' for stdin/stdout, --format, --json, streams, colour and exit codes."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage

from cnnfilter.cli._output import dumps
from cnnfilter.tasks.apply import APPLY_REPORT_KEYS

from helpers import ROOT, invoke

#: An SGR escape that sets a foreground or background colour (30-49, 90-107).
COLOUR = re.compile(rb"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")
CLI = [sys.executable, "-m", "cnnfilter"]
SOBEL_X = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


# -- stdin and stdout ------------------------------------------------------------------


def test_identity_from_stdin_to_stdout_returns_the_same_pixels(samples):
    data = (samples / "camera.png").read_bytes()
    result = invoke("apply", "-", "-k", "identity", "-o", "-", "--format", "png", input=data)
    assert result.exit_code == 0, result.stderr
    assert np.array_equal(pixels(result.stdout_bytes), pixels(data))
    assert "convolution of <stdin>" in result.stderr and "wrote <stdout>" in result.stderr


def test_stdin_format_comes_from_the_signature_not_a_name(samples):
    # a JPEG on stdin: nothing but its bytes tells what it is
    data = (samples / "rocket.jpg").read_bytes()
    result = invoke("apply", "-", "-k", "identity", "-o", "-", "--format", "npy", input=data)
    assert result.exit_code == 0, result.stderr
    arr = np.load(io.BytesIO(result.stdout_bytes))
    assert arr.shape == pixels(data).shape
    assert np.array_equal(arr, pixels(data).astype(np.float32))


def test_piped_result_equals_the_file_result(samples, tmp_path):
    src = samples / "astronaut.png"
    via_file = tmp_path / "file.png"
    assert invoke("apply", src, "-k", "sobel-x", "-o", via_file).exit_code == 0
    piped = invoke(
        "apply", "-", "-k", "sobel-x", "-o", "-", "--format", "png", input=src.read_bytes()
    )
    assert piped.exit_code == 0
    assert np.array_equal(pixels(piped.stdout_bytes), np.asarray(Image.open(via_file)))


def test_stdout_takes_the_input_format_without_format(samples, tmp_path):
    result = invoke("apply", samples / "camera.png", "-k", "sobel-x", "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"\x89PNG")


def test_format_that_contradicts_the_extension_is_refused(samples, tmp_path):
    result = invoke(
        "apply",
        samples / "camera.png",
        "-k",
        "sobel-x",
        "-o",
        tmp_path / "x.png",
        "--format",
        "jpg",
    )
    assert result.exit_code == 2
    assert "--format jpg disagrees with the extension" in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_format_agreeing_with_the_extension_is_fine(samples, tmp_path):
    out = tmp_path / "x.jpeg"
    result = invoke("apply", samples / "camera.png", "-k", "box", "-o", out, "--format", "jpg")
    assert result.exit_code == 0, result.stderr
    with Image.open(out) as im:
        assert im.format == "JPEG"


def test_empty_stdin_is_a_processing_error():
    result = invoke("apply", "-", "-k", "sobel-x", "-o", "-", "--format", "png", input=b"")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "Error: '<stdin>' is empty (0 bytes), not an image"


def test_json_and_stdout_image_cannot_share_stdout(samples):
    result = invoke(
        "apply", samples / "camera.png", "-k", "sobel-x", "-o", "-", "--format", "png", "--json"
    )
    assert result.exit_code == 2
    assert "--json cannot use it too" in result.stderr


# -- --json ----------------------------------------------------------------------------


def test_json_report_has_the_documented_keys_and_true_values(samples, tmp_path):
    out = tmp_path / "edges.png"
    result = invoke(
        "apply", samples / "camera.png", "-k", "sobel-x", "--boundary", "symm", "-o", out, "--json"
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)  # stdout is exactly one JSON document
    assert list(report) == list(APPLY_REPORT_KEYS)
    assert report["input"] == {
        "path": str(samples / "camera.png"),
        "shape": [512, 512, 1],
        "dtype": "uint8",
        "mode": "L",
        "format": "PNG",
        "frame": 0,
        "frames": 1,
    }
    assert report["output"]["path"] == str(out)
    assert report["output"]["shape"] == [512, 512, 1]
    assert report["output"]["bytes"] == out.stat().st_size
    assert report["kernel"] == {"name": "sobel-x", "shape": [3, 3], "sum": 0.0, "scale": None}
    assert report["operation"] == "convolution"
    assert report["boundary"] == "symmetric"  # the canonical name of the alias symm
    assert report["padding"] == {"spec": "same", "pixels": [1, 1, 1, 1]}
    assert report["stride"] == [1, 1] and report["dilation"] == [1, 1]
    assert report["channels"] == "separate"
    assert report["range"] == "stretch"  # the default for zero-sum kernels since issue 15
    assert report["stretch"]["percentile"] == 99.5 and report["stretch"]["gamma"] == 0.5
    assert report["combine"] is None
    assert report["method"] == "direct"
    assert set(report["timings_ms"]) == {"read", "filter", "encode", "write", "total"}
    # the response range, against scipy.ndimage (reflect == symmetric)
    camera = np.asarray(Image.open(samples / "camera.png"), dtype=np.float64)
    reference = ndimage.convolve(camera, SOBEL_X, mode="reflect")
    assert report["response"]["shape"] == [512, 512, 1]
    assert report["response"]["min"] == pytest.approx(reference.min())
    assert report["response"]["max"] == pytest.approx(reference.max())


def test_json_reports_correlation_stride_and_padding_numbers(samples, tmp_path):
    result = invoke(
        "apply",
        samples / "astronaut.png",
        "-k",
        "box:4",
        "--op",
        "correlate",
        "--stride",
        "2,3",
        "--padding",
        "1,2",
        "--scale",
        "2",
        "-o",
        tmp_path / "o.npy",
        "--json",
        "-q",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # --quiet
    report = json.loads(result.stdout)
    assert report["operation"] == "cross-correlation"
    assert report["padding"] == {"spec": [1, 2], "pixels": [1, 1, 2, 2]}
    assert report["stride"] == [2, 3]
    # out = floor((512 + 2 - 4) / 2) + 1 = 256 rows, floor((512 + 4 - 4) / 3) + 1 = 171 cols
    assert report["output"]["shape"] == [256, 171, 3]
    assert report["kernel"]["scale"] == 2.0 and report["kernel"]["sum"] == pytest.approx(2.0)
    assert report["range"] == "raw" and report["output"]["dtype"] == "float32"
    assert np.load(tmp_path / "o.npy").shape == (256, 171, 3)


# -- streams, colour and exit codes as real processes ----------------------------------


def test_shell_pipeline_of_two_cnnfilter_processes(samples, tmp_path):
    out = tmp_path / "small.png"
    shell = (
        f"cat {samples / 'astronaut.png'} | {sys.executable} -m cnnfilter apply - -k sobel-x "
        f"-o - --format png | {sys.executable} -m cnnfilter apply - -k box:2 --stride 2 "
        f"--padding valid -o {out}"
    )
    proc = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.count("wrote") == 2
    result = np.asarray(Image.open(out))
    # a 2x2 mean with stride 2 and no padding halves each side
    assert result.shape == (256, 256, 3)
    edges = np.asarray(Image.open(io.BytesIO(_sobel_png(samples))), dtype=np.float64)
    expected = edges.reshape(256, 2, 256, 2, 3).mean(axis=(1, 3))
    assert np.abs(result - expected).max() <= 0.5 + 1e-9


def _sobel_png(samples) -> bytes:
    proc = subprocess.run(
        [*CLI, "apply", str(samples / "astronaut.png"), "-k", "sobel-x", "-o", "-", "--format",
         "png"],
        capture_output=True, check=True,
    )  # fmt: skip
    return proc.stdout


def test_broken_pipe_ends_quietly_with_the_sigpipe_exit_code(samples):
    # `true` exits at once, so the image is written into a pipe nobody reads: like `cat`,
    # cnnfilter ends without a word and the shell sees 141 (128 + SIGPIPE)
    shell = (
        f"{sys.executable} -m cnnfilter apply {samples / 'astronaut.png'} -k sobel-x -o - "
        "--format bmp | true; echo ${PIPESTATUS[0]}"
    )
    proc = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=False)
    assert proc.stdout.strip() == "141"
    assert proc.stderr == ""


def _run_on_pty(args: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    """Run with stdout and stderr on a pseudo-terminal; return (exit code, bytes seen)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return proc.wait(timeout=60), seen


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    env["TERM"] = "xterm-256color"
    env.update(extra)
    return env


def _batch_args(samples, out) -> list[str]:
    files = [str(samples / n) for n in ("camera.png", "coins.png", "text.png")]
    return [*CLI, "apply", *files, "-k", "box", "-o", f"{out}/", "-j", "1"]


def test_terminal_gets_a_coloured_progress_bar(samples, tmp_path):
    code, seen = _run_on_pty(_batch_args(samples, tmp_path / "a"), _env())
    assert code == 0
    assert b"files" in seen and b"/3" in seen  # "0/3 files", "3/3 files"
    assert COLOUR.search(seen)
    assert b"3 done, 0 skipped, 0 failed" in seen


@pytest.mark.parametrize(
    ("extra_env", "extra_args", "summary"),
    [
        ({}, ["--quiet"], ""),  # -q: nothing at all on success, not even the summary
        ({"CNNFILTER_QUIET": "1"}, [], ""),  # the environment's -q, for scripts
    ],
)
def test_quiet_turns_colour_and_animation_off(samples, tmp_path, extra_env, extra_args, summary):
    args = _batch_args(samples, tmp_path / "b") + extra_args
    code, seen = _run_on_pty(args, _env(**extra_env))
    assert code == 0
    assert b"\x1b" not in seen  # not a single escape sequence: no colour, no cursor moves
    assert seen.strip().decode() == summary
    assert len(list((tmp_path / "b").iterdir())) == 3


def test_no_color_takes_the_colour_away_but_keeps_the_progress_bar(samples, tmp_path):
    code, seen = _run_on_pty(_batch_args(samples, tmp_path / "c"), _env(NO_COLOR="1"))
    assert code == 0
    assert not COLOUR.search(seen)  # no colour...
    assert b"/3" in seen and b"files" in seen  # ...but the bar still shows progress
    assert b"3 done, 0 skipped, 0 failed" in seen
    assert len(list((tmp_path / "c").iterdir())) == 3


def test_pipe_gets_no_escape_codes():
    proc = subprocess.run([*CLI, "kernels"], capture_output=True, env=_env(), check=True)
    assert b"\x1b[" not in proc.stdout and b"sobel-x" in proc.stdout


def test_binary_image_is_not_written_to_a_terminal(samples):
    code, seen = _run_on_pty(
        [*CLI, "apply", str(samples / "camera.png"), "-k", "box", "-o", "-", "--format", "png"],
        _env(),
    )
    assert code == 2
    assert b"refusing to write binary image data to a terminal" in seen
    assert b"\x89PNG" not in seen


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["apply", "{camera}", "-k", "box", "-o", "{tmp}/ok.png"], 0),
        (["apply", "{camera}", "-k", "nope", "-o", "{tmp}/x.png"], 2),  # usage: bad kernel
        (["apply", "{camera}", "-o", "{tmp}/x.png"], 2),  # usage: no kernel
        (["apply", "{camera}", "-k", "box", "-o", "{tmp}/x.png", "--bogus"], 2),  # click usage
        (["apply", "{tmp}/junk.png", "-k", "box", "-o", "{tmp}/x.png"], 1),  # processing
    ],
)
def test_exit_codes_as_documented(samples, tmp_path, args, code):
    (tmp_path / "junk.png").write_text("not an image")
    argv = [a.format(camera=samples / "camera.png", tmp=tmp_path) for a in args]
    proc = subprocess.run([*CLI, *argv], capture_output=True, text=True, check=False)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    if code:
        assert proc.stderr.strip().splitlines()[-1].startswith(("Error:", "╰", "Try"))


# -- the other commands ----------------------------------------------------------------


def test_kernels_json_lists_the_registry():
    from cnnfilter.kernels import REGISTRY

    result = invoke("kernels", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [k["usage"] for k in doc["kernels"]] == [e.usage for e in REGISTRY.values()]
    box = next(k for k in doc["kernels"] if k["name"] == "box")
    assert box["parameters"] == {"size": 3} and box["shape"] == [3, 3]
    assert box["sum"] == pytest.approx(1.0) and box["separable"] is True


def test_kernels_json_for_one_kernel():
    doc = json.loads(invoke("kernels", "sobel-x", "--json").stdout)
    assert doc == {
        "name": "sobel-x",
        "shape": [3, 3],
        "weights": SOBEL_X.tolist(),
        "sum": 0.0,
        "separable": True,
        "factors": {"column": [1.0, 2.0, 1.0], "row": [1.0, 0.0, -1.0]},
        "description": doc["description"],
        "source": "Wikipedia, 'Sobel operator' (Gx)",
        "convention": "convolution",
    }
    # the factors multiply back to the kernel
    factors = doc["factors"]
    assert np.array_equal(np.outer(factors["column"], factors["row"]), SOBEL_X)


def test_params_json_through_jq_from_stdin(samples):
    # LeNet-5 as in samples/arch/lenet5.yaml: 61,706 parameters (LeCun et al. 1998, the
    # classic count with full C3 connections as usually re-implemented)
    arch = samples / "arch" / "lenet5.yaml"
    shell = f"cat {arch} | {sys.executable} -m cnnfilter params - --json | jq '.total.parameters'"
    proc = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "61706\n"


def test_layer_file_on_a_terminal_stdin_is_refused():
    leader, follower = pty.openpty()
    proc = subprocess.run(
        [*CLI, "params", "-"], stdin=follower, capture_output=True, text=True, check=False
    )
    os.close(leader)
    os.close(follower)
    assert proc.returncode == 2
    assert "reads the layer file from standard input, which is a terminal" in proc.stderr


def test_max_pixels_help_shows_the_real_default():
    from cnnfilter.imageio import PILLOW_GUARD_PIXELS, WORKING_SET_BYTES_PER_PIXEL

    text = invoke("apply", "--help").stdout.replace("│", " ")  # Rich's box, if any
    text = " ".join(text.split())
    assert f"(default: {PILLOW_GUARD_PIXELS:,}, Pillow's own guard" in text
    assert f"working set of {WORKING_SET_BYTES_PER_PIXEL} bytes a pixel" in text


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, derandomize=True)
@given(json_values)
def test_compact_json_text_reads_back_as_the_same_value(value):
    assert json.loads(dumps(value)) == value


def test_issue_pipeline_apply_into_pool(samples, tmp_path):
    out = tmp_path / "small.png"
    shell = (
        f"cat {samples / 'astronaut.png'} | {sys.executable} -m cnnfilter apply - --kernel sobel-x"
        f" -o - --format png | {sys.executable} -m cnnfilter pool - --size 2 -o {out}"
    )
    proc = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    edges = pixels(_sobel_png(samples))
    expected = edges.reshape(256, 2, 256, 2, 3).max(axis=(1, 3))  # 2x2 max pooling
    assert np.array_equal(np.asarray(Image.open(out)), expected)
    assert proc.stdout.startswith("max pooling: kernel 2x2")  # pool's report is its result


def test_pool_writes_to_stdout_and_moves_its_report_to_stderr(samples):
    result = invoke(
        "pool", samples / "camera.png", "--size", "4", "-o", "-", "--format", "png",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    camera = np.asarray(Image.open(samples / "camera.png"))
    expected = camera.reshape(128, 4, 128, 4).max(axis=(1, 3))
    assert np.array_equal(pixels(result.stdout_bytes), expected)
    assert "max pooling: kernel 4x4" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "-", "--format", "png", "--json"], "--json cannot use it too"),
    ],
)
def test_pool_stdout_errors(samples, args, message):
    result = invoke("pool", samples / "camera.png", *args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stdout == ""


def test_pool_json_reports_operation_boundary_method_and_timings(samples):
    doc = json.loads(invoke("pool", samples / "coins.png", "--op", "avg", "--json").stdout)
    assert doc["operation"] == "avg pooling"
    assert doc["boundary"] == "constant 0"
    assert doc["method"] == "strided views"
    assert set(doc["timings_ms"]) == {"pool", "total"}
    assert doc["input_shape"] == [303, 384, 1] and doc["output_shape"] == [151, 192, 1]


def test_detect_reads_stdin_and_gives_the_same_peaks(samples, tmp_path):
    with Image.open(samples / "coins.png") as im:
        im.crop((100, 50, 124, 74)).save(tmp_path / "patch.png")
    args = ["--template", tmp_path / "patch.png", "--method", "ncc", "--top", "3", "--json"]
    from_file = json.loads(invoke("detect", samples / "coins.png", *args).stdout)
    piped = invoke("detect", "-", *args, input=(samples / "coins.png").read_bytes())
    assert piped.exit_code == 0, piped.stderr
    from_stdin = json.loads(piped.stdout)
    assert from_stdin["peaks"] == from_file["peaks"]
    assert from_stdin["peaks"][0]["row"] == 50 and from_stdin["peaks"][0]["col"] == 100
    assert from_stdin["peaks"][0]["score"] == pytest.approx(1.0)
    assert set(from_stdin["timings_ms"]) == {"response"}


def _reference(name: str) -> str:
    """One page of docs/reference/ (the JSON keys, the exit codes)."""
    return (ROOT / "docs" / "reference" / name).read_text()


def test_every_apply_json_key_is_documented():
    doc = _reference("json.md")
    for key in APPLY_REPORT_KEYS:
        assert f"| `{key}` |" in doc, key


def test_exit_codes_are_documented():
    from cnnfilter.cli._errors import EXIT_CODES, INTERRUPT_EXIT_CODES

    doc = _reference("exit-codes.md")
    for code in (0, *EXIT_CODES.values(), *INTERRUPT_EXIT_CODES.values()):
        assert f"\n| {code} | " in doc, code
