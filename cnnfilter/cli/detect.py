"""``cnnfilter detect``: where in an image a pattern responds (response map and peaks)."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded, note, print_table, stdout_console
from cnnfilter.cli._output import emit_json
from cnnfilter.cli._parse import FrameOption, MaxPixelsOption, check_output_path, frame_note
from cnnfilter.cli.apply import _KERNEL_HELP, load_kernel
from cnnfilter.errors import UsageError

#: The sentence every output uses for the coordinate convention.
COORDINATES = (
    "row, col = the image pixel under the pattern's top-left corner (0-based, rows down); "
    "the window's centre is (row + (kh-1)/2, col + (kw-1)/2)"
)


class Method(str, Enum):
    raw = "raw"
    ncc = "ncc"


def _read_pattern(kernel, kernel_file, template):
    """The pattern weights ``(kh, kw[, C])`` float64, its name and source."""
    import numpy as np

    from cnnfilter import imageio

    given = sum(x is not None for x in (kernel, kernel_file, template))
    if given != 1:
        raise UsageError(
            "give exactly one pattern: --kernel NAME|MATRIX, --kernel-file PATH or "
            "--template PATCH.png"
        )
    if template is None:
        k = load_kernel(kernel, kernel_file)
        return k.weights, k.name, k.source or "custom"
    loaded = imageio.read_image(template, role="template")
    return np.asarray(loaded.pixels, dtype=np.float64), template.name, str(template)


def _unflipped_note(kernel, pattern, source: str, name: str) -> str:
    """For a registry kernel that its 180-degree flip changes: how detect's map differs."""
    import numpy as np

    if kernel is None or source == "custom" or pattern.ndim != 2:
        return ""
    flipped = pattern[::-1, ::-1]
    if np.array_equal(flipped, pattern):
        return ""
    effect = (
        "gives the opposite sign of apply's default"
        if np.array_equal(flipped, -pattern)
        else "differs from apply's default (as if the kernel were rotated 180 degrees)"
    )
    return (
        f"{name} is written for convolution; detect applies it unflipped (cross-correlation), "
        f"which {effect}; apply --op correlate matches detect"
    )


@app.command()
@guarded
def detect(
    image: Annotated[
        Path,
        typer.Argument(
            help="Input image (PNG, JPEG, TIFF, BMP, WebP...) or .npy feature map (H, W[, C])."
        ),
    ],
    kernel: Annotated[str | None, typer.Option("--kernel", "-k", help=_KERNEL_HELP)] = None,
    kernel_file: Annotated[
        Path | None,
        typer.Option("--kernel-file", help="Pattern from a .txt/.csv matrix, .json or .npy file."),
    ] = None,
    template: Annotated[
        Path | None,
        typer.Option(
            "--template",
            "-t",
            help="Pattern cut from an image (PNG...); colour templates need a colour image.",
        ),
    ] = None,
    method: Annotated[
        Method,
        typer.Option(
            help="raw: cross-correlation, the sum of products (what a CNN layer computes; the "
            "article's 6600). ncc: zero-mean normalised cross-correlation in [-1, 1] "
            "(OpenCV TM_CCOEFF_NORMED); 1.0 = exact copy, 0 where the template or the "
            "window is flat."
        ),
    ] = Method.raw,
    top: Annotated[int, typer.Option(min=1, help="How many peaks to report.")] = 10,
    min_distance: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Peaks closer than this many pixels in both rows and columns are merged "
            "(default: half the pattern's shorter side, at least 1).",
        ),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Report only peaks with a score >= this.")
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    heatmap: Annotated[
        Path | None,
        typer.Option(
            help="Write the response map in colour (viridis; blue-white-red centred on 0 "
            "when it has both signs). One pixel per window: (H-kh+1) x (W-kw+1)."
        ),
    ] = None,
    overlay: Annotated[
        Path | None,
        typer.Option(
            help="Write the photo with the map blended over it (strong responses opaque, "
            "weak ones clear) and the peaks boxed (best in yellow)."
        ),
    ] = None,
    raw: Annotated[
        Path | None,
        typer.Option("--raw", help="Write the float response map as .npy or float .tif."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace existing output files.")] = False,
    max_pixels: MaxPixelsOption = None,
    frame: FrameOption = 0,
) -> None:
    """Show where a pattern responds in an image: response map, peaks and pictures.

    The response is the cross-correlation of the image with the pattern (a
    kernel or a template patch), summed over colour channels, at every place
    the pattern fits inside the image. Registry kernels, written for
    convolution, are applied unflipped (cross-correlation): antisymmetric
    ones (sobel-x, prewitt...) give the opposite sign of apply's default.
    A peak at (row, col) means the pattern's top-left corner lies on image
    pixel (row, col).

    Example: cnnfilter detect samples/coins.png --kernel laplacian --top 10
    """
    import numpy as np

    from cnnfilter import imageio, render
    from cnnfilter.engine.filtering import choose_method
    from cnnfilter.engine.response import find_peaks, response_map

    # Order of the checks: the image and the pattern, then the output names and formats,
    # then whether an output exists or is an input; then the work.
    imageio.check_input_file(image)
    pattern, pattern_name, pattern_source = _read_pattern(kernel, kernel_file, template)
    outputs = {"heatmap": heatmap, "overlay": overlay, "raw": raw}
    inputs = [image] + [p for p in (template, kernel_file) if p is not None]
    seen: set[Path] = set()
    for name, path in outputs.items():
        if path is None:
            continue
        if path.resolve() in seen:
            raise UsageError(f"--{name} {str(path)!r} is also another output; give distinct names")
        seen.add(path.resolve())
        fmt = imageio.output_format(path)
        if name == "raw" and fmt not in ("NPY", "TIFF"):
            raise UsageError(f"--raw {str(path)!r} must end in .npy or .tif (a float map)")
        if name != "raw" and fmt == "NPY":
            raise UsageError(f"--{name} writes a picture; use .png or .jpg, not .npy")
    for path in outputs.values():
        if path is not None:
            check_output_path(path, inputs, force=force)

    loaded = imageio.read_image(
        image, max_pixels=max_pixels or imageio.DEFAULT_MAX_PIXELS, frame=frame
    )
    pixels = loaded.pixels
    if pattern.ndim == 3 and pixels.ndim == 2:
        raise UsageError(
            f"the template has {pattern.shape[2]} channels but {image} is gray; use a gray "
            "template (or a colour image)"
        )
    kh, kw = pattern.shape[:2]
    import scipy.signal  # noqa: F401  (loaded before the clock starts: the time is the work's)

    t0 = time.perf_counter()
    result = response_map(pixels, pattern, method=method.value)
    elapsed = time.perf_counter() - t0
    values = result.values
    distance = min_distance if min_distance is not None else max(1, min(kh, kw) // 2)
    peaks = find_peaks(values, top=top, min_distance=distance, threshold=threshold)

    cmap, lo, hi = render.heatmap_scale(values)
    written = {}
    if heatmap is not None:
        imageio.write_image(heatmap, render.colorize(values, cmap=cmap, lo=lo, hi=hi), force=force)
        written["heatmap"] = str(heatmap)
    if overlay is not None:
        photo = render.display_rgb(pixels, loaded.max_value)
        heat = render.colorize(values, cmap=cmap, lo=lo, hi=hi)
        strength = render.heat_strength(values, cmap=cmap, lo=lo, hi=hi)
        picture = render.blend_heatmap(photo, heat, strength, offset=(kh // 2, kw // 2))
        render.mark_peaks(picture, [(p.row, p.col) for p in peaks], (kh, kw))
        imageio.write_image(overlay, picture, force=force)
        written["overlay"] = str(overlay)
    if raw is not None:
        stored = values.astype(np.float32) if imageio.output_format(raw) == "TIFF" else values
        imageio.write_image(raw, stored, force=force)
        written["raw"] = str(raw)

    impl = choose_method("auto", (kh, kw))
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    what = "raw sum of products" if method is Method.raw else "zero-mean normalised (ncc)"
    note(
        f"cross-correlation ({what}, {impl}) of {'<stdin>' if str(image) == '-' else image} "
        f"({loaded.shape_text}"
        f"{', alpha ignored' if loaded.alpha is not None else ''}) with {pattern_name} "
        f"({kh}x{kw}{'x' + str(pattern.shape[2]) if pattern.ndim == 3 else ''})"
        f"{', channels summed' if channels > 1 else ''}; response map "
        f"{values.shape[0]} x {values.shape[1]}, range [{float(values.min()):.6g}, "
        f"{float(values.max()):.6g}]; {elapsed * 1000:.0f} ms"
        f"{frame_note(loaded.frame, loaded.frames)}"
    )
    unflipped = _unflipped_note(kernel, pattern, pattern_source, pattern_name)
    if unflipped:
        note(unflipped)
    if result.flat_template:
        note("the template is flat (all values equal): ncc is 0 everywhere")
    elif result.flat_windows:
        note(f"{result.flat_windows:,} flat image window(s) have ncc 0")
    if written.keys() & {"heatmap", "overlay"}:
        note(f"colour map {cmap} over [{lo:.6g}, {hi:.6g}]")
    for name, path in written.items():
        note(f"wrote {name} {path}")

    if json_:
        doc = {
            "image": str(image),
            "image_shape": list(pixels.shape) if pixels.ndim == 3 else [*pixels.shape, 1],
            "pattern": {
                "name": pattern_name,
                "source": pattern_source,
                "shape": list(pattern.shape),
            },
            "operation": "cross-correlation",
            "method": method.value,
            "map_shape": [*values.shape, 1],
            "map_range": [float(values.min()), float(values.max())],
            "coordinates": "top-left",
            "coordinates_note": COORDINATES,
            "min_distance": distance,
            "threshold": threshold,
            "peaks": [
                {"rank": i + 1, "row": p.row, "col": p.col, "score": p.score}
                for i, p in enumerate(peaks)
            ],
            "colormap": {"name": cmap, "range": [lo, hi]} if written else None,
            "outputs": {name: written.get(name) for name in outputs},
            "flat_template": result.flat_template,
            "flat_windows": result.flat_windows,
            "implementation": impl,  # how the map was computed: direct or fft
            "timings_ms": {"response": round(elapsed * 1000, 3)},
        }
        emit_json(doc)  # NaN/inf as null: strict JSON
        return
    from rich.table import Table

    found = len(peaks)
    title = f"top {found} peaks" if found > 1 else "1 peak"
    if found < top:  # fewer local maxima than asked for: say so
        title = f"{found} peak{'s' if found != 1 else ''} ({found} of the {top} asked for)"
    table = Table(
        title=f"{title} of {pattern_name} ({method.value})",
        caption="row, col: image pixel under the pattern's top-left corner",
    )
    for col in ("rank", "row", "col", "score"):
        table.add_column(col, justify="right")
    for i, p in enumerate(peaks):
        score = f"{p.score:.4f}" if method is Method.ncc else f"{p.score:.6g}"
        table.add_row(str(i + 1), str(p.row), str(p.col), score)
    console = stdout_console()
    if peaks:
        print_table(console, table)
    else:
        console.print("no peaks (the map is flat, or no value reaches --threshold)")
