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

import contextlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnfilter.errors import ProcessingError, UsageError
from cnnfilter.tasks._common import check_finite, check_output_path

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
#: Most multiply-adds a pass may take (VGG-16 on a 1024 x 1024 photo: 3.2e11, about a
#: minute with its montages; on a 12-megapixel phone photo 3.7e12 and gigabytes a map).
MAX_FORWARD_MACS = 10**12
#: Longest layer part of a montage's file name, in UTF-8 bytes (a file name holds 255).
MAX_NAME_BYTES = 120


def check_seed(seed: int) -> None:
    """Refuse a seed NumPy's generator does not take (a negative number).

    Raises:
        UsageError: ``seed`` below 0.
    """
    if seed < 0:
        raise UsageError(f"seed={seed} is negative; give 0 or more")


@dataclass
class ForwardResult:
    """What :func:`forward` did: ``report`` (JSON-ready), files written, notes for people."""

    report: dict
    written: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_weights(path: str | Path, *, layout: str = "torch") -> dict[str, np.ndarray]:
    """Read a ``.npz`` of named arrays (float32), converting Keras' layouts when asked.

    Never unpickles (``allow_pickle=False``). Integer and float arrays of any
    width are converted to float32; every value must then be finite.

    Raises:
        UsageError: unreadable, empty, truncated or not a ``.npz`` (a single
            ``.npy`` array is named as such); an object (pickled), complex, bool
            or text array, or one holding NaN/inf or values beyond float32's
            range (naming the array); an unknown ``layout``.
    """
    import zipfile

    import numpy as np

    from cnnfilter.engine.layers import keras_to_torch

    if layout not in LAYOUTS:
        raise UsageError(f"layout={layout!r} is not one of {', '.join(LAYOUTS)}")
    name = str(path)
    fix = "fix: save the arrays with numpy.savez('w.npz', **{'conv1.weight': w, ...})"
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError as exc:
        raise UsageError(f"weights={name!r} cannot be read ({exc.strerror or exc})") from None
    if not head:
        raise UsageError(f"weights={name!r} is empty (0 bytes), not a .npz file; {fix}")
    if head.startswith(b"\x93NUMPY"):
        raise UsageError(
            f"weights={name!r} is a single .npy array, not a .npz of arrays named by layer; {fix}"
        )
    if not head.startswith(b"PK"):
        raise UsageError(
            f"weights={name!r} is not a .npz file (a zip of .npy arrays keyed "
            f"<layer>.weight, <layer>.bias, ...); {fix}"
        )
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            arrays = {k: _weight_array(data[k], k, name) for k in data.files}
    except UsageError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        text = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
        if "allow_pickle" in text:
            text = "an object array: cnnfilter never unpickles a file"
        raise UsageError(
            f"weights={name!r} is truncated or not a .npz numpy can read ({text}); {fix}"
        ) from None
    if layout == "keras":
        arrays = {
            k: keras_to_torch(v, depthwise=k.endswith("depthwise.weight") or k.endswith("dw"))
            if k.endswith("weight") and v.ndim in (2, 4)
            else v
            for k, v in arrays.items()
        }
    return arrays


def _weight_array(value, key: str, name: str) -> np.ndarray:
    """One ``.npz`` member as float32, refused unless real, numeric and finite."""
    import numpy as np

    if not isinstance(value, np.ndarray):  # a zip member that is not a .npy file
        raise UsageError(
            f"weights={name!r}: its member {key!r} is not a .npy array; keep only arrays "
            "in the .npz (numpy.savez writes them)"
        )
    if value.dtype.kind not in "iuf":
        raise UsageError(
            f"weights={name!r}: array {key!r} holds {value.dtype} values; weights must be real "
            "numbers (integers or floats): convert it, e.g. w.astype('float32')"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        arr = np.asarray(value, dtype=np.float32)
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        overflow = value.dtype.kind == "f" and bool(np.isfinite(value).sum() > arr.size - bad)
        beyond = " or beyond float32's range (3.4e38)" if overflow else ""
        raise UsageError(
            f"weights={name!r}: array {key!r} holds {bad} value(s) that are NaN or inf{beyond}; "
            "every weight must be a finite number: replace them first (numpy.nan_to_num)"
        )
    return arr


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

    def __init__(
        self,
        stored: dict[str, np.ndarray],
        init: str | None,
        seed: int,
        *,
        source: str | None = None,
        layout: str = "torch",
    ) -> None:
        import numpy as np

        if init is not None and init not in INITS:
            raise UsageError(f"init={init!r} is not one of {', '.join(INITS)}")
        check_seed(seed)
        self.stored, self.init, self.source, self.layout = stored, init, source, layout
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
                    f"array '{full}' of weights={self.source!r} has shape {arr.shape}, layer "
                    f"'{layer.name}' needs {shape}"
                    f"{_LAYOUT_NOTE.get((type(layer).__name__, key), '')}"
                    f"{self._layout_hint(arr, shape)}"
                )
            self.used.add(full)
            return arr
        if self.init is None:
            raise UsageError(self._missing(layer, key))
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

    def _missing(self, layer, key: str) -> str:
        """The message for a layer without ``key``: where it could come from."""
        full = f"{layer.name}.{key}"
        if self.source is not None:
            keys = sorted(self.stored)
            shown = ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")
            return (
                f"layer '{layer.name}' ({layer.type}) has no weights: weights={self.source!r} "
                f"has no array '{full}' (it holds: {shown or 'nothing'}); fix: name the arrays "
                "<layer>.<key> after the layers of the arch file, or add init='he' and seed=N"
            )
        inline = "kernels: or weight:" if type(layer).__name__ == "Conv2d" else "its arrays"
        return (
            f"layer '{layer.name}' ({layer.type}) has no weights: give '{full}' in "
            f"weights=FILE.npz, {inline} in the arch file, or init='he' and seed=N"
        )

    def _layout_hint(self, arr: np.ndarray, shape: tuple[int, ...]) -> str:
        """``; fix: ...`` when the array has the shape of the other layout."""
        if arr.ndim not in (2, 4):
            return ""
        other = arr.T.shape if arr.ndim == 2 else None
        if arr.ndim == 4:
            # torch (out, in, kh, kw) <-> keras (kh, kw, in, out)
            other = (
                (arr.shape[3], arr.shape[2], arr.shape[0], arr.shape[1])
                if self.layout == "torch"
                else (arr.shape[2], arr.shape[3], arr.shape[1], arr.shape[0])
            )
        if tuple(other) != tuple(shape):
            return ""
        want = "keras" if self.layout == "torch" else "torch"
        return f"; fix: that is the shape in the {want} layout: give layout='{want}'"

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
    """The photo as float32 ``(H, W, C)``, 0..1 (a ``.npy`` array as it is); alpha dropped.

    Raises:
        UsageError: as :func:`cnnfilter.imageio.read_image`; a ``.npy`` holding NaN or
            inf (:func:`cnnfilter.tasks._common.check_finite`).
        ProcessingError: an unreadable image.
    """
    import numpy as np

    from cnnfilter import imageio

    kw = {} if max_pixels is None else {"max_pixels": max_pixels}
    loaded = imageio.read_image(photo, **kw)
    x = np.asarray(loaded.pixels, dtype=np.float32)
    if loaded.meta is not None:  # an image file, not a .npy map
        x = x / np.float32(loaded.max_value)
    check_finite(x, photo)  # NaN/inf would make every later map NaN
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


class Outputs:
    """The files one ``forward`` run writes into its folder, checked before any work.

    ``check(names)`` refuses, before the pass: a folder that is ``-``, empty, a
    file or a device; a file name that is one of ``inputs`` (the photo, the arch
    file, the weights; any spelling, link or hard link, even with ``force``); a
    file that exists without ``force``. ``write(name, data)`` writes atomically;
    ``undo()`` removes what this run created (files, the folder) when it fails,
    so a failed or interrupted run leaves nothing behind.
    """

    def __init__(self, output: str | Path, inputs: list, *, force: bool) -> None:
        self.dir, self.inputs, self.force = Path(output), inputs, force
        self.created: list[Path] = []
        self.made_dir = False

    def check(self, names: list[str]) -> None:
        """Refuse the folder or any of the files ``names`` in it (see the class)."""
        import os
        import stat

        text = str(self.dir)
        if text in ("", "-"):
            what = "empty" if not text else "standard output"
            raise UsageError(
                f"output={text!r} is {what}; forward writes a folder of files (a montage per "
                "layer, summary.json): give a folder such as maps/"
            )
        try:
            st = os.stat(self.dir)
        except FileNotFoundError:
            st = None
        except OSError as exc:  # a name too long, a loop of links, a file on the way
            raise UsageError(
                f"output={text!r} cannot be a folder ({exc.strerror or exc})"
            ) from None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            kind = "a file" if stat.S_ISREG(st.st_mode) else "a device or special file"
            raise UsageError(
                f"output={text!r} is {kind}, not a folder; forward writes several files: "
                "give a folder (it is made when missing)"
            )
        if st is not None and not os.access(self.dir, os.W_OK | os.X_OK):
            raise UsageError(
                f"output={text!r} is a folder you cannot write to (permission denied); "
                "choose another folder"
            )
        for name in names:
            check_output_path(self.dir / name, self.inputs, force=self.force)

    def write(self, name: str, data: bytes) -> str:
        """Write ``data`` to ``name`` in the folder (made on first use); the path written."""
        from cnnfilter.tasks._common import write_output

        if not self.dir.is_dir():
            try:
                self.dir.mkdir(parents=True)
            except OSError as exc:
                raise ProcessingError(
                    f"cannot create folder {str(self.dir)!r}: {exc.strerror or exc}"
                ) from None
            self.made_dir = True
        path = self.dir / name
        existed = os.path.lexists(path)
        write_output(path, data, force=self.force)
        if not existed:
            self.created.append(path)
        return str(path)

    def undo(self) -> None:
        """Remove the files this run created, and the folder if it made it and it is empty."""
        for path in self.created:
            with contextlib.suppress(OSError):
                path.unlink()
        if self.made_dir:
            with contextlib.suppress(OSError):
                self.dir.rmdir()


def _emit_order(layers) -> list[str]:
    """The names of the layers :func:`run_network` emits, in its order."""
    from cnnfilter.arch.layers import Block, Merge

    names: list[str] = []
    for layer in layers:
        if isinstance(layer, Block):
            names += _emit_order(layer.layers)
            continue
        if isinstance(layer, Merge):
            for _, branch in layer.branches:
                names += _emit_order(branch)
        names.append(layer.name)
    return names


def check_layer(
    layer: str | None, names: list[str], source: str | Path, *, also: tuple[str, ...] = ()
) -> None:
    """Refuse ``layer`` (``--layer``) unless it is one of ``names`` (or ``also``: other
    names it may be given by, not listed), before any work.

    Raises:
        UsageError: an unknown layer, with the closest names and the first layer names.
    """
    if layer is None or layer in names or layer in also:
        return
    import difflib

    shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
    given = f"layer={layer!r}" if layer else "layer='' (empty)"
    # a part of an ONNX node's name (conv1 of /conv1/Conv), else a near spelling (conv_1)
    close = [n for n in names if layer and layer in n][:3]
    close = close or difflib.get_close_matches(layer, names, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UsageError(f"{given} is not a layer of {source}; {hint}its layers are {shown}")


def montage_name(index: int, name: str) -> str:
    """``NN_<name>.png``: the layer's name with characters other than letters, digits,
    ``-``, ``_`` and ``.`` made ``_``, cut to :data:`MAX_NAME_BYTES` (then ending in a
    short hash of the whole name, so that two long names stay apart).

    >>> montage_name(3, "layer1/conv:0")
    '03_layer1_conv_0.png'
    """
    import hashlib

    safe = _safe(name).strip("_") or "layer"
    if len(safe.encode()) > MAX_NAME_BYTES:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cut = safe.encode()[: MAX_NAME_BYTES - 9].decode("utf-8", "ignore")
        safe = f"{cut}-{digest}"
    return f"{index:02d}_{safe}.png"


def check_cost(traced, photo_shape: tuple[int, ...], *, npz: bool) -> None:
    """Refuse, before any work, a pass that would run for hours or not fit in memory.

    Estimates from the traced shapes (:func:`cnnfilter.arch.calc.summarize`): the
    multiply-adds against :data:`MAX_FORWARD_MACS`; the memory, 4 bytes a value, of
    the weights, three of the largest maps (a layer's input, output and working
    copy) and, with ``npz``, every map twice (kept, then in the ``.npz`` file),
    against :func:`cnnfilter.imageio.available_memory`.

    Raises:
        UsageError: the estimate, the limit and the fix.
    """
    from cnnfilter import imageio
    from cnnfilter.arch.calc import summarize
    from cnnfilter.engine.cost import _bytes_text

    shape = " x ".join(map(str, photo_shape))
    summary = summarize(traced)
    if summary.macs > MAX_FORWARD_MACS:
        raise UsageError(
            f"this network on a {shape} photo needs about {summary.macs:.2g} multiply-adds "
            f"(the limit is {MAX_FORWARD_MACS:.0e}, minutes of work); fix: give a smaller "
            "photo (resize it first, e.g. to 224 x 224)"
        )
    sizes = _step_sizes(traced.steps)
    work = 4 * summary.parameters + 3 * 4 * max(sizes, default=0)
    kept = 2 * 4 * sum(sizes) if npz else 0
    free = imageio.available_memory()
    if free is None or work + kept <= free:
        return
    if npz and work <= free:
        raise UsageError(
            f"npz=True keeps every layer's map: about {_bytes_text(kept)} for this network on "
            f"a {shape} photo (the maps and the .npz file), more than the "
            f"{_bytes_text(free - work)} left; fix: leave out npz=True, or give a smaller photo"
        )
    raise UsageError(
        f"this network on a {shape} photo needs about {_bytes_text(work)} of memory (its "
        f"weights and largest maps), more than the {_bytes_text(free)} available; fix: give "
        "a smaller photo"
    )


def _step_sizes(steps) -> list[int]:
    """The number of values of every map :func:`run_network` emits (a trace's steps)."""
    from cnnfilter.arch.layers import Block

    out: list[int] = []
    for step in steps:
        for _, branch in step.branches:
            out += _step_sizes(branch)
        if not isinstance(step.layer, Block):
            out.append(step.output.size)
    return out


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
    check_seed(seed)
    x = read_input(photo, max_pixels=max_pixels)
    network = load_network(resolve_arch(arch), input_shape=Shape(*x.shape))
    traced = trace(network)  # every shape error before any work
    stored = {} if weights is None else load_weights(weights, layout=layout)
    w = Weights(stored, init, seed, source=None if weights is None else str(weights), layout=layout)
    order = _emit_order(network.layers)
    check_layer(layer, order, arch)
    check_cost(traced, x.shape, npz=npz)
    names = [montage_name(i, n) for i, n in enumerate(order, 1) if layer in (None, n)]
    inputs = [photo, (_arch_file(arch), "arch file"), (weights, "weights file")]
    out = Outputs(output, inputs, force=force)
    out.check([*names, "summary.json"] + (["activations.npz"] if npz else []))

    result = ForwardResult(report={})
    layers: list[dict] = []
    kept: dict[str, np.ndarray] = {}

    def emit(node, y):
        kind = node.op if isinstance(node, Merge) else node.type  # params' type column
        entry = {"name": node.name, "type": kind, **_stats(y)}
        layers.append(entry)
        _note_non_finite(result.notes, node.name, y)
        if npz:
            kept[node.name] = y
        if layer is None or node.name == layer:
            target = montage_name(len(layers), node.name)
            result.written.append(out.write(target, _montage_png(node, y, scale=scale)))
            entry["picture"] = target
            entry["colours"] = montage_colours(y)

    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # noted per layer
            try:
                run_network(network, x, w, emit)
            except UsageError as exc:
                raise UsageError(_channels_hint(str(exc), arch, x.shape[2])) from None
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
        result.notes += _weight_notes(w, init, seed, unused)
        result.written.append(out.write("summary.json", _json_bytes(result.report)))
        if npz:
            result.written.append(out.write("activations.npz", _npz_bytes(kept)))
    except BaseException:  # an error, Ctrl-C or SIGTERM mid-run: no partial output
        out.undo()
        raise
    return result


def _channels_hint(message: str, arch: str | Path, channels: int) -> str:
    """``message``, plus a note when an array's shape is wrong and the photo's channels are
    not the arch file's ``input:`` ones (the pass runs on the photo as it is)."""
    from cnnfilter.arch import load_network
    from cnnfilter.tasks.arch import resolve_arch

    if " has shape " not in message:
        return message
    try:
        declared = load_network(resolve_arch(arch)).input.channels
    except UsageError:
        return message
    if declared == channels:
        return message
    return (
        f"{message} (the photo has {channels} channel(s), the arch file's input: {declared}; "
        "forward runs on the photo as it is: give a photo of that many channels, or arrays "
        f"for {channels})"
    )


def _weight_notes(w: Weights, init: str | None, seed: int, unused: list[str]) -> list[str]:
    notes = []
    if w.initialised:
        named = w.initialised if len(w.initialised) <= 6 else [*w.initialised[:5], "..."]
        notes.append(
            f"random {init} weights (seed {seed}) for {len(w.initialised)} layer(s): "
            f"{', '.join(named)} (summary.json: weights.initialised)"
        )
    if unused:
        notes.append(f"arrays not used by any layer: {', '.join(unused)}")
    return notes


def _arch_file(arch: str | Path) -> str | None:
    """The arch file's path when ``arch`` names a file (a built-in name is not one)."""
    return str(arch) if os.path.isfile(arch) else None


def _note_non_finite(notes: list[str], name: str, y: np.ndarray) -> None:
    import numpy as np

    bad = int(y.size - np.count_nonzero(np.isfinite(y)))
    if bad:
        notes.append(
            f"layer '{name}': {bad} of {y.size} values are NaN or inf (float32 overflowed: "
            "weights or input too large); its min, max and mean leave them out"
        )


def _json_bytes(report: dict) -> bytes:
    return (json.dumps(report, indent=2) + "\n").encode()


def _npz_bytes(arrays: dict) -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _montage_png(node, y: np.ndarray, *, scale: str) -> bytes:
    from cnnfilter import imageio, render
    from cnnfilter.arch.layers import Merge

    kind = node.op if isinstance(node, Merge) else node.type
    kernels = getattr(node, "kernels", None) or ()
    names = tuple(k if isinstance(k, str) else "/".join(k) for k in kernels)
    picture = render.montage(y, title=f"{node.name} ({kind})", scale=scale, names=names)
    data, _ = imageio.encode_picture(picture, "PNG")
    return data


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
