"""Separability of 2-D kernels: rank-1 factorisation by SVD."""

from __future__ import annotations

import numpy as np

__all__ = ["separate"]


def separate(kernel: np.ndarray, *, rtol: float = 1e-6) -> tuple[np.ndarray, np.ndarray] | None:
    """Split a rank-1 kernel into a column and a row vector, or return None.

    A kernel ``w`` of shape ``(kh, kw)`` is separable when ``w = col @ row``
    (outer product). The test is the singular values of ``w``: separable when
    ``sigma_2 <= rtol * sigma_1`` (and trivially for 1-row or 1-column
    kernels); then ``col = sqrt(sigma_1) u_1`` and ``row = sqrt(sigma_1) v_1``.
    Filtering with ``col`` then ``row`` equals filtering with ``w`` up to
    floating-point rounding.

    Args:
        kernel: 2-D array of finite values.
        rtol: relative tolerance on the second singular value.

    Returns:
        ``(col, row)`` float64 arrays of shapes ``(kh,)`` and ``(kw,)`` with
        ``np.outer(col, row) ~= kernel``, or ``None`` when the rank exceeds 1.
        An all-zero kernel is separable (``col`` and ``row`` zero).

    Raises:
        ValueError: ``kernel`` is not 2-D.

    >>> col, row = separate(np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]))
    >>> np.allclose(np.outer(col, row), [[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    True
    >>> separate(np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])) is None
    True
    """
    w = np.asarray(kernel, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"kernel must be 2-D, got shape {w.shape}")
    if not np.any(w):
        return np.zeros(w.shape[0]), np.zeros(w.shape[1])
    u, s, vt = np.linalg.svd(w)
    if len(s) > 1 and s[1] > rtol * s[0]:
        return None
    scale = np.sqrt(s[0])
    col, row = u[:, 0] * scale, vt[0] * scale
    # Make the first clearly non-zero entry of the column positive, for readable output.
    if col[np.flatnonzero(np.abs(col) > 1e-9 * np.abs(col).max())[0]] < 0:
        col, row = -col, -row
    return col, row
