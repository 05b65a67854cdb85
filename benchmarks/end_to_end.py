"""End to end only: ``cnnfilter apply -k sobel-x`` against ImageMagick on a 12 MP PNG.

    python benchmarks/end_to_end.py                 # 5 rounds, about 1 minute
    python benchmarks/end_to_end.py --rounds 7 --baseline /tmp/base   # also an older checkout

The same rows as the end-to-end part of ``benchmarks/run.py`` (issue 16, must-have 3),
without the rest: the 12 MP PNG made from samples/astronaut.png, then rounds in which
ImageMagick's ``convert -morphology Convolve Sobel``, ``cnnfilter apply -k sobel-x
--range clip`` and ``cnnfilter apply -k sobel-x`` (the default range) run one after
the other, so that a change of the machine's load hits all of them. Each row gives the
best wall time and the best CPU time (user + system of the process) over the rounds;
the ratios are ImageMagick's best over cnnfilter's best. ``--baseline DIR`` adds the
two cnnfilter rows run from another checkout (``git worktree add`` or ``git archive``
of an older commit), in the same rounds.

Every module is byte-compiled first into a throw-away cache (``PYTHONPYCACHEPREFIX``),
as ``pip install`` leaves them: an environment with ``PYTHONDONTWRITEBYTECODE`` would
otherwise compile cnnfilter's modules at every start.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from run import photo_12mp  # noqa: E402


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Wall time, CPU time (user + system) and stdout of one run of ``cmd``.

    Run from the file system's root: ``python -m`` puts the working directory first on
    the module path, before ``PYTHONPATH`` (a baseline checkout would not be the one run).
    """
    c0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, check=True, capture_output=True, env=env, text=True, cwd="/")
    return time.perf_counter() - t0, _children_cpu() - c0, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", metavar="DIR", help="another checkout to time beside")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    parser.add_argument(
        "--without-imagecodecs",
        action="store_true",
        help="also time this checkout with imagecodecs hidden (Pillow decodes every PNG)",
    )
    args = parser.parse_args()
    from PIL import Image

    im = shutil.which("convert-im6.q16")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "photo12mp.png"
        Image.fromarray(photo_12mp()).save(src, compress_level=6)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        checkouts = {"": str(ROOT)}
        if args.without_imagecodecs:  # a module of that name that fails to import
            (tmp / "hide").mkdir()
            (tmp / "hide" / "imagecodecs.py").write_text("raise ImportError('hidden')\n")
            checkouts[" (without imagecodecs)"] = f"{tmp / 'hide'}{os.pathsep}{ROOT}"
        if args.baseline:
            checkouts[" (baseline)"] = str(Path(args.baseline).resolve())
        commands: dict[str, tuple[list[str], dict]] = {}
        if im:
            im_cmd = [im, str(src), "-morphology", "Convolve", "Sobel", str(tmp / "im.png")]
            commands["ImageMagick convert -morphology Convolve Sobel"] = (im_cmd, env)
        for tag, root in checkouts.items():
            run_env = {**env, "PYTHONPATH": root}
            base = [sys.executable, "-m", "cnnfilter", "apply", str(src), "-k", "sobel-x"]
            base += ["--force", "--json"]
            out = f"clip{len(commands)}.png"
            commands[f"cnnfilter --range clip{tag}"] = (
                [*base, "--range", "clip", "-o", str(tmp / out)],
                run_env,
            )
            out = f"default{len(commands)}.png"
            commands[f"cnnfilter, default range{tag}"] = ([*base, "-o", str(tmp / out)], run_env)
        for cmd, run_env in commands.values():  # compile every module, warm the file cache
            subprocess.run(cmd, check=True, capture_output=True, env=run_env, cwd="/")
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        stages: dict[str, dict] = {}
        for _ in range(args.rounds):
            for name, (cmd, run_env) in commands.items():
                wall, cpu, stdout = timed(cmd, run_env)
                if stdout.strip() and wall <= min(walls[name], default=wall):
                    stages[name] = json.loads(stdout)["timings_ms"]
                walls[name].append(wall)
                cpus[name].append(cpu)
        sizes = {name: Path(cmd[cmd.index("-o") + 1]).stat().st_size for name, (cmd, _) in
                 commands.items() if "-o" in cmd}  # fmt: skip
        same = None
        if im:
            sizes["ImageMagick convert -morphology Convolve Sobel"] = (
                (tmp / "im.png").stat().st_size
            )
            clip = commands["cnnfilter --range clip"][0]
            same = np.array_equal(
                np.asarray(Image.open(tmp / "im.png")),
                np.asarray(Image.open(clip[clip.index("-o") + 1])),
            )
    peer = "ImageMagick convert -morphology Convolve Sobel"
    print(
        f"# end to end, 12 MP RGB PNG, {args.rounds} rounds, {os.cpu_count()} CPUs, load "
        f"average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end"
    )
    print("| command | best wall | wall range | best CPU | vs IM (wall) | vs IM (CPU) | size | "
          "stages ms |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    rows = {}
    for name in commands:
        w, c = min(walls[name]), min(cpus[name])
        vs = f"{min(walls[peer]) / w:.2f}x" if peer in walls and name != peer else ""
        vs_cpu = f"{min(cpus[peer]) / c:.2f}x" if peer in cpus and name != peer else ""
        size = sizes.get(name, 0)
        rel = f" ({size / sizes[peer]:.2f}x)" if peer in sizes and name != peer else ""
        st = ", ".join(f"{k} {v:.0f}" for k, v in stages.get(name, {}).items())
        print(
            f"| {name} | {w:.2f} s | {w:.2f}-{max(walls[name]):.2f} s | {c:.2f} s | {vs} | "
            f"{vs_cpu} | {size / 1e6:.2f} MB{rel} | {st} |"
        )
        rows[name] = {"walls": walls[name], "cpus": cpus[name], "bytes": size,
                      "stages_ms": stages.get(name)}  # fmt: skip
    if same is not None:
        print(f"# --range clip gives ImageMagick's pixels: {'yes' if same else 'NO'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"load": load, "rows": rows, "same": same}, indent=1))


if __name__ == "__main__":
    main()
