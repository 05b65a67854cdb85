"""Tables and matrices on stdout: no value is ever elided or cropped.

Rich's default overflow turns ``0.000322`` into ``0.00032…`` when a table is
wider than the console, which a pipe makes 80 columns wide. Values must
reach scripts whole; long text may wrap. Flags must not advertise a value.
"""

from __future__ import annotations

import io
import re
import typing

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from rich.table import Table
from typer.main import get_command

from cnnfilter.cli import app
from cnnfilter.cli._app import print_table
from cnnfilter.kernels import REGISTRY, resolve_kernel

from helpers import ROOT, invoke

ARCH = ROOT / "samples" / "arch"


def stdout_of(*args: str, columns: int = 80) -> str:
    result = invoke(*args, env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_kernel_matrix_is_printed_whole_when_piped():
    out = stdout_of("kernels", "log:9:1.4")
    assert "…" not in out
    lines = out.splitlines()
    assert lines[0] == "log:9:1.4 (9x9)"
    expected = resolve_kernel("log:9:1.4").weights
    shown = np.array([[float(v) for v in line.split()] for line in lines[1:10]])
    np.testing.assert_allclose(shown, expected, rtol=5e-4)  # 4 significant digits
    assert shown[0, 0] == pytest.approx(0.0003258, rel=1e-9)
    # right-aligned columns: every matrix line has the same length
    assert len({len(line) for line in lines[1:10]}) == 1


def test_a_3d_kernel_is_shown_channel_by_channel():
    out = stdout_of("kernels", "[[[1,2],[3,4]],[[5,6],[7,8]]]")
    assert out.splitlines()[:7] == [
        "custom (2x2x2)",
        "[:, :, 0]",
        "1  3",
        "5  7",
        "[:, :, 1]",
        "2  4",
        "6  8",
    ]
    assert "sum: 36" in out


def test_kernel_list_piped_at_80_columns_has_one_line_per_kernel():
    out = stdout_of("kernels", columns=80)
    assert "…" not in out
    assert not BOX.search(out)  # piped: plain text, no box drawing
    lines = out.splitlines()
    for entry in REGISTRY.values():
        row = [line for line in lines if line.startswith(f"{entry.usage} ")]
        assert len(row) == 1, entry.usage
        assert entry.description in row[0] and entry.source in row[0]
    # title, header, one line per kernel, then the names of other tools
    assert lines[1].split() == ["name", "size", "sum", "separable", "what", "source"]
    assert lines[len(REGISTRY) + 2] == ""


def test_kernel_list_as_tsv_and_as_boxes_when_asked():
    tsv = stdout_of("kernels", "--table", "tsv").splitlines()
    assert tsv[0].split("\t") == ["name", "size", "sum", "separable", "what", "source"]
    sobel = next(line for line in tsv if line.startswith("sobel-x\t")).split("\t")
    assert sobel[1:4] == ["3x3", "0", "yes"]
    assert BOX.search(stdout_of("kernels", "--table", "box", columns=250))


@pytest.mark.parametrize(
    "args",
    [
        ("params", ARCH / "resnet50.yaml", "--compare", "locally-connected"),
        ("receptive-field", ARCH / "resnet50.yaml"),
    ],
)
def test_layer_tables_piped_at_80_columns_keep_every_row_on_one_line(args):
    out = stdout_of(*args, columns=80)
    assert "…" not in out and not BOX.search(out)
    lines = out.splitlines()
    assert any(line.startswith("    layer4.2.conv3 ") for line in lines)  # block > residual > conv
    if args[0] == "params":
        conv1 = next(line for line in lines if line.startswith("conv1 "))
        assert "118,013,952" in conv1 and "9,408" in conv1


def test_detect_peaks_table_piped_keeps_scores(tmp_path):
    image = np.zeros((40, 50), dtype=np.uint8)
    image[10:17, 20:27] = 255
    Image.fromarray(image).save(tmp_path / "a_rather_long_picture_name_for_a_narrow_table.png")
    out = stdout_of(
        "detect",
        tmp_path / "a_rather_long_picture_name_for_a_narrow_table.png",
        "-k",
        "[[0.000123456,1],[1,1]]",
        "--top",
        "2",
        columns=20,
    )
    assert "…" not in out and not BOX.search(out)
    # the 6 x 6 plateau of 765.031 (the kernel inside the square) is one peak, at its centre
    assert re.search(r"^\s+1\s+12\s+22\s+765.031$", out, re.M), out


#: Box-drawing characters (Rich's heavy and light boxes).
BOX = re.compile("[\u2500-\u257f]")


def on_terminal(table, width: int) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=True, color_system=None)
    print_table(console, table)
    return buffer.getvalue()


def words_of(table) -> set[str]:
    words = {str(c.header) for c in table.columns} | {w for c in table.columns for w in []}
    for column in table.columns:
        words |= {w for cell in column._cells for w in str(cell).split()}
        words |= set(str(column.header).split())
    return words


def assert_no_word_split(text: str, words: set[str]) -> None:
    """Every header word and every number appears whole on one line."""
    flat = text.replace("│", " ").replace("┃", " ")
    seen = {w.rstrip(":") for line in flat.splitlines() for w in line.split()}
    missing = {w for w in words if w not in seen}
    assert not missing, missing


def test_a_table_in_a_narrow_terminal_never_cuts_or_splits_a_value():
    table = Table(title="t")
    for name in ("layer", "type", "parameters", "MACs"):
        table.add_column(
            name, no_wrap=True, justify="right" if name in ("parameters", "MACs") else "left"
        )
    cells = ("features.denseblock4.denselayer16.conv2", "conv2d", "118,013,952", "0.000322")
    table.add_row(*cells)
    for width in (30, 60, 80):
        out = on_terminal(table, width)
        assert "…" not in out
        assert_no_word_split(out, set(cells) | {"layer", "type", "parameters", "MACs"})
        # a line wider than the terminal holds one word that is wider still, whole
        assert all(len(line) <= width or len(line.split()) == 1 for line in out.splitlines())


def kernel_tables():
    """The two tables of `cnnfilter kernels`, as the command gives them to Rich on a terminal."""
    from cnnfilter.cli.kernels import registry_tables
    from cnnfilter.tasks.kernels import registry_document

    return [table.to_rich() for table in registry_tables(registry_document())]


@pytest.mark.parametrize("width", [80, 60])
def test_kernels_tables_on_a_terminal_never_split_a_number_or_header_word(width):
    for table in kernel_tables():
        out = on_terminal(table, width)
        assert max(len(line) for line in out.splitlines()) <= width
        numbers = {
            w for c in table.columns if str(c.header) in ("size", "sum") for w in map(str, c._cells)
        }
        headers = {w for c in table.columns for w in str(c.header).split()}
        assert_no_word_split(out, numbers | headers)


@pytest.mark.parametrize("width", [80, 60])
def test_detect_peak_table_on_a_terminal_never_splits_a_number(width, tmp_path):
    table = Table(title="top 2 peaks of a_long_kernel_name (raw)", caption="row, col: ...")
    for col in ("rank", "row", "col", "score"):
        table.add_column(col, justify="right")
    table.add_row("1", "1234", "5678", "-1.23457e+08")
    table.add_row("2", "12", "5", "0.000123456")
    out = on_terminal(table, width)
    assert BOX.search(out)  # a terminal gets the boxes
    assert_no_word_split(
        out, {"rank", "row", "col", "score", "1234", "5678", "-1.23457e+08", "0.000123456"}
    )


def test_flags_take_no_value_and_show_no_metavar():
    root = get_command(app)
    checked = 0
    for name, command in root.commands.items():
        help_text = invoke([name, "--help"]).stdout
        assert "<bool>" not in help_text and "BOOLEAN" not in help_text, name
        hints = typing.get_type_hints(command.callback)  # the command function's own annotations
        for param in command.params:
            if param.param_type_name == "option" and hints.get(param.name) is bool:
                assert param.is_flag, (name, param.opts)
                checked += 1
    assert checked >= 10  # --force, --json, --sum-channels, --ceil-mode, ...
