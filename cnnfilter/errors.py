"""The errors cnnfilter's library raises for bad input.

Both are plain exceptions whose one-line message names the problem and the
fix in the terms of the Python API: parameters are written ``name='value'``
or ``name=value`` (``"... use method='fft'"``), never as command-line flags.
The command line (:mod:`cnnfilter.cli._errors`) owns the exit codes and turns
those parameter names into its flags (``--method fft``):

=========================  =========  ===========================================
class                      exit code  meaning
=========================  =========  ===========================================
(none)                     0          success
:class:`UsageError`        2          a bad option, kernel, file name or layer file
:class:`ProcessingError`   1          the input could not be processed (corrupt
                                      image, write failure, ...); in a batch: at
                                      least one input failed
(stdout reader gone)       141        :class:`OutputClosed`: the reader of standard
                                      output exited (``| head``); quiet, as ``cat``
(Ctrl-C)                   130        interrupted by SIGINT (128 + 2)
(``kill``)                 143        interrupted by SIGTERM (128 + 15)
=========================  =========  ===========================================

An interrupted run leaves no half-written output: files are written to a
temporary name and renamed only when complete.
"""

from __future__ import annotations

__all__ = ["CnnfilterError", "UsageError", "ProcessingError", "OutputClosed"]


class CnnfilterError(Exception):
    """Base class: a problem with the user's input, stated in one line."""


class UsageError(CnnfilterError, ValueError):
    """An argument, a kernel, a file name or a layer file is wrong."""


class ProcessingError(CnnfilterError):
    """A file could not be read, decoded or written."""


class OutputClosed(ProcessingError):
    """The reader of standard output went away (``cnnfilter ... | head``): a broken pipe.

    The command line ends such a run quietly with exit code 141 (128 + SIGPIPE),
    as Unix filters do; library callers see a :class:`ProcessingError`.
    """
