"""Writing: atomic file writes, streams and standard output; no clobber without ``force``.

Bytes go to a temporary file in the target folder, committed by ``os.link``
(or ``os.replace`` with ``force``) only when complete; devices, FIFOs and
descriptor aliases are written in place (:mod:`cnnfilter.imageio.targets`).
"""

from __future__ import annotations

import errno
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from cnnfilter.errors import OutputClosed, ProcessingError, UsageError
from cnnfilter.imageio.encoding import DEFAULT_PNG_COMPRESS_LEVEL, encode_image
from cnnfilter.imageio.formats import _format_for, netpbm_variant
from cnnfilter.imageio.limits import STDIO
from cnnfilter.imageio.npy import NPY_SIGNATURE, _npy_complete
from cnnfilter.imageio.reading import _DECODE_ERRORS, _native_stderr_silenced, _signature
from cnnfilter.imageio.targets import output_target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | Path, data: bytes, *, force: bool = False) -> None:
    """Write ``data`` to ``path`` so that no one ever sees a part of it, or loses a file.

    * A regular file is written through a temporary file (``.cnnf-XXXXXX.tmp``,
      short so that any valid name fits) in the same folder, then committed:
      without ``force`` by ``os.link`` (which fails if the name appeared in the
      meantime: two runs never silently replace each other), with ``force``
      by ``os.replace``. Where hard links are unsupported, the name is
      reserved with ``O_EXCL`` before the rename.
    * A symbolic link is followed: the file it points to is written.
    * A device, FIFO or descriptor alias (``/dev/null``, ``/dev/stdout``) is
      written into in place (see :func:`output_target`).

    Raises:
        UsageError: ``path`` exists (or appeared during the write) and
            ``force`` is false; a folder; its folder does not exist; a
            name too long (see :func:`output_target`).
        ProcessingError: the write itself failed (disk full, permissions).
    """
    target = output_target(path)
    if target.kind == "stream":
        _write_in_place(target.path, data)
        return
    p = target.path
    if target.kind == "file" and not force:
        raise _exists(path)
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"output folder {str(folder)!r} does not exist; create it first")
    tmp_name = None
    try:
        # the name is bound before the file exists: an interruption right after the
        # creation still finds it in ``finally`` (see _temp_name)
        for _ in range(100):
            tmp_name = _temp_name(folder)
            try:
                fd = os.open(tmp_name, _TEMP_FLAGS, 0o600)
                break
            except FileExistsError:
                tmp_name = None  # someone else's file: never ours to remove
        else:
            raise FileExistsError(errno.EEXIST, "no free temporary file name", str(folder))
        # mkstemp creates 0600; give the file the mode a plain open() would (or the
        # replaced file's mode).
        mode = p.stat().st_mode & 0o7777 if p.exists() else 0o666 & ~_umask()
        os.chmod(tmp_name, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _commit(tmp_name, p, force=force, shown=path)
    except OSError as exc:
        raise ProcessingError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    finally:
        if tmp_name is not None and os.path.lexists(tmp_name):
            os.unlink(tmp_name)


#: How a temporary output file is created: new (``O_EXCL``), never inherited by a child.
_TEMP_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)


def _temp_name(folder: Path) -> str:
    """A random ``.cnnf-XXXXXXXX.tmp`` name in ``folder`` (not created).

    Not ``tempfile.mkstemp``: it runs Python code (``os.path.abspath``) between
    creating the file and returning its name, and Ctrl-C or SIGTERM (raised as
    an exception by the CLI) landing there left the temporary file behind, its
    name never bound (2 runs in 100 of a batch stopped by SIGTERM to its
    process group). :func:`write_bytes_atomic` binds the name first, then
    creates the file with ``O_EXCL``.
    """
    import secrets

    return os.path.join(folder, f".cnnf-{secrets.token_hex(4)}.tmp")


def _exists(shown: str | Path) -> UsageError:
    return UsageError(f"output {str(shown)!r} already exists; add force=True to replace it")


def _commit(tmp_name: str, final: Path, *, force: bool, shown: str | Path) -> None:
    """Give the complete temporary file its final name (the temporary name is then unlinked).

    Without ``force`` the step fails if ``final`` exists by now: ``os.link``
    never replaces a name (EEXIST), and an ``O_EXCL`` creation neither.
    """
    if force:
        os.replace(tmp_name, final)
        return
    try:
        os.link(tmp_name, final)
    except FileExistsError:
        raise _exists(shown) from None
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        try:  # no hard links here (FAT, some network file systems): reserve the name
            os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise _exists(shown) from None
        os.replace(tmp_name, final)
        return
    os.unlink(tmp_name)


#: What ``os.link`` raises where a file system has no hard links.
_NO_LINK = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}


def _write_in_place(path: Path, data: bytes) -> None:
    """Write into a device, FIFO or descriptor alias as a shell redirection would."""
    import stat

    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):  # a file behind /dev/stdout: as `>`
                os.ftruncate(fd, 0)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except BrokenPipeError:
        raise ProcessingError(
            f"{str(path)!r} was closed before the whole image was written (broken pipe)"
        ) from None
    except OSError as exc:
        raise ProcessingError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


def is_complete_output(path: str | Path) -> bool:
    """True when an existing output decodes to its end (``--skip-existing`` keeps only those).

    A 0-byte file, a truncated or damaged picture, or an ``.npy`` file
    shorter than its header says, is not complete: a resumed batch redoes it.
    A picture too large to check (above Pillow's own pixel guard) counts as
    complete once its header reads.
    """
    from PIL import Image

    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
            if not head:
                return False
            fh.seek(0)
            if head.startswith(NPY_SIGNATURE):
                return _npy_complete(fh)
            with warnings.catch_warnings(), _native_stderr_silenced(_signature(head) == "TIFF"):
                warnings.simplefilter("ignore")
                with Image.open(fh) as im:
                    im.load()
    except Image.DecompressionBombError:
        return True
    except (*_DECODE_ERRORS, MemoryError):
        return False
    return True


def write_stdout(data: bytes) -> None:
    """Write encoded image bytes to standard output (for ``-o -``).

    Raises:
        UsageError: standard output is a terminal (binary data would garble it).
        OutputClosed: the reader went away (broken pipe; a ProcessingError).
        ProcessingError: the write failed.
    """
    stream = sys.stdout
    if stream is None:
        raise ProcessingError("there is no standard output to write the image to")
    if stream.isatty():
        raise UsageError(
            "refusing to write binary image data to a terminal; redirect standard output to a "
            "file, pipe it into another command, or give an output file name"
        )
    out = getattr(stream, "buffer", stream)
    try:
        stream.flush()
        out.flush()
        try:
            fd = out.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (tests, wrappers)
            out.write(data)
            out.flush()
        else:
            # os.write reports how much went through; a buffered write may return a
            # short count without raising when the reader has gone.
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
    except BrokenPipeError:
        # The reader exited early (e.g. `| head -c 10`). Point stdout at /dev/null so that
        # Python's own flush at exit does not raise a second time.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass
        raise OutputClosed(
            "standard output was closed before the whole image was written (broken pipe)"
        ) from None
    except OSError as exc:
        raise ProcessingError(f"cannot write to standard output: {exc.strerror or exc}") from None


def write_image(
    path: str | Path,
    array: np.ndarray,
    *,
    force: bool = False,
    fmt: str | None = None,
    compress_level: int = DEFAULT_PNG_COMPRESS_LEVEL,
    quality: int = 95,
) -> str:
    """Encode ``array`` by the extension of ``path`` (or ``fmt``) and write it atomically.

    ``path`` ``"-"`` writes to standard output (PNG unless ``fmt``).

    Returns the format name used. Raises as :func:`encode_image`,
    :func:`write_bytes_atomic` and :func:`write_stdout`.
    """
    p = Path(path)
    resolved = _format_for(p, fmt)
    data = encode_image(
        array,
        resolved,
        compress_level=compress_level,
        quality=quality,
        variant=netpbm_variant(p, fmt),
    )
    if str(path) == STDIO:
        write_stdout(data)
    else:
        write_bytes_atomic(p, data, force=force)
    return resolved
