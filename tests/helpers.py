"""Helpers shared by the test modules: running the CLI, its one error line, the article's patch."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from cnnfilter.cli import app

runner = CliRunner()


def one_error_line(result) -> str:
    """The single stderr line of a failed run (and nothing on stdout)."""
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def error_line(code: int, args) -> str:
    """Run ``cnnfilter ARGS``, check the exit code, return its single error line."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return one_error_line(result)


#: The article's drawing under the curve filter (point 4): the curve pixels the filter's six
#: taps of 30 fall on hold 0, 50, 20, 50, 50, 50; the curve goes on under zeros of the filter.
ARTICLE_PATCH = np.array(
    [
        [0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 50, 50, 50],
        [0, 0, 0, 20, 0, 0, 0],
        [0, 0, 0, 50, 0, 0, 0],
        [0, 0, 0, 50, 0, 0, 0],
        [0, 0, 0, 50, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
    ],
    dtype=np.uint8,
)
