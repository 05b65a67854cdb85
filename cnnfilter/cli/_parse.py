"""Parsing of option values shared by several commands (stride, padding, ...)."""

from __future__ import annotations

from cnnfilter.errors import UsageError

__all__ = ["parse_ints", "parse_padding", "parse_scale"]


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
