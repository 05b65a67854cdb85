"""Reads are bounded: streams, FIFOs, bomb headers, .npy headers, the memory-derived default."""

from __future__ import annotations

import io
import os
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from cnnfilter import imageio
from cnnfilter.errors import ProcessingError
from cnnfilter.imageio import limits, npy, reading

from helpers import error_line, invoke


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A 16 x 16 JPEG whose SOF0 header says ``width x height`` (a decompression bomb)."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 7] = height.to_bytes(2, "big")
    data[sof + 7 : sof + 9] = width.to_bytes(2, "big")
    return bytes(data)


def _png(shape=(4, 5)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)).save(buf, "PNG")
    return buf.getvalue()


def test_default_pixel_limit_is_pillows_guard_or_what_fits_in_memory(monkeypatch):
    monkeypatch.setattr(limits, "available_memory", lambda: 64 * 2**30)
    assert limits.default_max_pixels() == imageio.PILLOW_GUARD_PIXELS == 178_956_970
    monkeypatch.setattr(limits, "available_memory", lambda: 2 * 2**30)
    assert limits.default_max_pixels() == 2 * 2**30 // 48
    monkeypatch.setattr(limits, "available_memory", lambda: None)
    assert limits.default_max_pixels() == imageio.PILLOW_GUARD_PIXELS


def test_a_small_jpeg_claiming_20000_x_20000_is_refused_from_its_header(tmp_path):
    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(_jpeg_claiming(20000, 20000))
    assert bomb.stat().st_size < 1000
    line = error_line(1, ["apply", bomb, "-k", "box", "-o", tmp_path / "out.png"])
    assert "20000 x 20000 = 400,000,000 pixels, above the limit of" in line
    assert not (tmp_path / "out.png").exists()


def test_a_bomb_on_stdin_is_refused_from_its_header(tmp_path):
    result = invoke(
        "apply", "-", "-k", "box", "-o", tmp_path / "o.png", input=_jpeg_claiming(20000, 20000)
    )
    assert result.exit_code == 1
    assert "400,000,000 pixels, above the limit" in result.stderr


def test_endless_zeros_on_a_stream_are_refused_after_the_first_bytes():
    class Zeros(io.RawIOBase):
        reads = 0

        def readable(self):
            return True

        def readinto(self, b):
            Zeros.reads += len(b)
            b[:] = bytes(len(b))
            return len(b)

    with pytest.raises(ProcessingError, match="first bytes match no image format"):
        imageio.read_stream_bounded(Zeros(), name="<stdin>", max_pixels=10**6)
    assert Zeros.reads <= 1 << 16


def test_a_stream_longer_than_any_image_within_the_limit_says_which_limit(monkeypatch):
    monkeypatch.setattr(reading, "STREAM_SLACK_BYTES", 0)
    data = _png() + b"\0" * 200_000  # a 20-pixel PNG, then junk: 100 pixels take <= 1600 bytes
    with pytest.raises(ProcessingError, match=r"longer than 1,600 bytes, .*pixel limit of 100 "):
        imageio.read_stream_bounded(io.BytesIO(data), name="<stdin>", max_pixels=100)


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes")
def test_a_named_pipe_is_read_into_memory_when_its_writer_closes(tmp_path):
    fifo = tmp_path / "in.png"
    os.mkfifo(fifo)
    payload = _png((6, 7))

    def writer():
        with open(fifo, "wb") as fh:  # blocks until the reader opens, like `cat > fifo`
            fh.write(payload)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    loaded = imageio.read_image(fifo)
    thread.join(timeout=30)
    assert loaded.pixels.shape == (6, 7)
    np.testing.assert_array_equal(loaded.pixels, np.arange(42, dtype=np.uint8).reshape(6, 7))


def test_npy_header_claiming_12_gb_is_refused_from_the_header(tmp_path, monkeypatch):
    monkeypatch.setattr(npy, "available_memory", lambda: 2 * 2**30)
    path = tmp_path / "huge.npy"
    header = {"descr": "<f8", "fortran_order": False, "shape": (40000, 40000)}  # 12.8 GB
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 64)
    with pytest.raises(ProcessingError, match="12,800,000,000 bytes of data .* more than"):
        imageio.read_array(path, max_elements=10**10)
    with pytest.raises(ProcessingError, match="12,800,000,000 bytes|1,600,000,000 values"):
        imageio.read_image(path, max_pixels=10**10)  # by elements or bytes, from the header


def test_params_of_dev_zero_is_refused_after_the_byte_limit():
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    line = error_line(2, ["params", "/dev/zero"])
    assert "larger than 1000000 bytes" in line
