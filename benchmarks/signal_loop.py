"""Signal a running batch's whole process group, many times, and count what went wrong.

Not a test (it runs for minutes): the loop behind the failure rates in the
commit messages of the signals branch. Each run starts
``cnnfilter apply FOLDER -k sobel-x -o 'OUT/{stem}.png' --workers 2`` in a new
session, waits until the first output exists (``--when first-output``) or
until two worker processes exist (``--when workers``, optionally ``--delay``
seconds more: Ctrl-C while they start), then sends the signal to the whole
group, as ``timeout``, a service manager or Ctrl-C in a terminal do. A run is
bad when the exit code is not 143 / 130, stderr holds a traceback, an input is
reported as failed, a ``.cnnf-*.tmp`` file is left, or the command and its
workers are not all gone within 30 s (a hang: the faulthandler traceback of
the command, sent on SIGUSR1, and the processes left are printed).

    python benchmarks/signal_loop.py --runs 100 --signal SIGTERM
    python benchmarks/signal_loop.py --runs 20 --signal SIGINT --when workers --delay 0.08
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRAP = (
    "import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
    "from cnnfilter.cli import main; sys.argv = ['cnnfilter'] + sys.argv[1:]; main()"
)


def session(sid: int) -> list[tuple[int, str]]:
    """Live processes of session ``sid``: (pid, command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
                    cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ")[:100]
                    found.append((int(entry.name), cmd.decode(errors="replace")))
            except (OSError, IndexError, ValueError):
                pass
    return found


def children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


def one_run(base: Path, sig: int, when: str, delay: float) -> str:
    """ "" if the run was clean, else what went wrong."""
    shutil.rmtree(base, ignore_errors=True)
    folder = base / "in"
    folder.mkdir(parents=True)
    for photo in sorted((ROOT / "samples").glob("*.png")) + sorted(
        (ROOT / "samples").glob("*.jpg")
    ):
        shutil.copy(photo, folder / photo.name)
        shutil.copy(photo, folder / f"b_{photo.name}")
    out = base / "out"
    args = ["apply", str(folder), "-k", "sobel-x", "-o", f"{out}/{{stem}}.png", "--workers", "2"]
    with open(base / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", WRAP, *args], stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True, cwd=base,
        )  # fmt: skip
        while proc.poll() is None:
            if when == "workers" and len(children(proc.pid)) >= 2:
                break
            if when == "first-output" and out.is_dir() and any(out.glob("*.png")):
                break
            time.sleep(0.002)
        time.sleep(delay)
        os.killpg(proc.pid, sig)
        deadline = time.monotonic() + 30
        while (proc.poll() is None or session(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None or session(proc.pid):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGUSR1)
                time.sleep(1)
            left = session(proc.pid)
            for pid, _ in left:
                os.kill(pid, signal.SIGKILL)
            proc.wait()
            return f"HANG, processes left: {left}\n" + (base / "stderr.txt").read_text()[-4000:]
    stderr = (base / "stderr.txt").read_text()
    want = 143 if sig == signal.SIGTERM else 130
    temps = sorted(p.name for p in out.glob(".*")) if out.is_dir() else []
    problems = []
    if proc.returncode != want:
        problems.append(f"exit {proc.returncode}")
    if "Traceback" in stderr or "KeyboardInterrupt" in stderr:
        problems.append("traceback")
    if "failed " in stderr or ", 0 failed" not in stderr:
        problems.append("an input reported failed")
    if temps:
        problems.append(f"temporary files left {temps}")
    return "; ".join(problems) + ("\n" + stderr[-2000:] if problems else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--signal", choices=["SIGTERM", "SIGINT"], default="SIGTERM")
    parser.add_argument("--when", choices=["first-output", "workers"], default="first-output")
    parser.add_argument("--delay", type=float, default=0.0)
    opts = parser.parse_args()
    sig = getattr(signal, opts.signal)
    bad = 0
    with tempfile.TemporaryDirectory(prefix="cnnf-signal-loop-") as tmp:
        for i in range(opts.runs):
            problem = one_run(Path(tmp) / "run", sig, opts.when, opts.delay)
            if problem:
                bad += 1
                print(f"run {i}: {problem}", flush=True)
    print(f"{opts.signal} to the group ({opts.when}, delay {opts.delay}): "
          f"{bad} bad runs in {opts.runs}")  # fmt: skip


if __name__ == "__main__":
    main()
