"""Batches and chunked images on a Dask cluster (the optional extra ``cnnfilter[dask]``).

:func:`open_client` connects to a running scheduler (``tcp://host:8786``) or
starts a :class:`distributed.LocalCluster` on 127.0.0.1 (``"local"``);
:func:`run_on_cluster` sends one task per batch job and records each outcome
as its future finishes (``distributed.as_completed``).

A cluster task runs the same two functions as the local pool, ``work`` (read
and compute) then ``finish`` (encode's write), one after the other on the
worker: :func:`cnnfilter.tasks.batch.run_job`. The local pool keeps the split
(workers compute, the parent writes) because its parent owns every output
file and can stop its workers mid-job; on a cluster the client holds no
data, so the worker writes, atomically (a temporary name renamed when
complete), to a path every worker can reach (a shared file system).

Why Dask (dask.distributed) rather than Ray: both schedule Python functions
on a cluster of processes; Dask is the scientific-Python standard, is pure
Python (dask + distributed + their deps, about 15 MB installed, against
Ray's 60-100 MB binary wheels), and dask.array is what the chunked path of
large images needs (:mod:`cnnfilter.tasks.large`); both give the same
results, since each file is computed by the same function.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence

from cnnfilter.errors import UsageError

#: How to install the extra, as error messages print it.
EXTRA = "pip install 'cnnfilter[dask]'"

#: Environment variable read when no ``scheduler`` is given (Dask's own name).
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"

#: Seconds to wait for a scheduler to answer before giving up.
CONNECT_TIMEOUT_S = 10

#: ``scheduler`` value that starts a LocalCluster on the loopback address.
LOCAL = "local"


def distributed_module(what: str = "scheduler="):
    """Import ``distributed``, or raise the one-line error naming the extra."""
    try:
        import distributed
    except ImportError:
        raise UsageError(f"{what} needs Dask: {EXTRA}") from None
    return distributed


def scheduler_from_env(scheduler: str | None) -> str | None:
    """``scheduler``, else ``$DASK_SCHEDULER_ADDRESS``, else None (the local pool)."""
    return scheduler or os.environ.get(SCHEDULER_ENV) or None


@contextlib.contextmanager
def open_client(scheduler: str, *, workers: int = 2) -> Iterator[object]:
    """A ``distributed.Client`` for ``scheduler``, closed (and its LocalCluster stopped) on exit.

    Args:
        scheduler: ``"local"`` (a LocalCluster of ``workers`` processes, one
            thread each, listening on 127.0.0.1 only, no dashboard) or a
            scheduler address such as ``tcp://10.0.0.5:8786``.
        workers: processes of the LocalCluster.

    Raises:
        UsageError: Dask is not installed, or the scheduler cannot be reached
            within :data:`CONNECT_TIMEOUT_S` seconds.
    """
    distributed = distributed_module()
    if scheduler == LOCAL:
        cluster = distributed.LocalCluster(
            host="127.0.0.1",
            n_workers=max(1, workers),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        try:
            client = distributed.Client(cluster, timeout=CONNECT_TIMEOUT_S)
        except BaseException:
            cluster.close()
            raise
        try:
            yield client
        finally:
            client.close()
            cluster.close()
        return
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(
            f"cannot reach the Dask scheduler at scheduler={scheduler!r} ({_short(exc)}); "
            "start one with 'dask scheduler' and workers with 'dask worker <address>', "
            "or use scheduler='local' to try a cluster on this machine"
        ) from None
    try:
        yield client
    finally:
        client.close()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def worker_count(client) -> int:
    """The number of workers the scheduler knows now."""
    return len(client.scheduler_info().get("workers", {}))


def run_on_cluster(
    jobs: Sequence, task: Callable, record: Callable, client, died_reason: str
) -> None:
    """Submit ``task(job)`` for every job; ``record(job, status, payload)`` as each finishes.

    ``task`` returns ``(status, payload)`` as
    :func:`cnnfilter.tasks.batch.run_job`. A worker that dies (Dask gives
    up on the task: ``KilledWorker``) fails that input with ``died_reason``.
    On any exception (Ctrl-C too) the futures not finished are cancelled.

    Raises:
        RuntimeError: the task raised something other than a documented
            error (a bug), with the worker's traceback.
    """
    distributed = distributed_module()
    run = uuid.uuid4().hex[:8]
    futures = {
        client.submit(task, job, key=f"cnnfilter-{run}-{job.index}", pure=False): job
        for job in jobs
    }
    try:
        for future in distributed.as_completed(futures):
            job = futures[future]
            if future.status == "error":
                exc = future.exception()
                if isinstance(exc, distributed.KilledWorker):
                    record(job, "failed", died_reason)
                    continue
                raise RuntimeError(f"batch task failed on {job.source}: {exc!r}")
            status, payload = future.result()
            if status == "crash":
                raise RuntimeError(f"batch worker failed on {job.source}:\n{payload}")
            record(job, status, payload)
            future.release()
    except BaseException:
        client.cancel(list(futures), force=True)
        raise
