"""The few public functions that are not an engine or I/O function as they are.

:mod:`cnnfilter` exposes these lazily (PEP 562); each is a thin, documented
front over the library: :func:`pool2d` takes the layer's settings as keywords,
:func:`kernel` returns a registry kernel's weights, :func:`summarize` runs the
``arch.yaml`` calculators, :func:`forward` runs a layer stack on an array
(:mod:`cnnfilter.arch.run`, the runner of ``cnnfilter forward``).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnfilter.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

    from cnnfilter.arch.layers import Network

__all__ = ["forward", "kernel", "pool2d", "summarize"]


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

        text = yaml.safe_dump(_plain(dict(arch)), sort_keys=False)
        return parse_network(text, source="<dict>")
    if isinstance(arch, str | Path):
        return load_network(_builtin(arch))
    raise TypeError(
        f"arch must be a file path, a built-in name, a dict or a Network, got {type(arch).__name__}"
    )


def _plain(value: Any) -> Any:
    """``value`` (an arch dict's content) with NumPy numbers and arrays as Python ones, so
    that ``yaml.safe_dump`` writes them (``np.int64(3)`` from a shape, an inline kernel).

    Raises:
        TypeError: a value YAML cannot write as plain data (naming its type).
    """
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # a NumPy scalar or array
        return _plain(value.tolist())
    raise TypeError(
        f"arch holds a value of type {type(value).__name__} ({value!r}); an arch dict holds "
        "plain values: numbers, strings, lists and dicts"
    )


def _builtin(arch: str | Path) -> str | Path:
    """``arch`` itself when it is a file (or looks like one: ``.yaml``), else the built-in
    architecture of that name (``resnet18``, ``cnnfilter params --list``).

    Raises:
        UsageError: neither a file nor a built-in name (with the closest built-ins).
    """
    from cnnfilter.arch import zoo
    from cnnfilter.arch.names import close_names

    text = str(arch)
    if not text.strip():  # '' is the current folder to pathlib
        raise UsageError(
            f"arch={text!r} is empty; give an arch.yaml file or a built-in architecture's "
            "name (cnnfilter params --list)"
        )
    try:
        exists = Path(text).exists()
    except OSError:  # a name too long for the file system: no file, maybe no built-in
        exists = False
    if exists or text.endswith((".yaml", ".yml")):
        return arch
    found = zoo.path(text)
    if found is None:
        close = close_names(text.lower(), zoo.names())
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UsageError(
            f"arch={text!r} is neither a layer file nor a built-in architecture; {hint}"
            "the built-ins: cnnfilter params --list"
        )
    return found


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


def forward(
    arch: str | Path | Mapping[str, Any] | Network,
    image: np.ndarray,
    *,
    weights: Mapping[str, np.ndarray] | None = None,
    layout: str = "torch",
    init: str | None = None,
    seed: int = 0,
    layers: str | Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Run a layer stack on an image and return every layer's feature map.

    The same pass as ``cnnfilter forward`` (:func:`cnnfilter.arch.run.run_network`):
    cross-correlation layers (kernels unflipped), PyTorch's layouts and rules,
    float32 throughout. A layer's ``activation:`` option (Keras' fused
    activation) is applied: that layer's map is after it, as Keras' layer output.

    Args:
        arch: an ``arch.yaml`` file path, a built-in architecture's name
            (``"resnet18"``; ``cnnfilter params --list``), the same content as
            a dict (``{"input": [H, W, C], "layers": [...]}``), or a parsed
            :class:`~cnnfilter.arch.layers.Network`. Its ``input:`` shape is
            replaced by ``image``'s.
        image: ``(H, W, C)`` or ``(H, W)`` (one channel) array of real numbers,
            taken as it is (cast to float32, not scaled): the command divides a
            photo's pixels by its white (255) first, so pass
            ``pixels / loaded.max_value`` for the same maps.
        weights: ``<layer>.<key>`` -> array, as the command's ``--weights``
            ``.npz`` (``conv1.weight``, ``conv1.bias``, ``bn1.running_mean``,
            ...; ``numpy.load('w.npz')`` or a PyTorch ``state_dict`` converted
            with ``.numpy()``). Layers written with ``kernels:`` or inline
            arrays in the arch file need none.
        layout: ``"torch"`` (``(out, in / groups, kh, kw)``, ``(out, in)``) or
            ``"keras"`` (``(kh, kw, in, out)``, ``(in, out)``) for ``weights``.
        init: ``"he"`` or ``"glorot"``: random weights (from ``seed``) for the
            layers that have none; None: such a layer is an error.
        seed: the seed of ``init``, 0 or more.
        layers: a layer name or names: return only those maps (the pass still
            runs every layer); None: every layer.

    Returns:
        Layer name -> float32 feature map, in the order the layers run (a
        merge after its branches): ``(H', W', C')`` for a spatial layer (the
        size :func:`summarize` gives), ``(N,)`` after a flatten or a dense
        layer. A value that overflows float32 is inf (``numpy.isfinite``).

    Raises:
        UsageError (a ValueError): a malformed layer stack or one whose shapes
            do not fit ``image``; ``image`` a file name (read it with
            :func:`read_image`), not 2-D or 3-D, ragged, not real numbers, or
            holding NaN or inf; a weight array of the wrong shape (with the
            shape the layer needs) or not finite; a layer without weights and
            no ``init`` (naming the array and, for a misspelt key, the array it
            probably is), or a misspelt key whose layer ``init`` filled; an
            unknown name in ``layers`` (with the closest);
            an unknown ``layout`` or ``init``; a negative ``seed``.
        TypeError: ``arch``, ``weights``, ``image`` (None, bytes), ``layers`` or
            ``seed`` of another type; an arch dict holding a value that is not plain
            data (NumPy numbers and arrays are taken as Python ones).

    >>> import numpy as np
    >>> net = {"input": [4, 4, 1], "layers": [
    ...     {"conv2d": {"name": "edge", "kernels": ["1,-1"]}},
    ...     {"relu": {"name": "act"}}]}
    >>> maps = forward(net, np.array([[0, 0, 1, 1]] * 4))  # dark to bright
    >>> list(maps), maps["act"].shape
    (['edge', 'act'], (4, 3, 1))
    >>> maps["edge"][0, :, 0], maps["act"][0, :, 0]  # w . x, unflipped; then max(0, .)
    (array([ 0., -1.,  0.], dtype=float32), array([0., 0., 0.], dtype=float32))
    """
    import dataclasses

    import numpy as np

    from cnnfilter.arch.layers import Shape
    from cnnfilter.arch.run import feature_maps
    from cnnfilter.arch.shapes import trace
    from cnnfilter.arch.weights import LAYOUTS, Weights

    if layout not in LAYOUTS:
        raise UsageError(f"layout={layout!r} is not one of {', '.join(LAYOUTS)}")
    x = _image_array(image)
    network = dataclasses.replace(_network(arch), input=Shape(*x.shape))
    trace(network)  # every shape error before any work
    names = _layer_names(layers)
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    w = Weights(_given_weights(weights, layout), init, seed, layout=layout)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # documented: inf
        maps = feature_maps(network, x, w, layers=names)
    _refuse_misspelt(w, init)
    return maps


def _refuse_misspelt(w, init: str | None) -> None:
    """Refuse a given array no layer read that is probably the misspelt name of one that
    ``init`` filled with random values (the command notes it; a caller would not know).

    Raises:
        UsageError: naming the array, the layer and the name it probably meant.
    """
    import difflib

    for key in w.unused():
        meant = w.meant(key)
        layer, given = (meant or "").rpartition(".")[0], key.rpartition(".")[0]
        near = difflib.SequenceMatcher(None, given, layer).ratio() >= 0.6  # conv_1, conv1
        if layer in w.initialised and (given == layer or given not in w.layer_names and near):
            raise UsageError(
                f"weights: array {key!r} is unused and layer {layer!r} got init={init!r} "
                f"random weights instead; did you mean {meant!r}? rename it"
            )


def _layer_names(layers) -> list[str] | None:
    """``layers`` of :func:`forward` as a list of names, or None.

    Raises:
        TypeError: neither a name nor an iterable of names.
    """
    if layers is None or isinstance(layers, str):
        return None if layers is None else [layers]
    if not isinstance(layers, Iterable):
        raise TypeError(
            f"layers must be a layer name or a list of names, got {type(layers).__name__}"
        )
    names = list(layers)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(
                f"layers must be a layer name or a list of names, got {name!r} "
                f"({type(name).__name__}) in the list"
            )
    return names


def _image_array(image) -> np.ndarray:
    """``image`` as float32 ``(H, W, C)``; see :func:`forward` for the rules."""
    import numpy as np

    if isinstance(image, str | Path):
        raise UsageError(
            f"image={str(image)!r} is a file name, not an array: read it first, photo ="
            f" cnnfilter.read_image({str(image)!r}), and pass photo.pixels / photo.max_value"
            " (0..1, as the command reads a photo)"
        )
    if image is None or isinstance(image, bytes):
        raise TypeError(
            f"image must be an array of shape (H, W, C) or (H, W), got {type(image).__name__}"
        )
    try:
        arr = np.asarray(image)
    except ValueError as e:  # a ragged nested list
        raise UsageError(f"image is not a rectangular array of numbers ({e})") from None
    if arr.ndim not in (2, 3) or 0 in arr.shape:
        raise UsageError(
            f"image has shape {arr.shape}; forward takes (H, W, C) or (H, W), none of them 0"
        )
    if arr.dtype.kind not in "iuf":
        raise UsageError(f"image holds {arr.dtype} values; give real numbers (integers or floats)")
    with np.errstate(over="ignore"):  # a value beyond float32's range: inf, refused below
        x = arr.astype(np.float32)
    if not np.isfinite(x).all():
        raise UsageError(
            "image holds NaN or inf (or values beyond float32's range); every later map would "
            "be NaN: replace them first (numpy.nan_to_num)"
        )
    return x[..., None] if x.ndim == 2 else x


def _given_weights(weights, layout: str) -> dict[str, np.ndarray]:
    """``weights`` checked, float32, in PyTorch's layout
    (:func:`cnnfilter.arch.weights.weight_arrays`)."""
    import numpy as np

    from cnnfilter.arch.weights import weight_arrays

    if weights is None:
        return {}
    if not isinstance(weights, Mapping):
        hint = " (read a .npz with numpy.load)" if isinstance(weights, str | Path) else ""
        raise TypeError(
            f"weights must be a mapping of <layer>.<key> to arrays{hint}, "
            f"got {type(weights).__name__}"
        )
    return weight_arrays({str(k): np.asarray(v) for k, v in weights.items()}, layout=layout)
