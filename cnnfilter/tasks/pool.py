"""``pool``: max, average and Lp pooling of an image or a ``.npy`` feature map.

:func:`make_spec` checks the settings; :func:`pool` reads the input, pools it
(:mod:`cnnfilter.engine.pooling`), writes the result and the winners
picture, and returns the report ``pool --json`` prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from cnnfilter.errors import UsageError
from cnnfilter.tasks._common import (
    STDIO,
    check_finite,
    check_output_path,
    output_format,
    shape3,
    shape_text,
    shown,
)

__all__ = ["FORMULA", "Pooled", "make_spec", "pool"]

#: The output-size formula, as reports print it.
FORMULA = "out = rnd((n + 2p - d(k-1) - 1) / s) + 1"


@dataclass
class Pooled:
    """What :func:`pool` did.

    Attributes:
        report: the ``pool --json`` document.
        kind: ``image``, ``image with alpha`` or ``array``.
        stored: shape and dtype text of what was written (None without an output).
        frame, frames: the frame read and the input's frame count.
        notes: what a person should know (clipping, mapping, files written).
    """

    report: dict
    kind: str
    frame: int = 0
    frames: int = 1
    notes: list[str] = field(default_factory=list)


def make_spec(
    op: str,
    kernel_size,
    *,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    p: float = 2.0,
    show_winners: Path | None = None,
):
    """The :class:`cnnfilter.engine.pooling.PoolSpec`, checked with the winners picture.

    Raises:
        UsageError: as :func:`cnnfilter.engine.pooling.pool_spec`, or
            ``show_winners`` with another op than ``max``.
    """
    from cnnfilter.engine.pooling import pool_spec

    spec = pool_spec(
        op, kernel_size, stride=stride, padding=padding, dilation=dilation,
        ceil_mode=ceil_mode, count_include_pad=count_include_pad, p=p,
    )  # fmt: skip
    if show_winners is not None and op != "max":
        raise UsageError("show_winners=True needs op='max' (only max pooling has a winner)")
    return spec


def is_array(path: Path) -> bool:
    """A ``.npy`` feature map (read as an array), not an image."""
    return path.suffix.lower() == ".npy"


def check_outputs(source: Path, output, fmt, show_winners, *, force: bool) -> None:
    """The input, then the output names and formats, then whether an output exists.

    Raises:
        UsageError: a missing input, an unknown format, -o and --show-winners
            naming one file, an existing output without ``force``.
    """
    from cnnfilter import imageio

    imageio.check_input_file(source, role="input array" if is_array(source) else "input image")
    if output is not None:
        output_format(output, fmt, source=str(source))  # -o - takes the input's format
        imageio.check_format_matches(output, fmt)
    if show_winners is not None:
        output_format(show_winners, has_format=False)
    if output is not None and show_winners is not None:
        if output.resolve() == show_winners.resolve():
            raise UsageError("-o and --show-winners name the same file; give distinct names")
    for path in (output, show_winners):
        if path is not None and str(path) != STDIO:
            check_output_path(path, [source], force=force)


def pool(
    source: Path,
    spec,
    *,
    output: Path | None = None,
    fmt: str | None = None,
    show_winners: Path | None = None,
    force: bool = False,
    max_pixels: int | None = None,
    frame: int = 0,
) -> Pooled:
    """Pool ``source`` per channel as ``spec`` says; write ``output`` and the winners picture.

    An image's alpha is pooled as its last channel; the colour of transparent pixels
    never reaches visible ones (avg and lp pool the colour premultiplied by alpha, max
    sees fully transparent pixels as colour 0). 8- and 16-bit images stay
    as they are (max keeps the values, avg is rounded, lp is clipped); other
    values are mapped by :func:`as_picture` unless ``output`` is ``.npy``.

    Args:
        source: picture or ``.npy`` array ``(H, W)`` / ``(H, W, C)``, or ``-``.
        spec: from :func:`make_spec`.
        output: result file (None: only the report); ``fmt`` its format.
        show_winners: max only: picture of the winning pixels.
        force, max_pixels, frame: as the other commands.

    Raises:
        UsageError: bad outputs, a picture output of other than 1, 3 or 4 channels.
        ProcessingError: an unreadable input or a failed write.
    """
    from cnnfilter import imageio
    from cnnfilter.engine.pooling import max_pool2d_with_indices, pool2d, pool_axes

    check_outputs(source, output, fmt, show_winners, force=force)
    t_start = time.perf_counter()  # read, pool and write: the JSON "total"
    data, max_value, kind, loaded = _load(
        source, max_pixels=max_pixels or imageio.DEFAULT_MAX_PIXELS, frame=frame
    )
    out_fmt = None if output is None else output_format(output, fmt, source=str(source))
    if out_fmt is not None and str(output) == "-" and not fmt and loaded is not None:
        out_fmt = imageio.stdout_format(loaded.format)
    channels = 1 if data.ndim == 2 else data.shape[2]
    if out_fmt not in (None, "NPY") and channels not in (1, 3, 4):
        raise UsageError(
            f"{source} has {channels} channels, but a picture holds 1, 3 or 4; write the "
            "result as .npy (-o out.npy) to keep them all"
        )
    rows, cols = pool_axes(data.shape, spec)
    from cnnfilter.engine.cost import check_pool_cost

    check_pool_cost(data.shape, rows, cols, max_memory_bytes=imageio.available_memory())
    t0 = time.perf_counter()
    if kind == "image with alpha" and spec.op == "max":
        data = _hide_transparent_colour(data)
    if show_winners is not None:
        result, indices = max_pool2d_with_indices(data, spec)
    elif kind == "image with alpha" and spec.op != "max":
        result, indices = _pool_premultiplied(data, spec, max_value), None
    else:
        result, indices = pool2d(data, spec), None
    elapsed = time.perf_counter() - t0
    done = Pooled({}, kind, *((loaded.frame, loaded.frames) if loaded else (0, 1)))
    lp = spec.op == "lp"
    stored = _write_result(done, output, out_fmt, data, result, max_value, kind, force, lp)
    if show_winners is not None:
        _write_winners(done, show_winners, (data, result, indices), spec, max_value, kind, force)
    done.report = _report(source, spec, data, result, stored, output, show_winners, kind)
    done.report["axes"] = {"rows": _axis_report(rows), "cols": _axis_report(cols)}
    done.report["timings_ms"] = {
        "pool": round(elapsed * 1000, 3),
        "total": round((time.perf_counter() - t_start) * 1000, 3),
    }
    return done


def _hide_transparent_colour(data):
    """Colour 0 where alpha (the last channel) is 0, so that a hidden colour never wins a max."""

    out = data.copy()
    out[..., :-1][data[..., -1] == 0] = 0
    return out


def _pool_premultiplied(data, spec, max_value):
    """avg / lp pooling of colour + alpha (last channel) without the hidden colour bleeding in.

    The colour is pooled premultiplied by ``alpha / max_value`` and divided by the pooled
    alpha (0 where that is 0), as :func:`cnnfilter.engine.image_filter.filter_image` does:
    an average is then the alpha-weighted average of the colours, and a window of opaque
    blue beside transparent red stays blue. Alpha itself is pooled as a channel.
    Returns ``work_dtype(data.dtype)`` values, as :func:`pool2d` does for avg and lp.
    """
    import numpy as np

    from cnnfilter.engine.filtering import work_dtype
    from cnnfilter.engine.pooling import pool2d

    alpha = data[..., -1].astype(np.float64)
    colour = data[..., :-1].astype(np.float64) * (alpha / max_value)[..., np.newaxis]
    pooled_alpha = pool2d(alpha, spec)
    pooled = pool2d(colour, spec)
    share = (pooled_alpha / max_value)[..., np.newaxis]
    out = np.zeros_like(pooled)
    np.divide(pooled, share, out=out, where=np.broadcast_to(share > 0, pooled.shape))
    result = np.concatenate([out, pooled_alpha[..., np.newaxis]], axis=2)
    return result.astype(work_dtype(data.dtype))


def _load(path: Path, *, max_pixels: int, frame: int):
    """``(array, max_value, kind, loaded image or None)``: alpha becomes the last channel."""
    import numpy as np

    from cnnfilter import imageio

    if is_array(path):
        arr = imageio.read_array(path)
        check_finite(arr, path)
        if arr.ndim not in (2, 3) or arr.size == 0:
            raise UsageError(f"{str(path)!r} has shape {arr.shape}; pool needs (H, W) or (H, W, C)")
        return arr, None, "array", None
    loaded = imageio.read_image(path, max_pixels=max_pixels, frame=frame)
    check_finite(loaded.pixels, path)
    pixels = loaded.pixels
    if loaded.alpha is not None:
        colour = pixels if pixels.ndim == 3 else pixels[:, :, np.newaxis]
        pixels = np.concatenate([colour, loaded.alpha[:, :, np.newaxis]], axis=2)
    kind = "image with alpha" if loaded.alpha is not None else "image"
    return pixels, loaded.max_value, kind, loaded


def _write_result(done, output, out_fmt, data, result, max_value, kind, force, lp):
    """Write the pooled values as ``out_fmt`` stores them; the array written (or None)."""
    import numpy as np

    from cnnfilter import imageio

    if output is None:
        return None
    stored, mapping, is_image = result, None, kind != "array"
    target = shown(output, "<stdout>")
    if out_fmt != "NPY":
        if (
            lp
            and is_image
            and data.dtype.kind in "ui"
            and (clipped := int(np.count_nonzero(np.rint(result) > max_value)))
        ):
            done.notes.append(
                f"{clipped:,} value(s) above {max_value:g} were clipped in {target}; write .npy "
                "to keep the exact Lp values"
            )
        stored, mapping = as_picture(
            result, out_fmt, is_image=is_image, max_value=max_value, source_dtype=data.dtype
        )
        stored, depth_note = imageio.fit_bit_depth(stored, out_fmt)
        mapping = mapping or depth_note
    imageio.write_image(output, stored, force=force, fmt=out_fmt)
    if mapping:
        done.notes.append(f"{target}: {mapping}")
    done.notes.append(f"wrote {target} ({shape_text(stored.shape)}, {stored.dtype})")
    return stored


def _write_winners(done, path, arrays, spec, max_value, kind, force) -> None:
    """The input with the pooling grid and the winners, beside the pooled output."""
    from cnnfilter import imageio, render

    data, result, indices = arrays
    is_image = kind != "array"
    if is_image:
        shown_in = render.display_rgb(data, max_value)
        shown_out = render.display_rgb(result.astype(data.dtype), max_value)
    else:
        bounds = _finite_bounds(data)
        shown_in = render.display_rgb(gray_for_display(data, bounds), 255.0)
        shown_out = render.display_rgb(gray_for_display(result, bounds), 255.0)
    (kh, kw), (sh, sw) = spec.kernel_size, spec.stride
    caption = (
        f"cnnfilter pool --op max --size {kh},{kw} --stride {sh},{sw}: input, grid and "
        "winners | pooled output"
    )
    picture, factor = render.pooling_picture(
        shown_in, indices, shown_out, stride=(sh, sw), padding=tuple(spec.padding),
        caption=caption,
    )  # fmt: skip
    picture = render.with_caption(
        picture[render.CAPTION_HEIGHT :], caption + (f", enlarged {factor}x" if factor > 1 else "")
    )
    imageio.write_image(path, picture, force=force)
    done.notes.append(
        f"wrote {path}: the input with the pooling grid and the winning pixels marked, beside "
        "the pooled output" + (f", enlarged {factor}x (nearest neighbour)" if factor > 1 else "")
    )


def _finite_bounds(x) -> tuple[float, float]:
    """``(min, max)`` of the finite values (``(0, 0)`` when there are none)."""
    import numpy as np

    v = np.asarray(x, dtype=np.float64)
    v = v[np.isfinite(v)]
    return (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)


def _axis_report(ax) -> dict:
    """One axis of the report: the formula's terms and its value."""
    return {
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


def _report(source, spec, data, result, stored, output, show_winners, kind) -> dict:
    """The ``pool --json`` document, without ``axes`` and ``timings_ms`` (added after)."""
    op = spec.op
    return {
        "input": str(source),
        "input_kind": kind,
        "input_shape": shape3(data.shape),
        "input_dtype": str(data.dtype),
        "op": op,
        "kernel_size": list(spec.kernel_size),
        "stride": list(spec.stride),
        "padding": list(spec.padding),
        "dilation": list(spec.dilation),
        "ceil_mode": spec.ceil_mode,
        "count_include_pad": spec.count_include_pad if op == "avg" else None,
        "p": spec.p if op == "lp" else None,
        "formula": FORMULA + ", rnd = ceil with --ceil-mode else floor",
        "axes": None,
        "output_shape": shape3(result.shape),
        "output_dtype": str(result.dtype),
        "written_dtype": str(stored.dtype) if stored is not None else None,
        "output": str(output) if output is not None else None,
        "winners": str(show_winners) if show_winners is not None else None,
        "operation": f"{op} pooling",
        "boundary": "constant -inf" if op == "max" else "constant 0",
        "method": "strided views",  # kh*kw strided views of the padded input
        "timings_ms": None,
    }


def as_picture(result, fmt: str, *, is_image: bool, max_value, source_dtype):
    """The pooled values as the picture format ``fmt`` stores them, and how (or None).

    * An 8- or 16-bit image keeps its dtype: max keeps the values, avg is
      rounded to nearest, lp is clipped to full white.
    * A uint8 ``.npy`` array is written as it is.
    * Float values go unchanged into a single-channel ``.tif`` (32-bit float).
    * Other values are mapped to 8 bits: a float image (32-bit TIFF) by its
      full white (``0..max_value`` -> ``0..255``, clipped, as ``apply`` does:
      :func:`cnnfilter.engine.intensity.storable_pixels`), a ``.npy`` feature
      map by stretching its ``[min, max]`` to ``0..255`` (all channels
      together; NaN and inf become 0), said on stderr.
    """
    import numpy as np

    from cnnfilter.engine.intensity import storable_pixels

    if is_image and source_dtype.kind in "ui":
        if result.dtype == source_dtype:
            return result, None
        return storable_pixels(result, "clip", max_value=max_value, source_dtype=source_dtype), None
    if result.dtype == np.uint8:
        return result, None
    values = result[..., 0] if result.ndim == 3 and result.shape[2] == 1 else result
    if fmt == "TIFF" and values.ndim == 2 and values.dtype.kind == "f":
        return values.astype(np.float32), None
    if is_image:
        return (
            storable_pixels(values, "clip", max_value=max_value, source_dtype=values.dtype),
            f"float values mapped to 8 bits (0..{float(max_value):g} -> 0..255, clipped); "
            "write .npy to keep them",
        )
    finite = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(finite.min()), float(finite.max())
    return (
        storable_pixels(finite, "rescale", max_value=255.0, source_dtype=finite.dtype),
        f"{values.dtype} values [{low:.6g}, {high:.6g}] rescaled to 0..255 (8 bits); write "
        ".npy to keep them",
    )


def gray_for_display(data, bounds: tuple[float, float] | None = None):
    """A .npy array as a gray uint8 picture (min to max of the whole array; NaN, inf -> 0).

    ``bounds`` (low, high) replaces the array's own min and max, so that a pooled
    map is drawn on its input's scale.
    """
    import numpy as np

    from cnnfilter.engine.intensity import to_pixels

    x = np.asarray(data, dtype=np.float64)
    if x.ndim == 3:
        x = x.mean(axis=2)
    if not np.all(np.isfinite(x)):
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    if bounds is None:
        return to_pixels(x, "rescale", max_value=255, dtype=np.uint8)
    lo, hi = bounds
    scaled = (x - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(x)
    return to_pixels(scaled, "clip", max_value=255, dtype=np.uint8)
