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
import enum
import errno
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, MutableMapping
from typing import NoReturn, TypeVar

import typer
import typer.main
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


class ReadableCommand(TyperCommand):
    """A command whose help names values as a person reads them, never as Python types.

    Typer writes ``{images}...`` in the usage line and ``images... <list[str]>``
    under Arguments; here an argument is its metavar (``IMAGE...``,
    ``[KERNEL]``) or its name in capitals, and an option without a metavar
    loses the type Typer appends (``<int range>``; ``INTEGER RANGE`` before
    Typer 0.29): the help reads the same whichever Typer renders it.
    """

    def get_params(self, ctx) -> list:
        return _without_eager_coercion(super().get_params(ctx))

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
            elif param.metavar is None:
                opts.append((_readable_option(name, _choices(param)), text))
            else:
                opts.append((name, text))
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


#: The type label Typer 0.29 appends (``--top <int range>``) or Click's, which Typer
#: 0.26-0.28 append (``--top INTEGER RANGE``) -> the word a person reads.
_TYPE_WORDS = {"int": "N", "int range": "N", "float": "X", "float range": "X", "path": "FILE",
               "file": "FILE", "directory": "DIR", "str": "TEXT", "text": "TEXT",
               "INTEGER": "N", "INTEGER RANGE": "N", "FLOAT": "X", "FLOAT RANGE": "X",
               "PATH": "FILE", "FILENAME": "FILE", "DIRECTORY": "DIR", "TEXT": "TEXT"}  # fmt: skip


def _readable_option(name: str, choices: list[str] | None = None) -> str:
    """``--top <int range>`` -> ``--top N``; ``--op <max|avg>`` -> ``--op max|avg``.

    ``name`` is the option column as Typer writes it for an option without a
    metavar; ``choices`` the values of a choice option, written ``a|b|c``.

    >>> _readable_option("-t, --template <path>"), _readable_option("--op <max|avg|lp>")
    ('-t, --template FILE', '--op max|avg|lp')
    >>> _readable_option("--top INTEGER RANGE"), _readable_option("--op [max|avg]", ["max", "avg"])
    ('--top N', '--op max|avg')
    >>> _readable_option("--force"), _readable_option("--compare <x>", ["x"])
    ('--force', '--compare x')
    """
    head, label = _split_type_label(name)
    if label is None:
        return name
    if choices:
        word = "|".join(choices)
    else:
        word = label if "|" in label else _TYPE_WORDS.get(label, "VALUE")
    return f"{head} {word}"


def _split_type_label(name: str) -> tuple[str, str | None]:
    """``("--top", "int range")`` from ``--top <int range>``, ``--top INTEGER RANGE`` or
    ``--op [max|avg]`` (Click's choices); ``(name, None)`` for a flag."""
    if name.endswith(">") and " <" in name:
        head, _, label = name.partition(" <")
        return head, label[:-1]
    if name.endswith("]") and " [" in name:
        head, _, label = name.rpartition(" [")
        return head, label[:-1]
    for label in sorted((w for w in _TYPE_WORDS if w.isupper()), key=len, reverse=True):
        if name.endswith(" " + label):
            return name[: -len(label) - 1], label
    return name, None


def _choices(param) -> list[str] | None:
    """The values of a choice option (an Enum), from Typer 0.29's type descriptor or from
    Click's ``Choice`` type (older Typer); None for any other option."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        values = descriptor.choices if getattr(descriptor, "is_choice", False) else None
    else:
        values = getattr(getattr(param, "type", None), "choices", None)
    return [str(getattr(v, "value", v)) for v in values] if values else None


def _argument_name(param) -> str:
    """``IMAGE...`` (required, several), ``[KERNEL]`` (optional), ``ARCH`` (required)."""
    name = param.metavar or param.name.upper()
    if param.nargs != 1 and not name.endswith("..."):
        name += "..."
    if not param.required and not name.startswith("["):
        name = f"[{name}]"
    return name


def _deferred_class(cls: type) -> type:
    """``cls`` (a Typer parameter class) building its value converter only when needed.

    Typer 0.29 converts every parameter's value, the absent ones (``None``)
    included, through a Pydantic ``TypeAdapter`` built on first use: importing
    Pydantic and building the adapters doubled the start of ``cnnfilter
    kernels`` and of every ``cnnfilter COMMAND --help`` (whose group options
    are absent). An absent value, a string for a plain ``str`` parameter and a
    default that already has its type come out of Typer's conversion
    unchanged, so they are returned as they are (:class:`_Deferred`); any
    other value goes through Typer's converter. tests/cli/test_startup.py
    checks that both agree for every parameter of every command.
    """

    def get_runtime_param(self):
        return _Deferred(super(deferred, self).get_runtime_param)

    # one base only, no new slots: instances of cls can be switched to it (__class__)
    namespace = {"__slots__": (), "get_runtime_param": get_runtime_param, "_deferred": True}
    deferred = type(cls.__name__, (cls,), namespace)
    return deferred


class _Deferred:
    """Stands in for Typer's ``RuntimeParam`` until a value needs the real one."""

    def __init__(self, build: Callable) -> None:
        self._build = build

    def coerce(self, value, param, ctx):
        if value is None:  # as Typer's RuntimeParam.coerce
            return () if (param.multiple or param.nargs == -1) else None
        done = unchanged_value(param, ctx, value)
        if done is not _CONVERT:
            return done
        return self._build().coerce(value, param=param, ctx=ctx)

    def __getattr__(self, name: str):
        return getattr(self._build(), name)


_CONVERT = object()


def unchanged_value(param, ctx, value):
    """``value`` when Typer's conversion would return it unchanged, else ``_CONVERT``.

    A string for a plain ``str`` parameter, strings for a ``list[str]`` one; a
    ``bool`` for a flag (``--force``); a member of the parameter's Enum, or the
    value of one of its members (that member: ``--range clip``, or the
    default); a default ``int`` or ``float`` (a number from the command line
    goes through Typer, which checks its ``min``/``max``). Kept out of
    Pydantic, flags and choices save ``apply --force --range clip`` 65 ms of
    start.
    """
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None:
        return _CONVERT
    info, kind = descriptor.parameter_info, descriptor.annotation
    if getattr(info, "parser", None) is not None or getattr(info, "click_type", None) is not None:
        return _CONVERT
    if param.multiple or param.nargs != 1:
        return _unchanged_words(kind, value)
    if kind in (str, bool) and type(value) is kind:
        return value
    # a number from the command line goes through Typer: its min= and max= are checked there
    if (
        kind in (int, float)
        and type(value) is kind
        and ctx is not None
        and _from_default(ctx, param)
    ):
        return value
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        if isinstance(value, kind):
            return value
        members = [m for m in kind if m.value == value]
        if len(members) == 1:
            return members[0]
    return _CONVERT


def _unchanged_words(kind, value):
    """Several words for a ``list[str]`` parameter (``IMAGE...``, ``-k A -k B``): Typer
    returns them as a list, each unchanged; ``_CONVERT`` for anything else."""
    if kind == list[str] and isinstance(value, (tuple, list)):
        if all(type(v) is str for v in value):
            return list(value)
    return _CONVERT


def _from_default(ctx, param) -> bool:
    source = ctx.get_parameter_source(param.name)
    return source is not None and source.name == "DEFAULT"


#: Typer parameter class -> its :func:`_deferred_class`.
_DEFERRED_CLASSES: dict[type, type] = {}


def _without_eager_coercion(params: list) -> list:
    """``params`` with each Typer parameter's converter built only when needed (in place)."""
    for param in params:
        cls = type(param)
        if not hasattr(cls, "get_runtime_param") or "_deferred" in cls.__dict__:
            continue  # not a Typer 0.29 parameter, or done already
        if cls not in _DEFERRED_CLASSES:
            _DEFERRED_CLASSES[cls] = _deferred_class(cls)
        param.__class__ = _DEFERRED_CLASSES[cls]
    return params


class _OneLineErrors(TyperGroup):
    """Command-line mistakes as one stderr line, like the library's own errors.

    Click prints a usage block, a hint and the error on three lines; batch logs
    and users read one: ``Error: No such option: --kernal (Possible options:
    --kernel, --kernel-file); see 'cnnfilter apply --help'``. Exit code 2.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        built = self.commands  # commands Typer built itself (none: see _LazyTyper)
        self.commands = _LazyCommands(app.lazy_commands)
        for name, command in built.items():
            self.commands[name] = _readable(command)

    def list_commands(self, ctx) -> list[str]:
        return list(self.commands)  # names only: building a command costs its signature

    def get_params(self, ctx) -> list:
        return _without_eager_coercion(super().get_params(ctx))

    def format_commands(self, ctx, formatter) -> None:
        """Click's listing of the commands, from each command's help alone (no parameters)."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.commands.listing(name)
            if command is not None and not command.hidden:
                rows.append((name, command))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(n, c.get_short_help_str(limit)) for n, c in rows])

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


def _readable(command):
    if type(command) is TyperCommand:
        command.__class__ = ReadableCommand
    return command


class _LazyCommands(MutableMapping):
    """The commands of the group, each built into a Click command the first time it is used.

    Typer turns a command function into a Click command by reading its
    signature and evaluating every annotation: about 5 ms a command, 40 ms for
    all of them at every start. A run needs one (``cnnfilter apply ...``);
    ``cnnfilter --help`` needs only each command's help line, read from a
    parameterless copy of the function (:meth:`listing`).
    """

    def __init__(self, entries: dict[str, tuple[Callable, dict]]) -> None:
        self._entries = entries
        self._built: dict[str, object] = {}

    def _names(self) -> list[str]:
        return [*self._entries, *(n for n in self._built if n not in self._entries)]

    def __getitem__(self, name: str):
        if name not in self._built:
            func, settings = self._entries[name]  # KeyError: no such command
            self._built[name] = _click_command(func, settings)
        return self._built[name]

    def __setitem__(self, name: str, command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._entries and name not in self._built:
            raise KeyError(name)
        self._entries = {k: v for k, v in self._entries.items() if k != name}
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def listing(self, name: str):
        """The command as far as the group's help needs it: name, help text, hidden."""
        if name in self._built or name not in self._entries:
            return self._built.get(name)
        func, settings = self._entries[name]

        def stand_in() -> None:
            pass

        stand_in.__doc__ = func.__doc__
        return _click_command(stand_in, settings)


def _click_command(func: Callable, settings: dict):
    """The Click command Typer builds for ``func`` registered with ``settings``."""
    _evaluate_annotations(func)
    single = typer.Typer(rich_markup_mode=None, add_completion=False)
    single.command(**settings)(func)
    return _readable(typer.main.get_command(single))


def _evaluate_annotations(func: Callable) -> None:
    """Turn the string annotations of a command function into objects, once, in place.

    The command modules use ``from __future__ import annotations``; Typer
    evaluates each string twice (``inspect.signature(eval_str=True)`` and
    ``get_type_hints``), which made building ``apply`` 14 ms against 2 ms
    for annotations that are objects. The dict is updated in place because
    :func:`guarded`'s wrapper shares it (``functools.wraps``).
    """
    import inspect

    raw = inspect.unwrap(func)
    notes = getattr(raw, "__annotations__", None)
    if notes and any(isinstance(v, str) for v in notes.values()):
        notes.update(inspect.get_annotations(raw, eval_str=True))


class _LazyTyper(typer.Typer):
    """A Typer app that keeps its commands' functions and builds each one when it is used.

    ``@app.command(...)`` records the function and its settings in
    :attr:`lazy_commands` (in order of registration: the order of
    ``cnnfilter --help``); the group (:class:`_OneLineErrors`) builds a
    command through Typer itself when it is invoked or asked for its help.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, tuple[Callable, dict]] = {}

    def command(self, name: str | None = None, **settings):
        def register(func: F) -> F:
            key = name or typer.main.get_command_name(func.__name__)
            self.lazy_commands[key] = (func, {"name": key, **settings})
            return func

        return register


app = _LazyTyper(
    name="cnnfilter",
    cls=_OneLineErrors,
    help=(
        "Filter and inspect images the way the layers of a convolutional neural network do: "
        "kernels, response maps, pooling, a layer stack's feature maps, parameters and "
        "receptive fields."
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


def might_be_a_terminal(stream) -> bool:
    """Whether Rich could take ``stream`` for a terminal (a tty, or forced by environment).

    False means Rich would print to it as to a file: plain text, which the
    listings then write without importing Rich at all.
    """
    return _isatty(stream) or any(name in os.environ for name in ("FORCE_COLOR", "TTY_COMPATIBLE"))


def print_tables(tables: list, form: str | None = None) -> None:
    """Print :class:`cnnfilter.cli._tables.Rows` tables on stdout, a blank line between.

    As :func:`print_table` (box on a terminal, plain text to a pipe or a
    file, or ``form``), but plain and tsv text are written without Rich.
    """
    from cnnfilter.cli._tables import table_text

    if form in ("plain", "tsv") or (form is None and not might_be_a_terminal(sys.stdout)):
        sys.stdout.write("\n".join(table_text(t, form or "plain") for t in tables))
        return
    console = stdout_console()
    for i, table in enumerate(tables):
        if i:
            console.file.write("\n")
        print_table(console, table.to_rich(), form)


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


def _too_long(filename) -> str:
    """The line for a name the file system refuses as too long (``ENAMETOOLONG``)."""
    from pathlib import Path

    name = max(Path(os.fsdecode(filename)).parts or ("",), key=lambda p: len(os.fsencode(p)))
    return (
        f"the name {name[:40]!r}{'...' if len(name) > 40 else ''} is too long for the file "
        "system (at most 255 bytes a name): shorten it"
    )


def guarded(func: F) -> F:
    """Run a command body, turning :class:`CnnfilterError` into one stderr line.

    The message's ``name='value'`` become ``--flag value``
    (:func:`cnnfilter.cli._errors.as_flags`); the exit code is the class's
    (:func:`cnnfilter.cli._errors.exit_code_for`).

    Also: SIGTERM and Ctrl-C end the command with one line, exit code 143 or
    130, and no partial output file; a reader of stdout that went away
    (``| head``) ends it quietly with 141, the SIGPIPE convention
    (:mod:`cnnfilter.cli._streams`); a name too long for the file system
    (``ENAMETOOLONG``, which ``Path.exists()`` raises) is one line, exit 2.
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
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG or exc.filename is None:
                raise
            fail(_too_long(exc.filename), 2)  # Path.exists() raises it; stdout is not at fault
        except KeyboardInterrupt as exc:
            name = getattr(exc, "signal_name", "SIGINT")
            note(f"Interrupted by {name}; no partial output was left")
            interrupted_exit(name)

    return wrapper  # type: ignore[return-value]
