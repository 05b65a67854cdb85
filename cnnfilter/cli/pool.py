"""``cnnfilter pool``: max, average and Lp pooling of an image or a .npy feature map."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded, note, stderr_console, stdout_console
from cnnfilter.cli._output import check_stdout_use, emit_json
from cnnfilter.cli._parse import (
    FrameOption,
    MaxPixelsOption,
    check_output_path,
    frame_note,
    parse_ints,
)
from cnnfilter.errors import UsageError


class PoolOp(str, Enum):
    max = "max"
    avg = "avg"
    lp = "lp"


def _shape_text(shape: tuple[int, ...]) -> str:
    """``H x W x C``, with C = 1 for a 2-D array: ``(5, 5)`` -> ``5 x 5 x 1``."""
    return " x ".join(str(s) for s in (shape if len(shape) != 2 else (*shape, 1)))


def _hwc(shape: tuple[int, ...]) -> list[int]:
    """``[H, W, C]`` as apply's JSON gives it: ``(5, 5)`` -> ``[5, 5, 1]``."""
    return list(shape) if len(shape) != 2 else [*shape, 1]


def _shown(path: Path | None, stdio: str) -> str:
    """``-`` named as apply names it (``<stdin>``, ``<stdout>``) in the notes."""
    return stdio if str(path) == "-" else str(path)


def _is_array(path: Path) -> bool:
    """A ``.npy`` feature map (read as an array), not an image."""
    return path.suffix.lower() == ".npy"


def _load(path: Path, *, max_pixels: int, frame: int):
    """``(array, max_value, label, is_image, frames_note)``: alpha becomes the last channel."""
    import numpy as np

    from cnnfilter import imageio

    if _is_array(path):
        arr = imageio.read_array(path)
        if arr.ndim not in (2, 3) or arr.size == 0:
            raise UsageError(f"{str(path)!r} has shape {arr.shape}; pool needs (H, W) or (H, W, C)")
        return arr, None, "array", False, ""
    loaded = imageio.read_image(path, max_pixels=max_pixels, frame=frame)
    pixels = loaded.pixels
    if loaded.alpha is not None:
        colour = pixels if pixels.ndim == 3 else pixels[:, :, np.newaxis]
        pixels = np.concatenate([colour, loaded.alpha[:, :, np.newaxis]], axis=2)
    return (
        pixels,
        loaded.max_value,
        "image with alpha" if loaded.alpha is not None else "image",
        True,
        frame_note(loaded.frame, loaded.frames),
    )


@app.command()
@guarded
def pool(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT", help="Image (PNG, JPEG, TIFF...) or .npy array (H, W) or (H, W, C)."
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Pooled result: an image file, or .npy for the exact values. Without -o "
            "only the shapes are reported.",
        ),
    ] = None,
    op: Annotated[
        PoolOp,
        typer.Option(
            help="max (torch MaxPool2d), avg (AvgPool2d) or lp, (sum x^p)^(1/p) (LPPool2d)."
        ),
    ] = PoolOp.max,
    size: Annotated[str, typer.Option("--size", help="Window size: K or KH,KW.")] = "2",
    stride: Annotated[
        str | None, typer.Option(help="Step: S or SH,SW (default: the window size).")
    ] = None,
    padding: Annotated[
        str,
        typer.Option(
            help="P or PH,PW on both sides, at most half the window; max pads with -inf, "
            "avg with 0."
        ),
    ] = "0",
    dilation: Annotated[
        str, typer.Option(help="Spacing of window taps: D or DH,DW (max only).")
    ] = "1",
    ceil_mode: Annotated[
        bool,
        typer.Option(
            "--ceil-mode",
            help="Round the output size up; a last window starting in the padding is dropped.",
        ),
    ] = False,
    count_include_pad: Annotated[
        bool,
        typer.Option(
            "--count-include-pad/--no-count-include-pad",
            help="avg: count padding cells in the divisor (PyTorch's default).",
        ),
    ] = True,
    p: Annotated[float, typer.Option("--p", help="The power of lp pooling (> 0).")] = 2.0,
    show_winners: Annotated[
        Path | None,
        typer.Option(
            "--show-winners",
            help="max only: write a picture of the input with the pixel that won each "
            "window lit (yellow; per channel red/green/blue for colour).",
        ),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace existing output files.")] = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="Format of -o: png, jpg, tiff, bmp, webp, gif, npy. Needed for -o -."
        ),
    ] = None,
    max_pixels: MaxPixelsOption = None,
    frame: FrameOption = 0,
) -> None:
    """Pool an image or feature map per channel, exactly as PyTorch's pooling layers.

    Prints the input and output shapes and the output-size formula with its
    numbers. 8-bit images stay 8-bit: max keeps the values, avg is rounded to
    the nearest integer.

    Example: cnnfilter pool samples/astronaut.png --op max --size 2 -o pooled.png
    """
    import numpy as np

    from cnnfilter import imageio, render
    from cnnfilter.engine.pooling import max_pool2d_with_indices, pool2d, pool_axes, pool_spec

    spec = pool_spec(
        op.value,
        parse_ints("--size", size),
        stride=None if stride is None else parse_ints("--stride", stride),
        padding=parse_ints("--padding", padding, minimum=0),
        dilation=parse_ints("--dilation", dilation),
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
        p=p,
    )
    if show_winners is not None and op is not PoolOp.max:
        raise UsageError("--show-winners needs --op max (only max pooling has a winner)")
    check_stdout_use(output, json_out=json_)
    # Order of the checks: the input, then the output names and formats, then whether an
    # output exists or is the input; then the work.
    imageio.check_input_file(source, role="input array" if _is_array(source) else "input image")
    if output is not None:
        imageio.output_format(output, fmt, format_option=True)  # -o - needs --format
        imageio.check_format_matches(output, fmt)
    if show_winners is not None:
        imageio.output_format(show_winners)
    if (
        output is not None
        and show_winners is not None
        and output.resolve() == show_winners.resolve()
    ):
        raise UsageError("-o and --show-winners name the same file; give distinct names")
    for path in (output, show_winners):
        if path is not None and str(path) != imageio.STDIO:
            check_output_path(path, [source], force=force)

    t_start = time.perf_counter()  # read, pool and write: the JSON "total"
    data, max_value, kind, is_image, frames_text = _load(
        source, max_pixels=max_pixels or imageio.DEFAULT_MAX_PIXELS, frame=frame
    )
    out_fmt = None if output is None else imageio.output_format(output, fmt, format_option=True)
    channels = 1 if data.ndim == 2 else data.shape[2]
    if out_fmt not in (None, "NPY") and channels not in (1, 3, 4):
        raise UsageError(
            f"{source} has {channels} channels, but a picture holds 1, 3 or 4; write the "
            "result as .npy (-o out.npy) to keep them all"
        )
    rows, cols = pool_axes(data.shape, spec)
    t0 = time.perf_counter()
    if show_winners is not None:
        result, indices = max_pool2d_with_indices(data, spec)
    else:
        result, indices = pool2d(data, spec), None
    elapsed = time.perf_counter() - t0

    stored, mapping = result, None
    clipped = 0
    if output is not None:
        if out_fmt != "NPY":
            if op is PoolOp.lp and is_image and data.dtype.kind in "ui":
                clipped = int(np.count_nonzero(np.rint(result) > max_value))
            stored, mapping = _as_picture(
                result, out_fmt, is_image=is_image, max_value=max_value, source_dtype=data.dtype
            )
            stored, depth_note = imageio.fit_bit_depth(stored, out_fmt)
            mapping = mapping or depth_note
        imageio.write_image(output, stored, force=force, fmt=out_fmt)
    if show_winners is not None:
        shown = data if is_image else _gray_for_display(data)
        picture, factor = render.winners_picture(
            render.display_rgb(shown, max_value if is_image else 255.0), indices
        )
        imageio.write_image(show_winners, picture, force=force)

    pad_text = f"{spec.padding[0]},{spec.padding[1]}"
    settings = {
        "op": op.value,
        "kernel_size": list(spec.kernel_size),
        "stride": list(spec.stride),
        "padding": list(spec.padding),
        "dilation": list(spec.dilation),
        "ceil_mode": spec.ceil_mode,
        "count_include_pad": spec.count_include_pad if op is PoolOp.avg else None,
        "p": spec.p if op is PoolOp.lp else None,
    }
    if json_:
        axes = {}
        for name, ax in (("rows", rows), ("cols", cols)):
            axes[name] = {
                "n": ax.n,
                "kernel_size": ax.kernel_size,
                "stride": ax.stride,
                "padding": ax.padding,
                "dilation": ax.dilation,
                "numerator": ax.numerator,
                "out": ax.out,
                "dropped_last_window": ax.dropped,
                "formula": ax.formula(),
            }
        doc = {
            "input": str(source),
            "input_kind": kind,
            "input_shape": _hwc(data.shape),
            "input_dtype": str(data.dtype),
            **settings,
            "formula": "out = rnd((n + 2p - d(k-1) - 1) / s) + 1, rnd = ceil with --ceil-mode "
            "else floor",
            "axes": axes,
            "output_shape": _hwc(result.shape),
            "output_dtype": str(result.dtype),
            "written_dtype": str(stored.dtype) if output is not None else None,
            "output": str(output) if output is not None else None,
            "winners": str(show_winners) if show_winners is not None else None,
            "operation": f"{op.value} pooling",
            "boundary": "constant -inf" if op is PoolOp.max else "constant 0",
            "method": "strided views",  # kh*kw strided views of the padded input
            "timings_ms": {
                "pool": round(elapsed * 1000, 3),
                "total": round((time.perf_counter() - t_start) * 1000, 3),
            },
        }
        emit_json(doc)
    else:
        # the image itself may be on stdout (-o -): the report then goes to stderr
        console = stderr_console() if str(output) == imageio.STDIO else stdout_console()
        extra = ""
        if op is PoolOp.avg:
            extra = f", count_include_pad {'on' if spec.count_include_pad else 'off'}"
        elif op is PoolOp.lp:
            extra = f", p {spec.p:g}"
        console.print(
            f"{op.value} pooling: kernel {spec.kernel_size[0]}x{spec.kernel_size[1]}, stride "
            f"{spec.stride[0]}x{spec.stride[1]}, padding {pad_text}, dilation "
            f"{spec.dilation[0]}x{spec.dilation[1]}, {'ceil' if ceil_mode else 'floor'} mode"
            f"{extra}"
        )
        console.print(f"input   {_shape_text(data.shape)} ({data.dtype})")
        console.print("out = rnd((n + 2p - d(k-1) - 1) / s) + 1")
        console.print(f"  rows: {rows.formula()}")
        console.print(f"  cols: {cols.formula()}")
        console.print(f"output  {_shape_text(result.shape)} ({result.dtype})")
    alpha_note = ", alpha pooled as the last channel" if kind == "image with alpha" else ""
    note(
        f"{op.value} pooling of {_shown(source, '<stdin>')} per channel{alpha_note}; "
        f"{elapsed * 1000:.0f} ms{frames_text}"
    )
    target = _shown(output, "<stdout>")
    if clipped:
        note(
            f"{clipped:,} value(s) above {max_value:g} were clipped in {target}; write .npy to "
            "keep the exact Lp values"
        )
    if mapping:
        note(f"{target}: {mapping}")
    if output is not None:
        note(f"wrote {target} ({_shape_text(stored.shape)}, {stored.dtype})")
    if show_winners is not None:
        note(
            f"wrote {show_winners}: winning pixels lit"
            + (f", enlarged {factor}x" if factor > 1 else "")
        )


def _as_picture(result, fmt: str, *, is_image: bool, max_value, source_dtype):
    """The pooled values as the picture format ``fmt`` stores them, and how (or None).

    * An 8- or 16-bit image keeps its dtype: max keeps the values, avg is
      rounded to nearest, lp is clipped to full white.
    * A uint8 ``.npy`` array is written as it is.
    * Float values go unchanged into a single-channel ``.tif`` (32-bit float).
    * Other values are mapped to 8 bits: a float image (32-bit TIFF) by its
      full white (``0..max_value`` -> ``0..255``, clipped, as ``apply`` does),
      a ``.npy`` feature map by stretching its ``[min, max]`` to ``0..255``
      (all channels together; NaN and inf become 0), said on stderr.
    """
    import numpy as np

    from cnnfilter.engine.intensity import to_pixels

    if is_image and source_dtype.kind in "ui":
        if result.dtype == source_dtype:
            return result, None
        return to_pixels(result, "clip", max_value=max_value, dtype=source_dtype), None
    if result.dtype == np.uint8:
        return result, None
    values = result[..., 0] if result.ndim == 3 and result.shape[2] == 1 else result
    if fmt == "TIFF" and values.ndim == 2 and values.dtype.kind == "f":
        return values.astype(np.float32), None
    if is_image:
        scaled = values * (255.0 / float(max_value))
        return (
            to_pixels(scaled, "clip", max_value=255, dtype=np.uint8),
            f"float values mapped to 8 bits (0..{float(max_value):g} -> 0..255, clipped); "
            "write .npy to keep them",
        )
    finite = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(finite.min()), float(finite.max())
    return (
        to_pixels(finite, "rescale", max_value=255, dtype=np.uint8),
        f"{values.dtype} values [{low:.6g}, {high:.6g}] rescaled to 0..255 (8 bits); write "
        ".npy to keep them",
    )


def _gray_for_display(data):
    """A .npy array as a gray picture in 0-255 (min to max of the whole array)."""
    import numpy as np

    from cnnfilter.engine.intensity import to_pixels

    x = np.asarray(data, dtype=np.float64)
    if x.ndim == 3:
        x = x.mean(axis=2)
    if not np.all(np.isfinite(x)):
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    return to_pixels(x, "rescale", max_value=255, dtype=np.uint8)
