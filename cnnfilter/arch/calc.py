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

from cnnfilter.arch.layers.conv import Conv2d, DepthwiseConv2d
from cnnfilter.arch.layers.structure import Merge
from cnnfilter.arch.shapes import Step, Trace

__all__ = ["BYTES_PER_VALUE", "DTYPES", "Cost", "Row", "Summary", "layer_cost", "summarize"]

BYTES_PER_VALUE = 4
"""float32."""

DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2}
"""Bytes per value of the ``--dtype`` choices."""


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
    """One line of the table: nesting depth, the traced step, its own cost and, for a
    group (merge or block), ``total``: the sum over the layers inside it."""

    depth: int
    step: Step
    cost: Cost
    total: Cost | None = None

    @property
    def shown(self) -> Cost:
        """The cost the table shows: a group's total, else the layer's own."""
        return self.total if self.total is not None else self.cost


@dataclass(frozen=True)
class Summary:
    """Per-layer rows and network totals (see the module conventions)."""

    trace: Trace
    rows: tuple[Row, ...]
    parameters: int
    non_trainable: int
    macs: int
    activation_bytes: int
    #: Sum of the outputs (float32 bytes, batch 1) of the layers with parameters:
    #: what torchinfo doubles into its "Forward/backward pass size".
    trainable_output_bytes: int = 0

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
        return row.shown.parameters / self.parameters if self.parameters else 0.0

    def memory(self, *, batch_size: int = 1, dtype: str = "float32") -> dict[str, int]:
        """torchinfo's memory estimate, in bytes, for ``batch_size`` images of ``dtype``.

        ``input`` (the batch), ``forward_backward`` (twice the outputs of every layer
        with parameters: the outputs kept for the backward pass and their gradients, as
        torchinfo's "Forward/backward pass size"), ``parameters`` (trainable and
        running statistics) and ``total`` (their sum, torchinfo's "Estimated Total
        Size"); ``activations``: every layer's output once (inference).
        """
        size = DTYPES[dtype]

        def per_value(float32_bytes: int) -> int:
            return float32_bytes // BYTES_PER_VALUE * size * batch_size

        memory = {
            "input": per_value(self.input_bytes),
            "activations": per_value(self.activation_bytes),
            "forward_backward": 2 * per_value(self.trainable_output_bytes),
            "parameters": (self.parameters + self.non_trainable) * size,
        }
        memory["total"] = memory["input"] + memory["forward_backward"] + memory["parameters"]
        return memory


def layer_cost(step: Step) -> Cost:
    """Parameters, MACs and output memory of one traced layer (the rules are the
    layer classes' :meth:`~cnnfilter.arch.layers.base.Layer.weights` and
    :meth:`~cnnfilter.arch.layers.base.Layer.macs`, each citing its source).

    ``locally_connected`` is set for conv and depthwise layers: ``Ho Wo`` times
    their weights and biases.

    >>> from cnnfilter.arch.parse import parse_network
    >>> from cnnfilter.arch.shapes import trace
    >>> net = parse_network('''input: [32, 32, 1]
    ... layers: [conv2d: {filters: 5, kernel_size: 3, padding: same, bias: false}]''')
    >>> cost = layer_cost(trace(net).steps[0])
    >>> cost.parameters, cost.macs, cost.locally_connected
    (45, 46080, 46080)
    """
    layer, out = step.layer, step.output
    memory = out.size * BYTES_PER_VALUE
    if step.branches:
        return Cost(activation_bytes=memory if isinstance(layer, Merge) else 0)
    trainable, running = layer.counted if layer.counted is not None else layer.weights(step)
    unshared = None
    if isinstance(layer, Conv2d | DepthwiseConv2d):
        unshared = out.height * out.width * trainable
    return Cost(trainable, running, layer.macs(step), memory, unshared)


def _rows(steps, depth: int, rows: list[Row], train_only: bool = False) -> Cost:
    """Append the rows of ``steps`` (display order) and return their summed cost."""
    total = Cost()
    for step in steps:
        own = layer_cost(step)
        if train_only:
            own = Cost(
                own.parameters, own.non_trainable, 0, own.activation_bytes, own.locally_connected
            )
        inner = Cost()
        if step.branches:
            side = isinstance(step.layer, Merge) and step.layer.train_only
            for _, branch in step.branches:
                inner = _add(inner, _rows(branch, depth + 1, rows, train_only or side))
            rows.append(Row(depth, step, own, _add(inner, own)))
        else:
            rows.append(Row(depth, step, own))
        total = _add(total, _add(inner, own))
    return total


def _add(a: Cost, b: Cost) -> Cost:
    return Cost(
        a.parameters + b.parameters,
        a.non_trainable + b.non_trainable,
        a.macs + b.macs,
        a.activation_bytes + b.activation_bytes,
    )


def summarize(trace: Trace) -> Summary:
    """Cost of every layer (in :meth:`Trace.walk` order) and the totals.

    >>> from cnnfilter.arch.parse import parse_network
    >>> from cnnfilter.arch.shapes import trace
    >>> s = summarize(trace(parse_network('''input: [4, 4, 2]
    ... layers: [batchnorm2d, flatten, dense: {units: 3}]''')))
    >>> s.parameters, s.non_trainable, s.macs
    (103, 4, 96)
    """
    rows: list[Row] = []
    total = _rows(trace.steps, 0, rows)
    trainable_out = sum(
        r.cost.activation_bytes for r in rows if r.total is None and r.cost.parameters > 0
    )
    return Summary(
        trace=trace,
        rows=tuple(rows),
        parameters=total.parameters,
        non_trainable=total.non_trainable,
        macs=total.macs,
        activation_bytes=total.activation_bytes,
        trainable_output_bytes=trainable_out,
    )
