"""Parsing of option values shared by several commands (stride, padding, ...)."""

from __future__ import annotations

from cnnfilter.errors import UsageError

__all__ = ["parse_ints", "parse_padding", "parse_scale"]


def parse_ints(option: str, text: str, *, counts: tuple[int, ...] = (1, 2), minimum: int = 1):
    """``"2"`` -> 2, ``"2,1"`` -> (2, 1). Raises UsageError naming ``option``."""
    parts = [p.strip() for p in str(text).replace("x", ",").split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise UsageError(
            f"{option} must be an integer or comma-separated integers (e.g. 2 or 2,1), got {text!r}"
        ) from None
    if len(values) not in counts:
        raise UsageError(f"{option} takes {' or '.join(map(str, counts))} value(s), got {text!r}")
    if any(v < minimum for v in values):
        what = f"{option} must be" if len(values) == 1 else f"{option} values must all be"
        raise UsageError(f"{what} >= {minimum}, got {str(text).strip()}")
    return values[0] if len(values) == 1 else tuple(values)


def parse_padding(text: str):
    """``same``/``valid``/``full``, ``P``, ``PH,PW`` or ``TOP,BOTTOM,LEFT,RIGHT``."""
    key = str(text).strip().lower()
    if key in ("same", "valid", "full"):
        return key
    parts = key.replace("x", ",").split(",")
    if len(parts) in (1, 2, 4) and all(p.strip().lstrip("+-").isdigit() for p in parts):
        return parse_ints("--padding", key, counts=(1, 2, 4), minimum=0)  # says if negative
    raise UsageError(
        "--padding must be same, valid, full, an integer P, PH,PW or TOP,BOTTOM,LEFT,RIGHT; "
        f"got {text!r}"
    )


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
