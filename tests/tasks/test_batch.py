"""Batch runs: planning inputs to outputs, the process pool, failures, resuming, signals."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnfilter.errors import ProcessingError, UsageError
from cnnfilter.imageio import is_complete_output
from cnnfilter.tasks import batch
from cnnfilter.tasks.batch import InputFile, Job

from helpers import invoke, watchdog

CLI = [sys.executable, "-m", "cnnfilter"]


@pytest.fixture
def photos(samples, tmp_path) -> Path:
    """photos/{camera,coins}.png, photos/rocket.jpg, photos/sub/{text,camera}.png, a note."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for name in ("camera.png", "coins.png", "rocket.jpg"):
        shutil.copy(samples / name, root / name)
    shutil.copy(samples / "text.png", root / "sub" / "text.png")
    shutil.copy(samples / "camera.png", root / "sub" / "camera.png")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"")
    return root


def read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


# -- planning ------------------------------------------------------------------------------


def test_folder_gives_its_images_sorted_and_recursive_adds_subfolders(photos):
    flat = batch.expand_inputs([str(photos)])
    assert [f.path.name for f in flat] == ["camera.png", "coins.png", "rocket.jpg"]
    deep = batch.expand_inputs([str(photos)], recursive=True)
    assert [str(f.path.relative_to(photos)) for f in deep] == [
        "camera.png",
        "coins.png",
        "rocket.jpg",
        "sub/camera.png",
        "sub/text.png",
    ]
    assert all(f.root == photos for f in deep)


def test_globs_are_expanded_and_duplicates_dropped(photos):
    files = batch.expand_inputs([str(photos / "*.png"), str(photos / "camera.png")])
    assert [f.path.name for f in files] == ["camera.png", "coins.png"]
    deep = batch.expand_inputs([str(photos / "**" / "*.png")])
    assert sorted(str(f.path.relative_to(photos)) for f in deep) == [
        "camera.png",
        "coins.png",
        "sub/camera.png",
        "sub/text.png",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{p}/missing.png"], "input image '{p}/missing.png' does not exist"),
        (["{p}/*.gif"], "'{p}/*.gif' matches no files"),
        (["{p}/sub/../sub", "-"], "'-' (standard input) must be the only input"),
        ([], "give at least one input image"),
    ],
)
def test_bad_inputs_are_refused_before_anything_runs(photos, args, message):
    with pytest.raises(UsageError, match=re.escape(message.format(p=photos))):
        batch.expand_inputs([a.format(p=photos) for a in args])


def test_empty_folder_says_to_add_recursive(tmp_path):
    (tmp_path / "deep" / "er").mkdir(parents=True)
    with pytest.raises(UsageError, match="holds no image files .add --recursive"):
        batch.expand_inputs([str(tmp_path / "deep")])


def test_output_folder_is_not_searched_for_inputs(photos):
    out = photos / "out"
    out.mkdir()
    (out / "old.png").write_bytes(b"x")
    files = batch.expand_inputs([str(photos)], recursive=True, exclude=out)
    assert not any("out" in f.path.parts for f in files)


def test_pattern_placeholders():
    inputs = [InputFile(Path("photos/cat.jpg")), InputFile(Path("photos/dog.png"))]
    jobs = batch.plan_jobs(inputs, "out/{parent}/{stem}_{ext}.png")
    assert [str(j.target) for j in jobs] == ["out/photos/cat_jpg.png", "out/photos/dog_png.png"]
    jobs = batch.plan_jobs(inputs, "out/{name}.npy")
    assert [str(j.target) for j in jobs] == ["out/cat.jpg.npy", "out/dog.png.npy"]


def test_output_folder_keeps_names_mirrors_subfolders_and_takes_format(photos):
    inputs = batch.expand_inputs([str(photos)], recursive=True)
    jobs = batch.plan_jobs(inputs, "out/", ext="png")
    assert [str(j.target) for j in jobs] == [
        "out/camera.png",
        "out/coins.png",
        "out/rocket.png",
        "out/sub/camera.png",
        "out/sub/text.png",
    ]
    assert [j.index for j in jobs] == list(range(5))


def test_two_inputs_writing_one_output_are_refused(photos):
    inputs = batch.expand_inputs([str(photos)], recursive=True)
    with pytest.raises(UsageError, match=r"camera.png' and .*sub/camera.png' would both write"):
        batch.plan_jobs(inputs, "out/{stem}.png")


def test_an_output_that_is_an_input_is_refused(photos):
    inputs = batch.expand_inputs([str(photos / "camera.png"), str(photos / "coins.png")])
    with pytest.raises(UsageError, match="is an input image; cnnfilter never overwrites"):
        batch.plan_jobs(inputs, str(photos) + "/{stem}.png")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("out/{size}.png", "unknown placeholder {size}"), ("out/{stem:>5}.png", "unknown"),
     ("out/{stem.png", "malformed")],
)  # fmt: skip
def test_bad_patterns(pattern, message):
    with pytest.raises(UsageError, match=message):
        batch.plan_jobs([InputFile(Path("a.png")), InputFile(Path("b.png"))], pattern)


def test_many_inputs_need_a_pattern_or_folder():
    with pytest.raises(UsageError, match="2 inputs need an output pattern"):
        batch.plan_jobs([InputFile(Path("a.png")), InputFile(Path("b.png"))], "x.png")


def test_existing_outputs_are_refused_skipped_or_replaced(tmp_path):
    jobs = [Job(i, Path(f"in{i}.png"), tmp_path / f"out{i}.png") for i in range(3)]
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "out1.png")  # a whole picture
    with pytest.raises(UsageError, match="out1.png' already exists; add --skip-existing"):
        batch.split_existing(jobs, force=False, skip_existing=False)
    run, skipped = batch.split_existing(jobs, force=False, skip_existing=True)
    assert [j.index for j in run] == [0, 2]
    assert [(o.job.index, o.status, o.reason) for o in skipped] == [(1, "skipped", "output exists")]
    run, skipped = batch.split_existing(jobs, force=True, skip_existing=False)
    assert len(run) == 3 and skipped == []
    with pytest.raises(UsageError, match="pick one"):
        batch.split_existing(jobs, force=True, skip_existing=True)


# -- running -------------------------------------------------------------------------------


def _square_or_fail(job: Job) -> int:
    """A picklable task: fails on odd indices, as a corrupt file would."""
    if job.index % 2:
        raise ProcessingError(f"{job.source} is corrupt")
    return job.index**2


def _jobs(n: int) -> list[Job]:
    return [Job(i, Path(f"in{i}"), Path(f"out{i}")) for i in range(n)]


@pytest.mark.parametrize("workers", [1, 2])
def test_one_failure_does_not_stop_the_others(workers):
    written = []
    result = batch.run_jobs(
        _jobs(5),
        _square_or_fail,
        lambda job, value: written.append((job.index, value)) or {"value": value},
        workers=workers,
    )
    assert [o.status for o in result.outcomes] == ["done", "failed", "done", "failed", "done"]
    assert [o.report.get("value") for o in result.outcomes] == [0, None, 4, None, 16]
    assert result.outcomes[1].reason == "in1 is corrupt"
    assert sorted(written) == [(0, 0), (2, 4), (4, 16)]
    assert result.interrupted is None
    assert list(batch.summarize(result)) == [
        "3 done, 0 skipped, 2 failed",
        "  failed in1: in1 is corrupt",
        "  failed in3: in3 is corrupt",
    ]


def test_a_failing_write_is_a_failed_file():
    def finish(job, value):
        if job.index == 0:
            raise UsageError("output exists now")
        return {}

    result = batch.run_jobs(_jobs(2), lambda job: 0, finish, workers=1)
    assert [(o.status, o.reason) for o in result.outcomes] == [
        ("failed", "output exists now"),
        ("done", ""),
    ]


def test_ctrl_c_in_a_serial_run_stops_it_and_keeps_what_was_done():
    def finish(job, value):
        if job.index == 2:
            raise KeyboardInterrupt
        return {}

    result = batch.run_jobs(_jobs(5), lambda job: 0, finish, workers=1)
    assert result.interrupted == "SIGINT"
    assert [o.job.index for o in result.outcomes] == [0, 1]


# -- through the CLI -----------------------------------------------------------------------


def test_batch_results_are_identical_with_one_or_two_workers(photos, tmp_path):
    args = [photos, "-r", "-k", "gaussian:5:1", "--op", "correlate", "-q"]
    serial = invoke("apply", *args, "-o", f"{tmp_path}/serial/", "-j", "1")
    parallel = invoke("apply", *args, "-o", f"{tmp_path}/parallel/", "-j", "2")
    assert serial.exit_code == parallel.exit_code == 0, serial.stderr + parallel.stderr
    names = sorted(p.relative_to(tmp_path / "serial") for p in (tmp_path / "serial").rglob("*.*"))
    assert len(names) == 5
    for name in names:
        assert (tmp_path / "serial" / name).read_bytes() == (
            tmp_path / "parallel" / name
        ).read_bytes()
    # and each equals a single-file run
    single = tmp_path / "single.png"
    assert invoke("apply", photos / "sub/text.png", *args[2:], "-o", single).exit_code == 0
    assert np.array_equal(read(single), read(tmp_path / "parallel/sub/text.png"))


def test_bad_file_is_reported_others_finish_exit_1(photos, tmp_path):
    (photos / "broken.png").write_bytes((photos / "camera.png").read_bytes()[:2000])
    out = tmp_path / "out"
    result = invoke("apply", photos, "-k", "sobel-x", "-o", f"{out}/{{stem}}_edges.png", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["summary"] == {
        "inputs": 4,
        "done": 3,
        "skipped": 0,
        "failed": 1,
        "interrupted": None,
    }
    statuses = {Path(f["input"]).name: f["status"] for f in report["files"]}
    assert statuses == {
        "broken.png": "failed",
        "camera.png": "done",
        "coins.png": "done",
        "rocket.jpg": "done",
    }
    failed = next(f for f in report["files"] if f["status"] == "failed")
    assert "truncated or corrupt" in failed["reason"] and failed["report"] is None
    done = next(f for f in report["files"] if f["input"].endswith("coins.png"))
    assert done["report"]["input"]["shape"] == [303, 384, 1]
    assert sorted(p.name for p in out.iterdir()) == [
        "camera_edges.png",
        "coins_edges.png",
        "rocket_edges.png",
    ]
    assert "apply: 3 done, 0 skipped, 1 failed" in result.stderr
    assert "failed " + str(photos / "broken.png") + ": " in result.stderr


def test_skip_existing_resumes_and_keeps_old_outputs(photos, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    Image.fromarray(np.full((3, 3), 7, np.uint8)).save(out / "coins.png")  # an earlier result
    kept = (out / "coins.png").read_bytes()
    result = invoke("apply", photos, "-k", "box", "-o", f"{out}/", "--skip-existing")
    assert result.exit_code == 0, result.stderr
    assert (out / "coins.png").read_bytes() == kept
    assert read(out / "camera.png").shape == (512, 512)
    assert "2 done, 1 skipped (output exists), 0 failed" in result.stderr


def test_existing_output_without_flags_stops_before_anything_runs(photos, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "coins.png").write_bytes(b"kept")
    result = invoke("apply", photos, "-k", "box", "-o", f"{out}/")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: output '{out}/coins.png' already exists; add --skip-existing to keep it "
        "or --force to replace it; nothing was run"
    )
    assert sorted(os.listdir(out)) == ["coins.png"]


def test_collision_stops_before_anything_runs(photos, tmp_path):
    result = invoke("apply", photos, "-r", "-k", "box", "-o", f"{tmp_path}/{{stem}}.png")
    assert result.exit_code == 2
    assert "would both write" in result.stderr and "nothing was run" in result.stderr
    assert list(tmp_path.glob("*.png")) == []


# -- signals: no half-written output -------------------------------------------------------

_SLOW_WRITE = """
import os, sys, time
import cnnfilter.imageio.writing as io_mod
calls = []
real = os.fsync
def slow_fsync(fd):
    calls.append(fd)
    if len(calls) == {n}:
        print("WRITING", file=sys.stderr, flush=True)
        time.sleep(60)
    real(fd)
io_mod.os.fsync = slow_fsync
from cnnfilter.cli import main
sys.argv = ["cnnfilter"] + sys.argv[1:]
main()
"""


def _interrupt_during_write(args, sig, n_write, cwd):
    """Run ``cnnfilter args``; send ``sig`` to the command during the ``n_write``-th fsync."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITE.format(n=n_write), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
    )
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline().decode()
        lines.append(line)
        if "WRITING" in line or not line:
            break
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()  # do not leak the process and its pipes into later tests
        proc.communicate()
        raise
    return proc.returncode, "".join(lines) + err.decode()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_a_single_write_leaves_nothing(samples, tmp_path, sig, code):
    out = tmp_path / "out"
    out.mkdir()
    args = ["apply", samples / "camera.png", "-k", "box", "-o", out / "x.png"]
    returncode, stderr = _interrupt_during_write(args, sig, 1, tmp_path)
    assert returncode == code, stderr
    name = "SIGTERM" if sig == signal.SIGTERM else "SIGINT"
    assert stderr.strip().splitlines()[-1] == f"Interrupted by {name}; no partial output was left"
    assert os.listdir(out) == []  # neither the output nor a temporary file


def test_sigterm_during_a_parallel_batch_keeps_only_complete_outputs(photos, tmp_path):
    out = tmp_path / "out"
    args = ["apply", photos, "-r", "-k", "box", "-o", f"{out}/", "-j", "2"]
    returncode, stderr = _interrupt_during_write(args, signal.SIGTERM, 3, tmp_path)
    assert returncode == 143, stderr
    written = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(written) == 2  # the first two writes completed; the third was interrupted
    assert not [p for p in out.rglob(".*")]  # no temporary file left behind
    for path in written:
        assert read(path).shape == read(photos / path.relative_to(out)).shape
    assert "2 done, 0 skipped, 0 failed; interrupted by SIGTERM" in stderr


def _session_processes(sid: int) -> list[int]:
    """Live processes of session ``sid`` (Linux /proc): the command and anything it started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_the_whole_process_group_stops_the_batch_cleanly(samples, tmp_path, sig, code):
    # `timeout`, a service manager, or Ctrl-C in a terminal signal every process of the
    # job at once: the command and its workers. Three rounds, each signalled once a
    # worker has produced the first output; whatever the moment, the command stops
    # with the signal's code and one summary, no traceback, no input reported as
    # failed (the workers' deaths are the interruption), every output whole, no
    # temporary file, and no process of the job left. A hang fails (watchdog).
    name = signal.Signals(sig).name
    folder = tmp_path / "in"
    folder.mkdir()
    for photo in sorted(samples.glob("*.png")):  # 22 inputs: still running when signalled
        shutil.copy(photo, folder / photo.name)
        shutil.copy(photo, folder / f"copy_{photo.name}")
    for round_ in range(3):
        out = tmp_path / f"out{round_}"
        err_file = tmp_path / f"stderr{round_}.txt"
        with open(err_file, "wb") as err, watchdog(120):
            # stderr to a file, not a pipe: a process left holding it cannot block the test
            proc = subprocess.Popen(
                [*CLI, "apply", folder, "-k", "sobel-x", "-o", f"{out}/{{stem}}.png", "-j", "2"],
                stdout=subprocess.PIPE, stderr=err, start_new_session=True, cwd=tmp_path,
            )  # fmt: skip
            try:
                while proc.poll() is None and not (out.is_dir() and any(out.glob("*.png"))):
                    time.sleep(0.01)
                assert proc.poll() is None, "the batch ended before it could be signalled"
                os.killpg(proc.pid, sig)
                stdout, _ = proc.communicate()
                while _session_processes(proc.pid):  # a worker outliving the command
                    time.sleep(0.05)
            finally:
                for pid in _session_processes(proc.pid):
                    os.kill(pid, signal.SIGKILL)
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
        stderr = err_file.read_text()
        assert proc.returncode == code, stderr
        assert stdout == b""
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
        summary = [line for line in stderr.splitlines() if line.startswith("apply: ")]
        assert len(summary) == 1, stderr
        assert re.fullmatch(
            rf"apply: \d+ done, 0 skipped, 0 failed; interrupted by {name}, the other inputs "
            r"were not run \(\d+ inputs, 2 workers\)",
            summary[0],
        ), stderr
        assert "failed " not in stderr, stderr
        written = sorted(p.name for p in out.iterdir())
        assert written and all(n.endswith(".png") for n in written), written  # no .cnnf-*.tmp
        assert all(is_complete_output(out / n) for n in written)
        done = int(summary[0].split()[1])
        assert done == len(written)


def _budget_in_worker(job: Job) -> int:
    """A picklable task: the thread budget the worker process was given."""
    from cnnfilter.engine.threads import thread_budget

    return thread_budget()


@pytest.mark.parametrize(("budget", "workers", "each"), [(4, 2, 2), (2, 2, 1), (1, 2, 1)])
def test_batch_workers_share_one_core_budget(monkeypatch, budget, workers, each):
    from cnnfilter.engine.threads import ENV_VAR

    monkeypatch.setenv(ENV_VAR, str(budget))
    result = batch.run_jobs(
        _jobs(4), _budget_in_worker, lambda job, value: {"value": value}, workers=workers
    )
    assert [o.report["value"] for o in result.outcomes] == [each] * 4
