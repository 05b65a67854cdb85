"""JPEG output keeps full chroma (4:4:4) at quality 90 and above, as ImageMagick does."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from cnnfilter.imageio import encode_picture, read_image

from helpers import invoke


def _thin_lines(samples) -> np.ndarray:
    """A 128 x 128 crop of the astronaut photo with 1-pixel red rows and blue columns."""
    rgb = np.asarray(Image.open(samples / "astronaut.png").convert("RGB"))[100:228, 100:228].copy()
    rgb[::8, :] = (255, 0, 0)
    rgb[:, 3::8] = (0, 0, 255)
    return rgb


def _chroma_rms(a: np.ndarray, b: np.ndarray) -> float:
    """RMS difference of the JFIF Cb and Cr planes (ITU-R BT.601, full range) of two RGB arrays."""
    to_cbcr = np.array([[-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]).T
    diff = (a.astype(np.float64) - b.astype(np.float64)) @ to_cbcr
    return float(np.sqrt(np.mean(diff**2)))


def _decoded(data: bytes) -> tuple[np.ndarray, int]:
    """(RGB pixels, Pillow's sampling code: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0) of JPEG bytes."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB")), JpegImagePlugin.get_sampling(im)


def test_default_quality_keeps_full_chroma_and_thin_coloured_lines(samples):
    rgb = _thin_lines(samples)
    ours, sampling = _decoded(encode_picture(rgb, "JPEG")[0])  # quality 95, the default
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=95)  # Pillow's default: 4:2:0
    subsampled, pillow_sampling = _decoded(buf.getvalue())
    assert (sampling, pillow_sampling) == (0, 2)
    # measured with Pillow 13: 2.49 (4:4:4) against 34.72 (4:2:0)
    assert _chroma_rms(ours, rgb) < 4.0
    assert _chroma_rms(subsampled, rgb) > 25.0
    # the red rows stay red: their mean R - G is 150 or more (4:2:0 halves it)
    red_rows = ours[8:120:8, 8:120].astype(int)
    assert (red_rows[..., 0] - red_rows[..., 1]).mean() > 150


@pytest.mark.parametrize(("quality", "sampling"), [(100, 0), (90, 0), (89, 2), (75, 2), (1, 2)])
def test_subsampling_switches_at_quality_90(quality, sampling):
    rgb = np.random.default_rng(3).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert _decoded(encode_picture(rgb, "JPEG", quality=quality)[0])[1] == sampling


def test_cli_jpeg_output_is_4_4_4_at_the_default_quality(samples, tmp_path):
    out = tmp_path / "edges.jpg"
    result = invoke("apply", samples / "astronaut.png", "-k", "sobel-x", "-o", out)
    assert result.exit_code == 0, result.stderr
    with Image.open(out) as im:
        assert JpegImagePlugin.get_sampling(im) == 0
    result = invoke("apply", samples / "astronaut.png", "-k", "sobel-x", "-o", out, "--force")
    assert result.exit_code == 0


_IMAGEMAGICK = shutil.which("convert-im6.q16") or shutil.which("magick")


@pytest.mark.skipif(_IMAGEMAGICK is None, reason="ImageMagick (convert-im6.q16 or magick) absent")
@pytest.mark.parametrize("quality", [95, 90, 89, 75])
def test_sampling_matches_imagemagick(tmp_path, quality):
    src = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (16, 16, 3), np.uint8)).save(src)
    theirs = tmp_path / "im.jpg"
    subprocess.run(
        [_IMAGEMAGICK, str(src), "-quality", str(quality), str(theirs)], check=True, timeout=60
    )
    ours = encode_picture(read_image(src).pixels, "JPEG", quality=quality)[0]
    with Image.open(theirs) as im:
        assert JpegImagePlugin.get_sampling(im) == _decoded(ours)[1]
