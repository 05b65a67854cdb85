"""Command-line mistakes caught by the parser: one stderr line, exit code 2."""

from __future__ import annotations

import pytest

from cnnfilter import __version__

from helpers import invoke


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["apply", "x.png", "--kernal", "sobel-x", "-o", "y.png"], "No such option: --kernal"),
        (["apply", "x.png", "-k", "sobel-x", "--op", "conv", "-o", "y.png"], "'--op'"),
        (["pool", "x.png", "--op", "mx"], "'--op'"),
        (["params", "a.yaml", "--compare", "dense"], "'--compare'"),
        (["params", "a.yaml", "--format", "json"], "No such option: --format"),
        (["apply"], "Missing argument"),
        (["bogus"], "No such command 'bogus'"),
    ],
)
def test_parser_errors_are_one_line_with_a_pointer_to_help(args, message):
    result = invoke(args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and message in lines[0]
    assert lines[0].endswith("--help'")
    assert result.stdout == ""


def test_version():
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"cnnfilter {__version__}\n"


def test_no_arguments_shows_help():
    result = invoke([])
    assert result.exit_code == 2
    assert "Commands" in result.stdout + result.stderr and "apply" in result.stdout + result.stderr
