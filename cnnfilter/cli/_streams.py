"""Standard streams that are closed, full or cut off: one line and an exit code, never a traceback.

Unix filters end quietly when the reader of their output goes away
(``cnnfilter kernels | head -n 3``): they die of SIGPIPE, which a shell
reports as 141 (128 + 13). cnnfilter does the same without the signal: no
``Error:`` line, exit code :data:`SIGPIPE_EXIT`.

Any other failure to write standard output (``>&-`` closed, ``>/dev/full``
full) is an error: one ``Error: cannot write to standard output: ...`` line
on stderr, exit 1. With stderr itself closed or full, the exit code alone
tells. Python's own flush at exit is pointed at ``/dev/null`` afterwards, so
it cannot print a second complaint ("Exception ignored ...").

:func:`run` wraps the whole command line, ``--help`` and ``--version``
included; :func:`silence_stdout` is also called by
:func:`cnnfilter.cli._app.guarded` when a command meets a broken pipe.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from collections.abc import Callable

__all__ = ["SIGPIPE_EXIT", "run", "silence_stdout", "silence_stderr"]

#: Exit code of a run whose stdout reader went away: 128 + SIGPIPE (13), as shells report it.
SIGPIPE_EXIT = 141


class _ClosedStream(io.TextIOBase):
    """Stands in for a standard stream that was closed before the start (``>&-``).

    Python sets such a stream to ``None``, and ``print`` to ``None`` writes
    nothing at all: the output would vanish without a word. Writing here
    raises ``OSError(EBADF)`` instead, as writing a closed descriptor does.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    @property
    def buffer(self):  # binary writes (``-o -``) fail the same way
        return self

    def fileno(self) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))


def _guard_missing_streams() -> None:
    if sys.stdout is None:
        sys.stdout = _ClosedStream("<stdout>")
    if sys.stderr is None:  # messages have nowhere to go; the exit code still tells
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115  (lives as long as the process)


def _point_at_devnull(stream) -> None:
    """Make later writes and Python's flush at exit of ``stream`` harmless."""
    try:
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def silence_stdout() -> None:
    """After a broken pipe: send whatever stdout still holds to ``/dev/null``."""
    _point_at_devnull(sys.stdout)
    _point_at_devnull(sys.__stdout__)


def silence_stderr() -> None:
    """After a failed write to stderr: later messages and the flush at exit go nowhere."""
    _point_at_devnull(sys.stderr)
    _point_at_devnull(sys.__stderr__)


def _say(message: str) -> None:
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr closed or full too: the exit code alone tells
        silence_stderr()


def _write_failed(exc: OSError, code: int) -> int:
    """The exit code after a failed write to stdout (``exc``); prints the one line."""
    if exc.errno == errno.EPIPE:
        silence_stdout()
        return SIGPIPE_EXIT
    silence_stdout()
    _say(f"Error: cannot write to standard output: {exc.strerror or exc}")
    return code if code not in (0, None) else 1


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if not isinstance(code, int):
        _say(str(code))
        return 1
    # Typer turns a broken pipe inside Click's own output (--help) into a quiet exit 1
    # after wrapping the streams; the convention is 141.
    if code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
        silence_stdout()
        return SIGPIPE_EXIT
    return code


def run(app: Callable[[], object]) -> int:
    """Run the command line ``app`` and return its exit code, whatever the streams do."""
    _guard_missing_streams()
    code = 0
    try:
        try:
            app()
        except SystemExit as exc:
            code = _exit_code(exc)
        sys.stdout.flush()
    except OSError as exc:  # a write to stdout failed (EPIPE, EBADF, ENOSPC, EIO...)
        return _write_failed(exc, code)
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        silence_stderr()
    return code
