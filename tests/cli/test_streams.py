"""Closed, full and cut-off standard streams, in real processes (issue 18, point 5).

Whatever stdout does, every command (``--help`` and ``--version`` included)
ends with at most one line on stderr and a non-zero exit code, never a
traceback; a reader that goes away (``| head``) ends the run quietly with
141, the SIGPIPE convention.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cnnfilter.cli._output import Notes
from cnnfilter.cli._streams import SIGPIPE_EXIT

from helpers import ROOT, invoke

CLI = f"{sys.executable} -m cnnfilter"
VGG = ROOT / "samples" / "arch" / "vgg16.yaml"
COMMANDS = ["apply", "kernels", "params", "receptive-field", "detect", "pool"]

#: Command lines that print on stdout, as shell words.
PRINTING = [
    "--help",
    "--version",
    *(f"{name} --help" for name in COMMANDS),
    "kernels",
    "kernels log --json",
    f"params {VGG}",
    f"receptive-field {ROOT / 'samples' / 'arch' / 'lenet5.yaml'} --csv",
]


def shell(command: str) -> subprocess.CompletedProcess:
    """Run ``command`` in bash, 80 columns wide."""
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, check=False, env=env
    )
    return proc


def assert_no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


@pytest.mark.parametrize("args", PRINTING)
def test_closed_stdout_is_one_error_line_and_exit_1(args):
    proc = shell(f"{CLI} {args} >&-")
    assert proc.returncode == 1
    assert_no_traceback(proc.stderr)
    assert ("\n" + proc.stderr).endswith(
        "\nError: cannot write to standard output: Bad file descriptor\n"
    )
    assert proc.stderr.count("Error:") == 1


@pytest.mark.parametrize("args", PRINTING)
def test_full_stdout_is_one_error_line_and_exit_1(args):
    proc = shell(f"{CLI} {args} >/dev/full")
    assert proc.returncode == 1
    assert_no_traceback(proc.stderr)
    assert ("\n" + proc.stderr).endswith(
        "\nError: cannot write to standard output: No space left on device\n"
    )
    assert proc.stderr.count("Error:") == 1


@pytest.mark.parametrize("args", PRINTING)
def test_a_reader_that_leaves_at_once_gives_141_and_no_message(args):
    # `true` never reads: the first write meets a closed pipe
    proc = shell(f"{CLI} {args} | true; echo ${{PIPESTATUS[0]}}")
    assert proc.stdout.strip() == str(SIGPIPE_EXIT)
    assert proc.stderr == ""


@pytest.mark.parametrize("args", PRINTING)
def test_head_c1_ends_the_run_quietly(args):
    # head reads one byte and leaves; small outputs fit in the pipe and succeed (0), larger
    # ones meet the closed pipe (141): both are quiet
    proc = shell(f"{CLI} {args} | head -c1; echo; echo ${{PIPESTATUS[0]}}")
    assert proc.stdout.splitlines()[-1] in ("0", str(SIGPIPE_EXIT))
    assert proc.stderr == ""


def test_closed_stderr_keeps_the_exit_code_and_prints_nothing_on_stdout(tmp_path):
    proc = shell(f"{CLI} kernels no-such-kernel 2>&-")
    assert proc.returncode == 2
    assert proc.stdout == ""


def test_full_stderr_does_not_crash(tmp_path):
    proc = shell(f"{CLI} kernels no-such-kernel 2>/dev/full; echo $?")
    assert proc.stdout.strip() == "2"


def test_a_command_that_writes_nothing_on_stdout_succeeds_with_stdout_closed(samples, tmp_path):
    # like cp: nothing to say on stdout, so a closed stdout is no failure
    out = tmp_path / "o.png"
    proc = shell(f"{CLI} apply {samples / 'camera.png'} -k box -o {out} -q >&-")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and out.exists()


# -- quiet success ---------------------------------------------------------------------


def test_the_run_line_is_on_by_default_and_off_with_the_environment(samples, tmp_path):
    args = ["apply", samples / "camera.png", "-k", "box", "-o"]
    loud = invoke(*args, tmp_path / "a.png")
    assert loud.exit_code == 0 and loud.stderr.startswith("convolution of ")
    quiet = invoke(*args, tmp_path / "b.png", env={"CNNFILTER_QUIET": "1"})
    assert quiet.exit_code == 0 and quiet.stderr == ""
    verbose = invoke(*args, tmp_path / "c.png", "-v", env={"CNNFILTER_QUIET": "1"})
    assert "convolution of " in verbose.stderr and "timings:" in verbose.stderr  # -v wins


@pytest.mark.parametrize(
    ("value", "quiet"), [("1", True), ("yes", True), ("0", False), ("", False), ("no", False)]
)
def test_cnnfilter_quiet_values(monkeypatch, value, quiet):
    monkeypatch.setenv("CNNFILTER_QUIET", value)
    assert Notes.of(quiet=False, verbose=False).quiet is quiet
