"""What a filtering call will cost, checked before it runs.

A kernel typed by mistake (``box:1025`` on a 400-megapixel scan, a dilation of
10000, a padding of a million pixels) should be refused in a millisecond with
the numbers, not discovered after an hour of swapping. :func:`filter_cost`
estimates the multiply-adds of the direct method and the peak working memory
of the method that will run; :func:`check_filter_cost` refuses a call above
the limits. Both are pure: shapes in, numbers out.

Estimates (``C`` channels, ``taps`` the non-zero kernel weights, ``P`` the
padded image ``(H + pt + pb) x (W + pl + pr)``, ``O`` the output
``oh x ow`` from the one output-size formula, ``b`` the bytes of the work
dtype):

* direct multiply-adds: ``O * C * taps``;
* direct memory: ``b * C * (H W + P + 2 O)`` (float copy, padded copy, output
  and one temporary);
* FFT memory: ``b * C * (H W + P + 3 F)`` plus the dilated kernel, where ``F``
  is the padded image grown by the effective kernel (the complex spectra take
  about ``F`` complex values, i.e. ``2 F`` floats, and the full result ``F``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnnfilter.engine.filtering import choose_method, filter_geometry, work_dtype
from cnnfilter.errors import UsageError

__all__ = ["FilterCost", "MAX_DIRECT_MACS", "filter_cost", "check_filter_cost"]

#: Most multiply-adds the direct method may run: about a minute of NumPy on one core.
MAX_DIRECT_MACS = 5 * 10**10


@dataclass(frozen=True)
class FilterCost:
    """Estimated cost of one filtering call.

    Attributes:
        method: the method that will run (``"direct"``, ``"separable"`` or
            ``"fft"``).
        macs: multiply-adds of the sliding-window methods (what direct or
            separable would run).
        memory_bytes: peak working memory of ``method``, in bytes.
    """

    method: str
    macs: int
    memory_bytes: int


def filter_cost(
    image_shape: tuple[int, ...],
    kernel: np.ndarray,
    *,
    image_dtype: np.dtype | type = np.uint8,
    padding: object = "same",
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    flipped: bool = True,
    channels: str = "separate",
    method: str = "auto",
) -> FilterCost:
    """Estimate the multiply-adds and memory of filtering ``image_shape`` with ``kernel``.

    Args:
        image_shape: ``(H, W)`` or ``(H, W, C)``.
        kernel: ``(kh, kw)`` or ``(kh, kw, C)`` weights (zeros are skipped by
            the direct method, so they are not counted).
        image_dtype: the image's dtype (decides float32 or float64 work).
        padding, stride, dilation, flipped: as
            :func:`cnnfilter.engine.filtering.filter_geometry`.
        channels: ``"separate"`` or ``"sum"`` (a summed RGB image is filtered
            once).
        method: ``"auto"``, ``"direct"`` or ``"fft"``.

    Raises:
        UsageError: bad geometry or method (as the filtering functions).

    >>> cost = filter_cost((100, 100), np.ones((3, 3)), method="direct")
    >>> cost.method, cost.macs
    ('direct', 90000)
    """
    kernel = np.asarray(kernel)
    kh, kw = kernel.shape[:2]
    resolved = choose_method(method, (kh, kw))
    geom = filter_geometry(
        image_shape, kernel.shape, padding=padding, stride=stride, dilation=dilation,
        flipped=flipped,
    )  # fmt: skip
    h, w = image_shape[:2]
    c = image_shape[2] if len(image_shape) == 3 else 1
    if kernel.ndim == 3 or channels == "sum":
        c_out = 1
    else:
        c_out = c
    taps = int(np.count_nonzero(np.any(kernel != 0, axis=2) if kernel.ndim == 3 else kernel))
    k_channels = kernel.shape[2] if kernel.ndim == 3 else 1
    oh, ow = geom.out_shape
    if resolved == "separable":  # two 1-D passes (the perf branch's method)
        taps = min(taps, kh + kw)
    macs = oh * ow * max(c_out, k_channels) * taps
    b = work_dtype(image_dtype).itemsize
    ph = h + geom.rows.pad_before + geom.rows.pad_after
    pw = w + geom.cols.pad_before + geom.cols.pad_after
    c_work = 1 if (channels == "sum" and kernel.ndim == 2) else c
    base = h * w * c + ph * pw * c_work
    if resolved != "fft":
        memory = b * (base + 2 * oh * ow * c_out)
    else:
        keh = (kh - 1) * geom.rows.dilation + 1
        kew = (kw - 1) * geom.cols.dilation + 1
        full = (ph + keh - 1) * (pw + kew - 1)
        memory = b * (base + 3 * full * c_work + keh * kew)
    return FilterCost(resolved, int(macs), int(memory))


def check_filter_cost(
    image_shape: tuple[int, ...],
    kernel: np.ndarray,
    *,
    memory_limit: int,
    max_direct_macs: int = MAX_DIRECT_MACS,
    **options,
) -> FilterCost:
    """:func:`filter_cost`, refusing a call that would be absurdly slow or large.

    Args:
        image_shape, kernel, options: as :func:`filter_cost`.
        memory_limit: the most working memory allowed, in bytes (the CLI
            passes the machine's physical memory).
        max_direct_macs: the most multiply-adds allowed for the direct method.

    Raises:
        UsageError: the direct method would run more than ``max_direct_macs``
            multiply-adds (the fix: ``--method fft``), or the method would
            need more than ``memory_limit`` bytes.

    >>> check_filter_cost((20000, 20000, 3), np.ones((11, 11)), method="direct",
    ...                   memory_limit=2**40)
    Traceback (most recent call last):
    cnnfilter.errors.UsageError: a 11x11 kernel on a 20000 x 20000 x 3 image needs about 1.5e+11 multiply-adds with the direct method (the limit is 5e+10); use --method fft, a smaller kernel or a smaller image
    """  # noqa: E501
    cost = filter_cost(image_shape, kernel, **options)
    kh, kw = np.shape(kernel)[:2]
    shape_text = " x ".join(str(s) for s in (*image_shape[:2], *(image_shape[2:] or (1,))))
    what = f"a {kh}x{kw} kernel on a {shape_text} image"
    if cost.method != "fft" and cost.macs > max_direct_macs:
        raise UsageError(
            f"{what} needs about {cost.macs:.2g} multiply-adds with the {cost.method} method (the "
            f"limit is {max_direct_macs:.0e}); use --method fft, a smaller kernel or a smaller "
            "image"
        )
    if cost.memory_bytes > memory_limit:
        raise UsageError(
            f"{what} needs about {_gib(cost.memory_bytes)} of working memory with the "
            f"{cost.method} method, more than the {_gib(memory_limit)} available; use a "
            "smaller kernel, dilation or padding, or a smaller image"
        )
    return cost


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB"
