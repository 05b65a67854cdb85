"""Boundary modes: how an image is extended past its border before filtering.

Five modes, each shown on the row ``a b c d`` extended by three pixels:

============  ======================  =========================================
mode          extension               the same mode elsewhere
============  ======================  =========================================
symmetric     ``c b a | a b c d | d c b``  scipy.ndimage 'reflect', scipy.signal
                                      'symm' (the article), numpy 'symmetric',
                                      OpenCV BORDER_REFLECT
mirror        ``d c b | a b c d | c b a``  scipy.ndimage 'mirror', numpy 'reflect',
                                      OpenCV BORDER_REFLECT_101 (its default),
                                      PyTorch 'reflect'
edge          ``a a a | a b c d | d d d``  scipy.ndimage 'nearest', numpy 'edge',
                                      OpenCV BORDER_REPLICATE, PyTorch 'replicate'
wrap          ``b c d | a b c d | a b c``  scipy.ndimage 'wrap'/'grid-wrap', scipy.signal
                                      'wrap', numpy 'wrap', OpenCV BORDER_WRAP,
                                      PyTorch 'circular'
constant      ``k k k | a b c d | k k k``  scipy.ndimage 'constant'/'grid-constant',
                                      scipy.signal 'fill', numpy 'constant',
                                      OpenCV BORDER_CONSTANT, PyTorch 'zeros'
============  ======================  =========================================

The bare name ``reflect`` is refused: scipy.ndimage's 'reflect' repeats the
edge pixel (``symmetric`` here) while numpy's and PyTorch's do not (``mirror``
here). Spell the library (``ndimage-reflect``, ``numpy-reflect``,
``torch-reflect``) or use the unambiguous name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cnnfilter.errors import UsageError

if TYPE_CHECKING:  # numpy is imported where it is used: the CLI reads this table at start-up
    import numpy as np

__all__ = [
    "BOUNDARIES",
    "BOUNDARY_MODES",
    "BOUNDARY_ALIASES",
    "Boundary",
    "boundary_mode",
    "canonical_boundary",
    "numpy_pad_mode",
]


def _symmetric(q: np.ndarray, n: int) -> np.ndarray:
    import numpy as np

    m = q % (2 * n)
    return np.where(m < n, m, 2 * n - 1 - m)


def _mirror(q: np.ndarray, n: int) -> np.ndarray:
    import numpy as np

    if n == 1:
        return np.zeros_like(q)
    m = q % (2 * n - 2)
    return np.where(m < n, m, 2 * n - 2 - m)


def _edge(q: np.ndarray, n: int) -> np.ndarray:
    return q.clip(0, n - 1)


def _wrap(q: np.ndarray, n: int) -> np.ndarray:
    return q % n


def _constant(q: np.ndarray, n: int) -> np.ndarray:
    import numpy as np

    return np.where((q >= 0) & (q < n), q, -1)


@dataclass(frozen=True)
class Boundary:
    """One boundary mode: its picture, its ``numpy.pad`` twin and its index rule.

    Attributes:
        name: the canonical name.
        picture: the row ``a b c d`` extended by three pixels (``k`` = ``cval``).
        description: one line for help texts.
        numpy_mode: the ``numpy.pad`` mode that gives the same extension.
        source_index: ``source_index(q, n)``: for positions ``q`` (an integer
            array, 0 = the first pixel, negative before it) along an axis of
            ``n`` pixels, the index of the pixel each copies, or -1 where the
            constant ``cval`` goes. Periodic: period ``2n`` for symmetric,
            ``2n - 2`` for mirror, ``n`` for wrap.
    """

    name: str
    picture: str
    description: str
    numpy_mode: str
    source_index: Callable[[np.ndarray, int], np.ndarray]

    @property
    def fills(self) -> bool:
        """True when the outside is the constant ``cval`` rather than copied pixels."""
        return self.source_index is _constant


#: The one table of boundary modes; the tiled filters index through it.
BOUNDARIES: dict[str, Boundary] = {
    b.name: b
    for b in (
        Boundary("symmetric", "c b a | a b c d | d c b", "reflect, repeating the edge pixel "
                 "(scipy.ndimage 'reflect', scipy.signal 'symm')", "symmetric", _symmetric),
        Boundary("mirror", "d c b | a b c d | c b a", "reflect about the edge pixel "
                 "(numpy/PyTorch 'reflect', OpenCV's default)", "reflect", _mirror),
        Boundary("edge", "a a a | a b c d | d d d", "repeat the edge pixel "
                 "(scipy.ndimage 'nearest', PyTorch 'replicate')", "edge", _edge),
        Boundary("wrap", "b c d | a b c d | a b c", "tile the image periodically "
                 "(PyTorch 'circular')", "wrap", _wrap),
        Boundary("constant", "k k k | a b c d | k k k", "a constant value cval "
                 "(PyTorch 'zeros' for cval 0)", "constant", _constant),
    )
}  # fmt: skip

#: ``name -> one-line description`` of every canonical mode (for choices and help).
BOUNDARY_MODES: dict[str, str] = {
    name: f"{b.picture}: {b.description}" for name, b in BOUNDARIES.items()
}

#: Other libraries' names -> canonical mode. Keys are lower case, ``_`` -> ``-``.
BOUNDARY_ALIASES: dict[str, str] = {
    # scipy.signal
    "symm": "symmetric",
    "fill": "constant",
    "circular": "wrap",
    # scipy.ndimage
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
    # ImageMagick virtual-pixel names
    "tile": "wrap",
    "background": "constant",
}


def boundary_mode(name: str) -> Boundary:
    """The :class:`Boundary` for a canonical name or any alias above.

    Raises:
        UsageError: for the ambiguous ``reflect`` and for unknown names; the
            message lists the valid choices.

    >>> boundary_mode("BORDER_REFLECT_101").picture
    'd c b | a b c d | c b a'
    """
    key = str(name).strip().lower().replace("_", "-")
    if key.startswith("cv2.") or key.startswith("cv."):
        key = key.split(".", 1)[1]
    key = BOUNDARY_ALIASES.get(key, key)
    if key in BOUNDARIES:
        return BOUNDARIES[key]
    if key == "reflect":
        raise UsageError(
            "boundary 'reflect' is ambiguous: scipy.ndimage's repeats the edge pixel "
            "(use 'symmetric', c b a | a b c d) while numpy's and PyTorch's do not "
            "(use 'mirror', d c b | a b c d)"
        )
    raise UsageError(
        f"unknown boundary mode {name!r}; use one of {', '.join(BOUNDARIES)} "
        "(or a scipy/numpy/OpenCV/PyTorch alias such as symm, nearest, replicate, circular)"
    )


def canonical_boundary(name: str) -> str:
    """Return the canonical boundary mode for ``name`` or any alias above.

    Raises:
        UsageError: as :func:`boundary_mode`.

    >>> canonical_boundary("symm"), canonical_boundary("BORDER_REFLECT_101")
    ('symmetric', 'mirror')
    """
    return boundary_mode(name).name


def numpy_pad_mode(boundary: str) -> str:
    """The ``numpy.pad`` mode implementing a boundary mode or alias.

    Raises:
        UsageError: as :func:`boundary_mode`.

    >>> numpy_pad_mode("mirror")
    'reflect'
    """
    return boundary_mode(boundary).numpy_mode
