"""``forward model.onnx``: run an ONNX model on one photo and keep every layer's feature maps.

Needs ``onnx`` (reads and edits the graph) and, to be fast, ``onnxruntime`` (runs it):
``pip install 'cnnfilter[onnxruntime]'`` installs both; they are imported here only,
when a model file is given.

**Which outputs are layers.** Every output of every node (``Constant`` nodes aside)
whose element type is a float (float32, float16, double, bfloat16) is made a graph
output, so the runtime returns it too; of the arrays it returns, those of shape
``1 x C x H x W`` are a layer's feature maps (written as ``H x W x C``, the engine's
layout) and those of shape ``1 x F`` a vector (a ``Gemm``, ``Flatten``, ``Softmax``
output). Anything else (shape arithmetic, 3-D token sequences, a batch above 1) is left
out, listed under ``skipped`` in the summary and counted in a note. Layers are named by
their node (``/layer1/layer1.0/conv1/Conv`` as PyTorch exports them; the output
tensor's name when the node has none; ``#k`` for a node's k-th output after the first).
All maps of a pass are in memory at once (for a torchvision ResNet-50 at 224 x 224, 122
layers, 106 MB).

**The input**, as torchvision's ImageNet evaluation transforms make it
(``Resize(256)``, ``CenterCrop(224)``, ``ToTensor()``, ``Normalize(mean, std)``):

1. the photo, alpha dropped, scaled to 0..1 (:func:`cnnfilter.tasks.forward.read_input`);
   a gray photo is repeated on the three channels of a colour model, a colour photo
   made gray (ITU-R 601 luma) for a one-channel model; other channel counts need a
   ``.npy`` map of as many channels;
2. resized with Pillow's antialiased bilinear filter (:mod:`cnnfilter.engine.resize`),
   on the floats as torchvision's tensor path does (the same to 2e-5; its PIL path
   works on 8-bit pixels in fixed point, within one grey level; measured by
   ``tests/data/check_onnx_forward_torch.py``):

   * ``size=N``: the shorter side to ``N`` pixels, then the centre crop of the
     model's height x width (none when the model's height and width are dynamic);
   * ``size=(h, w)``: exactly ``h x w``, no crop;
   * ``size=None``: for a model of fixed ``h x w``, the shorter side to
     ``round(max(h, w) / 0.875)`` (256 for 224, torchvision's ratio) then the centre
     crop; for a model of dynamic size, the photo as it is;

3. ``(x - mean) / std`` per channel, ``mean``/``std`` by default ImageNet's
   (:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`) for a three-channel model and 0 / 1
   for others;
4. ``1 x C x H x W`` in the model's input element type; symbolic batch, height and
   width are set from the photo.

**Why onnxruntime, with onnx's reference evaluator as the fallback.** The two
candidates (numbers and the table in ``docs/forward.md``; ``benchmarks/forward_onnx.py``):

* correctness: both agree with the engine's layers (:mod:`cnnfilter.engine.layers`,
  checked against PyTorch) to 1e-6 relative on every map of ResNet-18's stem and first
  stage, and pass ``tests/tasks/test_forward_onnx.py`` at 1e-4;
* speed: ``onnx.reference.ReferenceEvaluator`` (NumPy code written to be read, the
  specification's reference) is 28-93x slower than onnxruntime on that stem (few
  channels per convolution) and about 5x on a whole ResNet-50 pass (2.0-2.1 s against
  0.4-0.5 s), where reading the files and drawing the montages take longer than either;
* install size: onnxruntime 80 MB (MLAS and the CPU kernels, plus flatbuffers);
  the reference evaluator nothing beyond the ``onnx`` package (26 MB) that reading the
  graph needs anyway.

So ``runtime="auto"`` runs onnxruntime when it is installed (the ``onnxruntime`` extra,
which includes ``onnx``), else the reference evaluator with a note naming the extra:
slower but the same maps, so a user with only ``cnnfilter[onnx]`` still gets the
pictures. Without ``onnx`` itself, one line names the extra (exit 2 in the CLI).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cnnfilter.errors import ProcessingError, UsageError

if TYPE_CHECKING:
    import numpy as np

    from cnnfilter.tasks.forward import ForwardResult

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ORT_HINT",
    "Layer",
    "forward_onnx",
    "parse_floats",
    "parse_size",
    "prepare",
    "run_model",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""torchvision's ImageNet channel means (RGB, of 0..1 pixels)."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""torchvision's ImageNet channel standard deviations (RGB, of 0..1 pixels)."""
CROP_RATIO = 0.875
"""torchvision's ImageNet evaluation: crop 224 of a shorter side of 256."""

ORT_HINT = "pip install 'cnnfilter[onnxruntime]'"
RUNTIMES = ("auto", "onnxruntime", "reference")

#: TensorProto element types that are floats
_FLOAT_TYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16"}


@dataclass(frozen=True)
class Layer:
    """One node output shown as a layer: ``name``, the op (``type``), the tensor."""

    name: str
    type: str
    tensor: str
    elem: int = 1
    """ONNX element type of the tensor (1: float32)"""


def parse_size(text: str | None) -> int | tuple[int, int] | None:
    """``"256"`` -> 256 (the shorter side); ``"224x224"`` -> (224, 224) (exact size).

    >>> parse_size("256"), parse_size("224x320"), parse_size(None)
    (256, (224, 320), None)

    Raises:
        UsageError: anything else, naming ``size``.
    """
    if text is None:
        return None
    parts = text.lower().replace(",", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 1:
        raise UsageError(
            f"size={text!r} is not a size; give the shorter side (256) or an exact HxW (224x224)"
        )
    return values[0] if len(values) == 1 else (values[0], values[1])


def parse_floats(text: str | None, name: str) -> tuple[float, ...] | None:
    """``"0.485,0.456,0.406"`` -> a tuple of floats (one value or one per channel).

    >>> parse_floats("0.5", "mean"), parse_floats("1, 2,3", "std")
    ((0.5,), (1.0, 2.0, 3.0))

    Raises:
        UsageError: not comma-separated finite numbers, naming ``name``.
    """
    if text is None:
        return None
    try:
        values = tuple(float(p) for p in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(math.isfinite(v) for v in values):
        raise UsageError(f"{name}={text!r} is not a list of numbers; give e.g. 0.485,0.456,0.406")
    return values


# ------------------------------------------------------------------ the model


def _import_runtime(runtime: str):
    """``(onnx, onnxruntime or None)`` for ``runtime`` (one of :data:`RUNTIMES`)."""
    from cnnfilter.arch.fromonnx import _import_onnx

    if runtime not in RUNTIMES:
        raise UsageError(f"runtime={runtime!r} is not one of {', '.join(RUNTIMES)}")
    try:
        onnx = _import_onnx()
    except UsageError:
        raise UsageError(
            f"running ONNX models needs the onnx and onnxruntime packages; fix: {ORT_HINT}"
        ) from None
    if runtime == "reference":
        return onnx, None
    try:
        import onnxruntime
    except ImportError:
        if runtime == "onnxruntime":
            raise UsageError(
                f"runtime='onnxruntime' needs the onnxruntime package; fix: {ORT_HINT}"
            ) from None
        return onnx, None
    return onnx, onnxruntime


def _load(onnx, path: Path):
    from cnnfilter.arch.fromonnx import model_read_errors

    with model_read_errors(path):
        return onnx.load(str(path))


def _image_input(model, path: Path):
    """The one data input, checked to be ``N x C x H x W`` float with a fixed C."""
    from cnnfilter.arch.fromonnx import data_input

    value = data_input(model, path, "forward runs models with one image input")
    tensor = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    channels = dims[1] if len(dims) == 4 else None
    if len(dims) != 4 or tensor.elem_type not in _FLOAT_TYPES or not channels:
        shape = " x ".join("?" if d is None else str(d) for d in dims) or "unknown"
        raise UsageError(
            f"{path}: the input '{value.name}' ({shape}) is not an image batch N x C x H x W "
            "of floats with a fixed number of channels; fix: forward runs image models only"
        )
    return value, channels, (dims[2], dims[3])


def _layers(model) -> list[Layer]:
    """Every float output of every node except ``Constant``, in graph order."""
    types = {}
    for value in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        types[value.name] = value.type.tensor_type.elem_type
    out, seen = [], set()
    for index, node in enumerate(model.graph.node):
        if node.op_type == "Constant":
            continue
        base = node.name or (node.output[0] if node.output else f"{node.op_type}_{index}")
        for k, tensor in enumerate(node.output):
            if not tensor or types.get(tensor) not in _FLOAT_TYPES:
                continue
            name = base if k == 0 else f"{base}#{k}"
            while name in seen:
                name += "'"
            seen.add(name)
            out.append(Layer(name, node.op_type, tensor, types[tensor]))
    return out


def _set_input(model, name: str, shape: tuple[int, ...]) -> None:
    for value in model.graph.input:
        if value.name == name:
            for proto, size in zip(value.type.tensor_type.shape.dim, shape, strict=True):
                proto.ClearField("dim_param")
                proto.dim_value = size


def _check_not_empty(light, layers: list[Layer], shape: tuple[int, ...], path: Path) -> None:
    """Refuse an input so small that shape inference gives a layer an empty map (a photo
    smaller than the model's windows need), before the runtime fails on it."""
    dims = {}
    for value in [*light.graph.value_info, *light.graph.output]:
        dims[value.name] = [
            d.dim_value if d.HasField("dim_value") else None
            for d in value.type.tensor_type.shape.dim
        ]
    for layer in layers:
        got = dims.get(layer.tensor) or []
        if any(d is not None and d <= 0 for d in got):
            shown = " x ".join("?" if d is None else str(d) for d in got)
            raise UsageError(
                f"{path}: on a {shape[2]} x {shape[3]} input, layer '{layer.name}' "
                f"({layer.type}) would make an empty map ({shown}): the photo is smaller than "
                "the model's windows need; fix: give a larger size, such as the model's own "
                "(size=224), or a larger photo"
            )


def _session(onnx, ort, model, light, input_name: str, shape: tuple[int, ...], path: Path):
    """The model with ``shape`` as its input and every layer an output, ready to run.

    ``light`` is the same model without the values of its large initializers
    (:func:`cnnfilter.arch.fromonnx._load`): shape inference runs on it, which takes
    milliseconds where the full model takes seconds. Returns ``(run, layers, label)``:
    ``run(names, feeds)`` gives the arrays of the tensors ``names``; ``label`` names the
    runtime (onnxruntime, or ``ort=None``: onnx's reference evaluator).
    """
    _set_input(model, input_name, shape)
    _set_input(light, input_name, shape)
    try:
        light = onnx.shape_inference.infer_shapes(light)
    except Exception as exc:  # onnx raises its own InferenceError and others
        raise UsageError(
            f"{path}: shape inference failed for a {' x '.join(map(str, shape))} input "
            f"({str(exc).splitlines()[0][:100]}); fix: give the size the model expects with --size"
        ) from None
    layers = _layers(light)
    _check_not_empty(light, layers, shape, path)
    present = {o.name for o in model.graph.output}
    for layer in layers:
        if layer.tensor not in present:
            model.graph.output.append(onnx.ValueInfoProto(name=layer.tensor))
            model.graph.output[-1].type.tensor_type.elem_type = layer.elem
    try:
        if ort is None:
            from onnx.reference import ReferenceEvaluator

            label = f"onnx {onnx.__version__} ReferenceEvaluator"
            return ReferenceEvaluator(model).run, layers, label
        options = ort.SessionOptions()
        options.log_severity_level = 4  # fatal only: a failed run is our one error line
        session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime's Fail / InvalidGraph / NotImplemented, onnx's
        raise UsageError(
            f"{path}: {'onnx' if ort is None else 'onnxruntime'} cannot load the model "
            f"({str(exc).splitlines()[0][:120]})"
        ) from None
    return session.run, layers, f"onnxruntime {ort.__version__} (CPU)"


# ------------------------------------------------------------------ the input


def _channels(x: np.ndarray, channels: int) -> tuple[np.ndarray, str | None]:
    import numpy as np

    if x.shape[2] == channels:
        return x, None
    if channels == 3 and x.shape[2] == 1:
        return np.repeat(x, 3, axis=2), "gray photo repeated on the model's 3 channels"
    if channels == 1 and x.shape[2] in (3, 4):
        luma = x[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return luma[..., None], "colour photo made gray (ITU-R 601 luma) for a 1-channel model"
    fix = "a gray or RGB photo" if channels in (1, 3) else f"a .npy map with {channels} channels"
    raise UsageError(
        f"the photo has {x.shape[2]} channels and the model takes {channels}; fix: give {fix}"
    )


def _target(x_hw, size, model_hw) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """``(resize to, crop to)`` for the photo's ``x_hw``; ``None`` where nothing is done."""
    from cnnfilter.engine.resize import shorter_side_size

    fixed = None if None in model_hw or 0 in model_hw else tuple(model_hw)
    if isinstance(size, tuple):
        if fixed is not None and size != fixed:
            raise UsageError(
                f"size={size[0]}x{size[1]}: the model takes {fixed[0]} x {fixed[1]} pixels; fix: "
                f"give --size {fixed[0]}x{fixed[1]}, or the shorter side (--size 256) to crop"
            )
        return size, None
    if size is None:
        if fixed is None:
            return None, None
        size = round(max(fixed) / CROP_RATIO)
    return shorter_side_size(x_hw, size), fixed


def _check_resize(resize, size, max_pixels: int | None) -> None:
    """Refuse a resize to more pixels than an image may have (``--size 100000``)."""
    from cnnfilter import imageio

    limit = imageio.DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    if resize is None or resize[0] * resize[1] <= limit:
        return
    given = "x".join(map(str, size)) if isinstance(size, tuple) else size
    raise UsageError(
        f"size={given} would resize the photo to {resize[0]} x {resize[1]} = "
        f"{resize[0] * resize[1]:,} pixels, above the limit of {limit:,}; fix: give a smaller "
        "size (the model's, such as 224), or raise max_pixels if you mean it"
    )


def _normaliser(value, default, channels: int, name: str):
    import numpy as np

    if value is None:
        value = default if channels == 3 else (0.0,) if name == "mean" else (1.0,)
    if len(value) not in (1, channels):
        raise UsageError(
            f"{name}={','.join(map(str, value))}: give one value or {channels} (one per channel)"
        )
    if name == "std" and min(value) <= 0:
        raise UsageError(f"std={','.join(map(str, value))}: every value must be above 0")
    return np.broadcast_to(np.asarray(value, dtype=np.float32), (channels,))


def _check_crop(hw, crop, size) -> None:
    """Refuse a centre crop larger than the resized photo, naming ``size`` (--size)."""
    if crop[0] <= hw[0] and crop[1] <= hw[1]:
        return
    given = f"size={size}" if size is not None else "the default size"
    need = max(crop)
    raise UsageError(
        f"{given}: the photo resized to {hw[0]} x {hw[1]} is smaller than the model's "
        f"{crop[0]} x {crop[1]} input; fix: give size={need} (shorter side) or "
        f"size={crop[0]}x{crop[1]} (exact)"
    )


def prepare(
    x: np.ndarray, channels: int, model_hw, *, size=None, mean=None, std=None, max_pixels=None
):
    """The ``(H, W, C)`` 0..1 photo ``x`` as the normalised ``(h, w, channels)`` input.

    Returns ``(array float32, report dict)``; see the module docstring for the steps.

    Raises:
        UsageError: a size the model does not take, a crop larger than the resized
            photo, a resized photo of more than ``max_pixels`` pixels (default: the
            image reader's limit), ``mean``/``std`` of the wrong length, a ``std`` value
            not above 0, ``mean``/``std`` that make the input overflow float32.
    """
    import numpy as np

    from cnnfilter.engine.resize import center_crop, resize_bilinear

    m = _normaliser(mean, IMAGENET_MEAN, channels, "mean")
    s = _normaliser(std, IMAGENET_STD, channels, "std")
    x, converted = _channels(x, channels)
    original = list(x.shape[:2])
    resize, crop = _target(x.shape[:2], size, model_hw)
    _check_resize(resize, size, max_pixels)
    if resize is not None and resize != x.shape[:2]:
        x = resize_bilinear(x, resize)
    if crop is not None:
        _check_crop(x.shape[:2], crop, size)
        x = center_crop(x, crop)
    with np.errstate(over="ignore"):
        x = (x - m) / s
    if not np.isfinite(x).all():
        raise UsageError(
            f"mean={','.join(map(str, m))} and std={','.join(map(str, s))} make the model's "
            "input overflow float32 (inf); fix: give values on the photo's 0..1 scale, such as "
            "ImageNet's (leave both out)"
        )
    report = {
        "photo_size": original,
        "resized": list(resize) if resize is not None else None,
        "cropped": list(crop) if crop is not None else None,
        "shape": list(x.shape),
        "scaling": "divided by full white: 0..1, then (x - mean) / std",
        "mean": [float(v) for v in m],
        "std": [float(v) for v in s],
        "channels": converted,
    }
    return x.astype("float32", copy=False), report


# ------------------------------------------------------------------ the task


def _as_map(y: np.ndarray) -> np.ndarray | None:
    """A returned array as the engine's layout: ``(H, W, C)`` or ``(F,)``; None otherwise."""
    import numpy as np

    if y.ndim == 4 and y.shape[0] == 1:
        return np.ascontiguousarray(y[0].transpose(1, 2, 0), dtype=np.float32)
    if y.ndim == 2 and y.shape[0] == 1:
        return np.asarray(y[0], dtype=np.float32)
    return None


def run_model(
    model_path: str | Path,
    photo: str | Path,
    *,
    size: int | tuple[int, int] | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    max_pixels: int | None = None,
    runtime: str = "auto",
):
    """Run the ONNX model on the photo: every layer's map, in graph order.

    ``runtime``: ``"onnxruntime"``, ``"reference"`` (onnx's ReferenceEvaluator) or
    ``"auto"`` (onnxruntime when installed, else the reference evaluator).

    Returns ``(input report, [(Layer, (H, W, C) or (F,) float32)], skipped names)``;
    the report's ``runtime`` names what ran.

    Raises:
        UsageError: missing ``onnx``/``onnxruntime`` (naming the extra), an unreadable
            model, a model that is not an image model, a bad photo or preprocessing.
        ProcessingError: the runtime failed while running the model.
    """
    import numpy as np

    from cnnfilter.tasks.forward import read_input

    path = Path(model_path)
    onnx, ort = _import_runtime(runtime)
    from cnnfilter.arch.fromonnx import _load as load_light

    _, light = load_light(path)  # one-line errors for unreadable files, before the full load
    value, channels, model_hw = _image_input(light, path)
    model = _load(onnx, path)
    x, report = prepare(
        read_input(photo, max_pixels=max_pixels), channels, model_hw, size=size, mean=mean,
        std=std, max_pixels=max_pixels,
    )  # fmt: skip
    elem = _FLOAT_TYPES[value.type.tensor_type.elem_type]
    batch = np.ascontiguousarray(x.transpose(2, 0, 1)[None]).astype(
        np.float32 if elem == "bfloat16" else elem
    )
    run, layers, label = _session(onnx, ort, model, light, value.name, batch.shape, path)
    try:
        arrays = run([layer.tensor for layer in layers], {value.name: batch})
    except Exception as exc:  # onnxruntime's RuntimeException and kin; numpy's errors
        raise ProcessingError(
            f"{path}: {label} failed on the photo ({str(exc).splitlines()[0][:160]})"
        ) from None
    shown, skipped = [], []
    for layer, y in zip(layers, arrays, strict=True):
        y = _as_map(np.asarray(y))
        if y is None:
            skipped.append(layer.name)
        else:
            shown.append((layer, y))
    report["model_input"] = {"name": value.name, "shape": list(batch.shape), "type": elem}
    report["runtime"] = label
    return report, shown, skipped


def forward_onnx(
    model_path: str | Path,
    photo: str | Path,
    *,
    output: str | Path,
    size: int | tuple[int, int] | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    layer: str | None = None,
    npz: bool = False,
    scale: str = "tile",
    force: bool = False,
    max_pixels: int | None = None,
    runtime: str = "auto",
) -> ForwardResult:
    """Run an ONNX model on ``photo``; write the files :func:`cnnfilter.tasks.forward.forward`
    writes for an arch file: ``NN_<layer>.png`` montages, ``summary.json``, ``activations.npz``.

    ``layer`` matches a layer's name or its output tensor's name; ``scale`` is the
    montages' colour scale, as for an arch file. See the module docstring for the
    input's preprocessing and which node outputs are layers.

    Raises:
        UsageError: see :func:`run_model`; an unknown ``layer``; existing outputs
            without ``force``.
        ProcessingError: onnxruntime failed while running the model.
    """
    from cnnfilter.arch.names import check_layer
    from cnnfilter.render import MONTAGE_SCALES, montage_colours
    from cnnfilter.tasks import forward as fw

    if scale not in MONTAGE_SCALES:
        raise UsageError(f"scale={scale!r} is not one of {', '.join(MONTAGE_SCALES)}")
    out = fw.Outputs(output, [photo, (model_path, "model file")], force=force)
    fixed = ["summary.json"] + (["activations.npz"] if npz else [])
    out.check(fixed)  # the folder, before the model runs
    report, shown, skipped = run_model(
        model_path, photo, size=size, mean=mean, std=std, max_pixels=max_pixels, runtime=runtime
    )
    check_layer(
        layer, [n.name for n, _ in shown], model_path, also=tuple(n.tensor for n, _ in shown)
    )
    names = {
        index: fw.montage_name(index, node.name)
        for index, (node, _) in enumerate(shown, start=1)
        if layer is None or layer in (node.name, node.tensor)
    }
    out.check([*names.values(), *fixed])  # every file, before the first is written
    result = fw.ForwardResult(report={})
    entries = []
    try:
        for index, (node, y) in enumerate(shown, start=1):
            entry = {"name": node.name, "type": node.type, "tensor": node.tensor, **fw._stats(y)}
            fw._note_non_finite(result.notes, node.name, y)
            if index in names:
                picture = fw._montage_png(node, y, scale=scale)
                result.written.append(out.write(names[index], picture))
                entry["picture"] = names[index]
                entry["colours"] = montage_colours(y)
            entries.append(entry)
        result.report = {
            "model": str(model_path),
            "photo": str(photo),
            "input": report,
            "runtime": report.pop("runtime"),
            "skipped": skipped,
            "montage_scale": scale,
            "layers": entries,
        }
        if "Reference" in result.report["runtime"] and runtime == "auto":
            result.notes.append(
                "onnxruntime is not installed: ran onnx's reference evaluator (30-90x slower, "
                f"same maps); fix: {ORT_HINT}"
            )
        if skipped:
            result.notes.append(
                f"{len(skipped)} node outputs are not 1 x C x H x W or 1 x F maps and are not shown"
            )
        result.written.append(out.write("summary.json", fw._json_bytes(result.report)))
        if npz:
            data = fw._npz_bytes({n.name: y for n, y in shown})
            result.written.append(out.write("activations.npz", data))
    except BaseException:  # an error, Ctrl-C or SIGTERM mid-run: no partial output
        out.undo()
        raise
    return result


def forward_any(
    arch: str | Path,
    photo: str | Path,
    *,
    size: int | tuple[int, int] | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    runtime: str = "auto",
    **options,
) -> ForwardResult:
    """``cnnfilter forward`` for any ``arch``: an ONNX model file through
    :func:`forward_onnx`, a layer file or built-in name through
    :func:`cnnfilter.tasks.forward.forward` (``options``: its keywords).

    Raises:
        UsageError: ``size``/``mean``/``std``/``runtime`` with a layer file (they
            preprocess an ONNX model's input); ``weights``/``init`` with an ONNX model
            (it carries its weights); a Keras model file; and what the two raise.
    """
    from cnnfilter.tasks import forward as fw
    from cnnfilter.tasks.arch import model_kind

    kind = model_kind(arch)
    if kind is None:
        given = [k for k, v in (("size", size), ("mean", mean), ("std", std)) if v is not None]
        if given or runtime != "auto":
            raise UsageError(
                f"{(given or ['runtime'])[0]}= is for ONNX models only (an arch file runs on "
                "the engine, its input the photo scaled to 0..1); fix: leave it out"
            )
        return fw.forward(arch, photo, **options)
    if kind != "onnx":
        raise UsageError(
            f"{arch}: forward runs arch.yaml layer files, built-in names and ONNX models; "
            f"running {kind} model files is not supported yet"
        )
    if options.pop("weights", None) is not None or options.pop("init", None) is not None:
        raise UsageError(
            f"{arch}: an ONNX model carries its own weights; fix: leave out weights= and init="
        )
    for key in ("layout", "seed"):
        options.pop(key, None)
    return forward_onnx(arch, photo, size=size, mean=mean, std=std, runtime=runtime, **options)
