"""Parsing of option values shared by several commands (stride, padding, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnfilter.errors import UsageError

__all__ = [
    "parse_ints",
    "parse_padding",
    "parse_scale",
    "check_output_path",
    "MaxPixelsOption",
    "FrameOption",
    "frame_note",
]

#: ``--max-pixels``, shared by every command that decodes an image.
MaxPixelsOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Refuse images with more pixels than this, checked before decoding "
        "(default 400,000,000).",
        show_default=False,
    ),
]

#: ``--frame``, shared by every command that decodes an image.
FrameOption = Annotated[
    int, typer.Option(min=0, help="Frame of a multi-frame GIF/TIFF/WebP, from 0.")
]


def frame_note(frame: int, frames: int) -> str:
    """``"; frame 0 of 3 (...)"`` for a multi-frame input, else ``""``.

    >>> frame_note(0, 3)
    '; frame 0 of 3 (0-based; --frame N picks another)'
    >>> frame_note(0, 1)
    ''
    """
    return f"; frame {frame} of {frames} (0-based; --frame N picks another)" if frames > 1 else ""


def parse_ints(option: str, text: str, *, counts: tuple[int, ...] = (1, 2), minimum: int = 1):
    """``"2"`` -> 2, ``"2,1"`` -> (2, 1). Raises UsageError naming ``option``.

    The rule is :func:`cnnfilter.engine.geometry.parse_ints`.
    """
    from cnnfilter.engine.geometry import parse_ints as _parse_ints

    return _parse_ints(text, name=option, counts=counts, minimum=minimum)


def parse_padding(text: str):
    """``same``/``valid``/``full``, ``P``, ``PH,PW`` or ``TOP,BOTTOM,LEFT,RIGHT``, as given.

    The rule is :func:`cnnfilter.engine.geometry.padding_spec`, the one padding
    parser; the value keeps the form given (for the report).
    """
    from cnnfilter.engine.geometry import padding_spec

    return padding_spec(text, name="--padding")


def parse_scale(text: str | None) -> float | str | None:
    """``--scale``: a finite number, ``auto``, or None."""
    if text is None:
        return None
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--scale must be a number or 'auto', got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise UsageError("--scale must be finite")
    return value


def check_output_path(output: Path, inputs: list[Path], *, force: bool) -> None:
    """Refuse an output that is one of the inputs, or that exists without --force."""
    for source in inputs:
        if str(source) == "-":
            continue
        same = output.exists() and source.exists() and output.samefile(source)
        if same or output.resolve() == source.resolve():
            raise UsageError(
                f"output {str(output)!r} is the input image; choose another file name "
                "(cnnfilter never overwrites its input)"
            )
    if output.exists() and not force:
        raise UsageError(f"output {str(output)!r} already exists; add --force to replace it")
