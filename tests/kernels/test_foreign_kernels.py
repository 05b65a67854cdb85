"""Kernel names from scikit-image, OpenCV and ImageMagick: matrices, axes and signs (issue 18).

References: the kernels printed in skimage.filters' docstrings (and the /4, /16, /3 of its
code), OpenCV's getDerivKernels values as its documentation and source give them, and
ImageMagick itself (``convert``, when installed) for its kernel strings.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from cnnfilter.engine.filtering import convolve, correlate
from cnnfilter.errors import UsageError
from cnnfilter.foreign_kernels import FOREIGN_NAMES, opencv_deriv_kernels
from cnnfilter.kernels import resolve_kernel, suggestions

from helpers import invoke

RNG = np.random.default_rng(18)
IMAGE = RNG.integers(0, 256, size=(12, 15)).astype(np.float64)

# -- scikit-image ----------------------------------------------------------------------

#: The kernels of skimage.filters' Notes, with the normalisation of its code.
SKIMAGE = {
    "sobel_h": np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]) / 4,
    "sobel_v": np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]]) / 4,
    "prewitt_h": np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]]) / 3,
    "prewitt_v": np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]]) / 3,
    "scharr_h": np.array([[3, 10, 3], [0, 0, 0], [-3, -10, -3]]) / 16,
    "scharr_v": np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]]) / 16,
}


@pytest.mark.parametrize("name", sorted(SKIMAGE))
def test_skimage_names_give_skimage_results(name):
    k = resolve_kernel(name)
    np.testing.assert_array_equal(k.weights, SKIMAGE[name])
    # skimage: ndi.convolve(image, kernel, mode='reflect'); cnnfilter: convolve, symmetric
    expected = ndimage.convolve(IMAGE, SKIMAGE[name], mode="reflect")
    got = convolve(IMAGE, k.weights, boundary="symmetric")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(("name", "axis"), [("sobel_h", 0), ("sobel_v", 1), ("scharr_h", 0)])
def test_skimage_axis_and_sign(name, axis):
    ramp = np.indices((9, 9))[axis].astype(np.float64) * 10  # brighter downwards / rightwards
    out = convolve(ramp, resolve_kernel(name).weights, boundary="symmetric")
    assert out[4, 4] == pytest.approx(20.0)  # (ramp[+1] - ramp[-1]) x smoothing sum 1
    other = np.indices((9, 9))[1 - axis].astype(np.float64)
    assert np.all(convolve(other, resolve_kernel(name).weights, boundary="symmetric") == 0)


# -- OpenCV ----------------------------------------------------------------------------

#: getDerivKernels(dx, dy, ksize) as OpenCV documents and builds them: (kx, ky).
PUBLISHED = {
    (1, 0, 3): ([-1, 0, 1], [1, 2, 1]),
    (0, 1, 3): ([1, 2, 1], [-1, 0, 1]),
    (2, 0, 3): ([1, -2, 1], [1, 2, 1]),
    (1, 0, 5): ([-1, -2, 0, 2, 1], [1, 4, 6, 4, 1]),
    (2, 0, 5): ([1, 0, -2, 0, 1], [1, 4, 6, 4, 1]),
    (1, 1, 5): ([-1, -2, 0, 2, 1], [-1, -2, 0, 2, 1]),
    (1, 0, 7): ([-1, -4, -5, 0, 5, 4, 1], [1, 6, 15, 20, 15, 6, 1]),
    (2, 0, 7): ([1, 2, -1, -4, -1, 2, 1], [1, 6, 15, 20, 15, 6, 1]),
    (0, 2, 7): ([1, 6, 15, 20, 15, 6, 1], [1, 2, -1, -4, -1, 2, 1]),
    (1, 0, 1): ([-1, 0, 1], [1]),
    (1, 0, -1): ([-1, 0, 1], [3, 10, 3]),
}


@pytest.mark.parametrize(("args", "published"), PUBLISHED.items())
def test_opencv_deriv_kernels_match_the_published_values(args, published):
    kx, ky = opencv_deriv_kernels(*args)
    assert kx.tolist() == published[0] and ky.tolist() == published[1]


@pytest.mark.parametrize("args", sorted(PUBLISHED))
def test_opencv_deriv_kernels_match_cv2(args):
    cv2 = pytest.importorskip("cv2")
    kx, ky = cv2.getDerivKernels(*args)
    ours = opencv_deriv_kernels(*args)
    np.testing.assert_array_equal(ours[0], kx.ravel())
    np.testing.assert_array_equal(ours[1], ky.ravel())


@pytest.mark.parametrize("args", [(1, 0, 3), (0, 1, 3), (1, 1, 5), (1, 0, 7), (2, 0, 5), (1, 0, 1)])
def test_cv_sobel_under_convolution_is_cv2_sobel(args):
    # cv2.Sobel = filter2D (cross-correlation) with outer(ky, kx), border REFLECT_101
    kx, ky = PUBLISHED[args]
    expected = ndimage.correlate(IMAGE, np.outer(ky, kx), mode="mirror")
    k = resolve_kernel("cv-sobel:{}:{}:{}".format(*args))
    np.testing.assert_allclose(convolve(IMAGE, k.weights, boundary="mirror"), expected, atol=1e-3)
    np.testing.assert_allclose(
        correlate(IMAGE, k.weights[::-1, ::-1], boundary="mirror"), expected, atol=1e-3
    )


def test_cv2_sobel_itself_when_installed():
    cv2 = pytest.importorskip("cv2")
    img = IMAGE.astype(np.float32)
    for dx, dy, ksize in [(1, 0, 3), (0, 1, 5), (1, 1, 7)]:
        expected = cv2.Sobel(img, cv2.CV_64F, dx, dy, ksize=ksize)
        k = resolve_kernel(f"cv-sobel:{dx}:{dy}:{ksize}")
        np.testing.assert_allclose(convolve(img, k.weights, boundary="mirror"), expected, atol=1e-2)


def test_dx_dy_ksize_options_build_opencv_sobel(samples, tmp_path):
    shown = invoke("kernels", "Sobel", "--dx", "1", "--dy", "1", "--ksize", "5", "--json")
    assert shown.exit_code == 0, shown.stderr
    import json

    weights = np.array(json.loads(shown.stdout)["weights"])
    kx, ky = PUBLISHED[(1, 1, 5)]
    np.testing.assert_array_equal(weights, np.outer(ky, kx)[::-1, ::-1])
    bad = invoke(
        "apply", samples / "camera.png", "-k", "box", "--dx", "1", "-o", tmp_path / "o.png"
    )
    assert bad.exit_code == 2
    assert "--dx, --dy and --ksize build OpenCV's Sobel kernel" in bad.stderr


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cv-sobel:1:0:4", "ksize must be 1, 3, 5, 7 or -1"),
        ("cv-sobel:0:0:3", "not both 0"),
        ("cv-sobel:3:0:3", "too small for a derivative of order 3"),
        ("cv-sobel:1:1:-1", "Scharr"),
        ("Laplacian:4", "Laplacian:4 is not defined; use 0, 1, 2, 3, 5, 7, 15 or 19"),
        ("Sobel:30", "multiple of 45"),
        ("Gaussian:0x0", "SIGMA must be > 0"),
        ("3x3: 1,2,3", "needs 9 values, got 3"),
    ],
)
def test_bad_foreign_specs_are_one_clear_error(spec, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        resolve_kernel(spec)


# -- ImageMagick -----------------------------------------------------------------------

IM_LAPLACIAN_1 = [[0, -1, 0], [-1, 4, -1], [0, -1, 0]]  # documented: Laplacian:1


def test_imagemagick_names_as_documented():
    np.testing.assert_array_equal(resolve_kernel("Laplacian:1").weights, IM_LAPLACIAN_1)
    np.testing.assert_array_equal(
        resolve_kernel("Sobel").weights, [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
    )
    np.testing.assert_array_equal(
        resolve_kernel("Sobel:90").weights, [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
    )
    np.testing.assert_array_equal(
        resolve_kernel("3x3: 0,1,0 1,-4,1 0,1,0").weights, [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    )
    unsharp = resolve_kernel("Unsharp:1x1+0.5").weights
    gauss = resolve_kernel("Gaussian:1x1").weights
    expected = -0.5 * gauss
    expected[1, 1] += 1.5
    np.testing.assert_allclose(unsharp, expected)
    assert unsharp.sum() == pytest.approx(1.0)
    # the bare lower-case name stays cnnfilter's own 4-neighbour Laplacian
    np.testing.assert_array_equal(resolve_kernel("laplacian").weights, -np.array(IM_LAPLACIAN_1))


def test_gaussian_from_sigma_only_uses_the_size_rule():
    from cnnfilter.foreign_kernels import gaussian_size_for_sigma
    from cnnfilter.kernels import gaussian_kernel

    k = resolve_kernel("Gaussian:0x2").weights
    size = gaussian_size_for_sigma(2.0)
    assert k.shape == (size, size)
    np.testing.assert_allclose(k, gaussian_kernel(size, 2.0))


CONVERT = shutil.which("convert")
needs_convert = pytest.mark.skipif(CONVERT is None, reason="ImageMagick's convert not installed")

IM_SPECS = [
    *(f"Laplacian:{n}" for n in (0, 1, 2, 3, 5, 7, 15, 19)),
    "Sobel", "Sobel:45", "Sobel:90", "Sobel:180", "3x3: 0,1,0 1,-4,1 0,1,0", "Gaussian:2x1",
]  # fmt: skip


def imagemagick_kernel(spec: str) -> np.ndarray:
    """The kernel ImageMagick builds for ``spec``, read from its showkernel listing."""
    proc = subprocess.run(
        [CONVERT, "xc:", "-define", "morphology:showkernel=1", "-morphology", "Convolve", spec,
         "null:"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = [line.split(":", 1)[1].split() for line in proc.stderr.splitlines()
            if re.match(r"^\s*\d+:", line)]  # fmt: skip
    return np.array(rows, dtype=np.float64)


@needs_convert
@pytest.mark.parametrize("spec", IM_SPECS)
def test_kernel_matches_imagemagick_own(spec):
    np.testing.assert_allclose(resolve_kernel(spec).weights, imagemagick_kernel(spec), rtol=1e-5)


@needs_convert
@pytest.mark.parametrize(
    "spec", ["Laplacian:2", "Laplacian:5", "Sobel", "Sobel:45", "3x3: 0,1,0 1,-4,1 0,1,0"]
)
def test_filtered_image_matches_convert_morphology_convolve(spec, tmp_path):
    src = tmp_path / "in.png"
    noise = np.random.default_rng(5).integers(0, 256, size=(20, 24)).astype(np.uint8)
    Image.fromarray(noise).save(src)
    theirs = tmp_path / "im.png"
    subprocess.run(
        [CONVERT, str(src), "-morphology", "Convolve", spec, "-depth", "8", str(theirs)],
        check=True,
    )
    ours = tmp_path / "ours.png"
    result = invoke("apply", src, "-k", spec, "--boundary", "edge", "--range", "clip", "-o", ours)
    assert result.exit_code == 0, result.stderr
    a = np.asarray(Image.open(ours), dtype=np.int32)
    b = np.asarray(Image.open(theirs).convert("L"), dtype=np.int32)
    assert np.abs(a - b).max() <= 1


@needs_convert
def test_unsharp_matches_convert_unsharp(tmp_path):
    src = tmp_path / "in.png"
    noise = np.random.default_rng(5).integers(0, 256, size=(20, 24)).astype(np.uint8)
    Image.fromarray(noise).save(src)
    theirs = tmp_path / "im.png"
    subprocess.run(
        [CONVERT, str(src), "-unsharp", "2x1+1+0", "-depth", "8", str(theirs)], check=True
    )
    ours = tmp_path / "ours.png"
    spec = "Unsharp:2x1+1"
    result = invoke("apply", src, "-k", spec, "--boundary", "edge", "--range", "clip", "-o", ours)
    assert result.exit_code == 0, result.stderr
    a = np.asarray(Image.open(ours), dtype=np.int32)
    b = np.asarray(Image.open(theirs).convert("L"), dtype=np.int32)
    # ImageMagick's 1-D blur kernels are supersampled, not point-sampled: a hair apart,
    # which the gain of 2 on white noise doubles
    assert np.abs(a - b).max() <= 3 and np.abs(a - b).mean() < 0.5


# -- listing and suggestions -----------------------------------------------------------


def test_every_foreign_name_is_listed_with_its_convention():
    out = invoke("kernels", env={"COLUMNS": "200"}).stdout
    for entry in FOREIGN_NAMES:
        assert entry.usage in out, entry.usage
        assert entry.convention.split(" (")[0] in out


def test_typo_suggestions_name_only_listed_kernels():
    listed = invoke("kernels", env={"COLUMNS": "200"}).stdout
    from cnnfilter.kernels import ALIASES

    for typo in ("sobelz", "laplase", "gausian", "edge4", "sobel-z", "blurr", "scharr_x"):
        for name in suggestions(typo):
            assert name in listed, (typo, name)
            assert name not in ALIASES or name in listed
    message = invoke("kernels", "sobelz").stderr
    assert "sobelx" not in message.replace("'sobelz'", "")
