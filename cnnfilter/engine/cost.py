"""What a filtering call will cost, checked before it runs.

A kernel typed by mistake (``box:1025`` on a 400-megapixel scan, a dilation of
10000, a padding of a million pixels) should be refused in a millisecond with
the numbers, not discovered after an hour of swapping. :func:`filter_cost`
estimates the multiply-adds of the sliding-window methods and the peak working
memory of the method that will run; :func:`check_filter_cost` refuses a call
above the limits. Both are pure: shapes in, numbers out.

Estimates for the tiled engine of :mod:`cnnfilter.engine.filtering` (``C``
channels, ``taps`` the non-zero kernel weights, ``O`` the output
``oh x ow`` from the one output-size formula, ``b`` the bytes of the work
dtype, ``K`` the dilated kernel ``k_eff_h x k_eff_w``, ``T`` the worker
threads):

* direct multiply-adds: ``O * C * taps`` (separable: ``O * C * (kh + kw)``);
* direct and separable memory: ``2 b O C`` (the float response and the
  pixels made from it) plus, per thread, a tile of ``64 s + k_eff_h`` rows
  as wide as the padded image (tiny, unless the dilation is huge);
* FFT memory: ``2 b O C + b K (1 + 2 P + 4 T)``: the dilated kernel, its
  spectrum per kernel plane ``P`` (complex: 2 floats per value) and, per
  thread, a tile and its spectrum, each at least the size of ``K``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnnfilter.engine.filtering import choose_method, filter_geometry, work_dtype
from cnnfilter.errors import UsageError

__all__ = ["FilterCost", "MAX_DIRECT_MACS", "filter_cost", "check_filter_cost", "check_pool_cost"]

#: Output rows per tile assumed for the sliding-window methods (the engine's are fewer).
TILE_ROWS = 64

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
    kernel_aware: bool = False,
    threads: int = 2,
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
        method: ``"auto"``, ``"direct"``, ``"separable"`` or ``"fft"``.
        kernel_aware: resolve ``"auto"`` from the kernel's values (rank,
            non-zero taps: an SVD) rather than from its size alone.
        threads: the engine's worker threads (each holds FFT tiles).

    Raises:
        UsageError: bad geometry or method (as the filtering functions).

    >>> cost = filter_cost((100, 100), np.ones((3, 3)), method="direct")
    >>> cost.method, cost.macs
    ('direct', 90000)
    """
    kernel = np.asarray(kernel)
    kh, kw = kernel.shape[:2]
    resolved = choose_method(method, (kh, kw), kernel=kernel if kernel_aware else None)
    geom = filter_geometry(
        image_shape, kernel.shape, padding=padding, stride=stride, dilation=dilation,
        flipped=flipped,
    )  # fmt: skip
    c = image_shape[2] if len(image_shape) == 3 else 1
    c_out = 1 if (kernel.ndim == 3 or channels == "sum") else c
    planes = kernel.shape[2] if kernel.ndim == 3 else 1
    taps = int(np.count_nonzero(np.any(kernel != 0, axis=2) if kernel.ndim == 3 else kernel))
    oh, ow = geom.out_shape
    if resolved == "separable":  # two 1-D passes
        taps = min(taps, kh + kw)
    macs = oh * ow * max(c_out, planes) * taps
    b = work_dtype(image_dtype).itemsize
    memory = 2 * b * oh * ow * c_out
    keff_h = (kh - 1) * geom.rows.dilation + 1
    keff_w = (kw - 1) * geom.cols.dilation + 1
    if resolved == "fft":
        memory += b * keff_h * keff_w * (1 + 2 * planes + 4 * threads)
    else:  # each thread's tile: a band of rows as wide as the padded image
        tile_rows = TILE_ROWS * geom.rows.stride + keff_h
        tile_cols = (ow - 1) * geom.cols.stride + keff_w
        memory += threads * b * tile_rows * tile_cols * c
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
            multiply-adds (the fix: ``method="fft"``), or the method would
            need more than ``memory_limit`` bytes.

    >>> check_filter_cost((20000, 20000, 3), np.ones((11, 11)), method="direct",
    ...                   memory_limit=2**40)
    Traceback (most recent call last):
    cnnfilter.errors.UsageError: a 11x11 kernel on a 20000 x 20000 x 3 image needs about 1.5e+11 multiply-adds with the direct method (the limit is 5e+10); use method='fft', a smaller kernel or a smaller image
    """  # noqa: E501

    def too_costly(cost: FilterCost) -> bool:
        slow = cost.method != "fft" and cost.macs > max_direct_macs
        return slow or cost.memory_bytes > memory_limit

    cost = filter_cost(image_shape, kernel, **options)
    if too_costly(cost) and "kernel_aware" not in options:
        # the estimate from the size alone is over a limit: ask the kernel's values (an SVD,
        # so only now) which method auto really runs
        cost = filter_cost(image_shape, kernel, kernel_aware=True, **options)
    kh, kw = np.shape(kernel)[:2]
    shape_text = " x ".join(str(s) for s in (*image_shape[:2], *(image_shape[2:] or (1,))))
    what = f"a {kh}x{kw} kernel on a {shape_text} image"
    if cost.method != "fft" and cost.macs > max_direct_macs:
        raise UsageError(
            f"{what} needs about {cost.macs:.2g} multiply-adds with the {cost.method} method (the "
            f"limit is {max_direct_macs:.0e}); use method='fft', a smaller kernel or a smaller "
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


def check_pool_cost(
    shape: tuple[int, ...],
    rows,
    cols,
    *,
    max_memory_bytes: int | None,
    max_compares: int = MAX_DIRECT_MACS,
) -> None:
    """Refuse a pooling call whose padded copy or window reads would not fit the limits.

    Estimates for ``(H, W, C)`` and the row/column geometries of
    :func:`cnnfilter.engine.pooling.pool_axes`: memory ``8 C (Hp Wp + 2 Oh Ow)``
    bytes (the float64 padded input, the result and the winners' indices),
    window reads ``Oh Ow C k_h k_w``.

    Raises:
        UsageError: either estimate above its limit (the numbers and the limit).

    >>> from cnnfilter.engine.geometry import resolve_axes
    >>> r, c = resolve_axes((512, 512), 1000000, 500000)
    >>> check_pool_cost((512, 512, 3), r, c, max_memory_bytes=2**34)
    Traceback (most recent call last):
    cnnfilter.errors.UsageError: pooling a 512 x 512 x 3 input padded to 1000512 x 1000512 needs about 21.9 TiB of memory, above the 16.0 GiB available; use less padding or a smaller window
    """  # noqa: E501
    channels = 1 if len(shape) == 2 else int(shape[2])
    hp = rows.n + rows.pad_before + rows.pad_after
    wp = cols.n + cols.pad_before + cols.pad_after
    memory = 8 * channels * (hp * wp + 2 * rows.out * cols.out)
    what = f"pooling a {shape[0]} x {shape[1]} x {channels} input padded to {hp} x {wp}"
    if max_memory_bytes is not None and memory > max_memory_bytes:
        raise UsageError(
            f"{what} needs about {_bytes_text(memory)} of memory, above the "
            f"{_bytes_text(max_memory_bytes)} available; use less padding or a smaller window"
        )
    reads = rows.out * cols.out * channels * rows.kernel_size * cols.kernel_size
    if reads > max_compares:
        raise UsageError(
            f"{what} reads about {reads:.1e} window values (the limit is {max_compares:.0e}); "
            "use a smaller window, a larger stride or a smaller image"
        )


def _bytes_text(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover
