"""``forward`` with bad input: one ``Error:`` line, the documented exit code, no traceback,
and no file lost (the photo, the arch file, the weights are never overwritten; a failed
run leaves no partial folder)."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from cnnfilter.arch.names import check_layer
from cnnfilter.tasks import forward as fw

from helpers import error_line, invoke

KERNELS = "input: [8, 8, 1]\nlayers:\n  - conv2d: {name: c, kernels: [sobel-x, sobel-y]}\n"
NET = (
    "input: [8, 8, 3]\nlayers:\n  - conv2d: {name: c, filters: 2, kernel_size: 3}\n"
    "  - batchnorm2d: {name: b}\n  - flatten: {}\n  - dense: {name: d, units: 2}\n"
)


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(tmp_path / "gray.png")
    (tmp_path / "k.yaml").write_text(KERNELS)
    (tmp_path / "net.yaml").write_text(NET)
    good = {
        "c.weight": np.ones((2, 3, 3, 3), np.float32),
        "c.bias": np.zeros(2, np.float32),
        "b.running_mean": np.zeros(2, np.float32),
        "b.running_var": np.ones(2, np.float32),
        "b.weight": np.ones(2, np.float32),
        "b.bias": np.zeros(2, np.float32),
        "d.weight": np.ones((2, 200), np.float32),
        "d.bias": np.zeros(2, np.float32),
    }
    np.savez(tmp_path / "good.npz", **good)
    return tmp_path, good


def _conv(tmp_path, options: str, name="w.yaml"):
    path = tmp_path / name
    path.write_text(f"input: [8, 8, 1]\nlayers:\n  - conv2d: {{name: c, {options}}}\n")
    return path


# -- inline arrays in arch.yaml: refused at their line --------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("filters: 1, kernel_size: 1, weight: [[.nan]]", "weight: .nan is not a finite number"),
        ("filters: 1, kernel_size: 1, weight: [[.inf]]", "weight: .inf is not a finite number"),
        ("filters: 1, kernel_size: 1, weight: [[1.0e39]]", "1.0e39 is not a finite number"),
        ("filters: 1, kernel_size: 1, weight: [[1]], bias: [.nan]", "bias: .nan is not a finite"),
        ("filters: 1, kernel_size: 2, weight: [[1, 2], [3]]", "weight: rows of different"),
        ("filters: 1, kernel_size: 1, weight: [[[[[[1]]]]]]", "more than 4 levels"),
        ("filters: 1, kernel_size: 1, weight: [[abc]]", "'abc' is not a number"),
        ("kernels: [nosuch]", "unknown kernel 'nosuch'"),
        ("kernels: [none, none]", "every kernel is 'none'"),
        ("kernels: [sobel-x], weight: [[[1, 2, 1], [0, 0, 0], [1, 2, 1]]]",
         "both kernels: and weight: give this layer's filters"),
    ],
    ids=["nan", "inf", "beyond-float32", "bias-nan", "ragged", "deep", "string", "unknown",
         "all-none", "kernels-and-weight"],
)  # fmt: skip
def test_bad_inline_arrays_are_one_line_naming_the_file_line(files, options, message):
    tmp_path, _ = files
    arch = _conv(tmp_path, options)
    line = error_line(2, ["forward", arch, tmp_path / "gray.png", "-o", tmp_path / "out"])
    assert message in line and "w.yaml:3:" in line
    assert not (tmp_path / "out").exists()


def test_an_exponent_without_a_dot_is_a_number(files):
    """YAML 1.1 reads 1e-3 as text; a weight written so is the number it looks like."""
    tmp_path, _ = files
    arch = _conv(tmp_path, "filters: 1, kernel_size: 1, bias: false, weight: [[2e-1]]")
    out = tmp_path / "out"
    assert invoke("forward", arch, tmp_path / "gray.png", "-o", out, "--npz").exit_code == 0
    with np.load(out / "activations.npz") as data:
        x = np.asarray(Image.open(tmp_path / "gray.png"), np.float32) / 255
        np.testing.assert_allclose(data["c"][..., 0], 0.2 * x, rtol=1e-6)


def test_negative_running_var_is_refused(files):
    tmp_path, _ = files
    arch = tmp_path / "bn.yaml"
    arch.write_text(
        "input: [8, 8, 1]\nlayers:\n  - batchnorm2d: {name: b, running_mean: [0], "
        "running_var: [-1], weight: [1], bias: [0]}\n"
    )
    line = error_line(2, ["forward", arch, tmp_path / "gray.png", "-o", tmp_path / "out"])
    assert "running_var holds 1 negative value(s)" in line


def test_kernels_per_channel_of_the_wrong_length(files):
    tmp_path, _ = files
    arch = tmp_path / "pc.yaml"
    arch.write_text(
        "input: [8, 8, 3]\nlayers:\n  - conv2d: {name: c, kernels: [[sobel-x, none]]}\n"
    )
    line = error_line(2, ["forward", arch, tmp_path / "rgb.png", "-o", tmp_path / "out"])
    assert "names 2 kernels, one per input channel, but its input has 3" in line
    assert not (tmp_path / "out").exists()


# -- --weights FILE.npz ----------------------------------------------------------------------


def _bad_npz(tmp_path, good, kind):
    path = tmp_path / "bad.npz"
    if kind == "text":
        path.write_text("hello, I am not an archive\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = (tmp_path / "good.npz").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "npy":
        np.save(tmp_path / "one.npy", np.ones(3))
        os.replace(tmp_path / "one.npy", path)
    elif kind == "pickle":
        np.savez(path, **{**good, "c.weight": np.array([None, {"x": 1}], dtype=object)})
    elif kind == "member":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "x")
    else:  # a dtype or the values
        values = {
            "complex": np.ones((2, 3, 3, 3), np.complex64),
            "bool": np.ones((2, 3, 3, 3), bool),
            "text": np.array(["a", "b"]),
            "nan": np.full((2, 3, 3, 3), np.nan, np.float32),
            "overflow": np.full((2, 3, 3, 3), 1e300),
        }[kind]
        np.savez(path, **{**good, "c.weight": values})
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("text", "is not a .npz file"),
        ("empty", "is empty (0 bytes), not a .npz file"),
        ("truncated", "is truncated or not a .npz numpy can read"),
        ("npy", "is a single .npy array, not a .npz"),
        ("pickle", "cnnfilter never unpickles"),
        ("member", "its member 'readme.txt' is not a .npy array"),
        ("complex", "array 'c.weight' holds complex64 values"),
        ("bool", "array 'c.weight' holds bool values"),
        ("text", "is not a .npz file"),
        ("nan", "array 'c.weight' holds 54 value(s) that are NaN or inf"),
        ("overflow", "or beyond float32's range"),
    ],
)
def test_bad_weights_files_are_one_line(files, kind, message):
    tmp_path, good = files
    bad = _bad_npz(tmp_path, good, kind)
    args = ["forward", tmp_path / "net.yaml", tmp_path / "rgb.png", "-o", tmp_path / "out"]
    line = error_line(2, [*args, "--weights", bad])
    assert message in line and "--weights" in line
    assert not (tmp_path / "out").exists()


def test_weights_of_other_dtypes_are_converted_exactly(files):
    tmp_path, good = files
    for dtype in ("int32", "uint8", "float16", "float64"):
        np.savez(tmp_path / "w.npz", **{k: v.astype(dtype) for k, v in good.items()})
        loaded = fw.load_weights(tmp_path / "w.npz")
        assert all(loaded[k].dtype == np.float32 for k in good)
        np.testing.assert_array_equal(loaded["d.weight"], good["d.weight"])


def test_wrong_keys_list_what_the_file_holds_and_extra_keys_are_noted(files):
    tmp_path, good = files
    np.savez(tmp_path / "keys.npz", conv_weight=np.ones((2, 3, 3, 3)))
    args = ["forward", tmp_path / "net.yaml", tmp_path / "rgb.png", "-o", tmp_path / "out"]
    line = error_line(2, [*args, "--weights", tmp_path / "keys.npz"])
    assert "has no array 'c.weight' (it holds: conv_weight)" in line
    np.savez(tmp_path / "extra.npz", **good, **{"zz.weight": np.ones(3)})
    result = invoke(*args, "--weights", tmp_path / "extra.npz")
    assert result.exit_code == 0
    assert "arrays not used by any layer: zz.weight" in result.stderr


def test_a_misspelt_key_is_named_in_the_error_and_in_the_note(files):
    # without --init a layer left without weights names the array it probably is; with
    # --init the layer is filled at random and the note names what the array meant
    tmp_path, good = files
    args = ["forward", tmp_path / "net.yaml", tmp_path / "rgb.png", "-o", tmp_path / "out"]
    stored = {k: v for k, v in good.items() if k != "c.weight"}  # b.weight is as close
    np.savez(tmp_path / "typo.npz", **stored, **{"c.weigth": good["c.weight"]})
    line = error_line(2, [*args, "--weights", tmp_path / "typo.npz"])
    assert "has no array 'c.weight'" in line
    assert "did you mean 'c.weigth'? rename it 'c.weight'" in line
    stored = {k: v for k, v in good.items() if k != "b.running_var"}
    np.savez(tmp_path / "bn.npz", **stored, **{"b.runing_var": np.ones(2)})
    result = invoke(*args, "--weights", tmp_path / "bn.npz", "--init", "he")
    assert result.exit_code == 0, result.stderr
    assert (
        "arrays not used by any layer: b.runing_var (did you mean b.running_var?)" in result.stderr
    )


def test_a_layer_name_spelt_otherwise_is_named_in_the_note(tmp_path):
    # conv_1.weight for a layer named conv1: the weight is unused, the layer initialised
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(tmp_path / "g.png")
    (tmp_path / "n.yaml").write_text(
        "input: [6, 6, 1]\nlayers:\n  - conv2d: {name: conv1, filters: 1, kernel_size: 3}\n"
    )
    np.savez(tmp_path / "w.npz", **{"conv_1.weight": np.ones((1, 1, 3, 3))})
    args = ["forward", tmp_path / "n.yaml", tmp_path / "g.png", "-o", tmp_path / "out"]
    result = invoke(*args, "--weights", tmp_path / "w.npz", "--init", "he")
    assert result.exit_code == 0, result.stderr
    assert "conv_1.weight (did you mean conv1.weight?)" in result.stderr
    line = error_line(2, [*args, "--force", "--weights", tmp_path / "w.npz"])
    assert "did you mean 'conv_1.weight'? rename it 'conv1.weight'" in line


def test_a_layout_mismatch_names_the_other_layout(files):
    tmp_path, good = files
    np.savez(tmp_path / "k.npz", **{**good, "c.weight": np.ones((3, 3, 3, 2), np.float32)})
    args = ["forward", tmp_path / "net.yaml", tmp_path / "rgb.png", "-o", tmp_path / "out"]
    line = error_line(2, [*args, "--weights", tmp_path / "k.npz"])
    assert "has shape (3, 3, 3, 2)" in line and "give --weights-layout keras" in line
    line = error_line(2, [*args, "--weights", tmp_path / "good.npz", "--weights-layout", "keras"])
    assert "give --weights-layout torch" in line


def test_a_negative_seed_is_refused_and_init_without_seed_is_seed_0(files):
    tmp_path, _ = files
    args = ["forward", tmp_path / "net.yaml", tmp_path / "rgb.png", "-o", tmp_path / "out"]
    assert "--seed -1 is negative" in error_line(2, [*args, "--init", "he", "--seed", "-1"])
    result = invoke(*args, "--init", "he")
    assert result.exit_code == 0 and "(seed 0;" in result.stderr


# -- --layer, the photo, --npz ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["nope", "..", "a\0b", ""])
def test_an_unknown_layer_is_refused_before_any_work(files, name):
    tmp_path, _ = files
    args = ["forward", tmp_path / "k.yaml", tmp_path / "gray.png", "-o", tmp_path / "out"]
    line = error_line(2, [*args, "--layer", name])
    assert "is not a layer of" in line and "its layers are c" in line
    assert not (tmp_path / "out").exists()


def test_an_unknown_layer_names_the_closest_layers():
    # a near spelling (conv_1 for resnet18's conv1), or a part of an ONNX node's name (the
    # most alike first)
    names = ["bn1", "layer1.0.conv1", "/conv1/Conv", "fc"]
    with pytest.raises(fw.UsageError, match=r"did you mean /conv1/Conv, layer1\.0\.conv1\?"):
        check_layer("conv1", names, "model.onnx")
    with pytest.raises(fw.UsageError, match=r"did you mean conv1\?"):
        check_layer("conv_1", ["conv1", "bn1", "fc"], "net.yaml")
    with pytest.raises(fw.UsageError) as info:
        check_layer("zzz", ["conv1", "bn1"], "net.yaml")
    assert "did you mean" not in str(info.value) and "its layers are conv1, bn1" in str(info.value)


def test_a_photo_holding_nan_is_refused(files):
    tmp_path, _ = files
    a = np.ones((8, 8, 1), np.float32)
    a[2, 3] = np.nan
    np.save(tmp_path / "nan.npy", a)
    args = ["forward", tmp_path / "k.yaml", tmp_path / "nan.npy", "-o", tmp_path / "o"]
    line = error_line(2, args)
    assert "holds 1 value(s) that are NaN or inf (the first at row 2, column 3)" in line


def test_a_photo_beyond_float32_is_one_line_without_a_warning(files):
    # float64 1e300 cast to float32 printed NumPy's "RuntimeWarning: overflow encountered
    # in cast" (two lines of source) before the Error line
    tmp_path, _ = files
    np.save(tmp_path / "big.npy", np.full((8, 8, 1), 1e300))
    line = error_line(
        2, ["forward", tmp_path / "k.yaml", tmp_path / "big.npy", "-o", tmp_path / "o"]
    )
    assert line.endswith(
        "big.npy' holds values beyond float32's range (±3.4e38), which "
        "forward computes in: scale them down first"
    )
    assert not (tmp_path / "o").exists()


def test_arch_and_photo_both_from_stdin_is_one_line(files):
    # the arch took all of stdin; the photo then read nothing: "'<stdin>' is not an image
    # Pillow can read ... its first bytes match no image format", exit 1
    tmp_path, _ = files
    result = invoke("forward", "-", "-", "-o", tmp_path / "o", input=KERNELS)
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (
        "Error: arch and photo are both '-': standard input holds one file; give the other "
        "as a file\n"
    )


def test_a_photo_from_stdin_beyond_float32_is_named_standard_input(files):
    tmp_path, _ = files
    np.save(tmp_path / "big.npy", np.full((8, 8, 1), 1e300))
    result = invoke("forward", tmp_path / "k.yaml", "-", "-o", tmp_path / "o",
                    input=(tmp_path / "big.npy").read_bytes())  # fmt: skip
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("Error: standard input holds values beyond float32's")


@pytest.mark.parametrize("shape", [(8, 8, 0), (2, 2, 2, 2, 2), (0, 8, 1)])
def test_an_npy_photo_of_no_image_shape_is_refused(files, shape):
    tmp_path, _ = files
    np.save(tmp_path / "x.npy", np.zeros(shape, np.float32))
    line = error_line(2, ["forward", tmp_path / "k.yaml", tmp_path / "x.npy", "-o", tmp_path / "o"])
    assert "an image or feature map must be (H, W) or (H, W, C)" in line


def test_a_photo_smaller_than_the_network_needs_is_refused(files):
    tmp_path, _ = files
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "one.png")
    arch = tmp_path / "v.yaml"
    arch.write_text("input: [8, 8, 1]\nlayers:\n  - conv2d: {name: c, kernels: [box:5]}\n")
    line = error_line(2, ["forward", arch, tmp_path / "one.png", "-o", tmp_path / "out"])
    assert "output would be 0 x 0: input 1 x 1" in line


def test_nan_maps_from_overflow_are_shown_as_nan_with_a_note(files):
    """3e38, then x 10 (inf), then x 0 (NaN): the table says nan, a note names the layers."""
    tmp_path, _ = files
    np.save(tmp_path / "ones.npy", np.ones((4, 4, 1), np.float32))
    arch = tmp_path / "overflow.yaml"
    arch.write_text(
        "input: [4, 4, 1]\nlayers:\n"
        + "".join(
            f"  - conv2d: {{name: {n}, filters: 1, kernel_size: 1, bias: false, weight: [[{v}]]}}\n"
            for n, v in (("big", "3.0e38"), ("inf", "10"), ("nan", "0"))
        )
    )
    result = invoke("forward", arch, tmp_path / "ones.npy", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert "min 3e+38" in result.stdout and "min nan  max nan" in result.stdout
    assert "layer 'inf': 16 of 16 values are NaN or inf" in result.stderr
    assert "layer 'nan': 16 of 16 values are NaN or inf" in result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr


def test_npz_on_a_network_too_large_for_memory_is_refused_before_the_run(files, monkeypatch):
    from cnnfilter import imageio
    from cnnfilter.arch import load_network
    from cnnfilter.arch.calc import summarize
    from cnnfilter.arch.layers import Shape
    from cnnfilter.arch.shapes import trace

    tmp_path, _ = files
    args = ["forward", tmp_path / "k.yaml", tmp_path / "gray.png", "-o", tmp_path / "out", "--npz"]
    params = summarize(trace(load_network(tmp_path / "k.yaml", input_shape=Shape(12, 12, 1))))
    # one 10 x 10 x 2 map of float32: working memory 4 * params + 3 * 800 bytes; kept for
    # the .npz and then in it: 2 * 800 = 1600 bytes
    work = 4 * params.parameters + 3 * 800
    monkeypatch.setattr(imageio, "available_memory", lambda: work + 1599)
    line = error_line(2, args)
    assert "about 1.6 KiB for this network on a 12 x 12 x 1 photo" in line
    assert "more than the 1.6 KiB left" in line and "leave out --npz" in line
    assert not (tmp_path / "out").exists()
    monkeypatch.setattr(imageio, "available_memory", lambda: work - 1)
    assert "of memory (its weights and largest maps)" in error_line(2, args[:-1])
    monkeypatch.setattr(imageio, "available_memory", lambda: work + 1600)
    assert invoke(*args).exit_code == 0


def test_a_pass_of_too_many_multiply_adds_is_refused_before_the_run(files, monkeypatch):
    tmp_path, _ = files
    args = ["forward", tmp_path / "k.yaml", tmp_path / "gray.png", "-o", tmp_path / "out"]
    # 10 x 10 outputs x 2 filters x 3 x 3 taps = 1800 multiply-adds
    monkeypatch.setattr(fw, "MAX_FORWARD_MACS", 1799)
    assert "needs about 1.8e+03 multiply-adds" in error_line(2, args)
    monkeypatch.setattr(fw, "MAX_FORWARD_MACS", 1800)
    assert invoke(*args).exit_code == 0


# -- the output folder: never an input, never clobbered, nothing left by a failed run -------


def test_output_that_is_not_a_folder_is_refused(files):
    tmp_path, _ = files
    args = ["forward", tmp_path / "k.yaml", tmp_path / "gray.png", "-o"]
    for target, message in [
        (tmp_path / "gray.png", "is a file, not a folder"),
        (tmp_path / "k.yaml", "is a file, not a folder"),
        ("-", "is standard output; forward writes a folder"),
        (tmp_path / "gray.png" / "maps", "cannot be a folder (Not a directory)"),
    ]:
        assert message in error_line(2, [*args, target])
    if os.path.exists("/dev/null"):
        assert "is a device or special file, not a folder" in error_line(2, [*args, "/dev/null"])


def test_an_empty_output_is_refused_not_taken_as_the_current_folder(files, monkeypatch):
    # Path("") is "."; the run would have filled the working folder with montages
    tmp_path, _ = files
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    line = error_line(2, ["forward", tmp_path / "k.yaml", tmp_path / "gray.png", "-o", ""])
    assert line == (
        "Error: --output is empty; forward writes a folder of files (a montage per layer, "
        "summary.json): give a folder such as maps/"
    )
    assert os.listdir(work) == []
    with pytest.raises(fw.UsageError, match=r"output='' is empty"):
        fw.forward(tmp_path / "k.yaml", tmp_path / "gray.png", output="")
    assert os.listdir(work) == []


@pytest.mark.parametrize("force", [False, True])
def test_a_montage_named_like_the_photo_never_overwrites_it(files, force):
    """The photo in the output folder under a montage's name, or a link there to it."""
    tmp_path, _ = files
    out = tmp_path / "out"
    out.mkdir()
    (out / "01_c.png").symlink_to(tmp_path / "gray.png")
    before = (tmp_path / "gray.png").read_bytes()
    extra = ["--force"] if force else []
    for photo in (tmp_path / "gray.png", out / "01_c.png"):
        line = error_line(2, ["forward", tmp_path / "k.yaml", photo, "-o", out, *extra])
        assert "output '" in line and "01_c.png' is the input image" in line
    assert (tmp_path / "gray.png").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["01_c.png"]


def test_the_arch_and_weights_files_are_never_outputs(files):
    tmp_path, _ = files
    out = tmp_path / "out"
    out.mkdir()
    arch = out / "summary.yaml"
    arch.write_text(KERNELS)
    (out / "summary.json").symlink_to(arch)
    line = error_line(2, ["forward", arch, tmp_path / "gray.png", "-o", out, "--force"])
    assert "summary.json' is the arch file" in line
    assert arch.read_text() == KERNELS
    (out / "summary.json").unlink()
    weights = out / "activations.npz"
    os.replace(tmp_path / "good.npz", weights)
    data = weights.read_bytes()
    args = ["forward", tmp_path / "net.yaml", tmp_path / "rgb.png", "-o", out, "--force"]
    line = error_line(2, [*args, "--npz", "--weights", weights])
    assert "activations.npz' is the weights file" in line
    assert weights.read_bytes() == data


def test_existing_montages_are_kept_without_force_and_nothing_is_written(files):
    tmp_path, _ = files
    out = tmp_path / "out"
    out.mkdir()
    (out / "01_c.png").write_bytes(b"mine")
    line = error_line(2, ["forward", tmp_path / "k.yaml", tmp_path / "gray.png", "-o", out])
    assert "01_c.png' already exists; add --force" in line
    assert sorted(p.name for p in out.iterdir()) == ["01_c.png"]
    assert (out / "01_c.png").read_bytes() == b"mine"


def test_a_run_that_fails_midway_removes_what_it_wrote(files):
    """The first layer runs and is written, the second has no weights: no folder is left."""
    tmp_path, _ = files
    arch = tmp_path / "mid.yaml"
    arch.write_text(KERNELS + "  - flatten: {}\n  - dense: {name: d, units: 2}\n")
    out = tmp_path / "out"
    line = error_line(2, ["forward", arch, tmp_path / "gray.png", "-o", out])
    assert "layer 'd' (dense) has no weights" in line
    assert not out.exists()
    out.mkdir()
    (out / "mine.txt").write_text("x")
    error_line(2, ["forward", arch, tmp_path / "gray.png", "-o", out])
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]


def test_a_folder_without_write_permission_is_refused_before_the_run(files, monkeypatch):
    tmp_path, _ = files
    out = tmp_path / "ro"
    out.mkdir()
    real = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, m, **k: False if str(p) == str(out) and m & os.W_OK else real(p, m, **k),
    )
    line = error_line(2, ["forward", tmp_path / "k.yaml", tmp_path / "gray.png", "-o", out])
    assert "a folder you cannot write to (permission denied)" in line


def test_a_folder_that_cannot_be_made_is_exit_1(files, monkeypatch):
    from pathlib import Path

    tmp_path, _ = files

    def refuse(self, *a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refuse)
    args = ["forward", tmp_path / "k.yaml", tmp_path / "gray.png", "-o", tmp_path / "new"]
    line = error_line(1, args)
    assert "cannot create folder" in line and "Permission denied" in line


def test_long_and_odd_layer_names_make_short_safe_file_names(files):
    tmp_path, _ = files
    arch = tmp_path / "names.yaml"
    arch.write_text(
        "input: [8, 8, 1]\nlayers:\n"
        f"  - conv2d: {{name: {'é' * 200}, kernels: [sobel-x]}}\n"
        f"  - relu: {{name: {'é' * 199}x}}\n"
        "  - relu: {name: '..'}\n"
        '  - relu: {name: "a\\0/b"}\n'
    )
    out = tmp_path / "out"
    result = invoke("forward", arch, tmp_path / "gray.png", "-o", out)
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 5 and names[2:] == ["03_...png", "04_a__b.png", "summary.json"]
    assert names[0] != names[1] and all(len(n.encode()) <= 130 for n in names)
    assert fw.montage_name(1, "é" * 200) == fw.montage_name(1, "é" * 200)


def test_a_shape_error_from_a_photo_of_other_channels_says_so(files):
    """The arch file says 1 channel, the photo has 3: the inline filter no longer fits."""
    tmp_path, _ = files
    arch = _conv(tmp_path, "filters: 1, kernel_size: 1, weight: [[2]]")
    line = error_line(2, ["forward", arch, tmp_path / "rgb.png", "-o", tmp_path / "out"])
    assert "weight has shape (1, 1), it needs (1, 3, 1, 1)" in line
    assert "(the photo has 3 channel(s), the arch file's input: 1;" in line
    assert not (tmp_path / "out").exists()


def test_an_interrupted_run_leaves_no_partial_output(files, monkeypatch):
    """Ctrl-C while the second montage is drawn: exit 130, the first montage removed."""
    tmp_path, _ = files
    arch = tmp_path / "two.yaml"
    arch.write_text(KERNELS + "  - relu: {name: r}\n")
    drawn = []
    real = fw._montage_png

    def interrupt_second(node, y, *, scale):
        drawn.append(node.name)
        if len(drawn) == 2:
            raise KeyboardInterrupt
        return real(node, y, scale=scale)

    monkeypatch.setattr(fw, "_montage_png", interrupt_second)
    out = tmp_path / "out"
    result = invoke("forward", arch, tmp_path / "gray.png", "-o", out)
    assert result.exit_code == 130 and drawn == ["c", "r"]
    assert not out.exists()
