"""One batch call against a shell loop of one cnnfilter call per photo.

Makes COUNT photos of about 1 MP (1024 x 1024 RGB JPEGs cut and flipped from
the sample photos, so no two are the same) in a temporary folder, then times

* batch: ``cnnfilter apply in/ -k KERNEL -o batch/ -q`` (one process, a pool
  of --workers processes, default: every core);
* loop:  ``for f in in/*.jpg; do cnnfilter apply "$f" -k KERNEL -o loop/...; done``

and prints both wall-clock times and their ratio (the goal: the batch at
least 3x faster). The outputs of both are compared byte for byte.

    python benchmarks/batch.py                 # 200 photos (a few minutes)
    python benchmarks/batch.py --count 40      # quicker
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SIDE = 1024  # 1024 x 1024 = 1.05 MP


def make_photos(folder: Path, count: int) -> None:
    """``count`` distinct ~1 MP RGB JPEGs made from the sample photos."""
    sources = []
    names = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "hubble_deep_field.jpg",
             "grace_hopper.jpg", "brick.png", "horse.png"]  # fmt: skip
    for name in names:
        with Image.open(SAMPLES / name) as im:
            sources.append(im.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BICUBIC))
    rng = np.random.default_rng(6)
    for i in range(count):
        pixels = np.asarray(sources[i % len(sources)])
        pixels = np.roll(pixels, int(rng.integers(0, SIDE)), axis=int(rng.integers(0, 2)))
        if (i // len(sources)) % 2:
            pixels = pixels[:, ::-1]
        Image.fromarray(np.ascontiguousarray(pixels)).save(
            folder / f"photo_{i:03d}.jpg", quality=90
        )


def cnnfilter_command() -> str:
    """The console script beside this interpreter (what a shell loop would call)."""
    script = Path(sys.executable).with_name("cnnfilter")
    return str(script) if script.exists() else f"{sys.executable} -m cnnfilter"


def timed(args: list[str] | str, *, shell: bool = False) -> float:
    start = time.perf_counter()
    quiet = subprocess.DEVNULL
    bash = "/bin/bash" if shell else None
    subprocess.run(args, shell=shell, check=True, stdout=quiet, stderr=quiet, executable=bash)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="number of photos (200)")
    parser.add_argument("--kernel", default="gaussian:5:1", help="kernel (gaussian:5:1)")
    parser.add_argument("--workers", type=int, default=None, help="batch workers (all cores)")
    args = parser.parse_args()
    cli = cnnfilter_command()
    with tempfile.TemporaryDirectory(prefix="cnnfilter-batch-") as tmp:
        tmp = Path(tmp)
        photos, batch_out, loop_out = tmp / "in", tmp / "batch", tmp / "loop"
        for folder in (photos, batch_out, loop_out):
            folder.mkdir()
        make_photos(photos, args.count)
        megapixels = args.count * SIDE * SIDE / 1e6
        workers = ["--workers", str(args.workers)] if args.workers else []
        batch = timed(
            [*cli.split(), "apply", str(photos), "-k", args.kernel, "-o", f"{batch_out}/", "-q",
             *workers]
        )  # fmt: skip
        loop = timed(
            f'for f in {photos}/*.jpg; do {cli} apply "$f" -k {args.kernel} '
            f'-o {loop_out}/"$(basename "$f")" -q; done',
            shell=True,
        )
        names = sorted(p.name for p in photos.iterdir())
        same = all((batch_out / n).read_bytes() == (loop_out / n).read_bytes() for n in names)
        shutil.rmtree(photos)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{args.count} photos of {SIDE} x {SIDE} x 3 ({megapixels:.0f} MP), kernel "
          f"{args.kernel}, {cores} cores")  # fmt: skip
    print(f"batch (one call, {args.workers or cores} workers): {batch:7.1f} s  "
          f"({args.count / batch:5.1f} photos/s)")  # fmt: skip
    print(f"shell loop (one call per photo):   {loop:7.1f} s  ({args.count / loop:5.1f} photos/s)")
    print(f"ratio: batch is {loop / batch:.1f}x faster (goal: >= 3x); "
          f"outputs identical: {'yes' if same else 'NO'}")  # fmt: skip


if __name__ == "__main__":
    main()
