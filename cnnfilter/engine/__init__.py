"""The NumPy engine: arrays in, arrays out. No files, no printing, no exits.

This package imports only :mod:`cnnfilter.engine.geometry` (no NumPy), so the
command line can read the geometry tables at start-up.
"""

from cnnfilter.engine.geometry import (
    PADDING_NAMES,
    SAME_RULES,
    AxisGeometry,
    as_pair,
    effective_kernel_size,
    output_size,
    parse_padding,
    resolve_axes,
    resolve_padding,
    same_padding,
)

__all__ = [
    "PADDING_NAMES",
    "SAME_RULES",
    "AxisGeometry",
    "as_pair",
    "effective_kernel_size",
    "output_size",
    "parse_padding",
    "resolve_axes",
    "resolve_padding",
    "same_padding",
]
