"""Where a layer's arrays come from when a layer stack runs: the arch file, given arrays, ``init``.

:class:`Weights` answers each layer's request for ``<layer>.<key>`` of a shape
(first match wins): an inline array of the arch file (``weight: [[...]]``),
a given array (a ``.npz`` file's, or a mapping's through the Python API), or
``init='he'`` / ``'glorot'`` random weights from ``seed``; else an error naming
the layer, where the array could come from and, for a misspelt key, the array
it probably is (:func:`cnnfilter.arch.names.close_names`).
:func:`kernel_filters` builds a ``conv2d: {kernels: [...]}`` layer's weight
from registry kernels; :func:`weight_arrays` checks and converts given arrays
(Keras' layouts to PyTorch's). Reading a ``.npz`` file is the workflow's
(:func:`cnnfilter.tasks.forward.load_weights`): nothing here opens a file.
The runner is :mod:`cnnfilter.arch.run`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from cnnfilter.arch.names import close_names
from cnnfilter.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["INITS", "LAYOUTS", "Weights", "check_seed", "kernel_filters", "weight_arrays"]

INITS = ("he", "glorot")
LAYOUTS = ("torch", "keras")


def check_seed(seed: int) -> None:
    """Refuse a seed NumPy's generator does not take (a negative number).

    Raises:
        UsageError: ``seed`` below 0.
    """
    if seed < 0:
        raise UsageError(f"seed={seed} is negative; give 0 or more")


def weight_arrays(
    arrays: Mapping[str, object], *, layout: str = "torch", where: str = "weights"
) -> dict[str, np.ndarray]:
    """Given arrays as float32, checked, in PyTorch's layouts.

    Args:
        arrays: ``<layer>.<key>`` -> array (``conv1.weight``, ``bn1.running_var``,
            ``block.dw.depthwise.weight``), integers or floats of any width.
        layout: ``"torch"`` (as given) or ``"keras"``: 4-D ``(kh, kw, in, out)``
            and 2-D ``(in, out)`` weights transposed to PyTorch's ``(out, in, kh,
            kw)`` / ``(out, in)`` (:func:`cnnfilter.engine.layers.keras_to_torch`).
        where: how messages name the arrays' source (``weights='w.npz'``).

    Returns:
        A new dict of float32 arrays, same keys.

    Raises:
        UsageError (a ValueError): an unknown ``layout``; an array that is not
            real numbers (object, complex, bool, text), or holds NaN, inf or
            values beyond float32's range (naming the array).
    """
    from cnnfilter.engine.layers import keras_to_torch

    if layout not in LAYOUTS:
        raise UsageError(f"layout={layout!r} is not one of {', '.join(LAYOUTS)}")
    out = {k: _weight_array(v, k, where) for k, v in arrays.items()}
    if layout == "keras":
        out = {
            k: keras_to_torch(v, depthwise=k.endswith("depthwise.weight") or k.endswith("dw"))
            if k.endswith("weight") and v.ndim in (2, 4)
            else v
            for k, v in out.items()
        }
    return out


def _weight_array(value, key: str, where: str) -> np.ndarray:
    """One given array (a ``.npz`` member) as float32, refused unless real, numeric and finite."""
    import numpy as np

    if not isinstance(value, np.ndarray):  # a zip member that is not a .npy file
        raise UsageError(
            f"{where}: its member {key!r} is not a .npy array; keep only arrays "
            "in the .npz (numpy.savez writes them)"
        )
    if value.dtype.kind not in "iuf":
        raise UsageError(
            f"{where}: array {key!r} holds {value.dtype} values; weights must be real "
            "numbers (integers or floats): convert it, e.g. w.astype('float32')"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        arr = np.asarray(value, dtype=np.float32)
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        overflow = value.dtype.kind == "f" and bool(np.isfinite(value).sum() > arr.size - bad)
        beyond = " or beyond float32's range (3.4e38)" if overflow else ""
        raise UsageError(
            f"{where}: array {key!r} holds {bad} value(s) that are NaN or inf{beyond}; "
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
    """Where each layer's arrays come from: inline, stored arrays, then ``init``, else an error.

    Args:
        stored: given arrays, ``<layer>.<key>`` -> float32 array in PyTorch's
            layout (:func:`weight_arrays`).
        init: ``None``, ``"he"`` or ``"glorot"``: random weights for a layer
            that has none (biases 0, normalisations the identity).
        seed: the seed of ``init``'s generator, 0 or more.
        source: the file ``stored`` was read from, named in messages as
            ``weights='w.npz'``; ``None``: no file (no arrays, or a mapping
            given in Python, named ``weights``).
        layout: the layout ``stored`` was given in (for the hint on a shape
            that is the other layout's).

    After a run, ``used`` holds the stored keys read, ``initialised`` the
    layers ``init`` filled, and :meth:`unused` / :meth:`meant` say which
    stored arrays no layer read and what each probably meant.

    Raises:
        UsageError (a ValueError): an unknown ``init``, a negative ``seed``.
    """

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
        self.named = "weights" if source is None else f"weights={source!r}"
        self.rng = np.random.default_rng(seed)
        self.used: set[str] = set()
        self.asked: dict[str, None] = {}  # every <layer>.<key> a layer looked for, in order
        self.initialised: list[str] = []
        #: the network's layer names (:func:`cnnfilter.arch.run.run_network` sets them): a
        #: stored array of one of them is that layer's, never another's misspelling
        self.layer_names: frozenset[str] = frozenset()

    def get(self, layer, key: str, shape: tuple[int, ...], fan: tuple[int, int], fill=None):
        """``<layer>.<key>`` of ``shape``; ``fan`` (in, out) for ``init``; ``fill`` a
        constant for vectors that ``init`` sets (bias 0, batchnorm identity)."""
        import numpy as np

        full = f"{layer.name}.{key}"
        self.asked[full] = None
        inline = _inline(layer, key, shape)
        if inline is not None:
            return inline
        if full in self.stored:
            arr = self.stored[full]
            if arr.shape != shape:
                raise UsageError(
                    f"array '{full}' of {self.named} has shape {arr.shape}, layer "
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
        if self.stored or self.source is not None:
            keys = sorted(self.stored)
            shown = ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")
            meant = self._misnamed(layer, key)
            hint = f"did you mean {meant!r}? rename it {full!r}; " if meant else ""
            return (
                f"layer '{layer.name}' ({layer.type}) has no weights: {self.named} "
                f"has no array '{full}' (it holds: {shown or 'nothing'}); {hint}fix: name the "
                "arrays <layer>.<key> after the layers of the arch file, or add init='he' and "
                "seed=N"
            )
        inline = "kernels: or weight:" if type(layer).__name__ == "Conv2d" else "its arrays"
        return (
            f"layer '{layer.name}' ({layer.type}) has no weights: give '{full}' in "
            f"weights=FILE.npz, {inline} in the arch file, or init='he' and seed=N"
        )

    def _misnamed(self, layer, key: str) -> str | None:
        """The unused stored array that is probably ``<layer>.<key>`` misspelt: first one
        of this layer's (``c.weigth``), else one of the same key whose layer part is no
        layer of the network (``conv_1.weight`` for ``conv1.weight``)."""
        full, unused = f"{layer.name}.{key}", self.unused()
        own = [k for k in unused if k.startswith(f"{layer.name}.")]
        close = close_names(full, own)
        if not close:
            strays = [
                k
                for k in unused
                if k.endswith(f".{key}")
                and not any(k.startswith(f"{n}.") for n in self.layer_names)
            ]
            close = close_names(full, strays)
        return close[0] if close else None

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
        """Whether ``key`` is given inline or in the stored arrays."""
        self.asked[f"{layer.name}.{key}"] = None
        return any(k == key for k, *_ in layer.arrays) or f"{layer.name}.{key}" in self.stored

    def unused(self) -> list[str]:
        """The stored keys no layer has read (so far), sorted."""
        return sorted(set(self.stored) - self.used)

    def meant(self, key: str) -> str | None:
        """The layer array an unused stored ``key`` probably meant (``conv1.weigth`` ->
        ``conv1.weight``): the closest of the arrays the layers looked for and did not
        find stored, or None."""
        close = close_names(key, [k for k in self.asked if k not in self.stored])
        return close[0] if close else None

    def bias(self, layer, n: int):
        """The ``(n,)`` bias of ``layer``, or None: a layer without one, or a stored
        weight without a bias (a layer saved with ``bias=False``)."""
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
