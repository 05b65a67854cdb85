"""The read-ahead of ``apply``'s input gives what reading it then gives: pixels, errors, order.

:func:`cnnfilter.tasks.readahead.start_read` starts
:func:`cnnfilter.imageio.read_image` on a thread as the CLI starts;
:func:`cnnfilter.tasks.apply.render_apply` collects it. Each test compares with the
plain read (no read-ahead), the path every other caller takes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cnnfilter import imageio
from cnnfilter.engine.image_filter import FilterSettings
from cnnfilter.errors import ProcessingError, UsageError
from cnnfilter.tasks import apply as task
from cnnfilter.tasks.readahead import PendingRead, start_read

from helpers import ROOT


def _same_image(a, b) -> None:
    assert np.array_equal(a.pixels, b.pixels) and a.pixels.dtype == b.pixels.dtype
    assert (a.alpha is None) == (b.alpha is None)
    assert (a.mode, a.format, a.frames, a.frame, a.max_value, a.meta) == (
        b.mode, b.format, b.frames, b.frame, b.max_value, b.meta,
    )  # fmt: skip


@pytest.mark.parametrize("name", ["astronaut.png", "grace_hopper.jpg", "coins.png"])
def test_pending_read_gives_read_images_result(name, samples):
    path = str(samples / name)
    pending = PendingRead(path, max_pixels=None, frame=0, to_srgb=False)
    got = pending.take(path, max_pixels=imageio.DEFAULT_MAX_PIXELS, frame=0, to_srgb=False)
    _same_image(got, imageio.read_image(path))


def test_render_apply_with_a_read_ahead_writes_the_same_bytes(samples, tmp_path):
    source = str(samples / "astronaut.png")
    prepared = task.prepare([source], str(tmp_path / "a.png"), kernel="sobel-x",
                            settings=FilterSettings())  # fmt: skip
    plain = task.render_apply(prepared.spec, source, tmp_path / "a.png")
    pending = start_read([source], str(tmp_path / "b.png"))
    assert pending is not None
    ahead = task.render_apply(prepared.spec, source, tmp_path / "b.png", pending=pending)
    assert ahead.data == plain.data
    assert ahead.report["input"] == plain.report["input"]


def test_a_read_ahead_of_other_options_is_not_used(samples):
    path = str(samples / "astronaut.png")
    pending = PendingRead(path, max_pixels=10, frame=0, to_srgb=False)  # would fail
    assert pending.take(path, max_pixels=imageio.DEFAULT_MAX_PIXELS, frame=0, to_srgb=False) is None
    assert pending.take(str(samples / "coins.png"), max_pixels=10, frame=0, to_srgb=False) is None


def _error_of(call) -> tuple[type, str]:
    with pytest.raises((ProcessingError, UsageError)) as info:
        call()
    return type(info.value), str(info.value)


@pytest.mark.parametrize(
    "case",
    ["not an image", "truncated PNG", "empty", "above max_pixels", "frame out of range"],
)
def test_a_read_ahead_raises_the_reads_own_error(case, tmp_path, samples):
    path = tmp_path / "in.png"
    max_pixels, frame = imageio.DEFAULT_MAX_PIXELS, 0
    good = (samples / "coins.png").read_bytes()
    if case == "not an image":
        path.write_text("hello")
    elif case == "truncated PNG":
        path.write_bytes(good[: len(good) // 2])
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "above max_pixels":
        path.write_bytes(good)
        max_pixels = 100
    else:
        path.write_bytes(good)
        frame = 3
    expected = _error_of(lambda: imageio.read_image(path, max_pixels=max_pixels, frame=frame))
    pending = PendingRead(str(path), max_pixels=max_pixels, frame=frame, to_srgb=False)
    got = _error_of(lambda: pending.take(path, max_pixels=max_pixels, frame=frame, to_srgb=False))
    assert got == expected


def test_the_cli_reports_a_bad_input_after_the_checks_before_it(tmp_path):
    """A corrupt input and an existing output: the output's error comes first, as before."""
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    out = tmp_path / "out.png"
    out.write_bytes(b"keep")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "cnnfilter", "apply", str(bad), "-k", "sobel-x", "-o", str(out)]
    proc = subprocess.run(cli, capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and "exists" in proc.stderr and out.read_bytes() == b"keep"
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = subprocess.run([*cli, "--force"], capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and proc.stderr.startswith("Error: ")
    assert "truncated or corrupt" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "images, output",
    [
        (["-"], "out.png"),
        (["a.png", "b.png"], "out/"),
        (["{src}"], "out/{stem}.png"),
        (["{src}"], "out/"),
        (["{src}"], "out.zarr"),
        (["{dir}"], "out/"),
    ],
)
def test_start_read_starts_only_for_one_file_in_and_one_out(images, output, samples, tmp_path):
    images = [i.replace("{src}", str(samples / "coins.png")).replace("{dir}", str(samples))
              for i in images]  # fmt: skip
    assert start_read(images, f"{tmp_path}/{output}") is None
    assert start_read([str(samples / "coins.png")], str(tmp_path / "o.png"), chunked=True) is None
    pending = start_read([str(samples / "coins.png")], str(tmp_path / "o.png"))
    assert isinstance(pending, PendingRead)
    pending._thread.join()  # no thread left running into the next test


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_start_read_leaves_a_fifo_to_the_main_thread(tmp_path):
    fifo = tmp_path / "in.png"
    os.mkfifo(fifo)
    assert start_read([str(fifo)], str(tmp_path / "o.png")) is None


def test_read_ahead_pixels_equal_pillows_for_an_rgba_png(tmp_path):
    rgba = np.random.default_rng(3).integers(0, 256, (40, 50, 4), dtype=np.uint8)
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(path)
    pending = start_read([str(path)], str(tmp_path / "o.png"))
    got = pending.take(path, max_pixels=imageio.DEFAULT_MAX_PIXELS, frame=0, to_srgb=False)
    assert np.array_equal(got.pixels, rgba[..., :3]) and np.array_equal(got.alpha, rgba[..., 3])


def test_start_read_never_raises_on_a_name_the_system_refuses(samples, tmp_path):
    """The checks after it word the error (here: a name over 255 bytes)."""
    pending = start_read([str(samples / "coins.png")], str(tmp_path / ("y" * 300 + ".png")))
    assert isinstance(pending, PendingRead)
    pending._thread.join()


def test_no_read_ahead_outlives_a_failed_command_run_in_process(samples, tmp_path):
    import threading

    from helpers import invoke

    big = tmp_path / "big.png"  # a decode of some 50-100 ms: a thread left would be seen
    noise = np.random.default_rng(5).integers(0, 256, (2000, 3000, 3), dtype=np.uint8)
    Image.fromarray(noise).save(big, compress_level=1)
    out = tmp_path / "out.png"
    out.write_bytes(b"keep")
    result = invoke("apply", big, "-k", "sobel-x", "-o", out)
    assert result.exit_code != 0 and "exists" in result.stderr
    assert not [t for t in threading.enumerate() if t.name == "cnnfilter-read"]
