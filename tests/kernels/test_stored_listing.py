"""``cnnfilter kernels`` lists the registry from a stored copy (no NumPy at start-up):
the copy must be what the registry computes now."""

from __future__ import annotations

import json
import math

from cnnfilter.tasks.kernels import LISTING_FILE, registry_document, stored_registry_document

FIX = "run: python docs/gen_cli_reference.py"


def same(stored, computed, where="") -> list[str]:
    """Where ``stored`` and ``computed`` differ: exact for names and shapes, floats to 1e-9
    (a rank-1 split comes from an SVD whose last bits differ between NumPy builds)."""
    if isinstance(computed, float) and isinstance(stored, int | float):
        ok = math.isclose(stored, computed, rel_tol=1e-9, abs_tol=1e-12)
        return [] if ok else [f"{where}: {stored!r} != {computed!r}"]
    if isinstance(computed, dict) and isinstance(stored, dict):
        if list(stored) != list(computed):
            return [f"{where}: keys {list(stored)} != {list(computed)}"]
        return [d for k in computed for d in same(stored[k], computed[k], f"{where}.{k}")]
    if isinstance(computed, list) and isinstance(stored, list):
        if len(stored) != len(computed):
            return [f"{where}: {len(stored)} entries != {len(computed)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(stored, computed, strict=True))
            for d in same(a, b, f"{where}[{i}]")
        ]
    return (
        []
        if stored == computed and type(stored) is type(computed)
        else [f"{where}: {stored!r} != {computed!r}"]
    )


def test_the_stored_listing_is_the_registry_as_it_is():
    differences = same(stored_registry_document(), registry_document())
    assert not differences, f"{LISTING_FILE.name} is out of date ({differences[:3]}); {FIX}"


def _zero_signs(entries: list[dict]) -> list[list[float]]:
    def flat(values):
        for v in values:
            yield from flat(v) if isinstance(v, list) else [v]

    return [[math.copysign(1.0, w) for w in flat(e["weights"]) if w == 0] for e in entries]


def test_the_stored_listing_keeps_the_sign_of_every_zero_weight():
    # the tolerance above cannot see -0.0 against 0.0; --json readers can
    stored = json.loads(LISTING_FILE.read_text(encoding="utf-8"))
    assert _zero_signs(stored) == _zero_signs(registry_document()["kernels"])
    assert any(-1.0 in signs or 1.0 in signs for signs in _zero_signs(stored))


def test_the_comparison_sees_a_changed_kernel():
    doc = registry_document()
    changed = json.loads(json.dumps(doc))
    changed["kernels"][0]["sum"] += 1e-6
    changed["kernels"][1]["description"] += "!"
    assert len(same(changed, doc)) == 2
    assert same(json.loads(json.dumps(doc)), doc) == []
