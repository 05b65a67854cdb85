"""The base of every ``arch.yaml`` layer kind: :class:`Layer`, what its ``infer`` returns
(:class:`Inferred`), the tensor :class:`Shape`, the parsed :class:`Network`, the one-line
error of a bad layer (:func:`layer_error`) and the window arithmetic convolutions and
pooling layers share (``_windows``, ``_kernel_text``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cnnfilter.engine.geometry import AxisGeometry, check_pool_padding, resolve_axes

# ------------------------------------------------------------------- layers
#
# One class per layer kind, and in it every rule of that kind: the options it
# takes (the fields), ``infer`` (output shape and window geometry), ``weights``
# (trainable, non-trainable), ``macs`` and ``field`` (receptive field). The
# calculators in shapes.py, calc.py and receptive.py only walk the tree and
# call these. A ``step`` argument is a :class:`cnnfilter.arch.shapes.Step`.


@dataclass(frozen=True, kw_only=True)
class Layer:
    """Base of every layer: its unique name, its line in the file and its canonical type.

    The default rules are those of an element-wise layer without weights: the
    output shape is the input shape, no parameters, no MACs, the receptive
    field unchanged.
    """

    name: str
    line: int
    type: str
    #: ``(trainable, non_trainable)`` counted from a model file's weights (ONNX
    #: initializers, a shared one counted at its first use); ``None``: :meth:`weights`.
    counted: tuple[int, int] | None = field(default=None, compare=False, repr=False)
    #: Inline weight arrays written in the arch file (``weight: [[...]]``, ``bias: [...]``),
    #: ``(key, nested tuples of floats, shape)`` per array; ``forward`` uses them first.
    arrays: tuple[tuple[str, Any, tuple[int, ...]], ...] = field(
        default=(), compare=False, repr=False
    )

    #: The inline arrays this kind takes (``forward``'s keys: ``weight``, ``bias``, ...).
    array_keys: ClassVar[tuple[str, ...]] = ()
    #: Needs an ``H x W x C`` input (refused after flatten / global pooling).
    spatial: ClassVar[bool] = False

    @classmethod
    def complete(cls, values: dict[str, Any]) -> dict[str, Any]:
        """The options as given, with those that follow from others filled in (before the
        parser checks the required ones). Raises :class:`OptionError`."""
        return values

    def infer(self, shape: Shape, fail: Callable[[str, str], Exception]) -> Inferred:
        """Output shape (and window geometry) for ``shape``; ``fail(problem, fix)`` builds
        the error to raise."""
        return Inferred(shape)

    def weights(self, step) -> tuple[int, int]:
        """``(trainable, non_trainable)`` parameter counts."""
        return 0, 0

    def macs(self, step) -> int:
        """Multiply-accumulates for one image (torchvision's "GFLOPS" convention)."""
        return 0

    def kernel(self, step) -> str:
        """The weight shape for the summary's kernel column ('' when none): Keras'
        ``(kh, kw, in, out)`` order for convolutions, ``in x out`` for dense layers."""
        return ""

    def field(self, step, rows, cols):
        """Receptive field after this layer: the window rule when it has a window."""
        if step.rows is not None and step.cols is not None:
            return rows.window(step.rows), cols.window(step.cols)
        return rows, cols


@dataclass(frozen=True)
class Inferred:
    """What :meth:`Layer.infer` returns: the output shape and the window per axis."""

    output: Shape
    rows: AxisGeometry | None = None
    cols: AxisGeometry | None = None


# ------------------------------------------------------------------ network


@dataclass(frozen=True)
class Shape:
    """A tensor shape for one image: ``height x width x channels``, or flat.

    A flat shape (after ``flatten``, ``dense`` or global pooling) has
    ``height == width == 1`` and ``channels`` features.

    >>> str(Shape(224, 224, 3)), str(Shape(1, 1, 4096, flat=True))
    ('224 x 224 x 3', '4096')
    """

    height: int
    width: int
    channels: int
    flat: bool = False

    @property
    def size(self) -> int:
        """Number of values: ``height * width * channels``."""
        return self.height * self.width * self.channels

    def __str__(self) -> str:
        if self.flat:
            return str(self.channels)
        return f"{self.height} x {self.width} x {self.channels}"


@dataclass(frozen=True)
class Network:
    """A parsed ``arch.yaml``: the input shape and the layers, in order.

    ``source`` is the file name used in error messages; ``repeat`` blocks are
    already expanded, ``residual`` blocks are :class:`Residual` layers.
    """

    name: str
    input: Shape
    layers: tuple[Layer, ...]
    source: str = "<arch>"


def layer_error(source: str, layer: Layer, problem: str, fix: str):
    """The one-line :class:`~cnnfilter.errors.UsageError` for a bad layer.

    ``"<file>:<line>: layer '<name>' (<type>): <problem>; fix: <fix>"``.
    """
    from cnnfilter.errors import UsageError

    return UsageError(
        f"{source}:{layer.line}: layer '{layer.name}' ({layer.type}): {problem}; fix: {fix}"
    )


def _windows(layer, shape: Shape, fail, *, pool: bool = False) -> tuple[AxisGeometry, ...]:
    """Resolve padding and output size along rows and columns.

    ``padding: same`` follows TensorFlow's rule; pooling layers follow
    PyTorch's ``padding <= kernel_size // 2``.
    """
    stride = layer.stride if layer.stride is not None else layer.kernel_size
    if pool and not isinstance(layer.padding, str):
        for k, pads in zip(layer.kernel_size, (layer.padding[:2], layer.padding[2:]), strict=True):
            try:
                check_pool_padding(k, max(pads))
            except ValueError:
                raise fail(
                    f"padding {max(pads)} is more than half the kernel {k} (PyTorch refuses it)",
                    f"use padding <= {k // 2}",
                ) from None
    rows, cols = resolve_axes(
        (shape.height, shape.width),
        layer.kernel_size,
        layer.padding,
        stride=stride,
        dilation=layer.dilation,
        same_rule="tensorflow",
        ceil_mode=getattr(layer, "ceil_mode", False),
    )
    if rows.out < 1 or cols.out < 1:
        raise fail(
            f"output would be {rows.out} x {cols.out}: input {shape.height} x {shape.width} "
            f"with padding {rows.pad_before + rows.pad_after} x {cols.pad_before + cols.pad_after} "
            f"is smaller than the kernel span {rows.effective_kernel_size} x "
            f"{cols.effective_kernel_size}",
            "use a smaller kernel, stride or dilation, more padding, or a larger input",
        )
    return rows, cols


def _kernel_text(*dims: int) -> str:
    return " x ".join(str(d) for d in dims)
