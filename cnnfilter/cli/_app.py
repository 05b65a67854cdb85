"""The Typer application object and the helpers every command shares.

Commands live one per module beside this file and register themselves on
:data:`app`. They parse options, call the library, and render; the library
raises :class:`cnnfilter.errors.CnnfilterError` for bad input, which
:func:`guard` turns into one ``Error: ...`` line on stderr and the exit code
documented in :mod:`cnnfilter.errors` (2 usage, 1 processing failure).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import typer

from cnnfilter.errors import CnnfilterError

app = typer.Typer(
    name="cnnfilter",
    help=(
        "Filter and inspect images the way the layers of a convolutional neural network do: "
        "kernels, response maps, pooling, parameters and receptive fields."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain Click help: Typer's Rich help formatter costs ~90 ms of imports on
    # every --help (measured by benchmarks/run.py against `import typer`).
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., object])


def stderr_console():
    """A Rich console on stderr; colour off under NO_COLOR or a non-terminal."""
    from rich.console import Console

    no_color = bool(os.environ.get("NO_COLOR")) or not sys.stderr.isatty()
    return Console(stderr=True, no_color=no_color, highlight=False, soft_wrap=True)


def stdout_console():
    """A Rich console on stdout; colour off under NO_COLOR or a non-terminal."""
    from rich.console import Console

    no_color = bool(os.environ.get("NO_COLOR")) or not sys.stdout.isatty()
    return Console(no_color=no_color, highlight=False, soft_wrap=True)


def note(message: str) -> None:
    """One informational line on stderr (what ran, with which settings)."""
    print(message, file=sys.stderr, flush=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``Error: message`` on stderr and exit with ``code``."""
    print(f"Error: {message}", file=sys.stderr, flush=True)
    raise typer.Exit(code)


def guarded(func: F) -> F:
    """Run a command body, turning :class:`CnnfilterError` into one stderr line."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except CnnfilterError as exc:
            fail(str(exc), exc.exit_code)

    return wrapper  # type: ignore[return-value]
