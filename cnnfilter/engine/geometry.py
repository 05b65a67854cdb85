"""Sliding-window geometry: the one output-size formula and the padding rules.

Every command that slides a window (``apply``, ``detect``, ``pool``) and every
layer of an ``arch.yaml`` stack (``params``, ``receptive-field``) computes its
output size with :func:`output_size`, reads its padding with
:func:`parse_padding` and resolves it with :func:`resolve_axes`. Sizes are
counted in pixels along one axis; rows and columns are resolved once each,
into one :class:`AxisGeometry` per axis.

The rules, each written once here:

* :func:`effective_kernel_size`: ``k_eff = d (k - 1) + 1``;
* :func:`output_size`: ``out = floor((n + p_before + p_after - k_eff) / s) + 1``
  (PyTorch's Conv2d / MaxPool2d formula, with its ``ceil_mode``);
* :func:`same_padding`: the two "same" rules, ``rule="ndimage"`` (the anchor
  of scipy.ndimage, used by ``correlate``/``convolve``) and
  ``rule="tensorflow"`` (TensorFlow's ``padding="SAME"``, used by
  ``arch.yaml``);
* :func:`check_pool_padding`: PyTorch's pooling rule ``p <= k // 2``;
* :func:`parse_padding`: every way of writing a padding (command-line text,
  YAML values, Python ints and tuples) -> a name or ``(top, bottom, left,
  right)``.

This module imports nothing heavy (no NumPy), so the command line can read
its tables at start-up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cnnfilter.errors import UsageError

__all__ = [
    "PADDING_NAMES",
    "SAME_RULES",
    "AxisGeometry",
    "as_pair",
    "check_pool_padding",
    "effective_kernel_size",
    "output_size",
    "padding_spec",
    "parse_ints",
    "parse_padding",
    "resolve_axes",
    "resolve_padding",
    "same_padding",
    "valid_map_padding",
]

#: Named paddings and what each gives.
PADDING_NAMES: dict[str, str] = {
    "same": "output ceil(n / stride): the input size at stride 1",
    "valid": "no padding: only windows wholly inside the input",
    "full": "k_eff - 1 on both sides: every overlap of kernel and input",
}

#: The two "same" rules of :func:`same_padding`.
SAME_RULES: dict[str, str] = {
    "ndimage": "scipy.ndimage's anchor: tap k_eff // 2 over the output pixel "
    "((k_eff - 1) // 2 for convolution), k_eff - 1 pixels in all",
    "tensorflow": "TensorFlow's padding='SAME': total max((out - 1) s + k_eff - n, 0), "
    "the extra pixel after",
}

#: ``(top, bottom, left, right)`` in pixels.
Sides = tuple[int, int, int, int]
#: What :func:`parse_padding` accepts.
PaddingSpec = str | int | Sequence[int] | Sequence[Sequence[int]]


def _is_int(value: object) -> bool:
    return not isinstance(value, bool) and hasattr(value, "__index__")


def _check_positive_int(name: str, value: int, *, minimum: int = 1) -> int:
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def as_pair(
    value: int | Sequence[int], *, name: str, minimum: int = 1, what: str = "(rows, cols)"
) -> tuple[int, int]:
    """``k`` -> ``(k, k)``; a pair ``(a, b)`` -> ``(a, b)``; both checked ``>= minimum``.

    Args:
        value: an integer (NumPy integers too, not bool) or a sequence of two.
        name: the parameter's name, for the message.
        minimum: smallest value allowed.
        what: how the message names the pair.

    Raises:
        TypeError: a value that is not an integer.
        UsageError (a ValueError): a sequence not of length 2, or a value
            below ``minimum``.

    >>> as_pair(3, name="stride"), as_pair((2, 1), name="stride")
    ((3, 3), (2, 1))
    """
    message = f"{name} must be an integer or a {what} pair, got {value!r}"
    if _is_int(value):
        values: tuple = (value, value)
    elif isinstance(value, str | bytes) or not hasattr(value, "__len__"):
        raise TypeError(message)
    else:
        values = tuple(value)
    if len(values) != 2:
        raise UsageError(message)
    if not all(_is_int(v) for v in values):
        raise TypeError(message)
    pair = (int(values[0]), int(values[1]))
    if min(pair) < minimum:
        raise UsageError(f"{name} must be >= {minimum}, got {min(pair)}")
    return pair


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """Span in pixels of a dilated kernel: ``k_eff = d * (k - 1) + 1``.

    Source: Yu & Koltun, "Multi-Scale Context Aggregation by Dilated
    Convolutions" (ICLR 2016); the ``dilation`` term of PyTorch's Conv2d docs.

    >>> effective_kernel_size(3, 2)
    5

    Raises:
        TypeError: a value that is not an integer.
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
    p_before, p_after = _before_after(padding)
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


def _before_after(padding: tuple[int, int] | int) -> tuple[int, int]:
    """One axis's padding: ``p`` or ``(before, after)``, each >= 0 (ValueError otherwise)."""
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
    n: int,
    kernel_size: int,
    *,
    stride: int = 1,
    dilation: int = 1,
    rule: str = "tensorflow",
    flipped: bool = False,
) -> tuple[int, int]:
    """``(before, after)`` of a "same" padding, by one of two rules (:data:`SAME_RULES`).

    Both rules give ``out = ceil(n / s)`` windows; they differ in where the
    padding goes:

    * ``rule="tensorflow"``: ``total = max((out - 1) s + k_eff - n, 0)``,
      ``before = total // 2``, ``after = total - before`` (the extra pixel
      after). Source: TensorFlow's guide "Convolution" (``tf.nn.convolution``,
      ``padding="SAME"``). Used by ``arch.yaml`` layers.
    * ``rule="ndimage"``: the kernel's anchor (the tap over the output pixel)
      is tap ``k_eff // 2``, as ``scipy.ndimage.correlate(..., origin=0)``:
      ``before = k_eff // 2``, ``after = k_eff - 1 - before``. For
      convolution (``flipped=True``) the flipped kernel puts it at
      ``(k_eff - 1) // 2``, matching ``scipy.ndimage.convolve(..., origin=0)``.
      Used by :func:`cnnfilter.correlate` and :func:`cnnfilter.convolve`.

    For odd kernels at stride 1 both give ``(k_eff // 2, k_eff // 2)``.

    Args:
        n: input length in pixels (>= 1).
        kernel_size, stride, dilation: as :func:`output_size`.
        rule: ``"tensorflow"`` or ``"ndimage"``.
        flipped: the kernel is flipped (convolution); ``ndimage`` rule only.

    Raises:
        TypeError, ValueError: an argument that is not an integer in range.
        UsageError (a ValueError): an unknown ``rule``.

    >>> same_padding(224, 3, stride=2)
    (0, 1)
    >>> same_padding(5, 4), same_padding(5, 4, rule="ndimage")
    ((1, 2), (2, 1))
    >>> same_padding(5, 4, rule="ndimage", flipped=True)
    (1, 2)
    """
    n = _check_positive_int("input size", n)
    s = _check_positive_int("stride", stride)
    k_eff = effective_kernel_size(kernel_size, dilation)
    if rule == "ndimage":
        before = (k_eff - 1) // 2 if flipped else k_eff // 2
        return before, k_eff - 1 - before
    if rule == "tensorflow":
        out = -(-n // s)
        total = max((out - 1) * s + k_eff - n, 0)
        return total // 2, total - total // 2
    raise UsageError(f"rule must be one of {', '.join(SAME_RULES)}; got {rule!r}")


def check_pool_padding(kernel_size: int, padding: int, *, axis: str = "") -> None:
    """PyTorch's pooling rule: ``padding <= kernel_size // 2``, so every window meets the input.

    Source: ``pool2d_shape_check`` in ATen ("pad should be smaller than or
    equal to half of kernel size").

    Raises:
        UsageError: ``padding`` above half the kernel size.

    >>> check_pool_padding(3, 1)
    >>> check_pool_padding(3, 2)
    Traceback (most recent call last):
    ...
    cnnfilter.errors.UsageError: padding 2 is more than half the kernel size 3; PyTorch \
requires padding <= kernel_size // 2 = 1
    """
    if padding > kernel_size // 2:
        where = f" ({axis})" if axis else ""
        raise UsageError(
            f"padding {padding}{where} is more than half the kernel size {kernel_size}; "
            f"PyTorch requires padding <= kernel_size // 2 = {kernel_size // 2}"
        )


# ------------------------------------------------------------ padding specs


def parse_ints(
    text: str, *, name: str, counts: tuple[int, ...] = (1, 2), minimum: int = 1
) -> int | tuple[int, ...]:
    """Command-line integers: ``"2"`` -> 2, ``"2,1"`` (or ``"2x1"``) -> ``(2, 1)``.

    Raises:
        UsageError: not integers, a count not in ``counts``, or a value below
            ``minimum``; the message names ``name``.

    >>> parse_ints("2", name="stride"), parse_ints("3x1", name="stride")
    (2, (3, 1))
    """
    parts = [p.strip() for p in str(text).replace("x", ",").split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise UsageError(
            f"{name} must be an integer or comma-separated integers (e.g. 2 or 2,1), got {text!r}"
        ) from None
    if len(values) not in counts:
        raise UsageError(f"{name} takes {' or '.join(map(str, counts))} value(s), got {text!r}")
    if any(v < minimum for v in values):
        what = f"{name} must be" if len(values) == 1 else f"{name} values must all be"
        raise UsageError(f"{what} >= {minimum}, got {str(text).strip()}")
    return values[0] if len(values) == 1 else tuple(values)


def _spec_error(name: str, names: Sequence[str], value: object) -> UsageError:
    words = ", ".join(names)
    return UsageError(
        f"{name} must be {words}, an integer P, PH,PW or TOP,BOTTOM,LEFT,RIGHT; got {value!r}"
    )


def _text_spec(text: str, name: str, names: Sequence[str]) -> str | int | tuple[int, ...]:
    key = text.strip().lower()
    if key in names:
        return key
    parts = key.replace("x", ",").split(",")
    if len(parts) in (1, 2, 4) and all(p.strip().lstrip("+-").isdigit() for p in parts):
        return parse_ints(key, name=name, counts=(1, 2, 4), minimum=0)  # says if negative
    raise _spec_error(name, names, text)


def _sequence_spec(value: Sequence, name: str, names: Sequence[str]) -> tuple[int, ...]:
    values = list(value)
    if len(values) == 2 and all(isinstance(v, Sequence) for v in values):
        values = [*values[0], *values[1]]  # Keras: ((top, bottom), (left, right))
        if len(values) != 4:
            raise _spec_error(name, names, value)
    if len(values) not in (2, 4) or not all(_is_int(v) for v in values):
        raise _spec_error(name, names, value)
    ints = tuple(int(v) for v in values)
    if min(ints) < 0:
        raise UsageError(f"{name} values must all be >= 0, got {value!r}")
    return ints


def padding_spec(
    value: PaddingSpec, *, name: str = "padding", names: Sequence[str] = tuple(PADDING_NAMES)
) -> str | int | tuple[int, ...]:
    """Check a padding as written and return it in the form given.

    Accepts a name of :data:`PADDING_NAMES` (any case), an integer ``P``, a
    pair ``(PH, PW)``, four ``(TOP, BOTTOM, LEFT, RIGHT)``, Keras'
    ``((TOP, BOTTOM), (LEFT, RIGHT))`` (returned as four), and command-line
    text ``"same"``, ``"P"``, ``"PH,PW"``, ``"T,B,L,R"``.

    Args:
        value: the padding as written.
        name: the parameter's name, for the messages.
        names: the named paddings allowed (``arch.yaml`` has no ``full``).

    Raises:
        UsageError (a ValueError): an unknown name, a wrong count of values,
            or a negative value.

    >>> padding_spec("2,1"), padding_spec(" SAME "), padding_spec([[0, 1], [2, 3]])
    ((2, 1), 'same', (0, 1, 2, 3))
    """
    if isinstance(value, str):
        return _text_spec(value, name, names)
    if _is_int(value):
        if int(value) < 0:
            raise UsageError(f"{name} must be >= 0, got {int(value)}")
        return int(value)
    if isinstance(value, Sequence) or hasattr(value, "__len__"):
        return _sequence_spec(value, name, names)
    raise _spec_error(name, names, value)


def parse_padding(
    value: PaddingSpec, *, name: str = "padding", names: Sequence[str] = tuple(PADDING_NAMES)
) -> str | Sides:
    """The one padding parser: a name, or explicit ``(top, bottom, left, right)`` pixels.

    ``P`` means ``P`` on every side, ``(PH, PW)`` means ``PH`` above and
    below and ``PW`` left and right. Accepts everything :func:`padding_spec`
    accepts, and its own results (parsing twice gives the same value).

    Raises:
        UsageError (a ValueError): as :func:`padding_spec`.

    >>> parse_padding("valid"), parse_padding(1), parse_padding("1,2")
    ('valid', (1, 1, 1, 1), (1, 1, 2, 2))
    >>> parse_padding((0, 1, 2, 3))
    (0, 1, 2, 3)
    """
    spec = padding_spec(value, name=name, names=names)
    if isinstance(spec, str):
        return spec
    if isinstance(spec, int):
        return spec, spec, spec, spec
    if len(spec) == 2:
        return spec[0], spec[0], spec[1], spec[1]
    return spec[0], spec[1], spec[2], spec[3]


# ------------------------------------------------------------ resolved axes


@dataclass(frozen=True)
class AxisGeometry:
    """Resolved geometry of one axis: ``n -> out`` with explicit paddings.

    One per axis for every sliding window of the package (filtering, pooling,
    ``arch.yaml`` layers). ``out`` comes from :func:`output_size`; the
    properties give the terms of that formula for display.
    """

    n: int
    kernel_size: int
    stride: int
    dilation: int
    pad_before: int
    pad_after: int
    out: int
    ceil_mode: bool = False

    @property
    def effective_kernel_size(self) -> int:
        """``k_eff = d (k - 1) + 1`` (:func:`effective_kernel_size`)."""
        return effective_kernel_size(self.kernel_size, self.dilation)

    @property
    def padding(self) -> int:
        """The padding on each side when both are equal (pooling).

        Raises:
            ValueError: the axis is padded unevenly; read ``pad_before`` and
                ``pad_after``.
        """
        if self.pad_before != self.pad_after:
            raise ValueError(
                f"uneven padding ({self.pad_before}, {self.pad_after}); "
                "read pad_before and pad_after"
            )
        return self.pad_before

    @property
    def numerator(self) -> int:
        """``n + p_before + p_after - d(k-1) - 1`` of the output-size formula."""
        return self.n + self.pad_before + self.pad_after - self.effective_kernel_size

    @property
    def rounded(self) -> int:
        """``floor`` (or ``ceil``) of ``numerator / s``, plus 1, before the drop rule."""
        q = self.numerator / self.stride
        return (math.ceil(q) if self.ceil_mode else math.floor(q)) + 1

    @property
    def dropped(self) -> bool:
        """True when ceil mode dropped a last window that would start in the padding."""
        return self.ceil_mode and self.rounded != self.out

    def formula(self) -> str:
        """The formula with this axis's numbers.

        >>> AxisGeometry(5, 2, 2, 1, 1, 1, 3, ceil_mode=True).formula()
        'ceil((5 + 2*1 - 1*(2-1) - 1)/2) + 1 = 4, last window starts in the padding: dropped -> 3'
        >>> AxisGeometry(5, 2, 1, 1, 0, 1, 5).formula()
        'floor((5 + 0 + 1 - 1*(2-1) - 1)/1) + 1 = 5'
        """
        rnd = "ceil" if self.ceil_mode else "floor"
        if self.pad_before == self.pad_after:
            pad = f"2*{self.pad_before}"
        else:
            pad = f"{self.pad_before} + {self.pad_after}"
        text = (
            f"{rnd}(({self.n} + {pad} - {self.dilation}*({self.kernel_size}-1) - 1)"
            f"/{self.stride}) + 1 = {self.rounded}"
        )
        if self.dropped:
            text += f", last window starts in the padding: dropped -> {self.out}"
        return text


def resolve_padding(
    n: int,
    kernel_size: int,
    padding: str | int | tuple[int, int],
    *,
    stride: int = 1,
    dilation: int = 1,
    flipped: bool = False,
    same_rule: str = "ndimage",
    ceil_mode: bool = False,
) -> AxisGeometry:
    """One axis: a padding name, ``p`` or ``(before, after)`` -> explicit pixels and ``out``.

    ``"same"`` follows :func:`same_padding` with ``same_rule``; ``"valid"``
    is no padding; ``"full"`` is ``k_eff - 1`` on both sides (every overlap,
    as scipy.signal's ``mode='full'``).

    Raises:
        UsageError (a ValueError): an unknown padding name.
        TypeError, ValueError: numbers out of range, as :func:`output_size`.

    >>> resolve_padding(10, 3, "same", stride=2).out
    5
    >>> resolve_padding(10, 3, "full").out
    12
    """
    if isinstance(padding, str):
        name = padding.strip().lower()
        if name == "same":
            before, after = same_padding(
                n, kernel_size, stride=stride, dilation=dilation, rule=same_rule, flipped=flipped
            )
        elif name == "valid":
            before = after = 0
        elif name == "full":
            before = after = effective_kernel_size(kernel_size, dilation) - 1
        else:
            raise UsageError(
                f"padding must be 'same', 'valid', 'full' or an integer, got {padding!r}"
            )
    else:
        before, after = _before_after(padding)
    out = output_size(
        n, kernel_size, stride=stride, padding=(before, after), dilation=dilation,
        ceil_mode=ceil_mode,
    )  # fmt: skip
    return AxisGeometry(n, kernel_size, stride, dilation, before, after, out, bool(ceil_mode))


def resolve_axes(
    shape: Sequence[int],
    kernel_size: int | Sequence[int],
    padding: PaddingSpec = "valid",
    *,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    flipped: bool = False,
    same_rule: str = "ndimage",
    ceil_mode: bool = False,
    names: Sequence[str] = tuple(PADDING_NAMES),
) -> tuple[AxisGeometry, AxisGeometry]:
    """Rows and columns of a 2-D sliding window: padding parsed once, resolved per axis.

    Args:
        shape: ``(H, W, ...)`` of the input.
        kernel_size: ``k`` or ``(kh, kw)``.
        padding: anything :func:`parse_padding` accepts.
        stride, dilation: ints or ``(rows, cols)`` pairs, >= 1.
        flipped, same_rule: as :func:`same_padding`.
        ceil_mode: as :func:`output_size`.
        names: the padding names allowed.

    Returns:
        ``(rows, cols)``; an ``out`` of 0 means the window does not fit
        (callers say so in their own words).

    Raises:
        UsageError (a ValueError): a bad padding, or values out of range.
        TypeError: values that are not integers.

    >>> rows, cols = resolve_axes((10, 7), (3, 2), "same", stride=2)
    >>> (rows.out, cols.out), (cols.pad_before, cols.pad_after)
    ((5, 4), (1, 0))
    """
    sides = parse_padding(padding, names=names)
    k = as_pair(kernel_size, name="kernel_size")
    s = as_pair(stride, name="stride")
    d = as_pair(dilation, name="dilation")
    axes = []
    for axis in (0, 1):
        spec = sides if isinstance(sides, str) else sides[2 * axis : 2 * axis + 2]
        try:
            axes.append(
                resolve_padding(
                    shape[axis],
                    k[axis],
                    spec,
                    stride=s[axis],
                    dilation=d[axis],
                    flipped=flipped,
                    same_rule=same_rule,
                    ceil_mode=ceil_mode,
                )  # fmt: skip
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return axes[0], axes[1]


def valid_map_padding(kernel_hw: tuple[int, int]) -> Sides:
    """``(top, bottom, left, right)`` that pad a valid map back to the input's size.

    A valid map ``(H - kh + 1) x (W - kw + 1)`` has one cell per window
    (indexed by its top-left pixel); padded by these amounts, cell ``(r, c)``
    lands on the window's centre pixel ``(r + (kh - 1) // 2, c + (kw - 1) // 2)``
    and the map is ``H x W``, as ``skimage.feature.match_template(...,
    pad_input=True)`` places it.

    >>> valid_map_padding((3, 3)), valid_map_padding((4, 5))
    ((1, 1, 1, 1), (1, 2, 2, 2))
    """
    kh, kw = kernel_hw
    _check_positive_int("kh", kh)
    _check_positive_int("kw", kw)
    return (kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2
