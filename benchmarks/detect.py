"""Time ``detect`` on a 4000 x 3000 photo with a 64 x 64 template, against the direct method.

The photo is samples/astronaut.png resized to 1000 x 1000 and tiled 4 x 3 (a real
photo's statistics at 12 MP). The template is a 64 x 64 cut from it. Timed:

* the engine's default (``method="auto"``, which picks the FFT for 4096 taps), for
  ``raw`` and ``ncc``, on the gray and the RGB image, best of ``--repeat`` runs;
* the direct method (one shifted multiply-add per tap). Over the whole image it
  would take minutes (4096 passes over 12 MP per channel), so it is timed on a
  crop of the same photo (``--crop`` rows, all 4000 columns) and extrapolated
  linearly in the number of output rows; the printout says so.

Then ``ncc`` against OpenCV's ``matchTemplate(TM_CCOEFF_NORMED)`` (bench extra,
``opencv-python-headless``) in the same run, the two calls alternating (best of
``--repeat`` each; on a shared machine alternating keeps both under the same load):
the wall-time ratio, the CPU time of each (OpenCV's gray call runs on one core,
cnnfilter's on every core of the thread budget), and the values of both
against an exact float64 reference computed window by window (sum of products of the
zero-mean template and window) on a sample: 2000 random windows plus the 2000 non-flat
windows of smallest variance, where float32 arithmetic loses most. OpenCV computes in
float32; its error there is printed too. ``|ncc - OpenCV|`` is printed over all
windows and over the well-conditioned ones (window standard deviation >= 8 grey levels).

Run: python benchmarks/detect.py [--repeat 3] [--crop 192] [--skip-direct]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from cnnfilter.engine.response import find_peaks, ncc_map, raw_map

ROOT = Path(__file__).resolve().parent.parent


def _ncc_values(image, template, *, method):
    return ncc_map(image, template, method=method).values


def window_std(image, kh, kw):
    """Standard deviation of every valid window (over its pixels and channels), float64.

    Box means by scipy.ndimage.uniform_filter, ``E[I^2] - E[I]^2``: a few digits
    suffice to pick the near-flat windows.
    """
    from scipy import ndimage

    data = image if image.ndim == 3 else image[:, :, None]
    oh, ow = data.shape[0] - kh + 1, data.shape[1] - kw + 1
    var = np.zeros((oh, ow))
    for c in range(data.shape[2]):
        x = data[:, :, c].astype(np.float64)
        m = ndimage.uniform_filter(x, (kh, kw))[kh // 2 : kh // 2 + oh, kw // 2 : kw // 2 + ow]
        m2 = ndimage.uniform_filter(x * x, (kh, kw))[kh // 2 : kh // 2 + oh, kw // 2 : kw // 2 + ow]
        var += np.maximum(m2 - m * m, 0.0)
    return np.sqrt(var / data.shape[2])


def alternate(fns, repeat: int):
    """Run the functions in turn ``repeat`` times: best wall and best CPU time of each."""
    wall = [float("inf")] * len(fns)
    cpu = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[i] = min(wall[i], time.perf_counter() - t0)
            cpu[i] = min(cpu[i], time.process_time() - c0)
    return wall, cpu


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def exact_ncc(image, template, cells):
    """TM_CCOEFF_NORMED at the given (row, col) cells, float64, window by window."""
    img = image if image.ndim == 3 else image[:, :, None]
    t = np.asarray(template, dtype=np.float64).reshape(template.shape[0], template.shape[1], -1)
    tz = t - t.mean(axis=(0, 1))
    kh, kw = t.shape[:2]
    out = np.empty(len(cells))
    for k, (r, c) in enumerate(cells):
        w = img[r : r + kh, c : c + kw].astype(np.float64)
        wz = w - w.mean(axis=(0, 1))
        den = np.sqrt((tz * tz).sum() * (wz * wz).sum())
        out[k] = (tz * wz).sum() / den if den > 0 else 0.0
    return out


def against_opencv(name, image, template, repeat):
    """Time ncc and OpenCV in one run; errors of both against the exact values."""
    try:
        import cv2
    except ImportError:
        print("OpenCV not installed: pip install 'cnnfilter[bench]' for the comparison")
        return
    load = os.getloadavg()[0]
    (t_ours, t_cv), (c_ours, c_cv) = alternate(
        [
            lambda: ncc_map(image, template),
            lambda: cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED),
        ],
        repeat,
    )
    ours = ncc_map(image, template).values
    cv = cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED).astype(np.float64)
    std = window_std(image, 64, 64)
    rng = np.random.default_rng(0)
    flat_order = np.argsort(np.where(std > 0, std, np.inf), axis=None)[:2000]
    picks = np.concatenate([rng.integers(0, ours.size, 2000), flat_order])
    cells = [tuple(int(v) for v in np.unravel_index(i, ours.shape)) for i in picks]
    exact = exact_ncc(image, template, cells)
    rows, cols = np.array(cells).T
    err_ours = np.abs(ours[rows, cols] - exact).max()
    err_cv = np.abs(cv[rows, cols] - exact).max()
    diff = np.abs(ours - cv)
    good = std >= 8
    print(
        f"{name:4s} ncc vs OpenCV (load {load:.1f}): ours {t_ours:6.2f} s (CPU {c_ours:.2f} s) | "
        f"OpenCV {t_cv:6.2f} s (CPU {c_cv:.2f} s) | ratio {t_ours / t_cv:4.2f}x (CPU "
        f"{c_ours / c_cv:4.2f}x) | max error vs exact (sample): ours {err_ours:.1e}, OpenCV "
        f"{err_cv:.1e} | max |ours - OpenCV| {diff.max():.1e} overall, {diff[good].max():.1e} "
        f"where window std >= 8 ({good.mean():.0%} of windows)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--crop", type=int, default=192, help="rows of the direct-method crop")
    parser.add_argument("--skip-direct", action="store_true", help="only the OpenCV comparison")
    args = parser.parse_args()

    tile = np.asarray(Image.open(ROOT / "samples" / "astronaut.png").resize((1000, 1000)))
    rgb = np.ascontiguousarray(np.tile(tile, (3, 4, 1)))  # 3000 x 4000 x 3
    gray = np.ascontiguousarray(rgb.mean(axis=2).round().astype(np.uint8))
    top, left = 1180, 2230
    print(f"image {rgb.shape[0]} x {rgb.shape[1]} (astronaut.png tiled), template 64 x 64")
    raw_map(gray[:100, :100], gray[:64, :64])  # import scipy.signal once, outside the timing

    for name, image in (("gray", gray), ("rgb", rgb)):
        template = image[top : top + 64, left : left + 64].copy()
        against_opencv(name, image, template, args.repeat)
    if args.skip_direct:
        return
    for name, image in (("gray", gray), ("rgb", rgb)):
        template = image[top : top + 64, left : left + 64].copy()
        oh = image.shape[0] - 63
        for method in ("raw", "ncc"):
            run = raw_map if method == "raw" else _ncc_values

            def fast(run=run, image=image, template=template):
                return run(image, template, method="auto")

            def slow(crop, run=run, template=template):
                return run(crop, template, method="direct")

            t_fast = best_of(fast, args.repeat)
            values = fast()
            peak = find_peaks(values, top=1, min_distance=32)[0]
            crop = image[: args.crop + 63]
            t_crop = best_of(lambda crop=crop: slow(crop), 1)
            t_direct = t_crop * oh / args.crop
            # the two methods agree on the crop
            scale = float(np.max(np.abs(values[: args.crop]))) or 1.0
            diff = float(np.max(np.abs(slow(crop) - values[: args.crop]))) / scale
            print(
                f"{name:4s} {method}: auto/FFT {t_fast:6.2f} s | direct {t_direct:7.1f} s "
                f"(extrapolated from {args.crop} of {oh} output rows: {t_crop:.2f} s) | "
                f"ratio {t_direct / t_fast:6.1f}x | best peak ({peak.row}, {peak.col}) "
                f"score {peak.score:.6g} | max |auto - direct| / max |map| on the crop {diff:.1g}"
            )


if __name__ == "__main__":
    main()
