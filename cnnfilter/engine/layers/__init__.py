"""The forward pass of CNN layers on one image: pure functions on float32 arrays.

Layout: every feature map is ``(H, W, C)`` -- rows, columns, channels -- for
ONE image (no batch axis), the layout of the rest of the engine and of
images on disk. Weights keep PyTorch's layouts (``(out, in/groups, kh, kw)``
for a convolution, ``(out, in)`` for a dense layer) so that a PyTorch
``state_dict`` loads unchanged; :func:`keras_to_torch` converts Keras'
``(kh, kw, in, out)``. Vectors (after :func:`flatten` or a global pool) are
``(N,)``. Every function returns float32 (inputs are cast once with
:func:`as_map`); each is checked against PyTorch 2.13 in
``tests/engine/test_layers_forward.py`` (outputs made by
``tests/data/make_torch_forward_ref.py``).

Geometry comes from :mod:`cnnfilter.engine.geometry` (the one output-size
formula): ``padding`` is an int, ``(ph, pw)``, ``(top, bottom, left,
right)``, ``"valid"`` or ``"same"``. ``"same"`` follows
``same_padding(rule="tensorflow")``, which at stride 1 is exactly PyTorch's
``padding="same"`` (total ``d (k - 1)``, the odd pixel after); PyTorch
refuses ``"same"`` at stride > 1, TensorFlow defines it and so do we.

The package, one module per family (import from here; each module names its own):

* :mod:`~cnnfilter.engine.layers.base`: :func:`as_map`, :func:`keras_to_torch`, the dtype;
* :mod:`~cnnfilter.engine.layers.conv`: :func:`conv2d`, :func:`separable_conv2d`,
  :func:`conv_transpose2d`, :func:`locally_connected2d`;
* :mod:`~cnnfilter.engine.layers.pooling`: max/avg, adaptive and global pooling,
  :func:`upsample`;
* :mod:`~cnnfilter.engine.layers.normalization`: :func:`batchnorm`, :func:`group_norm`,
  :func:`layer_norm`, :func:`layer_scale`;
* :mod:`~cnnfilter.engine.layers.activations`: the activations and their table
  :data:`ACTIVATIONS`;
* :mod:`~cnnfilter.engine.layers.structure`: :func:`dense`, :func:`flatten`, the merges
  (:func:`add`, :func:`multiply`, :func:`concat`), :func:`channel_shuffle`, :func:`dropout`.
"""

from cnnfilter.engine.layers.activations import (
    ACTIVATIONS,
    elu,
    gelu,
    hardsigmoid,
    hardswish,
    leaky_relu,
    mish,
    prelu,
    relu,
    relu6,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from cnnfilter.engine.layers.base import as_map, keras_to_torch
from cnnfilter.engine.layers.conv import (
    conv2d,
    conv_transpose2d,
    conv_transpose_output_size,
    locally_connected2d,
    separable_conv2d,
)
from cnnfilter.engine.layers.normalization import batchnorm, group_norm, layer_norm, layer_scale
from cnnfilter.engine.layers.pooling import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    adaptive_ranges,
    avg_pool2d,
    global_avg_pool,
    global_max_pool,
    max_pool2d,
    upsample,
)
from cnnfilter.engine.layers.structure import (
    add,
    channel_shuffle,
    concat,
    dense,
    dropout,
    flatten,
    multiply,
)

__all__ = [
    "ACTIVATIONS",
    "as_map",
    "keras_to_torch",
    "conv2d",
    "separable_conv2d",
    "conv_transpose2d",
    "conv_transpose_output_size",
    "batchnorm",
    "group_norm",
    "layer_norm",
    "layer_scale",
    "locally_connected2d",
    "softplus",
    "mish",
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "hardswish",
    "hardsigmoid",
    "sigmoid",
    "tanh",
    "softmax",
    "prelu",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "adaptive_ranges",
    "global_avg_pool",
    "global_max_pool",
    "upsample",
    "dense",
    "flatten",
    "add",
    "multiply",
    "concat",
    "channel_shuffle",
    "dropout",
]
