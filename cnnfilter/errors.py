"""The errors cnnfilter raises for bad input, and their exit codes.

The CLI turns each of them into one ``Error: ...`` line on stderr and the
exit code below; any other exception is a bug and keeps its traceback.

=========================  =========  ===========================================
class                      exit code  meaning
=========================  =========  ===========================================
(none)                     0          success
:class:`UsageError`        2          a bad option, kernel, file name or layer file
:class:`ProcessingError`   1          the input could not be processed (corrupt
                                      image, write failure, ...); in a batch: at
                                      least one input failed
(Ctrl-C)                   130        interrupted by SIGINT (128 + 2)
(``kill``)                 143        interrupted by SIGTERM (128 + 15)
=========================  =========  ===========================================

An interrupted run leaves no half-written output: files are written to a
temporary name and renamed only when complete.
"""

from __future__ import annotations

__all__ = ["CnnfilterError", "UsageError", "ProcessingError", "INTERRUPT_EXIT_CODES"]

#: Exit code of a run stopped by a signal: 128 + the signal number, as shells report it.
INTERRUPT_EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


class CnnfilterError(Exception):
    """Base class: a problem with the user's input, stated in one line."""

    exit_code = 1


class UsageError(CnnfilterError, ValueError):
    """The command line, a kernel or a layer file is wrong (exit code 2)."""

    exit_code = 2


class ProcessingError(CnnfilterError):
    """A file could not be read, decoded or written (exit code 1)."""

    exit_code = 1
