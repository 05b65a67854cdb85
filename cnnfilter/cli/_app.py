"""The Typer application object and the helpers every command shares.

Commands live one per module beside this file and register themselves on
:data:`app`. They parse options, call the library, and render; the library
raises :class:`cnnfilter.errors.CnnfilterError` for bad input, which
:func:`guarded` turns into one ``Error: ...`` line on stderr, its parameter
names written as flags, and the exit code of its class
(:mod:`cnnfilter.cli._errors`: 2 usage, 1 processing failure).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from cnnfilter.cli._errors import INTERRUPT_EXIT_CODES, as_flags, exit_code_for
from cnnfilter.errors import CnnfilterError
from cnnfilter.errors import UsageError as CnnfilterUsageError


def _click_class(name: str) -> type:
    """A Click exception class by name, whether Typer vendors Click or depends on it."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


_UsageError = _click_class("UsageError")
_ClickException = _click_class("ClickException")


class _OneLineErrors(TyperGroup):
    """Command-line mistakes as one stderr line, like the library's own errors.

    Click prints a usage block, a hint and the error on three lines; batch logs
    and users read one: ``Error: No such option: --kernal (Possible options:
    --kernel, --kernel-file); see 'cnnfilter apply --help'``. Exit code 2.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except _UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError" or exc.ctx is None:
                exc.show()
            else:
                where = exc.ctx.command_path
                message = exc.format_message().rstrip(".")
                print(f"Error: {message}; see '{where} --help'", file=sys.stderr)
            sys.exit(exc.exit_code)
        except _ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except typer.Abort:
            print("Aborted.", file=sys.stderr)
            sys.exit(1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="cnnfilter",
    cls=_OneLineErrors,
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


def _show_version(value: bool) -> None:
    if value:
        from cnnfilter import __version__

        print(f"cnnfilter {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Filter and inspect images the way the layers of a convolutional neural network do."""


def _colour_off(stream) -> bool:
    return bool(os.environ.get("NO_COLOR")) or not _isatty(stream)


def _isatty(stream) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def stderr_console():
    """A Rich console on stderr; colour off under NO_COLOR or a non-terminal."""
    from rich.console import Console

    return Console(stderr=True, no_color=_colour_off(sys.stderr), highlight=False, soft_wrap=True)


def stdout_console():
    """A Rich console on stdout; colour off under NO_COLOR or a non-terminal."""
    from rich.console import Console

    return Console(no_color=_colour_off(sys.stdout), highlight=False, soft_wrap=True)


def print_table(console, table) -> None:
    """Print a Rich table on ``console`` without ever eliding or cropping a value.

    To a pipe or a file the console is widened to the table's natural width,
    whatever ``COLUMNS`` says, so that every row stays on one line for
    ``grep``, ``awk`` and ``cut``. In a terminal too narrow for the table, the
    cells fold onto further lines (Rich's default would cut ``0.000322`` to
    ``0.00032…``); the widest columns, the text ones, give way first.
    """
    from rich.measure import Measurement

    for column in table.columns:
        column.no_wrap = False
        column.overflow = "fold"
    if not console.is_terminal:
        natural = Measurement.get(console, console.options.update_width(100_000), table).maximum
        console.width = max(natural, console.width)
    console.print(table)


def animations_enabled(*, quiet: bool = False) -> bool:
    """Whether progress bars may animate on stderr.

    Off with ``--quiet``, under ``NO_COLOR``, with ``TERM=dumb``, or when
    stdout or stderr is not a terminal (a pipe, a file, a CI log).
    """
    return not (
        quiet
        or os.environ.get("NO_COLOR")
        or os.environ.get("TERM") == "dumb"
        or not _isatty(sys.stderr)
        or not _isatty(sys.stdout)
    )


def note(message: str) -> None:
    """One informational line on stderr (what ran, with which settings)."""
    print(message, file=sys.stderr, flush=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``Error: message`` on stderr and exit with ``code``."""
    print(f"Error: {message}", file=sys.stderr, flush=True)
    raise typer.Exit(code)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that ``finally`` clauses remove temporary files."""

    signal_name = "SIGTERM"


def _raise_terminated(signum, frame) -> NoReturn:
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` (a KeyboardInterrupt) inside the block.

    Python's default for SIGTERM ends the process at once, skipping cleanup;
    this lets the atomic writes delete their temporary files. Only the main
    thread can install handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted_exit(signal_name: str) -> NoReturn:
    """Exit with 130 (SIGINT) or 143 (SIGTERM) after an interruption."""
    raise typer.Exit(INTERRUPT_EXIT_CODES.get(signal_name, 130))


@functools.cache
def known_flags() -> frozenset[str]:
    """Every long option of every command, read from the Typer app itself."""
    import typer.main

    group = typer.main.get_command(app)
    flags = set()
    for command in getattr(group, "commands", {}).values():
        for param in command.params:
            flags.update(o for o in param.opts + param.secondary_opts if o.startswith("--"))
    return frozenset(flags)


def refuse_non_finite(options: dict) -> None:
    """Refuse NaN and infinities in every number option of every command, before any work.

    Click's FLOAT type reads ``nan``, ``inf``, ``-Infinity`` and ``1e999`` (inf)
    as numbers; no option of cnnfilter means anything by them. Checked here,
    for every command at once, so that a new option cannot forget it.

    Raises:
        UsageError: ``--flag must be a finite number, got nan``.
    """
    import math

    for name, value in options.items():
        if isinstance(value, float) and not math.isfinite(value):
            flag = "--" + name.replace("_", "-")
            shown = flag if flag in known_flags() else name
            raise CnnfilterUsageError(f"{shown} must be a finite number, got {value!r}")


def guarded(func: F) -> F:
    """Run a command body, turning :class:`CnnfilterError` into one stderr line.

    The message's ``name='value'`` become ``--flag value``
    (:func:`cnnfilter.cli._errors.as_flags`); the exit code is the class's
    (:func:`cnnfilter.cli._errors.exit_code_for`).

    Also: SIGTERM and Ctrl-C end the command with one line, exit code 143 or
    130, and no partial output file.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            refuse_non_finite(kwargs)
            with sigterm_as_interrupt():
                return func(*args, **kwargs)
        except CnnfilterError as exc:
            fail(as_flags(str(exc), known_flags()), exit_code_for(exc))
        except KeyboardInterrupt as exc:
            name = getattr(exc, "signal_name", "SIGINT")
            note(f"Interrupted by {name}; no partial output was left")
            interrupted_exit(name)

    return wrapper  # type: ignore[return-value]
