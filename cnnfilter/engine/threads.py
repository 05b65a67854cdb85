"""One budget of cores for the whole process, and BLAS kept single-threaded inside it.

The engine runs its own worker threads (:func:`cnnfilter.engine._tiled.parallel`),
the PNG encoder its own (:mod:`cnnfilter._pngenc`); both ask
:func:`thread_budget` how many. A batch of N worker processes shares one
budget: each worker gets ``budget // N`` threads (at least 1), set by
:func:`set_thread_budget` in the worker's initializer. ``--threads`` (or the
``CNNFILTER_THREADS`` environment variable) sets the budget; by default it is
every core this process may run on.

BLAS threads. Our workers already fill the cores; if each of their small
matrix products also woke the BLAS library's own threads, the cores would be
oversubscribed (measured: 1180 ms instead of 110 ms for a 3x3 kernel on 12 MP
RGB with OpenBLAS). :func:`single_threaded_blas` turns BLAS threading off
around a parallel region. Two ways, compared:

* threadpoolctl (``pip install 'cnnfilter[threads]'``; pure Python, one
  84 kB module, no dependencies; maintained by the scikit-learn developers):
  finds every loaded BLAS and OpenMP runtime (OpenBLAS, MKL, BLIS,
  FlexiBLAS, Accelerate through their ``*_set_num_threads``) and restores the
  previous limits afterwards. The limit is process-wide for the duration of
  the region. Cost: one :class:`threadpoolctl.ThreadpoolController` scan per
  process (about 1 ms), then a few microseconds per region.
* ctypes into ``openblas_set_num_threads_local`` of numpy's bundled OpenBLAS
  (the previous code, kept as the fallback when threadpoolctl is absent):
  per calling thread, no dependency, but only for pip wheels of numpy with
  OpenBLAS >= 0.3.27; on MKL, Accelerate, conda or a system OpenBLAS it
  silently does nothing, and the run is ~10x slower.

Decision: threadpoolctl is an optional extra (the project's rule for
third-party libraries) but in the ``test`` extra, so CI always checks the
limit (tests/engine/test_threads.py asks ``threadpool_info()`` from inside a
worker); without it the ctypes fallback covers numpy's pip wheels.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator

__all__ = ["ENV_VAR", "cores", "thread_budget", "set_thread_budget", "single_threaded_blas"]

#: Environment variable holding the thread budget (set by ``--threads``, read by workers).
ENV_VAR = "CNNFILTER_THREADS"

_budget: int | None = None


def cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def thread_budget() -> int:
    """Threads this process may keep busy: :func:`set_thread_budget`, ``$CNNFILTER_THREADS``
    or every core, in that order; at least 1."""
    if _budget is not None:
        return _budget
    value = os.environ.get(ENV_VAR, "")
    if value.strip().isdigit() and int(value) > 0:
        return int(value)
    return cores()


def set_thread_budget(threads: int | None) -> None:
    """Set this process's budget (None: back to the default); also sets ``$CNNFILTER_THREADS``
    so that processes started from here inherit it.

    Raises:
        ValueError: ``threads`` < 1.
    """
    global _budget
    if threads is None:
        _budget = None
        os.environ.pop(ENV_VAR, None)
        return
    if int(threads) < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    _budget = int(threads)
    os.environ[ENV_VAR] = str(_budget)


@functools.cache
def _controller():
    """A cached threadpoolctl controller, or None when threadpoolctl is not installed."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


@functools.cache
def _openblas_local_setter() -> Callable[[int], int] | None:
    """``openblas_set_num_threads_local`` of numpy's bundled OpenBLAS, or None."""
    import ctypes
    import glob

    import numpy as np

    root = os.path.dirname(os.path.dirname(np.__file__))
    for path in sorted(glob.glob(os.path.join(root, "numpy.libs", "*openblas*"))):
        try:
            setter = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
        return setter
    return None


def worker_thread_setup() -> None:
    """Call first in each engine worker thread: the ctypes fallback (per thread)."""
    if _controller() is None:
        setter = _openblas_local_setter()
        if setter is not None:
            setter(1)


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS libraries use one thread inside the block (threadpoolctl), restored after.

    Without threadpoolctl this does nothing here; the workers call
    :func:`worker_thread_setup` instead.
    """
    controller = _controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield
