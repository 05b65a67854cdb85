"""What every engine layer shares: the float32 dtype rule (:func:`as_map`), per-channel
vectors, the ``IntPair`` type, and Keras-to-PyTorch weight layouts (:func:`keras_to_torch`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnnfilter.errors import UsageError

F32 = np.float32
IntPair = int | Sequence[int]


# ----------------------------------------------------------------- inputs


def as_map(x: np.ndarray, *, name: str = "x", ndim: int | tuple[int, ...] = 3) -> np.ndarray:
    """``x`` as a float32 array of ``ndim`` dimensions (no copy when it already is).

    Raises:
        UsageError: wrong number of dimensions, empty, or not numbers.
    """
    x = np.asarray(x)
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if x.ndim not in dims or x.size == 0:
        want = " or ".join(f"{d}-D" for d in dims)
        raise UsageError(f"{name} must be a non-empty {want} array (H x W x C), got {x.shape}")
    if x.dtype.kind not in "biuf":
        raise UsageError(f"{name} must hold numbers, got dtype {x.dtype}")
    return x.astype(F32, copy=False)


def _vector(v, n: int, name: str) -> np.ndarray:
    v = np.asarray(v, dtype=F32).reshape(-1)
    if v.shape != (n,):
        raise UsageError(f"{name} must have {n} values (one per channel), got {v.size}")
    return v


def keras_to_torch(weight: np.ndarray, *, depthwise: bool = False) -> np.ndarray:
    """A Keras/TensorFlow weight in PyTorch's layout.

    * conv ``(kh, kw, in, out)`` -> ``(out, in, kh, kw)``;
    * depthwise conv (``depthwise=True``) ``(kh, kw, in, m)`` ->
      ``(in * m, 1, kh, kw)``, output channel ``c * m + k`` (PyTorch's order
      for ``groups=in``, and Keras' ``DepthwiseConv2D``);
    * dense ``(in, out)`` -> ``(out, in)``.

    Both libraries compute cross-correlation, so no kernel is flipped.

    Raises:
        UsageError: an array that is neither 2-D nor 4-D.

    >>> keras_to_torch(np.zeros((3, 5, 2, 7))).shape
    (7, 2, 3, 5)
    >>> keras_to_torch(np.zeros((3, 3, 4, 2)), depthwise=True).shape
    (8, 1, 3, 3)
    """
    w = np.asarray(weight)
    if w.ndim == 2:
        return np.ascontiguousarray(w.T)
    if w.ndim != 4:
        raise UsageError(f"a Keras weight is (in, out) or (kh, kw, in, out), got {w.shape}")
    if depthwise:
        kh, kw, cin, m = w.shape
        return np.ascontiguousarray(w.transpose(2, 3, 0, 1).reshape(cin * m, 1, kh, kw))
    return np.ascontiguousarray(w.transpose(3, 2, 0, 1))
