"""Kernel names from the tools people come from: scikit-image, OpenCV and ImageMagick.

Each name builds the matrix its tool documents, stored as cnnfilter stores
every kernel: **written for convolution**, so ``cnnfilter apply`` (whose
default is convolution) gives the tool's own result, sign included, with the
boundary mode named in :data:`FOREIGN_NAMES`' convention. Under
``--op correlate`` and in ``detect`` the antisymmetric ones flip sign.

=====================  ===============================================================
typed                  what it is
=====================  ===============================================================
``sobel_h`` ...        ``skimage.filters.sobel_h`` and friends: the kernel of their
                       Notes, normalised as their code does (Sobel /4, Scharr /16,
                       Prewitt /3); skimage applies it with ``ndi.convolve``, mode
                       'reflect' (cnnfilter ``--boundary symmetric``). ``_h``: axis 0,
                       horizontal edges, positive where brightness increases
                       downwards; ``_v``: axis 1, vertical edges, positive where it
                       increases to the right.
``cv-sobel:DX:DY:K``   ``cv2.Sobel(img, ddepth, DX, DY, ksize=K)``: the outer product
                       of ``cv2.getDerivKernels(DX, DY, K)`` (K = 1, 3, 5, 7, or -1
                       for Scharr), flipped, because OpenCV correlates (filter2D).
                       Positive where brightness increases to the right (DX) or
                       downwards (DY); OpenCV's border default is ``--boundary mirror``.
``Sobel[:ANGLE]``      ImageMagick's ``Sobel`` kernel ``1,0,-1 2,0,-2 1,0,-1``, turned
                       clockwise by ANGLE (a multiple of 45) as ImageMagick turns it.
``Laplacian:N``        ImageMagick's documented Laplacians, N = 0, 1, 2, 3, 5, 7, 15, 19
                       (4 and 6 are not defined).
``Gaussian:RxS``       ImageMagick's ``Gaussian:RADIUSxSIGMA``; radius 0: the size
                       follows sigma (cnnfilter's Gaussian size rule).
``Unsharp:RxS[+G]``    ImageMagick's ``-unsharp RxS+G+0`` as one kernel:
                       ``(1 + G) identity - G Gaussian`` (threshold 0).
``WxH: v,v v,v``       ImageMagick's user-defined kernel string (``3: ...`` for
                       a square); values row by row, separated by commas or blanks.
=====================  ===============================================================

ImageMagick's ``-morphology Convolve`` reflects the kernel (true
convolution), like cnnfilter's default; its ``Correlate`` is ``--op
correlate``; its default virtual pixels are ``--boundary edge``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cnnfilter.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ForeignName",
    "FOREIGN_NAMES",
    "resolve_foreign",
    "opencv_deriv_kernels",
    "opencv_sobel_spec",
    "imagemagick_laplacian",
    "gaussian_size_for_sigma",
]


@dataclass(frozen=True)
class ForeignName:
    """A kernel name another tool uses, as ``cnnfilter kernels`` lists it."""

    usage: str  # as typed, e.g. "cv-sobel:DX:DY:KSIZE"
    tool: str
    what: str
    convention: str

    @property
    def name(self) -> str:
        """The name before any ``:``: what completion and suggestions offer."""
        return self.usage.split(":")[0]


_SK = "scikit-image"
_SK_CONV = "as skimage.filters (ndi.convolve, mode 'reflect' = --boundary symmetric)"
_CV = "OpenCV"
_IM = "ImageMagick"
_IM_CONV = "as convert -morphology Convolve (virtual pixels edge = --boundary edge)"

FOREIGN_NAMES: list[ForeignName] = [
    ForeignName("sobel_h", _SK, "Sobel /4, axis 0: horizontal edges, + where brighter "
                "downwards", _SK_CONV),
    ForeignName("sobel_v", _SK, "Sobel /4, axis 1: vertical edges, + where brighter to the "
                "right", _SK_CONV),
    ForeignName("prewitt_h", _SK, "Prewitt /3, axis 0: horizontal edges, + downwards", _SK_CONV),
    ForeignName("prewitt_v", _SK, "Prewitt /3, axis 1: vertical edges, + to the right", _SK_CONV),
    ForeignName("scharr_h", _SK, "Scharr /16, axis 0: horizontal edges, + downwards", _SK_CONV),
    ForeignName("scharr_v", _SK, "Scharr /16, axis 1: vertical edges, + to the right", _SK_CONV),
    ForeignName("cv-sobel:DX:DY:KSIZE", _CV, "cv2.Sobel's kernel (getDerivKernels; KSIZE 1, 3, "
                "5, 7, or -1 for Scharr); also -k Sobel --dx --dy --ksize", "as cv2.Sobel "
                "(OpenCV correlates: stored flipped; border default = --boundary mirror)"),
    ForeignName("Sobel:ANGLE", _IM, "Sobel 1,0,-1 2,0,-2 1,0,-1, turned clockwise by ANGLE "
                "(multiple of 45)", _IM_CONV),
    ForeignName("Laplacian:N", _IM, "Laplacian N = 0 (8-neighbour), 1 (4-neighbour), 2, 3, 5 "
                "(5x5), 7 (7x7), 15 (5x5 LoG), 19 (9x9 LoG)", _IM_CONV),
    ForeignName("Gaussian:RADIUSxSIGMA", _IM, "Gaussian blur; radius 0: size from sigma",
                _IM_CONV),
    ForeignName("Unsharp:RADIUSxSIGMA+GAIN", _IM, "-unsharp as one kernel: (1+GAIN) identity "
                "- GAIN Gaussian (threshold 0)", "as convert -unsharp RxS+G+0 (--boundary "
                "edge)"),
    ForeignName("WxH: V,V,...", _IM, "user-defined kernel string, e.g. '3x3: 0,1,0 1,-4,1 "
                "0,1,0' or '3: ...'", _IM_CONV),
]  # fmt: skip

_SKIMAGE = {  # name -> (edge axis, smoothing weights, divisor), edge weights [1, 0, -1]
    "sobel_h": (0, (1, 2, 1), 4),
    "sobel_v": (1, (1, 2, 1), 4),
    "prewitt_h": (0, (1, 1, 1), 3),
    "prewitt_v": (1, (1, 1, 1), 3),
    "scharr_h": (0, (3, 10, 3), 16),
    "scharr_v": (1, (3, 10, 3), 16),
}


def _skimage(name: str) -> np.ndarray:
    """The kernel of ``skimage.filters.<name>`` (edges.py builds it the same way)."""
    import numpy as np

    axis, smooth, divisor = _SKIMAGE[name]
    edge = np.array([1.0, 0.0, -1.0])
    smooth_w = np.asarray(smooth, dtype=np.float64) / divisor
    return np.outer(edge, smooth_w) if axis == 0 else np.outer(smooth_w, edge)


def opencv_deriv_kernels(dx: int, dy: int, ksize: int) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.getDerivKernels(dx, dy, ksize)`` (normalize=False): ``(kx, ky)``, 1-D float64.

    The smoothing part is the binomial row of length ``ksize - order``; the
    derivative part ``order`` differences ``[-1, 1]`` (OpenCV's
    ``getSobelKernels``). ``ksize`` 1 means 3 taps on a derivative axis and 1
    on the other; ``ksize`` -1 is Scharr (``[-1, 0, 1]`` and ``[3, 10, 3]``).

    Raises:
        UsageError: ``ksize`` not 1, 3, 5, 7 or -1, an order below 0, no order,
            or an order the size cannot hold.

    >>> [k.tolist() for k in opencv_deriv_kernels(1, 0, 5)]
    [[-1.0, -2.0, 0.0, 2.0, 1.0], [1.0, 4.0, 6.0, 4.0, 1.0]]
    """
    import numpy as np

    if ksize not in (-1, 1, 3, 5, 7):
        raise UsageError(f"ksize must be 1, 3, 5, 7 or -1 (Scharr), got {ksize}")
    if dx < 0 or dy < 0 or dx + dy == 0:
        raise UsageError(f"dx and dy must be >= 0 and not both 0, got dx={dx}, dy={dy}")
    if ksize == -1:
        if dx + dy != 1:
            raise UsageError("ksize -1 (Scharr) needs dx + dy = 1")
        deriv, smooth = np.array([-1.0, 0.0, 1.0]), np.array([3.0, 10.0, 3.0])
        return (deriv, smooth) if dx else (smooth, deriv)

    def one(order: int) -> np.ndarray:
        size = 3 if ksize == 1 and order > 0 else ksize
        if order >= size:
            raise UsageError(f"ksize {ksize} is too small for a derivative of order {order}")
        k = np.ones(1)
        for _ in range(size - order - 1):
            k = np.convolve(k, [1.0, 1.0])
        for _ in range(order):
            k = np.convolve(k, [-1.0, 1.0])
        return k

    return one(dx), one(dy)


def _cv_sobel(args: list[str]) -> np.ndarray:
    import numpy as np

    values = _ints("cv-sobel", args, ("DX", "DY", "KSIZE"), (1, 0, 3))
    kx, ky = opencv_deriv_kernels(*values)
    return np.ascontiguousarray(np.outer(ky, kx)[::-1, ::-1])  # correlation -> convolution


def opencv_sobel_spec(kernel: str | None, dx: int | None, dy: int | None, ksize: int | None):
    """``-k Sobel --dx 1 --dy 0 --ksize 5`` as the spec ``cv-sobel:1:0:5``.

    Returns ``kernel`` unchanged when none of ``dx``, ``dy``, ``ksize`` is
    given. Defaults as cv2.Sobel's usual call: dx 1, dy 0, ksize 3.

    Raises:
        UsageError: ``dx``/``dy``/``ksize`` given with a kernel other than sobel.

    >>> opencv_sobel_spec("Sobel", 0, 1, None)
    'cv-sobel:0:1:3'
    """
    if dx is None and dy is None and ksize is None:
        return kernel
    if kernel is None or kernel.strip().lower() not in ("sobel", "cv-sobel"):
        raise UsageError(
            "dx=, dy= and ksize= build OpenCV's Sobel kernel: give them with kernel='Sobel'"
        )
    given_dx = dx if dx is not None else (0 if dy else 1)
    return f"cv-sobel:{given_dx}:{dy or 0}:{ksize if ksize is not None else 3}"


def _ints(name, args, labels, defaults) -> list[int]:
    if len(args) > len(labels):
        raise UsageError(f"kernel {name!r} takes {len(labels)} parameters ({':'.join(labels)})")
    values = []
    for i, label in enumerate(labels):
        text = args[i].strip() if i < len(args) else ""
        try:
            values.append(int(text) if text else defaults[i])
        except ValueError:
            raise UsageError(
                f"kernel {name!r}: {label} must be a whole number, got {text!r}"
            ) from None
    return values


_IM_LAPLACIANS = {
    0: [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    1: [[0, -1, 0], [-1, 4, -1], [0, -1, 0]],
    2: [[-2, 1, -2], [1, 4, 1], [-2, 1, -2]],
    3: [[1, -2, 1], [-2, 4, -2], [1, -2, 1]],
    5: [[-4, -1, 0, -1, -4], [-1, 2, 3, 2, -1], [0, 3, 4, 3, 0], [-1, 2, 3, 2, -1],
        [-4, -1, 0, -1, -4]],
    7: [[-10, -5, -2, -1, -2, -5, -10], [-5, 0, 3, 4, 3, 0, -5], [-2, 3, 6, 7, 6, 3, -2],
        [-1, 4, 7, 8, 7, 4, -1], [-2, 3, 6, 7, 6, 3, -2], [-5, 0, 3, 4, 3, 0, -5],
        [-10, -5, -2, -1, -2, -5, -10]],
    15: [[0, 0, -1, 0, 0], [0, -1, -2, -1, 0], [-1, -2, 16, -2, -1], [0, -1, -2, -1, 0],
         [0, 0, -1, 0, 0]],
    19: [[0, -1, -1, -2, -2, -2, -1, -1, 0], [-1, -2, -4, -5, -5, -5, -4, -2, -1],
         [-1, -4, -5, -3, 0, -3, -5, -4, -1], [-2, -5, -3, 12, 24, 12, -3, -5, -2],
         [-2, -5, 0, 24, 40, 24, 0, -5, -2], [-2, -5, -3, 12, 24, 12, -3, -5, -2],
         [-1, -4, -5, -3, 0, -3, -5, -4, -1], [-1, -2, -4, -5, -5, -5, -4, -2, -1],
         [0, -1, -1, -2, -2, -2, -1, -1, 0]],
}  # fmt: skip


def imagemagick_laplacian(n: int) -> np.ndarray:
    """ImageMagick's ``Laplacian:n`` (Anthony Thyssen's "Laplacian Kernels", IM Usage).

    Raises:
        UsageError: ``n`` not one of 0, 1, 2, 3, 5, 7, 15, 19.
    """
    import numpy as np

    if n not in _IM_LAPLACIANS:
        raise UsageError(
            f"ImageMagick's Laplacian:{n} is not defined; use 0, 1, 2, 3, 5, 7, 15 or 19"
        )
    return np.asarray(_IM_LAPLACIANS[n], dtype=np.float64)


def _turned(kernel: np.ndarray, angle: float) -> np.ndarray:
    """Turn clockwise by ``angle`` degrees as ImageMagick does (45-degree steps for 3x3)."""
    import numpy as np

    if angle % 45:
        raise UsageError(f"ANGLE must be a multiple of 45 degrees, got {angle:g}")
    steps = int(angle // 45) % 8
    k = np.rot90(kernel, -(steps // 2))
    if steps % 2:
        ring = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]
        values = [k[p] for p in ring]
        k = k.copy()
        for i, p in enumerate(ring):
            k[p] = values[i - 1]
    return np.ascontiguousarray(k)


def gaussian_size_for_sigma(sigma: float) -> int:
    """The side of a Gaussian kernel chosen from sigma alone: ``2 ceil(3 sigma) + 1``.

    One rule for every kernel built from sigma only (``Gaussian:0xSIGMA``).
    Merger: point this at the kernels module's own size-from-sigma rule.

    >>> gaussian_size_for_sigma(2.0)
    13
    """
    return 2 * math.ceil(3 * sigma) + 1


def _radius_sigma(name: str, text: str) -> tuple[float, float]:
    match = re.fullmatch(r"\s*([0-9.]*)\s*(?:x\s*([0-9.eE+-]+))?\s*", text)
    if not match:
        raise UsageError(f"{name}: write RADIUSxSIGMA, e.g. {name}:0x2, got {text!r}")
    try:
        radius = float(match[1]) if match[1] else 0.0
        sigma = float(match[2]) if match[2] else 1.0
    except ValueError:
        raise UsageError(f"{name}: write RADIUSxSIGMA, e.g. {name}:0x2, got {text!r}") from None
    if sigma <= 0 or not math.isfinite(sigma):
        raise UsageError(f"{name}: SIGMA must be > 0, got {text!r}")
    if radius != int(radius):
        raise UsageError(f"{name}: RADIUS must be a whole number, got {text!r}")
    return radius, sigma


def _im_gaussian(text: str, gaussian: Callable) -> np.ndarray:
    radius, sigma = _radius_sigma("Gaussian", text)
    size = 2 * int(radius) + 1 if radius else gaussian_size_for_sigma(sigma)
    return gaussian(size, sigma)


def _im_unsharp(text: str, gaussian: Callable) -> np.ndarray:
    geometry, _, gain_text = text.partition("+")
    gain_text = gain_text.split("+")[0]
    try:
        gain = float(gain_text) if gain_text else 1.0
    except ValueError:
        raise UsageError(f"Unsharp: GAIN must be a number, got {gain_text!r}") from None
    blur = _im_gaussian(geometry or "0x1", gaussian)
    identity = blur * 0
    identity[blur.shape[0] // 2, blur.shape[1] // 2] = 1.0
    return (1 + gain) * identity - gain * blur


_USER_DEFINED = re.compile(r"^\s*(\d+)(?:x(\d+))?(?:[+-]\d+[+-]\d+)?\s*:(.*)$", re.DOTALL)


def _im_user_defined(match: re.Match) -> np.ndarray:
    import numpy as np

    width = int(match[1])
    height = int(match[2]) if match[2] else width
    cells = match[3].replace(",", " ").split()
    if len(cells) != width * height:
        raise UsageError(
            f"ImageMagick kernel {width}x{height} needs {width * height} values, got "
            f"{len(cells)}; write e.g. '3x3: 0,1,0 1,-4,1 0,1,0'"
        )
    try:
        values = [float(c) for c in cells]  # ImageMagick's 'nan' (a hole) is refused here
    except ValueError:
        bad = next(c for c in cells if not re.fullmatch(r"[-+0-9.eE]+", c))
        raise UsageError(f"ImageMagick kernel: {bad!r} is not a number") from None
    return np.asarray(values, dtype=np.float64).reshape(height, width)


def _angle(name: str, args: list[str]) -> float:
    try:
        return float(args[0]) if args and args[0].strip() else 0.0
    except ValueError:
        raise UsageError(f"{name}: ANGLE must be a number, got {args[0]!r}") from None


def _fixed_im(base) -> Callable[[list[str]], np.ndarray]:
    def build(args: list[str]) -> np.ndarray:
        import numpy as np

        return _turned(np.asarray(base, dtype=np.float64), _angle("Sobel", args))

    return build


def _laplacian_n(args: list[str]) -> np.ndarray:
    text = args[0].strip() if args else "0"
    if not text.isdigit():
        raise UsageError(f"Laplacian:N needs a whole number N, got {text!r}")
    return imagemagick_laplacian(int(text))


#: Lower-case name -> (builder of the weights from the colon arguments, source, description).
_BUILDERS: dict[str, tuple[Callable[[list[str]], np.ndarray], str]] = {
    "cv-sobel": (_cv_sobel, "OpenCV cv2.Sobel / cv2.getDerivKernels"),
    "sobel": (_fixed_im([[1, 0, -1], [2, 0, -2], [1, 0, -1]]), "ImageMagick kernel 'Sobel'"),
    "laplacian": (_laplacian_n, "ImageMagick kernel 'Laplacian:N' (IM Usage, Laplacian Kernels)"),
}


def _describe(name: str) -> str:
    """``"what; convention"`` of the listed name ``name`` (any case)."""
    entry = next(f for f in FOREIGN_NAMES if f.name.lower() == name.lower())
    return f"{entry.what}; convention: {entry.convention}"


def _skimage_source(name: str) -> str:
    return f"scikit-image skimage.filters.{name} (edges.py kernel, normalised as its code)"


def resolve_foreign(text: str, *, gaussian: Callable):
    """The kernel ``text`` names in another tool's words, or None if it is not such a name.

    Returns ``(name, weights, source, description)``; ``description`` states
    the convention (axis, sign, boundary mode to match the tool). ``gaussian``
    is the kernels module's Gaussian builder ``(size, sigma) -> weights``, which
    ``Gaussian:RxS`` and ``Unsharp`` call (this module does not import
    :mod:`cnnfilter.kernels`, which imports it).

    Raises:
        UsageError: a foreign name with bad arguments.
    """
    match = _USER_DEFINED.match(text)
    if match:
        return (
            text.strip(),
            _im_user_defined(match),
            "ImageMagick user-defined kernel string",
            _describe("WxH"),
        )
    name, *args = text.split(":")
    key = name.strip().lower()
    if key in _SKIMAGE and not args:
        return key, _skimage(key), _skimage_source(key), _describe(key)
    if key == "laplacian" and not args:  # bare: cnnfilter's own 4-neighbour Laplacian
        return None
    if key == "gaussian" and args and "x" in args[0].lower():
        weights = _im_gaussian(args[0].lower(), gaussian)
        return text.strip(), weights, "ImageMagick kernel 'Gaussian:RxS'", _describe("Gaussian")
    if key == "unsharp" and args:
        weights = _im_unsharp(":".join(args).lower(), gaussian)
        return text.strip(), weights, "ImageMagick -unsharp RxS+G+0", _describe("Unsharp")
    if key in _BUILDERS:
        build, source = _BUILDERS[key]
        return text.strip(), build(args), source, _describe(key)
    return None


def listed_names() -> list[str]:
    """The foreign names offered for completion and typo suggestions."""
    return [f.name for f in FOREIGN_NAMES if f.name[0].isalpha() and f.name != "WxH"]
