"""``cnnfilter apply`` (filter an image with a kernel) and ``cnnfilter kernels``."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded, note, stdout_console
from cnnfilter.cli._parse import check_output_path, parse_ints, parse_padding, parse_scale
from cnnfilter.errors import UsageError
from cnnfilter.kernels import REGISTRY, Kernel, load_kernel_file, resolve_kernel


class Op(str, Enum):
    convolve = "convolve"
    correlate = "correlate"


class Method(str, Enum):
    auto = "auto"
    direct = "direct"
    separable = "separable"
    fft = "fft"


class RangeMode(str, Enum):
    auto = "auto"
    clip = "clip"
    abs = "abs"
    rescale = "rescale"
    raw = "raw"


_KERNEL_HELP = (
    "Named kernel (" + ", ".join(e.usage for e in REGISTRY.values()) + "), inline JSON "
    "'[[0,-1,0],[-1,5,-1],[0,-1,0]]' or rows '1,0,-1;2,0,-2;1,0,-1'. See 'cnnfilter kernels'."
)


def load_kernel(kernel: str | None, kernel_file: Path | None) -> Kernel:
    """The kernel from ``--kernel`` or ``--kernel-file`` (exactly one)."""
    if (kernel is None) == (kernel_file is None):
        raise UsageError("give exactly one of --kernel NAME|MATRIX and --kernel-file PATH")
    return resolve_kernel(kernel) if kernel is not None else load_kernel_file(kernel_file)


def scaled(k: Kernel, scale: float | str | None) -> tuple[Kernel, str]:
    """Apply ``--scale`` (a factor, or ``auto``: divide by the sum unless it is 0)."""
    if scale is None:
        return k, ""
    if scale == "auto":
        total = float(k.weights.sum())
        if abs(total) < 1e-12:
            return k, "scale auto: the kernel sums to 0, left unscaled"
        return Kernel(k.name, k.weights / total, k.source, k.description), f"scale 1/{total:g}"
    return Kernel(k.name, k.weights * scale, k.source, k.description), f"scale {scale:g}"


@app.command()
@guarded
def apply(
    image: Annotated[Path, typer.Argument(help="Input image (PNG, JPEG, TIFF, BMP, WebP...).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output file; the format follows the extension.")
    ],
    kernel: Annotated[str | None, typer.Option("--kernel", "-k", help=_KERNEL_HELP)] = None,
    kernel_file: Annotated[
        Path | None,
        typer.Option("--kernel-file", help="Kernel from a .txt/.csv matrix, .json or .npy file."),
    ] = None,
    op: Annotated[
        Op,
        typer.Option(
            help="convolve flips the kernel (scipy.signal.convolve2d, the article); correlate "
            "does not (a CNN layer, OpenCV filter2D)."
        ),
    ] = Op.convolve,
    boundary: Annotated[
        str,
        typer.Option(
            help="How the image is extended past its border: symmetric (cba|abcd), mirror "
            "(dcb|abcd), edge, wrap, constant; scipy/numpy/OpenCV/PyTorch names accepted."
        ),
    ] = "symmetric",
    cval: Annotated[float, typer.Option(help="Fill value for --boundary constant.")] = 0.0,
    padding: Annotated[
        str,
        typer.Option(help="Output size: same, valid, full, or CNN padding P | PH,PW | T,B,L,R."),
    ] = "same",
    stride: Annotated[str, typer.Option(help="Step of the kernel: S or SH,SW.")] = "1",
    dilation: Annotated[str, typer.Option(help="Spacing of kernel taps: D or DH,DW.")] = "1",
    sum_channels: Annotated[
        bool,
        typer.Option(
            "--sum-channels",
            help="Sum the per-channel responses into one map (a CNN filter on RGB).",
        ),
    ] = False,
    scale: Annotated[
        str | None, typer.Option(help="Multiply the kernel by a number, or 'auto' (1/sum).")
    ] = None,
    offset: Annotated[float, typer.Option(help="Add to every response value.")] = 0.0,
    range_: Annotated[
        RangeMode,
        typer.Option(
            "--range",
            help="Map the response to pixels: auto (abs for zero-sum kernels, clip otherwise), "
            "clip, abs, rescale; raw keeps the float response (.npy, or a gray .tif). Never "
            "wraps around. .npy output is always raw.",
        ),
    ] = RangeMode.auto,
    side_by_side: Annotated[
        bool, typer.Option("--side-by-side", help="Write the original and the result side by side.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing output file.")
    ] = False,
    compress_level: Annotated[
        int | None, typer.Option(min=0, max=9, help="PNG zlib level 0-9.")
    ] = None,
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG/WebP quality.")] = 95,
    method: Annotated[
        Method,
        typer.Option(
            help="How to compute: auto picks separable for rank-1 kernels, direct for small "
            "ones, fft for large ones; all give the same result to float32 rounding."
        ),
    ] = Method.auto,
) -> None:
    """Filter an image with a kernel (convolution by default) and write the result.

    Example: cnnfilter apply samples/astronaut.png --kernel sobel-x -o edges.png
    """
    from cnnfilter import imageio
    from cnnfilter.engine.image_filter import FilterSettings, filter_image
    from cnnfilter.render import side_by_side as compose

    check_output_path(output, [image], force=force)
    out_format = imageio.output_format(output)
    k, scale_note = scaled(load_kernel(kernel, kernel_file), parse_scale(scale))
    settings = FilterSettings(
        op=op.value,
        padding=parse_padding(padding),
        boundary=boundary,
        cval=cval,
        stride=parse_ints("--stride", stride),
        dilation=parse_ints("--dilation", dilation),
        sum_channels=sum_channels,
        offset=offset,
        range_mode=range_.value,
        raw=out_format == "NPY" or range_ is RangeMode.raw,
        method=method.value,
    )
    loaded = imageio.read_image(image)
    t0 = time.perf_counter()
    result = filter_image(
        loaded.pixels, k.weights, settings, alpha=loaded.alpha, max_value=loaded.max_value
    )
    elapsed = time.perf_counter() - t0
    pixels = result.pixels
    if side_by_side:
        if pixels.dtype != loaded.pixels.dtype or pixels.dtype.kind != "u" or pixels.itemsize != 1:
            raise UsageError(
                "--side-by-side needs an 8-bit result; drop it for .npy or 16-bit output"
            )
        pixels = compose(loaded.pixels, pixels)
    kwargs = {"quality": quality}
    if compress_level is not None:
        kwargs["compress_level"] = compress_level
    imageio.write_image(output, pixels, force=force, **kwargs)
    kh, kw = k.weights.shape[:2]
    shape_out = " x ".join(str(s) for s in result.response.shape)
    note(
        f"{result.operation} of {image} ({loaded.shape_text}, {loaded.pixels.dtype}) with "
        f"{k.name} ({kh}x{kw}{', ' + scale_note if scale_note else ''}); boundary "
        f"{settings.boundary}, padding {padding}, stride {stride}, dilation {dilation}"
        f"{', channels summed' if sum_channels else ''}; response {shape_out} "
        f"({result.response.dtype}), range {result.range_mode}; method {result.method}; "
        f"{elapsed * 1000:.0f} ms; "
        f"wrote {output}"
    )


@app.command()
@guarded
def kernels(
    name: Annotated[
        str | None, typer.Argument(help="One kernel (e.g. sobel-x or gaussian:7:1.5).")
    ] = None,
) -> None:
    """List the named kernels: matrix, sum, separability and source."""
    from rich.table import Table

    from cnnfilter.engine.separable import separate
    from cnnfilter.render import format_number, kernel_table

    console = stdout_console()
    if name is not None:
        k = resolve_kernel(name)
        w = k.weights
        console.print(kernel_table(w, title=f"{k.name} ({w.shape[0]}x{w.shape[1]})"))
        sep = separate(w) if w.ndim == 2 else None
        console.print(f"sum: {format_number(float(w.sum()))}")
        if sep is None:
            console.print("separable: no")
        else:
            col, row = sep
            if abs(col.sum()) > 1e-9 and abs(row.sum()) > 1e-9:
                unit = float(col.sum())  # column sums to 1, row carries the kernel's sum
            else:
                nonzero = abs(col[abs(col) > 1e-12])
                unit = float(nonzero.min()) if nonzero.size else 1.0  # smallest entry 1
            col, row = col / unit, row * unit
            console.print(
                "separable: yes, column ["
                + ", ".join(format_number(round(v, 6)) for v in col)
                + "] x row ["
                + ", ".join(format_number(round(v, 6)) for v in row)
                + "]"
            )
        if k.description:
            console.print(f"what: {k.description}")
        if k.source:
            console.print(f"source: {k.source}")
        console.print("written for convolution; with --op correlate it is applied unflipped")
        return
    table = Table(title="Named kernels (written for convolution)")
    for col in ("name", "size", "sum", "separable", "what", "source"):
        table.add_column(col, overflow="fold")
    for entry in REGISTRY.values():
        w = entry.make([])
        table.add_row(
            entry.usage,
            f"{w.shape[0]}x{w.shape[1]}",
            format_number(round(float(w.sum()), 10)),
            "yes" if separate(w) is not None else "no",
            entry.description,
            entry.source,
        )
    console.print(table)
