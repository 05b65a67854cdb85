"""Sliding-window geometry: the one output-size formula and the padding rules.

Every command that slides a window (``apply``, ``detect``, ``pool``) and every
layer of an ``arch.yaml`` stack (``params``, ``receptive-field``) computes its
output size with :func:`output_size`. Sizes are counted in pixels along one
axis; rows and columns are handled by calling the functions once per axis.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AxisGeometry",
    "effective_kernel_size",
    "output_size",
    "same_padding",
    "anchored_same_padding",
    "resolve_padding",
]


def _check_positive_int(name: str, value: int, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int,)) and not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """Span in pixels of a dilated kernel: ``k_eff = d * (k - 1) + 1``.

    Source: Yu & Koltun, "Multi-Scale Context Aggregation by Dilated
    Convolutions" (ICLR 2016); the ``dilation`` term of PyTorch's Conv2d docs.

    >>> effective_kernel_size(3, 2)
    5

    Raises:
        ValueError: ``kernel_size`` or ``dilation`` below 1.
    """
    k = _check_positive_int("kernel_size", kernel_size)
    d = _check_positive_int("dilation", dilation)
    return d * (k - 1) + 1


def output_size(
    n: int,
    kernel_size: int,
    *,
    stride: int = 1,
    padding: tuple[int, int] | int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Number of window positions along one axis of length ``n``.

    ``out = floor((n + p_before + p_after - k_eff) / s) + 1`` with
    ``k_eff = d (k - 1) + 1``; with ``ceil_mode`` the floor becomes a ceiling
    and a last window that would start inside the right/bottom padding is
    dropped: ``if (out - 1) * s >= n + p_before: out -= 1``. This is the
    formula of PyTorch's Conv2d / MaxPool2d / AvgPool2d docs and of
    ``torch.nn.functional`` pooling (``pooling_output_shape`` in ATen).

    Args:
        n: input length in pixels (>= 1).
        kernel_size: kernel length ``k`` (>= 1).
        stride: step ``s`` between windows (>= 1).
        padding: ``p`` on both sides, or ``(p_before, p_after)`` (>= 0 each).
        dilation: spacing ``d`` between kernel taps (>= 1).
        ceil_mode: round up instead of down (pooling layers only).

    Returns:
        The output length; 0 when the padded input is shorter than the
        dilated kernel (in ceil mode: shorter by ``s`` or more), callers
        decide whether an empty output is an error.

    Raises:
        TypeError, ValueError: an argument that is not an integer in range.

    >>> output_size(224, 3, padding=1)
    224
    >>> output_size(5, 2, stride=2, padding=1, ceil_mode=True)  # dropped window
    3
    >>> output_size(7, 3, stride=2, dilation=2)
    2
    >>> output_size(2, 3, stride=2), output_size(2, 3, stride=2, ceil_mode=True)
    (0, 1)
    """
    n = _check_positive_int("input size", n)
    s = _check_positive_int("stride", stride)
    k_eff = effective_kernel_size(kernel_size, dilation)
    p_before, p_after = _pair(padding)
    span = n + p_before + p_after - k_eff
    if span < 0 and not ceil_mode:
        return 0
    if ceil_mode:
        # Also for span < 0: PyTorch's pooling_output_shape rounds up there too, so a
        # window up to s - 1 pixels longer than the padded input still gives 1 output.
        out = -(-span // s) + 1
        if (out - 1) * s >= n + p_before:
            out -= 1
    else:
        out = span // s + 1
    return out


def _pair(padding: tuple[int, int] | int) -> tuple[int, int]:
    if isinstance(padding, tuple | list):
        if len(padding) != 2:
            raise ValueError(f"padding must be an int or (before, after), got {padding!r}")
        before, after = padding
    else:
        before = after = padding
    before = _check_positive_int("padding", before, minimum=0)
    after = _check_positive_int("padding", after, minimum=0)
    return before, after


def same_padding(
    n: int, kernel_size: int, *, stride: int = 1, dilation: int = 1
) -> tuple[int, int]:
    """TensorFlow's ``padding='same'``: ``out = ceil(n / s)``, extra pixel after.

    ``total = max((out - 1) s + k_eff - n, 0)``, ``before = total // 2``,
    ``after = total - before``. Source: TensorFlow's guide "Convolution"
    (tf.nn.convolution, padding="SAME"). Used by ``arch.yaml`` layers.

    >>> same_padding(224, 3, stride=2)
    (0, 1)
    >>> same_padding(5, 4)
    (1, 2)
    """
    n = _check_positive_int("input size", n)
    s = _check_positive_int("stride", stride)
    k_eff = effective_kernel_size(kernel_size, dilation)
    out = -(-n // s)
    total = max((out - 1) * s + k_eff - n, 0)
    return total // 2, total - total // 2


def anchored_same_padding(
    kernel_size: int, *, dilation: int = 1, flipped: bool = False
) -> tuple[int, int]:
    """Padding that keeps the input size with scipy.ndimage's anchor rule.

    For cross-correlation the kernel's anchor (the tap over the output pixel)
    is tap ``k_eff // 2``, as in ``scipy.ndimage.correlate(..., origin=0)``:
    ``before = k_eff // 2``, ``after = k_eff - 1 - before``. For convolution
    (``flipped=True``) the flipped kernel puts it at ``(k_eff - 1) // 2`` from
    the start, so that ``scipy.ndimage.convolve(..., origin=0)`` is matched.
    For odd kernels both rules give ``(k_eff // 2, k_eff // 2)``.

    >>> anchored_same_padding(4)
    (2, 1)
    >>> anchored_same_padding(4, flipped=True)
    (1, 2)
    """
    k_eff = effective_kernel_size(kernel_size, dilation)
    before = (k_eff - 1) // 2 if flipped else k_eff // 2
    return before, k_eff - 1 - before


@dataclass(frozen=True)
class AxisGeometry:
    """Resolved geometry of one axis: ``n -> out`` with explicit paddings."""

    n: int
    kernel_size: int
    stride: int
    dilation: int
    pad_before: int
    pad_after: int
    out: int


def resolve_padding(
    n: int,
    kernel_size: int,
    padding: str | int | tuple[int, int],
    *,
    stride: int = 1,
    dilation: int = 1,
    flipped: bool = False,
) -> AxisGeometry:
    """Turn a padding spec into explicit ``(before, after)`` and the output size.

    ``padding`` is ``"same"`` (output ``ceil(n / s)``, anchor as in
    :func:`anchored_same_padding`), ``"valid"`` (no padding), ``"full"``
    (``k_eff - 1`` on both sides: every overlap, as scipy.signal's
    ``mode='full'``), an int ``p`` or a pair ``(before, after)``.

    Raises:
        ValueError: an unknown padding name or negative padding.

    >>> resolve_padding(10, 3, "same", stride=2).out
    5
    >>> resolve_padding(10, 3, "full").out
    12
    """
    k_eff = effective_kernel_size(kernel_size, dilation)
    if isinstance(padding, str):
        name = padding.lower()
        if name == "same":
            before, after = anchored_same_padding(kernel_size, dilation=dilation, flipped=flipped)
        elif name == "valid":
            before = after = 0
        elif name == "full":
            before = after = k_eff - 1
        else:
            raise ValueError(
                f"padding must be 'same', 'valid', 'full' or an integer, got {padding!r}"
            )
    else:
        before, after = _pair(padding)
    out = output_size(n, kernel_size, stride=stride, padding=(before, after), dilation=dilation)
    return AxisGeometry(n, kernel_size, stride, dilation, before, after, out)
