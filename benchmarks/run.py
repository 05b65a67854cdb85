"""cnnfilter against its peers, measured in one run on this machine.

    python benchmarks/run.py            # about 2-4 minutes on 2 cores
    python benchmarks/run.py --quick    # skips the slow peers and the end-to-end runs
    python benchmarks/run.py --json a.json && python benchmarks/compare.py a.json b.json

Prints the detail tables, then issue 16's table (work, cnnfilter, peer,
ratio, goal, met) from the same run; ``--json`` writes the numbers and the
goals for :mod:`benchmarks.compare`.

Prints one table. The test image is 4000 x 3000 x 3 float32 (12 MP RGB)
resized from samples/astronaut.png; every filter is per-channel 'same'
cross-correlation with a symmetric border. Times are the best of a few runs
(the machine is shared: best-of is the least noisy statistic). Peers:

* scipy.signal.convolve2d one channel at a time (the article's method). For
  large kernels it takes minutes, so it runs on a band of rows and the time
  is scaled to the full image; those rows are marked ``(extrap.)``.
* scipy.ndimage.correlate per channel (extrapolated the same way when slow).
* OpenCV filter2D / sepFilter2D, when ``opencv-python-headless`` is installed
  (``pip install -e .[bench]``); never a runtime dependency.
* ImageMagick ``convert-im6.q16`` for the end-to-end run, when installed.

The memory-bandwidth floor is one read and one write of the image, measured
as a copy between two already-touched arrays.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnnfilter.engine.filtering import correlate, plan_method  # noqa: E402
from cnnfilter.kernels import gaussian_kernel  # noqa: E402

H, W = 3000, 4000
#: Slow peers run on this many rows and are scaled to H (marked extrapolated).
BAND_ROWS = 300
#: A peer run is extrapolated when its estimated full time exceeds this (s).
SLOW = 6.0

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def best(func, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def photo_12mp() -> np.ndarray:
    from PIL import Image

    with Image.open(ROOT / "samples" / "astronaut.png") as im:
        big = im.convert("RGB").resize((W, H), Image.Resampling.LANCZOS)
    return np.asarray(big)


def peer_time(run_band, rows_total: int, estimate_per_row: float) -> tuple[float, bool]:
    """Full time of a peer, measured or extrapolated from a band of rows."""
    if estimate_per_row * rows_total <= SLOW:
        return run_band(rows_total), False
    return run_band(BAND_ROWS) * rows_total / BAND_ROWS, True


def kernels_to_test(rng) -> list[tuple[str, np.ndarray]]:
    return [
        ("3x3", rng.standard_normal((3, 3))),
        ("5x5", rng.standard_normal((5, 5))),
        ("15x15 Gaussian", gaussian_kernel(15, 2.5)),
        ("31x31", rng.standard_normal((31, 31))),
        ("63x63", rng.standard_normal((63, 63))),
    ]


def filter_rows(img: np.ndarray, quick: bool, raw: dict) -> list[list[str]]:
    from scipy import ndimage, signal

    try:
        import cv2
    except ImportError:
        cv2 = None
    rng = np.random.default_rng(0)
    rows = []
    for label, w in kernels_to_test(rng):
        w32 = w.astype(np.float32)
        plan = plan_method(w)
        ours = best(lambda w=w: correlate(img, w), 3)
        sep = plan.method == "separable"
        # convolve2d convolves: flip the kernel to cross-correlate like the others.
        flipped = w[::-1, ::-1].astype(np.float32)

        def c2d(n, flipped=flipped):
            band = img[:n]
            return best(
                lambda: [
                    signal.convolve2d(band[..., c], flipped, mode="same", boundary="symm")
                    for c in range(3)
                ],
                1,
            )

        def nd(n, w32=w32):
            band = img[:n]
            return best(
                lambda: [ndimage.correlate(band[..., c], w32, mode="reflect") for c in range(3)],
                1,
            )

        taps = w.size
        if quick:
            t_c2d, x_c2d = c2d(BAND_ROWS) * H / BAND_ROWS, True
            t_nd, x_nd = nd(BAND_ROWS) * H / BAND_ROWS, True
        else:
            t_c2d, x_c2d = peer_time(c2d, H, 0.09 * taps / H)
            t_nd, x_nd = peer_time(nd, H, 0.025 * taps / H)
        t_cv = t_cvsep = None
        if cv2 is not None:
            anchor = (w.shape[1] // 2, w.shape[0] // 2)
            t_cv = best(
                lambda w32=w32, anchor=anchor: cv2.filter2D(
                    img, -1, w32, anchor=anchor, borderType=cv2.BORDER_REFLECT
                ),
                3,
            )
            if sep:
                col = w32.sum(axis=1) / np.sqrt(w32.sum())
                row = w32.sum(axis=0) / np.sqrt(w32.sum())
                t_cvsep = best(
                    lambda row=row, col=col: cv2.sepFilter2D(
                        img, -1, row, col, borderType=cv2.BORDER_REFLECT
                    ),
                    3,
                )
        raw[label] = {"ours": ours, "convolve2d": t_c2d, "filter2D": t_cv, "sepFilter2D": t_cvsep}
        rows.append(
            [
                f"{label} ({plan.method})",
                ms(ours),
                ms(t_c2d, x_c2d),
                ratio(t_c2d, ours),
                ms(t_nd, x_nd),
                ratio(t_nd, ours),
                ms(t_cv) if t_cv else "-",
                ratio(t_cv, ours) if t_cv else "-",
                ms(t_cvsep) if t_cvsep else "-",
                ratio(t_cvsep, ours) if t_cvsep else "-",
            ]
        )
        print(f"  measured {label}", file=sys.stderr, flush=True)
    return rows


def ms(seconds: float, extrapolated: bool = False) -> str:
    return f"{seconds * 1000:.0f} ms" + (" (extrap.)" if extrapolated else "")


def ratio(peer: float, ours: float) -> str:
    """``peer / ours``: above 1 means cnnfilter is faster."""
    return f"{peer / ours:.1f}x"


def floor_time(img: np.ndarray) -> float:
    dst = np.empty_like(img)
    dst[...] = 0
    return best(lambda: np.copyto(dst, img), 5)


def pooling_rows(img: np.ndarray, floor: float, raw: dict) -> list[list[str]]:
    """2x2 max and average pooling against NumPy and the floor (read 1, write 1/4).

    The floor is measured again between the pooling runs (a copy, then each
    pooling call, seven times; best of each), so that a change of the shared
    machine's load hits both sides of the ratio; CPU times (all threads) too.
    """
    phases = [img[i::2, j::2] for i in range(2) for j in range(2)]

    def numpy_max():
        out = np.maximum(phases[0], phases[1])
        np.maximum(out, phases[2], out=out)
        return np.maximum(out, phases[3], out=out)

    t_np = best(numpy_max, 3)
    t_reshape = best(lambda: img.reshape(H // 2, 2, W // 2, 2, 3).max(axis=(1, 3)), 2)
    try:
        from cnnfilter.engine import pooling
    except ImportError:
        pooling = None
    funcs = {}
    for kind in ("max", "avg"):
        func = _pool_function(pooling, kind) if pooling is not None else None
        if func is not None:
            funcs[kind] = func
    dst = np.empty_like(img)
    dst[...] = 0
    walls: dict = {name: [] for name in ("copy", *funcs)}
    cpus: dict = {name: [] for name in walls}
    for _ in range(7):
        for name in walls:
            run = (
                (lambda: np.copyto(dst, img)) if name == "copy" else (lambda f=funcs[name]: f(img))
            )
            c0, t0 = time.process_time(), time.perf_counter()
            run()
            walls[name].append(time.perf_counter() - t0)
            cpus[name].append(time.process_time() - c0)
    pool_floor = min(walls["copy"]) * (1 + 0.25) / 2
    floor_cpu = min(cpus["copy"]) * (1 + 0.25) / 2
    rows = []
    for kind in ("max", "avg"):
        ours = "-"
        note = "cnnfilter.engine.pooling not on this branch yet (hook)"
        if kind in funcs:
            t, cpu = min(walls[kind]), min(cpus[kind])
            raw[f"pool {kind}"] = {
                "ours": t,
                "floor": pool_floor,
                "cpu": cpu,
                "floor_cpu": floor_cpu,
            }
            ours = ms(t)
            note = f"{t / pool_floor:.1f}x the floor (CPU time {cpu / floor_cpu:.1f}x)"
        rows.append(
            [
                f"2x2 {kind} pool",
                ours,
                ms(t_np) if kind == "max" else "-",
                ms(t_reshape) if kind == "max" else "-",
                ms(pool_floor),
                note,
            ]
        )
    return rows


def _pool_function(pooling, kind: str):
    """cnnfilter.engine.pooling's 2x2, stride-2 pooling of ``kind``, or None if missing."""
    pool2d = getattr(pooling, "pool2d", None)
    pool_spec = getattr(pooling, "pool_spec", None)
    if pool2d is None or pool_spec is None:
        return None
    spec = pool_spec(kind, 2, stride=2)
    return lambda img: pool2d(img, spec)


def wall(cmd: list[str], repeat: int = 1, env: dict | None = None) -> float:
    def run():
        subprocess.run(cmd, check=True, capture_output=True, env=env or ENV)

    return best(run, repeat)


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wall_and_cpu(cmd: list[str], repeat: int) -> tuple[float, float]:
    """Best wall time and best CPU time (user + system) of ``cmd`` over ``repeat`` runs.

    On a shared machine the wall time also measures the wait for a core; the CPU
    time is what the command costs (ImageMagick and cnnfilter both use every core).
    """
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = _children_cpu(), time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=ENV)
        walls.append(time.perf_counter() - t0)
        cpus.append(_children_cpu() - c0)
    return min(walls), min(cpus)


def _compiled_env(cache: str) -> dict:
    """:data:`ENV` with modules byte-compiled into ``cache``, as ``pip install`` leaves them
    (``PYTHONDONTWRITEBYTECODE`` would make every run compile cnnfilter's modules again:
    0.1 s of CPU per ``apply``)."""
    env = {k: v for k, v in ENV.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


def _timed_apply(cmd: list[str], repeat: int, env: dict | None = None) -> tuple[float, dict, float]:
    """Best wall time of ``cmd`` (an ``apply --json`` run), that run's stage timings, and
    the best CPU time. A first run, not timed, compiles the modules into ``env``'s cache."""
    import json

    env = env or ENV
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    best_t, stages, cpu = float("inf"), {}, float("inf")
    for _ in range(repeat):
        c0, t0 = _children_cpu(), time.perf_counter()
        proc = subprocess.run(cmd, check=True, capture_output=True, env=env, text=True)
        t = time.perf_counter() - t0
        cpu = min(cpu, _children_cpu() - c0)
        if t < best_t:
            best_t, stages = t, json.loads(proc.stdout)["timings_ms"]
    return best_t, stages, cpu


def end_to_end_rows(tmp: Path, pixels: np.ndarray, raw: dict) -> list[list[str]]:
    from PIL import Image

    src = tmp / "photo12mp.png"
    Image.fromarray(pixels).save(src, compress_level=6)
    py = [sys.executable, "-m", "cnnfilter", "apply", str(src), "-k", "sobel-x", "--force"]
    py.append("--json")
    rows = []
    env = _compiled_env(str(tmp / "pycache"))
    ours_clip, stages_clip, cpu_clip = _timed_apply(
        [*py, "--range", "clip", "-o", str(tmp / "ours_clip.png")], 3, env
    )
    size_clip = (tmp / "ours_clip.png").stat().st_size
    ours_def, stages_def, cpu_def = _timed_apply([*py, "-o", str(tmp / "ours_def.png")], 3, env)
    size_def = (tmp / "ours_def.png").stat().st_size
    raw["e2e clip"] = {"ours": ours_clip, "bytes": size_clip, "stages_ms": stages_clip,
                       "cpu": cpu_clip}  # fmt: skip
    raw["e2e default"] = {"ours": ours_def, "bytes": size_def, "stages_ms": stages_def,
                          "cpu": cpu_def}  # fmt: skip
    im = shutil.which("convert-im6.q16")
    if im:
        t_im, cpu_im = wall_and_cpu(
            [im, str(src), "-morphology", "Convolve", "Sobel", str(tmp / "im.png")], 3
        )
        size_im = (tmp / "im.png").stat().st_size
        raw["e2e imagemagick"] = {"time": t_im, "bytes": size_im, "cpu": cpu_im}
        same = np.array_equal(
            np.asarray(Image.open(tmp / "im.png")), np.asarray(Image.open(tmp / "ours_clip.png"))
        )
        rows.append(
            [
                "ImageMagick convert -morphology Convolve Sobel",
                f"{t_im:.2f} s",
                f"{cpu_im:.2f} s",
                f"{size_im / 1e6:.2f} MB",
                "",
                "",
            ]
        )
        for label, t, cpu, size in (
            ("--range clip (same pixels as IM: " + ("yes" if same else "NO") + ")",
             ours_clip, cpu_clip, size_clip),
            ("(default range: stretch, |response| 75th to 99.5th percentile, gamma 0.5)",
             ours_def, cpu_def, size_def),
        ):  # fmt: skip
            rows.append(
                [
                    f"cnnfilter apply -k sobel-x {label}",
                    f"{t:.2f} s",
                    f"{cpu:.2f} s",
                    f"{size / 1e6:.2f} MB",
                    f"{t_im / t:.1f}x faster (CPU {cpu_im / cpu:.1f}x)",
                    f"{size / size_im:.2f}x size",
                ]
            )
    else:
        rows.append(
            ["ImageMagick not installed (apt-get install imagemagick)", "-", "-", "-", "", ""]
        )
        for label, t, cpu, size in (("--range clip", ours_clip, cpu_clip, size_clip),
                                    ("(default range)", ours_def, cpu_def, size_def)):  # fmt: skip
            rows.append([f"cnnfilter apply -k sobel-x {label}", f"{t:.2f} s", f"{cpu:.2f} s",
                         f"{size / 1e6:.2f} MB", "", ""])  # fmt: skip
    return rows


#: Commands that only parse or list: each must start within 1.5x of ``import typer``.
#: Every subcommand's --help (the order of ``cnnfilter --help``), then the listings.
SUBCOMMANDS = ("apply", "kernels", "params", "receptive-field", "detect", "pool", "forward",
               "formats", "help")  # fmt: skip
LISTINGS = (("kernels",), ("params", "--list"), ("help",), ("help", "arch"))


def _start_time(cmd: list[str], env: dict) -> tuple[float, float]:
    """Wall time and CPU time (user + system of the child) of one run of ``cmd``."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def startup_rows(raw: dict, repeat: int = 7) -> list[list[str]]:
    """Start times with every module byte-compiled, as ``pip install`` leaves them.

    An environment with ``PYTHONDONTWRITEBYTECODE`` set (the shared build
    machine has it) would otherwise recompile cnnfilter's own modules from
    source at every start (measured: ``--help`` 99 ms against 90 ms
    compiled) while typer's come compiled from its install. Both are
    compiled into one throw-away cache (``PYTHONPYCACHEPREFIX``) by a first
    run that is not timed. ``import typer`` is timed between the others
    (best of all its runs) so that a change of load hits both. The CPU time
    (user + system) is reported beside the wall time: on a loaded machine
    the wall time of a 100 ms process is mostly the wait for a core.
    """
    cli = [sys.executable, "-m", "cnnfilter"]
    commands = {"cnnfilter --help": [*cli, "--help"]}
    for sub in SUBCOMMANDS:
        commands[f"cnnfilter {sub} --help"] = [*cli, sub, "--help"]
    for argv in LISTINGS:
        commands[" ".join(["cnnfilter", *argv])] = [*cli, *argv]
    typer_cmd = [sys.executable, "-c", "import typer"]
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in ENV.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        for name, cmd in list(commands.items()):
            if subprocess.run(cmd, capture_output=True, env=env).returncode != 0:
                del commands[name]  # e.g. params --list on a branch without it
        _start_time(typer_cmd, env)
        typer_runs, times, ratios, cpu_ratios = [], {}, {}, {}
        for name, cmd in commands.items():
            # interleaved, so that both see the same load; each ratio against its own
            # neighbours' best
            mine, theirs = [], []
            for _ in range(repeat):
                theirs.append(_start_time(typer_cmd, env))
                mine.append(_start_time(cmd, env))
            best_wall, best_cpu = min(t for t, _ in mine), min(c for _, c in mine)
            times[name] = (best_wall, best_cpu)
            ratios[name] = best_wall / min(t for t, _ in theirs)
            cpu_ratios[name] = best_cpu / min(c for _, c in theirs)
            typer_runs += theirs
        typer_t = (min(t for t, _ in typer_runs), min(c for _, c in typer_runs))
    raw["startup"] = {"import typer": typer_t[0], **{n: t[0] for n, t in times.items()}}
    raw["startup_cpu"] = {"import typer": typer_t[1], **{n: t[1] for n, t in times.items()}}
    raw["startup_ratio"] = ratios
    raw["startup_cpu_ratio"] = cpu_ratios
    rows = [['python -c "import typer"', ms(typer_t[0]), "1.0x", ms(typer_t[1]), "1.0x"]]
    rows += [
        [name, ms(t[0]), f"{ratios[name]:.2f}x", ms(t[1]), f"{cpu_ratios[name]:.2f}x"]
        for name, t in times.items()
    ]
    return rows


#: The issue's table: (work, measured key, goal text, test on the ratio).
def goal_rows(raw: dict) -> list[dict]:
    """The rows of issue 16's table from one run's numbers (see :func:`main`)."""
    out = []

    def add(work, ours, peer, ratio, goal, met, note=""):
        out.append(
            {"work": work, "cnnfilter_s": ours, "peer_s": peer, "ratio": ratio, "goal": goal,
             "met": met, "note": note}
        )  # fmt: skip

    for label in ("3x3", "5x5"):
        r = raw.get(label, {})
        if r.get("filter2D"):
            x = r["ours"] / r["filter2D"]
            add(f"{label} vs OpenCV filter2D", r["ours"], r["filter2D"], x, "<= 2.5x", x <= 2.5)
    r = raw.get("15x15 Gaussian", {})
    if r.get("sepFilter2D"):
        x = r["ours"] / r["sepFilter2D"]
        add("15x15 Gaussian vs sepFilter2D", r["ours"], r["sepFilter2D"], x, "<= 3x", x <= 3)
    for label in ("31x31", "63x63"):
        r = raw.get(label, {})
        if r.get("filter2D"):
            x = r["ours"] / r["filter2D"]
            add(f"{label} vs filter2D", r["ours"], r["filter2D"], x, "faster (< 1x)", x < 1)
    for label, goal in (("3x3", 5), ("15x15 Gaussian", 20), ("31x31", 100)):
        r = raw.get(label, {})
        if r.get("convolve2d"):
            x = r["convolve2d"] / r["ours"]
            add(f"{label} vs the article's method (convolve2d)", r["ours"], r["convolve2d"], x,
                f">= {goal}x faster", x >= goal)  # fmt: skip
    for kind in ("max", "avg"):
        r = raw.get(f"pool {kind}")
        if r:
            x = r["ours"] / r["floor"]
            add(f"2x2 {kind} pooling vs memory floor", r["ours"], r["floor"], x, "<= 4x", x <= 4,
                f"CPU time {r['cpu'] / r['floor_cpu']:.1f}x the floor's")  # fmt: skip
    im = raw.get("e2e imagemagick")
    for key, label in (("e2e default", "default range"), ("e2e clip", "--range clip")):
        r = raw.get(key)
        if r and im:
            x, size = im["time"] / r["ours"], r["bytes"] / im["bytes"]
            stages = ", ".join(f"{k} {v:.0f}" for k, v in r["stages_ms"].items())
            add(f"end to end vs ImageMagick (Sobel, 12 MP PNG, {label})", r["ours"], im["time"],
                x, ">= 3x faster, size <= 1.25x", x >= 3 and size <= 1.25,
                f"size {size:.2f}x; CPU time {im['cpu'] / r['cpu']:.1f}x less; "
                f"stages ms: {stages}")  # fmt: skip
    st = raw.get("startup", {})
    typer_t = st.get("import typer")
    cpu = raw.get("startup_cpu_ratio", {})
    for name, x in raw.get("startup_ratio", {}).items():
        note = f"CPU time {cpu[name]:.2f}x" if name in cpu else ""
        add(f"`{name}` vs `import typer`", st[name], typer_t, x, "<= 1.5x", x <= 1.5, note)
    return out


def format_goal(row: dict) -> list[str]:
    def t(v):
        return f"{v * 1000:.0f} ms" if v < 10 else f"{v:.1f} s"

    return [
        row["work"],
        t(row["cnnfilter_s"]),
        t(row["peer_s"]),
        f"{row['ratio']:.2f}x",
        row["goal"],
        "yes" if row["met"] else "NO",
        row["note"],
    ]


GOAL_HEADER = ["work", "cnnfilter", "peer", "ratio", "goal", "met", "note"]


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
        for r in rows
    ]
    return "\n".join([f"\n{title}", line, sep, *body])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="extrapolate every slow peer, skip the end-to-end runs"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the numbers and goals as JSON")
    args = parser.parse_args()
    t_start = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    pixels = photo_12mp()
    img = pixels.astype(np.float32)
    floor = floor_time(img)
    raw: dict = {"floor_copy": floor}
    print(
        f"# cnnfilter benchmark: {H}x{W}x3 float32 ({img.nbytes / 1e6:.0f} MB) from "
        f"samples/astronaut.png; {os.cpu_count()} CPUs; load average at start {load:.2f}"
    )
    blas_env = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")}
    if blas_env:
        print(f"# environment: {blas_env}")
    print(f"# memory-bandwidth floor (one read + one write of the image): {ms(floor)}")
    filt = filter_rows(img, args.quick, raw)
    header = [
        "kernel (auto method)",
        "cnnfilter",
        "convolve2d/ch",
        "ratio",
        "ndimage",
        "ratio",
        "cv2.filter2D",
        "ratio",
        "cv2.sepFilter2D",
        "ratio",
    ]
    print(
        table(
            "Filtering, per channel, 'same' (ratio = peer time / cnnfilter time; "
            "> 1: cnnfilter faster)",
            header,
            filt,
        )
    )
    print(
        table(
            "Pooling 2x2, stride 2 (floor: read the image once, write a quarter)",
            ["operation", "cnnfilter", "numpy 4 phases", "numpy reshape-max", "floor", "note"],
            pooling_rows(img, floor, raw),
        )
    )
    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            print(
                table(
                    "End to end on a 12 MP PNG (wall time incl. interpreter start; CPU: user + "
                    "system of the process)",
                    ["command", "time", "CPU", "output", "speed", "size"],
                    end_to_end_rows(Path(tmp), pixels, raw),
                )
            )
    print(
        table(
            "CLI start (best of several)",
            ["command", "time", "vs import typer", "CPU time", "CPU vs import typer"],
            startup_rows(raw),
        )
    )
    goals = goal_rows(raw)
    print(
        table(
            "Issue 16's goals (ratio: cnnfilter / peer for times and the floor, peer / cnnfilter "
            "for 'faster' goals)",
            GOAL_HEADER,
            [format_goal(g) for g in goals],
        )
    )
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n# total {time.perf_counter() - t_start:.0f} s; load average at end {load_end:.2f}")
    if args.json:
        import json

        doc = {
            "meta": {"load_start": load, "load_end": load_end, "cpus": os.cpu_count(),
                     "date": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": args.quick},
            "goals": goals,
            "raw": raw,
        }  # fmt: skip
        Path(args.json).write_text(json.dumps(doc, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
