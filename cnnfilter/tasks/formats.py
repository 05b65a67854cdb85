"""``formats``: the image formats cnnfilter reads and writes, with bit depths and metadata kept."""

from __future__ import annotations

from dataclasses import asdict

__all__ = ["formats_document"]


def formats_document() -> dict:
    """The ``formats --json`` document.

    ``{"codecs_16bit": bool, "formats": [{name, extensions, read, written,
    lossy, metadata}, ...]}``; ``written`` lists the picture kinds written
    (``"8-bit colour + alpha"``, ``"16-bit gray"``...), measured on the
    installed Pillow (:func:`cnnfilter.codecs.formats.write_modes`), plus the
    16-bit colour kinds of PNG and TIFF when ``cnnfilter[16bit]`` is installed.
    """
    from cnnfilter.codecs import deep
    from cnnfilter.codecs.formats import format_table

    present = deep.available()
    return {
        "codecs_16bit": present,
        "formats": [asdict(row) for row in format_table(present)],
    }
