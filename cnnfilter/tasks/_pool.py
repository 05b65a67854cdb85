"""The batch process pool: worker processes this module owns from start to end.

One job at a time per worker, over a socket pair per worker (see
:mod:`cnnfilter.tasks._worker` for the protocol and for why this replaced
``concurrent.futures``). What this buys:

* a worker that dies (killed, out of memory) fails only the input it was
  computing; an input it had been sent but not started (it died while
  starting) is run again once, by a new worker; the others go on;
* stopping (Ctrl-C, SIGTERM, an exception) never waits on a worker: the
  parent never reads from a worker while stopping, sends SIGTERM, waits at
  most :data:`STOP_WAIT_S` seconds, then SIGKILL;
* a ``kill -9`` of this process ends every worker (they watch their parent),
  and there is no forkserver or resource-tracker process to outlive it;
* workers hold neither this process's standard input nor its standard
  output (their stdout is this process's stderr), so a pipeline downstream
  of ``cnnfilter ... | cat`` ends when this process ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from cnnfilter.tasks._worker import recv_frame, send_frame

#: Seconds to wait for a worker to exit after SIGTERM (or EOF), before SIGKILL.
STOP_WAIT_S = 5.0

#: Signals held while a worker process is made (and blocked in it until its handlers are set).
_HELD = {signal.SIGINT, signal.SIGTERM}

_BOOTSTRAP = (
    "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
    "from cnnfilter.tasks._worker import main; main(int(sys.argv[2]), int(sys.argv[3]))"
)


class _Worker:
    """One worker process, its socket, and the job it holds (if any).

    Made without a process; :meth:`start` starts it. The pool lists the worker
    first, so that an interruption at any point of the start (Ctrl-C or SIGTERM,
    raised as an exception) finds it in the list and stops it: a worker started
    but not yet listed would outlive the signal that stopped the batch, holding
    this process's stderr (its stdout) open.
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.job = None
        self.ready = False

    def start(self, work_frame: Callable) -> None:
        """Start the process and send it ``work_frame``.

        SIGINT and SIGTERM are held (blocked) in this thread while the process
        is made, so that neither can be raised between its creation and
        ``self.proc`` being bound; the child starts with both blocked too
        (the mask is inherited across ``exec``) and unblocks them once its
        handlers are set (:func:`cnnfilter.tasks._worker.main`): a Ctrl-C
        while it is still starting neither prints a ``KeyboardInterrupt``
        traceback from its start-up code nor is lost, and a SIGTERM to the
        whole process group still ends it.

        Raises:
            OSError: the process could not be made, or died before it could be
                sent its work (``self.proc`` is then set: reap it).
        """
        ours, theirs = socket.socketpair()
        self.sock = ours
        try:
            with _signals_held():
                self.proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        _BOOTSTRAP,
                        json.dumps([p for p in sys.path if isinstance(p, str)]),
                        str(theirs.fileno()),
                        str(os.getpid()),
                    ],
                    pass_fds=[theirs.fileno()],
                    stdin=subprocess.DEVNULL,
                    stdout=sys.__stderr__.fileno()
                    if _has_fd(sys.__stderr__)
                    else subprocess.DEVNULL,
                    close_fds=True,
                )
        finally:
            theirs.close()
        send_frame(self.sock, work_frame)

    def give(self, job) -> None:
        self.job = job
        send_frame(self.sock, job)

    def close(self, *, signal_first: bool) -> None:
        if self.sock is not None:
            self.sock.close()  # an idle worker reads EOF and exits
        if signal_first and self.proc is not None:
            with _signals_held():  # see reap
                if self.proc.poll() is None:
                    self.proc.terminate()

    def end_status(self) -> str:
        """How the process ended, for the failure line: ``killed by SIGKILL``, ``exit status 3``.

        Called once its socket gave EOF, i.e. when it is exiting; waits at most
        :data:`STOP_WAIT_S` seconds (then SIGKILL, as :meth:`reap`).
        """
        self.reap()
        code = self.proc.returncode
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"

    def reap(self) -> None:
        """Wait for the process to end: at most :data:`STOP_WAIT_S` seconds, then SIGKILL.

        SIGINT and SIGTERM are held meanwhile. ``Popen.wait`` and ``poll`` take
        a lock with ``if lock.acquire(False): try: ...``; an exception raised by
        a signal handler just after the acquire (Ctrl-C, or SIGTERM as the CLI
        raises it) left the lock taken, and the next wait on that process, the
        one in :meth:`_Pool.stop`, spun its 5 s and then blocked in
        ``with lock`` for ever, after the worker was killed.
        """
        if self.proc is None:  # never started
            return
        with _signals_held():
            try:
                self.proc.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread inside the block; deliver them after it.

    Does nothing where ``signal.pthread_sigmask`` does not exist (Windows).
    """
    block = getattr(signal, "pthread_sigmask", None)
    if block is None:  # pragma: no cover - not POSIX
        yield
        return
    previous = block(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        block(signal.SIG_SETMASK, previous)


def _has_fd(stream) -> bool:
    try:
        return stream is not None and stream.fileno() >= 0
    except (OSError, ValueError):
        return False


def run_pool(
    jobs: Sequence, work: Callable, record: Callable, workers: int, died_reason: str
) -> None:
    """Run ``work`` on ``jobs`` in ``workers`` processes; ``record(job, status, payload)`` here.

    Raises:
        RuntimeError: ``work`` raised something other than a documented
            error (a bug), with the worker's traceback.
        OSError: no worker process could be started at all.
    """
    pool = _Pool(work, workers, died_reason, record)
    try:
        pool.run(deque(jobs))
    except BaseException:
        pool.stop(interrupted=True)
        raise
    pool.stop(interrupted=False)


class _Pool:
    def __init__(self, work, workers: int, died_reason: str, record: Callable) -> None:
        self.work = work
        self.size = workers
        self.died_reason = died_reason
        self.record = record
        self.live: list[_Worker] = []
        self.gone: list[_Worker] = []
        self.restarted: set[int] = set()

    def run(self, todo: deque) -> None:
        self._fill(todo)
        if not self.live:  # pragma: no cover - the system refused every process
            raise OSError("could not start any batch worker process")
        from multiprocessing.connection import wait

        while any(w.job is not None for w in self.live):
            busy = {w.sock: w for w in self.live if w.job is not None}
            for sock in wait(list(busy)):
                self._receive(busy[sock], todo)
            self._fill(todo)

    def _fill(self, todo: deque) -> None:
        """Give every idle worker a job, starting workers up to the pool size."""
        for worker in self.live:
            if worker.job is None and todo:
                self._give(worker, todo)
        while todo and len(self.live) < self.size:
            worker = _Worker()
            self.live.append(worker)  # listed before it exists: see _Worker
            try:
                worker.start(self.work)
            except OSError:
                self.live.remove(worker)
                self.gone.append(worker)
                worker.close(signal_first=True)
                if self.live:
                    return  # go on with fewer workers
                raise
            self._give(worker, todo)

    def _give(self, worker: _Worker, todo: deque) -> None:
        job = todo.popleft()
        try:
            worker.give(job)
        except OSError:  # died before we could talk to it: its job was not started
            self._died(worker, todo)

    def _receive(self, worker: _Worker, todo: deque) -> None:
        try:
            status, payload = recv_frame(worker.sock)
        except (EOFError, OSError):
            self._died(worker, todo)
            return
        if status == "ready":
            worker.ready = True
            return
        job, worker.job = worker.job, None
        if status == "crash":
            raise RuntimeError(f"batch worker failed on {job.source}:\n{payload}")
        if status == "broken":
            raise RuntimeError(
                "a batch worker process stopped on an unexpected error (is the cnnfilter "
                f"installation being changed while the batch runs?):\n{payload}"
            )
        self.record(job, status, payload)

    def _died(self, worker: _Worker, todo: deque) -> None:
        """Retire a dead worker; retry its job once if it never started it, else fail it."""
        self.live.remove(worker)
        self.gone.append(worker)
        worker.close(signal_first=True)
        job, worker.job = worker.job, None
        if job is None:
            return
        if not worker.ready and job.index not in self.restarted:
            self.restarted.add(job.index)
            todo.appendleft(job)
        else:
            self.record(job, "failed", self.died_reason.format(how=worker.end_status()))

    def stop(self, *, interrupted: bool) -> None:
        """End every worker: EOF (normal end) or SIGTERM (interrupted), bounded waits.

        A second Ctrl-C or SIGTERM (``timeout`` signals the command, then its
        whole group; people press Ctrl-C twice) is held until every worker is
        reaped, then raised: it cannot cut the stop short and leave a worker.
        """
        with _signals_held():
            for worker in self.live:
                worker.close(signal_first=interrupted)
            for worker in self.live + self.gone:
                worker.reap()
            self.live, self.gone = [], []
