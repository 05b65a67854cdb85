"""Turn a model file's graph (ONNX nodes, Keras layers) into the layer tree of an
``arch.yaml``: a sequence of layers with merges whose branches are sequences.

The importers (:mod:`cnnfilter.arch.fromonnx`, :mod:`cnnfilter.arch.fromkeras`) give
a list of :class:`Node` in topological order; each reads one or more *data* tensors
(the feature maps, not weights or shape constants) and writes one. A node with one
data input extends the sequence; a node with several (``add``, ``concat``,
``multiply``) is a :class:`~cnnfilter.arch.layers.structure.Merge` whose branches start at the
tensor that *dominates* its inputs (every path from the model input to them passes
through it), found with the dominator-tree rule of Cooper, Harvey & Kennedy, "A
Simple, Fast Dominance Algorithm" (2001) on a graph already in topological order.
A ResNet, Inception, DenseNet or U-Net graph is series-parallel and becomes exactly
the tree its ``arch.yaml`` would write. A node the walk back from the output does not
reach (a second output, an auxiliary head) or reaches twice (a tensor two branches
share) is not dropped: see :func:`build_layers`.

``group_by_name`` then nests consecutive layers whose names share a prefix
(``/layer1/layer1.0/conv1/Conv`` or ``layer1.0.conv1``) in
:class:`~cnnfilter.arch.layers.structure.Block` rows, so that ``--depth`` collapses them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cnnfilter.arch.layers.base import Layer
from cnnfilter.arch.layers.structure import Block, Merge

__all__ = ["Node", "build_layers", "flat_layers", "group_by_name", "name_path"]


@dataclass
class Node:
    """One graph node: ``layer`` (``None`` for a merge), the merge ``op`` (``add``,
    ``concat``, ``multiply``), its data input tensor names and its output tensor name."""

    name: str
    layer: Layer | None
    inputs: list[str]
    output: str
    op: str = ""


def _dominators(nodes: list[Node], source: str) -> dict[str, str]:
    """Immediate dominator of every data tensor reachable from ``source``."""
    idom: dict[str, str] = {source: source}
    order = {source: 0}
    for i, node in enumerate(nodes, 1):
        ins = [t for t in node.inputs if t in idom]
        if not ins:
            continue
        if len(ins) == 1:
            idom[node.output] = ins[0]
        else:
            common = ins[0]
            for other in ins[1:]:
                common = _intersect(common, other, idom, order)
            idom[node.output] = common
        order[node.output] = i
    return idom


def _intersect(a: str, b: str, idom: dict[str, str], order: dict[str, int]) -> str:
    while a != b:
        while order[a] > order[b]:
            a = idom[a]
        while order[b] > order[a]:
            b = idom[b]
    return a


def build_layers(
    nodes: list[Node], source: str, output: str
) -> tuple[tuple[Layer, ...], list[Node]]:
    """The layer sequence from tensor ``source`` to tensor ``output``, and the nodes
    that sequence does not hold once (unreached, or reached twice: the caller lists
    them apart so that nothing is dropped or counted twice).

    Raises:
        KeyError: ``output`` is not reachable from ``source``.
    """
    producer = {node.output: node for node in nodes}
    idom = _dominators(nodes, source)
    if output not in idom:
        raise KeyError(output)
    placed: dict[str, int] = {}

    def seq(start: str, end: str) -> list[Layer]:
        layers: list[Layer] = []
        tensor = end
        while tensor != start:
            node = producer[tensor]
            placed[node.name] = placed.get(node.name, 0) + 1
            ins = [t for t in node.inputs if t in idom]
            if node.layer is not None:
                layers.append(node.layer)
                tensor = ins[0]
                continue
            fork = idom[tensor]
            branches = tuple((str(i), tuple(seq(fork, t))) for i, t in enumerate(ins))
            layers.append(
                Merge(name=node.name, line=0, type=node.op, op=node.op, branches=branches)
            )
            tensor = fork
        return layers[::-1]

    layers = seq(source, output)
    apart = [node for node in nodes if placed.get(node.name, 0) != 1 and node.output in idom]
    return tuple(layers), apart


def flat_layers(nodes: list[Node], shapes: dict, source: str) -> tuple[Layer, ...]:
    """Every node as one :class:`~cnnfilter.arch.layers.structure.Imported` row in graph order,
    each costed on its own recorded input shape (``shapes``: tensor name ->
    :class:`~cnnfilter.arch.layers.base.Shape`): the listing when the graph is not a tree
    of branches. Receptive fields are then not followed through the rows."""
    from cnnfilter.arch.layers.structure import Imported
    from cnnfilter.arch.shapes import _step

    out: list[Layer] = []
    for node in nodes:
        layer = node.layer
        shape_in = shapes.get(node.inputs[0]) if node.inputs else None
        shape_out = shapes.get(node.output)
        if layer is None or shape_in is None:
            counted = layer.counted if layer is not None else None
            op = node.op if layer is None else layer.type
            out.append(Imported(name=node.name, line=0, type=op, op=op, output_shape=shape_out,
                                counted=counted or (0, 0)))  # fmt: skip
            continue
        step = _step(layer, shape_in, source)
        counted = layer.counted if layer.counted is not None else layer.weights(step)
        known = not isinstance(layer, Imported) or layer.known
        out.append(
            Imported(name=node.name, line=0, type=layer.type, op=layer.type,
                     output_shape=shape_out or step.output, counted=counted,
                     mac_count=layer.macs(step), known=known)
        )  # fmt: skip
    return tuple(out)


def name_path(name: str) -> list[str]:
    """The group prefixes of a node name, outermost first (the leaf excluded).

    >>> name_path("/layer1/layer1.0/conv1/Conv"), name_path("layer1.0.conv1")
    (['layer1', 'layer1.0', 'conv1'], ['layer1', 'layer1.0'])
    """
    if "/" in name:
        parts = [p for p in name.split("/") if p]
        return parts[:-1]
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts) - 1)]


def _key(layer: Layer, level: int) -> str | None:
    if isinstance(layer, Block):
        return None
    path = name_path(layer.name)
    return "/".join(path[: level + 1]) if len(path) > level else None


def group_by_name(layers: tuple[Layer, ...], level: int = 0) -> tuple[Layer, ...]:
    """Nest runs of two or more consecutive layers sharing the name prefix of ``level``
    in a :class:`Block` named after it (recursively, and inside merge branches)."""
    out: list[Layer] = []
    i = 0
    while i < len(layers):
        key = _key(layers[i], level)
        j = i + 1
        while key is not None and j < len(layers) and _key(layers[j], level) == key:
            j += 1
        run = [_inside(layer, level) for layer in layers[i:j]]
        if key is not None and len(run) > 1:
            label = key.split("/")[-1]
            inner = group_by_name(tuple(run), level + 1)
            out.append(Block(name=label, line=0, type="group", block="group", layers=inner))
        elif key is not None:
            # one layer with this prefix: look for groups one level deeper in it
            out.append(run[0])
        else:
            out.extend(run)
        i = j
    return tuple(out)


def _inside(layer: Layer, level: int) -> Layer:
    if isinstance(layer, Merge):
        branches = tuple((n, group_by_name(b, level + 1)) for n, b in layer.branches)
        return dataclasses.replace(layer, branches=branches)
    return layer
