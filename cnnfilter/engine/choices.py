"""The engine's named choices and one line of description each.

These tables are the one vocabulary of every choice: the engine checks names
against them, and the command line builds its choices and their help from
them. This module imports nothing (no NumPy), so the CLI can read the tables
at start-up.
"""

from __future__ import annotations

__all__ = [
    "FILTER_METHODS",
    "AUTO_METHOD",
    "RANGE_MODES",
    "RAW_RANGE",
    "STRETCH_PERCENTILE",
    "STRETCH_GAMMA",
    "STRETCH_BLACK_PERCENTILE",
    "COMBINE_MODES",
    "GRADIENT_PAIRS",
    "OPERATIONS",
    "OPERATION_NAMES",
    "RESPONSE_METHODS",
    "POOL_OPS",
    "BOUNDARIES",
    "with_auto",
]

#: How a filtering call computes (:func:`cnnfilter.engine.filtering.plan_method`).
FILTER_METHODS = {
    "direct": "shifted multiply-adds, one per non-zero tap (small kernels)",
    "separable": "a column pass and a row pass (rank-1 kernels only)",
    "fft": "overlap-save with scipy.fft (large kernels)",
}

#: ``auto`` for :data:`FILTER_METHODS`.
AUTO_METHOD = (
    "separable for rank-1 kernels above 5x5, direct for other small ones, fft for large "
    "ones; all give the same result to float32 rounding"
)

#: How a float response becomes pixels (:func:`cnnfilter.engine.intensity.choose_range`).
RANGE_MODES = {
    "auto": "stretch for kernels that sum to 0 (edge detectors), clip for the others",
    "clip": "round, then clip to [0, full white]",
    "abs": "absolute value (edge strength of either sign), then clip",
    "rescale": "stretch [min, max] of the response to [0, full white]",
    "stretch": "absolute value from its --black-percentile (75th by default: black) to its "
    "--percentile (99.5th: full white), clipped, raised to --gamma (0.5), times full white",
}

#: ``stretch`` defaults: measured on the sample photos (docs/apply.md, "Changed default"),
#: they make the article's edge kernels clearly visible on black (mean 22-29 of 255, 5-10% of
#: pixels >= 128) with the weakest three quarters of responses, a photo's noise floor, black:
#: on the 12 MP benchmark photo that keeps the PNG within 0.94x ImageMagick's Sobel output,
#: against 2.17x with no black point (issue 16).
STRETCH_PERCENTILE = 99.5
STRETCH_GAMMA = 0.5
STRETCH_BLACK_PERCENTILE = 75.0

#: How the responses of several kernels combine into one (``apply --combine``).
COMBINE_MODES = {
    "none": "one output per kernel ({kernel} in -o) or one labelled --montage",
    "magnitude": "sqrt(r1^2 + r2^2 + ...), the gradient magnitude of a kernel pair such as "
    "sobel-x and sobel-y",
}

#: Names that stand for a pair of kernels combined by ``magnitude`` (``apply -k sobel``).
GRADIENT_PAIRS = {
    "sobel": ("sobel-x", "sobel-y"),
    "prewitt": ("prewitt-x", "prewitt-y"),
    "scharr": ("scharr-x", "scharr-y"),
}

#: Not a mapping: the float response itself (.npy, or a single-channel float .tif).
RAW_RANGE = {"raw": "keep the float response (.npy, or a gray .tif); .npy output is always raw"}

#: Filtering operations: the name used in code, and what it is.
OPERATIONS = {
    "convolve": "convolution, the kernel flipped (scipy.signal.convolve2d, the article)",
    "correlate": "cross-correlation, no flip (a CNN layer, OpenCV filter2D)",
}

#: The name reports print for each operation: the description's first words.
OPERATION_NAMES = {op: text.split(",", 1)[0] for op, text in OPERATIONS.items()}

#: What a response map computes (:func:`cnnfilter.engine.response.response_map`).
RESPONSE_METHODS = {
    "raw": "cross-correlation, the sum of products over the window (what a CNN layer computes)",
    "ncc": "zero-mean normalised cross-correlation in [-1, 1] (OpenCV TM_CCOEFF_NORMED)",
}

#: What a pooling window computes (:func:`cnnfilter.engine.pooling.pool_spec`).
POOL_OPS = {
    "max": "largest value (torch.nn.MaxPool2d)",
    "avg": "mean (torch.nn.AvgPool2d)",
    "lp": "(sum of x^p)^(1/p), the power-average (torch.nn.LPPool2d)",
}

#: Boundary modes (:mod:`cnnfilter.engine.boundary`): how the image is extended.
BOUNDARIES = {
    "symmetric": "c b a | a b c d | d c b (scipy.signal 'symm', the article)",
    "mirror": "d c b | a b c d | c b a (OpenCV's default, PyTorch 'reflect')",
    "edge": "a a a | a b c d | d d d (scipy.ndimage 'nearest', PyTorch 'replicate')",
    "wrap": "b c d | a b c d | a b c (PyTorch 'circular')",
    "constant": "k k k | a b c d | k k k, k = the fill value (PyTorch 'zeros' with k = 0)",
}


def with_auto(table: dict[str, str], auto: str) -> dict[str, str]:
    """``table`` with ``auto`` (described by ``auto``) first.

    >>> list(with_auto({"a": "x"}, "pick one"))
    ['auto', 'a']
    """
    return {"auto": auto, **table}
