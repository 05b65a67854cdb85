"""The forward pass of a parsed layer stack: arrays in, every layer's feature map out.

Why here, in :mod:`cnnfilter.arch`: the runner is one more walk over the
parsed layer tree (:class:`~cnnfilter.arch.layers.Network`, its blocks and
merges), dispatching on the same frozen layer classes as the shape, parameter
and receptive-field calculators beside it, so a new layer kind gets its shape
rule, its count and its forward rule in one package; the engine cannot hold
it (the engine never imports ``arch``), and a new top-level module would be a
second home for the layer classes' meaning. The numbers are the engine's
(:mod:`cnnfilter.engine.layers`, checked against PyTorch); the weights come
from :class:`cnnfilter.arch.weights.Weights`.

No file is read or written and nothing is printed: :func:`run_network` takes
an ``H x W x C`` float32 array and calls ``emit(layer, output)`` per layer;
:func:`feature_maps` keeps those maps in a dict (the Python API's
:func:`cnnfilter.forward`). Reading the photo and the ``.npz``, montages and
``summary.json`` are the ``forward`` command's (:mod:`cnnfilter.tasks.forward`).
Errors are :class:`~cnnfilter.errors.UsageError` naming the layer and Python
parameters (``init='he'``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cnnfilter.arch.names import check_layer
from cnnfilter.arch.weights import Weights, kernel_filters
from cnnfilter.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["NO_FORWARD", "emit_order", "feature_maps", "run_network"]


def _conv(layer, x, w: Weights):
    from cnnfilter.engine import layers as L

    c_in, kh, kw = x.shape[2], *layer.kernel_size
    shape = (layer.filters, c_in // layer.groups, kh, kw)
    if layer.kernels is not None:  # the arch file first: a stored weight is left unused
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
    if (var + layer.eps <= 0).any():
        raise UsageError(
            f"layer '{layer.name}' ({layer.type}): running_var holds {int((var < 0).sum())} "
            f"negative value(s) (the least {float(var.min()):.4g}); a variance is 0 or more: "
            "check the array's order (running_mean, running_var) and source"
        )
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
    return _fused(layer, run(layer, x, w))


#: The setting an ``activation:`` option's function takes when it takes one: Keras 3's
#: defaults (``keras.activations``: ``leaky_relu`` negative_slope 0.2; ``elu`` alpha 1.0
#: and ``gelu`` approximate=False are the engine's defaults already).
FUSED_LEAKY_SLOPE = 0.2


def _fused(layer, y: np.ndarray) -> np.ndarray:
    """``y`` through the layer's ``activation:`` option, Keras' fused activation
    (``Conv2D(filters, 3, activation="relu")``: the layer's output is after it), or
    ``y`` when it has none.

    Raises:
        UsageError: ``activation: prelu``, whose slopes are weights of a layer of their own.
    """
    name = getattr(layer, "activation", None)
    if name in (None, "identity"):
        return y
    from cnnfilter.engine import layers as L

    if name == "prelu":
        raise UsageError(
            f"layer '{layer.name}': activation: prelu has weights of its own; write it as a "
            f"prelu layer after '{layer.name}'"
        )
    if name == "leaky_relu":
        return L.leaky_relu(y, FUSED_LEAKY_SLOPE)
    return L.ACTIVATIONS[name](y)


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
    """The pass of :func:`cnnfilter.forward` and ``cnnfilter forward``: ``network``'s
    layers on ``x`` (``(H, W, C)`` float32).

    Depth-first over the layer tree; only the arrays a later layer reads are
    referenced (a merge's input until its branches are done), so a map is
    freed as soon as the next one is made unless ``emit(layer, output)``,
    called for every layer, keeps it. Returns the last layer's output.
    ``benchmarks/forward.py`` times and measures the memory of this runner.

    Raises:
        UsageError: a layer without weights, or one the runner cannot run (named).
    """
    weights.layer_names = frozenset(emit_order(network.layers))
    return _walk(network.layers, [x], weights, emit if emit is not None else _ignore)


def _ignore(layer, y) -> None:
    return None


def emit_order(layers) -> list[str]:
    """The names of the layers :func:`run_network` emits, in its order."""
    from cnnfilter.arch.layers import Block, Merge

    names: list[str] = []
    for layer in layers:
        if isinstance(layer, Block):
            names += emit_order(layer.layers)
            continue
        if isinstance(layer, Merge):
            for _, branch in layer.branches:
                names += emit_order(branch)
        names.append(layer.name)
    return names


def feature_maps(
    network, x: np.ndarray, weights: Weights, *, layers: list[str] | None = None
) -> dict[str, np.ndarray]:
    """Run ``network`` on ``x`` and keep the feature maps of ``layers`` (None: every layer).

    Args:
        network: a parsed :class:`~cnnfilter.arch.layers.Network` whose input
            is ``x``'s shape.
        x: float32 ``(H, W, C)``.
        weights: the layers' arrays (:class:`~cnnfilter.arch.weights.Weights`).
        layers: names of the layers to keep (a block's layers by their own names);
            the pass still runs every layer.

    Returns:
        Layer name -> float32 map, in the order the layers run (a merge after its
        branches): ``(H', W', C')`` for a spatial layer, ``(N,)`` after a flatten
        or a dense layer.

    Raises:
        UsageError: a name of ``layers`` the network does not have (with the
            closest names); a layer without weights, or one that cannot run (named).
    """
    keep = None
    if layers is not None:
        order = emit_order(network.layers)
        for name in layers:
            check_layer(name, order, network.source, param="layers")
        keep = set(layers)
    maps: dict[str, np.ndarray] = {}

    def emit(layer, y):
        if keep is None or layer.name in keep:
            maps[layer.name] = y

    run_network(network, x, weights, emit)
    return maps
