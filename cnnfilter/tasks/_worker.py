"""The batch worker process: compute jobs sent by the parent, exit when the parent goes.

Started by :mod:`cnnfilter.tasks.batch` as ``python -c <bootstrap> <paths> <fd> <ppid>``
with one end of a socket pair as its only link to the parent. Frames are an
8-byte big-endian length and a pickle. The parent sends ``work`` first, then
one :class:`~cnnfilter.tasks.batch.Job` at a time; the worker answers
``("ready", None)`` once ``work`` is loaded and ``(status, payload)`` per job.

Why not ``concurrent.futures.ProcessPoolExecutor`` (used before): on Python
3.11 its manager thread reads results with ``result_queue._reader.recv()``
from a pipe whose write end the parent itself also holds. A worker stopped
(SIGTERM, OOM kill) while writing a result larger than the pipe buffer (any
image) leaves a partial message; ``recv`` then waits for bytes that never come
and no EOF can arrive, and the interpreter's exit handler
(``concurrent.futures.process._python_exit``) joins that thread for ever. Its
workers also block for ever in ``call_queue.get()`` when the parent is killed,
because each worker holds the queue's write end too. Here each worker has its
own socket whose parent end only the parent holds: a dead worker is an EOF for
the parent, a dead parent is an EOF for the worker.

Signals: Ctrl-C is the parent's to handle (ignored here); SIGTERM ends a
worker at once (the default action: it writes no file). The parent starts a
worker with both blocked, and :func:`main` unblocks them once SIGINT is
ignored: a Ctrl-C in a terminal reaches every process of the job, and one
that reached a worker still in Python's start-up printed a
``KeyboardInterrupt`` traceback (10 of 18 runs signalled 30-150 ms after the
workers were forked).

The worker leaves when its parent dies, even in the middle of a job: on Linux
through ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, elsewhere (and as a second
guard) through a thread that polls ``os.getppid()`` every 0.2 s.
``PR_SET_PDEATHSIG`` fires when the *thread* that started the worker ends, not
the process: every worker (and every replacement) is started by the thread
that runs :func:`cnnfilter.tasks._pool.run_pool`, which reaps them all before
it returns, so no worker outlives its starting thread. The poll compares with
the parent's pid passed on the command line, so reparenting (to init or a
subreaper) is seen, and a parent that died before the guard was set too.

A worker is a new interpreter (``python -c``): it imports cnnfilter afresh
from disk, unlike a forked child. Anything unexpected (such as an
ImportError from a cnnfilter being edited or upgraded during the batch) is
sent to the parent as ``("broken", traceback)`` and the worker exits with
status 1; it never ends silently. (A silent exit 0 on such an ImportError,
reported as "killed, or out of memory?", was the 1-in-39 failure of the
SIGTERM batch test while its worktree was being edited.)
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import struct
import sys
import threading
import time
import traceback

_HEADER = struct.Struct(">Q")
_POLL_S = 0.2


def send_frame(sock: socket.socket, obj: object) -> None:
    """Pickle ``obj`` and send it as one frame (no SIGPIPE on a closed peer)."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    flags = getattr(socket, "MSG_NOSIGNAL", 0)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        sent = sock.send(view, flags)
        view = view[sent:]


def recv_frame(sock: socket.socket) -> object:
    """One frame's object; ``EOFError`` when the peer closed (or died)."""
    size = _HEADER.unpack(_recv_exact(sock, _HEADER.size))[0]
    return pickle.loads(_recv_exact(sock, size))


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:], size - got)
        if n == 0:
            raise EOFError("peer closed")
        got += n
    return bytes(buf)


def _die_with_parent(ppid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass

    def watch() -> None:
        while os.getppid() == ppid:
            time.sleep(_POLL_S)
        os._exit(3)

    if os.getppid() != ppid:  # the parent died before the guard was set
        os._exit(3)
    threading.Thread(target=watch, daemon=True, name="cnnfilter-parent-watch").start()


def main(fd: int, ppid: int) -> None:
    """Serve jobs on socket ``fd`` until EOF; ``ppid`` is the parent to outlive never.

    Exit status 0 after EOF (the parent closed the socket or is gone), 1 after
    anything unexpected, which is first sent to the parent as ``("broken",
    traceback)`` (or printed on stderr if that fails): a worker never ends
    silently, so the parent never calls a bug "killed, or out of memory?".
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # The parent starts us with both blocked (see cnnfilter.tasks._pool._Worker.start):
    # a SIGINT sent while we started is dropped now (ignored), a SIGTERM ends us now.
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    _die_with_parent(ppid)
    sock = socket.socket(fileno=fd)
    status = 0
    try:
        _serve(sock)
    except (EOFError, OSError):  # the parent closed our socket or is gone
        pass
    except BaseException:  # noqa: B036 - reported, then the process ends
        status = 1
        _report_broken(sock, traceback.format_exc())
    finally:
        os._exit(status)  # no interpreter teardown: nothing of ours to flush


def _serve(sock: socket.socket) -> None:
    # Loading ``work`` imports the task's modules afresh from disk (this is a new
    # interpreter, not a fork): if they cannot be imported (a cnnfilter changed or
    # half-installed on disk while the batch runs) the parent hears why.
    work = recv_frame(sock)
    send_frame(sock, ("ready", None))
    while True:
        job = recv_frame(sock)
        send_frame(sock, run_attempt(work, job))


def _report_broken(sock: socket.socket, trace: str) -> None:
    try:
        send_frame(sock, ("broken", trace))
    except BaseException:  # noqa: B036 - the parent is gone: stderr is all that is left
        try:
            print(trace, file=sys.stderr, flush=True)
        except BaseException:  # noqa: B036
            pass


def attempt(work, job) -> tuple[str, object]:
    """Run ``work(job)``; a documented error or exhaustion is a failed file, not a crash."""
    from cnnfilter.errors import CnnfilterError

    try:
        return "ok", work(job)
    except CnnfilterError as exc:
        return "failed", str(exc)
    except MemoryError:
        return "failed", "out of memory while processing this image"


def run_attempt(work, job) -> tuple[str, object]:
    """:func:`attempt`, with a bug returned as ``("crash", traceback)`` instead of raised."""
    try:
        return attempt(work, job)
    except Exception:  # a bug, not a bad input: the parent raises it with this traceback
        return "crash", traceback.format_exc()
