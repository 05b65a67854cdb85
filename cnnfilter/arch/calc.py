"""Parameters, multiply-accumulates and memory of a traced network.

Conventions (stated in every output of ``cnnfilter params``):

* **parameters** are the weights and biases a framework trains; this is
  PyTorch's ``sum(p.numel() for p in model.parameters())`` and the published
  counts (VGG16 138,357,544). BatchNorm adds ``2C`` (scale and shift).
* **non-trainable** are BatchNorm's running mean and variance (``2C``), which
  Keras' "Total params" includes and PyTorch's count does not.
* **MACs** count the multiply-accumulates of conv, depthwise,
  locally-connected and dense *weights*; biases, pooling, activations, batch
  normalisation and residual additions count zero. This is the convention of
  torchvision's "GFLOPS" column (VGG16 15.47 G, ResNet-18 1.81 G at 224x224).
* **memory** assumes float32 (4 bytes per value) and a batch of one image;
  activation memory is the sum of every layer's output (the input excluded).
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnfilter.arch.layers import (
    BatchNorm2d,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    LocallyConnected2d,
)
from cnnfilter.arch.shapes import Step, Trace

__all__ = ["BYTES_PER_VALUE", "Cost", "Row", "Summary", "layer_cost", "summarize"]

BYTES_PER_VALUE = 4
"""float32."""


@dataclass(frozen=True)
class Cost:
    """What one layer costs.

    ``parameters`` (trainable weights and biases), ``non_trainable`` (running
    statistics), ``macs`` (multiply-accumulates for one image),
    ``activation_bytes`` (its output in float32) and ``locally_connected``:
    the parameters of the same layer with unshared weights (conv and
    depthwise layers only, else ``None``).
    """

    parameters: int = 0
    non_trainable: int = 0
    macs: int = 0
    activation_bytes: int = 0
    locally_connected: int | None = None


@dataclass(frozen=True)
class Row:
    """One line of the table: nesting depth, the traced step, its cost."""

    depth: int
    step: Step
    cost: Cost


@dataclass(frozen=True)
class Summary:
    """Per-layer rows and network totals (see the module conventions)."""

    trace: Trace
    rows: tuple[Row, ...]
    parameters: int
    non_trainable: int
    macs: int
    activation_bytes: int

    @property
    def parameter_bytes(self) -> int:
        """Trainable and non-trainable values in float32."""
        return (self.parameters + self.non_trainable) * BYTES_PER_VALUE

    @property
    def input_bytes(self) -> int:
        """The input image in float32."""
        return self.trace.network.input.size * BYTES_PER_VALUE

    @property
    def locally_connected(self) -> int:
        """Total parameters if every conv and depthwise layer had unshared weights."""
        return self.parameters + sum(
            row.cost.locally_connected - row.cost.parameters
            for row in self.rows
            if row.cost.locally_connected is not None
        )

    def share(self, row: Row) -> float:
        """``row``'s fraction of :attr:`parameters` (0 when the network has none)."""
        return row.cost.parameters / self.parameters if self.parameters else 0.0


def layer_cost(step: Step) -> Cost:
    """Parameters, MACs and output memory of one traced layer.

    With ``Ho x Wo`` the output size, ``C`` input channels, ``F`` filters:

    * conv2d: ``F (C / groups) kh kw`` weights + ``F`` biases; MACs = weights x ``Ho Wo``.
    * depthwise_conv2d: ``C m kh kw`` weights + ``C m`` biases (``m`` the depth multiplier).
    * locally_connected2d (Keras LocallyConnected2D): ``Ho Wo F C kh kw``
      weights + ``Ho Wo F`` biases; MACs = weights.
    * dense: ``in x units`` weights + ``units`` biases; MACs = weights.
    * batchnorm2d: ``2C`` trainable, ``2C`` non-trainable.

    >>> from cnnfilter.arch.parse import parse_network
    >>> from cnnfilter.arch.shapes import trace
    >>> net = parse_network('''input: [32, 32, 1]
    ... layers: [conv2d: {filters: 5, kernel_size: 3, padding: same, bias: false}]''')
    >>> cost = layer_cost(trace(net).steps[0])
    >>> cost.parameters, cost.macs, cost.locally_connected
    (45, 46080, 46080)
    """
    layer, c_in, out = step.layer, step.input.channels, step.output
    positions = out.height * out.width
    memory = out.size * BYTES_PER_VALUE
    if isinstance(layer, Conv2d | DepthwiseConv2d):
        kh, kw = layer.kernel_size
        if isinstance(layer, Conv2d):
            weights = layer.filters * (c_in // layer.groups) * kh * kw
        else:
            weights = c_in * layer.depth_multiplier * kh * kw
        biases = out.channels if layer.bias else 0
        unshared = positions * (weights + biases)
        return Cost(weights + biases, 0, weights * positions, memory, unshared)
    if isinstance(layer, LocallyConnected2d):
        kh, kw = layer.kernel_size
        weights = positions * layer.filters * c_in * kh * kw
        biases = positions * layer.filters if layer.bias else 0
        return Cost(weights + biases, 0, weights, memory)
    if isinstance(layer, Dense):
        weights = c_in * layer.units
        return Cost(weights + (layer.units if layer.bias else 0), 0, weights, memory)
    if isinstance(layer, BatchNorm2d):
        trainable = 2 * c_in if layer.affine else 0
        running = 2 * c_in if layer.track_running_stats else 0
        return Cost(trainable, running, 0, memory)
    return Cost(activation_bytes=memory)


def summarize(trace: Trace) -> Summary:
    """Cost of every layer (in :meth:`Trace.walk` order) and the totals.

    >>> from cnnfilter.arch.parse import parse_network
    >>> from cnnfilter.arch.shapes import trace
    >>> s = summarize(trace(parse_network('''input: [4, 4, 2]
    ... layers: [batchnorm2d, flatten, dense: {units: 3}]''')))
    >>> s.parameters, s.non_trainable, s.macs
    (103, 4, 96)
    """
    rows = tuple(Row(depth, step, layer_cost(step)) for depth, step in trace.walk())
    return Summary(
        trace=trace,
        rows=rows,
        parameters=sum(r.cost.parameters for r in rows),
        non_trainable=sum(r.cost.non_trainable for r in rows),
        macs=sum(r.cost.macs for r in rows),
        activation_bytes=sum(r.cost.activation_bytes for r in rows),
    )
