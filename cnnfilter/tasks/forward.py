"""``forward``: run an ``arch.yaml`` layer stack on one photo and keep every feature map.

The input: the photo read by :func:`cnnfilter.imageio.read_image`, alpha
dropped, as float32 ``H x W x C`` **scaled to 0..1** (divided by the file's
full white, 255 or 65535; a ``.npy`` map is taken as it is). The network's
``input:`` shape is replaced by the photo's.

Weights, per layer (first match wins):

* ``conv2d: {kernels: [vertical-lines, curve]}``: one filter per registry
  kernel, the **same 2-D kernel on every input channel** (so the filter sums
  the kernel's cross-correlation over the input channels, divided by
  nothing), smaller kernels zero-padded round their centre to the largest;
  a 3-D registry kernel ``(kh, kw, C)`` gives one 2-D kernel per channel.
  The kernel is placed **unflipped**: a CNN layer computes
  cross-correlation, so a map is :func:`cnnfilter.engine.filtering.correlate`
  of the input with the registry kernel (``cnnfilter apply --op correlate``),
  not the convolution the registry's line and Sobel kernels are written for
  (their maps have the opposite sign of ``apply``'s default). The article's
  curve detector is a pattern and is meant unflipped. Bias 0. An entry may
  be a list of names, one per input channel (``none``: zeros), e.g.
  ``kernels: [[sobel-x, none, none], curve]`` (:func:`kernel_filters`).
* inline arrays in the arch file (``weight: [[...]]``, ``bias: [...]``,
  ``running_mean: [...]``, ...), PyTorch's layouts, size-1 axes optional;
  a wrong shape is one error naming the layer and the shape it needs.
* ``weights=`` a ``.npz`` keyed ``<layer>.weight``, ``<layer>.bias``
  (batchnorm also ``.running_mean``, ``.running_var``; separable conv
  ``.depthwise.weight``, ``.pointwise.weight``), PyTorch's layouts;
  ``layout='keras'`` converts Keras' ``(kh, kw, in, out)`` / ``(in, out)``.
* ``init='he'`` (normal, std ``sqrt(2 / fan_in)``) or ``'glorot'``
  (uniform, limit ``sqrt(6 / (fan_in + fan_out))``), from ``seed``;
  biases 0, batchnorm the identity (mean 0, var 1, weight 1, bias 0).

A layer with weights and none of these is an error naming it. The pass is
depth-first over the layer tree and keeps only the arrays later layers read
(a merge's input until its branches are done); each layer's map is written
(montage, statistics) as soon as it is made and then dropped, except with
``npz=True``, which keeps every map for the ``.npz`` file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnfilter.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ForwardResult",
    "Weights",
    "forward",
    "kernel_filters",
    "load_weights",
    "read_input",
    "run_network",
]

INITS = ("he", "glorot")
LAYOUTS = ("torch", "keras")


@dataclass
class ForwardResult:
    """What :func:`forward` did: ``report`` (JSON-ready), files written, notes for people."""

    report: dict
    written: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_weights(path: str | Path, *, layout: str = "torch") -> dict[str, np.ndarray]:
    """Read a ``.npz`` of named arrays (float32), converting Keras' layouts when asked.

    Raises:
        UsageError: unreadable file, not a ``.npz``, or an unknown ``layout``.
    """
    import numpy as np

    from cnnfilter.engine.layers import keras_to_torch

    if layout not in LAYOUTS:
        raise UsageError(f"layout={layout!r} is not one of {', '.join(LAYOUTS)}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], dtype=np.float32) for k in data.files}
    except (OSError, ValueError) as exc:
        raise UsageError(f"weights={str(path)!r} is not a readable .npz file ({exc})") from None
    if layout == "keras":
        arrays = {
            k: keras_to_torch(v, depthwise=k.endswith("depthwise.weight") or k.endswith("dw"))
            if k.endswith("weight") and v.ndim in (2, 4)
            else v
            for k, v in arrays.items()
        }
    return arrays


def kernel_filters(
    names: tuple[str | tuple[str, ...], ...], c_in: int, size: tuple[int, int], *, layer: str = ""
) -> np.ndarray:
    """The ``(len(names), c_in, kh, kw)`` weight of a layer of registry kernels.

    Per filter, ``names`` holds one registry spec (copied unflipped onto
    every input channel; a 3-D kernel ``(kh, kw, c_in)``: its own slice per
    channel) or a tuple of ``c_in`` specs, one per input channel (``"none"``:
    zeros on that channel). Each kernel is zero-padded round its centre to
    ``size`` (an odd excess: the spare row/column after).

    Raises:
        UsageError: a 3-D kernel whose depth is not ``c_in``, or a per-channel
            list whose length is not ``c_in`` (naming ``layer``).
    """
    import numpy as np

    from cnnfilter.kernels import resolve_kernel

    out = np.zeros((len(names), c_in, *size), dtype=np.float32)
    for f, entry in enumerate(names):
        if isinstance(entry, str):
            if entry != "none":  # none: a filter of zeros
                out[f] = _placed(resolve_kernel(entry).weights, entry, c_in, size)
            continue
        if len(entry) != c_in:
            raise UsageError(
                f"layer '{layer}': kernels entry {f} names {len(entry)} kernels, one per input "
                f"channel, but its input has {c_in} channels; write {c_in} names (none for zeros)"
            )
        for c, name in enumerate(entry):
            if name != "none":
                out[f, c] = _placed(resolve_kernel(name).weights, name, 1, size)[0]
    return out


def _placed(k: np.ndarray, name: str, c_in: int, size: tuple[int, int]) -> np.ndarray:
    """A registry kernel as ``(c_in, *size)``: centred, 2-D copied per channel."""
    import numpy as np

    if k.ndim == 3 and k.shape[2] != c_in:
        raise UsageError(f"kernel {name!r} has {k.shape[2]} channels, its input {c_in}")
    out = np.zeros((c_in, *size), dtype=np.float32)
    kh, kw = k.shape[:2]
    top, left = (size[0] - kh) // 2, (size[1] - kw) // 2
    out[:, top : top + kh, left : left + kw] = k.transpose(2, 0, 1) if k.ndim == 3 else k[None]
    return out


class Weights:
    """Where each layer's arrays come from: stored arrays, then ``init``, else an error."""

    def __init__(self, stored: dict[str, np.ndarray], init: str | None, seed: int) -> None:
        import numpy as np

        if init is not None and init not in INITS:
            raise UsageError(f"init={init!r} is not one of {', '.join(INITS)}")
        self.stored, self.init = stored, init
        self.rng = np.random.default_rng(seed)
        self.used: set[str] = set()
        self.initialised: list[str] = []

    def get(self, layer, key: str, shape: tuple[int, ...], fan: tuple[int, int], fill=None):
        """``<layer>.<key>`` of ``shape``; ``fan`` (in, out) for ``init``; ``fill`` a
        constant for vectors that ``init`` sets (bias 0, batchnorm identity)."""
        import numpy as np

        full = f"{layer.name}.{key}"
        inline = _inline(layer, key, shape)
        if inline is not None:
            return inline
        if full in self.stored:
            arr = self.stored[full]
            if arr.shape != shape:
                raise UsageError(
                    f"weights={full!r} has shape {arr.shape}, layer '{layer.name}' needs {shape}"
                )
            self.used.add(full)
            return arr
        if self.init is None:
            raise UsageError(
                f"layer '{layer.name}' ({layer.type}) has no weights: give '{full}' in "
                f"weights=FILE.npz, kernels: in the arch file, or init='he' and seed=N"
            )
        if layer.name not in self.initialised:
            self.initialised.append(layer.name)
        if fill is not None:
            return np.full(shape, fill, dtype=np.float32)
        fan_in, fan_out = fan
        if self.init == "he":
            arr = self.rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)
        else:
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            arr = self.rng.uniform(-limit, limit, size=shape)
        return arr.astype(np.float32)

    def has(self, layer, key: str) -> bool:
        """Whether ``key`` is given inline or in the ``.npz``."""
        return any(k == key for k, *_ in layer.arrays) or f"{layer.name}.{key}" in self.stored

    def bias(self, layer, n: int):
        if not getattr(layer, "bias", False):
            return None
        if not self.has(layer, "bias") and self.has(layer, "weight"):
            return None  # a weight without a bias: a layer saved with bias=False
        return self.get(layer, "bias", (n,), (1, 1), fill=0.0)


def _inline(layer, key: str, shape: tuple[int, ...]):
    """The inline array ``key`` of ``layer`` (arch file) as float32 ``shape``, or None.

    Accepted as written in ``shape``, or with its size-1 axes left out (a
    single-channel 3 x 3 filter as ``[[...], [...], [...]]``); a one-value
    array fills a vector.

    Raises:
        UsageError: any other shape, naming the layer and the shape it needs.
    """
    import numpy as np

    for k, values, given in layer.arrays:
        if k != key:
            continue
        arr = np.asarray(values, dtype=np.float32)
        if given == shape:
            return arr
        if tuple(d for d in given if d != 1) == tuple(d for d in shape if d != 1):
            return arr.reshape(shape)
        if arr.size == 1 and len(shape) == 1:
            return np.full(shape, arr.item(), dtype=np.float32)
        yaml_key = key.replace(".", "_")
        raise UsageError(
            f"layer '{layer.name}' ({layer.type}): {yaml_key} has shape {given}, it needs "
            f"{shape}{_LAYOUT_NOTE.get((type(layer).__name__, key), '')}"
        )
    return None


_LAYOUT_NOTE = {
    ("Conv2d", "weight"): " = (filters, in_channels / groups, kh, kw)",
    ("DepthwiseConv2d", "weight"): " = (channels x depth_multiplier, 1, kh, kw)",
    ("SeparableConv2d", "depthwise.weight"): " = (channels x depth_multiplier, 1, kh, kw)",
    ("SeparableConv2d", "pointwise.weight"): " = (filters, channels x depth_multiplier, 1, 1)",
    ("ConvTranspose2d", "weight"): " = (in_channels, filters / groups, kh, kw)",
    ("Dense", "weight"): " = (units, in_features)",
    ("LocallyConnected2d", "weight"): " = (out_h, out_w, filters, in_channels, kh, kw)",
}


# ------------------------------------------------------------- one layer per kind


def _conv(layer, x, w: Weights):
    from cnnfilter.engine import layers as L

    c_in, kh, kw = x.shape[2], *layer.kernel_size
    shape = (layer.filters, c_in // layer.groups, kh, kw)
    if layer.kernels is not None and not w.has(layer, "weight"):
        weight = kernel_filters(layer.kernels, c_in // layer.groups, (kh, kw), layer=layer.name)
        bias = w.bias(layer, layer.filters) if w.has(layer, "bias") else None
    else:
        weight = w.get(layer, "weight", shape, (shape[1] * kh * kw, layer.filters * kh * kw))
        bias = w.bias(layer, layer.filters)
    return L.conv2d(
        x, weight, bias, stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
        groups=layer.groups,
    )  # fmt: skip


def _depthwise(layer, x, w: Weights):
    from cnnfilter.engine import layers as L

    c, (kh, kw), m = x.shape[2], layer.kernel_size, layer.depth_multiplier
    weight = w.get(layer, "weight", (c * m, 1, kh, kw), (kh * kw, m * kh * kw))
    return L.conv2d(
        x, weight, w.bias(layer, c * m), stride=layer.stride, padding=layer.padding,
        dilation=layer.dilation, groups=c,
    )  # fmt: skip


def _separable(layer, x, w: Weights):
    from cnnfilter.engine import layers as L

    c, (kh, kw), m = x.shape[2], layer.kernel_size, layer.depth_multiplier
    dw = w.get(layer, "depthwise.weight", (c * m, 1, kh, kw), (kh * kw, m * kh * kw))
    pw = w.get(layer, "pointwise.weight", (layer.filters, c * m, 1, 1), (c * m, layer.filters))
    return L.separable_conv2d(
        x, dw, pw, w.bias(layer, layer.filters), stride=layer.stride, padding=layer.padding,
        dilation=layer.dilation,
    )  # fmt: skip


def _transposed(layer, x, w: Weights):
    from cnnfilter.engine import layers as L

    c, (kh, kw), g = x.shape[2], layer.kernel_size, layer.groups
    shape = (c, layer.filters // g, kh, kw)
    weight = w.get(layer, "weight", shape, (c // g * kh * kw, layer.filters // g * kh * kw))
    return L.conv_transpose2d(
        x, weight, w.bias(layer, layer.filters), stride=layer.stride, padding=layer.padding,
        output_padding=layer.output_padding, dilation=layer.dilation, groups=g,
    )  # fmt: skip


def _dense(layer, x, w: Weights):
    from cnnfilter.engine import layers as L

    n = x.shape[-1]
    weight = w.get(layer, "weight", (layer.units, n), (n, layer.units))
    return L.dense(x, weight, w.bias(layer, layer.units))


def _batchnorm(layer, x, w: Weights):
    from cnnfilter.engine import layers as L

    c = (x.shape[-1],)
    mean = w.get(layer, "running_mean", c, (1, 1), fill=0.0)
    var = w.get(layer, "running_var", c, (1, 1), fill=1.0)
    scale = w.get(layer, "weight", c, (1, 1), fill=1.0) if layer.affine else None
    shift = w.get(layer, "bias", c, (1, 1), fill=0.0) if layer.affine else None
    return L.batchnorm(x, mean, var, scale, shift, eps=layer.eps)


def _groupnorm(layer, x, w: Weights):
    from cnnfilter.engine import layers as L

    c = (x.shape[-1],)
    scale = w.get(layer, "weight", c, (1, 1), fill=1.0) if layer.affine else None
    shift = w.get(layer, "bias", c, (1, 1), fill=0.0) if layer.affine else None
    return L.group_norm(x, layer.num_groups, scale, shift, eps=layer.eps)


def _layernorm(layer, x, w: Weights):
    from cnnfilter.engine import layers as L

    c = (x.shape[-1],)
    affine = layer.elementwise_affine
    scale = w.get(layer, "weight", c, (1, 1), fill=1.0) if affine else None
    shift = w.get(layer, "bias", c, (1, 1), fill=0.0) if affine and layer.bias else None
    return L.layer_norm(x, scale, shift, eps=layer.eps)


def _layerscale(layer, x, w: Weights):
    from cnnfilter.engine import layers as L

    gamma = w.get(layer, "weight", (x.shape[-1],), (1, 1), fill=layer.init_values)
    return L.layer_scale(x, gamma)


def _locally(layer, x, w: Weights):
    from cnnfilter.engine import layers as L
    from cnnfilter.engine.geometry import resolve_axes

    (kh, kw), c = layer.kernel_size, x.shape[2]
    rows, cols = resolve_axes(
        x.shape[:2], (kh, kw), layer.padding, stride=layer.stride, same_rule="tensorflow",
        names=("same", "valid"),
    )  # fmt: skip
    shape = (rows.out, cols.out, layer.filters, c, kh, kw)
    weight = w.get(layer, "weight", shape, (c * kh * kw, layer.filters * kh * kw))
    bias = None
    if layer.bias and (w.has(layer, "bias") or not w.has(layer, "weight")):
        bias = w.get(layer, "bias", shape[:3], (1, 1), fill=0.0)
    return L.locally_connected2d(x, weight, bias, stride=layer.stride, padding=layer.padding)


def _pool_padding(layer, x, fill: float):
    """``(input, padding)`` for the engine's pooling, which pads both sides alike:
    equal padding is passed on; ``same`` (TensorFlow's rule: the odd pixel after) or
    unequal padding is added here (``-inf`` for max, 0 for average) and the engine pads
    nothing."""
    import numpy as np

    from cnnfilter.engine.geometry import resolve_axes

    stride = layer.stride if layer.stride is not None else layer.kernel_size
    rows, cols = resolve_axes(
        x.shape[:2], layer.kernel_size, layer.padding, stride=stride,
        dilation=getattr(layer, "dilation", 1), same_rule="tensorflow",
        names=("same", "valid"),
    )  # fmt: skip
    if rows.pad_before == rows.pad_after and cols.pad_before == cols.pad_after:
        return x, (rows.pad_before, cols.pad_before)
    pads = ((rows.pad_before, rows.pad_after), (cols.pad_before, cols.pad_after), (0, 0))
    return np.pad(x, pads, constant_values=fill), 0


def _maxpool(layer, x, w):
    import numpy as np

    from cnnfilter.engine import layers as L

    x, padding = _pool_padding(layer, x, -np.inf)
    return L.max_pool2d(
        x, layer.kernel_size, stride=layer.stride, padding=padding,
        dilation=layer.dilation, ceil_mode=layer.ceil_mode,
    )  # fmt: skip


def _avgpool(layer, x, w):
    import numpy as np

    from cnnfilter.engine import layers as L

    xp, padding = _pool_padding(layer, x, 0.0)
    kw = {"stride": layer.stride, "ceil_mode": layer.ceil_mode}
    out = L.avg_pool2d(
        xp, layer.kernel_size, padding=padding, count_include_pad=layer.count_include_pad, **kw
    )
    if padding == 0 and xp.shape != x.shape and not layer.count_include_pad:
        # padding added here: divide by the input pixels of each window, not the window
        ones, _ = _pool_padding(layer, np.ones((*x.shape[:2], 1), dtype=np.float32), 0.0)
        out = out / L.avg_pool2d(ones, layer.kernel_size, padding=0, **kw)
    return out


def _global(layer, x, w):
    from cnnfilter.engine import layers as L

    pool = L.global_avg_pool if layer.op == "avg" else L.global_max_pool
    return pool(x, keepdims=layer.keepdims)


def _adaptive(layer, x, w):
    from cnnfilter.engine import layers as L

    pool = L.adaptive_avg_pool2d if layer.op == "avg" else L.adaptive_max_pool2d
    return pool(x, layer.output_size)


def _zero_pad(layer, x, w):
    import numpy as np

    top, bottom, left, right = layer.padding
    return np.pad(x, ((top, bottom), (left, right), (0, 0)))


def _upsample(layer, x, w):
    from cnnfilter.engine import layers as L

    return L.upsample(
        x,
        size=layer.size,
        scale_factor=layer.scale_factor,
        mode=layer.mode,
        align_corners=layer.align_corners,
    )


def _activation(layer, x, w: Weights):
    from cnnfilter.engine import layers as L

    name = layer.function
    if name == "identity":
        return x
    if name == "leaky_relu":
        return L.leaky_relu(x, layer.negative_slope)
    if name == "elu":
        return L.elu(x, layer.alpha)
    if name == "gelu":
        return L.gelu(x, layer.approximate)
    if name == "prelu":
        n = 1 if layer.num_parameters == 1 else x.shape[-1]
        return L.prelu(x, w.get(layer, "weight", (n,), (1, 1), fill=0.25))
    if name == "softmax" and layer.dim not in (-1, 1):
        raise UsageError(
            f"layer '{layer.name}' (softmax): forward takes softmax over the channels "
            f"(dim: -1, or PyTorch's dim: 1), not dim {layer.dim}"
        )
    if name not in L.ACTIVATIONS:
        raise UsageError(f"layer '{layer.name}': forward does not run {name} yet")
    return L.ACTIVATIONS[name](x)


def _identity(layer, x, w):
    return x


def _flatten(layer, x, w):
    from cnnfilter.engine import layers as L

    return x if x.ndim == 1 else L.flatten(x, "chw")


def _shuffle(layer, x, w):
    from cnnfilter.engine import layers as L

    return L.channel_shuffle(x, layer.groups)


def _split(layer, x, w):
    n = x.shape[-1] // layer.parts
    return x[..., layer.index * n : (layer.index + 1) * n]


_RUN: dict[str, Callable] = {
    "Conv2d": _conv,
    "DepthwiseConv2d": _depthwise,
    "SeparableConv2d": _separable,
    "ConvTranspose2d": _transposed,
    "Dense": _dense,
    "BatchNorm2d": _batchnorm,
    "MaxPool2d": _maxpool,
    "AvgPool2d": _avgpool,
    "GlobalPool2d": _global,
    "AdaptivePool2d": _adaptive,
    "ZeroPadding2d": _zero_pad,
    "Upsample": _upsample,
    "Flatten": _flatten,
    "Dropout": _identity,
    "StochasticDepth": _identity,
    "ChannelShuffle": _shuffle,
    "ChannelSplit": _split,
    "GroupNorm": _groupnorm,
    "LayerNorm": _layernorm,
    "LayerScale": _layerscale,
    "LocallyConnected2d": _locally,
}

#: Layer kinds with no forward meaning of their own, and why.
NO_FORWARD = {
    "Imported": "it is a model file's node without an arch.yaml kind; forward runs the "
    "arch.yaml layer kinds",
}


def _run_layer(layer, x, w: Weights):
    from cnnfilter.arch.layers import Activation

    kind = type(layer).__name__
    run = _activation if isinstance(layer, Activation) else _RUN.get(kind)
    if kind in NO_FORWARD:
        raise UsageError(f"layer '{layer.name}' ({layer.type}) cannot run: {NO_FORWARD[kind]}")
    if run is None:
        raise UsageError(f"layer '{layer.name}' ({layer.type}): forward does not run it yet")
    return run(layer, x, w)


def _merge(layer, outputs: list):
    from cnnfilter.engine import layers as L

    if layer.op == "aux":
        return outputs[0]
    if layer.op == "concat":
        return L.concat(*outputs)
    if layer.op == "multiply":
        out = outputs[0]
        for o in outputs[1:]:
            out = out * o  # broadcasts a 1 x 1 x C gate
        return out
    return L.add(*outputs)


def _walk(layers, box: list, w: Weights, emit: Callable[[Any, np.ndarray], None]):
    """Run ``layers`` in order from the map in ``box`` (taken out of it, so that this walk
    holds the only reference the caller no longer needs), calling ``emit(layer, output)``."""
    from cnnfilter.arch.layers import Block, Merge

    x = box.pop()
    for layer in layers:
        if isinstance(layer, Block):
            inner = [x]
            del x  # the block's input is not needed after its first layer
            x = _walk(layer.layers, inner, w, emit)
            continue
        if isinstance(layer, Merge):
            branches = [_walk(ls, [x], w, emit) if ls else x for _, ls in layer.branches]
            if layer.op == "aux":
                branches = [x]
            x = _merge(layer, branches)
            del branches
        else:
            x = _run_layer(layer, x, w)
        emit(layer, x)
    return x


def run_network(network, x: np.ndarray, weights: Weights, emit=None) -> np.ndarray:
    """The pass :func:`forward` makes: ``network``'s layers on ``x`` (``(H, W, C)`` float32).

    Depth-first over the layer tree; only the arrays a later layer reads are
    referenced (a merge's input until its branches are done), so a map is
    freed as soon as the next one is made unless ``emit(layer, output)``,
    called for every layer, keeps it. Returns the last layer's output.
    ``benchmarks/forward.py`` times and measures the memory of this runner.

    Raises:
        UsageError: a layer without weights, or one ``forward`` cannot run (named).
    """
    return _walk(network.layers, [x], weights, emit if emit is not None else _ignore)


def _ignore(layer, y) -> None:
    return None


# ------------------------------------------------------------------ the task


def read_input(photo: str | Path, *, max_pixels: int | None = None) -> np.ndarray:
    """The photo as float32 ``(H, W, C)``, 0..1 (a ``.npy`` array as it is); alpha dropped."""
    import numpy as np

    from cnnfilter import imageio

    kw = {} if max_pixels is None else {"max_pixels": max_pixels}
    loaded = imageio.read_image(photo, **kw)
    x = np.asarray(loaded.pixels, dtype=np.float32)
    if loaded.meta is not None:  # an image file, not a .npy map
        x = x / np.float32(loaded.max_value)
    return x[..., None] if x.ndim == 2 else x


def _stats(x: np.ndarray) -> dict:
    import numpy as np

    finite = x[np.isfinite(x)]
    return {
        "shape": list(x.shape),
        "min": float(finite.min()) if finite.size else None,
        "max": float(finite.max()) if finite.size else None,
        "mean": float(finite.mean(dtype=np.float64)) if finite.size else None,
        "zeros": float(np.count_nonzero(x == 0) / x.size),
    }


def _check_outputs(output: Path, layer: str | None, npz: bool, force: bool) -> None:
    if output.exists() and not output.is_dir():
        raise UsageError(f"output={str(output)!r} is a file; give a folder for the maps")
    names = ["summary.json"] + (["activations.npz"] if npz else [])
    for name in names:
        if (output / name).exists() and not force:
            raise UsageError(
                f"output {str(output / name)!r} already exists; add force=True to replace it"
            )


def forward(
    arch: str | Path,
    photo: str | Path,
    *,
    output: str | Path,
    weights: str | Path | None = None,
    layout: str = "torch",
    init: str | None = None,
    seed: int = 0,
    layer: str | None = None,
    npz: bool = False,
    scale: str = "tile",
    force: bool = False,
    max_pixels: int | None = None,
) -> ForwardResult:
    """Run ``arch`` on ``photo``; write a montage per layer, ``summary.json`` and maybe a ``.npz``.

    Files in ``output`` (a folder, made when missing): ``NN_<layer>.png`` per
    layer (``layer=`` only that one), ``summary.json`` (per layer: type,
    shape, min, max, mean, share of zeros; the input's scaling, the weights'
    sources), ``activations.npz`` with ``npz=True`` (every layer's map,
    float32, keyed by layer name). Nothing is overwritten without ``force``.
    ``scale``: the montages' colour scale, ``"tile"`` (each channel on its
    own range) or ``"shared"`` (one range per layer), see
    :func:`cnnfilter.render.montage`; a layer with negative values is drawn
    in a diverging map centred on 0, a non-negative one in gray.

    Raises:
        UsageError: bad arch file or photo, a layer without weights (named),
            unknown ``layer``, existing outputs without ``force``.
    """
    import numpy as np

    from cnnfilter.arch import load_network
    from cnnfilter.arch.layers import Shape
    from cnnfilter.render import MONTAGE_SCALES, montage_colours

    if scale not in MONTAGE_SCALES:
        raise UsageError(f"scale={scale!r} is not one of {', '.join(MONTAGE_SCALES)}")
    from cnnfilter.arch.layers import Merge
    from cnnfilter.arch.shapes import trace
    from cnnfilter.tasks.arch import model_kind, resolve_arch

    if model_kind(arch) is not None:
        raise UsageError(
            f"{arch}: forward runs arch.yaml layer files and built-in names; ONNX models run "
            "through cnnfilter.tasks.forward_onnx.forward_any (Keras files are not supported yet)"
        )
    x = read_input(photo, max_pixels=max_pixels)
    network = load_network(resolve_arch(arch), input_shape=Shape(*x.shape))
    trace(network)  # every shape error before any work
    stored = {} if weights is None else load_weights(weights, layout=layout)
    w = Weights(stored, init, seed)
    out_dir = Path(output)
    _check_outputs(out_dir, layer, npz, force)
    out_dir.mkdir(parents=True, exist_ok=True)

    result = ForwardResult(report={})
    layers: list[dict] = []
    kept: dict[str, np.ndarray] = {}

    def emit(node, y):
        kind = node.op if isinstance(node, Merge) else node.type  # params' type column
        entry = {"name": node.name, "type": kind, **_stats(y)}
        layers.append(entry)
        if npz:
            kept[node.name] = y
        if layer is None or node.name == layer:
            target = out_dir / f"{len(layers):02d}_{_safe(node.name)}.png"
            _write_montage(target, node, y, scale=scale, force=force)
            entry["picture"] = target.name
            entry["colours"] = montage_colours(y)
            result.written.append(str(target))

    run_network(network, x, w, emit)
    if layer is not None and layer not in {e["name"] for e in layers}:
        raise UsageError(
            f"layer={layer!r} is not a layer of {arch}; its layers are "
            + ", ".join(e["name"] for e in layers)
        )
    unused = sorted(set(stored) - w.used)
    result.report = {
        "arch": str(arch),
        "photo": str(photo),
        "input": {"shape": list(x.shape), "scaling": "divided by full white: 0..1"},
        "weights": {"file": None if weights is None else str(weights), "layout": layout,
                    "init": init, "seed": seed if init else None,
                    "initialised": w.initialised, "unused": unused},
        "montage_scale": scale,
        "layers": layers,
    }  # fmt: skip
    if w.initialised:
        named = w.initialised if len(w.initialised) <= 6 else [*w.initialised[:5], "..."]
        result.notes.append(
            f"random {init} weights (seed {seed}) for {len(w.initialised)} layer(s): "
            f"{', '.join(named)} (summary.json: weights.initialised)"
        )
    if unused:
        result.notes.append(f"arrays not used by any layer: {', '.join(unused)}")
    _write_json(out_dir / "summary.json", result.report, force=force)
    result.written.append(str(out_dir / "summary.json"))
    if npz:
        import io

        buf = io.BytesIO()
        np.savez(buf, **kept)
        from cnnfilter.tasks._common import write_output

        write_output(out_dir / "activations.npz", buf.getvalue(), force=force)
        result.written.append(str(out_dir / "activations.npz"))
    return result


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _write_json(path: Path, report: dict, *, force: bool) -> None:
    from cnnfilter.tasks._common import write_output

    write_output(path, (json.dumps(report, indent=2) + "\n").encode(), force=force)


def _write_montage(path: Path, node, y: np.ndarray, *, scale: str, force: bool) -> None:
    from cnnfilter import imageio, render
    from cnnfilter.arch.layers import Merge
    from cnnfilter.tasks._common import write_output

    kind = node.op if isinstance(node, Merge) else node.type
    kernels = getattr(node, "kernels", None) or ()
    names = tuple(k if isinstance(k, str) else "/".join(k) for k in kernels)
    picture = render.montage(y, title=f"{node.name} ({kind})", scale=scale, names=names)
    data, _ = imageio.encode_picture(picture, "PNG")
    write_output(path, data, force=force)
