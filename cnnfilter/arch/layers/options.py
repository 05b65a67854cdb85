"""The option converters of ``arch.yaml`` layers, and the spellings of activations.

Each converter takes the plain YAML value (int, float, bool, str, None or a short list
of those) and returns the stored value or raises :class:`OptionError`; :func:`opt`
makes a dataclass field of one (converter, default, aliases). :data:`ACTIVATIONS` and
the other spellings of layer types (``_ALIASES``) are the names the registry
(:mod:`cnnfilter.arch.layers.registry`) builds its lookup from; the ``activation``
option checks its value against the same names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import field
from typing import Any

from cnnfilter.engine.geometry import as_pair, parse_padding

Padding = str | tuple[int, int, int, int]
"""``"same"``, ``"valid"`` or explicit ``(top, bottom, left, right)`` in pixels."""


class OptionError(ValueError):
    """An option value breaks its rule; ``fix`` says what to write instead."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


# ---------------------------------------------------------------- converters
# Each converter takes the plain YAML value (int, float, bool, str, None or a
# short list of those) and returns the stored value or raises OptionError.


def _int(value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"expected an integer, got {value!r}", "write a whole number")
    if value < minimum:
        raise OptionError(f"must be >= {minimum}, got {value}", f"use a value >= {minimum}")
    return value


def positive(value: Any) -> int:
    """An integer >= 1 (filters, units, groups...)."""
    return _int(value, 1)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else _int(value, 1)


def pair(value: Any) -> tuple[int, int]:
    """``k`` or ``[rows, cols]``, each >= 1 (kernel size, stride, dilation)."""
    if isinstance(value, list) and len(value) != 2:
        raise OptionError(f"expected k or [rows, cols], got {value!r}", "write k or [kh, kw]")
    for v in value if isinstance(value, list) else [value]:
        _int(v, 1)  # the YAML wording: "expected an integer", "must be >= 1"
    return as_pair(value, name="value")


def _pair_or_none(value: Any) -> tuple[int, int] | None:
    return None if value is None else pair(value)


_PADDING_FIX = "write same, valid, p, [ph, pw] or [top, bottom, left, right]"


def padding(value: Any) -> Padding:
    """``same``, ``valid``, ``p``, ``[ph, pw]``, ``[top, bottom, left, right]``
    or Keras' ``[[top, bottom], [left, right]]``; explicit values >= 0.

    Read by :func:`cnnfilter.engine.geometry.parse_padding`, the parser of
    ``apply --padding`` and :func:`cnnfilter.correlate` too; ``arch.yaml`` has
    no ``full``.
    """
    names = ("same", "valid")
    if isinstance(value, str) and value.strip().lower() not in names:
        raise OptionError(f"unknown padding {value!r}", _PADDING_FIX)
    if isinstance(value, bool) or not isinstance(value, int | str | list):
        raise OptionError(f"expected a padding, got {value!r}", _PADDING_FIX)
    try:
        return parse_padding(value, names=names)
    except (TypeError, ValueError) as exc:
        raise OptionError(str(exc), _PADDING_FIX) from None


def _lc_padding(value: Any) -> Padding:
    if not isinstance(value, str) or value.strip().lower() not in ("same", "valid"):
        raise OptionError(f"expected valid or same, got {value!r}", "write valid or same")
    return parse_padding(value)


def boolean(value: Any) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise OptionError(f"expected true or false, got {value!r}", "write true or false")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OptionError(f"expected a number, got {value!r}", "write a number")
    return float(value)


def _rate(value: Any) -> float:
    rate = _number(value)
    if not 0.0 <= rate < 1.0:
        raise OptionError(f"must be in [0, 1), got {value!r}", "write a rate like 0.5")
    return rate


def _int_any(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"expected an integer, got {value!r}", "write a whole number")
    return value


def _choice(value: Any, names: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in names:
        raise OptionError(f"expected one of {', '.join(names)}, got {value!r}", f"write {names[0]}")
    return value.lower()


def _kernel_names(value: Any) -> tuple[str | tuple[str, ...], ...]:
    """The filters of a hand-set layer: per filter a registry kernel spec (the same kernel on
    every input channel) or a list of specs, one per input channel (``none``: zeros).

    >>> _kernel_names(["curve", ["sobel-x", "none"]])
    ('curve', ('sobel-x', 'none'))
    """
    items = value if isinstance(value, list) else [value]

    def spec(v: Any) -> bool:
        return isinstance(v, str) and bool(v.strip())

    def entry(v: Any) -> bool:
        return spec(v) or (isinstance(v, list) and bool(v) and all(spec(k) for k in v))

    if not items or len(items) > 1024 or not all(entry(v) for v in items):
        raise OptionError(
            f"expected a list of kernel names, got {value!r}",
            "write kernels: [sobel-x, curve], or one name per input channel: "
            "kernels: [[sobel-x, none, none], curve]",
        )
    return tuple(v.strip() if isinstance(v, str) else tuple(k.strip() for k in v) for v in items)


ACTIVATIONS = (
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
    "softplus",
    "mish",
    "prelu",
    "identity",
)


# Other spellings of the layer types, compared after lower-casing and removing underscores
# (registry.py's lookup reads them with the canonical names).
_ALIASES = {
    "conv": "conv2d",
    "convolution2d": "conv2d",
    "depthwiseconv2d": "depthwise_conv2d",
    "separableconv2d": "separable_conv2d",
    "convtranspose2d": "conv_transpose2d",
    "conv2dtranspose": "conv_transpose2d",
    "deconv2d": "conv_transpose2d",
    "locallyconnected2d": "locally_connected2d",
    "linear": "dense",
    "maxpooling2d": "maxpool2d",
    "averagepooling2d": "avgpool2d",
    "avgpooling2d": "avgpool2d",
    "globalaveragepooling2d": "global_avgpool2d",
    "globalmaxpooling2d": "global_maxpool2d",
    "batchnormalization": "batchnorm2d",
    "groupnormalization": "groupnorm",
    "layernormalization": "layernorm",
    "upsampling2d": "upsample",
    "dropout2d": "dropout",
    "swish": "silu",
    "hardswish": "hardswish",
    "hardsigmoid": "hardsigmoid",
}


def _key(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


#: The spellings of the activations: the registry's ``canonical_type`` restricted to
#: :data:`ACTIVATIONS` (the same names and aliases), read here without the layer classes.
#: One more, for the option only: Keras' ``activation="linear"`` is no activation (as a
#: layer type, ``linear`` is PyTorch's ``nn.Linear``, a dense layer).
_ACTIVATION_LOOKUP = (
    {_key(name): name for name in ACTIVATIONS}
    | {spelling: name for spelling, name in _ALIASES.items() if name in ACTIVATIONS}
    | {"linear": "identity"}
)


def _activation_name(value: Any) -> str | None:
    if value is None:
        return None
    name = _ACTIVATION_LOOKUP.get(_key(value)) if isinstance(value, str) else None
    if name not in ACTIVATIONS:
        raise OptionError(
            f"unknown activation {value!r}", f"write one of {', '.join(sorted(ACTIVATIONS))}"
        )
    return name


def opt(
    convert: Callable[[Any], Any],
    default: Any = dataclasses.MISSING,
    *aliases: str,
    doc: str = "",
) -> Any:
    """A dataclass field that is a user option: converter, default, aliases."""
    meta = {"convert": convert, "aliases": aliases, "doc": doc}
    if default is dataclasses.MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)
