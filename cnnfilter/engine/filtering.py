"""2-D convolution and cross-correlation of images with a kernel.

One private function, :func:`_filter`, computes both public operations:

* :func:`correlate` (cross-correlation, what a CNN layer computes and what
  OpenCV's ``filter2D`` and ``scipy.ndimage.correlate`` compute):
  ``out[y, x] = sum_ij w[i, j] * in[y*s + i*d - p_top, x*s + j*d - p_left]``;
* :func:`convolve` (true convolution, the flipped kernel, what
  ``scipy.signal.convolve2d`` and ``scipy.ndimage.convolve`` compute and what
  the article uses): the same sum with ``w`` flipped in both axes.

Dtype rule (:func:`work_dtype`): the result is float32 for inputs of up to 16
bits (uint8, uint16, int8, int16, bool, float16, float32), float64 for
float64 and wider integers. Sums never accumulate in an integer type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnnfilter.engine.boundary import canonical_boundary, numpy_pad_mode
from cnnfilter.engine.geometry import AxisGeometry, resolve_padding
from cnnfilter.errors import UsageError

__all__ = [
    "FilterGeometry",
    "choose_method",
    "correlate",
    "convolve",
    "filter_geometry",
    "work_dtype",
]

PaddingSpec = str | int | Sequence[int] | Sequence[Sequence[int]]


def work_dtype(dtype: np.dtype | type) -> np.dtype:
    """The floating dtype the engine computes in for an input of ``dtype``.

    >>> work_dtype(np.uint8), work_dtype(np.float64)
    (dtype('float32'), dtype('float64'))
    """
    dtype = np.dtype(dtype)
    if dtype == np.float64 or dtype == np.longdouble:
        return np.dtype(np.float64)
    if dtype.kind in "iu" and dtype.itemsize > 2:
        return np.dtype(np.float64)
    if dtype.kind in "biuf":
        return np.dtype(np.float32)
    raise UsageError(f"image dtype must be boolean, integer or float, got {dtype}")


def _pair(name: str, value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int | np.integer):
        return int(value), int(value)
    values = tuple(value)
    if len(values) != 2:
        raise UsageError(f"{name} must be an integer or a (rows, cols) pair, got {value!r}")
    return int(values[0]), int(values[1])


def _padding_per_axis(padding: PaddingSpec) -> tuple[object, object]:
    """Split a padding spec into (rows spec, cols spec)."""
    if isinstance(padding, str):
        return padding, padding
    if isinstance(padding, int | np.integer):
        return int(padding), int(padding)
    values = list(padding)
    if len(values) == 2 and all(isinstance(v, int | np.integer) for v in values):
        return int(values[0]), int(values[1])
    if len(values) == 4 and all(isinstance(v, int | np.integer) for v in values):
        top, bottom, left, right = (int(v) for v in values)
        return (top, bottom), (left, right)
    if len(values) == 2 and all(not isinstance(v, int | np.integer) for v in values):
        return tuple(int(v) for v in values[0]), tuple(int(v) for v in values[1])
    raise UsageError(
        "padding must be 'same', 'valid', 'full', an integer, (rows, cols) or "
        f"(top, bottom, left, right), got {padding!r}"
    )


@dataclass(frozen=True)
class FilterGeometry:
    """Resolved geometry of one filtering call: rows and columns."""

    rows: AxisGeometry
    cols: AxisGeometry

    @property
    def out_shape(self) -> tuple[int, int]:
        """``(out_rows, out_cols)``."""
        return self.rows.out, self.cols.out


def filter_geometry(
    image_shape: tuple[int, ...],
    kernel_shape: tuple[int, ...],
    *,
    padding: PaddingSpec = "same",
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    flipped: bool = False,
) -> FilterGeometry:
    """Output size and explicit paddings of a filtering call, per axis.

    Uses :func:`cnnfilter.engine.geometry.resolve_padding`, the one formula.

    Raises:
        UsageError: bad stride, dilation or padding values.
    """
    sh, sw = _pair("stride", stride)
    dh, dw = _pair("dilation", dilation)
    prow, pcol = _padding_per_axis(padding)
    try:
        rows = resolve_padding(
            image_shape[0], kernel_shape[0], prow, stride=sh, dilation=dh, flipped=flipped
        )
        cols = resolve_padding(
            image_shape[1], kernel_shape[1], pcol, stride=sw, dilation=dw, flipped=flipped
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    return FilterGeometry(rows, cols)


def _check_inputs(image: np.ndarray, kernel: np.ndarray, channels: str) -> None:
    if image.ndim not in (2, 3) or image.size == 0:
        raise UsageError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")
    if kernel.ndim not in (2, 3) or kernel.size == 0:
        raise UsageError(f"kernel must have shape (kh, kw) or (kh, kw, C), got {kernel.shape}")
    if not np.all(np.isfinite(kernel)):
        raise UsageError("kernel contains NaN or inf; every weight must be a finite number")
    if kernel.ndim == 3:
        channels_in = image.shape[2] if image.ndim == 3 else 1
        if kernel.shape[2] != channels_in:
            raise UsageError(
                f"a 3-D kernel of shape {kernel.shape} needs an image with {kernel.shape[2]} "
                f"channels, got {channels_in}"
            )
    if channels not in ("separate", "sum"):
        raise UsageError(f"channels must be 'separate' or 'sum', got {channels!r}")


def _filter(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    flip: bool,
    padding: PaddingSpec,
    boundary: str,
    cval: float,
    stride: int | Sequence[int],
    dilation: int | Sequence[int],
    channels: str,
    method: str = "auto",
) -> np.ndarray:
    image = np.asarray(image)
    kernel = np.asarray(kernel)
    _check_inputs(image, kernel, channels)
    dtype = work_dtype(image.dtype)
    weights = np.asarray(kernel, dtype=dtype)
    if flip:
        weights = weights[::-1, ::-1]
    geom = filter_geometry(
        image.shape, weights.shape, padding=padding, stride=stride, dilation=dilation, flipped=flip
    )
    oh, ow = geom.out_shape
    if oh == 0 or ow == 0:
        raise UsageError(
            f"the output would be empty: a {kernel.shape[0]}x{kernel.shape[1]} kernel "
            f"(dilation {geom.rows.dilation}x{geom.cols.dilation}) does not fit in a "
            f"{image.shape[0]}x{image.shape[1]} image with this padding; use padding 'same' "
            "or 'full', or a smaller kernel"
        )
    mode = canonical_boundary(boundary)
    data = image.astype(dtype, copy=False)
    if image.ndim == 3 and weights.ndim == 2 and channels == "sum":
        # Linearity: the sum of the per-channel responses to one kernel is the
        # response to the sum of the channels.
        data = data.sum(axis=2, dtype=dtype)
    if image.ndim == 2 and weights.ndim == 3:
        data = data[:, :, np.newaxis]
    padded = _pad(data, geom, mode, cval)
    run = _METHODS[choose_method(method, weights.shape[:2])]
    if weights.ndim == 3:
        out = np.zeros((oh, ow), dtype=dtype)
        for c in range(weights.shape[2]):
            out += run(padded[:, :, c], weights[:, :, c], geom)
        return out
    return run(padded, weights, geom)


#: Kernels with more taps than this use the FFT under ``method="auto"``.
FFT_MIN_TAPS = 100


def choose_method(method: str, kernel_hw: tuple[int, int]) -> str:
    """The method ``auto`` resolves to for a kernel of ``kernel_hw`` taps.

    Raises:
        UsageError: an unknown method name.

    >>> choose_method("auto", (3, 3)), choose_method("auto", (31, 31))
    ('direct', 'fft')
    """
    if method not in ("auto", *_METHODS):
        raise UsageError(f"method must be auto, {', '.join(_METHODS)}; got {method!r}")
    if method != "auto":
        return method
    return "fft" if kernel_hw[0] * kernel_hw[1] > FFT_MIN_TAPS else "direct"


def _pad(data: np.ndarray, geom: FilterGeometry, mode: str, cval: float) -> np.ndarray:
    pads = [
        (geom.rows.pad_before, geom.rows.pad_after),
        (geom.cols.pad_before, geom.cols.pad_after),
    ]
    pads += [(0, 0)] * (data.ndim - 2)
    if not any(p for pair in pads for p in pair):
        return data
    np_mode = numpy_pad_mode(mode)
    if np_mode == "constant":
        return np.pad(data, pads, mode="constant", constant_values=cval)
    return np.pad(data, pads, mode=np_mode)


def _correlate_direct(padded: np.ndarray, weights: np.ndarray, geom: FilterGeometry) -> np.ndarray:
    """Shifted multiply-adds over strided views: one pass per non-zero tap."""
    oh, ow = geom.out_shape
    sh, sw = geom.rows.stride, geom.cols.stride
    dh, dw = geom.rows.dilation, geom.cols.dilation
    out = np.zeros((oh, ow) + padded.shape[2:], dtype=weights.dtype)
    tmp = np.empty_like(out)
    for i in range(weights.shape[0]):
        r0 = i * dh
        rows = slice(r0, r0 + (oh - 1) * sh + 1, sh)
        for j in range(weights.shape[1]):
            w = weights[i, j]
            if w == 0:
                continue
            c0 = j * dw
            view = padded[rows, c0 : c0 + (ow - 1) * sw + 1 : sw]
            np.multiply(view, w, out=tmp)
            out += tmp
    return out


def _correlate_fft(padded: np.ndarray, weights: np.ndarray, geom: FilterGeometry) -> np.ndarray:
    """Cross-correlation through the FFT (scipy.signal.fftconvolve), then strided sampling."""
    from scipy import signal

    dh, dw = geom.rows.dilation, geom.cols.dilation
    kh, kw = weights.shape
    if dh > 1 or dw > 1:
        dilated = np.zeros(((kh - 1) * dh + 1, (kw - 1) * dw + 1), dtype=weights.dtype)
        dilated[::dh, ::dw] = weights
        weights = dilated
    flipped = weights[::-1, ::-1]
    if padded.ndim == 3:
        flipped = flipped[:, :, np.newaxis]
    full = signal.fftconvolve(padded, flipped, mode="valid", axes=(0, 1))
    oh, ow = geom.out_shape
    out = full[: (oh - 1) * geom.rows.stride + 1 : geom.rows.stride]
    out = out[:, : (ow - 1) * geom.cols.stride + 1 : geom.cols.stride]
    return np.ascontiguousarray(out, dtype=weights.dtype)


_METHODS = {"direct": _correlate_direct, "fft": _correlate_fft}


def correlate(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    padding: PaddingSpec = "same",
    boundary: str = "symmetric",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    channels: str = "separate",
    method: str = "auto",
) -> np.ndarray:
    """Cross-correlate an image with a kernel (no flip): what a CNN layer computes.

    ``out[y, x] = sum_{i,j} w[i, j] * ext[y*s_r + i*d_r - p_top, x*s_c + j*d_c - p_left]``
    where ``ext`` is the image extended by ``boundary``.

    Args:
        image: array of shape ``(H, W)`` or ``(H, W, C)``, any real dtype.
        kernel: ``(kh, kw)`` (any size, odd, even or rectangular) or
            ``(kh, kw, C)``, finite values.
        padding: ``"same"`` (output ``ceil(H / s) x ceil(W / s)``; the anchor
            is tap ``k_eff // 2``, as scipy.ndimage with ``origin=0``),
            ``"valid"``, ``"full"``, an int, ``(rows, cols)`` or
            ``(top, bottom, left, right)`` (CNN-style zero-based padding
            filled according to ``boundary``).
        boundary: a mode of :mod:`cnnfilter.engine.boundary` or an alias.
        cval: fill value of the ``constant`` boundary.
        stride, dilation: ints or ``(rows, cols)`` pairs, >= 1.
        channels: ``"separate"`` filters each channel on its own (output
            ``(oh, ow, C)``); ``"sum"`` sums the per-channel responses into
            one map ``(oh, ow)``. A 3-D kernel always gives one map.
        method: ``"direct"`` (shifted multiply-adds), ``"fft"`` or
            ``"auto"`` (:func:`choose_method`); all agree to float rounding.

    Returns:
        ``(oh, ow)`` or ``(oh, ow, C)`` array in :func:`work_dtype` of the
        image, with ``oh`` from :func:`cnnfilter.engine.geometry.output_size`.

    Raises:
        UsageError (a ValueError): bad shapes, NaN/inf in the kernel, a 3-D
            kernel whose depth is not the image's channel count, unknown
            boundary or padding, or an empty output.

    >>> img = np.arange(5.0)[np.newaxis, :]
    >>> correlate(img, np.array([[1.0, 0.0, -1.0]]), boundary="edge")
    array([[-1., -2., -2., -2., -1.]])
    """
    return _filter(
        image,
        kernel,
        flip=False,
        padding=padding,
        boundary=boundary,
        cval=cval,
        stride=stride,
        dilation=dilation,
        channels=channels,
        method=method,
    )


def convolve(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    padding: PaddingSpec = "same",
    boundary: str = "symmetric",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    channels: str = "separate",
    method: str = "auto",
) -> np.ndarray:
    """Convolve an image with a kernel: cross-correlation with the flipped kernel.

    Matches ``scipy.signal.convolve2d`` (``boundary='symm'``, the article's
    call, is ``boundary="symmetric"``) for odd kernels, and
    ``scipy.ndimage.convolve`` (``origin=0``) for every kernel size in
    ``"same"`` mode: for an even kernel the anchor is tap ``(k_eff - 1) // 2``
    of the flipped kernel. Arguments, result and errors as :func:`correlate`.

    >>> img = np.arange(5.0)[np.newaxis, :]
    >>> convolve(img, np.array([[1.0, 0.0, -1.0]]), boundary="edge")
    array([[1., 2., 2., 2., 1.]])
    """
    return _filter(
        image,
        kernel,
        flip=True,
        padding=padding,
        boundary=boundary,
        cval=cval,
        stride=stride,
        dilation=dilation,
        channels=channels,
        method=method,
    )
