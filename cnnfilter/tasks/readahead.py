"""Read ``apply``'s input image on a background thread while the command starts.

A 12 MP PNG takes Pillow 0.3-0.4 s to decode, on one core; the command's own
start after its options are parsed (NumPy, the engine and task modules, the
checks of :func:`cnnfilter.tasks.apply.prepare`) takes 0.25-0.3 s of Python
on one core too. Pillow's decoder releases the GIL (measured: a Python loop
in the main thread ran at 0.73-1.0x its speed alone while a thread decoded),
so the two overlap on a second core: the CLI calls :func:`start_read` right
after parsing, and :func:`cnnfilter.tasks.apply.render_apply` collects the
image where it would have read it.

Nothing changes but the time: the thread runs :func:`cnnfilter.imageio.read_image`
itself, with the max-pixels check of the header before decoding, and its
error (a missing, corrupt or too large file) is raised where the read
happens today, after every check that comes before it, with the same one-line
message. A read that is never collected (an earlier check failed) is waited
for when the command ends (:meth:`PendingRead.wait`), so that no thread
outlives a command run in-process; a daemon thread all the same. This module
imports neither NumPy nor Pillow: the thread does, so that its decode starts
while the main thread imports the rest. While it reads, the thread lifts
Pillow's global pixel limit as :func:`cnnfilter.imageio.read_image` does (its
own header check stands in); the CLI's main thread opens no image until it
collects the read.

The decode overlaps fully when imagecodecs is installed (the ``16bit``
extra): libspng decodes a plain 8-bit PNG in one call without the GIL
(:func:`cnnfilter.imageio.pixels._plain_png_pixels`). Pillow takes the GIL back
after each IDAT chunk (110 chunks of 64 KiB in a 12 MP PNG that Pillow
wrote), and waits up to the interpreter's switch interval (5 ms) for it
each time while the main thread runs Python: measured, a 300 ms decode
took 2 s beside a main thread busy all along. Without imagecodecs the
read-ahead gains less and not always (docs/speed.md, "End to end, after the
read-ahead": three of four rows faster than the commit before, one slower).
"""

from __future__ import annotations

import os
import threading

__all__ = ["PendingRead", "start_read"]


class PendingRead:
    """One :func:`cnnfilter.imageio.read_image` call running on a daemon thread.

    ``max_pixels=None`` means :data:`cnnfilter.imageio.DEFAULT_MAX_PIXELS`
    (resolved by the thread, which imports :mod:`cnnfilter.imageio`).
    """

    def __init__(self, path: str, *, max_pixels: int | None, frame: int, to_srgb: bool) -> None:
        self.path = str(path)
        self._asked = (max_pixels, frame, bool(to_srgb))
        self._args: tuple | None = None
        self._value = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cnnfilter-read", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            from cnnfilter import imageio

            max_pixels, frame, to_srgb = self._asked
            if max_pixels is None:
                max_pixels = imageio.DEFAULT_MAX_PIXELS
            self._args = (self.path, max_pixels, frame, to_srgb)
            self._value = imageio.read_image(
                self.path, max_pixels=max_pixels, frame=frame, to_srgb=to_srgb
            )
        except BaseException as exc:  # noqa: BLE001 - raised again by take(), in the caller
            self._error = exc

    def wait(self) -> None:
        """Wait until the thread has finished (its result stays to be taken)."""
        self._thread.join()

    def take(self, path, *, max_pixels: int, frame: int, to_srgb: bool):
        """The :class:`cnnfilter.imageio.LoadedImage` of this read, if it is the one asked.

        Waits for the thread. Returns None (the caller reads the file itself)
        when ``path`` or an option differs from what the thread read.

        Raises:
            UsageError, ProcessingError: as :func:`cnnfilter.imageio.read_image`,
                the very exception the thread met.
        """
        self._thread.join()
        if self._args != (str(path), max_pixels, frame, bool(to_srgb)):
            return None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        value, self._value = self._value, None  # taken once: the caller owns the arrays
        self._args = None
        return value


def start_read(
    images: list[str],
    output: str,
    *,
    max_pixels: int | None = None,
    frame: int = 0,
    to_srgb: bool = False,
    chunked: bool = False,
) -> PendingRead | None:
    """Start reading the input of a one-image ``apply``; None when this run is not one.

    A conservative test of what :func:`cnnfilter.tasks.apply.plan_inputs`
    decides later, with no import: one regular file in (not ``-``, a FIFO or
    a folder), one file out (not a pattern, a folder or a Zarr array), no
    ``chunked`` run. Anything else reads as before. Never raises: a name the
    system refuses (too long) starts nothing and is reported by the checks.
    """
    if len(images) != 1 or chunked:
        return None
    source = images[0]
    out = str(output)
    if source == "-" or not os.path.isfile(source) or ".zarr" in (source + out).lower():
        return None
    if set("{}") & set(out) or out.endswith(("/", os.sep)) or os.path.isdir(out):
        return None
    return PendingRead(source, max_pixels=max_pixels, frame=frame, to_srgb=to_srgb)
