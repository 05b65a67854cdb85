"""docs/reference/cli.md is the --help of every command, regenerated and compared."""

from __future__ import annotations

import importlib.util

from helpers import ROOT, invoke

spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli_reference.py")
gen_cli = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen_cli)


def test_the_cli_reference_is_up_to_date():
    shipped = gen_cli.TARGET.read_text()
    assert shipped == gen_cli.render(), (
        "docs/reference/cli.md is out of date; run: python docs/gen_cli_reference.py"
    )


def test_the_help_topics_shipped_in_the_package_are_the_reference_pages():
    for copy, text in gen_cli.topic_copies().items():
        assert copy.read_text() == text, (
            f"{copy} differs from docs/reference; run: python docs/gen_cli_reference.py"
        )


def test_the_reference_holds_every_command_and_every_option():
    text = gen_cli.TARGET.read_text()
    names = gen_cli.command_names()
    assert {"apply", "kernels", "detect", "pool", "params", "receptive-field"} <= set(names)
    for name in names:
        assert f"## `cnnfilter {name}`" in text
        for option in ("--help", *_long_options(name)):
            assert option in text, (name, option)


def test_the_reference_does_not_depend_on_the_terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "37")
    assert gen_cli.render() == gen_cli.TARGET.read_text()


def _long_options(name: str) -> list[str]:
    """The long options of one command, read from its --help independently of the script."""
    import re

    help_text = invoke(name, "--help").stdout
    return sorted(set(re.findall(r"(?<![\w-])--[a-z][\w-]*", help_text)))
