"""Read an ``arch.yaml`` file into a :class:`~cnnfilter.arch.layers.base.Network`.

The YAML is read with PyYAML's *safe* loader, but as a node tree rather than
with ``yaml.safe_load`` so that every error can name its line. Only the plain
YAML tags (str, int, float, bool, null, sequence, mapping) are accepted; any
other tag (``!!python/object``, ``!custom``, timestamps, merge keys) is
refused. The walk is bounded: file size, nesting depth, YAML nodes visited
(aliases re-visit their anchor, so a "billion laughs" file stops early) and
layers after ``repeat`` expansion.

Every problem raises :class:`~cnnfilter.errors.UsageError` with one line:
``<file>:<line>: <where>: <problem>; fix: <fix>``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cnnfilter.arch.layers.base import Layer, Network, Shape
from cnnfilter.arch.layers.options import OptionError
from cnnfilter.arch.layers.registry import LAYER_TYPES, canonical_type, option_specs
from cnnfilter.arch.layers.structure import Block, Merge, Residual
from cnnfilter.errors import UsageError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_LAYERS", "MAX_NODES", "load_network", "parse_network"]

MAX_BYTES = 1_000_000
"""Largest ``arch.yaml`` accepted, in bytes."""
MAX_DEPTH = 50
"""Deepest YAML nesting accepted (collections inside collections)."""
MAX_NODES = 200_000
"""Most YAML nodes visited while reading layers (counts every alias use). The second and
later passes over a ``repeat`` block's layers are not counted here: they are bounded by
:data:`MAX_LAYERS` and :data:`MAX_LAYER_NODES`."""
MAX_LAYERS = 20_000
"""Most layers after expanding ``repeat`` blocks."""
MAX_LAYER_NODES = 128
#: YAML nodes of one layer's inline weight arrays (``weight: [[...]]``): hand-set layers only.
MAX_ARRAY_NODES = 4096
"""Most YAML nodes in one layer (its type, options and their values)."""

_YAML = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_YAML + t for t in ("str", "int", "float", "bool", "null")}
_STRUCTURAL = {"residual", "repeat", "add", "concat", "multiply", "aux"}
_MERGES = {"add", "concat", "multiply"}
MAX_EXPRESSION = 200
"""Longest ``${...}`` expression accepted in a block, in characters."""


@dataclass
class _Context:
    source: str
    loader: yaml.SafeLoader
    nodes: int = 0
    replayed: int = 0
    replaying: int = 0
    layers: int = 0
    nesting: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    #: (iteration, times) of the enclosing repeats, innermost last
    iterations: list[tuple[int, int]] = field(default_factory=list)
    #: block name -> (argument defaults, layer nodes, definition node)
    blocks: dict[str, tuple[dict[str, Any], list[yaml.Node], yaml.Node]] = field(
        default_factory=dict
    )
    args: list[dict[str, Any]] = field(default_factory=list)  # innermost block's last
    prefixes: list[str] = field(default_factory=list)  # enclosing block uses' names

    def fail(self, node: yaml.Node | int, where: str, problem: str, fix: str) -> UsageError:
        line = node if isinstance(node, int) else node.start_mark.line + 1
        return UsageError(f"{self.source}:{line}: {where}: {problem}; fix: {fix}")

    def construct(self, node: yaml.ScalarNode, where: str) -> Any:
        """The scalar's value; a number Python refuses to read (an integer of over
        4300 digits: ``sys.get_int_max_str_digits``) is this file's error."""
        try:
            return self.loader.construct_object(node, deep=True)
        except ValueError:
            raise self.fail(
                node,
                where,
                f"a number of {len(str(node.value))} characters, more digits than Python "
                "reads (4300)",
                "write the size you mean; a layer's sizes are far smaller",
            ) from None

    def visit(self, node: yaml.Node, where: str) -> None:
        if self.replaying:  # a repeat's later pass: bounded by the layer limits instead
            self.replayed += 1
        else:
            self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(
                node,
                where,
                f"the file expands to more than {MAX_NODES} YAML nodes (an alias counts at "
                "each use)",
                f"remove the alias chain (an alias bomb?), or write the layers once in a repeat "
                f"block (up to {MAX_LAYERS} layers)",
            )
        if node.tag not in _SCALAR_TAGS | {_YAML + "seq", _YAML + "map"}:
            raise self.fail(
                node,
                where,
                f"unsafe or unsupported YAML tag {node.tag!r}",
                "remove the tag: only plain numbers, strings, lists and mappings are read",
            )


def load_network(path: str | Path, *, input_shape: Shape | None = None) -> Network:
    """Read and parse an ``arch.yaml`` file (``-``: standard input).

    Raises:
        UsageError: the file is missing, too large, not UTF-8, or malformed
            (see :func:`parse_network`); ``-`` while stdin is a terminal.
    """
    if str(path) == "-":
        data, path = _read_stdin(), "<stdin>"
    else:
        path = Path(path)
        try:  # bounded: /dev/zero or an endless FIFO is refused after MAX_BYTES + 1 bytes
            with open(path, "rb") as fh:
                data = fh.read(MAX_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"{path}: cannot read the layer file ({exc.strerror})") from None
    if len(data) > MAX_BYTES:
        raise UsageError(
            f"{path}: the layer file is larger than {MAX_BYTES} bytes; fix: shorten it"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"{path}: the layer file is not UTF-8 text; fix: save it as UTF-8"
        ) from None
    return parse_network(text, source=str(path), input_shape=input_shape)


def _read_stdin() -> bytes:
    import sys

    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError(
            "'-' reads the layer file from standard input, which is a terminal; pipe it in "
            "(cat arch.yaml | cnnfilter params -) or give a file name"
        )
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    return stream.read(MAX_BYTES + 1)  # one byte more than allowed: enough to refuse


def parse_network(
    text: str, *, source: str = "<arch>", input_shape: Shape | None = None
) -> Network:
    """Parse ``arch.yaml`` text (format: docs/reference/arch-yaml.md).

    >>> net = parse_network("input: [32, 32, 1]\\nlayers: [conv2d: {filters: 5, kernel_size: 3}]")
    >>> net.input, net.layers[0].name, net.layers[0].kernel_size
    (Shape(height=32, width=32, channels=1, flat=False), 'conv2d_1', (3, 3))

    Raises:
        UsageError: one line naming ``source``, the line, the layer and the fix.
    """
    root = _compose(text, source)
    loader = yaml.SafeLoader("")
    try:
        ctx = _Context(source, loader)
        return _network(root, ctx, input_shape)
    finally:
        loader.dispose()


def _compose(text: str, source: str) -> yaml.Node:
    # A first pass over the parser's events (iterative, no recursion) bounds
    # nesting before the recursive composer runs.
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1
                    raise UsageError(
                        f"{source}:{line}: top level: YAML nested deeper than {MAX_DEPTH} levels; "
                        "fix: flatten the file"
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and context_mark is not None and context_mark.line + 1 != line:
            problem += f", {context} started on line {context_mark.line + 1}"
        raise UsageError(
            f"{source}:{line}: top level: invalid YAML ({problem}); fix: check the indentation "
            "and brackets on that line"
        ) from None
    if node is None:
        raise UsageError(f"{source}:1: top level: the file is empty; fix: write input: and layers:")
    return node


def _scalar(node: yaml.Node, ctx: _Context, where: str) -> Any:
    ctx.visit(node, where)
    if not isinstance(node, yaml.ScalarNode):
        raise ctx.fail(
            node, where, "expected a single value", "write a number, a word or true/false"
        )
    value = ctx.construct(node, where)
    if isinstance(value, str) and "$" in value:
        return _substitute(value, node, ctx, where)
    return value


_WHOLE = re.compile(r"\$(\w+)|\$\{([^{}]*)\}")


def _substitute(text: str, node: yaml.Node, ctx: _Context, where: str) -> Any:
    """``$arg`` (the value itself), ``${expression}`` (a number) or text with either inside."""
    if not ctx.args:
        raise ctx.fail(
            node,
            where,
            f"{text!r} uses a block argument outside a block",
            "define the layers under blocks: with args: and use the block",
        )
    whole = _WHOLE.fullmatch(text)
    if whole:
        return _evaluate(whole.group(1) or whole.group(2), node, ctx, where)
    return _WHOLE.sub(lambda m: str(_evaluate(m.group(1) or m.group(2), node, ctx, where)), text)


def _evaluate(expression: str, node: yaml.Node, ctx: _Context, where: str) -> Any:
    import ast

    args = ctx.args[-1]
    fix = "use the block's arguments (" + ", ".join(args) + ") with + - * / // % ( ) min max"
    if len(expression) > MAX_EXPRESSION:
        raise ctx.fail(node, where, f"expression longer than {MAX_EXPRESSION} characters", fix)
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ctx.fail(node, where, f"cannot read the expression {expression!r}", fix) from None
    try:
        value = _eval_node(tree.body, args)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        problem = f"unknown argument {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        raise ctx.fail(node, where, f"${{{expression}}}: {problem}", fix) from None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _eval_node(node, args: dict[str, Any]) -> Any:
    import ast
    import operator

    ops = {
        ast.Add: operator.add,
        ast.Sub: operator.sub,
        ast.Mult: operator.mul,
        ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv,
        ast.Mod: operator.mod,
    }
    if isinstance(node, ast.Name):
        return args[node.id]
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in ops:
        return ops[type(node.op)](_eval_node(node.left, args), _eval_node(node.right, args))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval_node(node.operand, args)
    calls = {"min": min, "max": max, "int": int, "round": round}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in calls:
        if node.keywords:
            raise ValueError("keyword arguments are not allowed")
        return calls[node.func.id](*(_eval_node(a, args) for a in node.args))
    raise ValueError(f"{type(node).__name__} is not allowed")


def _value(node: yaml.Node, ctx: _Context, where: str, depth: int = 0) -> Any:
    """A scalar or a short (possibly nested once) list of scalars."""
    ctx.visit(node, where)
    if isinstance(node, yaml.SequenceNode) and depth < 2:
        if len(node.value) > 8:
            raise ctx.fail(node, where, f"a list of {len(node.value)} values", "write at most 4")
        return [_value(item, ctx, where, depth + 1) for item in node.value]
    return _scalar(node, ctx, where)


def _mapping(node: yaml.Node, ctx: _Context, where: str, fix: str) -> list[tuple[str, yaml.Node]]:
    ctx.visit(node, where)
    if not isinstance(node, yaml.MappingNode):
        raise ctx.fail(node, where, "expected a mapping of options", fix)
    items: list[tuple[str, yaml.Node]] = []
    seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = _scalar(key_node, ctx, where)
        if not isinstance(key, str):
            raise ctx.fail(
                key_node, where, f"option name {key!r} is not a word", "write name: value"
            )
        if key in seen:
            raise ctx.fail(
                key_node, where, f"option {key!r} given twice (also line {seen[key]})", "keep one"
            )
        seen[key] = key_node.start_mark.line + 1
        items.append((key, value_node))
    return items


def _sequence(node: yaml.Node, ctx: _Context, where: str, fix: str) -> list[yaml.Node]:
    ctx.visit(node, where)
    if isinstance(node, yaml.ScalarNode) and ctx.construct(node, where) is None:
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise ctx.fail(node, where, "expected a list", fix)
    return list(node.value)


def _input_dims(node: yaml.Node, ctx: _Context) -> list[int]:
    where = "top level"
    dims = _value(node, ctx, where)
    if not (
        isinstance(dims, list)
        and len(dims) == 3
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in dims)
    ):
        raise ctx.fail(
            node, where, f"input {dims!r} is not [height, width, channels]", _TOP_FIX["input"]
        )
    if dims[0] <= 4 and dims[1] > 4 and dims[2] > 4:  # [3, 224, 224]; not [1, 1, 100]
        c, h, w = dims
        raise ctx.fail(
            node,
            where,
            f"input {dims} looks channels-first ([channels, height, width], PyTorch's order); "
            "arch.yaml is channels-last",
            f"write input: [{h}, {w}, {c}] (or pass --input {c}x{h}x{w} --channels-first)",
        )
    return dims


def _define_blocks(node: yaml.Node, ctx: _Context) -> None:
    """``blocks: {name: {args: [a, b: default], layers: [...]}}``, kept as nodes."""
    where = "blocks"
    fix = "write blocks: {name: {args: [arg, arg: default], layers: [...]}}"
    for name, definition in _mapping(node, ctx, where, fix):
        here = f"block '{name}'"
        if name.lower() in _STRUCTURAL or canonical_type(name) is not None:
            raise ctx.fail(definition, here, f"{name!r} is a layer type", "rename the block")
        given = dict(_mapping(definition, ctx, here, fix))
        unknown = sorted(set(given) - {"args", "layers"})
        if unknown or "layers" not in given:
            problem = f"unknown key {unknown[0]!r}" if unknown else "missing layers:"
            raise ctx.fail(definition, here, problem, fix)
        defaults: dict[str, Any] = {}
        for item in _sequence(given["args"], ctx, here, fix) if "args" in given else []:
            if isinstance(item, yaml.MappingNode) and len(item.value) == 1:
                key_node, value_node = item.value[0]
                defaults[_scalar(key_node, ctx, here)] = _value(value_node, ctx, here)
            else:
                defaults[_scalar(item, ctx, here)] = dataclasses.MISSING
        nodes = _sequence(given["layers"], ctx, here, fix)
        if not nodes:
            raise ctx.fail(given["layers"], here, "no layers", fix)
        ctx.blocks[name] = (defaults, nodes, definition)


def _network(root: yaml.Node, ctx: _Context, input_shape: Shape | None = None) -> Network:
    where = "top level"
    items = dict(_mapping(root, ctx, where, "write name:, input: and layers: at the top level"))
    unknown = sorted(set(items) - {"name", "input", "layers", "blocks"})
    if unknown:
        raise ctx.fail(
            items[unknown[0]],
            where,
            f"unknown key {unknown[0]!r}",
            "use only name, input, blocks and layers",
        )
    if "blocks" in items:
        _define_blocks(items["blocks"], ctx)
    for key in ("input", "layers"):
        if key not in items:
            raise ctx.fail(root, where, f"missing {key}:", _TOP_FIX[key])
    name = _scalar(items["name"], ctx, where) if "name" in items else Path(ctx.source).stem
    if input_shape is not None:
        dims = [input_shape.height, input_shape.width, input_shape.channels]
    else:
        dims = _input_dims(items["input"], ctx)
    nodes = _sequence(items["layers"], ctx, where, _TOP_FIX["layers"])
    if not nodes:
        raise ctx.fail(items["layers"], where, "no layers", _TOP_FIX["layers"])
    layers = tuple(_layers(nodes, ctx))
    if not layers:
        raise ctx.fail(
            items["layers"], where, "no layers (every repeat ran 0 times)", _TOP_FIX["layers"]
        )
    _check_unique_names(layers, ctx)
    return Network(str(name), Shape(*dims), layers, ctx.source)


_TOP_FIX = {
    "input": "write input: [height, width, channels], e.g. [224, 224, 3]",
    "layers": "write layers: followed by a list of '- type: {options}' lines",
}


def _layers(nodes: list[yaml.Node], ctx: _Context) -> list[Layer]:
    layers: list[Layer] = []
    for node in nodes:
        layers.extend(_layer(node, ctx))
    return layers


def _layer(node: yaml.Node, ctx: _Context) -> list[Layer]:
    spelling, options = _spelling(node, ctx)
    if spelling in ctx.blocks:
        return [_use_block(node, spelling, options, ctx)]
    kind = spelling.lower() if spelling.lower() in _STRUCTURAL else canonical_type(spelling)
    if kind is None:
        known = [*LAYER_TYPES, *_STRUCTURAL, *ctx.blocks]
        close = difflib.get_close_matches(spelling.lower(), known, n=1)
        hint = f"did you mean {close[0]}?" if close else "known types: " + ", ".join(known)
        raise ctx.fail(node, f"layer '{spelling}'", f"unknown layer type {spelling!r}", hint)
    if kind != "repeat":  # a repeat block is not a layer; what it expands to is
        ctx.layers += 1
    if ctx.layers > MAX_LAYERS:
        raise ctx.fail(
            node,
            f"layer '{spelling}'",
            f"more than {MAX_LAYERS} layers after expanding repeat (the limit)",
            "lower the repeat counts",
        )
    if kind not in _STRUCTURAL:
        _check_layer_size(node, spelling, options, ctx)
    option_items = [] if options is None else _options(options, ctx, kind)
    if kind == "repeat":
        return _repeat(node, option_items, ctx)
    name = _name(kind, option_items, ctx)
    where = f"layer '{name}' ({kind})"
    build = {"residual": _residual, "aux": _aux}.get(kind)
    if build is not None:
        return [build(node, name, option_items, ctx, where)]
    if kind in _MERGES:
        return [_merge(node, kind, name, option_items, ctx, where)]
    return [_build(node, kind, name, option_items, ctx, where)]


def _spelling(node: yaml.Node, ctx: _Context) -> tuple[str, yaml.Node | None]:
    """The type spelling of a layer entry (``$arg`` resolved) and its options node."""
    where = "layer"
    ctx.visit(node, where)
    if isinstance(node, yaml.ScalarNode):
        spelling, options = _scalar(node, ctx, where), None
    elif isinstance(node, yaml.MappingNode) and len(node.value) == 1:
        key_node, options = node.value[0]
        spelling = _scalar(key_node, ctx, where)
    else:
        raise ctx.fail(
            node,
            where,
            "a layer must be a type name or a one-key mapping 'type: {options}'",
            "write e.g. '- conv2d: {filters: 64, kernel_size: 3}' and put name: inside the options",
        )
    if isinstance(spelling, str) and "$" in spelling:  # a block argument naming the type
        spelling = _substitute(spelling, node, ctx, where)
    if not isinstance(spelling, str):
        raise ctx.fail(node, where, f"layer type {spelling!r} is not a word", "write e.g. - relu")
    return spelling, options


def _check_layer_size(node, spelling: str, options, ctx: _Context) -> None:
    """Refuse a layer whose options hold more than :data:`MAX_LAYER_NODES` YAML nodes, or
    whose inline arrays (lists under an array key) hold more than :data:`MAX_ARRAY_NODES`."""
    if options is None:
        return
    arrays, rest = [], options
    if isinstance(options, yaml.MappingNode):
        pairs = options.value
        is_array = [
            isinstance(k, yaml.ScalarNode) and k.value in _ARRAY_SPELLING
            and isinstance(v, yaml.SequenceNode)
            for k, v in pairs
        ]  # fmt: skip
        arrays = [v for (_, v), a in zip(pairs, is_array, strict=True) if a]
        rest = yaml.MappingNode(
            options.tag, [p for p, a in zip(pairs, is_array, strict=True) if not a]
        )
    size = _tree_size(rest, MAX_LAYER_NODES + 1)
    array_size = sum(_tree_size(a, MAX_ARRAY_NODES + 1) for a in arrays)
    if size > MAX_LAYER_NODES or array_size > MAX_ARRAY_NODES:
        limit = MAX_LAYER_NODES if size > MAX_LAYER_NODES else MAX_ARRAY_NODES
        raise ctx.fail(
            node,
            f"layer '{spelling}'",
            f"its options hold more than {limit} YAML nodes (an alias bomb?)",
            "write each option as a number or a short list; larger weights go in --weights "
            "FILE.npz",
        )


#: The YAML spelling of each inline array key (``depthwise_weight`` for ``depthwise.weight``).
_ARRAY_SPELLING = {
    k.replace(".", "_"): k
    for cls, _ in LAYER_TYPES.values()
    for k in getattr(cls, "array_keys", ())
}


def _inline_array(cls, key, node, spelling, values, arrays, ctx, where) -> bool:
    """Take ``key: [numbers...]`` as an inline array of ``cls`` (appended to ``arrays``;
    a ``bias`` list also sets ``bias: true``); False when it is an ordinary option."""
    accepted = {k.replace(".", "_"): k for k in cls.array_keys}
    if key not in accepted or (key in spelling and not isinstance(node, yaml.SequenceNode)):
        return False
    arrays.append((accepted[key], *_array(node, ctx, where, key)))
    if key in spelling:  # bias: [0.1, ...] means bias: true with these values
        values[spelling[key]] = True
    return True


#: A number YAML 1.1 reads as text (no dot before the exponent: ``1e-3``).
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_FLOAT32_MAX = 3.4028234663852886e38


def _array(node: yaml.Node, ctx: _Context, where: str, key: str):
    """A nested list of numbers -> ``(nested tuples of floats, shape)``; ragged or
    non-numeric lists are refused."""
    fix = f"write {key}: as a rectangular list of numbers, e.g. [[1, 0], [0, 1]]"

    def walk(n: yaml.Node, depth: int):
        ctx.visit(n, where)
        if isinstance(n, yaml.SequenceNode):
            if depth > 4 or not n.value:
                raise ctx.fail(n, where, f"{key}: an empty list or more than 4 levels", fix)
            items = [walk(v, depth + 1) for v in n.value]
            shapes = {shape for _, shape in items}
            if len(shapes) != 1:
                raise ctx.fail(n, where, f"{key}: rows of different lengths", fix)
            return tuple(v for v, _ in items), (len(items), *shapes.pop())
        value = _scalar(n, ctx, where)
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            value = float(value)  # 1e-3: YAML 1.1 reads a float without a dot as text
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ctx.fail(n, where, f"{key}: {value!r} is not a number", fix)
        if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
            raise ctx.fail(
                n,
                where,
                f"{key}: {n.value} is not a finite number of float32's range (+-3.4e38)",
                "write every weight as a finite number",
            )
        return float(value), ()

    return walk(node, 0)


def _tree_size(node: yaml.Node, limit: int) -> int:
    """YAML nodes under ``node`` (aliases counted at each use), counting stops at ``limit``."""
    count, stack = 0, [node]
    while stack and count < limit:
        current = stack.pop()
        count += 1
        if isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, yaml.MappingNode):
            stack.extend(n for pair in current.value for n in pair)
    return count


def _options(node: yaml.Node, ctx: _Context, kind: str) -> list[tuple[str, yaml.Node]]:
    if isinstance(node, yaml.ScalarNode) and ctx.construct(node, f"layer '{kind}'") is None:
        return []
    return _mapping(node, ctx, f"layer '{kind}'", f"write {kind}: {{option: value, ...}}")


def _name(kind: str, items: list[tuple[str, yaml.Node]], ctx: _Context) -> str:
    for key, value in items:
        if key == "name":
            name = _scalar(value, ctx, f"layer ({kind})")
            if not isinstance(name, str | int) or isinstance(name, bool) or str(name) == "":
                raise ctx.fail(
                    value, f"layer ({kind})", f"name {name!r} is not text", "write name: some_text"
                )
            name = str(name)
            for i, times in reversed(ctx.iterations):  # innermost repeat first
                if "{i}" in name:
                    name = name.replace("{i}", str(i))
                elif times > 1:  # a repeat of 0 or 1 (a condition) keeps the name
                    name = f"{name}_{i}"
            return f"{ctx.prefixes[-1]}.{name}" if ctx.prefixes else name
    ctx.counters[kind] = ctx.counters.get(kind, 0) + 1
    return f"{kind}_{ctx.counters[kind]}"


def _build(node, kind, name, items, ctx: _Context, where: str) -> Layer:
    cls, fixed = LAYER_TYPES[kind]
    specs = option_specs(cls)
    spelling = {alias: opt for opt, f in specs.items() for alias in (opt, *f.metadata["aliases"])}
    values: dict[str, Any] = {}
    arrays: list = []
    for key, value_node in items:
        if key == "name" or _inline_array(
            cls, key, value_node, spelling, values, arrays, ctx, where
        ):
            continue
        option = spelling.get(key)
        if option is None:
            close = difflib.get_close_matches(key, list(spelling), n=1)
            fix = (
                f"did you mean {close[0]}?"
                if close
                else (
                    "its options are " + ", ".join(specs) if specs else f"{kind} takes no options"
                )
            )
            raise ctx.fail(value_node, where, f"unknown option {key!r}", fix)
        if option in values:
            raise ctx.fail(
                value_node,
                where,
                f"option {option!r} given twice (as {key!r})",
                "keep one spelling",
            )
        try:
            values[option] = specs[option].metadata["convert"](_value(value_node, ctx, where))
        except OptionError as exc:
            raise ctx.fail(value_node, where, f"{key}: {exc.problem}", exc.fix) from None
    try:
        values = cls.complete(values)
    except OptionError as exc:
        raise ctx.fail(node, where, exc.problem, exc.fix) from None
    for option, f in specs.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and option not in values:
            raise ctx.fail(node, where, f"missing option {option!r}", f"add {option}: <value>")
    if values.get("kernels") is not None and any(k == "weight" for k, *_ in arrays):
        raise ctx.fail(
            node,
            where,
            "both kernels: and weight: give this layer's filters",
            "keep one of them (kernels: names registry kernels, weight: holds the numbers)",
        )
    extra = {"arrays": tuple(arrays)} if arrays else {}
    return cls(name=name, line=node.start_mark.line + 1, type=kind, **fixed, **values, **extra)


def _nested(ctx: _Context, node: yaml.Node, where: str) -> None:
    ctx.nesting += 1
    if ctx.nesting > MAX_DEPTH:
        raise ctx.fail(
            node, where, f"residual/repeat nested deeper than {MAX_DEPTH}", "flatten the structure"
        )


def _residual(node, name: str, items, ctx: _Context, where: str) -> Residual:
    fix = "write residual: {body: [layers...], shortcut: [layers...]}"
    given = dict(items)
    unknown = sorted(set(given) - {"name", "body", "shortcut"})
    if unknown:
        raise ctx.fail(given[unknown[0]], where, f"unknown option {unknown[0]!r}", fix)
    if "body" not in given:
        raise ctx.fail(node, where, "missing option 'body'", fix)
    _nested(ctx, node, where)
    body = _layers(_sequence(given["body"], ctx, where, fix), ctx)
    shortcut_nodes = _sequence(given["shortcut"], ctx, where, fix) if "shortcut" in given else []
    shortcut = _layers(shortcut_nodes, ctx)
    ctx.nesting -= 1
    if not body:
        raise ctx.fail(given["body"], where, "empty body", "put at least one layer in body:")
    return Residual(
        name=name,
        line=node.start_mark.line + 1,
        type="residual",
        op="add",
        branches=(("body", tuple(body)), ("shortcut", tuple(shortcut))),
    )


def _merge(node, kind: str, name: str, items, ctx: _Context, where: str) -> Merge:
    """``add``/``concat``/``multiply: {branches: {name: [layers], ...}}`` (or a list of lists)."""
    fix = f"write {kind}: {{branches: {{a: [layers...], b: [layers...]}}}} ([] is the identity)"
    given = dict(items)
    unknown = sorted(set(given) - {"name", "branches"})
    if unknown:
        raise ctx.fail(given[unknown[0]], where, f"unknown option {unknown[0]!r}", fix)
    if "branches" not in given:
        raise ctx.fail(node, where, "missing option 'branches'", fix)
    _nested(ctx, node, where)
    branch_node = given["branches"]
    if isinstance(branch_node, yaml.SequenceNode):
        named = [(str(i), item) for i, item in enumerate(_sequence(branch_node, ctx, where, fix))]
    else:
        named = _mapping(branch_node, ctx, where, fix)
    if len(named) < 2:
        raise ctx.fail(branch_node, where, f"{len(named)} branch", "give at least two branches")
    branches = tuple(
        (branch, tuple(_layers(_sequence(layers, ctx, where, fix), ctx)))
        for branch, layers in named
    )
    ctx.nesting -= 1
    line = node.start_mark.line + 1
    return Merge(name=name, line=line, type=kind, op=kind, branches=branches)


def _aux(node, name: str, items, ctx: _Context, where: str) -> Merge:
    """``aux: {layers: [...], train_only: true}``: a side branch; the input passes on."""
    fix = "write aux: {layers: [layers...], train_only: true}"
    given = dict(items)
    unknown = sorted(set(given) - {"name", "layers", "train_only"})
    if unknown or "layers" not in given:
        problem = f"unknown option {unknown[0]!r}" if unknown else "missing option 'layers'"
        raise ctx.fail(node, where, problem, fix)
    train_only = _scalar(given["train_only"], ctx, where) if "train_only" in given else True
    if not isinstance(train_only, bool):
        raise ctx.fail(given["train_only"], where, "train_only: expected true or false", fix)
    _nested(ctx, node, where)
    layers = tuple(_layers(_sequence(given["layers"], ctx, where, fix), ctx))
    ctx.nesting -= 1
    return Merge(
        name=name,
        line=node.start_mark.line + 1,
        type="aux",
        op="aux",
        branches=(("main", ()), ("aux", layers)),
        train_only=train_only,
    )


def _use_block(node, block: str, options, ctx: _Context) -> Block:
    """One use of a block: its arguments bound, its layers parsed in their scope."""
    defaults, nodes, _ = ctx.blocks[block]
    where = f"block '{block}'"
    items = [] if options is None else _options(options, ctx, block)
    values: dict[str, Any] = {}
    name = None
    for key, value_node in items:
        if key == "name":
            continue
        if key not in defaults:
            close = difflib.get_close_matches(key, list(defaults), n=1)
            fix = f"did you mean {close[0]}?" if close else f"its args are {', '.join(defaults)}"
            raise ctx.fail(value_node, where, f"unknown argument {key!r}", fix)
        values[key] = _value(value_node, ctx, where)
    name = _name(block, items, ctx)
    for key, default in defaults.items():
        if key not in values:
            if default is dataclasses.MISSING:
                raise ctx.fail(node, where, f"missing argument {key!r}", f"add {key}: <value>")
            values[key] = default
    _nested(ctx, node, where)
    ctx.args.append(values)
    ctx.prefixes.append(name)
    saved, ctx.iterations = ctx.iterations, []
    try:
        layers = tuple(_layers(nodes, ctx))
    finally:
        ctx.args.pop()
        ctx.prefixes.pop()
        ctx.iterations = saved
    ctx.nesting -= 1
    return Block(name=name, line=node.start_mark.line + 1, type=block, block=block, layers=layers)


def _repeat(node, items, ctx: _Context) -> list[Layer]:
    where = "repeat"
    fix = "write repeat: {times: n, layers: [layers...]}"
    given = dict(items)
    unknown = sorted(set(given) - {"times", "layers", "start"})
    if unknown:
        raise ctx.fail(
            given[unknown[0]],
            where,
            f"unknown option {unknown[0]!r}",
            fix + " (names go on the repeated layers; {i} is the iteration)",
        )
    for key in ("times", "layers"):
        if key not in given:
            raise ctx.fail(node, where, f"missing option {key!r}", fix)
    times = _scalar(given["times"], ctx, where)
    start = _scalar(given["start"], ctx, where) if "start" in given else 1
    for key, value, minimum in (("times", times, 0), ("start", start, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ctx.fail(
                given[key],
                where,
                f"{key} {value!r} is not a whole number >= {minimum}",
                f"write e.g. {key}: 2",
            )
    nodes = _sequence(given["layers"], ctx, where, fix)
    if not nodes:
        raise ctx.fail(given["layers"], where, "no layers to repeat", fix)
    if times * len(nodes) > MAX_LAYERS:
        raise ctx.fail(
            given["times"],
            where,
            f"{times} x {len(nodes)} layers is more than {MAX_LAYERS} layers after expanding "
            "repeat (the limit)",
            "lower times",
        )
    _nested(ctx, node, where)
    layers: list[Layer] = []
    for i in range(start, start + times):
        ctx.iterations.append((i, times))
        ctx.replaying += i > start  # later passes: counted as layers, not as YAML nodes
        layers.extend(_layers(nodes, ctx))
        ctx.replaying -= i > start
        ctx.iterations.pop()
    ctx.nesting -= 1
    return layers


def _walk(layers: tuple[Layer, ...]):
    for layer in layers:
        yield layer
        if isinstance(layer, Merge):
            for _, branch in layer.branches:
                yield from _walk(branch)
        elif isinstance(layer, Block):
            yield from _walk(layer.layers)


def _check_unique_names(layers: tuple[Layer, ...], ctx: _Context) -> None:
    seen: dict[str, Layer] = {}
    for layer in _walk(layers):
        if layer.name in seen:
            raise ctx.fail(
                layer.line,
                f"layer '{layer.name}' ({layer.type})",
                f"the name is already used on line {seen[layer.name].line}",
                "give each layer its own name",
            )
        seen[layer.name] = layer
