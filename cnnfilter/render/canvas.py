"""Pictures as arrays: gray to RGB, two pictures side by side, whole-factor enlargement,
the white background, and photos of any range made 8-bit RGB for display.

Arrays in, arrays out; no file I/O. The other picture modules build on these."""

from __future__ import annotations

import numpy as np

#: Background of the caption strip and the bar's margin.
BACKGROUND = (255, 255, 255)


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


def display_rgb(pixels: np.ndarray, max_value: float) -> np.ndarray:
    """A picture for people: ``(H, W, 3)`` uint8 from gray/RGB pixels of any range.

    ``pixels`` with ``max_value`` (full white) are scaled to 0-255 and
    rounded; gray is repeated over RGB; extra channels (alpha) are dropped.
    """
    x = np.asarray(pixels)
    if x.ndim == 3 and x.shape[2] not in (3,):
        x = x[:, :, 0] if x.shape[2] < 3 else x[:, :, :3]
    if x.dtype != np.uint8 or max_value != 255:
        scaled = x.astype(np.float64) * (255.0 / max_value if max_value else 1.0)
        x = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return _as_rgb(x)


def enlarge_factor(shape: tuple[int, ...], *, min_side: int = 256) -> int:
    """The whole factor that brings the shorter side of ``shape`` to at least ``min_side``.

    >>> enlarge_factor((44, 34)), enlarge_factor((400, 600)), enlarge_factor((0, 5))
    (8, 1, 1)
    """
    short = min(shape[:2])
    return max(1, -(-min_side // short)) if short > 0 else 1


def enlarge(picture: np.ndarray, factor: int) -> np.ndarray:
    """Repeat each pixel ``factor`` times along rows and columns (nearest neighbour).

    >>> enlarge(np.array([[1, 2]]), 2).tolist()
    [[1, 1, 2, 2], [1, 1, 2, 2]]
    """
    if factor <= 1:
        return picture
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


def enlarge_rect(picture: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Repeat each pixel ``fy`` times along rows and ``fx`` times along columns."""
    return np.repeat(np.repeat(picture, fy, axis=0), fx, axis=1)


def _fill_background(canvas: np.ndarray) -> None:
    """Paint ``canvas`` (``(..., 3)`` uint8) :data:`BACKGROUND`, as one byte fill when its
    three values are equal (white: several times faster than assigning the colour)."""
    if len(set(BACKGROUND)) == 1:
        canvas.fill(BACKGROUND[0])
    else:
        canvas[...] = BACKGROUND
