"""``cnnfilter forward``: run a layer stack on a photo and picture every feature map."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded, stdout_console
from cnnfilter.cli._complete import complete_image
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
        Path,
        typer.Option(
            "--output",
            "-o",
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
            help="Montage colour scale: tile (each channel on its own range, shown under it) or "
            "shared (one range per layer, channels compare)."
        ),
    ] = "tile",
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
    --weights or --init. Montages: each channel on its own range (--scale
    tile) or the layer's (--scale shared); gray, or blue/white/red around 0
    when the layer has negative values.
    """
    from cnnfilter.tasks import forward as task

    notes = Notes.of(quiet=quiet, verbose=verbose)
    done = task.forward(
        arch, photo, output=output, weights=weights, layout=weights_layout, init=init, seed=seed,
        layer=layer, npz=npz, scale=scale, force=force, max_pixels=max_pixels,
    )  # fmt: skip
    if json_out:
        emit_json(done.report)
    else:
        console = stdout_console()
        for entry in done.report["layers"]:
            shape = " x ".join(map(str, entry["shape"]))
            console.print(
                f"{entry['name']:<20} {entry['type']:<12} {shape:>16}  "
                f"min {entry['min']:.4g}  max {entry['max']:.4g}  zeros {entry['zeros']:.0%}"
            )
    notes(f"wrote {len(done.written)} files to {output}")
    for line in done.notes:
        notes(line)
    for path in done.written:
        notes.detail(path)
