"""The NumPy engine: arrays in, arrays out. No files, no printing, no exits."""

from cnnfilter.engine.geometry import (
    AxisGeometry,
    anchored_same_padding,
    effective_kernel_size,
    output_size,
    resolve_padding,
    same_padding,
)

__all__ = [
    "AxisGeometry",
    "anchored_same_padding",
    "effective_kernel_size",
    "output_size",
    "resolve_padding",
    "same_padding",
]
