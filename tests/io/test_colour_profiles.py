"""ICC profiles: carried as they are, or converted to sRGB with ``--to-srgb`` (issue 11).

The test builds its own Adobe RGB (1998) profile (ICC v2, matrix/TRC) from the published
primaries, D50-adapted as in Adobe's specification (Adobe RGB (1998) Color Image Encoding,
version 2005-05, annex: colorant tags), and gamma 563/256: Pillow's ImageCms cannot create
one, and CI installs nothing outside the project's files.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageCms

from helpers import invoke, one_error_line

#: rXYZ, gXYZ, bXYZ of Adobe RGB (1998), adapted to the D50 PCS (Bradford), as its ICC tags.
ADOBE_D50 = ((0.60974, 0.31111, 0.01947), (0.20528, 0.62567, 0.06087), (0.14919, 0.06322, 0.74457))
D50 = (0.9642, 1.0, 0.8249)
ADOBE_GAMMA = 563 / 256  # 2.19921875, as the curv tag stores it (u8Fixed8)
#: sRGB's D50-adapted colorant matrix (IEC 61966-2-1 primaries, Bradford; columns R, G, B).
SRGB_D50 = np.array(
    [
        [0.4360747, 0.3850649, 0.1430804],
        [0.2225045, 0.7168786, 0.0606169],
        [0.0139322, 0.0971045, 0.7141733],
    ]
)


def _s15(x: float) -> bytes:
    return struct.pack(">i", round(x * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + _s15(x) + _s15(y) + _s15(z)


def _desc(text: str) -> bytes:
    """textDescriptionType (ICC v2): ASCII, then empty Unicode and ScriptCode parts."""
    ascii_ = text.encode("ascii") + b"\0"
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_)) + ascii_ + bytes(8 + 2 + 1 + 67)


def adobe_rgb_profile() -> bytes:
    """A minimal ICC v2 display profile of Adobe RGB (1998): matrix and one gamma curve."""
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(ADOBE_GAMMA * 256)) + bytes(2)
    tags = [
        (b"desc", _desc("Adobe RGB (1998) compatible (test)")),
        (b"cprt", b"text" + bytes(4) + b"No copyright, test data\0"),
        (b"wtpt", _xyz(*D50)),
        (b"rXYZ", _xyz(*ADOBE_D50[0])),
        (b"gXYZ", _xyz(*ADOBE_D50[1])),
        (b"bXYZ", _xyz(*ADOBE_D50[2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    start = 128 + 4 + 12 * len(tags)
    entries, data, placed = [], b"", {}
    for sig, body in tags:
        if body not in placed:  # the three TRC tags share one curve
            data += bytes(-(start + len(data)) % 4)  # tags start on 4-byte boundaries
            placed[body] = start + len(data)
            data += body
        entries.append(sig + struct.pack(">II", placed[body], len(body)))
    table = struct.pack(">I", len(tags)) + b"".join(entries)
    size = 128 + len(table) + len(data)
    header = (
        struct.pack(">I", size)
        + bytes(4)
        + struct.pack(">I", 0x02100000)  # version 2.1
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + bytes(4 * 4 + 8 + 4)  # platform, flags, maker, model, attributes, intent
        + _s15(D50[0])
        + _s15(D50[1])
        + _s15(D50[2])  # fmt: skip
        + bytes(4 + 16 + 28)
    )
    assert len(header) == 128
    return header + table + data


def analytic_srgb(rgb) -> np.ndarray:
    """Adobe RGB 8-bit values in sRGB by the published matrices and curves, as floats."""
    linear = (np.asarray(rgb, dtype=np.float64) / 255) ** ADOBE_GAMMA
    xyz = np.array(ADOBE_D50).T @ linear
    out = np.clip(np.linalg.solve(SRGB_D50, xyz), 0, 1)
    return 255 * np.where(out <= 0.0031308, 12.92 * out, 1.055 * out ** (1 / 2.4) - 0.055)


ADOBE = adobe_rgb_profile()
RED = (200, 30, 30)


def test_the_built_profile_is_adobe_rgb_by_the_published_figures():
    profile = ImageCms.ImageCmsProfile(io.BytesIO(ADOBE))  # LittleCMS parses it
    assert ImageCms.getProfileDescription(profile).startswith("Adobe RGB (1998)")
    np.testing.assert_allclose(analytic_srgb(RED), (233, 24, 24), atol=1)  # the figure
    converted = ImageCms.profileToProfile(
        Image.new("RGB", (1, 1), RED), profile, ImageCms.createProfile("sRGB")
    )
    np.testing.assert_allclose(converted.getpixel((0, 0)), analytic_srgb(RED), atol=1)


def _adobe_png(path, mode="RGB"):
    colour = RED + ((128,) if mode == "RGBA" else ())
    Image.new(mode, (4, 4), colour).save(path, icc_profile=ADOBE)
    return path


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_to_srgb_converts_adobe_rgb_red(tmp_path, mode):
    src = _adobe_png(tmp_path / "adobe.png", mode)
    out = tmp_path / "srgb.png"
    result = invoke("apply", src, "-k", "identity", "--to-srgb", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "to sRGB" in result.stderr
    with Image.open(out) as im:
        got = np.asarray(im).astype(int)
        profile = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    assert np.abs(got[..., :3] - (233, 24, 24)).max() <= 2
    assert np.abs(got[..., :3] - analytic_srgb(RED)).max() <= 1.5
    if mode == "RGBA":
        assert (got[..., 3] == 128).all()  # alpha is not a colour: left as it was


@pytest.mark.parametrize("ext", ["png", "jpg", "tif", "webp"])
def test_without_to_srgb_the_values_and_the_profile_are_kept(tmp_path, ext):
    src = _adobe_png(tmp_path / "adobe.png")
    out = tmp_path / f"out.{ext}"
    result = invoke("apply", src, "-k", "identity", "-o", out)
    assert result.exit_code == 0, result.stderr
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == ADOBE
        got = np.asarray(im.convert("RGB")).astype(int)
    assert np.abs(got - RED).max() <= (0 if ext in ("png", "tif") else 3)  # JPEG/WebP: lossy


def test_to_srgb_refuses_16_bit_colour_in_one_line(tmp_path):
    imagecodecs = pytest.importorskip("imagecodecs")
    src = tmp_path / "deep.png"
    src.write_bytes(imagecodecs.png_encode(np.full((2, 2, 3), 40000, np.uint16)))
    result = invoke("apply", src, "-k", "identity", "--to-srgb", "-o", tmp_path / "o.png")
    assert result.exit_code == 2
    assert "--to-srgb converts 8-bit colour only" in one_error_line(result)
