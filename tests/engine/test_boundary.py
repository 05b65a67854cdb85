"""Boundary modes and their aliases, on the row ``a b c d`` = ``1 2 3 4``.

Each mode is checked twice: through :func:`numpy_pad_mode` + ``np.pad`` and
through the engine itself (a 1x1 kernel with integer padding returns the
extended row), against the extension written out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnfilter.engine._tiled import build_tile, extend_index
from cnnfilter.engine.boundary import (
    BOUNDARIES,
    BOUNDARY_ALIASES,
    BOUNDARY_MODES,
    boundary_mode,
    canonical_boundary,
    numpy_pad_mode,
)
from cnnfilter.engine.filtering import correlate
from cnnfilter.engine.geometry import AxisGeometry
from cnnfilter.errors import UsageError

ROW = np.array([1.0, 2.0, 3.0, 4.0])  # a b c d
CVAL = 9.0

#: The row extended by three pixels on each side, written out by hand.
EXTENDED = {
    "symmetric": [3, 2, 1, 1, 2, 3, 4, 4, 3, 2],  # c b a | a b c d | d c b
    "mirror": [4, 3, 2, 1, 2, 3, 4, 3, 2, 1],  # d c b | a b c d | c b a
    "edge": [1, 1, 1, 1, 2, 3, 4, 4, 4, 4],  # a a a | a b c d | d d d
    "wrap": [2, 3, 4, 1, 2, 3, 4, 1, 2, 3],  # b c d | a b c d | a b c
    "constant": [9, 9, 9, 1, 2, 3, 4, 9, 9, 9],  # k k k | a b c d | k k k
}

#: Every alias and the canonical mode it must mean, written out independently.
EXPECTED_ALIASES = {
    # scipy.signal.convolve2d boundary names
    "symm": "symmetric",
    "fill": "constant",
    "circular": "wrap",
    # scipy.ndimage names
    "ndimage-reflect": "symmetric",
    "nearest": "edge",
    "grid-wrap": "wrap",
    "grid-constant": "constant",
    "grid-mirror": "symmetric",
    # numpy.pad
    "numpy-reflect": "mirror",
    # OpenCV
    "border-reflect": "symmetric",
    "reflect-101": "mirror",
    "reflect101": "mirror",
    "border-reflect-101": "mirror",
    "border-reflect101": "mirror",
    "border-default": "mirror",
    "border-replicate": "edge",
    "border-wrap": "wrap",
    "border-constant": "constant",
    # PyTorch
    "torch-reflect": "mirror",
    "replicate": "edge",
    "zeros": "constant",
    "zero": "constant",
    # ImageMagick
    "tile": "wrap",
    "background": "constant",
}


def extend_with_engine(boundary: str) -> list[float]:
    out = correlate(
        ROW[np.newaxis, :], np.ones((1, 1)), padding=(0, 0, 3, 3), boundary=boundary, cval=CVAL
    )
    return out[0].tolist()


@pytest.mark.parametrize("mode", sorted(EXTENDED))
def test_canonical_mode_extends_the_row_as_written(mode):
    np_mode = numpy_pad_mode(mode)
    kwargs = {"constant_values": CVAL} if np_mode == "constant" else {}
    assert np.pad(ROW, 3, mode=np_mode, **kwargs).tolist() == EXTENDED[mode]
    assert extend_with_engine(mode) == EXTENDED[mode]


def test_the_table_lists_exactly_the_five_modes():
    assert set(BOUNDARY_MODES) == set(EXTENDED)
    assert BOUNDARY_ALIASES == EXPECTED_ALIASES


@pytest.mark.parametrize(("alias", "mode"), sorted(EXPECTED_ALIASES.items()))
def test_alias_means_its_canonical_mode(alias, mode):
    assert canonical_boundary(alias) == mode
    assert extend_with_engine(alias) == EXTENDED[mode]


@pytest.mark.parametrize(
    ("spelling", "mode"),
    [
        ("SYMMETRIC", "symmetric"),
        (" Mirror ", "mirror"),
        ("BORDER_REFLECT_101", "mirror"),
        ("cv2.BORDER_REFLECT", "symmetric"),
        ("cv.BORDER_REPLICATE", "edge"),
        ("grid_wrap", "wrap"),
        ("Numpy_Reflect", "mirror"),
    ],
)
def test_names_are_case_and_separator_insensitive(spelling, mode):
    assert canonical_boundary(spelling) == mode


def test_article_boundary_symm_is_scipy_signal_symm():
    from scipy import signal

    # scipy.signal 'symm' on a 1x4 row with a 1x7 delta at the left end picks
    # the extension: the engine's symmetric must give the same numbers.
    delta = np.zeros((1, 7))
    delta[0, 0] = 1.0
    ref = signal.convolve2d(ROW[np.newaxis, :], delta, mode="same", boundary="symm")
    ours = correlate(ROW[np.newaxis, :], delta[:, ::-1], boundary="symm")
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("name", ["reflect", "REFLECT", "Reflect "])
def test_bare_reflect_is_refused_naming_both_meanings(name):
    with pytest.raises(UsageError, match=r"'reflect' is ambiguous") as info:
        canonical_boundary(name)
    message = str(info.value)
    assert "scipy.ndimage" in message and "symmetric" in message and "c b a | a b c d" in message
    assert "numpy" in message and "mirror" in message and "d c b | a b c d" in message


def test_bare_reflect_is_refused_by_the_engine():
    with pytest.raises(UsageError, match=r"ambiguous"):
        correlate(np.ones((3, 3)), np.ones((3, 3)), boundary="reflect")


@pytest.mark.parametrize("name", ["mirrror", "", "periodic", "reflect-102", "cv2.nothing"])
def test_unknown_boundary_is_refused_with_the_choices(name):
    with pytest.raises(UsageError, match=r"unknown boundary mode") as info:
        canonical_boundary(name)
    message = str(info.value)
    assert repr(name) in message
    for mode in EXTENDED:
        assert mode in message


def test_usage_error_is_a_value_error():
    with pytest.raises(ValueError):
        numpy_pad_mode("nope")


# ---------------------------------------------------------------- one table, used by the tiles

LETTERS = {1: "a", 2: "b", 3: "c", 4: "d", 9: "k"}


@pytest.mark.parametrize("mode", sorted(EXTENDED))
def test_table_picture_is_the_extension_written_out(mode):
    letters = [LETTERS[v] for v in EXTENDED[mode]]
    expected = " ".join(letters[:3]) + " | " + " ".join(letters[3:7]) + " | "
    assert BOUNDARIES[mode].picture == expected + " ".join(letters[7:])
    assert BOUNDARY_MODES[mode].startswith(BOUNDARIES[mode].picture + ": ")


@pytest.mark.parametrize("mode", sorted(EXTENDED))
@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_tiling_index_rule_equals_numpy_pad_for_wide_paddings(mode, n):
    width = 3 * n + 2  # wider than the image: the periodic cases
    axis = AxisGeometry(n, 1, 1, 1, width, width, n + 2 * width)
    index = extend_index(np.arange(n + 2 * width), axis, mode)
    source = np.arange(n)
    if mode == "constant":
        expected = np.pad(source, width, mode="constant", constant_values=-1)
    else:
        expected = np.pad(source, width, mode=numpy_pad_mode(mode))
    assert index.tolist() == expected.tolist()


def test_tiling_refuses_an_unknown_mode_instead_of_filling_with_cval():
    axis = AxisGeometry(4, 1, 1, 1, 2, 2, 8)
    with pytest.raises(UsageError, match=r"unknown boundary mode 'bogus'"):
        extend_index(np.arange(8), axis, "bogus")
    tile = np.empty((1, 8))
    with pytest.raises(UsageError, match=r"unknown boundary mode 'bogus'"):
        build_tile(ROW[np.newaxis, :], AxisGeometry(1, 1, 1, 1, 0, 0, 1), axis, 0, 1, 0, 8,
                   "bogus", 0.0, tile)  # fmt: skip


def test_aliases_reach_the_same_table_entry():
    for alias, mode in EXPECTED_ALIASES.items():
        assert boundary_mode(alias) is BOUNDARIES[mode]
