"""The ``kernels`` listing and the kernel every filtering command reads.

:func:`load_kernel` reads the one kernel of ``apply`` and ``detect``;
:func:`kernel_document` and :func:`registry_document` are the reports of
``kernels NAME`` and ``kernels`` (the same dicts their ``--json`` prints).
:func:`stored_registry_document` is the second without NumPy, for the
listing's start time: the kernels as :func:`registry_document` computed them
when ``python docs/gen_cli_reference.py`` last wrote :data:`LISTING_FILE`
(tests/kernels/test_stored_listing.py fails when the registry has changed since).
"""

from __future__ import annotations

from pathlib import Path

from cnnfilter.errors import UsageError
from cnnfilter.kernels import REGISTRY, Kernel, load_kernel_file, resolve_kernel

__all__ = [
    "load_kernel",
    "kernel_document",
    "registry_document",
    "stored_registry_document",
    "readable_factors",
    "LISTING_FILE",
]

#: The ``kernels`` entries of :func:`registry_document`, as JSON (generated; shipped).
LISTING_FILE = Path(__file__).resolve().parent.parent / "kernel_listing.json"


def load_kernel(kernel: str | None, kernel_file: Path | None) -> Kernel:
    """The kernel named or written in ``kernel``, or read from ``kernel_file`` (exactly one).

    Raises:
        UsageError: none or both given, or as
            :func:`cnnfilter.kernels.resolve_kernel` and
            :func:`cnnfilter.kernels.load_kernel_file`.
    """
    if (kernel is None) == (kernel_file is None):
        raise UsageError("give exactly one of kernel=NAME|MATRIX and kernel_file=PATH")
    return resolve_kernel(kernel) if kernel is not None else load_kernel_file(kernel_file)


def readable_factors(col, row):
    """Scale a rank-1 split for reading: the column sums to 1 (or its smallest entry is 1).

    >>> import numpy as np
    >>> c, r = readable_factors(np.array([2.0, 4.0, 2.0]), np.array([0.5, 0.0, -0.5]))
    >>> c.tolist(), r.tolist()
    ([1.0, 2.0, 1.0], [1.0, 0.0, -1.0])
    """
    if abs(col.sum()) > 1e-9 and abs(row.sum()) > 1e-9:
        unit = float(col.sum())  # column sums to 1, row carries the kernel's sum
    else:
        nonzero = abs(col[abs(col) > 1e-12])
        unit = float(nonzero.min()) if nonzero.size else 1.0  # smallest entry 1
    return col / unit, row * unit


def kernel_document(k: Kernel) -> dict:
    """One kernel: name, shape, weights, sum, separable, factors, description, source.

    ``factors`` (``{"column": [...], "row": [...]}``, or None) is the rank-1
    split of a separable 2-D kernel, scaled by :func:`readable_factors`.
    """
    from cnnfilter.engine.separable import separate

    w = k.weights
    sep = separate(w) if w.ndim == 2 else None
    factors = None
    if sep is not None:
        col, row = readable_factors(*sep)
        factors = {"column": [round(float(v), 12) + 0.0 for v in col],  # + 0.0: no -0
                   "row": [round(float(v), 12) + 0.0 for v in row]}  # fmt: skip
    return {
        "name": k.name,
        "shape": list(w.shape),
        "weights": w.tolist(),
        "sum": float(w.sum()),
        "separable": sep is not None,
        "factors": factors,
        "description": k.description,
        "source": k.source,
        "convention": "convolution",
    }


def registry_document() -> dict:
    """Every named kernel (:data:`cnnfilter.kernels.REGISTRY`) with its default parameters.

    Each entry is :func:`kernel_document` plus ``usage`` (``gaussian:SIZE:SIGMA``)
    and ``parameters`` (name -> default). ``aliases``: the scikit-image, OpenCV
    and ImageMagick names (:data:`cnnfilter.foreign_kernels.FOREIGN_NAMES`):
    ``usage``, ``tool``, ``what``, ``convention``.
    """
    entries = []
    for entry in REGISTRY.values():
        doc = kernel_document(Kernel(entry.name, entry.make([]), entry.source, entry.description))
        doc["usage"] = entry.usage
        doc["parameters"] = dict(zip(entry.params, entry.defaults, strict=True))
        entries.append(doc)
    return {"kernels": entries, "aliases": _aliases()}


def stored_registry_document() -> dict:
    """:func:`registry_document`, its kernels read from :data:`LISTING_FILE` (no NumPy).

    Raises:
        ProcessingError: the file is missing (a broken installation).
    """
    import json

    from cnnfilter.errors import ProcessingError

    try:
        entries = json.loads(LISTING_FILE.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProcessingError(f"cannot read the kernel listing {LISTING_FILE}: {exc}") from None
    return {"kernels": entries, "aliases": _aliases()}


def listing_text() -> str:
    """The text of :data:`LISTING_FILE` for the registry as it is now (needs NumPy)."""
    import json

    return json.dumps(registry_document()["kernels"], indent=1) + "\n"


def _aliases() -> list[dict]:
    from cnnfilter.foreign_kernels import FOREIGN_NAMES

    return [
        {"usage": f.usage, "tool": f.tool, "what": f.what, "convention": f.convention}
        for f in FOREIGN_NAMES
    ]
