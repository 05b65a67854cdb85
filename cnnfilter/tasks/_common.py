"""Checks and small helpers every task shares (no I/O beyond looking at paths)."""

from __future__ import annotations

from pathlib import Path

from cnnfilter.errors import UsageError

__all__ = [
    "STDIO",
    "check_finite",
    "check_output_path",
    "output_format",
    "shape3",
    "shape_text",
    "shown",
]

#: The file name that means standard input or output.
STDIO = "-"


def check_finite(pixels, source: str | Path) -> None:
    """Refuse a float image or array holding NaN or inf where it would become pixels.

    ``apply --range rescale`` would map such an image to all black: apply
    refuses it for every picture output, pool for every output. A raw
    response (``apply`` to .npy or ``--range raw``) and ``detect``'s maps keep
    NaN/inf in the windows over them, as the engine computes them. Integer
    pixels are always finite and are not scanned.

    Raises:
        UsageError: how many values are not finite, and where the first is.
    """
    import numpy as np

    if pixels.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(pixels)
    if not bad.any():
        return
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    where = f"row {first[0]}, column {first[1]}" if len(first) >= 2 else f"index {first}"
    name = "standard input" if str(source) == STDIO else repr(str(source))
    raise UsageError(
        f"{name} holds {int(bad.sum())} value(s) that are NaN or inf (the first at {where}); "
        "every value must be a finite number: replace them first (numpy.nan_to_num)"
    )


def check_output_path(output: Path, inputs: list, *, force: bool) -> None:
    """Refuse an output that is one of the inputs, or that exists unless ``force``.

    ``inputs`` are every file the command reads: paths (the input image), or
    ``(path, role)`` pairs (``(k, "kernel file")``, ``(t, "template")``); ``-``
    is standard input, compared by device and inode with the output (so
    ``... - -o c.png --force < c.png`` is refused). None entries are skipped.
    A device, FIFO or ``/dev/stdout`` output is written into in place
    (:func:`cnnfilter.imageio.output_target`) and needs no ``force``.

    Raises:
        UsageError: the output is an input, a folder, a block device, a name
            too long, holds one of apply's ``{stem}`` placeholders, or exists and
            ``force`` is false.
    """
    import re

    from cnnfilter import imageio

    if str(output) == STDIO:
        return
    pattern = re.search(r"\{(stem|name|ext|parent|kernel)\}", str(output))
    if pattern is not None:  # apply's output patterns; elsewhere a literal '{stem}.png'
        raise UsageError(
            f"output {str(output)!r} holds {pattern[0]}, a pattern only apply fills (one output "
            "per input); give a name without it"
        )
    target = imageio.output_target(output)
    for item in inputs:
        source, role = item if isinstance(item, tuple) else (item, "input image")
        if source is None:
            continue
        if _same_file(Path(output), source):
            shown = "standard input" if str(source) == STDIO else f"the {role}"
            raise UsageError(
                f"output {str(output)!r} is {shown}; choose another file name "
                "(cnnfilter never overwrites its input)"
            )
    if target.kind == "file" and not force:
        raise UsageError(f"output {str(output)!r} already exists; add force=True to replace it")


def _identity(path: str | Path) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of a path (``-``: the file behind standard input), or None."""
    import os
    import stat

    try:
        st = os.fstat(0) if str(path) == STDIO else os.stat(path)
    except (OSError, ValueError):
        return None
    if str(path) == STDIO and not stat.S_ISREG(st.st_mode):
        return None  # a pipe or a terminal: no file to lose
    return st.st_dev, st.st_ino


def _same_file(output: Path, source: str | Path) -> bool:
    """True when ``output`` names the file ``source`` (any spelling, link or hard link)."""
    ident = _identity(source)
    if ident is not None and ident == _identity(output):
        return True
    return str(source) != STDIO and output.resolve() == Path(source).resolve()


def output_format(
    path: str | Path, fmt: str | None = None, *, has_format: bool = True, source: str | None = None
) -> str:
    """:func:`cnnfilter.imageio.output_format`, with the fixes this command can offer.

    ``source`` (the input's name) gives standard output its format when ``fmt``
    is not given. ``has_format`` says whether the command takes an output format (``fmt``):
    without one, standard output (``-``) is refused outright, and an unknown
    extension is not told to set it.

    Raises:
        UsageError: unknown extension or format; ``-`` without ``fmt``.
    """
    from cnnfilter import imageio

    if str(path) == STDIO and not fmt and not has_format:
        raise UsageError("this output cannot be standard output ('-'); give a file name")
    if str(path) != STDIO:
        imageio.output_target(path)  # a folder, a name too long: said before the format
    try:
        return imageio.output_format(path, fmt, source=source)
    except UsageError as exc:
        if has_format and "from its extension" in str(exc):
            raise UsageError(f"{exc} (or fmt=)") from None
        raise


def shape3(shape: tuple[int, ...]) -> list[int]:
    """``[H, W, C]``: ``(H, W)`` -> ``[H, W, 1]``; ``(H, W, C)`` unchanged, as a list.

    >>> shape3((4, 5)), shape3((4, 5, 3))
    ([4, 5, 1], [4, 5, 3])
    """
    return [int(s) for s in shape] + ([1] if len(shape) == 2 else [])


def shape_text(shape: tuple[int, ...]) -> str:
    """``H x W x C``, with C = 1 for a 2-D array.

    >>> shape_text((5, 5)), shape_text((4, 5, 3))
    ('5 x 5 x 1', '4 x 5 x 3')
    """
    return " x ".join(str(s) for s in shape3(shape))


def shown(name: str | Path | None, stdio: str) -> str:
    """A file name as notes print it: ``-`` becomes ``stdio`` (``<stdin>``, ``<stdout>``).

    >>> shown("-", "<stdin>"), shown("a.png", "<stdout>")
    ('<stdin>', 'a.png')
    """
    return stdio if str(name) == STDIO else str(name)


def write_output(target: str | Path, data: bytes, *, force: bool, make_dirs: bool = False) -> None:
    """Write encoded bytes to ``target`` atomically, or to stdout for ``-``.

    ``make_dirs`` creates the target's missing folders (batch outputs).

    Raises:
        UsageError: as :func:`cnnfilter.imageio.write_bytes_atomic` and
            :func:`cnnfilter.imageio.write_stdout`.
        ProcessingError: the write failed.
    """
    from cnnfilter import imageio
    from cnnfilter.errors import ProcessingError

    if str(target) == STDIO:
        imageio.write_stdout(data)
        return
    path = Path(target)
    if make_dirs and not path.parent.is_dir():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProcessingError(
                f"cannot create folder {str(path.parent)!r}: {exc.strerror or exc}"
            ) from None
    imageio.write_bytes_atomic(path, data, force=force)
