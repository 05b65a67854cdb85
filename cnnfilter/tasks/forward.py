"""``forward``: run an ``arch.yaml`` layer stack on one photo and keep every feature map.

The input: the photo read by :func:`cnnfilter.imageio.read_image`, alpha
dropped, as float32 ``H x W x C`` **scaled to 0..1** (divided by the file's
full white, 255 or 65535; a ``.npy`` map is taken as it is). The network's
``input:`` shape is replaced by the photo's.

Weights, per layer (first match wins):

* ``conv2d: {kernels: [vertical-lines, curve]}``: one filter per registry
  kernel, the **same 2-D kernel on every input channel** (so the filter sums
  the kernel's cross-correlation over the input channels, divided by
  nothing), smaller kernels zero-padded round their centre to the largest;
  a 3-D registry kernel ``(kh, kw, C)`` gives one 2-D kernel per channel.
  The kernel is placed **unflipped**: a CNN layer computes
  cross-correlation, so a map is :func:`cnnfilter.engine.filtering.correlate`
  of the input with the registry kernel (``cnnfilter apply --op correlate``),
  not the convolution the registry's line and Sobel kernels are written for
  (their maps have the opposite sign of ``apply``'s default). The article's
  curve detector is a pattern and is meant unflipped. Bias 0. An entry may
  be a list of names, one per input channel (``none``: zeros), e.g.
  ``kernels: [[sobel-x, none, none], curve]``
  (:func:`cnnfilter.arch.weights.kernel_filters`).
* inline arrays in the arch file (``weight: [[...]]``, ``bias: [...]``,
  ``running_mean: [...]``, ...), PyTorch's layouts, size-1 axes optional;
  a wrong shape is one error naming the layer and the shape it needs.
* ``weights=`` a ``.npz`` keyed ``<layer>.weight``, ``<layer>.bias``
  (batchnorm also ``.running_mean``, ``.running_var``; separable conv
  ``.depthwise.weight``, ``.pointwise.weight``), PyTorch's layouts;
  ``layout='keras'`` converts Keras' ``(kh, kw, in, out)`` / ``(in, out)``.
* ``init='he'`` (normal, std ``sqrt(2 / fan_in)``) or ``'glorot'``
  (uniform, limit ``sqrt(6 / (fan_in + fan_out))``), from ``seed``;
  biases 0, batchnorm the identity (mean 0, var 1, weight 1, bias 0).

A layer with weights and none of these is an error naming it. The pass is
depth-first over the layer tree and keeps only the arrays later layers read
(a merge's input until its branches are done); each layer's map is written
(montage, statistics) as soon as it is made and then dropped, except with
``npz=True``, which keeps every map for the ``.npz`` file.

The pass itself, arrays in and maps out, is the library's
(:func:`cnnfilter.arch.run.run_network`, the weights' rules
:class:`cnnfilter.arch.weights.Weights`); this module is the command's
workflow: reading the photo and the ``.npz``, the checks before any work,
the montages, ``summary.json`` and the notes.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cnnfilter.arch.names import check_layer
from cnnfilter.arch.run import emit_order, run_network
from cnnfilter.arch.weights import LAYOUTS, Weights, check_seed, weight_arrays
from cnnfilter.errors import ProcessingError, UsageError
from cnnfilter.tasks._common import STDIO, check_finite, check_output_path

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ForwardResult",
    "check_cost",
    "forward",
    "load_weights",
    "montage_name",
    "read_input",
]

#: Most multiply-adds a pass may take (VGG-16 on a 1024 x 1024 photo: 3.2e11, about a
#: minute with its montages; on a 12-megapixel phone photo 3.7e12 and gigabytes a map).
MAX_FORWARD_MACS = 10**12
#: Longest layer part of a montage's file name, in UTF-8 bytes (a file name holds 255).
MAX_NAME_BYTES = 120


@dataclass
class ForwardResult:
    """What :func:`forward` did: ``report`` (JSON-ready), files written, notes for people."""

    report: dict
    written: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_weights(path: str | Path, *, layout: str = "torch") -> dict[str, np.ndarray]:
    """Read a ``.npz`` of named arrays (float32), converting Keras' layouts when asked.

    Never unpickles (``allow_pickle=False``). Integer and float arrays of any
    width are converted to float32; every value must then be finite.

    Raises:
        UsageError: unreadable, empty, truncated or not a ``.npz`` (a single
            ``.npy`` array is named as such); an object (pickled), complex, bool
            or text array, or one holding NaN/inf or values beyond float32's
            range (naming the array); an unknown ``layout``.
    """
    import zipfile

    import numpy as np

    if layout not in LAYOUTS:
        raise UsageError(f"layout={layout!r} is not one of {', '.join(LAYOUTS)}")
    name = str(path)
    fix = "fix: save the arrays with numpy.savez('w.npz', **{'conv1.weight': w, ...})"
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError as exc:
        raise UsageError(f"weights={name!r} cannot be read ({exc.strerror or exc})") from None
    if not head:
        raise UsageError(f"weights={name!r} is empty (0 bytes), not a .npz file; {fix}")
    if head.startswith(b"\x93NUMPY"):
        raise UsageError(
            f"weights={name!r} is a single .npy array, not a .npz of arrays named by layer; {fix}"
        )
    if not head.startswith(b"PK"):
        raise UsageError(
            f"weights={name!r} is not a .npz file (a zip of .npy arrays keyed "
            f"<layer>.weight, <layer>.bias, ...); {fix}"
        )
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            members = {k: data[k] for k in data.files}
            arrays = weight_arrays(members, layout=layout, where=f"weights={name!r}")
    except UsageError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        text = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
        if "allow_pickle" in text:
            text = "an object array: cnnfilter never unpickles a file"
        raise UsageError(
            f"weights={name!r} is truncated or not a .npz numpy can read ({text}); {fix}"
        ) from None
    return arrays


def read_input(photo: str | Path, *, max_pixels: int | None = None) -> np.ndarray:
    """The photo as float32 ``(H, W, C)``, 0..1 (a ``.npy`` array as it is); alpha dropped.

    Raises:
        UsageError: as :func:`cnnfilter.imageio.read_image`; a ``.npy`` holding NaN or
            inf (:func:`cnnfilter.tasks._common.check_finite`) or values beyond float32.
        ProcessingError: an unreadable image.
    """
    import numpy as np

    from cnnfilter import imageio

    kw = {} if max_pixels is None else {"max_pixels": max_pixels}
    loaded = imageio.read_image(photo, **kw)
    check_finite(loaded.pixels, photo)  # NaN/inf would make every later map NaN
    with np.errstate(over="ignore"):  # a float64 .npy beyond float32: refused just below
        x = np.asarray(loaded.pixels, dtype=np.float32)
    if not np.isfinite(x).all():
        raise UsageError(
            f"{'standard input' if str(photo) == STDIO else repr(str(photo))} holds values "
            "beyond float32's range (±3.4e38), which forward computes in: scale them down first"
        )
    if loaded.meta is not None:  # an image file, not a .npy map
        x = x / np.float32(loaded.max_value)
    return x[..., None] if x.ndim == 2 else x


def _stats(x: np.ndarray) -> dict:
    import numpy as np

    finite = x[np.isfinite(x)]
    return {
        "shape": list(x.shape),
        "min": float(finite.min()) if finite.size else None,
        "max": float(finite.max()) if finite.size else None,
        "mean": float(finite.mean(dtype=np.float64)) if finite.size else None,
        "zeros": float(np.count_nonzero(x == 0) / x.size),
    }


class Outputs:
    """The files one ``forward`` run writes into its folder, checked before any work.

    ``check(names)`` refuses, before the pass: a folder that is ``-``, empty, a
    file or a device; a file name that is one of ``inputs`` (the photo, the arch
    file, the weights; any spelling, link or hard link, even with ``force``); a
    file that exists without ``force``. ``write(name, data)`` writes atomically;
    ``undo()`` removes what this run created (files, the folder) when it fails,
    so a failed or interrupted run leaves nothing behind.
    """

    def __init__(self, output: str | Path, inputs: list, *, force: bool) -> None:
        self.dir, self.inputs, self.force = Path(output), inputs, force
        self.text = str(output)  # Path("") is ".": keep the empty name to refuse it
        self.created: list[Path] = []
        self.made_dir = False

    def check(self, names: list[str]) -> None:
        """Refuse the folder or any of the files ``names`` in it (see the class)."""
        import os
        import stat

        text = self.text
        if text in ("", "-"):
            what = "empty" if not text else "standard output"
            raise UsageError(
                f"output={text!r} is {what}; forward writes a folder of files (a montage per "
                "layer, summary.json): give a folder such as maps/"
            )
        try:
            st = os.stat(self.dir)
        except FileNotFoundError:
            st = None
        except OSError as exc:  # a name too long, a loop of links, a file on the way
            raise UsageError(
                f"output={text!r} cannot be a folder ({exc.strerror or exc})"
            ) from None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            kind = "a file" if stat.S_ISREG(st.st_mode) else "a device or special file"
            raise UsageError(
                f"output={text!r} is {kind}, not a folder; forward writes several files: "
                "give a folder (it is made when missing)"
            )
        if st is not None and not os.access(self.dir, os.W_OK | os.X_OK):
            raise UsageError(
                f"output={text!r} is a folder you cannot write to (permission denied); "
                "choose another folder"
            )
        for name in names:
            check_output_path(self.dir / name, self.inputs, force=self.force)

    def write(self, name: str, data: bytes) -> str:
        """Write ``data`` to ``name`` in the folder (made on first use); the path written."""
        from cnnfilter.tasks._common import write_output

        if not self.dir.is_dir():
            try:
                self.dir.mkdir(parents=True)
            except OSError as exc:
                raise ProcessingError(
                    f"cannot create folder {str(self.dir)!r}: {exc.strerror or exc}"
                ) from None
            self.made_dir = True
        path = self.dir / name
        existed = os.path.lexists(path)
        write_output(path, data, force=self.force)
        if not existed:
            self.created.append(path)
        return str(path)

    def undo(self) -> None:
        """Remove the files this run created, and the folder if it made it and it is empty."""
        for path in self.created:
            with contextlib.suppress(OSError):
                path.unlink()
        if self.made_dir:
            with contextlib.suppress(OSError):
                self.dir.rmdir()


def montage_name(index: int, name: str) -> str:
    """``NN_<name>.png``: the layer's name with characters other than letters, digits,
    ``-``, ``_`` and ``.`` made ``_``, cut to :data:`MAX_NAME_BYTES` (then ending in a
    short hash of the whole name, so that two long names stay apart).

    >>> montage_name(3, "layer1/conv:0")
    '03_layer1_conv_0.png'
    """
    import hashlib

    safe = _safe(name).strip("_") or "layer"
    if len(safe.encode()) > MAX_NAME_BYTES:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cut = safe.encode()[: MAX_NAME_BYTES - 9].decode("utf-8", "ignore")
        safe = f"{cut}-{digest}"
    return f"{index:02d}_{safe}.png"


def check_cost(traced, photo_shape: tuple[int, ...], *, npz: bool) -> None:
    """Refuse, before any work, a pass that would run for hours or not fit in memory.

    Estimates from the traced shapes (:func:`cnnfilter.arch.calc.summarize`): the
    multiply-adds against :data:`MAX_FORWARD_MACS`; the memory, 4 bytes a value, of
    the weights, three of the largest maps (a layer's input, output and working
    copy) and, with ``npz``, every map twice (kept, then in the ``.npz`` file),
    against :func:`cnnfilter.imageio.available_memory`.

    Raises:
        UsageError: the estimate, the limit and the fix.
    """
    from cnnfilter import imageio
    from cnnfilter.arch.calc import summarize
    from cnnfilter.engine.cost import _bytes_text

    shape = " x ".join(map(str, photo_shape))
    summary = summarize(traced)
    if summary.macs > MAX_FORWARD_MACS:
        raise UsageError(
            f"this network on a {shape} photo needs about {summary.macs:.2g} multiply-adds "
            f"(the limit is {MAX_FORWARD_MACS:.0e}, minutes of work); fix: give a smaller "
            "photo (resize it first, e.g. to 224 x 224)"
        )
    sizes = _step_sizes(traced.steps)
    work = 4 * summary.parameters + 3 * 4 * max(sizes, default=0)
    kept = 2 * 4 * sum(sizes) if npz else 0
    free = imageio.available_memory()
    if free is None or work + kept <= free:
        return
    if npz and work <= free:
        raise UsageError(
            f"npz=True keeps every layer's map: about {_bytes_text(kept)} for this network on "
            f"a {shape} photo (the maps and the .npz file), more than the "
            f"{_bytes_text(free - work)} left; fix: leave out npz=True, or give a smaller photo"
        )
    raise UsageError(
        f"this network on a {shape} photo needs about {_bytes_text(work)} of memory (its "
        f"weights and largest maps), more than the {_bytes_text(free)} available; fix: give "
        "a smaller photo"
    )


def _step_sizes(steps) -> list[int]:
    """The number of values of every map :func:`cnnfilter.arch.run.run_network` emits
    (a trace's steps)."""
    from cnnfilter.arch.layers import Block

    out: list[int] = []
    for step in steps:
        for _, branch in step.branches:
            out += _step_sizes(branch)
        if not isinstance(step.layer, Block):
            out.append(step.output.size)
    return out


def forward(
    arch: str | Path,
    photo: str | Path,
    *,
    output: str | Path,
    weights: str | Path | None = None,
    layout: str = "torch",
    init: str | None = None,
    seed: int = 0,
    layer: str | None = None,
    npz: bool = False,
    scale: str = "tile",
    force: bool = False,
    max_pixels: int | None = None,
) -> ForwardResult:
    """Run ``arch`` on ``photo``; write a montage per layer, ``summary.json`` and maybe a ``.npz``.

    Files in ``output`` (a folder, made when missing): ``NN_<layer>.png`` per
    layer (``layer=`` only that one), ``summary.json`` (per layer: type,
    shape, min, max, mean, share of zeros; the input's scaling, the weights'
    sources), ``activations.npz`` with ``npz=True`` (every layer's map,
    float32, keyed by layer name). Nothing is overwritten without ``force``.
    ``scale``: the montages' colour scale, ``"tile"`` (each channel on its
    own range) or ``"shared"`` (one range per layer), see
    :func:`cnnfilter.render.montage`; a layer with negative values is drawn
    in a diverging map centred on 0, a non-negative one in gray.

    Raises:
        UsageError: bad arch file or photo, a layer without weights (named),
            unknown ``layer``, existing outputs without ``force``.
    """
    import numpy as np

    from cnnfilter.arch import load_network
    from cnnfilter.arch.layers import Shape
    from cnnfilter.render import MONTAGE_SCALES, montage_colours

    if scale not in MONTAGE_SCALES:
        raise UsageError(f"scale={scale!r} is not one of {', '.join(MONTAGE_SCALES)}")
    from cnnfilter.arch.layers import Merge
    from cnnfilter.arch.shapes import trace
    from cnnfilter.tasks.arch import model_kind, resolve_arch

    if model_kind(arch) is not None:
        raise UsageError(
            f"{arch}: forward runs arch.yaml layer files and built-in names; ONNX models run "
            "through cnnfilter.tasks.forward_onnx.forward_any (Keras files are not supported yet)"
        )
    if str(arch) == STDIO and str(photo) == STDIO:
        raise UsageError(
            "arch and photo are both '-': standard input holds one file; give the other as a file"
        )
    check_seed(seed)
    x = read_input(photo, max_pixels=max_pixels)
    network = load_network(resolve_arch(arch), input_shape=Shape(*x.shape))
    traced = trace(network)  # every shape error before any work
    stored = {} if weights is None else load_weights(weights, layout=layout)
    w = Weights(stored, init, seed, source=None if weights is None else str(weights), layout=layout)
    order = emit_order(network.layers)
    check_layer(layer, order, arch)
    check_cost(traced, x.shape, npz=npz)
    names = [montage_name(i, n) for i, n in enumerate(order, 1) if layer in (None, n)]
    inputs = [photo, (_arch_file(arch), "arch file"), (weights, "weights file")]
    out = Outputs(output, inputs, force=force)
    out.check([*names, "summary.json"] + (["activations.npz"] if npz else []))

    result = ForwardResult(report={})
    layers: list[dict] = []
    kept: dict[str, np.ndarray] = {}

    def emit(node, y):
        kind = node.op if isinstance(node, Merge) else node.type  # params' type column
        entry = {"name": node.name, "type": kind, **_stats(y)}
        layers.append(entry)
        _note_non_finite(result.notes, node.name, y)
        if npz:
            kept[node.name] = y
        if layer is None or node.name == layer:
            target = montage_name(len(layers), node.name)
            result.written.append(out.write(target, _montage_png(node, y, scale=scale)))
            entry["picture"] = target
            entry["colours"] = montage_colours(y)

    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # noted per layer
            try:
                run_network(network, x, w, emit)
            except UsageError as exc:
                raise UsageError(_channels_hint(str(exc), arch, x.shape[2])) from None
        unused = w.unused()
        result.report = {
            "arch": str(arch),
            "photo": str(photo),
            "input": {"shape": list(x.shape), "scaling": "divided by full white: 0..1"},
            "weights": {"file": None if weights is None else str(weights), "layout": layout,
                        "init": init, "seed": seed if init else None,
                        "initialised": w.initialised, "unused": unused},
            "montage_scale": scale,
            "layers": layers,
        }  # fmt: skip
        result.notes += _weight_notes(w, init, seed, unused)
        result.written.append(out.write("summary.json", _json_bytes(result.report)))
        if npz:
            result.written.append(out.write("activations.npz", _npz_bytes(kept)))
    except BaseException:  # an error, Ctrl-C or SIGTERM mid-run: no partial output
        out.undo()
        raise
    return result


def _channels_hint(message: str, arch: str | Path, channels: int) -> str:
    """``message``, plus a note when an array's shape is wrong and the photo's channels are
    not the arch file's ``input:`` ones (the pass runs on the photo as it is)."""
    from cnnfilter.arch import load_network
    from cnnfilter.tasks.arch import resolve_arch

    if " has shape " not in message:
        return message
    try:
        declared = load_network(resolve_arch(arch)).input.channels
    except UsageError:
        return message
    if declared == channels:
        return message
    return (
        f"{message} (the photo has {channels} channel(s), the arch file's input: {declared}; "
        "forward runs on the photo as it is: give a photo of that many channels, or arrays "
        f"for {channels})"
    )


def _weight_notes(w: Weights, init: str | None, seed: int, unused: list[str]) -> list[str]:
    notes = []
    if w.initialised:
        named = w.initialised if len(w.initialised) <= 6 else [*w.initialised[:5], "..."]
        notes.append(
            f"random {init} weights (seed {seed}; biases 0, normalisation layers the identity) for "
            f"{len(w.initialised)} layer(s): "
            f"{', '.join(named)} (summary.json: weights.initialised)"
        )
    if unused:
        named = [_meant(key, w.meant(key)) for key in unused]
        notes.append(f"arrays not used by any layer: {', '.join(named)}")
    return notes


def _meant(key: str, meant: str | None) -> str:
    """``key``, or ``key (did you mean <meant>?)`` for a probable misspelling."""
    return key if meant is None else f"{key} (did you mean {meant}?)"


def _arch_file(arch: str | Path) -> str | None:
    """The arch file's path when ``arch`` names a file (a built-in name is not one)."""
    return str(arch) if os.path.isfile(arch) else None


def _note_non_finite(notes: list[str], name: str, y: np.ndarray) -> None:
    import numpy as np

    bad = int(y.size - np.count_nonzero(np.isfinite(y)))
    if bad:
        notes.append(
            f"layer '{name}': {bad} of {y.size} values are NaN or inf (float32 overflowed: "
            "weights or input too large); its min, max and mean leave them out"
        )


def _json_bytes(report: dict) -> bytes:
    return (json.dumps(report, indent=2) + "\n").encode()


def _npz_bytes(arrays: dict) -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _montage_png(node, y: np.ndarray, *, scale: str) -> bytes:
    from cnnfilter import imageio, render
    from cnnfilter.arch.layers import Merge

    kind = node.op if isinstance(node, Merge) else node.type
    kernels = getattr(node, "kernels", None) or ()
    names = tuple(k if isinstance(k, str) else "/".join(k) for k in kernels)
    picture = render.montage(y, title=f"{node.name} ({kind})", scale=scale, names=names)
    data, _ = imageio.encode_picture(picture, "PNG")
    return data


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
