"""Batch worker processes: they die with their parent, and one dead worker fails one input."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from cnnfilter.tasks import batch
from cnnfilter.tasks.batch import Job

from helpers import watchdog

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# Work functions must be importable by the worker processes (which get this
# process's sys.path), so they live in a module written next to the test.
_WORKMOD = '''
import os, time
from pathlib import Path

PIDS = None

def sleep_forever(folder, job):
    Path(folder, str(os.getpid())).write_text("")
    time.sleep(120)

def die_on_1(job):
    if job.index == 1:
        os.kill(os.getpid(), 9)
    return job.index * 10

class DieOnceWhileStarting:
    """Unpickling it (in a worker, before 'ready') kills the first worker only."""
    def __init__(self, marker):
        self.marker = marker
    def __reduce__(self):
        return (_load, (self.marker,))
    def __call__(self, job):
        return job.index * 10

class BrokenInWorkers:
    """Loads in this process, not in a worker: like a module changed on disk mid-batch."""
    def __reduce__(self):
        return (_load_broken, ())
    def __call__(self, job):
        return job.index * 10

def _load_broken():
    raise ImportError("cannot import name 'attempt' (the file changed on disk)")

def _load(marker):
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return DieOnceWhileStarting(marker)
    os.close(fd)
    os._exit(1)
'''


@pytest.fixture
def workmod(tmp_path, monkeypatch):
    folder = tmp_path / "mod"
    folder.mkdir()
    (folder / "i10_workmod.py").write_text(_WORKMOD)
    monkeypatch.syspath_prepend(str(folder))
    import i10_workmod

    yield i10_workmod
    sys.modules.pop("i10_workmod", None)


def _jobs(n: int) -> list[Job]:
    return [Job(i, Path(f"in{i}"), Path(f"out{i}")) for i in range(n)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in ("Z", "X")


def test_one_dead_worker_fails_only_the_input_it_was_computing(workmod):
    result = batch.run_jobs(
        _jobs(6), workmod.die_on_1, lambda job, value: {"value": value}, workers=2
    )
    assert [o.status for o in result.outcomes] == ["done", "failed", *["done"] * 4]
    assert [o.report.get("value") for o in result.outcomes] == [0, None, 20, 30, 40, 50]
    assert result.outcomes[1].reason == batch.WORKER_DIED.format(how="killed by SIGKILL")
    assert "the other inputs went on" in list(batch.summarize(result))[1]


def test_a_worker_dying_before_it_started_its_input_has_the_input_run_again(workmod, tmp_path):
    work = workmod.DieOnceWhileStarting(str(tmp_path / "died-once"))
    result = batch.run_jobs(_jobs(3), work, lambda job, value: {"value": value}, workers=2)
    assert (tmp_path / "died-once").exists()  # a worker did die while starting
    assert [(o.status, o.report.get("value")) for o in result.outcomes] == [
        ("done", 0),
        ("done", 10),
        ("done", 20),
    ]


def test_a_worker_that_cannot_load_its_work_says_why_instead_of_dying_silently(workmod):
    # The cause of a 1-in-39 failure of the SIGTERM batch test: workers import the
    # code afresh from disk, and the worktree was being edited; the worker ended
    # with a silent exit 0 and the input was reported as "killed, or out of memory?".
    with pytest.raises(RuntimeError) as info:
        batch.run_jobs(_jobs(3), workmod.BrokenInWorkers(), lambda job, v: {}, workers=2)
    message = str(info.value)
    assert "is the cnnfilter installation being changed while the batch runs?" in message
    assert "ImportError: cannot import name 'attempt' (the file changed on disk)" in message


def test_ctrl_c_while_a_worker_is_being_started_stops_and_reaps_it(workmod, monkeypatch):
    # A signal landing just after a worker process was made, before the pool held it,
    # left that worker running unseen: it outlived the interrupted batch, holding the
    # command's stderr open. Here Ctrl-C reaches the thread that starts the workers as
    # the second one is made; the batch stops, and every process made was reaped.
    from cnnfilter.tasks import _pool

    made = []
    real_popen = subprocess.Popen

    def popen_then_ctrl_c(*args, **kwargs):
        made.append(real_popen(*args, **kwargs))
        if len(made) == 2:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        return made[-1]

    monkeypatch.setattr(_pool.subprocess, "Popen", popen_then_ctrl_c)
    with watchdog(60):
        result = batch.run_jobs(_jobs(4), workmod.die_on_1, lambda j, v: {}, workers=2)
    assert result.interrupted == "SIGINT"
    assert len(made) == 2
    assert [proc.returncode for proc in made if proc.returncode is None] == []  # all reaped


class _LockThatGetsCtrlC:
    """``Popen._waitpid_lock`` receiving Ctrl-C right after its first acquire succeeds."""

    def __init__(self, tripped: list) -> None:
        self._lock = threading.Lock()
        self._tripped = tripped

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self._lock.acquire(blocking, timeout)
        if got and not self._tripped:
            self._tripped.append(True)
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        return got

    def release(self) -> None:
        self._lock.release()

    __enter__ = acquire

    def __exit__(self, *exc) -> None:
        self.release()


def test_ctrl_c_while_a_dead_worker_is_reaped_does_not_hang_the_stop(workmod, monkeypatch):
    # Popen.wait/poll run `if lock.acquire(False): try: ... finally: release`; Ctrl-C
    # raised just after the acquire (here: on the first one, as the pool checks the
    # worker that died on job 1) left the lock taken, and stopping the pool then spun
    # 5 s and waited on that lock for ever. The watchdog turns such a hang into a failure.
    from cnnfilter.tasks import _pool

    tripped: list = []
    made = []
    real_popen = subprocess.Popen

    def popen_with_lock(*args, **kwargs):
        made.append(real_popen(*args, **kwargs))
        made[-1]._waitpid_lock = _LockThatGetsCtrlC(tripped)
        return made[-1]

    monkeypatch.setattr(_pool.subprocess, "Popen", popen_with_lock)
    with watchdog(60):
        result = batch.run_jobs(_jobs(6), workmod.die_on_1, lambda j, v: {}, workers=2)
    assert tripped, "no Popen lock was taken"
    assert result.interrupted == "SIGINT"
    assert [proc.returncode for proc in made if proc.returncode is None] == []  # all reaped


def test_workers_are_capped_at_a_few_per_core(monkeypatch):
    monkeypatch.setattr(batch, "default_workers", lambda: 2)
    assert batch.max_workers() == 2 * batch.WORKERS_PER_CORE


_PARENT = """
import functools, sys
sys.path.insert(0, {mod!r})
import i10_workmod
from pathlib import Path
from cnnfilter.tasks import batch
jobs = [batch.Job(i, Path(f"in{{i}}"), Path(f"out{{i}}")) for i in range(4)]
print("parent started", flush=True)
batch.run_jobs(jobs, functools.partial(i10_workmod.sleep_forever, {pids!r}), lambda j, p: {{}},
               workers=2)
"""


def _read_to_eof(stream, seconds: float) -> bool:
    """True if ``stream`` reached EOF within ``seconds``."""
    deadline = time.monotonic() + seconds
    fd = stream.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready and not os.read(fd, 65536):
            return True
    return False


def test_kill_9_of_the_parent_ends_every_worker_and_the_pipe(workmod, tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    script = _PARENT.format(mod=str(tmp_path / "mod"), pids=str(pids))
    # stdout and stderr into one pipe, as `cnnfilter apply in/ ... 2>&1 | cat`
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = [int(p.name) for p in pids.iterdir()]
        assert len(workers) == 2, "the workers did not start"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert _read_to_eof(proc.stdout, 20), "a process still holds the parent's stdout"
        deadline = time.monotonic() + 10
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if _alive(pid)]
    finally:
        for pid in [int(p.name) for p in pids.iterdir()]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()


def test_workers_above_the_cap_get_a_note_and_the_cap(samples, tmp_path, monkeypatch):
    from helpers import invoke

    monkeypatch.setattr(batch, "WORKERS_PER_CORE", 1)
    monkeypatch.setattr(batch, "default_workers", lambda: 1)
    for name in ("camera.png", "coins.png"):
        (tmp_path / name).write_bytes((samples / name).read_bytes())
    result = invoke(
        "apply",
        tmp_path / "camera.png",
        tmp_path / "coins.png",
        "-k",
        "box",
        "-o",
        f"{tmp_path}/out/",
        "-j",
        "100",
    )
    assert result.exit_code == 0, result.stderr
    assert "--workers 100 capped at 1 (1 per core)" in result.stderr
    assert "(2 inputs, 1 worker)" in result.stderr
