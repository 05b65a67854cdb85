"""The kernels task: the registry's documents and the one-kernel rule."""

from __future__ import annotations

import pytest

from cnnfilter.errors import UsageError
from cnnfilter.kernels import REGISTRY, resolve_kernel
from cnnfilter.tasks.kernels import kernel_document, load_kernel, registry_document


def test_sobel_document_has_its_readable_factors():
    doc = kernel_document(resolve_kernel("sobel-x"))
    assert doc["shape"] == [3, 3] and doc["sum"] == 0.0 and doc["separable"] is True
    assert doc["factors"] == {"column": [1.0, 2.0, 1.0], "row": [1.0, 0.0, -1.0]}


def test_registry_document_lists_every_kernel_with_its_defaults():
    entries = registry_document()["kernels"]
    assert [e["usage"] for e in entries] == [e.usage for e in REGISTRY.values()]
    gaussian = next(e for e in entries if e["name"] == "gaussian")
    entry = REGISTRY["gaussian"]
    assert gaussian["parameters"] == dict(zip(entry.params, entry.defaults, strict=True))
    assert len(gaussian["parameters"]) == 2


def test_exactly_one_kernel_source(tmp_path):
    with pytest.raises(UsageError, match="give exactly one of kernel="):
        load_kernel(None, None)
    with pytest.raises(UsageError, match="give exactly one of kernel="):
        load_kernel("box", tmp_path / "k.txt")
    assert load_kernel("box:3", None).weights.shape == (3, 3)


def test_the_precomputed_kernel_listing_matches_the_registry():
    from cnnfilter.tasks import _kernel_listing
    from cnnfilter.tasks.kernels import _listing_rows, registry_document, registry_listing

    fresh = _listing_rows(registry_document())
    assert [list(r) for r in _kernel_listing.LISTING] == fresh, (
        "cnnfilter/tasks/_kernel_listing.py is stale; LISTING = " + repr([tuple(r) for r in fresh])
    )
    assert registry_listing() == fresh
