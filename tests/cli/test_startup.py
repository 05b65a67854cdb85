"""The CLI starts light: help and the listings import neither NumPy, Rich, Pillow, YAML
nor SciPy, and no Pydantic (Typer 0.29's converter) unless importing Typer does.

Measured start times live in benchmarks/run.py; these tests only check which
modules get imported, in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, invoke

#: This checkout first on the path, whichever one the venv points at.
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

HEAVY = ("scipy", "PIL", "yaml", "numpy", "rich")

#: Modules Typer may import while it converts option values (Typer 0.29: Pydantic); a
#: listing must not load them unless importing Typer already does.
TYPER_LAZY = ("pydantic",)

PROBED = (*HEAVY, *TYPER_LAZY)


def modules_after(code: str) -> dict[str, bool]:
    probe = (
        code + f"\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {PROBED!r}}}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=ENV
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


#: What ``import typer`` loads by itself of :data:`PROBED`, in this environment.
TYPER_LOADS = {m for m, loaded in modules_after("import typer").items() if loaded}


def heavy_loaded(loaded: dict[str, bool]) -> list[str]:
    """The probed modules loaded that neither the command nor Typer's import needs."""
    return [m for m, v in loaded.items() if v and m not in TYPER_LOADS]


def test_importing_the_cli_imports_no_heavy_module():
    loaded = modules_after("import cnnfilter.cli")
    assert loaded == dict.fromkeys(PROBED, False) | dict.fromkeys(TYPER_LOADS, True)


def run_probe(argv: list[str], env: dict | None = None) -> tuple[dict[str, bool], str, int]:
    """Run the CLI with ``argv`` in a fresh interpreter (stdout a pipe): probed modules
    loaded afterwards, the command's stdout, its exit code."""
    probe = (
        "import json, sys\nfrom cnnfilter.cli import app\n"
        f"sys.argv = ['cnnfilter', *{argv!r}]\ncode = 0\n"
        "try:\n    app()\nexcept SystemExit as exc:\n    code = exc.code or 0\n"
        f"sys.stderr.write('\\nPROBE' + json.dumps([{{m: m in sys.modules for m in {PROBED!r}}}, "
        "code]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env or ENV
    )
    loaded, code = json.loads(proc.stderr.rsplit("PROBE", 1)[1])
    return loaded, proc.stdout, code


def command_names() -> list[str]:
    from cnnfilter.cli import app

    return list(app.lazy_commands)


SUBCOMMANDS = ["apply", "kernels", "params", "receptive-field", "detect", "pool", "forward",
               "formats", "help"]  # fmt: skip


def test_every_command_has_its_help_probed():
    assert command_names() == SUBCOMMANDS


@pytest.mark.parametrize("argv", [["--help"], *([c, "--help"] for c in SUBCOMMANDS)])
def test_help_of_every_command_imports_no_heavy_module(argv):
    loaded, out, code = run_probe(argv)
    assert code == 0 and "Usage:" in out  # the probe really printed the help
    assert not heavy_loaded(loaded), heavy_loaded(loaded)


#: Listings: argv -> a line the output must hold (the probe really listed).
LISTINGS = {
    ("kernels",): "sobel_h",  # both tables: the registry's, then the other tools' names
    ("kernels", "--table", "tsv"): "sobel-x\t3x3",
    ("kernels", "--json"): '"usage": "gaussian:SIZE:SIGMA"',
    ("params", "--list"): "resnet50 ",
    ("params", "--list", "--json"): '"name": "vgg16"',
    ("help",): "Topics (cnnfilter help TOPIC):",
    ("help", "arch"): "arch.yaml",
    ("help", "exit-codes"): "exit",
    ("help", "apply"): "Usage: cnnfilter apply",  # a command's help through `help`
}


@pytest.mark.parametrize("argv", [list(a) for a in LISTINGS])
def test_listings_import_no_heavy_module(argv):
    loaded, out, code = run_probe(argv)
    assert code == 0 and LISTINGS[tuple(argv)] in out, out[:300]
    assert not heavy_loaded(loaded), heavy_loaded(loaded)


def test_kernels_listing_on_a_terminal_draws_its_boxes_with_rich():
    # the other side of the rule: Rich is imported when the table goes to a terminal
    loaded, out, code = run_probe(["kernels"], {**ENV, "TTY_COMPATIBLE": "1", "COLUMNS": "200"})
    assert code == 0 and "┏━" in out and "│ sobel-x " in out
    assert loaded["rich"] and not loaded["numpy"]


def test_one_kernel_in_detail_needs_numpy_but_not_scipy_pil_or_yaml():
    loaded, out, code = run_probe(["kernels", "sobel-x"])
    assert code == 0 and "sum: 0" in out
    assert loaded["numpy"]  # the matrix is computed: the probe really ran the command
    assert not any(loaded[m] for m in ("scipy", "PIL", "yaml"))


def test_apply_reports_the_method_that_ran_and_accepts_method_option(samples, tmp_path):
    src = samples / "coins.png"
    auto = invoke(
        ["apply", str(src), "-k", "gaussian:9:2", "-o", str(tmp_path / "a.png")],
        catch_exceptions=False,
    )
    assert auto.exit_code == 0, auto.stderr
    assert "method separable (auto: rank-1 9x9 kernel" in auto.stderr
    fft = invoke(
        ["apply", str(src), "-k", "gaussian:9:2", "--method", "fft", "-o", str(tmp_path / "f.png")],
        catch_exceptions=False,
    )
    assert fft.exit_code == 0, fft.stderr
    assert "method fft (9x9 kernel)" in fft.stderr
    a = np.asarray(Image.open(tmp_path / "a.png")).astype(int)
    f = np.asarray(Image.open(tmp_path / "f.png")).astype(int)
    assert np.abs(a - f).max() <= 1  # same filter, rounding may flip a half-way pixel


def test_apply_refuses_separable_for_a_full_rank_kernel(samples, tmp_path):
    result = invoke(
        [
            "apply",
            str(samples / "coins.png"),
            "-k",
            "laplacian",
            "--method",
            "separable",
            "-o",
            str(tmp_path / "x.png"),
        ],
    )
    assert result.exit_code == 2
    assert "needs a rank-1 kernel" in result.stderr and "--method auto" in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_the_group_builds_a_command_only_when_it_is_used():
    import typer.main

    from cnnfilter.cli import app

    group = typer.main.get_command(app)
    ctx = group.make_context("cnnfilter", [], resilient_parsing=True)
    root_help = group.get_help(ctx)
    assert "apply  " in root_help and "receptive-field  " in root_help
    assert list(group.commands._built) == []  # the listing read each help text alone
    command = group.get_command(ctx, "detect")
    assert command.name == "detect" and any(p.name == "template" for p in command.params)
    assert list(group.commands._built) == ["detect"]
    assert list(group.commands) == SUBCOMMANDS  # every name, built or not, in order


def _converter_cases():
    """(command, parameter, value) for every parameter: its default, and a word."""
    import typer.main

    from cnnfilter.cli import app

    group = typer.main.get_command(app)
    for name in SUBCOMMANDS:
        command = group.commands[name]
        for param in command.params:
            yield name, param, param.default
            yield name, param, "sobel-x"
            # what Click passes from the command line: a flag's bool, an int or float
            # option's number, a choice's word
            yield from ((name, param, v) for v in (True, False, 3, 2.5))
            for choice in getattr(getattr(param, "type", None), "choices", None) or ():
                yield name, param, choice
            if param.multiple or param.nargs != 1:
                yield name, param, ("sobel-x", "b.png")  # several words, as Click passes them


def test_values_passed_through_are_what_typers_converter_returns():
    """The values the CLI keeps from Typer's (Pydantic) converter come out of it unchanged.

    :func:`cnnfilter.cli._app.unchanged_value` answers for absent values, words for
    ``str`` and ``list[str]`` parameters and defaults; for each of them, Typer's own
    conversion must give the same value (and type).
    """
    from typer.core import TyperOption

    from cnnfilter.cli._app import _CONVERT, unchanged_value

    if not hasattr(TyperOption, "get_runtime_param"):
        pytest.skip("this Typer converts without Pydantic")
    checked = 0
    for name, param, value in _converter_cases():
        source = "DEFAULT" if value == param.default else "COMMANDLINE"
        ctx = _FakeContext(source)
        kept = unchanged_value(param, ctx, value)
        if kept is _CONVERT:
            continue
        real = TyperOption.__mro__[1].get_runtime_param(param)  # Typer's, not deferred
        converted = real.coerce(value, param=param, ctx=None)
        assert converted == kept and type(converted) is type(kept), (name, param.name, value)
        checked += 1
    assert checked > 100  # defaults, flags, numbers, choices and words of str options


class _FakeContext:
    def __init__(self, source: str) -> None:
        import enum

        self.source = enum.Enum("Source", [source])[source]

    def get_parameter_source(self, name):
        return self.source


def test_plain_and_tsv_text_are_the_same_from_rows_and_from_rich():
    from rich.table import Table

    from cnnfilter.cli._tables import Rows, table_text

    rows = Rows(title="t", caption="c", title_justify="left")
    rich = Table(title="t", caption="c", title_justify="left")
    for table in (rows, rich):
        table.add_column("name")
        table.add_column("sum", justify="right")
        table.add_row("sobel-x", "0")
        table.add_row("gaussian:SIZE:SIGMA", "1.25")
    for form in ("plain", "tsv"):
        assert table_text(rows, form) == table_text(rich, form)
    assert (
        table_text(rows) == "t\nname                  sum\nsobel-x                 0\n"
        "gaussian:SIZE:SIGMA  1.25\nc\n"
    )
    assert table_text(rows.to_rich()) == table_text(rows)
