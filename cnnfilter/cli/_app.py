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
from typer.core import TyperCommand, TyperGroup

from cnnfilter.cli._errors import INTERRUPT_EXIT_CODES, as_flags, exit_code_for
from cnnfilter.errors import CnnfilterError, OutputClosed
from cnnfilter.errors import UsageError as CnnfilterUsageError


def _click_class(name: str) -> type:
    """A Click exception class by name, whether Typer vendors Click or depends on it."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


_UsageError = _click_class("UsageError")
_ClickException = _click_class("ClickException")


def one_line(message: str) -> str:
    """Click's message as a clause that ``; see '... --help'`` can follow.

    >>> one_line("No such command 'aply'. Did you mean 'apply'?")
    "No such command 'aply' (did you mean 'apply'?)"
    >>> one_line("Invalid value for '--op': Value error, 'x' is not one of 'a', 'b'.")
    "Invalid value for '--op': 'x' is not one of 'a', 'b'"
    """
    import re

    text = " ".join(message.split()).replace(": Value error, ", ": ")
    text = re.sub(r"\. Did you mean (.+)\?$", r" (did you mean \1?)", text)
    return text.rstrip(".")


#: `` <list[str]>``, `` <str>``, `` <int range>``: the Python type Typer appends to a name.
_TYPE_SUFFIX = " <"


class ReadableCommand(TyperCommand):
    """A command whose help names values as a person reads them, never as Python types.

    Typer writes ``{images}...`` in the usage line and ``images... <list[str]>``
    under Arguments; here an argument is its metavar (``IMAGE...``,
    ``[KERNEL]``) or its name in capitals, and an option without a metavar
    loses Typer's ``<type>`` suffix.
    """

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(_argument_name(param))
        return pieces

    def format_options(self, ctx, formatter) -> None:
        args, opts = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            name, text = record
            if param.param_type_name == "argument":
                args.append((_argument_name(param), text))
            else:
                opts.append((_readable_option(name), text))
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


#: Typer's type label -> the word a person reads.
_TYPE_WORDS = {"int": "N", "int range": "N", "float": "X", "float range": "X", "path": "FILE",
               "file": "FILE", "directory": "DIR", "str": "TEXT", "text": "TEXT"}  # fmt: skip


def _readable_option(name: str) -> str:
    """``--top <int range>`` -> ``--top N``; ``--op <max|avg>`` -> ``--op max|avg``.

    >>> _readable_option("-t, --template <path>"), _readable_option("--op <max|avg|lp>")
    ('-t, --template FILE', '--op max|avg|lp')
    """
    if _TYPE_SUFFIX not in name:
        return name
    head, _, label = name.partition(_TYPE_SUFFIX)
    label = label.rstrip(">")
    word = label if "|" in label else _TYPE_WORDS.get(label, "VALUE")
    return f"{head} {word}"


def _argument_name(param) -> str:
    """``IMAGE...`` (required, several), ``[KERNEL]`` (optional), ``ARCH`` (required)."""
    name = param.metavar or param.name.upper()
    if param.nargs != 1 and not name.endswith("..."):
        name += "..."
    if not param.required and not name.startswith("["):
        name = f"[{name}]"
    return name


class _OneLineErrors(TyperGroup):
    """Command-line mistakes as one stderr line, like the library's own errors.

    Click prints a usage block, a hint and the error on three lines; batch logs
    and users read one: ``Error: No such option: --kernal (Possible options:
    --kernel, --kernel-file); see 'cnnfilter apply --help'``. Exit code 2.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for command in self.commands.values():  # every command, whoever registered it
            if type(command) is TyperCommand:
                command.__class__ = ReadableCommand

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
                note(f"Error: {one_line(exc.format_message())}; see '{where} --help'")
            sys.exit(exc.exit_code)
        except _ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except typer.Abort:
            note("Aborted.")
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
    # --install-completion / --show-completion; the words come from cli/_complete.py
    add_completion=True,
    epilog="\b\nExample:\n  cnnfilter apply samples/astronaut.png -k sobel-x -o edges.png\n\n"
    "'cnnfilter help' lists the topic pages (boundary modes, arch.yaml, JSON keys, exit "
    "codes); 'cnnfilter help --man' prints the manual page.",
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
    """A Rich console on stdout; colour off under NO_COLOR or a non-terminal.

    A reader that goes away (``| head``) raises :class:`BrokenPipeError`, which
    :func:`guarded` turns into the quiet exit 141 (Rich's own reaction is an
    exit 1).
    """
    from rich.console import Console

    class _PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError(32, "Broken pipe")

    return _PipeConsole(no_color=_colour_off(sys.stdout), highlight=False, soft_wrap=True)


def print_table(console, table, form: str | None = None) -> None:
    """Print a Rich table on ``console`` without ever eliding, cropping or splitting a value.

    On a terminal: box drawing, columns wrapping at spaces only (one
    ``column: value`` line each when the terminal is too narrow even so). To a
    pipe or a file: plain fixed-width text, one line per row, whatever
    ``COLUMNS`` says. ``form`` (``--table``) chooses: ``box``, ``plain`` or
    ``tsv`` (:mod:`cnnfilter.cli._tables`).
    """
    from cnnfilter.cli._tables import render_table

    render_table(console, table, form)


def animations_enabled(*, quiet: bool = False) -> bool:
    """Whether progress bars may animate on stderr.

    Off with ``--quiet`` (or ``CNNFILTER_QUIET=1``), with ``TERM=dumb``, or
    when stdout or stderr is not a terminal (a pipe, a file, a CI log).
    ``NO_COLOR`` only takes the colour away (no-color.org): the bar still
    moves, in the terminal's default colour.
    """
    return not (
        quiet
        or os.environ.get("TERM") == "dumb"
        or not _isatty(sys.stderr)
        or not _isatty(sys.stdout)
    )


def note(message: str) -> None:
    """One line on stderr; a closed or full stderr is ignored (the exit code still tells)."""
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        from cnnfilter.cli._streams import silence_stderr

        silence_stderr()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``Error: message`` on stderr and exit with ``code``."""
    note(f"Error: {message}")
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
    130, and no partial output file; a reader of stdout that went away
    (``| head``) ends it quietly with 141, the SIGPIPE convention
    (:mod:`cnnfilter.cli._streams`).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            refuse_non_finite(kwargs)
            with sigterm_as_interrupt():
                return func(*args, **kwargs)
        except (OutputClosed, BrokenPipeError):
            from cnnfilter.cli._streams import SIGPIPE_EXIT, silence_stdout

            silence_stdout()
            raise typer.Exit(SIGPIPE_EXIT) from None
        except CnnfilterError as exc:
            fail(as_flags(str(exc), known_flags()), exit_code_for(exc))
        except KeyboardInterrupt as exc:
            name = getattr(exc, "signal_name", "SIGINT")
            note(f"Interrupted by {name}; no partial output was left")
            interrupted_exit(name)

    return wrapper  # type: ignore[return-value]
