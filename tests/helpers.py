"""Helpers shared by the test modules: running the CLI, its one error line, the article's patch."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from cnnfilter.cli import app

runner = CliRunner()

#: The repository root (samples/, README.md, docs/ live here).
ROOT = Path(__file__).resolve().parent.parent


def invoke(*args, input=None, env=None, catch_exceptions: bool = False):
    """Run ``cnnfilter ARGS`` in-process; the one way every test calls the CLI.

    ``args`` are the words of the command line (any objects, turned into
    strings), or one list of them. Exceptions other than the CLI's own exits
    propagate, so a traceback fails the test instead of hiding in the result.
    """
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = tuple(args[0])
    return runner.invoke(
        app, [str(a) for a in args], input=input, env=env, catch_exceptions=catch_exceptions
    )


def one_error_line(result) -> str:
    """The single stderr line of a failed run (and nothing on stdout)."""
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def error_line(code: int, args) -> str:
    """Run ``cnnfilter ARGS``, check the exit code, return its single error line."""
    result = invoke(*args)
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


class Hang(Exception):
    """A fuzz example ran longer than its watchdog allowed."""


@contextlib.contextmanager
def watchdog(seconds: int) -> Iterator[None]:
    """Raise :class:`Hang` in the main thread after ``seconds`` (SIGALRM), so that a hang
    fails the test instead of stalling the suite (a hypothesis deadline cannot stop one)."""

    def expire(signum, frame):
        raise Hang(f"an example ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
