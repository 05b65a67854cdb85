"""The thread budget and the BLAS limit inside the engine's worker threads.

Each probe runs in a fresh interpreter: threadpoolctl's view of the loaded BLAS
libraries, and the budget read from the environment, are per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cnnfilter.engine import threads

from helpers import ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

#: Runs a 3x3 direct correlation whose tile functions record, from inside each worker
#: thread, threadpoolctl's BLAS thread counts and the worker's thread name.
PROBE = """
import json, threading
import numpy as np
from threadpoolctl import threadpool_info
from cnnfilter.engine import _tiled
from cnnfilter.engine.filtering import correlate
seen = []
def spying(call):
    def spy(self, *args, **kwargs):
        seen.append((threading.current_thread().name,
                     [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]))
        return call(self, *args, **kwargs)
    return spy
# interior row tiles run as FlatRows, the top and bottom ones as StackedDirectTile
for cls in (_tiled.StackedDirectTile, _tiled.FlatRows):
    cls.__call__ = spying(cls.__call__)
# the threads started (each calls worker_thread_setup once): counting the threads that
# happened to run a tile would depend on scheduling (under load one thread may take them all)
started = []
setup = _tiled.worker_thread_setup
def counting_setup():
    started.append(threading.current_thread().name)
    setup()
_tiled.worker_thread_setup = counting_setup
x = np.random.default_rng(0).random((64, 48, 3), dtype=np.float32)
correlate(x, np.arange(9.0).reshape(3, 3), method="direct")
after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
print(json.dumps({"inside": [s[1] for s in seen], "workers": len(set(started)),
                  "after": after}))
"""


def probe(env_extra: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        env={**ENV, "OPENBLAS_NUM_THREADS": "2", **env_extra},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_blas_is_single_threaded_inside_the_workers_and_restored_after():
    pytest.importorskip("threadpoolctl")
    got = probe({})
    assert got["inside"], "the probe saw no tile"
    assert all(counts and all(n == 1 for n in counts) for counts in got["inside"])
    assert got["after"] and all(n == 2 for n in got["after"])  # the caller's setting is back


def test_the_thread_budget_caps_the_engine_workers():
    pytest.importorskip("threadpoolctl")
    assert probe({threads.ENV_VAR: "1"})["workers"] == 1
    if threads.cores() >= 2:
        assert probe({threads.ENV_VAR: "2"})["workers"] == 2


def test_set_thread_budget_overrides_the_environment_and_is_inherited(monkeypatch):
    monkeypatch.setenv(threads.ENV_VAR, "3")
    try:
        assert threads.thread_budget() == 3
        threads.set_thread_budget(1)
        assert threads.thread_budget() == 1 and os.environ[threads.ENV_VAR] == "1"
    finally:
        threads.set_thread_budget(None)
    assert threads.thread_budget() == threads.cores()
    with pytest.raises(ValueError):
        threads.set_thread_budget(0)


def test_a_bad_environment_value_falls_back_to_every_core(monkeypatch):
    monkeypatch.setenv(threads.ENV_VAR, "many")
    assert threads.thread_budget() == threads.cores()


def test_results_do_not_depend_on_the_budget(monkeypatch):
    from cnnfilter.engine.filtering import correlate

    x = np.random.default_rng(1).random((97, 61, 3)).astype(np.float32)
    w = np.random.default_rng(2).standard_normal((5, 4))
    monkeypatch.setenv(threads.ENV_VAR, "1")
    one = correlate(x, w)
    monkeypatch.setenv(threads.ENV_VAR, "2")
    np.testing.assert_array_equal(correlate(x, w), one)
