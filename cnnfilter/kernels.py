"""The named-kernel registry and the custom-kernel parser.

The registry is the single source of ``cnnfilter kernels``, the ``--kernel``
help, the docs table and the tests. Every kernel is written the way its
source writes it, for **convolution** (the article's and Wikipedia's
convention): cross-correlated (``op='correlate'``), a non-symmetric kernel (sobel, prewitt,
scharr, roberts, emboss, the article's line kernels) gives the opposite sign.

A kernel spec is a registry name, optionally with parameters after colons
(``gaussian:7:1.5``), inline JSON (``[[0,-1,0],[-1,5,-1],[0,-1,0]]``) or
rows (``1,0,-1;2,0,-2;1,0,-1``). Files: :func:`load_kernel_file`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cnnfilter.errors import UsageError

if TYPE_CHECKING:  # numpy is imported where it is used: `cnnfilter --help` stays light
    import numpy as np

__all__ = [
    "Kernel",
    "KernelEntry",
    "REGISTRY",
    "resolve_kernel",
    "parse_kernel_text",
    "load_kernel_file",
    "kernel_from_array",
    "gaussian_kernel",
    "gaussian_size",
    "log_kernel",
    "listed_names",
    "suggestions",
    "format_number",
]


def format_number(value: float) -> str:
    """Short text for a kernel weight: integers plain, fractions to 4 significant digits.

    >>> format_number(2.0), format_number(0.0625), format_number(1 / 3)
    ('2', '0.0625', '0.3333')
    """
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


#: Largest kernel side accepted from a spec or a file (a 1025x1025 kernel is
#: already 1M weights; larger ones are almost certainly a mistake).
MAX_KERNEL_SIDE = 1025


@dataclass(frozen=True)
class Kernel:
    """A resolved kernel: float64 weights of shape ``(kh, kw)`` or ``(kh, kw, C)``."""

    name: str
    weights: np.ndarray
    source: str = ""
    description: str = ""
    #: what a person should know about this kernel (a Gaussian cut short), one line each
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class KernelEntry:
    """One registry entry: a fixed matrix or a builder with named parameters."""

    name: str
    description: str
    source: str
    build: Callable[..., np.ndarray]
    params: tuple[str, ...] = ()
    #: None for a size derived from the other parameters (the Gaussians' sigma)
    defaults: tuple[float | None, ...] = ()

    @property
    def usage(self) -> str:
        """``name`` or ``name:PARAM:PARAM`` as typed on the command line."""
        return ":".join([self.name, *(p.upper() for p in self.params)])

    def make(self, args: list[str]) -> np.ndarray:
        """Build the weights from colon-separated arguments (defaults fill the rest)."""
        if len(args) > len(self.params):
            raise UsageError(_too_many(self, args))
        values: list[float] = []
        for i, pname in enumerate(self.params):
            text = args[i] if i < len(args) else None
            if text is None or text == "":
                values.append(self.defaults[i])
                continue
            try:
                value = float(text)
            except ValueError:
                raise UsageError(
                    f"kernel {self.name!r}: {pname.upper()} must be a number, got {text!r} "
                    f"(usage: {self.usage})"
                ) from None
            if not math.isfinite(value):
                raise UsageError(f"kernel {self.name!r}: {pname.upper()} must be finite")
            values.append(value)
        try:
            return self.build(*values)
        except UsageError as exc:  # name the kernel as typed, and its usage
            spec = ":".join([self.name, *args])
            raise UsageError(f"kernel {spec!r}: {exc} (usage: {self.usage})") from None


def _too_many(entry: KernelEntry, args: list[str]) -> str:
    """The message for ``sobel-x:3`` or ``box:3:4``: what the kernel takes, what was given.

    >>> e = KernelEntry("box", "", "", lambda s: s, ("size",), (3,))
    >>> _too_many(e, ["3", "4"])
    "kernel 'box' takes 1 parameter (box:SIZE), got 2: '3:4'"
    """
    given = f"got {len(args)}: {':'.join(args)!r}"
    count = len(entry.params)
    if count == 0:
        return f"kernel {entry.name!r} takes no parameters, {given}; write just {entry.name}"
    takes = f"{count} parameter{'' if count == 1 else 's'}"
    return f"kernel {entry.name!r} takes {takes} ({entry.usage}), {given}"


def _fixed(matrix: list[list[float]], scale: float = 1.0) -> Callable[[], np.ndarray]:
    def build() -> np.ndarray:
        import numpy as np

        return np.asarray(matrix, dtype=np.float64) * scale

    return build


def _size(value: float, name: str = "SIZE") -> int:
    if value != int(value) or value < 1:
        raise UsageError(f"{name} must be a positive whole number, got {value:g}")
    size = int(value)
    if size > MAX_KERNEL_SIDE:
        raise UsageError(f"{name} {size} is larger than the limit {MAX_KERNEL_SIDE}")
    return size


#: The smallest and largest Gaussian sigma, in pixels. Below 0.1 a Gaussian is one
#: tap (use ``identity``), and smaller sigmas underflow (``exp(-x²/(2 sigma²))`` is 0
#: at every tap of an even size, 0/0 at the centre below ~1e-154, ``sigma⁴`` of the
#: LoG is 0 below ~1e-77); above 1e5 (100 x the largest kernel side) it is a flat box
#: and the LoG's ``sigma⁴`` overflows from ~1e77.
SIGMA_RANGE = (0.1, 1e5)


def _sigma(value: float, name: str = "SIGMA") -> float:
    if value <= 0:
        raise UsageError(f"{name} must be > 0, got {value:g}")
    low, high = SIGMA_RANGE
    if not low <= value <= high:
        raise UsageError(
            f"{name} must lie within {low:g} to {high:g} pixels, got {value:g} (below "
            f"{low:g} the kernel is one tap: use 'identity'; above {high:g} a flat 'box')"
        )
    return float(value)


#: How far a Gaussian kernel whose size is left out reaches, in sigmas, each side of its
#: centre: scipy.ndimage.gaussian_filter's default ``truncate=4.0``.
GAUSSIAN_TRUNCATE = 4.0
#: A given size whose radius ``(size - 1) / 2`` is under this many sigmas cuts the Gaussian
#: short (at 2 sigma, 4.6 % of a 1-D Gaussian's mass lies outside): a note says so.
GAUSSIAN_SHORT_SIGMAS = 2.0


def gaussian_size(sigma: float, truncate: float = GAUSSIAN_TRUNCATE) -> int:
    """Side of a Gaussian kernel from its sigma, as scipy.ndimage: ``2 r + 1``.

    ``r = int(truncate * sigma + 0.5)`` (``round(truncate * sigma)``, halves
    up), scipy.ndimage.gaussian_filter's radius rule with its default
    ``truncate=4``.

    Raises:
        UsageError: ``sigma <= 0``, or a size above :data:`MAX_KERNEL_SIDE`.

    >>> gaussian_size(1.0), gaussian_size(4.0), gaussian_size(1.4)
    (9, 33, 13)
    """
    radius = int(truncate * _sigma(sigma) + 0.5)
    return _size(2 * radius + 1, f"SIZE (derived from sigma {sigma:g}: 2 * round(4 sigma) + 1)")


def short_gaussian_note(spec: str, size: int, sigma: float) -> str:
    """A note when a ``size x size`` kernel cuts a Gaussian of ``sigma`` under 2 sigma, else ``""``.

    >>> short_gaussian_note("gaussian::4", 33, 4.0)
    ''
    """
    radius = (size - 1) / 2
    if radius >= GAUSSIAN_SHORT_SIGMAS * sigma:
        return ""
    full = 2 * int(GAUSSIAN_TRUNCATE * sigma + 0.5) + 1
    if full > MAX_KERNEL_SIDE:  # the whole Gaussian would not fit: say so, do not refuse
        fix = (
            f"its full size {full}x{full} is above the limit {MAX_KERNEL_SIDE}; use a smaller sigma"
        )
    else:
        fix = f"leave the size out for {full}x{full} (radius round(4 sigma), as scipy.ndimage)"
    return (
        f"{spec}: size {size} cuts the Gaussian (sigma {sigma:g}) at {radius / sigma:.2g} "
        f"sigma from the centre, under {GAUSSIAN_SHORT_SIGMAS:g}; {fix}"
    )


def gaussian_kernel(size: float | None, sigma: float) -> np.ndarray:
    """Sampled 2-D Gaussian, normalised to sum 1, shape ``(size, size)``, float64.

    ``w[y, x] ∝ exp(-(x² + y²) / (2 sigma²))`` with ``x, y`` measured in pixels
    from the kernel centre (``(size - 1) / 2``; even sizes are centred between
    pixels). Same as OpenCV's ``getGaussianKernel`` outer product for
    ``sigma > 0``, and, for an odd size, as ``scipy.ndimage.gaussian_filter``
    of a unit impulse with ``radius=(size - 1) // 2``. ``size=None``:
    :func:`gaussian_size` (``2 round(4 sigma) + 1``, scipy.ndimage's default).

    Raises:
        UsageError: ``size`` not a positive integer, ``sigma <= 0``.

    >>> float(gaussian_kernel(3, 1.0).sum().round(12)), gaussian_kernel(None, 4.0).shape
    (1.0, (33, 33))
    """
    import numpy as np

    s = _sigma(sigma)
    n = gaussian_size(s) if size is None else _size(size)
    x = np.arange(n, dtype=np.float64) - (n - 1) / 2
    g = np.exp(-(x**2) / (2 * s * s))
    g /= g.sum()
    return np.outer(g, g)


def log_kernel(size: float | None, sigma: float) -> np.ndarray:
    """Laplacian of Gaussian, zero-sum, shape ``(size, size)``, float64.

    ``size=None``: :func:`gaussian_size` of ``sigma`` (as scipy.ndimage's
    ``gaussian_laplace``, truncate 4).

    ``LoG(x, y) = -1/(pi sigma^4) (1 - r²/(2 sigma²)) exp(-r²/(2 sigma²))``
    (Marr & Hildreth 1980), then shifted to sum to 0 as MATLAB's
    ``fspecial('log')`` does, so flat regions give exactly 0. Negative centre:
    bright blobs give negative responses.

    Raises:
        UsageError: ``size`` not a positive integer, ``sigma <= 0``.
    """
    import numpy as np

    s = _sigma(sigma)
    n = gaussian_size(s) if size is None else _size(size)
    x = np.arange(n, dtype=np.float64) - (n - 1) / 2
    r2 = x[:, None] ** 2 + x[None, :] ** 2
    w = -(1.0 / (math.pi * s**4)) * (1 - r2 / (2 * s * s)) * np.exp(-r2 / (2 * s * s))
    return w - w.mean()


def _dog(size: float | None, sigma1: float, sigma2: float) -> np.ndarray:
    if _sigma(sigma1, "SIGMA1") == _sigma(sigma2, "SIGMA2"):
        raise UsageError("SIGMA1 and SIGMA2 must differ, or the difference is 0 everywhere")
    if size is None:  # both sampled on the grid the wider Gaussian needs
        size = gaussian_size(max(sigma1, sigma2))
    return gaussian_kernel(size, sigma1) - gaussian_kernel(size, sigma2)


def _box(size: float) -> np.ndarray:
    import numpy as np

    n = _size(size)
    return np.full((n, n), 1.0 / (n * n))


_WIKI = "Wikipedia, 'Kernel (image processing)', table of kernels"
_GAUSS5 = [
    [1, 4, 6, 4, 1],
    [4, 16, 24, 16, 4],
    [6, 24, 36, 24, 6],
    [4, 16, 24, 16, 4],
    [1, 4, 6, 4, 1],
]
_UNSHARP5 = [
    [1, 4, 6, 4, 1],
    [4, 16, 24, 16, 4],
    [6, 24, -476, 24, 6],
    [4, 16, 24, 16, 4],
    [1, 4, 6, 4, 1],
]

_ENTRIES = [
    KernelEntry(
        "identity", "leaves the image unchanged", _WIKI, _fixed([[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    ),
    KernelEntry(
        "edge-1",
        "edge detection, diagonal differences (first of three)",
        _WIKI,
        _fixed([[1, 0, -1], [0, 0, 0], [-1, 0, 1]]),
    ),
    KernelEntry(
        "edge-2",
        "edge detection, 4-neighbour Laplacian (second of three)",
        _WIKI,
        _fixed([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    ),
    KernelEntry(
        "edge-3",
        "edge detection, 8-neighbour (third of three)",
        _WIKI,
        _fixed([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    ),
    KernelEntry("sharpen", "sharpen", _WIKI, _fixed([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])),
    KernelEntry("box-blur", "3x3 box blur (normalised mean)", _WIKI, _fixed([[1] * 3] * 3, 1 / 9)),
    KernelEntry(
        "gaussian-3x3",
        "Gaussian blur 3x3 (binomial approximation)",
        _WIKI,
        _fixed([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 1 / 16),
    ),
    KernelEntry(
        "gaussian-5x5",
        "Gaussian blur 5x5 (binomial approximation)",
        _WIKI,
        _fixed(_GAUSS5, 1 / 256),
    ),
    KernelEntry(
        "unsharp-5x5",
        "unsharp masking 5x5 (Gaussian 5x5, amount 1, threshold 0)",
        _WIKI,
        _fixed(_UNSHARP5, -1 / 256),
    ),
    KernelEntry(
        "vertical-lines",
        "the article's vertical-line kernel",
        "the article (docs/article.md, point 2)",
        _fixed([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
    ),
    KernelEntry(
        "horizontal-lines",
        "the article's horizontal-line kernel",
        "the article (docs/article.md, point 2)",
        _fixed([[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
    ),
    KernelEntry(
        "sobel-x",
        "Sobel horizontal derivative (responds to vertical edges); positive where brightness "
        "rises to the right under convolution",
        "Wikipedia, 'Sobel operator' (Gx)",
        _fixed([[1, 0, -1], [2, 0, -2], [1, 0, -1]]),
    ),
    KernelEntry(
        "sobel-y",
        "Sobel vertical derivative (responds to horizontal edges); positive where brightness "
        "rises downwards under convolution",
        "Wikipedia, 'Sobel operator' (Gy, rows counted downwards)",
        _fixed([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),
    ),
    KernelEntry(
        "prewitt-x",
        "Prewitt horizontal derivative (vertical edges)",
        "Wikipedia, 'Prewitt operator' (Gx)",
        _fixed([[1, 0, -1], [1, 0, -1], [1, 0, -1]]),
    ),
    KernelEntry(
        "prewitt-y",
        "Prewitt vertical derivative (horizontal edges)",
        "Wikipedia, 'Prewitt operator' (Gy)",
        _fixed([[1, 1, 1], [0, 0, 0], [-1, -1, -1]]),
    ),
    KernelEntry(
        "scharr-x",
        "Scharr horizontal derivative (vertical edges), better rotation symmetry than Sobel",
        "Wikipedia, 'Sobel operator', Scharr operator (Gx)",
        _fixed([[3, 0, -3], [10, 0, -10], [3, 0, -3]]),
    ),
    KernelEntry(
        "scharr-y",
        "Scharr vertical derivative (horizontal edges)",
        "Wikipedia, 'Sobel operator', Scharr operator (Gy)",
        _fixed([[3, 10, 3], [0, 0, 0], [-3, -10, -3]]),
    ),
    KernelEntry(
        "roberts",
        "Roberts cross, main diagonal (2x2: even size, see the anchor rule)",
        "Roberts 1963; Wikipedia, 'Roberts cross'",
        _fixed([[1, 0], [0, -1]]),
    ),
    KernelEntry(
        "roberts-anti",
        "Roberts cross, anti-diagonal (2x2)",
        "Roberts 1963; Wikipedia, 'Roberts cross'",
        _fixed([[0, 1], [-1, 0]]),
    ),
    KernelEntry(
        "laplacian",
        "Laplacian, 4-neighbour",
        "Wikipedia, 'Discrete Laplace operator'",
        _fixed([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    ),
    KernelEntry(
        "laplacian-8",
        "Laplacian, 8-neighbour (with diagonals)",
        "Wikipedia, 'Discrete Laplace operator'",
        _fixed([[1, 1, 1], [1, -8, 1], [1, 1, 1]]),
    ),
    KernelEntry(
        "emboss",
        "emboss (relief lit from the top left)",
        "GIMP documentation, 'Convolution Matrix' (emboss example)",
        _fixed([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    ),
    KernelEntry(
        "gaussian",
        "sampled Gaussian, normalised to sum 1",
        "Gaussian function sampled at pixel centres (as OpenCV getGaussianKernel)",
        gaussian_kernel,
        ("size", "sigma"),
        (None, 1.0),
    ),
    KernelEntry("box", "SIZE x SIZE mean filter", "box filter (normalised)", _box, ("size",), (3,)),
    KernelEntry(
        "log",
        "Laplacian of Gaussian, zero-sum (blob and edge detector)",
        "Marr & Hildreth 1980; zero-sum as MATLAB fspecial('log')",
        log_kernel,
        ("size", "sigma"),
        (None, 1.4),
    ),
    KernelEntry(
        "dog",
        "difference of Gaussians G(SIGMA1) - G(SIGMA2), zero-sum",
        "Marr & Hildreth 1980 (DoG approximation of the LoG)",
        _dog,
        ("size", "sigma1", "sigma2"),
        (None, 1.0, 1.6),
    ),
]

#: name -> entry, in display order.
REGISTRY: dict[str, KernelEntry] = {e.name: e for e in _ENTRIES}

#: Other spellings users type -> registry name.
ALIASES: dict[str, str] = {
    "edge1": "edge-1",
    "edge2": "edge-2",
    "edge3": "edge-3",
    "blur": "box-blur",
    "gaussian3": "gaussian-3x3",
    "gaussian5": "gaussian-5x5",
    "unsharp": "unsharp-5x5",
    "sobelx": "sobel-x",
    "sobely": "sobel-y",
    "laplacian-4": "laplacian",
    "laplace": "laplacian",
}


def _lookup(name: str) -> KernelEntry:
    key = name.strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key in REGISTRY:
        return REGISTRY[key]
    close = suggestions(key)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise UsageError(
        f"unknown kernel {name!r}{hint}; run 'cnnfilter kernels' for the list, or give a "
        "matrix such as '[[1,0,-1],[2,0,-2],[1,0,-1]]'"
    )


def suggestions(typed: str) -> list[str]:
    """Up to 3 names close to ``typed``, only among those ``cnnfilter kernels`` lists.

    Hidden spellings (:data:`ALIASES`) still work but are never suggested.

    >>> sorted(suggestions("sobel-z"))
    ['Sobel', 'sobel-x', 'sobel-y']
    >>> suggestions("sobelx")  # a hidden alias of sobel-x is not offered itself
    ['sobel-x', 'Sobel', 'sobel_v']
    """
    from cnnfilter.foreign_kernels import listed_names as foreign

    names = [*REGISTRY, *foreign()]
    by_key = {n.lower(): n for n in names}
    return [by_key[k] for k in difflib.get_close_matches(typed.lower(), by_key, n=3, cutoff=0.5)]


def listed_names() -> list[tuple[str, str]]:
    """``(what to type, what it is)`` for every name ``cnnfilter kernels`` lists.

    A kernel with parameters is given up to its first colon (``gaussian:``),
    its usage in the description. The shell-completion source.
    """
    from cnnfilter.foreign_kernels import FOREIGN_NAMES

    pairs = [
        (e.name + (":" if e.params else ""), (f"{e.usage}: " if e.params else "") + e.description)
        for e in REGISTRY.values()
    ]
    for f in FOREIGN_NAMES:
        if f.name[0].isalpha() and f.name != "WxH":
            typed = f.name + (":" if ":" in f.usage else "")
            pairs.append((typed, f"{f.usage} ({f.tool}): {f.what}"))
    return pairs


def kernel_from_array(values: object, *, name: str = "custom", allow_3d: bool = True) -> Kernel:
    """Validate nested numbers as a kernel: 2-D ``(kh, kw)`` or 3-D ``(kh, kw, C)``.

    Raises:
        UsageError: ragged rows, non-numbers, NaN/inf, empty, more than 3
            dimensions, or a side above ``MAX_KERNEL_SIDE``.
    """
    import numpy as np

    try:
        weights = np.array(values, dtype=np.float64)
    except (ValueError, TypeError):
        raise UsageError(
            f"kernel {name!r} is not a rectangular matrix of numbers: every row must have the "
            "same number of numeric entries"
        ) from None
    if weights.ndim == 1 and weights.size:
        weights = weights[np.newaxis, :]
    if weights.ndim not in ((2, 3) if allow_3d else (2,)) or weights.size == 0:
        raise UsageError(
            f"kernel {name!r} must be a non-empty 2-D matrix (kh, kw)"
            + (" or a 3-D (kh, kw, C) array" if allow_3d else "")
            + f", got shape {weights.shape}"
        )
    check_weights(weights, name)
    if max(weights.shape[:2]) > MAX_KERNEL_SIDE:
        raise UsageError(
            f"kernel {name!r} is {weights.shape[0]}x{weights.shape[1]}, above the limit "
            f"{MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}"
        )
    return Kernel(name, weights, "custom", "custom kernel")


#: Largest weight magnitude accepted: sums of up to 1M taps over 16-bit pixels then stay
#: far inside float32's range (3.4e38), the engine's working precision.
MAX_WEIGHT = 1e20


def check_weights(weights, name: str = "custom") -> None:
    """Refuse NaN, inf and weights beyond ``±MAX_WEIGHT``.

    Raises:
        UsageError: naming the kernel and the rule.
    """
    import numpy as np

    if not np.all(np.isfinite(weights)):
        raise UsageError(f"kernel {name!r} contains NaN or inf; every weight must be finite")
    largest = float(np.max(np.abs(weights))) if np.size(weights) else 0.0
    if largest > MAX_WEIGHT:
        raise UsageError(
            f"kernel {name!r} has a weight of magnitude {largest:.3g}; weights (after scale=) "
            f"must lie within ±{MAX_WEIGHT:.0e} so that sums stay within float32"
        )


#: How a kernel file is written, for the fixes of its error messages.
FILE_FORMAT = (
    "write one row of numbers per line, separated by commas or blanks ('#' starts a comment)"
)


def parse_kernel_text(text: str, *, name: str = "custom", path: str | None = None) -> Kernel:
    """Parse inline JSON (``[[..]]``) or rows (``1,0,-1;2,0,-2``, newlines allowed).

    Row separators: ``;`` or newline; column separators: ``,`` or blanks.
    Lines starting with ``#`` are comments. ``path``: the kernel file the
    text comes from; its messages then name the file and its line, and
    describe the file format instead of the inline syntax.

    Raises:
        UsageError: malformed text, ragged rows, non-numbers, NaN/inf.

    >>> parse_kernel_text("1,0,-1;2,0,-2").weights.tolist()
    [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0]]
    >>> parse_kernel_text("1 0\\n2 x", path="k.txt")
    Traceback (most recent call last):
    cnnfilter.errors.UsageError: kernel file 'k.txt', line 2: 'x' is not a number; write one row of numbers per line, separated by commas or blanks ('#' starts a comment)
    """  # noqa: E501
    what = f"kernel {name!r}" if path is None else f"kernel file {path!r}"
    stripped = text.strip()
    if not stripped:
        fix = "give rows such as '1,0,-1;2,0,-2;1,0,-1'" if path is None else FILE_FORMAT
        raise UsageError(f"{what} is empty; {fix}")
    if stripped.startswith("["):
        return _parse_json_kernel(stripped, what=what, name=name)
    rows = _parse_rows(text, what=what, path=path)
    if not rows:
        raise UsageError(f"{what} has no rows" + ("" if path is None else f"; {FILE_FORMAT}"))
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise UsageError(
            f"{what} is ragged: its rows have {sorted(widths)} entries; every row "
            "needs the same number"
        )
    return kernel_from_array(rows, name=name)


def _parse_json_kernel(text: str, *, what: str, name: str) -> Kernel:
    """Inline JSON ``[[1,0,-1],[2,0,-2]]`` (or ``(kh, kw, C)`` nested lists)."""
    import json  # here, not at the top: the CLI's start does not need it

    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{what} is not valid JSON ({exc.msg} at character {exc.pos}); "
            "write it as [[1,0,-1],[2,0,-2],[1,0,-1]]"
        ) from None
    _check_json_numbers(values, name)
    return kernel_from_array(values, name=name)


def _parse_rows(text: str, *, what: str, path: str | None) -> list[list[float]]:
    """Rows split on ``;`` and newlines, cells on ``,`` and blanks; ``#`` lines skipped."""
    rows: list[list[float]] = []
    for number, text_line in enumerate(text.splitlines(), start=1):
        for line in text_line.split(";"):
            line = line.strip()
            if line and not line.startswith("#"):
                rows.append(_parse_row(line, what=what, path=path, number=number))
    return rows


def _parse_row(line: str, *, what: str, path: str | None, number: int) -> list[float]:
    cells = line.replace(",", " ").split()
    try:
        return [float(c) for c in cells]
    except ValueError:
        bad = next(c for c in cells if not _is_float(c))
        if path is None:
            raise UsageError(
                f"{what}: {bad!r} is not a number; write rows as '1,0,-1;2,0,-2;1,0,-1'"
            ) from None
        raise UsageError(f"{what}, line {number}: {bad!r} is not a number; {FILE_FORMAT}") from None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_json_numbers(values: object, name: str, depth: int = 0) -> None:
    if depth > 3:
        raise UsageError(f"kernel {name!r} is nested deeper than (kh, kw, C)")
    if isinstance(values, list):
        for v in values:
            _check_json_numbers(v, name, depth + 1)
    elif isinstance(values, bool) or not isinstance(values, int | float):
        raise UsageError(f"kernel {name!r}: {values!r} is not a number")


#: Largest kernel file read, in bytes.
MAX_KERNEL_FILE_BYTES = 64 * 1024 * 1024


def load_kernel_file(path: str | Path) -> Kernel:
    """Read a kernel from ``.txt``/``.csv`` (rows), ``.json`` or ``.npy``.

    A named pipe or a process substitution (``--kernel-file <(echo 1 2 1)``)
    is read like a file (at most :data:`MAX_KERNEL_FILE_BYTES`); a ``.npy``
    array is recognised by its first bytes when the name has no extension.

    Raises:
        UsageError: missing or unreadable file, a folder or device, unknown
            extension, larger than 64 MiB, malformed contents (as
            :func:`parse_kernel_text`), a pickled ``.npy``.
    """
    import io

    import numpy as np

    p = Path(path)
    name = p.name
    suffix = p.suffix.lower()
    data = _read_kernel_bytes(p)
    if suffix == ".npy" or data.startswith(b"\x93NUMPY"):
        try:
            values = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise UsageError(
                f"kernel file {str(p)!r} is not a readable .npy array: {exc}"
            ) from None
        if values.dtype.kind not in "biuf":
            raise UsageError(f"kernel file {str(p)!r} holds {values.dtype} values, not numbers")
        return kernel_from_array(values, name=name)
    if suffix not in (".txt", ".csv", ".json", ".tsv", ".dat", ""):
        raise UsageError(
            f"kernel file {str(p)!r}: unknown extension {suffix!r}; use .txt, .csv, .json or .npy"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"kernel file {str(p)!r} cannot be read as text: {exc}") from None
    return parse_kernel_text(text, name=name, path=str(p))


def _read_kernel_bytes(p: Path) -> bytes:
    """The bytes of a kernel file, a FIFO or a process substitution, at most the limit."""
    import os
    import stat

    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise UsageError(f"kernel file {str(p)!r} does not exist") from None
    except OSError as exc:
        raise UsageError(f"kernel file {str(p)!r} cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"kernel file {str(p)!r} is a directory, not a file")
    if stat.S_ISBLK(st.st_mode) or stat.S_ISSOCK(st.st_mode):
        kind = "a block device" if stat.S_ISBLK(st.st_mode) else "a socket"
        raise UsageError(f"kernel file {str(p)!r} is {kind}, not a file; save the kernel to a file")
    if stat.S_ISREG(st.st_mode) and st.st_size > MAX_KERNEL_FILE_BYTES:
        raise UsageError(f"kernel file {str(p)!r} is larger than 64 MiB")
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_KERNEL_FILE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"kernel file {str(p)!r} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_KERNEL_FILE_BYTES:
        raise UsageError(f"kernel file {str(p)!r} is larger than 64 MiB")
    return data


def resolve_kernel(spec: str) -> Kernel:
    """Resolve a kernel spec: a registry name (``gaussian:7:1.5``) or a matrix.

    Raises:
        UsageError: unknown name (with the closest names), bad parameters,
            malformed matrix.

    >>> resolve_kernel("box:2").weights.tolist()
    [[0.25, 0.25], [0.25, 0.25]]
    """
    text = spec.strip()
    if not text:
        raise UsageError(
            "the kernel spec is empty; give a name such as sobel-x (see 'cnnfilter kernels') or a "
            "matrix such as '1,0,-1;2,0,-2;1,0,-1'"
        )
    from cnnfilter.foreign_kernels import resolve_foreign

    foreign = resolve_foreign(text, gaussian=gaussian_kernel)
    if foreign is not None:  # a scikit-image, OpenCV or ImageMagick name
        label, weights, source, description = foreign
        check_weights(weights, label)
        return Kernel(label, weights, source, description)
    if (
        text.startswith("[")
        or any(ch.isdigit() for ch in text.split(":")[0][:1])
        or (text[:1] in "-+." and len(text) > 1)
    ):
        return parse_kernel_text(text)
    if ";" in text or "," in text:
        return parse_kernel_text(text)
    name, *args = text.split(":")
    entry = _lookup(name)
    weights = entry.make(args)
    label = entry.name if not args else ":".join([entry.name, *args])
    notes = ()
    if entry.name in _GAUSSIANS and args and args[0].strip():
        given = args + [""] * (len(entry.params) - len(args))
        sigmas = [
            float(g) if g.strip() else d for g, d in zip(given[1:], entry.defaults[1:], strict=True)
        ]
        note = short_gaussian_note(label, weights.shape[0], max(sigmas))
        notes = (note,) if note else ()
    return Kernel(label, weights, entry.source, entry.description, notes)


#: Registry kernels whose first parameter is the size of a sampled Gaussian.
_GAUSSIANS = ("gaussian", "log", "dog")


#: The article's curve detector (point 4): 30 along a curve, 0 elsewhere. The article (after
#: Deshpande's "A Beginner's Guide To Understanding Convolutional Neural Networks") shows the
#: filter only as a picture; this 7x7 matrix is our drawing of it, with the six taps of 30 that
#: the article's sum 30*0 + 30*50 + 30*20 + 30*50 + 30*50 + 30*50 = 6600 implies. It is a
#: pattern for ``detect`` (cross-correlation, applied unflipped).
CURVE_7X7 = [
    [0, 0, 0, 0, 0, 30, 0],
    [0, 0, 0, 0, 30, 0, 0],
    [0, 0, 0, 30, 0, 0, 0],
    [0, 0, 0, 30, 0, 0, 0],
    [0, 0, 0, 30, 0, 0, 0],
    [0, 0, 0, 30, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0],
]

_CURVE = KernelEntry(
    "curve",
    "the article's 7x7 curve detector (30 along a curve, 0 elsewhere); a pattern for detect, "
    "drawn unflipped",
    "the article (docs/article.md, point 4), after Deshpande, 'A Beginner's Guide To Understanding "
    "Convolutional Neural Networks'; matrix drawn by cnnfilter (6 taps of 30)",
    _fixed(CURVE_7X7),
)
_ENTRIES.append(_CURVE)
REGISTRY[_CURVE.name] = _CURVE

#: Registry kernels drawn as the pattern they match, for cross-correlation (``detect``,
#: ``forward``, ``apply --op correlate`` use them as drawn); every other kernel is written
#: for convolution, as its source writes it.
DRAWN_UNFLIPPED = frozenset({_CURVE.name})
