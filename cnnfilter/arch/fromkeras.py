"""Read a Keras model's architecture: the JSON of ``model.to_json()`` or a ``.keras`` file
(a zip holding ``config.json``), with the standard library only (json, zipfile).

Sequential and Functional models (Keras 2 and Keras 3 configs). Each layer's
``class_name`` is looked up in the ``arch.yaml`` registry, which already takes Keras'
spellings (``Conv2D``, ``MaxPooling2D``, ``BatchNormalization``...) and option names
(``strides``, ``dilation_rate``, ``use_bias``, ``pool_size``); Keras options the
counting does not need (initializers, regularizers, dtype...) are ignored. The
parameters are then those ``model.summary()`` prints: BatchNormalization's gamma and
beta trainable, its moving mean and variance non-trainable. A layer whose class is
not known (a custom layer) is one marked row that passes its input on, with its
parameters unknown (counted 0), and a warning says so.

No weights are read: a ``.keras`` file's ``model.weights.h5`` is never opened.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from cnnfilter.arch import layers as L
from cnnfilter.arch.fromonnx import ModelGraph
from cnnfilter.arch.graph import Node, build_layers
from cnnfilter.arch.layers.base import Shape
from cnnfilter.arch.layers.options import OptionError
from cnnfilter.arch.layers.registry import LAYER_TYPES, option_specs
from cnnfilter.arch.layers.structure import Imported
from cnnfilter.errors import UsageError

__all__ = ["MAX_CONFIG_BYTES", "read_keras"]

MAX_CONFIG_BYTES = 50_000_000
"""Largest model config read, in bytes."""

_MERGE_CLASSES = {"Add": "add", "Concatenate": "concat", "Multiply": "multiply"}
_KERAS_ACTIVATIONS = {"linear": None, "swish": "silu", "relu": "relu"}


def _read_config(path: Path) -> dict:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                try:
                    info = archive.getinfo("config.json")
                except KeyError:
                    raise UsageError(
                        f"{path}: the zip holds no config.json; fix: save the model with "
                        "model.save('model.keras') (Keras 3)"
                    ) from None
                if info.file_size > MAX_CONFIG_BYTES:
                    raise UsageError(f"{path}: config.json is larger than {MAX_CONFIG_BYTES} bytes")
                text = archive.read(info).decode("utf-8")
        else:
            with open(path, "rb") as fh:
                text = fh.read(MAX_CONFIG_BYTES + 1).decode("utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the model file ({exc.strerror})") from None
    except (zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a Keras model file ({exc}); fix: give model.to_json() "
                         "output or a .keras file") from None  # fmt: skip
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise UsageError(
            f"{path}: not valid JSON ({exc}); fix: give the text of model.to_json()"
        ) from None
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise UsageError(
            f"{path}: not a Keras model config (no class_name and config); fix: give the "
            "text of model.to_json() or a .keras file"
        )
    return config


def _layer_input(config: dict) -> list | None:
    for key in ("batch_shape", "batch_input_shape"):
        if isinstance(config.get(key), list):
            return config[key]
    return None


def _shape(dims: list | None, path: Path, given: Shape | None) -> Shape:
    if given is not None:
        return given
    rest = list(dims or [])[1:]
    if not rest or not all(isinstance(d, int) and d >= 1 for d in rest):
        raise UsageError(f"{path}: the model's input has the size {dims}; fix: give --input HxWxC")
    if len(rest) == 3:
        return Shape(*rest)
    if len(rest) == 1:
        return Shape(1, 1, rest[0], flat=True)
    raise UsageError(f"{path}: an input of {len(rest)} dimensions {rest} is not an image")


def _convert(class_name: str, config: dict, name: str) -> L.Layer | None:
    """The arch layer for one Keras layer, or ``None`` when its class is unknown."""
    kind = L.canonical_type(class_name)
    if class_name == "Activation":
        kind = _KERAS_ACTIVATIONS.get(config.get("activation"), config.get("activation"))
        kind = L.canonical_type(kind) if kind else "identity"
    elif class_name == "ReLU":
        kind = "relu6" if config.get("max_value") == 6 else "relu"
    if kind is None or kind not in LAYER_TYPES:
        return None
    cls, fixed = LAYER_TYPES[kind]
    specs = option_specs(cls)
    spelling = {a: opt for opt, f in specs.items() for a in (opt, *f.metadata["aliases"])}
    values: dict[str, Any] = {}
    for key, value in config.items():
        option = spelling.get(key)
        if option is None or option in values or option in ("in_features", "num_features"):
            continue
        if option == "activation":
            value = _KERAS_ACTIVATIONS.get(value, value)
        if option == "dim" and cls is L.Softmax:
            continue
        try:
            values[option] = specs[option].metadata["convert"](value)
        except OptionError:
            return None
    if cls is L.BatchNorm2d:
        values.pop("momentum", None)
        values["affine"] = bool(config.get("scale", True) or config.get("center", True))
    return cls(name=name, line=0, type=kind, **fixed, **values)


def _keras_batchnorm(config: dict, channels: int) -> tuple[int, int]:
    trainable = channels * (bool(config.get("scale", True)) + bool(config.get("center", True)))
    return trainable, 2 * channels


def _inbound(entry) -> list[str]:
    """Layer names a node reads: Keras 2 ``[[name, 0, 0, {}], ...]`` or Keras 3
    ``{"args": [tensor or [tensors]], ...}`` with ``keras_history``."""
    names: list[str] = []

    def visit(value):
        if isinstance(value, dict):
            history = value.get("config", {}).get("keras_history")
            if value.get("class_name") == "__keras_tensor__" and history:
                names.append(history[0])
                return
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
                names.append(value[0])
                return
            for item in value:
                visit(item)

    visit(entry.get("args", entry) if isinstance(entry, dict) else entry)
    return names


def _nodes(entries: list, functional: bool):
    """Graph nodes of the layer entries, the unknown classes, the BatchNormalization
    configs and the first input size found."""
    unknown: list[str] = []
    nodes: list[Node] = []
    batchnorm: dict[str, dict] = {}
    first_input = None
    previous = "input"
    for i, entry in enumerate(entries):
        class_name = entry.get("class_name", "?")
        layer_config = entry.get("config", {}) if isinstance(entry.get("config"), dict) else {}
        name = str(layer_config.get("name") or entry.get("name") or f"layer_{i}")
        dims = _layer_input(layer_config)
        if dims is not None and first_input is None:
            first_input = dims
        if class_name == "InputLayer":
            previous = name if functional else previous
            continue
        inputs = _inbound(entry.get("inbound_nodes", [])) if functional else [previous]
        if not inputs:
            inputs = [previous]
        if class_name in _MERGE_CLASSES and len(inputs) >= 2:
            nodes.append(Node(name, None, inputs, name, op=_MERGE_CLASSES[class_name]))
        else:
            layer = _convert(class_name, layer_config, name)
            if layer is None:
                unknown.append(f"{name} ({class_name})")
                layer = Imported(name=name, line=0, type=f"{class_name} (unknown layer)",
                                 op=class_name, known=False)  # fmt: skip
            if isinstance(layer, L.BatchNorm2d):
                batchnorm[name] = layer_config
            nodes.append(Node(name, layer, inputs[:1], name))
        previous = name
    return nodes, unknown, batchnorm, first_input


def read_keras(path: str | Path, *, input_shape: Shape | None = None) -> ModelGraph:
    """Read a Keras model config (see the module docstring).

    Raises:
        UsageError: not a Keras config, an input of unknown size without ``input_shape``,
            a Functional model whose layers do not connect.
    """
    path = Path(path)
    config = _read_config(path)
    model = config["config"]
    entries = model.get("layers", []) if isinstance(model, dict) else []
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{path}: the model config lists no layers")
    functional = any(e.get("inbound_nodes") for e in entries if isinstance(e, dict))
    nodes, unknown, batchnorm, first_input = _nodes(entries, functional)
    net_input = _shape(first_input, path, input_shape)
    source = "input"
    if functional:
        starts = [e for e in entries if e.get("class_name") == "InputLayer"]
        if len(starts) != 1:
            raise UsageError(f"{path}: {len(starts)} input layers; fix: one input is read")
        source = starts[0].get("config", {}).get("name") or starts[0].get("name")
    outputs = model.get("output_layers") if functional else None
    output = _inbound(outputs)[0] if outputs else nodes[-1].output
    try:
        built, apart = build_layers(nodes, source, output)
    except (KeyError, IndexError):
        raise UsageError(f"{path}: the output layer is not reached from the input") from None
    if apart:
        names = ", ".join(n.name for n in apart[:5])
        raise UsageError(
            f"{path}: {len(apart)} layer(s) off the path from the input to the output or shared "
            f"by branches ({names}); fix: only single-input, single-output models are read"
        )
    built = _keras_counts(built, batchnorm, net_input, str(path))
    warnings = []
    if unknown:
        warnings.append(
            f"{len(unknown)} layer class(es) cnnfilter does not know (custom layers?), listed "
            "as marked rows that pass their input on, parameters not counted: "
            + ", ".join(unknown[:10])
        )
    network = L.Network(name=model.get("name") or path.stem, input=net_input, layers=built,
                        source=str(path))  # fmt: skip
    return ModelGraph(network, warnings, unknown, [u.split(" ")[0] for u in unknown], [])


def _keras_counts(layers, batchnorm: dict, net_input: Shape, source: str):
    """BatchNormalization with ``center`` or ``scale`` off: Keras' own split."""
    if not any(not (c.get("scale", True) and c.get("center", True)) for c in batchnorm.values()):
        return layers
    import dataclasses

    from cnnfilter.arch.shapes import trace

    steps = {s.layer.name: s for _, s in trace(L.Network("m", net_input, layers, source)).walk()}

    def fix(items):
        out = []
        for layer in items:
            if isinstance(layer, L.Merge):
                branches = tuple((n, fix(b)) for n, b in layer.branches)
                layer = dataclasses.replace(layer, branches=branches)
            elif layer.name in batchnorm:
                channels = steps[layer.name].input.channels
                counted = _keras_batchnorm(batchnorm[layer.name], channels)
                layer = dataclasses.replace(layer, counted=counted)
            out.append(layer)
        return tuple(out)

    return fix(layers)
