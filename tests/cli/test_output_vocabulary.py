"""One output vocabulary: --json, -q/--quiet and -v/--verbose on every command."""

from __future__ import annotations

import json

import pytest

from helpers import ROOT, invoke

COINS = ROOT / "samples" / "coins.png"
ARCH = ROOT / "samples" / "arch" / "lenet5.yaml"

#: One successful run of each command (an output path is added where one is needed).
RUNS = {
    "apply": ["apply", COINS, "-k", "box:7", "-o", "{out}.png"],
    "kernels": ["kernels", "box"],
    "params": ["params", ARCH],
    "receptive-field": ["receptive-field", ARCH],
    "detect": ["detect", COINS, "-k", "box:7", "--top", "1"],
    "pool": ["pool", COINS],
}


def _args(command: str, tmp_path, *extra) -> list[str]:
    return [str(a).replace("{out}", str(tmp_path / "out")) for a in RUNS[command]] + list(extra)


@pytest.mark.parametrize("command", RUNS)
def test_every_command_takes_json_quiet_and_verbose(command, tmp_path):
    quiet = invoke(_args(command, tmp_path, "--json", "-q"))
    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stderr == ""  # -q: nothing on stderr on success
    assert isinstance(json.loads(quiet.stdout), dict)
    both = invoke(_args(command, tmp_path, "-q", "-v"))
    assert both.exit_code == 2
    assert "give -q/--quiet or -v/--verbose, not both" in both.stderr


def test_detect_json_reports_the_method_that_ran():
    # the examples: box:7 and gaussian:15:3 run as two 1-D passes
    for kernel in ("box:7", "gaussian:15:3"):
        report = json.loads(invoke("detect", COINS, "-k", kernel, "--json").stdout)
        assert report["implementation"] == "separable", kernel
        assert report["plan"].startswith("separable (auto: rank-1 ")


def test_verbose_adds_the_plan_and_timings(tmp_path):
    plain = invoke("detect", COINS, "-k", "box:7")
    verbose = invoke("detect", COINS, "-k", "box:7", "-v")
    assert "method plan:" not in plain.stderr
    assert "method plan: separable (auto: rank-1 7x7 kernel" in verbose.stderr
    applied = invoke("apply", COINS, "-k", "box:7", "-o", tmp_path / "a.png", "-v")
    assert "timings: read " in applied.stderr and "method separable (auto:" in applied.stderr


def test_params_and_receptive_field_take_one_report_form():
    csv = invoke("params", ARCH, "--csv")
    assert csv.stdout.splitlines()[0].startswith("name,")
    markdown = invoke("receptive-field", ARCH, "--markdown")
    assert markdown.stdout.startswith("**")
    both = invoke("params", ARCH, "--csv", "--markdown")
    assert both.exit_code == 2
    assert "give one of --json, --csv and --markdown (got --csv and --markdown)" in both.stderr


def test_receptive_field_format_is_the_pictures(tmp_path):
    out = tmp_path / "rf.bin"
    result = invoke(
        "receptive-field", ROOT / "samples/arch/vgg16.yaml", "--image", COINS,
        "--layer", "conv3_3", "-o", out, "--format", "png",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes().startswith(b"\x89PNG")
