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

from cnnfilter.errors import UsageError

__all__ = ["BOUNDARY_MODES", "BOUNDARY_ALIASES", "canonical_boundary", "numpy_pad_mode"]

#: The canonical modes and the ``numpy.pad`` mode that implements each.
BOUNDARY_MODES: dict[str, str] = {
    "symmetric": "symmetric",
    "mirror": "reflect",
    "edge": "edge",
    "wrap": "wrap",
    "constant": "constant",
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


def canonical_boundary(name: str) -> str:
    """Return the canonical boundary mode for ``name`` or any alias above.

    Raises:
        UsageError: for the ambiguous ``reflect`` and for unknown names; the
            message lists the valid choices.

    >>> canonical_boundary("symm"), canonical_boundary("BORDER_REFLECT_101")
    ('symmetric', 'mirror')
    """
    key = str(name).strip().lower().replace("_", "-")
    if key.startswith("cv2.") or key.startswith("cv."):
        key = key.split(".", 1)[1]
    if key in BOUNDARY_MODES:
        return key
    if key in BOUNDARY_ALIASES:
        return BOUNDARY_ALIASES[key]
    if key == "reflect":
        raise UsageError(
            "boundary 'reflect' is ambiguous: scipy.ndimage's repeats the edge pixel "
            "(use 'symmetric', c b a | a b c d) while numpy's and PyTorch's do not "
            "(use 'mirror', d c b | a b c d)"
        )
    raise UsageError(
        f"unknown boundary mode {name!r}; use one of {', '.join(BOUNDARY_MODES)} "
        "(or a scipy/numpy/OpenCV/PyTorch alias such as symm, nearest, replicate, circular)"
    )


def numpy_pad_mode(boundary: str) -> str:
    """The ``numpy.pad`` mode implementing a boundary mode or alias.

    >>> numpy_pad_mode("mirror")
    'reflect'
    """
    return BOUNDARY_MODES[canonical_boundary(boundary)]
