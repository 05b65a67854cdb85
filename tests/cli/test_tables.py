"""Tables and matrices on stdout: no value is ever elided or cropped.

Rich's default overflow turns ``0.000322`` into ``0.00032…`` when a table is
wider than the console, which a pipe makes 80 columns wide. Values must
reach scripts whole; long text may wrap. Flags must not advertise a value.
"""

from __future__ import annotations

import io
import re

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
    out = stdout_of("kernels", "log")
    assert "…" not in out
    lines = out.splitlines()
    assert lines[0] == "log (9x9)"
    expected = resolve_kernel("log").weights
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
    lines = out.splitlines()
    for entry in REGISTRY.values():
        row = [line for line in lines if line.startswith(f"│ {entry.usage} ")]
        assert len(row) == 1, entry.usage
        assert entry.description in row[0] and entry.source in row[0]
    # title, 3 header lines, one line per kernel, bottom border
    assert len(lines) == len(REGISTRY) + 5


@pytest.mark.parametrize(
    "args",
    [
        ("params", ARCH / "resnet50.yaml", "--compare", "locally-connected"),
        ("receptive-field", ARCH / "resnet50.yaml"),
    ],
)
def test_layer_tables_piped_at_80_columns_keep_every_row_on_one_line(args):
    out = stdout_of(*args, columns=80)
    assert "…" not in out
    rows = [line for line in out.splitlines() if line.startswith("│ ")]
    assert any(line.startswith("│   layer4.2.conv3 ") for line in rows)
    assert all(line.count("│") == len(rows[0].split("│")) - 1 for line in rows)
    if args[0] == "params":
        conv1 = next(line for line in rows if line.startswith("│ conv1 "))
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
    assert "…" not in out
    assert re.search(r"│\s+1 │\s+10 │\s+20 │\s+765.031 │", out), out


def test_a_table_in_a_narrow_terminal_folds_values_instead_of_cutting_them():
    table = Table(title="t")
    for name in ("layer", "type", "parameters", "MACs"):
        table.add_column(name, no_wrap=True)
    cells = ("features.denseblock4.denselayer16.conv2", "conv2d", "118,013,952", "0.000322")
    table.add_row(*cells)

    def render(width: int, terminal: bool) -> str:
        buffer = io.StringIO()
        console = Console(file=buffer, width=width, force_terminal=terminal, color_system=None)
        print_table(console, table)
        return buffer.getvalue()

    narrow, piped = render(30, True), render(30, False)
    assert "…" not in narrow and "…" not in piped
    digits = sorted(re.findall(r"\d", " ".join(cells)))
    assert sorted(re.findall(r"\d", narrow)) == digits  # folded, none lost
    assert "118,013,952" in piped and "0.000322" in piped  # piped: natural width
    assert max(len(line) for line in narrow.splitlines()) <= 30


def test_flags_take_no_value_and_show_no_metavar():
    root = get_command(app)
    checked = 0
    for name, command in root.commands.items():
        help_text = invoke([name, "--help"]).stdout
        assert "<bool>" not in help_text and "BOOLEAN" not in help_text, name
        for param in command.params:
            if param.param_type_name == "option" and param.type_descriptor.annotation is bool:
                assert param.is_flag, (name, param.opts)
                checked += 1
    assert checked >= 10  # --force, --json, --sum-channels, --ceil-mode, ...


def test_the_plain_kernel_table_is_the_text_rich_prints_on_a_pipe():
    import io

    from rich.console import Console
    from rich.table import Table

    from cnnfilter.cli._app import plain_table, print_table
    from cnnfilter.tasks.kernels import registry_listing

    header = ["name", "size", "sum", "separable", "what", "source"]
    rows = registry_listing()
    table = Table(title="Named kernels (written for convolution)")
    for col in header:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    buf = io.StringIO()
    print_table(
        console=Console(file=buf, width=80, no_color=True, highlight=False, soft_wrap=True),
        table=table,
    )
    plain = plain_table("Named kernels (written for convolution)", header, rows)
    assert plain == buf.getvalue().rstrip("\n")
    assert len(plain.splitlines()) == len(rows) + 5
