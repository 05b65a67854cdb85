"""Batches and chunked images on a Dask LocalCluster on 127.0.0.1, started and stopped here.

One cluster (2 worker processes, 1 thread each) serves the module; it is
closed even when a test fails. Outputs are compared byte for byte with the
local pool's, and chunked results value for value with the in-memory engine.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
tifffile = pytest.importorskip("tifffile")
pytest.importorskip("zarr")

from cnnfilter.engine.image_filter import FilterSettings, filter_image  # noqa: E402
from cnnfilter.errors import UsageError  # noqa: E402
from cnnfilter.tasks import _cluster, large  # noqa: E402
from cnnfilter.tasks.apply import ApplySpec  # noqa: E402

from helpers import ROOT, invoke  # noqa: E402

#: Seconds any cluster call may take here before the test fails instead of hanging.
TIMEOUT_S = 60


@pytest.fixture(scope="module")
def scheduler():
    cluster = distributed.LocalCluster(
        host="127.0.0.1", n_workers=2, threads_per_worker=1, processes=True,
        dashboard_address=None, silence_logs=logging.ERROR,
    )  # fmt: skip
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close(timeout=TIMEOUT_S)


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut.png", "camera.png", "coins.png"):
        shutil.copy(ROOT / "samples" / name, folder / name)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    return folder


def test_scheduler_is_on_the_loopback(scheduler):
    assert scheduler.startswith("tcp://127.0.0.1:")


def test_batch_on_the_cluster_writes_the_local_pool_bytes(scheduler, photos, tmp_path):
    local = invoke("apply", photos, "-k", "sobel-x", "-o", tmp_path / "local/{stem}.png", "-j", 2)
    assert local.exit_code == 1  # the broken file
    result = invoke(
        "apply", photos, "-k", "sobel-x", "-o", tmp_path / "dask/{stem}.png",
        "--scheduler", scheduler,
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    assert "3 done, 0 skipped, 1 failed" in result.stderr
    assert "failed " + str(photos / "broken.png") in result.stderr
    for name in ("astronaut", "camera", "coins"):
        ours = (tmp_path / "dask" / f"{name}.png").read_bytes()
        assert ours == (tmp_path / "local" / f"{name}.png").read_bytes()
    assert not (tmp_path / "dask" / "broken.png").exists()
    assert not list((tmp_path / "dask").glob(".cnnf-*"))  # no temporary file left


def test_skip_existing_and_json_on_the_cluster(scheduler, photos, tmp_path, monkeypatch):
    (photos / "broken.png").unlink()
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(ROOT / "samples" / "camera.png", out / "camera.png")  # "an earlier run"
    monkeypatch.setenv(_cluster.SCHEDULER_ENV, scheduler)  # picked up for batches
    result = invoke("apply", photos, "-k", "box", "-o", f"{out}/", "--skip-existing", "--json")
    assert result.exit_code == 0, result.stderr
    import json

    report = json.loads(result.stdout)
    assert report["summary"] == {
        "inputs": 3, "done": 2, "skipped": 1, "failed": 0, "interrupted": None,
    }  # fmt: skip
    assert (out / "camera.png").read_bytes() == (ROOT / "samples" / "camera.png").read_bytes()
    statuses = {Path(f["input"]).name: f["status"] for f in report["files"]}
    assert statuses == {"astronaut.png": "done", "camera.png": "skipped", "coins.png": "done"}


def test_chunked_filter_on_the_cluster_equals_in_memory(scheduler, tmp_path):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 65536, (300, 211), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(64, 64), bigtiff=True)
    kernel = rng.normal(size=(5, 5))
    settings = FilterSettings(boundary="mirror", stride=2, dilation=2, range_mode="abs")
    spec = ApplySpec(kernel, "random", settings)
    report = large.apply_chunked(
        spec, str(tmp_path / "in.tif"), str(tmp_path / "out.zarr"), force=False, chunk=48,
        scheduler=scheduler,
    )  # fmt: skip
    assert report["scheduler"] == scheduler and report["blocks"] == 4 * 3
    import zarr

    got = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")[:]
    expected = filter_image(image, kernel, settings, max_value=65535).pixels
    assert got.dtype == np.uint16 and got.shape == expected.shape
    # equal, or 1 apart on a rounding tie where a BLAS sums in another order (see
    # tests/engine/test_chunked.py)
    diff = np.abs(got.astype(np.int64) - expected.astype(np.int64))
    assert diff.max() <= 1 and np.count_nonzero(diff) <= diff.size // 1000


def test_unreachable_scheduler_is_one_line(monkeypatch, photos, tmp_path):
    monkeypatch.setattr(_cluster, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(UsageError, match="cannot reach the Dask scheduler"):
        with _cluster.open_client("tcp://127.0.0.1:9"):
            pass


def test_without_dask_one_line_names_the_extra(monkeypatch, photos, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)
    result = invoke(
        "apply", photos, "-k", "box", "-o", tmp_path / "o/{stem}.png", "--scheduler", "local"
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Error: --scheduler needs Dask: pip install 'cnnfilter[dask]'")
