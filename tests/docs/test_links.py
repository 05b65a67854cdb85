"""Links between README.md and the docs/ pages point to files and headings that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, blanks to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def _outside_code(text: str) -> str:
    return re.sub(r"```.*?```", "", text, flags=re.S)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_exists(page):
    broken = []
    for target in LINK.findall(_outside_code(page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(target)
    assert broken == []


def test_every_docs_page_is_reachable_from_the_readme_or_the_index():
    linked = set()
    for page in (ROOT / "README.md", ROOT / "docs" / "index.md"):
        for target in LINK.findall(page.read_text()):
            linked.add((page.parent / target.partition("#")[0]).resolve())
    pages = {p.resolve() for p in (ROOT / "docs").rglob("*.md")} - {ROOT / "docs" / "index.md"}
    assert sorted(str(p.relative_to(ROOT)) for p in pages - linked) == []


def test_the_slug_rule_matches_github_on_our_headings():
    assert _slug("Numbers: how the response becomes pixels") == (
        "numbers-how-the-response-becomes-pixels"
    )
    assert _slug("`cnnfilter pool`: pooling, exactly as PyTorch does it") == (
        "cnnfilter-pool-pooling-exactly-as-pytorch-does-it"
    )


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_bytes()) <= 10_500
