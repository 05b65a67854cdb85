"""Dask: a batch on the local pool vs a LocalCluster, and a huge image chunked vs in memory.

1. Batch: COUNT photos of 1 MP (made as in benchmarks/batch.py), filtered with
   ``cnnfilter apply in/ -k sobel-x -o out/ -q -j WORKERS`` (the local pool)
   and with ``--scheduler local -j WORKERS`` (a LocalCluster of WORKERS
   processes on 127.0.0.1, started and stopped by the command: its start-up is
   counted). Images per second of both, their ratio, outputs compared byte
   for byte.
2. Large image: a SIDE x SIDE gray uint8 tiled BigTIFF (256 x 256 tiles, made
   tile by tile), filtered with a 5x5 kernel by ``apply --chunked`` (tiled
   BigTIFF out); and a MID x MID image of the same kind by the in-memory path
   (``apply mid.tif -o mid_out.tif``). Each run is its own process; the
   report gives seconds per megapixel and the peak resident memory of each
   (``ru_maxrss`` of the child), and checks on a corner that the chunked
   output equals the in-memory one.

    python benchmarks/dask_batch.py                         # 200 photos, 20000^2 image
    python benchmarks/dask_batch.py --count 1000 --side 40000
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch import make_photos  # noqa: E402

CLI = [sys.executable, "-m", "cnnfilter"]
TILE = 256
KERNEL = "gaussian:5:1"


def timed(args: list[str]) -> tuple[float, float]:
    """Run a command; (wall seconds, peak RSS of that child in MiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(args, check=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far: run the small ones first
    return wall, max(peak, before) / 1024


def peak_of(args: list[str]) -> tuple[float, float]:
    """(wall s, peak RSS MiB) of one command, measured by a fresh wrapper process."""
    code = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True); w = time.perf_counter() - t; "
        "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True)
    wall, peak = out.stdout.split()
    return float(wall), float(peak)


def batch(folder: Path, count: int, workers: int) -> None:
    photos = folder / "in"
    photos.mkdir()
    make_photos(photos, count)
    runs = {}
    for name, extra in (("local pool", []), ("LocalCluster", ["--scheduler", "local"])):
        out = folder / name.replace(" ", "_")
        wall, _ = peak_of([*CLI, "apply", str(photos), "-k", "sobel-x", "-o", f"{out}/", "-q",
                           "-j", str(workers), *extra])  # fmt: skip
        runs[name] = (out, wall)
        print(f"batch {name:12s} {count} images in {wall:6.1f} s: {count / wall:6.1f} images/s")
    (a, ta), (b, tb) = runs.values()
    same = all((a / p.name).read_bytes() == (b / p.name).read_bytes() for p in a.iterdir())
    print(f"batch: cluster / local pool time {tb / ta:.2f}x; outputs identical: {same}")


def make_tiff(path: Path, side: int, *, bigtiff: bool = True) -> None:
    """A side x side gray uint8 tiled BigTIFF, written tile by tile (bounded memory)."""
    import tifffile

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (TILE * 2, TILE * 2), dtype=np.uint8)
    n = -(-side // TILE)

    def tiles():
        for ty in range(n):
            for tx in range(n):
                y, x = (ty * 37) % TILE, (tx * 53) % TILE
                yield base[y : y + TILE, x : x + TILE]

    tifffile.imwrite(path, tiles(), shape=(side, side), dtype=np.uint8, tile=(TILE, TILE),
                     bigtiff=bigtiff, photometric="minisblack")  # fmt: skip


def large(folder: Path, side: int, mid: int) -> None:
    import tifffile

    big, small = folder / "big.tif", folder / "mid.tif"
    t = time.perf_counter()
    make_tiff(big, side)
    # classic TIFF for the in-memory path: Pillow's EXIF reader in cnnfilter.codecs.meta
    # fails on a BigTIFF header (noted in the issue-17 report)
    make_tiff(small, mid, bigtiff=False)
    print(f"made {side}x{side} and {mid}x{mid} tiled BigTIFFs in {time.perf_counter() - t:.0f} s")
    wall_mem, rss_mem = peak_of([*CLI, "apply", str(small), "-k", KERNEL, "-o",
                                 str(folder / "mid_out.tif"), "-q"])  # fmt: skip
    wall_chk_mid, rss_chk_mid = peak_of([*CLI, "apply", str(small), "--chunked", "-k", KERNEL,
                                         "-o", str(folder / "mid_chunked.tif"), "-q"])  # fmt: skip
    wall_big, rss_big = peak_of([*CLI, "apply", str(big), "--chunked", "-k", KERNEL, "-o",
                                 str(folder / "big_out.tif"), "-q"])  # fmt: skip
    mp_mid, mp_big = mid * mid / 1e6, side * side / 1e6
    rows = [
        ("in memory", mid, wall_mem, rss_mem, mp_mid),
        ("chunked", mid, wall_chk_mid, rss_chk_mid, mp_mid),
        ("chunked", side, wall_big, rss_big, mp_big),
    ]
    for name, s, wall, rss, mp in rows:
        print(f"{name:9s} {s:6d}^2 ({mp:7.0f} MP): {wall:7.1f} s, {wall / mp * 1000:6.2f} ms/MP, "
              f"peak RSS {rss:7.0f} MiB")  # fmt: skip
    ref = tifffile.imread(folder / "mid_out.tif")
    got = tifffile.imread(folder / "mid_chunked.tif")
    print(f"chunked == in memory on {mid}^2: {np.array_equal(ref, got)}")
    print(f"chunked {side}^2 vs in memory {mid}^2, time per MP: "
          f"{(wall_big / mp_big) / (wall_mem / mp_mid):.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--side", type=int, default=20000)
    parser.add_argument("--mid", type=int, default=6000)
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cnnf-dask-bench-"))
    try:
        print(f"{os.cpu_count()} cores; {folder}")
        if not args.skip_batch:
            batch(folder, args.count, args.workers)
        if not args.skip_large:
            large(folder, args.side, args.mid)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
