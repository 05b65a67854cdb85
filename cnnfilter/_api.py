"""The few public functions that are not an engine or I/O function as they are.

:mod:`cnnfilter` exposes these lazily (PEP 562); each is a thin, documented
front over the library: :func:`pool2d` takes the layer's settings as keywords,
:func:`kernel` returns a registry kernel's weights, :func:`summarize` runs the
``arch.yaml`` calculators.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from cnnfilter.arch.layers import Network

__all__ = ["kernel", "pool2d", "summarize"]


def pool2d(
    x: np.ndarray,
    kernel_size: int | Sequence[int] = 2,
    *,
    op: str = "max",
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    p: float = 2.0,
) -> np.ndarray:
    """Pool each channel of ``x`` exactly as PyTorch's MaxPool2d / AvgPool2d / LPPool2d.

    Args:
        x: ``(H, W)`` or ``(H, W, C)`` array of numbers (rows, columns, channels).
        kernel_size: window ``k`` or ``(kh, kw)`` in pixels, >= 1.
        op: ``"max"``, ``"avg"`` or ``"lp"``
            (:data:`cnnfilter.engine.pooling.POOL_OPS`).
        stride: step ``s`` or ``(sh, sw)``; None means the kernel size.
        padding: ``p`` or ``(ph, pw)`` on both sides, ``0 <= p <= k // 2``.
        dilation: spacing of the taps (max pooling only).
        ceil_mode: round the output size up.
        count_include_pad: average pooling: divide by the padded window.
        p: the power of Lp pooling.

    Returns:
        ``(oh, ow)`` or ``(oh, ow, C)`` with
        ``oh = floor((H + 2p - d(k-1) - 1) / s) + 1`` (``ceil`` with
        ``ceil_mode``; :func:`cnnfilter.engine.geometry.output_size`). Max
        keeps ``x``'s dtype; avg and lp return float32 for inputs of up to 16
        bits, float64 otherwise.

    Raises:
        UsageError (a ValueError): settings out of range (the message names
            the parameter), a bad shape or dtype, or an empty output.

    >>> import numpy as np
    >>> pool2d(np.arange(16).reshape(4, 4), 2)
    array([[ 5,  7],
           [13, 15]])
    """
    from cnnfilter.engine.pooling import pool2d as _pool2d
    from cnnfilter.engine.pooling import pool_spec

    spec = pool_spec(
        op,
        kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
        p=p,
    )
    return _pool2d(x, spec)


def kernel(name: str) -> np.ndarray:
    """The weights of a registry kernel, or of a matrix written inline.

    Args:
        name: a registry name with its ``:`` parameters (``"sobel-x"``,
            ``"gaussian:7:1.5"``; ``cnnfilter kernels`` lists them), or rows
            such as ``"1,0,-1;2,0,-2;1,0,-1"`` or JSON ``"[[1,0],[0,-1]]"``.

    Returns:
        float64 array ``(kh, kw)`` (or ``(kh, kw, C)``), written as its
        source writes it, for convolution (:func:`cnnfilter.convolve`); with
        :func:`cnnfilter.correlate` a non-symmetric kernel such as Sobel gives
        the opposite sign.

    Raises:
        UsageError (a ValueError): unknown name (with the closest names), bad
            parameters, a malformed matrix.

    >>> kernel("sobel-x")
    array([[ 1.,  0., -1.],
           [ 2.,  0., -2.],
           [ 1.,  0., -1.]])
    """
    from cnnfilter.kernels import resolve_kernel

    return resolve_kernel(name).weights


def _network(arch: str | Path | Mapping[str, Any] | Network) -> Network:
    from cnnfilter.arch.layers import Network
    from cnnfilter.arch.parse import load_network, parse_network

    if isinstance(arch, Network):
        return arch
    if isinstance(arch, Mapping):
        import yaml

        return parse_network(yaml.safe_dump(dict(arch), sort_keys=False), source="<dict>")
    if isinstance(arch, str | Path):
        return load_network(arch)
    raise TypeError(f"arch must be a file path, a dict or a Network, got {type(arch).__name__}")


def summarize(arch: str | Path | Mapping[str, Any] | Network) -> dict[str, Any]:
    """Per-layer shapes, parameters, MACs and receptive fields of a layer stack.

    Args:
        arch: an ``arch.yaml`` file path, the same content as a dict
            (``{"input": [H, W, C], "layers": [...]}``), or a parsed
            :class:`~cnnfilter.arch.layers.Network`.

    Returns:
        A JSON-ready dict: ``network``, ``source``, ``input``, ``layers`` (one
        dict per layer: ``name``, ``type``, ``depth``, ``output`` ``[H, W,
        C]`` or ``[features]``, ``parameters``, ``non_trainable``, ``macs``,
        ``activation_bytes``, ``share``, ``receptive_field``, ``jump``,
        ``start``, ``effective_padding`` as ``[rows, cols]`` pairs,
        ``approximate``), ``total`` (as ``cnnfilter params --json``),
        ``conventions`` and ``warnings``. Receptive fields follow Araujo et
        al., "Computing Receptive Fields of Convolutional Neural Networks"
        (Distill, 2019).

    Raises:
        UsageError (a ValueError): a malformed layer stack; the message names
            the source, the line, the layer and the fix.
        TypeError: ``arch`` of another type.

    >>> s = summarize({"input": [32, 32, 3], "layers": [{"conv2d": {"filters": 8, "kernel_size": 3}}]})
    >>> s["layers"][0]["output"], s["layers"][0]["parameters"], s["layers"][0]["receptive_field"]
    ([30, 30, 8], 224, [3, 3])
    """  # noqa: E501
    from cnnfilter.arch.calc import summarize as _summarize
    from cnnfilter.arch.receptive import receptive_fields
    from cnnfilter.arch.report import fields_records, params_document
    from cnnfilter.arch.shapes import trace

    traced = trace(_network(arch))
    fields = receptive_fields(traced)
    document = params_document(_summarize(traced))
    for layer, field in zip(document["layers"], fields_records(fields), strict=True):
        layer.update(field)
    document["warnings"] = list(fields.warnings)
    return document
