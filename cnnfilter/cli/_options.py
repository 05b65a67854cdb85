"""The Typer options several commands share, defined once, and choices from engine tables.

Every command takes ``-q/--quiet`` and ``-v/--verbose``; ``--json`` prints the
command's machine report on stdout; ``--format`` is only ever the format of
the file a command writes. Choices (``--method``, ``--range``, ``--op``...)
are Enums built from the engine's tables in :mod:`cnnfilter.engine.choices`,
with help made from their descriptions, so a new choice in the engine is a
new choice on the command line.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cnnfilter.cli._complete import complete_kernel, complete_path
from cnnfilter.cli._tables import TABLE_FORMS
from cnnfilter.kernels import REGISTRY

__all__ = [
    "choice_enum",
    "choices_help",
    "frame_note",
    "KERNEL_HELP",
    "KernelOption",
    "KernelFileOption",
    "OutputOption",
    "ForceOption",
    "JsonOption",
    "QuietOption",
    "VerboseOption",
    "FormatOption",
    "MaxPixelsOption",
    "FrameOption",
    "TableOption",
    "DxOption",
    "DyOption",
    "KsizeOption",
    "example",
    "SchedulerOption",
    "ChunkedOption",
    "ChunkSizeOption",
]


def example(*lines: str) -> str:
    """The epilog of a command's help: its example lines, never re-wrapped.

    >>> print(example("cnnfilter kernels sobel-x"))
    \b
    Example:
      cnnfilter kernels sobel-x
    """
    label = "Example:" if len(lines) == 1 else "Examples:"
    return "\b\n" + label + "\n" + "\n".join("  " + line for line in lines)


def choice_enum(name: str, table: dict[str, str]) -> type[Enum]:
    """A ``str`` Enum of ``table``'s names, in order, for a Typer option.

    >>> [m.value for m in choice_enum("Op", {"max": "largest", "avg": "mean"})]
    ['max', 'avg']
    """
    return Enum(name, [(key, key) for key in table], type=str)


def choices_help(table: dict[str, str], lead: str = "") -> str:
    """``"lead a: what a; b: what b."``: a choice's help from its table.

    >>> choices_help({"max": "largest", "avg": "mean"}, "Window op:")
    'Window op: max: largest; avg: mean.'
    """
    text = "; ".join(f"{key}: {what}" for key, what in table.items()) + "."
    return f"{lead} {text}" if lead else text


def frame_note(frame: int, frames: int) -> str:
    """``"; frame 0 of 3 (...)"`` for a multi-frame input, else ``""``.

    >>> frame_note(0, 3)
    '; frame 0 of 3 (0-based; --frame N picks another)'
    >>> frame_note(0, 1)
    ''
    """
    return f"; frame {frame} of {frames} (0-based; --frame N picks another)" if frames > 1 else ""


KERNEL_HELP = (
    "Named kernel (" + ", ".join(e.usage for e in REGISTRY.values()) + "; scikit-image, "
    "OpenCV and ImageMagick names such as sobel_h, Laplacian:2, Gaussian:0x2), inline JSON "
    "'[[0,-1,0],[-1,5,-1],[0,-1,0]]' or rows '1,0,-1;2,0,-2;1,0,-1'. See 'cnnfilter kernels'."
)

#: ``--kernel/-k``: a registry name, inline JSON or rows.
KernelOption = Annotated[
    str | None,
    typer.Option(
        "--kernel", "-k", metavar="NAME|MATRIX", help=KERNEL_HELP, autocompletion=complete_kernel
    ),
]

#: ``--kernel-file``: a kernel from a file.
KernelFileOption = Annotated[
    Path | None,
    typer.Option(
        "--kernel-file",
        metavar="FILE",
        help="Kernel from a .txt/.csv matrix, .json or .npy file.",
        autocompletion=complete_path,
    ),
]

#: ``--output/-o`` of a command whose output is optional.
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="File to write (the format follows its name).",
        autocompletion=complete_path,
    ),
]

#: ``--table``: how a table is drawn on stdout.
TableOption = Annotated[
    str | None,
    typer.Option(
        "--table",
        metavar="|".join(TABLE_FORMS),
        help="Table style: box (default on a terminal), plain (fixed-width, the default to "
        "a pipe or file) or tsv.",
        show_default=False,
    ),
]

_CV_NOTE = "OpenCV's Sobel with -k Sobel, as cv2.Sobel(img, ddepth, dx, dy, ksize)"

#: ``--dx``/``--dy``/``--ksize``: OpenCV's Sobel (see foreign_kernels.opencv_sobel_spec).
DxOption = Annotated[
    int | None,
    typer.Option("--dx", metavar="N", min=0, help=f"Order of the x derivative: {_CV_NOTE}."),
]
DyOption = Annotated[
    int | None,
    typer.Option("--dy", metavar="N", min=0, help="Order of the y derivative (see --dx)."),
]
KsizeOption = Annotated[
    int | None,
    typer.Option("--ksize", metavar="1|3|5|7|-1", help="Aperture of --dx/--dy (-1: Scharr)."),
]

#: ``--force``: replace existing output files.
ForceOption = Annotated[bool, typer.Option("--force", help="Replace existing output files.")]

#: ``--json``: the command's report as one JSON document on stdout.
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", help="Print the report as JSON on stdout (keys: docs/reference/json.md)."
    ),
]

#: ``-q/--quiet``: nothing on stderr on success.
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Nothing on stderr on success (no run line, no progress bar)."
    ),
]

#: ``-v/--verbose``: the run line plus the plan and timings.
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also print the plan that ran and timings.")
]

#: ``--format``: the format of the file written (never of a report).
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help="Format of the output file: png, jpg, tiff, bmp, webp, gif, npy, ppm, tga, jp2... "
        "(cnnfilter formats lists all; default: its extension; for -o -, the input's format).",
    ),
]

#: ``--max-pixels``, shared by every command that decodes an image.
MaxPixelsOption = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        min=1,
        help="Refuse images with more pixels than this, checked from the header before "
        "decoding (default: 178,956,970, Pillow's own guard, or less when the float32 "
        "working set of 48 bytes a pixel would not fit in the memory available).",
        show_default=False,
    ),
]

#: ``--frame``, shared by every command that decodes an image.
FrameOption = Annotated[
    int, typer.Option(metavar="N", min=0, help="Frame of a multi-frame GIF/TIFF/WebP, from 0.")
]

#: ``--scheduler``: run a batch or a chunked image on a Dask cluster.
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS|local",
        help="Run a batch (one task per file) or a --chunked image on a Dask cluster: its "
        "address (tcp://host:8786; default for those runs: $DASK_SCHEDULER_ADDRESS) or "
        "'local' for a cluster of --workers processes on 127.0.0.1. Inputs and outputs must "
        "be on a file system every worker reads. Needs cnnfilter[dask].",
        show_default=False,
    ),
]

#: ``--chunked``: an image larger than memory, block by block.
ChunkedOption = Annotated[
    bool,
    typer.Option(
        "--chunked",
        help="Process a tiled TIFF/BigTIFF or Zarr image block by block with bounded memory, "
        "writing a tiled BigTIFF (.tif) or Zarr (.zarr); implied by a .zarr input or output. "
        "Needs cnnfilter[dask].",
    ),
]

#: ``--chunk-size``: the output block side of a chunked run.
ChunkSizeOption = Annotated[
    int, typer.Option("--chunk-size", min=16, help="--chunked: output block side in pixels.")
]
