"""The named-kernel registry and the custom-kernel parser.

Fixed matrices are written out here as their sources print them: the table of
Wikipedia's "Kernel (image processing)" (the version the article shows),
Wikipedia's "Sobel operator", "Prewitt operator", "Roberts cross" and
"Discrete Laplace operator" pages, and GIMP's "Convolution Matrix" emboss.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import ndimage

from cnnfilter.engine.filtering import convolve
from cnnfilter.engine.separable import separate
from cnnfilter.errors import UsageError
from cnnfilter.kernels import (
    REGISTRY,
    gaussian_kernel,
    kernel_from_array,
    load_kernel_file,
    log_kernel,
    parse_kernel_text,
    resolve_kernel,
)

GAUSS5 = [
    [1, 4, 6, 4, 1],
    [4, 16, 24, 16, 4],
    [6, 24, 36, 24, 6],
    [4, 16, 24, 16, 4],
    [1, 4, 6, 4, 1],
]

#: name -> (matrix as its source prints it, factor in front of it)
FIXED = {
    "identity": ([[0, 0, 0], [0, 1, 0], [0, 0, 0]], 1),
    "edge-1": ([[1, 0, -1], [0, 0, 0], [-1, 0, 1]], 1),
    "edge-2": ([[0, 1, 0], [1, -4, 1], [0, 1, 0]], 1),
    "edge-3": ([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], 1),
    "sharpen": ([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], 1),
    "box-blur": ([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 1 / 9),
    "gaussian-3x3": ([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 1 / 16),
    "gaussian-5x5": (GAUSS5, 1 / 256),
    "unsharp-5x5": (
        [
            [1, 4, 6, 4, 1],
            [4, 16, 24, 16, 4],
            [6, 24, -476, 24, 6],
            [4, 16, 24, 16, 4],
            [1, 4, 6, 4, 1],
        ],
        -1 / 256,
    ),
    "vertical-lines": ([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], 1),
    "horizontal-lines": ([[-1, -1, -1], [0, 0, 0], [1, 1, 1]], 1),
    "sobel-x": ([[1, 0, -1], [2, 0, -2], [1, 0, -1]], 1),
    "sobel-y": ([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], 1),
    "prewitt-x": ([[1, 0, -1], [1, 0, -1], [1, 0, -1]], 1),
    "prewitt-y": ([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], 1),
    "scharr-x": ([[3, 0, -3], [10, 0, -10], [3, 0, -3]], 1),
    "scharr-y": ([[3, 10, 3], [0, 0, 0], [-3, -10, -3]], 1),
    "roberts": ([[1, 0], [0, -1]], 1),
    "roberts-anti": ([[0, 1], [-1, 0]], 1),
    "laplacian": ([[0, 1, 0], [1, -4, 1], [0, 1, 0]], 1),
    "laplacian-8": ([[1, 1, 1], [1, -8, 1], [1, 1, 1]], 1),
    "emboss": ([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], 1),
    # the article's curve detector (point 4): six taps of 30 along a curve
    "curve": (
        [
            [0, 0, 0, 0, 0, 30, 0],
            [0, 0, 0, 0, 30, 0, 0],
            [0, 0, 0, 30, 0, 0, 0],
            [0, 0, 0, 30, 0, 0, 0],
            [0, 0, 0, 30, 0, 0, 0],
            [0, 0, 0, 30, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0],
        ],
        1,
    ),
}
BLURS = ["box-blur", "gaussian-3x3", "gaussian-5x5"]
ZERO_SUM = [
    "edge-1", "edge-2", "edge-3", "vertical-lines", "horizontal-lines", "sobel-x", "sobel-y",
    "prewitt-x", "prewitt-y", "scharr-x", "scharr-y", "roberts", "roberts-anti", "laplacian",
    "laplacian-8",
]  # fmt: skip
PARAMETERISED = {"gaussian", "box", "log", "dog"}


def test_registry_holds_exactly_the_fixed_and_parameterised_kernels():
    assert set(REGISTRY) == set(FIXED) | PARAMETERISED


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_kernel_matches_its_source(name):
    matrix, factor = FIXED[name]
    weights = resolve_kernel(name).weights
    assert weights.dtype == np.float64
    np.testing.assert_allclose(weights, np.array(matrix, dtype=float) * factor, rtol=1e-15)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_entry_states_its_source_and_description(name):
    entry = REGISTRY[name]
    assert entry.source.strip() and entry.description.strip()
    k = resolve_kernel(name)
    assert k.source == entry.source


@pytest.mark.parametrize("name", BLURS + ["identity", "sharpen"])
def test_blur_identity_and_sharpen_sum_to_one(name):
    assert resolve_kernel(name).weights.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("name", ZERO_SUM)
def test_edge_detectors_sum_to_zero(name):
    assert resolve_kernel(name).weights.sum() == 0.0


def test_unsharp_and_emboss_sums():
    assert resolve_kernel("unsharp-5x5").weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert resolve_kernel("emboss").weights.sum() == 1.0


def test_fixed_kernels_cannot_be_changed_through_a_result():
    resolve_kernel("sobel-x").weights[0, 0] = 99.0
    assert resolve_kernel("sobel-x").weights[0, 0] == 1.0


def test_sobel_signs_under_convolution():
    ramp_right = np.tile(np.arange(6.0), (6, 1))  # brightness rises to the right
    assert (convolve(ramp_right, resolve_kernel("sobel-x").weights, boundary="mirror")[1:-1, 1:-1]
            > 0).all()  # fmt: skip
    ramp_down = ramp_right.T
    assert (convolve(ramp_down, resolve_kernel("sobel-y").weights)[1:-1, 1:-1] > 0).all()
    assert (convolve(ramp_right, resolve_kernel("sobel-y").weights) == 0).all()


@pytest.mark.parametrize(
    ("name", "separable"),
    [
        ("sobel-x", True),
        ("sobel-y", True),
        ("prewitt-x", True),
        ("scharr-x", True),
        ("box-blur", True),
        ("gaussian-3x3", True),
        ("gaussian-5x5", True),
        ("edge-1", True),
        ("identity", True),
        ("gaussian:7:1.5", True),
        ("box:4", True),
        ("laplacian", False),
        ("laplacian-8", False),
        ("edge-3", False),
        ("sharpen", False),
        ("emboss", False),
        ("roberts", False),
        ("unsharp-5x5", False),
        ("log:9:1.4", False),
    ],
)
def test_separability(name, separable):
    w = resolve_kernel(name).weights
    parts = separate(w)
    assert (parts is not None) == separable
    if separable:
        col, row = parts
        np.testing.assert_allclose(np.outer(col, row), w, atol=1e-12)


def test_sobel_factors_are_smoothing_times_difference():
    col, row = separate(resolve_kernel("sobel-x").weights)
    np.testing.assert_allclose(np.outer(col / col[0], row * col[0]), FIXED["sobel-x"][0])
    np.testing.assert_allclose(col / col[0], [1, 2, 1])
    np.testing.assert_allclose(row * col[0], [1, 0, -1])


# ---------------------------------------------------------------- parameterised kernels


@pytest.mark.parametrize(("size", "sigma"), [(3, 1.0), (5, 1.0), (7, 1.5), (9, 2.0), (4, 1.0)])
def test_gaussian_matches_an_independent_formula(size, sigma):
    w = resolve_kernel(f"gaussian:{size}:{sigma}").weights
    assert w.shape == (size, size)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    c = (size - 1) / 2
    ref = np.array(
        [
            [math.exp(-((y - c) ** 2 + (x - c) ** 2) / (2 * sigma**2)) for x in range(size)]
            for y in range(size)
        ]
    )
    np.testing.assert_allclose(w, ref / ref.sum(), rtol=1e-12)
    np.testing.assert_allclose(w, w[::-1, ::-1])
    np.testing.assert_allclose(w, w.T)


@pytest.mark.parametrize(("radius", "sigma"), [(1, 1.0), (3, 1.5), (4, 0.8), (6, 2.0)])
def test_gaussian_matches_scipy_gaussian_filter_on_a_delta(radius, sigma):
    size = 2 * radius + 1
    delta = np.zeros((size + 4, size + 4))
    delta[size // 2 + 2, size // 2 + 2] = 1.0
    ref = ndimage.gaussian_filter(delta, sigma, mode="constant", radius=radius)
    ref = ref[2 : 2 + size, 2 : 2 + size]
    np.testing.assert_allclose(gaussian_kernel(size, sigma), ref, rtol=1e-10, atol=1e-15)


def test_gaussian_default_parameters_and_label():
    k = resolve_kernel("gaussian")  # sigma 1, size from sigma: 2 * round(4 * 1) + 1
    assert k.weights.shape == (9, 9)
    np.testing.assert_allclose(k.weights, gaussian_kernel(9, 1.0))
    assert resolve_kernel("gaussian:7:1.5").name == "gaussian:7:1.5"
    assert resolve_kernel("gaussian:7").weights.shape == (7, 7)
    assert resolve_kernel("gaussian::2").weights.shape == (17, 17)  # empty = from sigma
    assert resolve_kernel("gaussian-3x3").weights.shape == (3, 3)  # named kernels stay


@pytest.mark.parametrize("sigma", [0.3, 0.5, 0.8, 1.0, 1.4, 2.0, 2.5, 4.0, 6.3])
@pytest.mark.parametrize("name", ["gaussian", "log", "dog"])
def test_size_left_out_follows_scipy_ndimage_truncate_4(name, sigma):
    """The side is scipy's: gaussian_filter of a unit impulse reaches exactly as far."""
    delta = np.zeros((81, 81))
    delta[40, 40] = 1.0
    ref = ndimage.gaussian_filter(delta, sigma, mode="constant")  # truncate=4.0, scipy's default
    rows = np.nonzero(ref.any(axis=1))[0]
    side = rows[-1] - rows[0] + 1
    spec = {"gaussian": f"gaussian::{sigma}", "log": f"log::{sigma}"}.get(
        name, f"dog::{sigma / 2}:{sigma}"
    )
    w = resolve_kernel(spec).weights
    assert w.shape == (side, side)
    assert resolve_kernel(spec).notes == ()
    if name == "gaussian":
        np.testing.assert_allclose(
            w, ref[rows[0] : rows[-1] + 1, rows[0] : rows[-1] + 1], rtol=1e-10, atol=1e-15
        )


def test_the_issue_example_gaussian_sigma_4_spreads_4_pixels():
    w = resolve_kernel("gaussian::4").weights
    assert w.shape == (33, 33)
    x = np.arange(33) - 16
    spread = math.sqrt((w.sum(axis=0) * x**2).sum())
    assert spread == pytest.approx(4.0, abs=2e-3)  # 3.9987: the tails past 4 sigma are cut


@pytest.mark.parametrize(
    ("spec", "short"),
    [("gaussian:5:4", True), ("gaussian:9:2", False), ("gaussian:7:1.6", True),
     ("log:9:1.4", False), ("log:5:1.4", True), ("dog:9:1:3", True), ("dog:13:1:3", False),
     ("dog:9:3", True)],
)  # fmt: skip
def test_a_given_size_that_cuts_the_gaussian_short_is_noted(spec, short):
    notes = resolve_kernel(spec).notes
    assert bool(notes) == short
    if short:
        assert len(notes) == 1 and "cuts the Gaussian" in notes[0] and notes[0].startswith(spec)


@pytest.mark.parametrize("size", [1, 2, 3, 6])
def test_box_is_a_normalised_mean(size):
    w = resolve_kernel(f"box:{size}").weights
    assert w.shape == (size, size)
    assert (w == 1.0 / (size * size)).all()
    assert w.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(("size", "sigma"), [(9, 1.4), (5, 0.5), (15, 2.5), (6, 1.0)])
def test_log_is_zero_sum_with_a_negative_centre(size, sigma):
    w = log_kernel(size, sigma)
    assert abs(w.sum()) < 1e-12
    c = (size - 1) / 2
    r2 = (np.arange(size) - c)[:, None] ** 2 + (np.arange(size) - c)[None, :] ** 2
    raw = -1 / (math.pi * sigma**4) * (1 - r2 / (2 * sigma**2)) * np.exp(-r2 / (2 * sigma**2))
    np.testing.assert_allclose(w, raw - raw.mean(), rtol=1e-12, atol=1e-15)
    if size % 2:
        assert w[size // 2, size // 2] == w.min() < 0
    np.testing.assert_allclose(w, w.T)


@pytest.mark.parametrize("spec", ["dog", "dog:9:1:1.6", "dog:7:2:1", "dog:8:1:3"])
def test_dog_is_zero_sum_difference_of_gaussians(spec):
    w = resolve_kernel(spec).weights
    assert abs(w.sum()) < 1e-12
    size, s1, s2 = [13, 1.0, 1.6] if spec == "dog" else [float(v) for v in spec.split(":")[1:]]
    np.testing.assert_allclose(w, gaussian_kernel(size, s1) - gaussian_kernel(size, s2))


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("gaussian:0", r"SIZE must be a positive whole number, got 0"),
        ("gaussian:2.5", r"SIZE must be a positive whole number, got 2\.5"),
        (
            "gaussian:5:0",
            r"^kernel 'gaussian:5:0': SIGMA must be > 0, got 0 \(usage: gaussian:SIZE:SIGMA\)$",
        ),
        ("gaussian:5:-1", r"SIGMA must be > 0, got -1"),
        ("gaussian:5:x", r"SIGMA must be a number, got 'x' \(usage: gaussian:SIZE:SIGMA\)"),
        ("gaussian:5:nan", r"SIGMA must be finite"),
        ("gaussian:5:1:2", r"takes 2 parameters \(gaussian:SIZE:SIGMA\), got 3: .5:1:2."),
        ("gaussian:2000:3", r"SIZE 2000 is larger than the limit 1025"),
        (
            "box:-3",
            r"^kernel 'box:-3': SIZE must be a positive whole number, got -3 \(usage: box:SIZE\)$",
        ),
        (
            "dog:9:1:1",
            r"^kernel 'dog:9:1:1': SIGMA1 and SIGMA2 must differ, or the difference is 0 "
            r"everywhere \(usage: dog:SIZE:SIGMA1:SIGMA2\)$",
        ),
        ("dog:9:0:1", r"SIGMA1 must be > 0"),
        ("identity:3", r"'identity' takes no parameters, got 1: '3'; write just identity"),
    ],
)
def test_bad_parameters_are_refused(spec, match):  # the message names the kernel as typed
    with pytest.raises(UsageError, match=match):
        resolve_kernel(spec)


# ---------------------------------------------------------------- names, aliases, suggestions


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("SOBEL-X", "sobel-x"),
        ("sobel_x", "sobel-x"),
        ("sobelx", "sobel-x"),
        (" laplace ", "laplacian"),
        ("laplacian-4", "laplacian"),
        ("blur", "box-blur"),
        ("unsharp", "unsharp-5x5"),
    ],
)
def test_aliases_and_spellings(spelling, name):
    np.testing.assert_array_equal(resolve_kernel(spelling).weights, resolve_kernel(name).weights)


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("sobel-z", "sobel-x"),
        ("sobl-y", "sobel-y"),
        ("gausian", "gaussian"),
        ("lapalcian", "laplacian"),
        ("sharpn", "sharpen"),
        ("prewit-x", "prewitt-x"),
    ],
)
def test_unknown_name_suggests_the_closest(typo, suggestion):
    with pytest.raises(UsageError, match=r"unknown kernel") as info:
        resolve_kernel(typo)
    message = str(info.value)
    assert f"did you mean {suggestion}" in message or f", {suggestion}" in message
    assert "cnnfilter kernels" in message


def test_unknown_name_with_no_close_match_still_says_where_to_look():
    with pytest.raises(UsageError, match=r"unknown kernel 'qqqqqqq'; run 'cnnfilter kernels'"):
        resolve_kernel("qqqqqqq")


# ---------------------------------------------------------------- custom kernels


SOBEL = [[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]


@pytest.mark.parametrize(
    "text",
    [
        "[[1,0,-1],[2,0,-2],[1,0,-1]]",
        " [[1, 0, -1], [2, 0, -2], [1, 0, -1]] ",
        "1,0,-1;2,0,-2;1,0,-1",
        "1 0 -1; 2 0 -2; 1 0 -1",
        "# sobel\n1, 0, -1\n2, 0, -2\n\n1, 0, -1\n",
        "1\t0\t-1\n2\t0\t-2\n1\t0\t-1",
        "1.0,0e0,-1;2,+0,-2.0;1,0,-1",
    ],
)
def test_custom_kernel_text_forms(text):
    assert resolve_kernel(text).weights.tolist() == SOBEL
    assert parse_kernel_text(text).weights.tolist() == SOBEL


def test_custom_single_rows_and_rectangular_kernels():
    assert resolve_kernel("[1, 2, 3]").weights.tolist() == [[1.0, 2, 3]]
    assert resolve_kernel("-1,0,1").weights.tolist() == [[-1.0, 0, 1]]
    assert resolve_kernel(".5").weights.tolist() == [[0.5]]
    assert resolve_kernel("1;2;3;4").weights.shape == (4, 1)
    assert resolve_kernel("[[1,2],[3,4],[5,6]]").weights.shape == (3, 2)
    assert resolve_kernel("[[[1,2,3]],[[4,5,6]]]").weights.shape == (2, 1, 3)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[[1,2],[3]]", r"not a rectangular matrix of numbers"),
        ("1,2;3", r"ragged: its rows have \[1, 2\] entries"),
        ("1,a;3,4", r"'a' is not a number"),
        ('[[1,"a"],[3,4]]', r"'a' is not a number"),
        ("[[1,true],[3,4]]", r"True is not a number"),
        ("[[1,2],[3,4]", r"not valid JSON"),
        ("[[1,NaN],[3,4]]", r"contains NaN or inf"),
        ("[[1,Infinity]]", r"contains NaN or inf"),
        ("1,nan;3,4", r"contains NaN or inf"),
        ("1,inf;3,4", r"contains NaN or inf"),
        ("[]", r"must be a non-empty 2-D matrix"),
        ("[[]]", r"must be a non-empty 2-D matrix"),
        ("[[[[1]]]]", r"nested deeper than \(kh, kw, C\)|2-D matrix"),
    ],
)
def test_malformed_custom_kernels_are_refused(text, match):
    with pytest.raises(UsageError, match=match):
        resolve_kernel(text)


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_kernel_text_is_refused(text):
    with pytest.raises(UsageError, match=r"is empty"):
        parse_kernel_text(text)


def test_huge_kernels_are_refused():
    with pytest.raises(UsageError, match=r"above the limit 1025x1025"):
        kernel_from_array(np.zeros((1, 1026)))


@pytest.mark.parametrize("suffix", [".txt", ".csv", ".tsv", ".dat", ""])
def test_kernel_file_text_matrix(tmp_path, suffix):
    path = tmp_path / f"mine{suffix}"
    path.write_text("# my sobel\n1,0,-1\n2,0,-2\n1,0,-1\n", encoding="utf-8")
    k = load_kernel_file(path)
    assert k.weights.tolist() == SOBEL
    assert k.name == path.name


def test_kernel_file_space_separated_txt(tmp_path):
    path = tmp_path / "k.txt"
    np.savetxt(path, np.array(SOBEL))
    assert load_kernel_file(path).weights.tolist() == SOBEL


def test_kernel_file_json(tmp_path):
    path = tmp_path / "k.json"
    path.write_text(json.dumps(SOBEL), encoding="utf-8")
    assert load_kernel_file(path).weights.tolist() == SOBEL


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int16, np.uint8])
def test_kernel_file_npy(tmp_path, dtype):
    path = tmp_path / "k.npy"
    np.save(path, np.array([[1, 2], [3, 4]], dtype=dtype))
    w = load_kernel_file(path).weights
    assert w.dtype == np.float64 and w.tolist() == [[1.0, 2], [3, 4]]


def test_kernel_file_npy_3d(tmp_path):
    path = tmp_path / "k.npy"
    np.save(path, np.ones((3, 3, 3)))
    assert load_kernel_file(path).weights.shape == (3, 3, 3)


def test_kernel_file_errors(tmp_path):
    with pytest.raises(UsageError, match=r"kernel file '.*nothere\.txt' does not exist"):
        load_kernel_file(tmp_path / "nothere.txt")
    (tmp_path / "k.xlsx").write_bytes(b"PK\x03\x04")
    with pytest.raises(UsageError, match=r"unknown extension '\.xlsx'; use \.txt, \.csv"):
        load_kernel_file(tmp_path / "k.xlsx")
    (tmp_path / "ragged.csv").write_text("1,2,3\n4,5\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"kernel file '.*ragged\.csv' is ragged"):
        load_kernel_file(tmp_path / "ragged.csv")
    (tmp_path / "words.txt").write_text("one two\n", encoding="utf-8")
    with pytest.raises(
        UsageError,
        match=r"^kernel file '.*words\.txt', line 1: 'one' is not a number; write one row of "
        r"numbers per line, separated by commas or blanks \('#' starts a comment\)$",
    ):
        load_kernel_file(tmp_path / "words.txt")
    (tmp_path / "nan.csv").write_text("1,nan\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"contains NaN or inf"):
        load_kernel_file(tmp_path / "nan.csv")
    (tmp_path / "comments.txt").write_text("# nothing but a comment\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"'.*comments\.txt' has no rows; write one row"):
        load_kernel_file(tmp_path / "comments.txt")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(UsageError, match=r"is empty"):
        load_kernel_file(tmp_path / "empty.txt")
    (tmp_path / "bad.npy").write_bytes(b"not numpy at all")
    with pytest.raises(UsageError, match=r"'.*bad\.npy' is not a readable \.npy array"):
        load_kernel_file(tmp_path / "bad.npy")
    np.save(tmp_path / "obj.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    with pytest.raises(UsageError, match=r"is not a readable \.npy array"):
        load_kernel_file(tmp_path / "obj.npy")
    np.save(tmp_path / "cplx.npy", np.ones((2, 2), dtype=complex))
    with pytest.raises(UsageError, match=r"holds complex128 values, not numbers"):
        load_kernel_file(tmp_path / "cplx.npy")
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan]]))
    with pytest.raises(UsageError, match=r"contains NaN or inf"):
        load_kernel_file(tmp_path / "nan.npy")
    (tmp_path / "latin.txt").write_bytes(b"1,\xff\n")
    with pytest.raises(UsageError, match=r"cannot be read as text"):
        load_kernel_file(tmp_path / "latin.txt")
    with pytest.raises(UsageError, match=r"^kernel file '.*' is a directory, not a file$"):
        load_kernel_file(tmp_path)  # a directory is not a kernel file
