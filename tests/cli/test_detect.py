"""``cnnfilter detect`` through the CLI: peaks, JSON, pictures and errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cnnfilter import render

from helpers import ARTICLE_PATCH, invoke


def run(*args):
    return invoke(["detect", *map(str, args)], catch_exceptions=False)


@pytest.fixture
def drawing(tmp_path):
    """The article's curve drawn at rows 10-16, columns 20-26 of a blank 8-bit picture."""
    pixels = np.zeros((40, 50), dtype=np.uint8)
    pixels[10:17, 20:27] = ARTICLE_PATCH
    path = tmp_path / "drawing.png"
    Image.fromarray(pixels).save(path)
    return path


def test_curve_kernel_reproduces_the_articles_6600(drawing):
    result = run(drawing, "--kernel", "curve", "--method", "raw", "--top", "3", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["peaks"][0] == {"rank": 1, "row": 10, "col": 20, "score": 6600.0}
    assert doc["map_shape"] == [34, 44, 1]
    assert doc["map_range"] == [0.0, 6600.0]  # blank parts of the drawing give 0
    assert doc["coordinates"] == "top-left"
    assert doc["operation"] == "cross-correlation" and doc["method"] == "raw"
    assert "cross-correlation (raw sum of products" in result.stderr


def test_table_output_names_the_coordinate_convention(drawing):
    result = run(drawing, "--kernel", "curve", "--top", "1")
    assert result.exit_code == 0
    assert "6600" in result.stdout and "top-left corner" in result.stdout
    assert result.stdout.count("\n") < 12


def test_template_from_a_real_photo_is_found_with_ncc_1(samples, tmp_path):
    photo = np.asarray(Image.open(samples / "coffee.png").convert("RGB"))
    patch = tmp_path / "patch.png"
    Image.fromarray(photo[120:152, 200:248]).save(patch)
    result = run(
        samples / "coffee.png", "--template", patch, "--method", "ncc", "--top", "2", "--json"
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    best = doc["peaks"][0]
    assert (best["row"], best["col"]) == (120, 200)
    assert best["score"] == pytest.approx(1.0, abs=1e-9)
    assert doc["pattern"]["shape"] == [32, 48, 3]
    assert doc["min_distance"] == 16


def test_a_template_on_the_default_raw_method_gets_a_note_naming_ncc(samples):
    """coin.png's exact copy ranks 3rd by raw sums (bright coins win): say what ncc does."""
    coin = samples / "crops" / "coin.png"
    plain = run(samples / "coins.png", "--template", coin, "--top", "3")
    assert plain.exit_code == 0, plain.stderr
    assert plain.stderr.splitlines()[1] == (
        "note: --method raw (the default) is a plain sum of products, highest where the image "
        "is bright; --method ncc scores each place by its likeness to the template (1.0: an "
        "exact copy)"
    )
    ranks = [line.split() for line in plain.stdout.splitlines()[2:5]]
    assert ["3", "105", "95"] == ranks[2][:3]  # the copy itself is only third by raw sums
    for chosen in (["--method", "raw"], ["--method", "ncc"]):  # a method given: no note
        told = run(samples / "coins.png", "--template", coin, "--top", "3", *chosen)
        assert told.exit_code == 0 and "note:" not in told.stderr, told.stderr
    kernel = run(samples / "coins.png", "-k", "curve", "--top", "3")  # the article's raw use
    assert kernel.exit_code == 0 and "note:" not in kernel.stderr
    quiet = run(samples / "coins.png", "--template", coin, "--top", "3", "-q")
    assert quiet.stderr == ""


def test_pictures_and_raw_map_are_written(samples, tmp_path):
    heat, over, raw = tmp_path / "heat.png", tmp_path / "over.png", tmp_path / "resp.npy"
    result = run(
        samples / "coins.png", "--kernel", "log:9:2", "--heatmap", heat, "--overlay", over,
        "--raw", raw, "--top", "5", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    values = np.load(raw)
    assert (*values.shape, 1) == (303 - 8, 384 - 8, 1) == tuple(doc["map_shape"])
    assert doc["map_range"] == pytest.approx([values.min(), values.max()])
    # the LoG response has both signs: the diverging map, centred on 0, reaching the
    # 99.5th percentile of |value| (raw maps)
    lo, hi = doc["colormap"]["range"]
    assert doc["colormap"]["name"] == "rdbu" and lo == -hi
    assert hi == pytest.approx(np.percentile(np.abs(values), 99.5))
    assert doc["colormap"]["percentile"] == 99.5
    assert f"colour map rdbu over [{lo:.6g}, {hi:.6g}]" in result.stderr
    heat_px = np.asarray(Image.open(heat))
    top = render.CAPTION_HEIGHT
    # the map itself, below the caption strip, one pixel per window (295 >= 256: not enlarged)
    mapped = render.colorize(values, cmap="rdbu", lo=lo, hi=hi)
    np.testing.assert_array_equal(heat_px[top : top + 295, :376], mapped)
    over_px = np.asarray(Image.open(over))
    assert over_px.shape[0] == 303 + top and over_px.shape[1] > 384
    best = doc["peaks"][0]
    assert doc["outputs"] == {"heatmap": str(heat), "overlay": str(over), "raw": str(raw)}
    assert doc["enlarged"] == {"heatmap": 1, "overlay": 1} and doc["same_size"] is None
    # the best peak's box is drawn in yellow around the window centre
    r, c = best["row"] + 4 + top, best["col"] + 4
    box = over_px[max(r - 8, 0) : r + 9, max(c - 8, 0) : c + 9].reshape(-1, 3)
    assert ((box == [255, 221, 0]).all(axis=1)).any()


def test_heatmap_has_a_colour_bar_and_a_caption(samples, tmp_path):
    heat = tmp_path / "heat.png"
    result = run(samples / "coins.png", "--template", samples / "crops" / "coin.png",
                 "--method", "ncc", "--heatmap", heat, "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    lo, hi = doc["colormap"]["range"]
    px = np.asarray(Image.open(heat)).astype(int)
    top, h, w = render.CAPTION_HEIGHT, 303 - 44, 384 - 44
    c0 = w + render.BAR_GAP
    bar = px[top : top + h, c0 : c0 + render.BAR_WIDTH]
    lut = render.colormap_lut("rdbu")
    # the bar's ends are the colour map's ends: hi on top, lo at the bottom
    assert (bar[0] == lut[255]).all() and (bar[-1] == lut[0]).all()
    assert (lo, hi) == (pytest.approx(-1.0), pytest.approx(1.0))
    # tick labels: dark pixels right of the bar; the caption: dark pixels in its strip
    labels = px[top : top + h, c0 + render.BAR_WIDTH + 4 :]
    assert (labels.max(axis=2) < 128).sum() > 50
    strip = px[:top]
    assert (strip.max(axis=2) < 128).sum() > 100
    assert (strip[:, -5:] == 255).all()  # white background beyond the text
    caption = render.with_caption(np.zeros((1, 1, 3), np.uint8),
                                  "cnnfilter detect coins.png: template coin.png (45x45), "
                                  "method ncc")[:top]  # fmt: skip
    np.testing.assert_array_equal(strip[:, : caption.shape[1]], caption)


def test_small_maps_are_enlarged_and_same_size_pads_to_the_image(samples, tmp_path):
    heat, over, raw = tmp_path / "heat.png", tmp_path / "over.png", tmp_path / "r.npy"
    drawing = samples / "article" / "curve_drawing.png"  # 40 x 50, curve 7x7: map 34 x 44
    result = run(drawing, "--kernel", "curve", "--heatmap", heat, "--overlay", over,
                 "--raw", raw, "--same-size", "--pad-value", "-1", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    full = np.load(raw)
    assert full.shape == (40, 50)
    assert doc["same_size"] == {"padding": [3, 3, 3, 3], "value": -1.0}
    # the window at top-left (10, 20) is centred on (13, 23); the border holds the pad value
    assert full[13, 23] == 6600 and (full[:3] == -1).all() and (full[:, -3:] == -1).all()
    assert doc["enlarged"] == {"heatmap": 7, "overlay": 7}  # ceil(256 / 40)
    assert "heatmap enlarged 7x (nearest neighbour)" in result.stderr
    heat_px = np.asarray(Image.open(heat))
    top = render.CAPTION_HEIGHT
    body = heat_px[top : top + 280, :350]
    assert heat_px.shape[0] == top + 40 * 7
    # nearest neighbour: 7 x 7 blocks of one colour
    blocks = body.reshape(40, 7, 50, 7, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()
    assert np.asarray(Image.open(over)).shape[0] == top + 280


def test_raw_map_as_float_tiff(samples, tmp_path):
    out = tmp_path / "resp.tif"
    result = run(samples / "camera.png", "--kernel", "sobel-x", "--raw", out)
    assert result.exit_code == 0, result.stderr
    arr = np.asarray(Image.open(out))
    assert arr.dtype == np.float32 and arr.shape == (510, 510)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give exactly one pattern"),
        (["--kernel", "curve", "--kernel-file", "k.txt"], "give exactly one pattern"),
        (["--kernel", "nope"], "unknown kernel 'nope'"),
        (["--kernel", "box:3", "--raw", "x.png"], "must end in .npy or .tif"),
        (["--kernel", "box:3", "--heatmap", "x.npy"], "writes a picture"),
        (["--kernel", "box:3", "--top", "0"], "Invalid value for '--top'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(samples, extra, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(samples / "camera.png", *extra)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_refuses_to_overwrite_input_or_existing_output(samples, tmp_path):
    result = run(samples / "camera.png", "--kernel", "box", "--heatmap", samples / "camera.png")
    assert result.exit_code == 2 and "never overwrites its input" in result.stderr
    existing = tmp_path / "heat.png"
    existing.write_bytes(b"keep")
    result = run(samples / "camera.png", "--kernel", "box", "--heatmap", existing)
    assert result.exit_code == 2 and "--force" in result.stderr
    assert existing.read_bytes() == b"keep"
    result = run(samples / "camera.png", "--kernel", "box", "--heatmap", existing, "--force")
    assert result.exit_code == 0 and existing.read_bytes()[:4] == b"\x89PNG"


def test_template_larger_than_image_or_colour_on_gray(samples, tmp_path):
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((600, 10), dtype=np.uint8)).save(big)
    result = run(samples / "camera.png", "--template", big)
    assert result.exit_code == 2 and "larger than the image" in result.stderr
    colour = tmp_path / "colour.png"
    Image.fromarray(np.zeros((5, 5, 3), dtype=np.uint8)).save(colour)
    result = run(samples / "camera.png", "--template", colour)
    assert result.exit_code == 2 and "use a gray template" in result.stderr


def test_corrupt_image_exits_1(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    result = run(bad, "--kernel", "box")
    assert result.exit_code == 1 and result.stderr.startswith("Error: ")


def test_flat_template_is_reported_and_gives_no_peaks(samples, tmp_path):
    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((6, 6), 9, dtype=np.uint8)).save(flat)
    result = run(samples / "camera.png", "--template", flat, "--method", "ncc", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["flat_template"] is True and doc["peaks"] == [] and doc["map_range"] == [0.0, 0.0]
    assert "the template is flat" in result.stderr


def test_detect_runs_as_a_real_process(drawing):
    proc = subprocess.run(
        [sys.executable, "-m", "cnnfilter", "detect", str(drawing), "--kernel", "curve", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["peaks"][0]["score"] == 6600.0


def test_fewer_peaks_than_asked_for_says_how_many_of_how_many(drawing):
    result = run(drawing, "--kernel", "curve", "--method", "raw", "--top", "3")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "1 peak (1 of the 3 asked for) of curve (raw)"
    assert "rank  row  col  score\n   1   10   20   6600\n" in result.stdout
    one = run(drawing, "--kernel", "curve", "--method", "raw", "--top", "1")
    assert one.stdout.splitlines()[0] == "1 peak of curve (raw)"


def test_all_peaks_found_is_titled_top_k(samples):
    result = run(samples / "coins.png", "--kernel", "laplacian", "--top", "4")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "top 4 peaks of laplacian (raw)"


def test_transparent_template_corner_is_a_mask_and_the_exact_copy_scores_1(tmp_path):
    rng = np.random.default_rng(4)
    scene = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(scene).save(tmp_path / "scene.png")
    rgba = np.dstack([scene[20:36, 30:46], np.full((16, 16), 255, np.uint8)])
    rgba[:3, :3] = 0  # the top-left 3x3 is transparent (colour 0 under it)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    args = ("--template", tmp_path / "t.png", "--method", "ncc", "--threshold", "0.9", "--json")
    result = run(tmp_path / "scene.png", *args)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["pattern"]["mask"] == "alpha"
    assert [(p["row"], p["col"]) for p in doc["peaks"]] == [(20, 30)]
    assert doc["peaks"][0]["score"] == pytest.approx(1.0, abs=1e-9)
    assert "template alpha used as a mask" in result.stderr


def test_template_as_large_as_the_image_reports_its_one_score(tmp_path):
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (20, 30), dtype=np.uint8)).save(tmp_path / "a.png")
    result = run(tmp_path / "a.png", "--template", tmp_path / "a.png", "--method", "ncc", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["map_shape"] == [1, 1, 1]
    assert [(p["rank"], p["row"], p["col"]) for p in doc["peaks"]] == [(1, 0, 0)]
    assert doc["peaks"][0]["score"] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("method", ["raw", "ncc"])
def test_nan_in_a_feature_map_spoils_only_the_windows_over_it(tmp_path, method):
    rng = np.random.default_rng(6)
    fmap = rng.random((30, 40))
    fmap[5, 6] = np.nan
    np.save(tmp_path / "f.npy", fmap)
    np.save(tmp_path / "k.npy", rng.random((4, 4)))
    result = run(tmp_path / "f.npy", "--kernel-file", tmp_path / "k.npy", "--method", method,
                 "--raw", tmp_path / "m.npy", "--heatmap", tmp_path / "h.png",
                 "--overlay", tmp_path / "o.png", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    values = np.load(tmp_path / "m.npy")
    covered = np.zeros((27, 37), dtype=bool)
    covered[2:6, 3:7] = True
    np.testing.assert_array_equal(np.isnan(values), covered)
    assert doc["map_range"] == [float(np.nanmin(values)), float(np.nanmax(values))]
    assert all(not covered[p["row"], p["col"]] for p in doc["peaks"])
    assert "16 cells NaN or inf" in result.stderr
    assert "nan" not in doc["colormap"]["range"].__repr__()
