"""Read an ONNX model into a :class:`~cnnfilter.arch.layers.base.Network` (``params model.onnx``).

Needs the ``onnx`` package (``pip install 'cnnfilter[onnx]'``), imported here only.
Why ``onnx`` and not ``onnxruntime``: onnxruntime runs a model but exposes no
per-node attributes, initializer shapes or shape inference of a graph whose weights
are left out; ``onnx`` (about 17 MB installed, protobuf included, against
onnxruntime's 40 MB) parses the file and infers every tensor's shape, which is all
the counting needs. A hand-written protobuf reader would save the dependency but
would have to follow every opset's shape rules, which ``onnx.shape_inference`` is.

How a model is read (``docs/params.md`` tells the user):

1. The file is parsed once with ``load_external_data=False``; weights stored beside
   the file are never opened. Every initializer larger than :data:`KEEP_BYTES` has its
   values cleared right after parsing: only its ``dims`` are kept for counting, so
   shape inference and the rest work on a model of a few kilobytes.
2. The input's size is the graph's, or ``input_shape`` (``--input``) when given; a
   symbolic height, width or channel count without it is refused in one line. A
   symbolic batch is set to 1.
3. ``onnx.shape_inference.infer_shapes`` gives every tensor's shape.
4. Each node becomes the ``arch.yaml`` layer of its kind (:data:`MAPPED`), so that the
   same rules count its parameters, MACs and receptive field; parameter-free ops
   that reshape or reorder (:data:`PASSIVE`) become rows with the inferred shape;
   any other op is a marked row, counted by its initializers, and named in a warning.
5. :mod:`cnnfilter.arch.graph` turns the graph into the layer tree (merges for
   ``Add``/``Concat``/``Mul`` of two feature maps) and groups rows by name prefix.

Parameters are the initializers (and ``Constant`` values) each node reads, each
counted once however many nodes share it: BatchNormalization's scale and bias are
trainable, its mean and variance running statistics (as in ``arch.yaml``); shape
operands (Reshape's shape, Resize's scales, Pad's pads, Clip's bounds...) are not
parameters, nor are single numbers in arithmetic (``x * 0.5``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cnnfilter.arch import layers as L
from cnnfilter.arch.graph import Node
from cnnfilter.arch.layers.base import Shape
from cnnfilter.arch.layers.structure import Imported
from cnnfilter.errors import UsageError

__all__ = ["KEEP_BYTES", "ONNX_HINT", "ModelGraph", "read_onnx"]

KEEP_BYTES = 4096
"""Initializers larger than this lose their values after parsing (only dims are used)."""

ONNX_HINT = "pip install 'cnnfilter[onnx]'"

#: ops that only reorder, reshape or select values: no parameters, no MACs, the shape
#: from shape inference (listed as they are, not marked unknown)
PASSIVE = frozenset(
    "Reshape Transpose Squeeze Unsqueeze Slice Gather Pad Expand Tile Cast Identity Split "
    "Sub Div Pow Sqrt Erf Neg Exp Log Abs Reciprocal Floor Ceil Round Min Max Where Equal "
    "Not And Or Less Greater ReduceMean ReduceSum ReduceMax ReduceMin ReduceL2 Shape Size "
    "ConstantOfShape Range Clip DepthToSpace SpaceToDepth Einsum Sign CumSum TopK ArgMax "
    "Softsign LRN InstanceNormalization LayerNormalization GroupNormalization MatMul Gemm "
    "Sum Mean Conv ConvTranspose".split()
)

_ACTIVATION_OPS = {
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "HardSigmoid": "hardsigmoid",
    "HardSwish": "hardswish",
    "Tanh": "tanh",
    "Softplus": "softplus",
    "Mish": "mish",
    "Gelu": "gelu",
    "Elu": "elu",
    "LeakyRelu": "leaky_relu",
}
#: inputs that are shape operands, never parameters, per op
_SHAPE_OPERANDS = frozenset(
    "Reshape Resize Upsample Slice Pad Expand Tile Squeeze Unsqueeze Clip Split "
    "ReduceMean ReduceSum ReduceMax ReduceMin ReduceL2 TopK ConstantOfShape Range "
    "Dropout Cast CumSum".split()
)
_MERGES = {"Add": "add", "Sum": "add", "Concat": "concat", "Mul": "multiply"}


@dataclass
class ModelGraph:
    """What an importer read: the network and what the user must be told.

    ``unknown``: ops the importer does not know (marked rows); ``unwritable``: nodes
    with no ``arch.yaml`` equivalent (``--to-yaml`` refuses them); ``shared``: nodes
    whose weights were counted at an earlier node.
    """

    network: L.Network
    warnings: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    unwritable: list[str] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise UsageError(f"reading ONNX models needs the onnx package; fix: {ONNX_HINT}") from None
    return onnx


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end:
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf, start: int, end: int):
    """``(field number, wire type, value start, value end)`` of each field in
    ``buf[start:end]`` (protobuf wire format)."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, after = _varint(buf, pos, end)
        elif wire == 1:
            after = pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            after = pos + length
        elif wire == 5:
            after = pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if after > end:
            raise ValueError("truncated field")
        yield number, wire, pos, after
        pos = after


#: TensorProto fields that hold the values (float_data, int32_data, string_data,
#: int64_data, raw_data, double_data, uint64_data): dropped from large initializers
_VALUE_FIELDS = frozenset({4, 5, 6, 7, 9, 10, 11})


def _length_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _strip(buf, start: int, end: int, depth: int) -> bytes:
    """A copy of a ModelProto (``depth`` 0) or GraphProto (1) without the values of its
    initializers larger than :data:`KEEP_BYTES` (their pages of the file are never read)."""
    out = bytearray()
    for number, wire, begin, after in _fields(buf, start, end):
        if wire == 2 and depth == 0 and number == 7:  # ModelProto.graph
            out += _length_field(7, _strip(buf, begin, after, 1))
            continue
        if wire == 2 and depth == 1 and number == 5 and after - begin > KEEP_BYTES:
            kept = bytearray()  # GraphProto.initializer: keep dims, type, name...
            for f, w, b, a in _fields(buf, begin, after):
                if f not in _VALUE_FIELDS:
                    kept += _raw_field(buf, f, b, a, w)
            out += _length_field(5, bytes(kept))
            continue
        out += _raw_field(buf, number, begin, after, wire)
    return bytes(out)


def _raw_field(buf, number: int, begin: int, after: int, wire: int) -> bytes:
    """The field re-encoded as it was."""
    if wire == 2:
        return _length_field(number, bytes(buf[begin:after]))
    return _encode_varint(number << 3 | wire) + bytes(buf[begin:after])


@contextlib.contextmanager
def model_read_errors(path: Path) -> Iterator[None]:
    """Reading or parsing an ONNX file inside: an OS error or a file protobuf cannot
    parse becomes one :class:`UsageError` line naming ``path`` and the fix."""
    from google.protobuf.message import DecodeError

    try:
        yield
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the model file ({exc.strerror or exc})") from None
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise UsageError(
            f"{path}: not a readable ONNX model ({str(exc).splitlines()[0][:80]}); "
            "fix: check that the file is complete (not truncated) and is an .onnx export"
        ) from None


def _load(path: Path):
    """Parse the file without the values of large initializers; one-line errors.

    The file is memory-mapped and walked in protobuf's wire format: the model's fields
    are copied as they are except the ``raw_data`` (and other value fields) of each
    initializer larger than :data:`KEEP_BYTES`, so a 100 MB model costs a few kilobytes
    of parsing and its weights are never paged in.
    """
    import mmap

    onnx = _import_onnx()
    with model_read_errors(path):
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            if size == 0:
                raise ValueError("the file is empty")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                data = _strip(buf, 0, size, 0)
        model = onnx.ModelProto()
        model.ParseFromString(data)
    if not model.graph.node or not model.graph.input:
        raise UsageError(
            f"{path}: not an ONNX model (no graph nodes or inputs); fix: give an .onnx export"
        )
    return onnx, model


def _dims(type_proto) -> list[int | str] | None:
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    return [
        d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
        for d in type_proto.tensor_type.shape.dim
    ]


def data_input(model, path: Path, fix: str):
    """The model's one data input (a graph input that is not an initializer, i.e. not a
    weight), as its ``ValueInfoProto``.

    Raises:
        UsageError: none or several data inputs; ``fix`` says which models are read.
    """
    weights = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs) or "none"
        raise UsageError(f"{path}: the model has {len(inputs)} data inputs ({names}); fix: {fix}")
    return inputs[0]


def _set_input(model, path: Path, input_shape: Shape | None) -> str:
    """Name the data input; fix its size from ``input_shape`` or check it is fixed."""
    value = data_input(
        model, path, "only models with one input (an image or a feature vector) are read"
    )
    dims = _dims(value.type) or []
    dim_protos = value.type.tensor_type.shape.dim
    if input_shape is not None:
        if len(dims) != 4:
            raise UsageError(
                f"input={input_shape}: the model's input '{value.name}' has {len(dims)} "
                "dimensions, not N x C x H x W; fix: leave out --input"
            )
        wanted = [1, input_shape.channels, input_shape.height, input_shape.width]
        if isinstance(dims[0], int):
            wanted[0] = dims[0]
        if isinstance(dims[1], int) and dims[1] != input_shape.channels:
            raise UsageError(
                f"input={input_shape}: the model takes {dims[1]} channels; fix: give "
                f"--input HxWx{dims[1]}"
            )
        for proto, size in zip(dim_protos, wanted, strict=True):
            proto.dim_value = size
        return value.name
    symbolic = [i for i, d in enumerate(dims) if not isinstance(d, int) or d < 1]
    if symbolic and symbolic != [0]:
        text = " x ".join(str(d) for d in dims)
        raise UsageError(
            f"{path}: the input '{value.name}' has the symbolic size {text}; fix: give its "
            "size with --input HxWxC (e.g. --input 224x224x3)"
        )
    if symbolic:
        dim_protos[0].dim_value = 1
    return value.name


def _shape(dims) -> Shape | None:
    """ONNX dims (batch first) -> :class:`Shape`: NCHW -> H x W x C, N x F -> flat F."""
    if dims is None or not all(isinstance(d, int) and d >= 0 for d in dims) or not dims:
        return None
    rest = dims[1:]
    if len(rest) == 3:
        return Shape(rest[1], rest[2], rest[0])
    if len(rest) == 2:
        return Shape(1, rest[0], rest[1])
    return Shape(1, 1, math.prod(rest), flat=True)


class _Reader:
    """One pass over the graph's nodes, in the order the file stores them (ONNX requires
    a topological order)."""

    def __init__(self, model, source: str, input_name: str) -> None:
        graph = model.graph
        self.source = source
        self.types: dict[str, list] = {}
        for value in [*graph.input, *graph.value_info, *graph.output]:
            dims = _dims(value.type)
            if dims is not None:
                self.types[value.name] = dims
        self.weights: dict[str, list[int]] = {t.name: list(t.dims) for t in graph.initializer}
        self.values = {t.name: t for t in graph.initializer if t.ByteSize() <= KEEP_BYTES}
        self.data = {input_name}
        self.sources: dict[str, set[str]] = {}  # non-data tensor -> weights it is made of
        self.counted: set[str] = set()
        self.nodes: list[Node] = []
        self.unknown: list[str] = []
        self.unwritable: list[str] = []
        self.shared: list[str] = []
        self.names: set[str] = set()

    # ------------------------------------------------------------ helpers
    def dims(self, tensor: str) -> list:
        if tensor in self.weights:
            return self.weights[tensor]
        return self.types.get(tensor) or []

    def shape(self, tensor: str) -> Shape | None:
        return _shape(self.types.get(tensor))

    def constant_sources(self, tensor: str) -> set[str]:
        if tensor in self.weights:
            return {tensor}
        return self.sources.get(tensor, set())

    def count(self, node, indices, *, running=(), min_size: int = 1) -> tuple[int, int, bool]:
        """Trainable and running-statistics values of the constant inputs at ``indices``
        (``None``: all), each initializer once; whether one was counted before."""
        trainable = non_trainable = 0
        shared = False
        for i, tensor in enumerate(node.input):
            if not tensor or tensor in self.data:
                continue
            if indices is not None and i not in indices and i not in running:
                continue
            for name in sorted(self.constant_sources(tensor)):
                size = math.prod(self.weights[name])
                if size < min_size:
                    continue
                if name in self.counted:
                    shared = True
                    continue
                self.counted.add(name)
                if i in running:
                    non_trainable += size
                else:
                    trainable += size
        return trainable, non_trainable, shared

    def name(self, node, index: int) -> str:
        name = node.name or f"{node.op_type}_{index}"
        while name in self.names:
            name += "'"
        self.names.add(name)
        return name

    # ------------------------------------------------------------ the walk
    def read(self, graph) -> None:
        for index, node in enumerate(graph.node):
            data_in = [t for t in node.input if t in self.data]
            if node.op_type == "Constant":
                self._constant(node)
                continue
            if not data_in or node.op_type in ("Shape", "Size"):
                made = set().union(*(self.constant_sources(t) for t in node.input if t))
                for out in node.output:
                    self.sources[out] = made if node.op_type not in ("Shape", "Size") else set()
                continue
            name = self.name(node, index)
            self._node(node, name, data_in)

    def _constant(self, node) -> None:
        for attribute in node.attribute:
            if attribute.name == "value":
                self.weights[node.output[0]] = list(attribute.t.dims)
                if attribute.t.ByteSize() <= KEEP_BYTES:
                    self.values[node.output[0]] = attribute.t
                return
        self.weights[node.output[0]] = []

    def _node(self, node, name: str, data_in: list[str]) -> None:
        op = node.op_type
        if op == "Split" and len(node.output) > 1:
            self._split(node, name, data_in)
            return
        out = node.output[0]
        self.data.add(out)
        if op in _MERGES and len(data_in) >= 2 and self._merge_ok(node, data_in):
            self.nodes.append(Node(name, None, data_in, out, op=_MERGES[op]))
            return
        layer, weights = self._layer(node, name, data_in)
        trainable, running, shared = weights
        if shared:
            self.shared.append(name)
        layer = _replace(layer, counted=(trainable, running))
        self.nodes.append(Node(name, layer, data_in[:1], out))

    def _merge_ok(self, node, data_in) -> bool:
        if node.op_type != "Concat":
            return True
        rank = len(self.types.get(node.output[0]) or [])
        axis = _attrs(node).get("axis", 1)
        return rank == 4 and axis in (1, -3)

    def _split(self, node, name: str, data_in: list[str]) -> None:
        parts = len(node.output)
        sizes = [self.shape(out) for out in node.output]
        source = self.shape(data_in[0])
        even = (
            source is not None
            and all(s is not None and s.channels * parts == source.channels for s in sizes)
            and _attrs(node).get("axis", 0) in (1, -3)
            and not source.flat
        )
        for i, out in enumerate(node.output):
            self.data.add(out)
            label = f"{name}:{i}"
            if even:
                layer = L.ChannelSplit(
                    name=label, line=0, type="channel_split", parts=parts, index=i
                )
            else:
                layer = self._passive(label, "Split", out)
            self.nodes.append(Node(label, _replace(layer, counted=(0, 0)), data_in[:1], out))

    def _passive(self, name: str, op: str, out: str, macs: int = 0) -> Imported:
        self.unwritable.append(name)
        return Imported(name=name, line=0, type=op, op=op, output_shape=self.shape(out),
                        mac_count=macs)  # fmt: skip

    def _layer(self, node, name: str, data_in: list[str]):
        op = node.op_type
        build = _BUILDERS.get(op)
        if build is not None:
            layer = build(self, node, name)
            if layer is not None:
                indices, running = _WEIGHT_INPUTS.get(op, ((), ()))
                return layer, self.count(node, indices, running=running)
        if op in _ACTIVATION_OPS or op in ("Clip", "Softmax", "Dropout", "PRelu"):
            layer = _activation(self, node, name)
            if layer is not None:
                return layer, self.count(node, (1,) if op == "PRelu" else ())
        if op in PASSIVE or op in _MERGES:
            macs = _matmul_macs(self, node) if op in ("MatMul", "Gemm") else 0
            layer = self._passive(name, op, node.output[0], macs)
            if op in _SHAPE_OPERANDS:
                return layer, self.count(node, ())
            # constant operands of arithmetic: parameters when more than one value
            min_size = 2 if op in ("Add", "Sub", "Mul", "Div", "Sum", "Pow", "Min", "Max") else 1
            return layer, self.count(node, None, min_size=min_size)
        self.unknown.append(f"{name} ({op})")
        self.unwritable.append(name)
        layer = Imported(name=name, line=0, type=f"{op} (unknown op)", op=op,
                         output_shape=self.shape(node.output[0]), known=False)  # fmt: skip
        return layer, self.count(node, None)


def _replace(layer, **changes):
    import dataclasses

    return dataclasses.replace(layer, **changes)


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pads(attrs: dict, reader: _Reader, node) -> object:
    """ONNX ``pads`` ``[top, left, bottom, right]`` / ``auto_pad`` -> arch padding."""
    auto = _text(attrs.get("auto_pad", "NOTSET"))
    if auto == "VALID":
        return "valid"
    if auto == "SAME_UPPER":
        return "same"
    if auto == "SAME_LOWER":
        return None
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if len(pads) != 4:
        return None
    top, left, bottom, right = pads
    return (top, bottom, left, right)


def _pair(attrs: dict, key: str, default: int = 1) -> tuple[int, int] | None:
    value = list(attrs.get(key, [default, default]))
    return (value[0], value[1]) if len(value) == 2 else None


def _conv(reader: _Reader, node, name: str):
    attrs = _attrs(node)
    w = reader.dims(node.input[1])
    padding = _pads(attrs, reader, node)
    stride, dilation = _pair(attrs, "strides"), _pair(attrs, "dilations")
    if len(w) != 4 or padding is None or stride is None or dilation is None:
        return None
    bias = len(node.input) > 2 and bool(node.input[2])
    return L.Conv2d(name=name, line=0, type="conv2d", filters=w[0], kernel_size=(w[2], w[3]),
                    stride=stride, padding=padding, dilation=dilation,
                    groups=attrs.get("group", 1), bias=bias)  # fmt: skip


def _conv_transpose(reader: _Reader, node, name: str):
    attrs = _attrs(node)
    w = reader.dims(node.input[1])  # [C_in, F / groups, kh, kw]
    padding = _pads(attrs, reader, node)
    stride, dilation = _pair(attrs, "strides"), _pair(attrs, "dilations")
    output_padding = _pair(attrs, "output_padding", 0)
    if (
        len(w) != 4
        or not isinstance(padding, tuple)
        or padding[0] != padding[1]
        or padding[2] != padding[3]
        or None in (stride, dilation, output_padding)
        or "output_shape" in attrs
    ):
        return None
    groups = attrs.get("group", 1)
    bias = len(node.input) > 2 and bool(node.input[2])
    return L.ConvTranspose2d(name=name, line=0, type="conv_transpose2d", filters=w[1] * groups,
                             kernel_size=(w[2], w[3]), stride=stride,
                             padding=(padding[0], padding[2]), output_padding=output_padding,
                             dilation=dilation, groups=groups, bias=bias)  # fmt: skip


def _batchnorm(reader: _Reader, node, name: str):
    if reader.shape(node.output[0]) is None or reader.shape(node.output[0]).flat:
        return None
    eps = float(_attrs(node).get("epsilon", 1e-5))
    return L.BatchNorm2d(name=name, line=0, type="batchnorm2d", eps=eps)


def _pool(reader: _Reader, node, name: str):
    attrs = _attrs(node)
    kernel = _pair(attrs, "kernel_shape")
    stride = _pair(attrs, "strides")
    padding = _pads(attrs, reader, node)
    if kernel is None or stride is None or padding is None:
        return None
    ceil = bool(attrs.get("ceil_mode", 0))
    if node.op_type == "MaxPool":
        dilation = _pair(attrs, "dilations")
        if dilation is None or len(node.output) > 1 and node.output[1]:
            return None
        return L.MaxPool2d(name=name, line=0, type="maxpool2d", kernel_size=kernel, stride=stride,
                           padding=padding, dilation=dilation, ceil_mode=ceil)  # fmt: skip
    return L.AvgPool2d(name=name, line=0, type="avgpool2d", kernel_size=kernel, stride=stride,
                       padding=padding, ceil_mode=ceil,
                       count_include_pad=bool(attrs.get("count_include_pad", 0)))  # fmt: skip


def _global_pool(reader: _Reader, node, name: str):
    op = "avg" if node.op_type == "GlobalAveragePool" else "max"
    shape = reader.shape(node.input[0])
    if shape is None or shape.flat or shape.height == 1 and shape.width > 1:
        return None
    return L.GlobalPool2d(name=name, line=0, type=f"global_{op}pool2d", op=op, keepdims=True)


def _gemm(reader: _Reader, node, name: str):
    attrs = _attrs(node)
    shape = reader.shape(node.input[0])
    b = reader.dims(node.input[1])
    if (
        node.input[1] in reader.data
        or shape is None
        or not shape.flat
        or attrs.get("transA", 0)
        or len(b) != 2
    ):
        return None
    units = b[0] if attrs.get("transB", 0) else b[1]
    bias = len(node.input) > 2 and bool(node.input[2])
    if bias and math.prod(reader.dims(node.input[2])) != units:
        return None
    return L.Dense(name=name, line=0, type="dense", units=units, bias=bias)


def _matmul(reader: _Reader, node, name: str):
    shape = reader.shape(node.input[0])
    b = reader.dims(node.input[1])
    if node.input[1] in reader.data or shape is None or not shape.flat or len(b) != 2:
        return None
    return L.Dense(name=name, line=0, type="dense", units=b[1], bias=False)


def _matmul_macs(reader: _Reader, node) -> int:
    """MACs of a MatMul / Gemm on feature maps of any rank: output values x the inner size."""
    a = reader.dims(node.input[0])
    out = reader.types.get(node.output[0])
    if not a or not out or not all(isinstance(d, int) for d in [*a, *out]):
        return 0
    inner = a[-1] if not (node.op_type == "Gemm" and _attrs(node).get("transA", 0)) else a[0]
    batch = out[0] if len(out) > 1 else 1
    return math.prod(out) // max(batch, 1) * inner


def _flatten(reader: _Reader, node, name: str):
    out = reader.types.get(node.output[0]) or []
    shape = reader.shape(node.input[0])
    if len(out) != 2 or shape is None:
        return None
    if node.op_type == "Flatten" and _attrs(node).get("axis", 1) != 1:
        return None
    if node.op_type != "Flatten" and (shape.height, shape.width) != (1, 1):
        return None  # a Reshape / Squeeze of a 1 x 1 map is a flatten; others are not
    return L.Flatten(name=name, line=0, type="flatten")


def _resize(reader: _Reader, node, name: str):
    src, out = reader.shape(node.input[0]), reader.shape(node.output[0])
    if src is None or out is None or src.flat or out.channels != src.channels:
        return None
    attrs = _attrs(node)
    mode = {"nearest": "nearest", "linear": "bilinear"}.get(_text(attrs.get("mode", "nearest")))
    if mode is None:
        return None
    # bilinear: PyTorch's align_corners=True exports as 'align_corners', False as
    # 'half_pixel' / 'pytorch_half_pixel' (ONNX Resize, coordinate_transformation_mode)
    corners = _text(attrs.get("coordinate_transformation_mode", "half_pixel"))
    if mode == "bilinear" and corners not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        return None
    extra = {"align_corners": True} if mode == "bilinear" and corners == "align_corners" else {}
    if out.height % src.height == 0 and out.width % src.width == 0:
        extra["scale_factor"] = (out.height // src.height, out.width // src.width)
    else:
        extra["size"] = (out.height, out.width)
    return L.Upsample(name=name, line=0, type="upsample", mode=mode, **extra)


def _groupnorm(reader: _Reader, node, name: str):
    shape = reader.shape(node.input[0])
    if shape is None or shape.flat:
        return None
    attrs = _attrs(node)
    groups = attrs.get("num_groups", shape.channels)
    eps = float(attrs.get("epsilon", 1e-5))
    return L.GroupNorm(name=name, line=0, type="groupnorm", num_groups=groups, eps=eps)


def _scalar_value(reader: _Reader, tensor: str) -> float | None:
    proto = reader.values.get(tensor)
    if proto is None:
        return None
    from onnx import numpy_helper

    array = numpy_helper.to_array(proto)
    return float(array.reshape(-1)[0]) if array.size == 1 else None


def _clip(reader: _Reader, node, name: str, attrs: dict):
    """Clip(0, 6) is relu6 and Clip(0, none) relu; other bounds have no arch kind."""
    low = _scalar_value(reader, node.input[1]) if len(node.input) > 1 and node.input[1] else None
    high = _scalar_value(reader, node.input[2]) if len(node.input) > 2 and node.input[2] else None
    low = attrs.get("min", low)
    high = attrs.get("max", high)
    if low == 0 and high == 6:
        return L.Activation(name=name, line=0, type="relu6", function="relu6")
    if low == 0 and high is None:
        return L.Activation(name=name, line=0, type="relu", function="relu")
    return None


def _activation(reader: _Reader, node, name: str):
    op = node.op_type
    attrs = _attrs(node)
    if op == "Dropout":
        return L.Dropout(name=name, line=0, type="dropout")
    if op == "Softmax":
        shape = reader.shape(node.output[0])
        axis = attrs.get("axis", -1)
        if shape is None or not (shape.flat and axis in (1, -1)):
            return None
        return L.Softmax(name=name, line=0, type="softmax", function="softmax")
    if op == "PRelu":
        slope = math.prod(reader.dims(node.input[1])) if len(node.input) > 1 else 1
        shape = reader.shape(node.input[0])
        if slope == 1:
            return L.PReLU(name=name, line=0, type="prelu", function="prelu")
        if shape is not None and slope == shape.channels:
            return L.PReLU(name=name, line=0, type="prelu", function="prelu",
                           num_parameters="channels")  # fmt: skip
        return None
    if op == "Clip":
        return _clip(reader, node, name, attrs)
    function = _ACTIVATION_OPS[op]
    if function == "leaky_relu":
        return L.LeakyReLU(name=name, line=0, type=function, function=function,
                           negative_slope=float(attrs.get("alpha", 0.01)))  # fmt: skip
    if function == "elu":
        return L.ELU(name=name, line=0, type=function, function=function,
                     alpha=float(attrs.get("alpha", 1.0)))  # fmt: skip
    return L.Activation(name=name, line=0, type=function, function=function)


_BUILDERS = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "BatchNormalization": _batchnorm,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": _global_pool,
    "GlobalMaxPool": _global_pool,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Flatten": _flatten,
    "Reshape": _flatten,
    "Squeeze": _flatten,
    "Resize": _resize,
    "Upsample": _resize,
    "GroupNormalization": _groupnorm,
}
#: (trainable input indices, running-statistics input indices) per mapped op
_WEIGHT_INPUTS = {
    "Conv": ((1, 2), ()),
    "ConvTranspose": ((1, 2), ()),
    "BatchNormalization": ((1, 2), (3, 4)),
    "Gemm": ((1, 2), ()),
    "MatMul": ((1,), ()),
    "GroupNormalization": ((1, 2), ()),
}
MAPPED = sorted(set(_BUILDERS) | set(_ACTIVATION_OPS) | {"Clip", "Softmax", "Dropout", "PRelu"})
"""ONNX ops read as ``arch.yaml`` layers (when their attributes fit the layer kind)."""


def read_onnx(path: str | Path, *, input_shape: Shape | None = None) -> ModelGraph:
    """Read the ONNX model at ``path`` (see the module docstring for how).

    ``input_shape`` (``H x W x C``) replaces the input's height, width and channels.

    Raises:
        UsageError: onnx is not installed; the file is missing, truncated or not ONNX;
            the model has several inputs; a symbolic input size without ``input_shape``.
    """
    from cnnfilter.arch.graph import build_layers, flat_layers, group_by_name

    path = Path(path)
    onnx, model = _load(path)
    input_name = _set_input(model, path, input_shape)
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # onnx raises its own InferenceError subclasses
        raise UsageError(
            f"{path}: ONNX shape inference failed ({str(exc).splitlines()[0][:100]}); "
            "fix: check the model with onnx.checker.check_model"
        ) from None
    reader = _Reader(model, str(path), input_name)
    reader.read(model.graph)
    start = reader.types.get(input_name)
    net_input = _shape(start)
    if net_input is None:
        raise UsageError(f"{path}: the input '{input_name}' has no fixed size; fix: give --input")
    outputs = [o.name for o in model.graph.output if o.name in reader.data]
    if not outputs:
        raise UsageError(f"{path}: no graph output depends on the input '{input_name}'")
    warnings: list[str] = []
    layers, apart = build_layers(reader.nodes, input_name, outputs[0])
    shapes = {name: _shape(dims) for name, dims in reader.types.items()}
    if apart:
        names = ", ".join(node.name for node in apart[:5]) + (" ..." if len(apart) > 5 else "")
        warnings.append(
            f"the graph is not a tree of branches from '{input_name}' to '{outputs[0]}' "
            f"({len(apart)} nodes off it or shared by branches: {names}); every node is "
            "listed in file order, costed on its own shapes, and receptive fields are not "
            "followed through it"
        )
        layers = flat_layers(reader.nodes, shapes, str(path))
        reader.unwritable.append("(graph shape)")
    else:
        layers = group_by_name(layers)
    if reader.unknown:
        warnings.append(
            f"{len(reader.unknown)} op(s) cnnfilter does not know, listed as marked rows and "
            "counted by their initializers only (no MACs): " + ", ".join(reader.unknown[:10])
        )
    if reader.shared:
        warnings.append(
            "weights shared with an earlier node (counted once, there): "
            + ", ".join(reader.shared[:10])
        )
    name = model.graph.name or path.stem
    network = L.Network(name=name, input=net_input, layers=layers, source=str(path))
    return ModelGraph(network, warnings, reader.unknown, reader.unwritable, reader.shared)
