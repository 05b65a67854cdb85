"""What commands put on stdout for programs: JSON, and images for ``-o -``.

* :func:`emit_json` prints one JSON document on stdout (2-space indent,
  keys in the order the command built them, NaN/inf as null) and nothing
  else: messages and progress go to stderr.
* :func:`check_stdout_use` refuses two results both meant for stdout
  (``-o -`` with ``--json``).
* :class:`Notes` prints the run's lines on stderr as ``-q``/``-v`` ask.
* :func:`batch_progress` is the Rich progress bar of batch runs, on stderr,
  or a no-op when animations are off (see
  :func:`cnnfilter.cli._app.animations_enabled`).

JSON keys are a stable interface: documented in docs/reference/json.md, they
may gain new keys but never lose or rename one.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

from cnnfilter.errors import UsageError

__all__ = [
    "Notes",
    "QUIET_VARIABLE",
    "quiet_by_environment",
    "to_jsonable",
    "dumps",
    "emit_json",
    "check_stdout_use",
    "batch_progress",
]


class Notes:
    """The lines a command prints on stderr, as ``-q/--quiet`` and ``-v/--verbose`` ask.

    ``notes(line)`` prints an informational line (the run report, files
    written) unless quiet; ``notes.detail(line)`` only when verbose (the plan
    that ran, timings); ``notes.warn(line)`` always (something the user
    should act on).
    """

    def __init__(self, *, quiet: bool = False, verbose: bool = False) -> None:
        self.quiet = quiet
        self.verbose = verbose and not quiet

    @classmethod
    def of(cls, *, quiet: bool, verbose: bool) -> Notes:
        """Notes for ``-q``/``-v``; both together are refused.

        ``CNNFILTER_QUIET=1`` in the environment is ``-q`` for every run (for
        scripts); ``-v`` on the command line wins over it.

        Raises:
            UsageError: both flags given.
        """
        if quiet and verbose:
            raise UsageError("give -q/--quiet or -v/--verbose, not both")
        return cls(quiet=quiet or (quiet_by_environment() and not verbose), verbose=verbose)

    def __call__(self, message: str) -> None:
        if not self.quiet:
            _note(message)

    def detail(self, message: str) -> None:
        """A line for ``-v`` only."""
        if self.verbose:
            _note(message)

    def warn(self, message: str) -> None:
        """A line printed even with ``-q``."""
        _note(message)


#: The environment variable that makes every run quiet, as ``-q`` does.
QUIET_VARIABLE = "CNNFILTER_QUIET"


def quiet_by_environment() -> bool:
    """True when ``CNNFILTER_QUIET`` is set to anything but ``""``, ``0``, ``false`` or ``no``.

    >>> import os; os.environ.pop("CNNFILTER_QUIET", None) and None; quiet_by_environment()
    False
    """
    import os

    value = os.environ.get(QUIET_VARIABLE, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def _note(message: str) -> None:
    from cnnfilter.cli._app import note

    note(message)


def to_jsonable(value: object) -> object:
    """Plain JSON types: NumPy scalars and arrays, tuples and paths converted; NaN/inf -> None.

    >>> import numpy as np
    >>> to_jsonable({"a": np.float32(1.5), "b": (1, 2), "c": float("nan")})
    {'a': 1.5, 'b': [1, 2], 'c': None}
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and not isinstance(value, str):
        return to_jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


#: A JSON list of scalars as ``json.dumps(indent=2)`` spreads it over several lines (JSON
#: strings hold no raw newline or bracket-free nesting, so this never matches inside one).
_SCALAR_LIST = re.compile(r"\[\n\s+([^\[\]{}]*?)\n\s*\]")


def dumps(data: object) -> str:
    """JSON text: 2-space indent, lists of numbers or strings kept on one line.

    >>> print(dumps({"shape": [512, 512, 3], "rows": [[1, 0], [0, 1]]}))
    {
      "shape": [512, 512, 3],
      "rows": [
        [1, 0],
        [0, 1]
      ]
    }
    """
    import json  # here, not at the top: the CLI's start does not need it

    text = json.dumps(to_jsonable(data), indent=2, allow_nan=False, ensure_ascii=False)
    return _SCALAR_LIST.sub(
        lambda m: "[" + ", ".join(part.strip() for part in m.group(1).split(",\n")) + "]", text
    )


def emit_json(data: object) -> None:
    """Print ``data`` as one JSON document on stdout, followed by a newline."""
    text = dumps(data)
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        from cnnfilter.errors import OutputClosed

        raise OutputClosed("standard output was closed before the JSON was written") from None


def check_stdout_use(output: str | Path | None, *, json_out: bool) -> None:
    """Refuse ``-o -`` together with ``--json``: both would go to stdout.

    Raises:
        UsageError: both asked for.
    """
    if json_out and output is not None and str(output) == "-":
        raise UsageError(
            "-o - writes the image to stdout, so --json cannot use it too; write the image to "
            "a file, or drop --json"
        )


class _NoProgress:
    """Stands in for a Rich Progress when animations are off."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def advance(self) -> None:
        return None

    def print(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)


class _RichProgress:
    def __init__(self, total: int, description: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        from cnnfilter.cli._app import stderr_console

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=stderr_console(),
            transient=True,
        )
        self._task = self._progress.add_task(description, total=total, rate="")

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def advance(self) -> None:
        self._progress.advance(self._task)
        task = self._progress.tasks[0]
        speed = task.speed
        self._progress.update(self._task, rate=f"{speed:.1f} files/s" if speed else "")

    def print(self, message: str) -> None:
        self._progress.console.print(message, markup=False, highlight=False)


def batch_progress(total: int, *, enabled: bool, description: str = "apply"):
    """A progress display for ``total`` files: ``advance()``, ``print(line)``; a context manager.

    With ``enabled`` false (not a terminal, ``--quiet``, NO_COLOR), it prints
    nothing but the lines given to ``print``.
    """
    if not enabled:
        return _NoProgress()
    return _RichProgress(total, description)
