"""Limits checked before any pixel is decoded: memory, pixel counts, input files.

The memory this process may use (:func:`available_memory`), the default pixel
limit drawn from it (:data:`DEFAULT_MAX_PIXELS`), the byte bounds on streams,
and the checks every reader runs first (:func:`check_input_file`,
``_check_pixels``).
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnfilter.errors import ProcessingError, UsageError

#: The file name that means standard input (reading) or standard output (writing).
STDIO = "-"

#: Pillow's own decompression-bomb error threshold (2 x ``Image.MAX_IMAGE_PIXELS``).
PILLOW_GUARD_PIXELS = 178_956_970

#: Bytes of working memory per pixel while an RGB image is filtered: the decoded
#: uint8 (3), the float32 image (12), the float32 response (12), the output
#: pixels and the encoder's copy (12 + 3), with room to spare: 48.
WORKING_SET_BYTES_PER_PIXEL = 48

#: Most bytes a pixel of any readable file can take (4 float32 channels): the
#: bound on bytes read from a stream or FIFO, and on a ``.npy`` array's data,
#: for a given pixel limit (plus :data:`STREAM_SLACK_BYTES` for headers).
MAX_BYTES_PER_PIXEL = 16

#: Room for headers and metadata (ICC profiles, EXIF) in a stream's byte limit.
STREAM_SLACK_BYTES = 16 * 2**20


def available_memory() -> int | None:
    """Bytes of memory this process may use now, or None if unknown.

    The smallest of: ``MemAvailable`` (Linux) or the free physical pages, the
    address-space limit (``ulimit -v``) and the cgroup's ``memory.max``.
    """
    known = [n for n in (_free_ram(), _rlimit_bytes(), _cgroup_bytes()) if n is not None]
    return min(known) if known else None


def _rlimit_bytes() -> int | None:
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    return None if soft == resource.RLIM_INFINITY else soft


def _cgroup_bytes() -> int | None:
    try:
        with open("/sys/fs/cgroup/memory.max", "rb") as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _free_ram() -> int | None:
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def default_max_pixels() -> int:
    """The default pixel limit: Pillow's guard, or less if the working set would not fit.

    ``min(PILLOW_GUARD_PIXELS, available memory / WORKING_SET_BYTES_PER_PIXEL)``,
    at least 1 megapixel. On a machine with 8 GB free: 178,956,970 (Pillow's
    guard); with 2 GB free: 44,739,242.
    """
    free = available_memory()
    if free is None:
        return PILLOW_GUARD_PIXELS
    return max(2**20, min(PILLOW_GUARD_PIXELS, free // WORKING_SET_BYTES_PER_PIXEL))


#: Largest image decoded without ``--max-pixels``: see :func:`default_max_pixels`
#: (computed once, when this module is imported).
DEFAULT_MAX_PIXELS = default_max_pixels()


def check_input_file(path: str | Path, *, role: str = "input image") -> Path:
    """Refuse an input that does not exist or is a folder, naming its ``role``.

    Commands call it before any other check on their outputs, so that a
    missing input is reported as such (and not as "output already exists").
    ``-`` (standard input) always passes.

    Raises:
        UsageError: ``path`` does not exist, or is a directory.

    >>> check_input_file("nothere.png", role="template")
    Traceback (most recent call last):
    cnnfilter.errors.UsageError: template 'nothere.png' does not exist
    """
    p = Path(path)
    if str(path) == STDIO:
        return p
    if not p.exists():
        raise UsageError(f"{role} {str(p)!r} does not exist")
    if p.is_dir():
        raise UsageError(f"{role} {str(p)!r} is a directory, not a file")
    return p


def _check_pixels(name: str, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ProcessingError(
            f"{name!r} is {height} x {width} = {width * height:,} pixels, above the limit "
            f"of {max_pixels:,}; raise it with max_pixels=... if the file is trusted"
        )
