"""pool's pictures: which input pixel won each max-pooling window, and the input with
its pooling grid beside the pooled output."""

from __future__ import annotations

import numpy as np

from cnnfilter.render.canvas import enlarge, enlarge_factor, enlarge_rect, side_by_side
from cnnfilter.render.text import with_caption


def winners_picture(
    image: np.ndarray, indices: np.ndarray, *, min_side: int = 256
) -> tuple[np.ndarray, int]:
    """Show which input pixel won each max-pooling window.

    Args:
        image: ``(H, W, 3)`` uint8 picture of the input (see :func:`display_rgb`).
        indices: flat winner indices ``row * W + col``, ``(oh, ow)`` (one
            channel) or ``(oh, ow, C)``, as
            :func:`cnnfilter.engine.pooling.max_pool2d_with_indices`.
        min_side: small inputs are enlarged by a whole factor (nearest
            neighbour) until the shorter side reaches this many pixels.

    Returns:
        ``(picture, factor)``: the input in gray at a fifth of its brightness,
        with each winning pixel lit in proportion to its own value (40% to
        100% brightness): yellow for one channel; for several channels each
        channel's winners light that colour (red, green, blue; a fourth
        channel such as alpha is not shown), so a pixel that won in all three
        is white. ``factor`` is the enlargement used.
    """
    H, W = image.shape[:2]
    img = image.astype(np.float32)
    out = np.repeat((img.mean(axis=2) * 0.2)[:, :, np.newaxis], 3, axis=2)
    idx = indices if indices.ndim == 3 else indices[:, :, np.newaxis]
    single = idx.shape[2] == 1
    lit = np.zeros((H * W, 3), dtype=np.float32)
    for c in range(min(idx.shape[2], 3)):
        flat = idx[:, :, c].ravel()
        flat = flat[(flat >= 0) & (flat < H * W)]
        won = np.zeros(H * W, dtype=bool)
        won[flat] = True
        value = img.reshape(-1, 3)[won, 0 if single else c]
        level = (0.4 + 0.6 * value / 255.0)[:, np.newaxis]
        colour = np.array([255.0, 221.0, 0.0]) if single else np.eye(3)[c] * 255.0
        lit[won] = np.maximum(lit[won], level * colour)
    lit = lit.reshape(H, W, 3)
    any_lit = lit.max(axis=2) > 0
    out[any_lit] = lit[any_lit]
    pic = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    factor = max(1, -(-min_side // min(H, W)))
    if factor > 1:
        pic = np.repeat(np.repeat(pic, factor, axis=0), factor, axis=1)
    return pic, factor


def pooling_picture(
    image: np.ndarray,
    indices: np.ndarray,
    pooled: np.ndarray,
    *,
    stride: tuple[int, int],
    padding: tuple[int, int] = (0, 0),
    caption: str = "",
    min_side: int = 512,
) -> tuple[np.ndarray, int]:
    """The input with the pooling grid and the winners, beside the pooled output, enlarged.

    Left: the input, enlarged by a whole factor ``f`` (nearest neighbour,
    :func:`enlarge_factor` to ``min_side``), dimmed to 60%, with a light
    line where each window starts (every ``stride`` input pixels, shifted by
    the padding; left out when a cell would be under 4 pixels wide) and each
    winning pixel shown at full brightness, outlined (when ``f >= 4``) in
    yellow for one channel, or red, green, blue for each colour channel's
    winners. Right: the pooled output, each cell
    enlarged ``f * stride`` times so that it lines up with its window.

    Args:
        image: ``(H, W, 3)`` uint8 picture of the input (:func:`display_rgb`).
        indices: flat winner indices ``row * W + col``, ``(oh, ow)`` or
            ``(oh, ow, C)`` (:func:`cnnfilter.engine.pooling.max_pool2d_with_indices`).
        pooled: ``(oh, ow, 3)`` uint8 picture of the pooled output.
        stride, padding: the pooling's, ``(rows, cols)``.
        caption: one line above both panels (``""``: none).

    Returns:
        ``(picture, f)``.
    """
    H, W = image.shape[:2]
    f = enlarge_factor((H, W), min_side=min_side)
    left = enlarge(image.astype(np.float32) * np.float32(0.6), f)
    idx = indices if indices.ndim == 3 else indices[:, :, np.newaxis]
    sh, sw = stride
    if min(sh, sw) * f >= 4:  # the grid: a light line where each window starts
        rows = [r * f for r in range(-padding[0], H, sh) if 0 < r < H]
        cols = [c * f for c in range(-padding[1], W, sw) if 0 < c < W]
        left[rows, :] = left[rows, :] * 0.4 + 150
        left[:, cols] = left[:, cols] * 0.4 + 150
    for c in range(min(idx.shape[2], 3)):
        flat = np.unique(idx[:, :, c].ravel())
        flat = flat[(flat >= 0) & (flat < H * W)]
        colour = (255, 221, 0) if idx.shape[2] == 1 else tuple(np.eye(3)[c] * 255)
        _mark_winners(left, image, np.divmod(flat, W), f, colour)
    left = np.clip(np.rint(left), 0, 255).astype(np.uint8)
    right = enlarge_rect(pooled, f * sh, f * sw)
    picture = side_by_side(left, right)
    return (with_caption(picture, caption) if caption else picture), f


def _mark_winners(canvas, image, where, f: int, colour) -> None:
    """Each winner's ``f x f`` block at full brightness, outlined in ``colour`` when f >= 4."""
    rows, cols = where
    for r, c in zip(rows, cols, strict=True):
        block = canvas[r * f : (r + 1) * f, c * f : (c + 1) * f]
        block[...] = image[r, c]
        if f >= 4:
            block[[0, -1], :] = colour
            block[:, [0, -1]] = colour
