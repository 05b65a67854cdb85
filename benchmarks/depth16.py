"""16-bit colour through ``apply`` against the 8-bit path, end to end (issue 11).

Makes one 12 MP (4000 x 3000) RGB photo from samples/astronaut.png, scaled up, with a
noisy low byte as real 16-bit photos have (a smooth 16-bit picture compresses far better
than a camera's and would flatter the PNG encoder), and times, each as its own process:

* 8-bit PNG:   ``cnnfilter apply in8.png   -k sobel-x -o out.png``  (the reference)
* 16-bit TIFF: ``cnnfilter apply in16.tif  -k sobel-x -o out.tif``  (tifffile)
* 16-bit PNG:  ``cnnfilter apply in16.png  -k sobel-x -o out.png``  (imagecodecs)

and prints the best wall-clock time of REPEAT runs and the ratio to the 8-bit path (the
goal: within 1.5x). ``--levels 1 2 3`` adds 16-bit PNG runs at other ``--compress-level``
values, to see what bounds the PNG path. Needs ``pip install 'cnnfilter[16bit]'``.

    python benchmarks/depth16.py                  # about a minute on 2 cores
    python benchmarks/depth16.py --levels 1 2 3 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 4000, 3000


def make_inputs(folder: Path) -> dict[str, Path]:
    """The same photo as 8-bit PNG, 16-bit TIFF and 16-bit PNG."""
    import imagecodecs
    import tifffile

    with Image.open(ROOT / "samples" / "astronaut.png") as im:
        big = im.convert("RGB").resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
    eight = np.asarray(big)
    noise = np.random.default_rng(11).integers(0, 256, size=eight.shape, dtype=np.uint16)
    sixteen = (eight.astype(np.uint16) << 8) | noise
    paths = {
        "8-bit PNG": folder / "in8.png",
        "16-bit TIFF": folder / "in16.tif",
        "16-bit PNG": folder / "in16.png",
    }
    Image.fromarray(eight).save(paths["8-bit PNG"], compress_level=4)
    tifffile.imwrite(paths["16-bit TIFF"], sixteen, photometric="rgb", metadata=None)
    paths["16-bit PNG"].write_bytes(imagecodecs.png_encode(sixteen, level=4))
    return paths


def cnnfilter_command() -> list[str]:
    script = Path(sys.executable).with_name("cnnfilter")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cnnfilter"]


def best_time(args: list[str], repeat: int) -> tuple[float, float]:
    """Best wall-clock and CPU (user + system) seconds of ``repeat`` runs of ``cnnfilter ARGS``.

    CPU time is the steadier figure on a shared machine: a process waiting for a core
    adds wall time but no CPU time.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cnnfilter_command() + args, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs per case (best kept)")
    parser.add_argument("--kernel", default="sobel-x")
    parser.add_argument(
        "--levels", type=int, nargs="*", default=[], help="extra PNG compress levels to try"
    )
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = make_inputs(folder)
        cases = [(name, path, []) for name, path in paths.items()]
        cases += [
            (f"16-bit PNG, level {lv}", paths["16-bit PNG"], ["--compress-level", str(lv)])
            for lv in opts.levels
        ]
        print(
            f"apply -k {opts.kernel}, {WIDTH} x {HEIGHT} RGB, best of {opts.repeat}; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        print(f"  {'case':<24} {'wall':>8} {'ratio':>6} {'CPU':>8} {'ratio':>6}  output")
        reference = None
        for name, path, extra in cases:
            out = folder / f"out{path.suffix}"
            args = ["apply", str(path), "-k", opts.kernel, "-o", str(out), "--force", "-q"]
            wall, cpu = best_time(args + extra, opts.repeat)
            reference = reference or (wall, cpu)
            size = out.stat().st_size / 1e6
            print(
                f"  {name:<24} {wall:7.2f}s {wall / reference[0]:5.2f}x {cpu:7.2f}s "
                f"{cpu / reference[1]:5.2f}x  {size:.1f} MB"
            )
        print("goal: 16-bit within 1.5x of the 8-bit path")


if __name__ == "__main__":
    main()
