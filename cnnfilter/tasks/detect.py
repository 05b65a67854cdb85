"""``detect``: where in an image a pattern responds (response map, peaks, pictures).

:func:`detect` reads the image and the pattern (a kernel or a template
patch), computes the response map once with the method plan it resolves
once (:attr:`cnnfilter.engine.response.ResponseMap.plan`, reported as
``implementation``), finds the peaks and writes the asked-for pictures.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from cnnfilter.engine.geometry import valid_map_padding
from cnnfilter.errors import UsageError
from cnnfilter.tasks._common import check_output_path, output_format, shape3

#: The largest float32 (``np.finfo(np.float32).max``): the response map's dtype.
_FLOAT32_MAX = 3.4028234663852886e38

__all__ = ["COORDINATES", "OUTPUTS", "Pattern", "DetectResult", "read_pattern", "detect"]

#: The sentence every output uses for the coordinate convention.
COORDINATES = (
    "row, col = the image pixel under the pattern's top-left corner (0-based, rows down); "
    "the window's centre is (row + (kh-1)/2, col + (kw-1)/2)"
)

#: The pictures ``detect`` can write, in the order of the report's ``outputs``.
OUTPUTS = ("heatmap", "overlay", "raw")


@dataclass(frozen=True)
class Pattern:
    """The pattern: weights ``(kh, kw)`` or ``(kh, kw, C)`` float64, as named and found.

    ``mask``: a template's alpha as weights in ``[0, 1]`` (``(kh, kw)`` float64),
    or None (no alpha, or every pixel opaque).
    """

    weights: object
    name: str
    source: str
    from_registry: bool = False
    mask: object = None
    notes: tuple[str, ...] = ()


@dataclass
class DetectResult:
    """What :func:`detect` found and wrote.

    Attributes:
        report: the ``detect --json`` document.
        peaks: the :class:`cnnfilter.engine.response.Peak` list, best first.
        response: the :class:`cnnfilter.engine.response.ResponseMap` (with its plan).
        pattern: the :class:`Pattern`.
        image_text: the image's shape as notes print it (``303 x 384 x 1, uint8``).
        alpha: the image had an alpha channel (ignored).
        notes: what a person should know (flip, flat windows, colour map, files).
    """

    report: dict
    peaks: list
    response: object
    pattern: Pattern
    image_text: str
    alpha: bool
    frame: int = 0
    frames: int = 1
    notes: list[str] = field(default_factory=list)


def read_pattern(
    kernel: str | None = None, kernel_file: Path | None = None, template: Path | None = None
) -> Pattern:
    """The pattern from exactly one of ``kernel``, ``kernel_file`` or ``template`` (an image).

    Raises:
        UsageError: none or several given, or a bad kernel or template.
        ProcessingError: the template cannot be decoded.
    """
    import numpy as np

    from cnnfilter import imageio
    from cnnfilter.tasks.kernels import load_kernel

    given = sum(x is not None for x in (kernel, kernel_file, template))
    if given != 1:
        raise UsageError(
            "give exactly one pattern: kernel=NAME|MATRIX, kernel_file=PATH or template=PATCH.png"
        )
    if template is None:
        k = load_kernel(kernel, kernel_file)
        return Pattern(k.weights, k.name, k.source or "custom", kernel is not None, notes=k.notes)
    loaded = imageio.read_image(template, role="template")
    mask = None
    if loaded.alpha is not None and np.any(loaded.alpha < loaded.max_value):
        mask = np.asarray(loaded.alpha, dtype=np.float64) / loaded.max_value
    pixels = np.asarray(loaded.pixels, dtype=np.float64)
    return Pattern(pixels, template.name, str(template), mask=mask)


def _check_one_stdin(**given: Path | None) -> None:
    """Refuse ``-`` (standard input) for more than one of the inputs.

    Raises:
        UsageError: two inputs read from standard input.
    """
    from cnnfilter.tasks._common import STDIO

    named = [
        "the image" if name == "image" else f"{name}='-'"
        for name, path in given.items()
        if path is not None and str(path) == STDIO
    ]
    if len(named) > 1:
        raise UsageError(
            f"standard input can feed only one input, not both {' and '.join(named)}; "
            "save one of them to a file and give its name"
        )


def unflipped_note(pattern: Pattern) -> str:
    """For a registry kernel that its 180-degree flip changes: how detect's map differs."""
    import numpy as np

    from cnnfilter.kernels import DRAWN_UNFLIPPED

    w = pattern.weights
    if not pattern.from_registry or pattern.source == "custom" or w.ndim != 2:
        return ""
    if pattern.name in DRAWN_UNFLIPPED:  # a pattern, drawn as detect matches it
        return ""
    flipped = w[::-1, ::-1]
    if np.array_equal(flipped, w):
        return ""
    effect = (
        "gives the opposite sign of apply's default"
        if np.array_equal(flipped, -w)
        else "differs from apply's default (as if the kernel were rotated 180 degrees)"
    )
    return (
        f"{pattern.name} is written for convolution; detect applies it unflipped "
        f"(cross-correlation), which {effect}; apply --op correlate matches detect"
    )


def check_outputs(outputs: dict[str, Path | None], inputs: list[Path], *, force: bool) -> None:
    """Refuse before any work: two outputs of one name, a wrong format, an existing file.

    Raises:
        UsageError: as described, naming the output (``heatmap='h.npy'``).
    """

    seen: set[Path] = set()
    for name, path in outputs.items():
        if path is None:
            continue
        if path.resolve() in seen:
            raise UsageError(f"{name}={str(path)!r} is also another output; give distinct names")
        seen.add(path.resolve())
        fmt = output_format(path, has_format=False)
        if name == "raw" and fmt not in ("NPY", "TIFF"):
            raise UsageError(f"raw={str(path)!r} must end in .npy or .tif (a float map)")
        if name != "raw" and fmt == "NPY":
            raise UsageError(f"{name}= writes a picture; use .png or .jpg, not .npy")
    for path in outputs.values():
        if path is not None:
            check_output_path(path, inputs, force=force)


def detect(
    image: Path,
    *,
    kernel: str | None = None,
    kernel_file: Path | None = None,
    template: Path | None = None,
    method: str = "raw",
    top: int = 10,
    min_distance: int | None = None,
    threshold: float | None = None,
    heatmap: Path | None = None,
    overlay: Path | None = None,
    raw: Path | None = None,
    same_size: bool = False,
    pad_value: float = 0.0,
    force: bool = False,
    max_pixels: int | None = None,
    frame: int = 0,
) -> DetectResult:
    """Respond ``image`` to a pattern, find its peaks and write the asked-for pictures.

    Checks in this order, so that the first error names the first thing to
    fix: the image and the pattern, the output names and formats, whether an
    output exists or is an input; then the work.

    Args:
        image: picture or ``.npy`` feature map, or ``-`` for stdin.
        kernel, kernel_file, template: the pattern (exactly one).
        method: ``raw`` or ``ncc`` (:data:`cnnfilter.engine.choices.RESPONSE_METHODS`).
        top, min_distance, threshold: as :func:`cnnfilter.engine.response.find_peaks`;
            ``min_distance`` defaults to half the pattern's shorter side (at least 1).
        heatmap, overlay, raw: pictures to write (None: not written).
        same_size: pad the map written to ``heatmap`` and ``raw`` back to the
            image's ``H x W`` (each cell on its window's centre pixel, as
            ``skimage.feature.match_template(pad_input=True)``), with
            ``pad_value``; the overlay always uses the same-size map. Peaks
            keep top-left coordinates.
        pad_value: the value of the padded cells (0: "no response", for
            ``raw`` and ``ncc`` alike).
        force: replace existing outputs.
        max_pixels, frame: as :func:`cnnfilter.imageio.read_image`.

    Raises:
        UsageError: bad pattern, outputs, or a pattern that does not fit the image;
            ``pad_value`` not finite or beyond float32.
        ProcessingError: an unreadable image.
    """
    from cnnfilter import imageio
    from cnnfilter.engine.response import find_peaks, response_map

    imageio.check_input_file(image)
    if not math.isfinite(pad_value) or abs(pad_value) > _FLOAT32_MAX:  # the map is float32
        raise UsageError(
            f"pad_value={pad_value!r} must be a finite number that a float32 map can hold "
            f"(within ±{_FLOAT32_MAX:.3g})"
        )
    _check_one_stdin(image=image, template=template, kernel_file=kernel_file)
    pattern = read_pattern(kernel, kernel_file, template)
    outputs = {"heatmap": heatmap, "overlay": overlay, "raw": raw}
    inputs = [image, (template, "template"), (kernel_file, "kernel file")]
    check_outputs(outputs, inputs, force=force)
    loaded = imageio.read_image(
        image, max_pixels=max_pixels or imageio.DEFAULT_MAX_PIXELS, frame=frame
    )
    pixels, weights = loaded.pixels, pattern.weights
    if weights.ndim == 3 and pixels.ndim == 2:
        raise UsageError(
            f"the template has {weights.shape[2]} channels but {image} is gray; use a gray "
            "template (or a colour image)"
        )
    import scipy.signal  # noqa: F401  (loaded before the clock starts: the time is the work's)

    t0 = time.perf_counter()
    result = response_map(pixels, weights, method=method, mask=pattern.mask)
    elapsed = time.perf_counter() - t0
    kh, kw = weights.shape[:2]
    distance = min_distance if min_distance is not None else max(1, min(kh, kw) // 2)
    peaks = (
        []  # a flat template measures nothing: its all-0 map has no best place
        if result.flat_template
        else find_peaks(result.values, top=top, min_distance=distance, threshold=threshold)
    )
    name = "<stdin>" if str(image) == "-" else Path(image).name
    look = Look(method, pattern, (kh, kw), same_size, pad_value, name)
    written, colours = _write_pictures(outputs, loaded, result.values, peaks, look, force)
    report = _report(image, loaded, pattern, result, peaks, written, colours, elapsed)
    report.update(min_distance=distance, threshold=threshold)
    report["same_size"] = (
        {"padding": list(valid_map_padding((kh, kw))), "value": pad_value} if same_size else None
    )
    report["enlarged"] = {key: colours[3][key] for key in written if key in colours[3]}
    found = DetectResult(
        report, peaks, result, pattern, loaded.shape_text, loaded.alpha is not None,
        loaded.frame, loaded.frames,
    )  # fmt: skip
    found.notes = _notes(found, written, colours)
    return found


@dataclass(frozen=True)
class Look:
    """How the pictures are drawn: the method, the pattern, the same-size option."""

    method: str
    pattern: Pattern
    pattern_hw: tuple[int, int]
    same_size: bool
    pad_value: float
    image_name: str = "image"

    def caption(self, factor: int) -> str:
        kind = (
            "kernel"
            if self.pattern.from_registry or self.pattern.source == "custom"
            else ("template")
        )
        kh, kw = self.pattern_hw
        text = f"cnnfilter detect {self.image_name}: {kind} {self.pattern.name} ({kh}x{kw}), "
        text += f"method {self.method}"
        if factor > 1:
            text += f", enlarged {factor}x"
        return text


#: The percentile of |value| a raw map's colours reach (ncc keeps its full range, at most 1).
HEAT_PERCENTILE = 99.5


def same_size_map(values, pattern_hw: tuple[int, int], fill: float):
    """The valid map padded to the image's size with ``fill`` (:func:`valid_map_padding`)."""
    import numpy as np

    top, bottom, left, right = valid_map_padding(pattern_hw)
    return np.pad(values, ((top, bottom), (left, right)), constant_values=fill)


def _write_pictures(outputs, loaded, values, peaks, look: Look, force):
    """Write the heat map, overlay and raw map asked for; ``({name: path}, colour scale)``.

    The colour scale is ``(cmap, lo, hi, enlargement factor)``.
    """
    import numpy as np

    from cnnfilter import imageio, render

    percentile = HEAT_PERCENTILE if look.method == "raw" else None
    finite = np.isfinite(values)
    cmap, lo, hi = render.heatmap_scale(
        values[finite] if finite.any() else np.zeros(1), percentile=percentile
    )
    # NaN/inf cells (windows over a non-finite pixel) are drawn as the low end
    drawn = values if finite.all() else np.where(finite, values, lo)
    shown = same_size_map(drawn, look.pattern_hw, look.pad_value) if look.same_size else drawn
    factors = {
        "heatmap": render.enlarge_factor(shown.shape),
        "overlay": render.enlarge_factor(loaded.pixels.shape),
    }
    written = {}
    if outputs["heatmap"] is not None:
        f = factors["heatmap"]
        picture = render.enlarge(render.colorize(shown, cmap=cmap, lo=lo, hi=hi), f)
        picture, _ = render.annotate_map(picture, cmap=cmap, lo=lo, hi=hi, caption=look.caption(f))
        imageio.write_image(outputs["heatmap"], picture, force=force)
        written["heatmap"] = str(outputs["heatmap"])
    if outputs["overlay"] is not None:
        f = factors["overlay"]
        picture = _overlay(loaded, drawn, peaks, look, (cmap, lo, hi), f)
        picture, _ = render.annotate_map(picture, cmap=cmap, lo=lo, hi=hi, caption=look.caption(f))
        imageio.write_image(outputs["overlay"], picture, force=force)
        written["overlay"] = str(outputs["overlay"])
    if outputs["raw"] is not None:
        tiff = output_format(outputs["raw"], has_format=False) == "TIFF"
        raw = same_size_map(values, look.pattern_hw, look.pad_value) if look.same_size else values
        imageio.write_image(outputs["raw"], raw.astype(np.float32) if tiff else raw, force=force)
        written["raw"] = str(outputs["raw"])
    return written, (cmap, lo, hi, factors)


def _overlay(loaded, values, peaks, look: Look, scale, factor: int):
    """The photo, dimmed and desaturated, the same-size map over it, the peaks boxed."""
    import numpy as np

    from cnnfilter import render

    cmap, lo, hi = scale
    kh, kw = look.pattern_hw
    pixels = loaded.pixels
    if pixels.dtype.kind == "f" and not np.isfinite(pixels).all():
        pixels = np.where(np.isfinite(pixels), pixels, 0)  # NaN/inf pixels shown black
    photo = render.display_rgb(pixels, loaded.max_value)
    full = same_size_map(values, (kh, kw), look.pad_value)
    heat = render.colorize(full, cmap=cmap, lo=lo, hi=hi)
    strength = render.heat_strength(full, cmap=cmap, lo=lo, hi=hi)
    picture = render.blend_heatmap(photo, heat, strength)
    picture = render.enlarge(picture, factor)
    boxes = render.mark_peaks(
        picture, [(p.row * factor, p.col * factor) for p in peaks], (kh * factor, kw * factor)
    )
    fmt = "{:.3f}" if look.method == "ncc" else "{:.4g}"
    texts = [f"{i + 1}: " + fmt.format(p.score) for i, p in enumerate(peaks)]
    return render.label_peaks(picture, boxes, texts) if peaks else picture


def _report(image, loaded, pattern, result, peaks, written, colours, elapsed) -> dict:
    """The ``detect --json`` document (keys in their documented order)."""
    values, pixels = result.values, loaded.pixels
    cmap, lo, hi = colours[:3]
    return {
        "image": str(image),
        "image_shape": shape3(pixels.shape),
        "pattern": {
            "name": pattern.name,
            "source": pattern.source,
            "shape": list(pattern.weights.shape),
            "mask": "alpha" if pattern.mask is not None else None,
        },
        "operation": "cross-correlation",
        "method": result.method,
        "map_shape": [*values.shape, 1],
        "map_range": _finite_range(values),
        "coordinates": "top-left",
        "coordinates_note": COORDINATES,
        "min_distance": None,
        "threshold": None,
        "peaks": [
            {"rank": i + 1, "row": p.row, "col": p.col, "score": p.score}
            for i, p in enumerate(peaks)
        ],
        "colormap": {
            "name": cmap,
            "range": [lo, hi],
            "percentile": HEAT_PERCENTILE if result.method == "raw" else None,
        }
        if written.keys() & {"heatmap", "overlay"}
        else None,
        "outputs": {name: written.get(name) for name in OUTPUTS},
        "flat_template": result.flat_template,
        "flat_windows": result.flat_windows,
        # the method plan that ran (direct, separable or fft), resolved once from the kernel
        # that was correlated; "direct" when nothing was (a flat ncc template)
        "implementation": result.plan.method if result.plan else "direct",
        "plan": result.plan.describe() if result.plan else None,
        "timings_ms": {"response": round(elapsed * 1000, 3)},
    }


def _finite_range(values) -> list[float] | None:
    """``[min, max]`` of the map's finite values (NaN/inf cells left out), or None."""
    import numpy as np

    finite = values[np.isfinite(values)]
    return [float(finite.min()), float(finite.max())] if finite.size else None


def _notes(found: DetectResult, written: dict, colours) -> list[str]:
    """The lines a person should read besides the run line."""
    notes = list(found.pattern.notes)
    if found.pattern.mask is not None:
        transparent = int((found.pattern.mask < 1).sum())
        notes.append(
            f"template alpha used as a mask: {transparent} of {found.pattern.mask.size} "
            "template pixels are (partly) transparent and weigh by their alpha"
        )
    unflipped = unflipped_note(found.pattern)
    if unflipped:
        notes.append(unflipped)
    if found.response.flat_template:
        notes.append("the template is flat (all values equal): ncc is 0 everywhere")
    elif found.response.flat_windows:
        notes.append(f"{found.response.flat_windows:,} flat image window(s) have ncc 0")
    if written.keys() & {"heatmap", "overlay"}:
        reach = (
            f" (the {HEAT_PERCENTILE:g}th percentile of |value|; beyond it, the end colours)"
            if found.report["method"] == "raw"
            else ""
        )
        notes.append(f"colour map {colours[0]} over [{colours[1]:.6g}, {colours[2]:.6g}]{reach}")
        for name, factor in colours[3].items():
            if name in written and factor > 1:
                notes.append(f"{name} enlarged {factor}x (nearest neighbour): the map is small")
    notes.extend(f"wrote {name} {path}" for name, path in written.items())
    return notes
