"""Counts the docs state in words match what ships (README once said 40 built-ins for 39)."""

from __future__ import annotations

import re

from helpers import ROOT

WORDS = {"eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}


def test_the_number_of_built_in_architectures_is_what_params_list_shows():
    from cnnfilter.tasks.arch import builtin_architectures

    shipped = len(builtin_architectures())
    for page in ("README.md", "docs/params.md"):
        said = re.findall(r"(\d+) (?:\[)?built-in architectures", (ROOT / page).read_text())
        assert said and {int(n) for n in said} == {shipped}, page


def test_the_arch_yaml_page_counts_the_sample_layer_files():
    text = (ROOT / "docs" / "reference" / "arch-yaml.md").read_text()
    word = re.search(r"`samples/arch/` holds (\w+) files", text).group(1)
    assert WORDS[word] == len(list((ROOT / "samples" / "arch").glob("*.yaml")))


def test_the_params_page_lists_every_sample_with_its_parameter_count():
    from cnnfilter import summarize

    text = (ROOT / "docs" / "params.md").read_text()
    table = dict(re.findall(r"^\| `(\w+\.yaml)` \| [^|]+ \| ([\d,]+) \|", text, re.MULTILINE))
    samples = sorted(p.name for p in (ROOT / "samples" / "arch").glob("*.yaml"))
    assert sorted(table) == samples
    for name, said in table.items():
        total = summarize(str(ROOT / "samples" / "arch" / name))["total"]["parameters"]
        assert int(said.replace(",", "")) == total, name
