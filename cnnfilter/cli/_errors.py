"""Library errors as the command line shows them: exit codes and flag names.

The library (:mod:`cnnfilter.errors`) raises plain exceptions whose messages
name Python parameters (``use method='fft'``, ``scale=...``); the CLI owns
the exit codes, by exception class, and rewrites those parameter names as
the flags a user types (``use --method fft``).
"""

from __future__ import annotations

import re

from cnnfilter.errors import CnnfilterError, ProcessingError, UsageError

__all__ = ["EXIT_CODES", "INTERRUPT_EXIT_CODES", "PARAM_FLAGS", "exit_code_for", "as_flags"]

#: Exit code of each library error class (the first match in this order wins).
EXIT_CODES: dict[type[CnnfilterError], int] = {UsageError: 2, ProcessingError: 1}

#: Exit code of a run stopped by a signal: 128 + the signal number, as shells report it.
INTERRUPT_EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}

#: Python parameter names whose flag is not ``--`` + the name with ``_`` -> ``-``.
PARAM_FLAGS = {
    "range_mode": "--range",
    "fmt": "--format",
    "kernel_size": "--size",
    "layout": "--weights-layout",
}

#: ``name='value'``, ``name="value"``, ``name=value`` (up to a space, comma, semicolon or
#: closing bracket) or a bare ``name=`` (the option itself); the name must start a word.
_ASSIGNMENT = re.compile(
    r"(?<![\w.-])(?P<name>[a-z][a-z0-9_]*)="
    r"(?:'(?P<single>[^']*)'|\"(?P<double>[^\"]*)\"|(?P<bare>[^\s,;)\]:][^\s,;)\]]*))?"
)


#: A quoted value that looks like a file name (a dot, a slash or a space) keeps its quotes.
_FILE_NAME = re.compile(r"[./\\ ]")

#: ``arch.yaml:12: ...``: a message about a line of a file, which names the file's keys.
_FILE_LINE = re.compile(r"^\S+:\d+: ")


def exit_code_for(error: CnnfilterError) -> int:
    """2 for a :class:`UsageError`, 1 for a :class:`ProcessingError` (and any other).

    >>> exit_code_for(UsageError("x")), exit_code_for(ProcessingError("x"))
    (2, 1)
    """
    for cls, code in EXIT_CODES.items():
        if isinstance(error, cls):
            return code
    return 1


def as_flags(message: str, flags: frozenset[str] | set[str]) -> str:
    """Rewrite the library's ``name='value'`` as the CLI's ``--flag value``.

    Only names that are flags of the CLI are rewritten (``flags``: every long
    option of every command, :func:`cnnfilter.cli._app.known_flags`), through
    :data:`PARAM_FLAGS` or
    ``name`` -> ``--name`` with ``_`` -> ``-``; ``name=True`` is the bare
    switch (``force=True`` -> ``--force``); a quoted file name keeps its
    quotes (``raw='x.png'`` -> ``--raw 'x.png'``). Other text is unchanged, and
    so is a message about a line of a layer file (``net.yaml:3: ...``),
    whose ``key=value`` words are the file's.

    >>> as_flags("use method='fft' or scale=0.5", {"--method", "--scale"})
    'use --method fft or --scale 0.5'
    >>> as_flags("range_mode='raw' keeps floats; x=1 stays", {"--range"})
    '--range raw keeps floats; x=1 stays'
    """
    if _FILE_LINE.match(message):  # about a layer file: its keys are the file's words
        return message

    def flag(match: re.Match) -> str:
        name = match["name"]
        option = PARAM_FLAGS.get(name, "--" + name.replace("_", "-"))
        if option not in flags:
            return match[0]
        if match["single"] is not None and _FILE_NAME.search(match["single"]):
            return f"{option} {match['single']!r}"  # file names stay quoted, as elsewhere
        given = (match["single"], match["double"], match["bare"])
        value = next((v for v in given if v is not None), "")
        return option if value in ("", "True") else f"{option} {value}"  # a switch: the flag

    return _ASSIGNMENT.sub(flag, message)
