"""forward's per-tile montage levels: all tiles in one pass against one percentile per tile.

    python benchmarks/montage.py              # best of 3
    python benchmarks/montage.py --repeat 5

Each tile of a ``scale="tile"`` montage is drawn on its own level, the 99.5th percentile
of its ``|value|``. Until :func:`cnnfilter.engine.intensity.channel_levels`, a montage
called ``stretch_levels`` once per tile (a float64 copy of the strided tile, a NaN check,
``np.percentile``); :func:`old_tile_levels` below is that code, kept as the baseline. In
one run, alternating, CPU time (``time.process_time``), best of ``--repeat``:

* ``levels``: the tiles' white levels alone (old: one ``np.percentile`` per tile; new:
  ``channel_levels``), on random float32 maps of three ResNet shapes (half of the
  channels after a ReLU);
* ``montage``: the whole :func:`cnnfilter.render.montage` with the old levels, the new
  ones, and ``floor``: the min/max range of each tile with no percentile at all (what a
  montage cost before the per-tile level, text under each tile included);
* the 69 montages of ``cnnfilter forward resnet18 samples/chelsea.png --init he --seed 0``
  (the maps captured from the command itself, then drawn old / new / floor), and the PNG
  encoding of those pictures for scale.

Every picture is checked to be the same with both levels before anything is timed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import cnnfilter.render.montage  # noqa: F401  (the module, not the function of that name)
from cnnfilter import imageio, render
from cnnfilter.engine.intensity import channel_levels

M = sys.modules["cnnfilter.render.montage"]
ROOT = Path(__file__).resolve().parent.parent
NEW_TILE_LEVELS = M._tile_levels


def old_white(tile: np.ndarray, percentile: float = 99.5) -> float:
    """``stretch_levels(tile, percentile, 0)[1]`` as it was for a (strided) tile."""
    a = np.abs(np.asarray(tile, dtype=np.float64)).ravel()
    if a.size and not np.isfinite(a).all():
        a = a[np.isfinite(a)]
    if not a.size:
        return 0.0
    white = float(np.percentile(a, (0, percentile))[1])
    return white if white > 0 else float(a.max())


def old_tile_levels(x, c, colours):
    """render.montage's ``_tile_levels`` before ``channel_levels``: one tile at a time."""
    ranges, texts = [], []
    for i, (lo, hi) in enumerate(M._tile_ranges(x, c, colours, "tile")):
        white = old_white(x[..., i], M.TILE_PERCENTILE)
        level = min(white, hi) if colours == "diverging" or white > lo else hi
        ranges.append((-level, level) if colours == "diverging" else (lo, level))
        beyond = f" (max {M.format_number(hi)})" if hi > level else ""
        texts.append(M._range_text(*ranges[-1]) + beyond)
    return ranges, texts


def floor_tile_levels(x, c, colours):
    """No percentile: each tile on its min/max range (the cost floor)."""
    ranges = M._tile_ranges(x, c, colours, "tile")
    return ranges, [M._range_text(*r) for r in ranges]


WAYS = {"old": old_tile_levels, "new": NEW_TILE_LEVELS, "floor": floor_tile_levels}


def draw(maps, way: str) -> list[np.ndarray]:
    M._tile_levels = WAYS[way]
    try:
        return [M.montage(y, **kw) for y, kw in maps]
    finally:
        M._tile_levels = NEW_TILE_LEVELS


def best_of(funcs: dict, repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeat):
        for name, func in funcs.items():
            start = time.process_time()
            func()
            times[name].append(time.process_time() - start)
    return times


def report(times: dict[str, list[float]]) -> None:
    for name, ts in times.items():
        lo, hi = min(ts) * 1e3, max(ts) * 1e3
        print(f"  {name:15s} best {lo:8.1f} ms  (all {lo:.1f}-{hi:.1f})")


def bench_shape(x: np.ndarray, repeat: int) -> None:
    """Levels and whole montages of one random map, old / new / floor."""
    maps = [(x, {"title": "t"})]
    assert np.array_equal(draw(maps, "old")[0], draw(maps, "new")[0])
    c = min(x.shape[2], M.MONTAGE_MAX_TILES)
    print(" x ".join(map(str, x.shape)), x.dtype)
    report(best_of({
        "levels old": lambda: [old_white(x[..., i]) for i in range(c)],
        "levels new": lambda: channel_levels(x[..., :c], M.TILE_PERCENTILE, 0),
        **{f"montage {way}": lambda way=way: draw(maps, way) for way in WAYS},
    }, repeat))  # fmt: skip


def resnet18_maps() -> list[tuple[np.ndarray, dict]]:
    """The maps (and montage arguments) of the forward command on chelsea.png."""
    from cnnfilter.cli import main

    captured, real = [], render.montage
    render.montage = lambda y, **kw: captured.append((np.array(y), kw)) or real(y, **kw)
    argv = sys.argv
    with tempfile.TemporaryDirectory() as out:
        sys.argv = ["cnnfilter", "forward", "resnet18", str(ROOT / "samples" / "chelsea.png"),
                    "--init", "he", "--seed", "0", "-o", f"{out}/r18", "-q"]  # fmt: skip
        try:
            main()
        except SystemExit as stop:
            assert not stop.code, stop.code
        finally:
            sys.argv, render.montage = argv, real
    return captured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    rng = np.random.default_rng(0)
    for shape in [(112, 112, 64), (56, 56, 256), (7, 7, 512)]:
        x = rng.standard_normal(shape).astype(np.float32)
        x[:, :, ::2] = np.maximum(x[:, :, ::2], 0)
        bench_shape(x, repeat)
    maps = resnet18_maps()
    pictures = draw(maps, "new")
    for old, new in zip(draw(maps, "old"), pictures, strict=True):
        assert np.array_equal(old, new)
    print(f"resnet18 on chelsea.png: {len(maps)} montages")
    report(best_of({
        **{f"montages {way}": lambda way=way: draw(maps, way) for way in WAYS},
        "PNG encoding": lambda: [imageio.encode_picture(p, "PNG") for p in pictures],
    }, repeat))  # fmt: skip


if __name__ == "__main__":
    main()
