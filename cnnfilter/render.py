"""Rendering for people: kernel matrices as Rich tables, side-by-side pictures.

Arrays in, arrays (or Rich renderables) out; no file I/O.
"""

from __future__ import annotations

import numpy as np

__all__ = ["format_number", "kernel_table", "side_by_side"]


def format_number(value: float) -> str:
    """Short text for a kernel weight: integers plain, fractions to 4 significant digits."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


def kernel_table(weights: np.ndarray, title: str | None = None):
    """A Rich table showing a 2-D kernel, rows top to bottom."""
    from rich.table import Table

    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    for _ in range(weights.shape[1]):
        table.add_column(justify="right")
    for row in weights:
        table.add_row(*(format_number(v) for v in row))
    return table


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[..., np.newaxis], 3, axis=2)
    if image.shape[2] == 2:  # gray + alpha: drop alpha
        return np.repeat(image[..., :1], 3, axis=2)
    if image.shape[2] == 4:
        return image[..., :3]
    return image


def side_by_side(left: np.ndarray, right: np.ndarray, *, gap: int = 8) -> np.ndarray:
    """Place two uint8 pictures side by side on white, top-aligned.

    Args:
        left, right: ``(H, W)`` or ``(H, W, C)`` uint8 arrays (C = 1..4;
            alpha is dropped).
        gap: white columns between them.

    Returns:
        ``(max(H1, H2), W1 + gap + W2, 3)`` uint8 array; gray inputs are
        repeated over RGB.
    """
    a, b = _as_rgb(left), _as_rgb(right)
    height = max(a.shape[0], b.shape[0])
    canvas = np.full((height, a.shape[1] + gap + b.shape[1], 3), 255, dtype=np.uint8)
    canvas[: a.shape[0], : a.shape[1]] = a
    canvas[: b.shape[0], a.shape[1] + gap :] = b
    return canvas
