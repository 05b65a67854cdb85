"""``cnnfilter forward``: run a layer stack on a photo and picture every feature map."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded, stdout_console
from cnnfilter.cli._complete import complete_image, complete_path
from cnnfilter.cli._options import (
    ForceOption,
    JsonOption,
    MaxPixelsOption,
    QuietOption,
    VerboseOption,
    example,
)
from cnnfilter.cli._output import Notes, emit_json
from cnnfilter.cli.arch import ArchFile


@app.command(
    epilog=example(
        "cnnfilter forward samples/arch/article_first_layer.yaml samples/camera.png -o maps/"
    )
)
@guarded
def forward(
    arch: ArchFile,
    photo: Annotated[
        Path,
        typer.Argument(
            metavar="PHOTO",
            autocompletion=complete_image,
            help="Image (scaled to 0..1, alpha dropped) or .npy map (H, W, C), taken as it is.",
        ),
    ],
    output: Annotated[
        str,  # not Path: Path("") is ".", and an empty -o is refused, not taken as here
        typer.Option(
            "--output",
            "-o",
            metavar="FOLDER",
            autocompletion=complete_path,
            help="Folder for the maps: NN_<layer>.png per layer and summary.json.",
        ),
    ],  # fmt: skip
    weights: Annotated[
        Path | None,
        typer.Option(
            help=".npz of arrays keyed <layer>.weight, <layer>.bias, <layer>.running_mean, ..."
        ),
    ] = None,
    weights_layout: Annotated[
        str,
        typer.Option(
            "--weights-layout", help="torch: (out, in/groups, kh, kw); keras: (kh, kw, in, out)."
        ),
    ] = "torch",
    init: Annotated[
        str | None,
        typer.Option(help="he or glorot: random weights for layers that have none."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of --init.")] = 0,
    layer: Annotated[str | None, typer.Option(help="Write the montage of this layer only.")] = None,
    npz: Annotated[
        bool, typer.Option("--npz", help="Also write every map, raw, to activations.npz.")
    ] = False,
    scale: Annotated[
        str,
        typer.Option(
            help="Montage colour scale: tile (each channel on its own level, the 99.5th "
            "percentile of its |value|, shown under it; values beyond saturate) or shared (one "
            "range per layer, channels compare)."
        ),
    ] = "tile",
    size: Annotated[
        str | None,
        typer.Option(
            metavar="N|HxW",
            help="ONNX models: resize the photo's shorter side to N then centre-crop to the "
            "model's size (N), or resize to exactly HxW; default: 256 for a 224 model.",
            show_default=False,
        ),
    ] = None,
    mean: Annotated[
        str | None,
        typer.Option(
            metavar="M|M,M,M",
            help="ONNX models: channel means subtracted from the 0..1 photo "
            "[default: ImageNet's 0.485,0.456,0.406].",
            show_default=False,
        ),
    ] = None,
    std: Annotated[
        str | None,
        typer.Option(
            metavar="S|S,S,S",
            help="ONNX models: channel standard deviations divided by "
            "[default: ImageNet's 0.229,0.224,0.225].",
            show_default=False,
        ),
    ] = None,
    runtime: Annotated[
        str,
        typer.Option(
            metavar="NAME",
            help="ONNX models: onnxruntime, reference (onnx's ReferenceEvaluator, slower) or "
            "auto (onnxruntime when installed).",
        ),
    ] = "auto",
    json_out: JsonOption = False,
    force: ForceOption = False,
    max_pixels: MaxPixelsOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Run the layers of ARCH on PHOTO and write a montage of every layer's feature maps.

    A conv2d layer written as kernels: [vertical-lines, curve] uses those
    registry kernels as its filters, unflipped (a CNN layer computes
    cross-correlation); other layers need weight: arrays in the arch file,
    --weights or --init. Montages: each channel on its own level, the 99.5th
    percentile of its |value| (--scale tile), or the layer's range (--scale
    shared); gray, or blue/white/red around 0 when the layer has negative values.

    An ONNX model (model.onnx; needs cnnfilter[onnxruntime]) runs with
    onnxruntime on the photo preprocessed by --size, --mean and --std; every
    node output of shape 1 x C x H x W or 1 x F is a layer.
    """
    from cnnfilter.tasks.forward_onnx import forward_any, parse_floats, parse_size

    notes = Notes.of(quiet=quiet, verbose=verbose)
    done = forward_any(
        arch, photo, output=output, weights=weights, layout=weights_layout, init=init, seed=seed,
        layer=layer, npz=npz, scale=scale, force=force, max_pixels=max_pixels,
        size=parse_size(size), mean=parse_floats(mean, "mean"), std=parse_floats(std, "std"),
        runtime=runtime,
    )  # fmt: skip
    if json_out:
        emit_json(done.report)
    else:
        console = stdout_console()
        entries = done.report["layers"]
        name_width = max([20, *(len(e["name"]) for e in entries)])
        type_width = max([12, *(len(e["type"]) for e in entries)])
        for entry in entries:
            shape = " x ".join(map(str, entry["shape"]))
            console.print(
                f"{entry['name']:<{name_width}} {entry['type']:<{type_width}} {shape:>16}  "
                f"min {_num(entry['min'])}  max {_num(entry['max'])}  zeros {entry['zeros']:.0%}"
            )
    notes(f"wrote {len(done.written)} files to {output}")
    for line in done.notes:
        notes(line)
    for path in done.written:
        notes.detail(path)


def _num(value: float | None) -> str:
    """A statistic as the table shows it; None (a map of NaN/inf only) as ``nan``."""
    return "nan" if value is None else f"{value:.4g}"
