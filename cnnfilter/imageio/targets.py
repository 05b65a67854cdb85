"""Output targets: what an output path is (new file, existing file, stream, null) before writing.

The rules for folders, devices, FIFOs, symbolic links and file-name lengths
(:func:`output_target`), used by :mod:`cnnfilter.imageio.writing` and by the
format choice (``-o /dev/null`` needs none).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnnfilter.errors import UsageError
from cnnfilter.imageio.limits import STDIO

#: Longest file name (one path component) in bytes when the file system does not say.
_NAME_MAX = 255

#: Symbolic links followed before giving up (as the kernel's own limit, ELOOP).
_MAX_LINKS = 40


@dataclass(frozen=True)
class OutputTarget:
    """Where and how an output path is written (see :func:`output_target`).

    Attributes:
        path: the file the bytes go to: the path given, or for a symbolic link
            the file it points to (a temporary file is made next to *it*).
        kind: ``"new"`` (nothing there yet), ``"file"`` (an existing regular
            file, replaced only with ``force``) or ``"stream"`` (a character
            device such as ``/dev/null``, a FIFO, or a descriptor alias such as
            ``/dev/stdout``: written into in place, never replaced).
        null: the target is the null device (``/dev/null``): the image is
            discarded, so no format is needed.
    """

    path: Path
    kind: str
    null: bool = False


def _through_descriptor(path: Path) -> bool:
    """True when ``path`` or a link on its way names an open descriptor.

    ``/dev/stdout`` -> ``/proc/self/fd/1`` -> (the shell's redirection): the
    file behind it belongs to whoever opened the descriptor, so it is written
    into, never replaced.
    """
    current = os.path.abspath(path)
    for _ in range(_MAX_LINKS):
        if current.startswith(("/proc/", "/dev/fd/")) or current in ("/dev/stdout", "/dev/stderr"):
            return True
        if not os.path.islink(current):
            return False
        current = os.path.join(os.path.dirname(current), os.readlink(current))
        current = os.path.abspath(current)
    return False


def output_target(path: str | Path) -> OutputTarget:
    """Classify the output ``path`` before anything is written to it.

    The rules (documented in docs/batch-and-pipelines.md, "Files: what
    cnnfilter never does"):

    * a character device (``/dev/null``), a FIFO or a descriptor alias
      (``/dev/stdout``) is written into in place: it is never replaced by a
      regular file, and needs no ``force``;
    * a symbolic link is followed: the file it points to is written (next to
      it, atomically); the link stays a link;
    * a folder, a block device or a socket is refused;
    * a file name longer than the file system allows (255 bytes) is refused.

    Raises:
        UsageError: a folder, a block device, a socket, a name too long, or
            a loop of symbolic links.
    """
    import stat

    p = Path(path)
    name = str(p)
    _check_name_length(p)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UsageError(f"output {name!r} cannot be used: {exc.strerror or exc}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(
            f"output {name!r} is a folder; give a file name ({name.rstrip('/')}/result.png)"
        )
    if st is not None and (stat.S_ISBLK(st.st_mode) or stat.S_ISSOCK(st.st_mode)):
        kind = "a block device" if stat.S_ISBLK(st.st_mode) else "a socket"
        raise UsageError(f"output {name!r} is {kind}; cnnfilter writes only files and streams")
    if st is not None and (not stat.S_ISREG(st.st_mode) or _through_descriptor(p)):
        null = stat.S_ISCHR(st.st_mode) and _is_null(st)
        return OutputTarget(p, "stream", null)
    real = Path(os.path.realpath(p)) if p.is_symlink() else p
    _check_name_length(real)
    return OutputTarget(real, "new" if st is None else "file")


def _is_null(st: os.stat_result) -> bool:
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return (st.st_dev, st.st_ino, st.st_rdev) == (null.st_dev, null.st_ino, null.st_rdev)


def _check_name_length(path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no such folder (yet): the usual limit
        limit = _NAME_MAX
    size = len(os.fsencode(path.name))
    if size > limit:
        raise UsageError(
            f"output file name {path.name[:40]!r}... is {size} bytes long; the file system "
            f"allows at most {limit} bytes per name: shorten it"
        )


def is_null_output(path: str | Path) -> bool:
    """True when ``path`` is the null device: the image is discarded (``-o /dev/null``).

    >>> is_null_output(os.devnull), is_null_output("x.png")
    (True, False)
    """
    if str(path) == STDIO:
        return False
    try:
        return output_target(path).null
    except UsageError:
        return False
