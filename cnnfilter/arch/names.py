"""Did you mean: the names of a layer stack's layers and arrays closest to a mistyped one.

One rule (:func:`close_names`) for every "not found" message about a layer
stack: ``forward``'s ``layer=`` (:func:`check_layer`) and a given array no
layer reads (``conv1.weigth``, :class:`cnnfilter.arch.weights.Weights`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cnnfilter.errors import UsageError

__all__ = ["check_layer", "close_names"]


def close_names(given: str, names: Iterable[str], *, n: int = 3) -> list[str]:
    """Up to ``n`` of ``names`` that ``given`` probably meant, best first.

    First the names that contain ``given`` (``conv1`` of an ONNX node's
    ``/conv1/Conv``, ``conv1.weight`` of ``features.conv1.weight``), the most
    alike first (``resnet``: resnet18, resnet34, resnet50 before resnet101),
    else near spellings (:func:`difflib.get_close_matches`, ratio 0.6 or more:
    ``conv_1`` for ``conv1``, ``conv1.weigth`` for ``conv1.weight``).

    >>> close_names("conv_1", ["conv1", "relu1", "pool1"])
    ['conv1']
    >>> close_names("conv1.weigth", ["fc.weight", "conv1.bias", "conv1.weight"])
    ['conv1.weight', 'fc.weight', 'conv1.bias']
    >>> close_names("fc", ["conv1"])
    []
    >>> close_names("resnet", ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50"])
    ['resnet18', 'resnet34', 'resnet50']
    """
    import difflib

    names = list(names)
    containing = [name for name in names if given and given in name]
    if containing:  # sorted is stable: equally alike names keep their order
        alike = {name: difflib.SequenceMatcher(None, given, name).ratio() for name in containing}
        return sorted(containing, key=lambda name: -alike[name])[:n]
    return difflib.get_close_matches(given, names, n=n, cutoff=0.6)


def check_layer(
    layer: str | None,
    names: list[str],
    source: str | Path,
    *,
    also: tuple[str, ...] = (),
    param: str = "layer",
) -> None:
    """Refuse ``layer`` unless it is one of ``names`` (or ``also``: other names it may
    be given by, not listed), before any work; ``param`` names it in the message.

    Raises:
        UsageError: an unknown layer, with the closest names and the first layer names.
    """
    if layer is None or layer in names or layer in also:
        return
    shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
    given = f"{param}={layer!r}" if layer else f"{param}='' (empty)"
    close = close_names(layer, names)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UsageError(f"{given} is not a layer of {source}; {hint}its layers are {shown}")
