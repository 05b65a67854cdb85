"""Help that reads like a man page, shell completion, help topics and the manual (issue 18).

Points 1, 2 and 6: every command's --help at 80 columns names values as a person reads them
(no Python type names), ends with an example; completion answers from the registry and the
engine's tables, in-process and through the ``_CNNFILTER_COMPLETE`` protocol in a real
process; ``cnnfilter help TOPIC`` and ``--man`` work from the installed package.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from cnnfilter.cli._complete import (
    architecture_names,
    complete_arch,
    complete_boundary,
    complete_image,
    complete_kernel,
)
from cnnfilter.engine.choices import BOUNDARIES
from cnnfilter.help import TOPICS, topic_text
from cnnfilter.kernels import REGISTRY, resolve_kernel

from helpers import ROOT, invoke

COMMANDS = ["apply", "kernels", "params", "receptive-field", "detect", "pool", "help"]

#: What Typer/Click print when a value has no readable name.
PYTHON_TYPES = re.compile(
    r"list\[|<str>|<int|<float|<path>|<bool>|\b(?:INTEGER|TEXT|FLOAT|BOOLEAN|PATH)\b"
    r"|\{(?:images|INPUT|arch|image|source|topic|IMAGE\.\.\.)\}"
)


def help_of(*args: str) -> str:
    result = invoke(*args, "--help", env={"COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"})
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_at_80_columns_names_no_python_type(command):
    text = help_of(*([command] if command else []))
    assert not PYTHON_TYPES.search(text), PYTHON_TYPES.search(text)[0]
    assert max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_ends_with_an_example_that_runs_as_this_command(command):
    text = help_of(*([command] if command else [])).rstrip().splitlines()
    label = next(i for i, line in enumerate(text) if line.strip() in ("Example:", "Examples:"))
    example = text[label + 1].strip()
    assert example.startswith(f"cnnfilter {command}".rstrip())
    assert label > next(i for i, line in enumerate(text) if line.startswith("Options:")) or (
        command == ""
    )


def test_apply_help_uses_readable_metavars():
    text = help_of("apply")
    assert text.startswith("Usage: cnnfilter apply [OPTIONS] IMAGE...\n")
    for shown in (
        "  IMAGE...  ",
        "--stride S|SH,SW",
        "--padding same|valid|full|P|PH,PW|T,B,L,R",
        "--dilation D|DH,DW",
        "-k, --kernel NAME|MATRIX",
        "--boundary MODE",
        "--op convolve|correlate",
        "-j, --workers N",
    ):
        assert shown in text, shown


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (["kernels"], "Usage: cnnfilter kernels [OPTIONS] [KERNEL]"),
        (["detect"], "Usage: cnnfilter detect [OPTIONS] IMAGE"),
        (["pool"], "Usage: cnnfilter pool [OPTIONS] INPUT"),
        (["params"], "Usage: cnnfilter params [OPTIONS] [ARCH]"),  # optional: params --list
        (["help"], "Usage: cnnfilter help [OPTIONS] [TOPIC]"),
    ],
)
def test_usage_lines_name_arguments_in_capitals(args, usage):
    assert help_of(*args).splitlines()[0] == usage


# -- small slips -----------------------------------------------------------------------


def test_a_mistyped_command_reads_as_one_sentence():
    result = invoke("aply")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: No such command 'aply' (did you mean 'apply'?); see 'cnnfilter --help'\n"
    )


def test_a_bad_choice_has_no_value_error_prefix(samples):
    result = invoke("apply", samples / "camera.png", "-o", "x.png", "--op", "foo")
    assert result.stderr.startswith("Error: Invalid value for '--op': 'foo' is not one of")


def test_one_tap_is_singular_and_no_parameter_counts_read_naturally():
    from cnnfilter.engine.filtering import plan_method

    plan = plan_method(resolve_kernel("identity").weights, method="direct")
    assert "3x3 kernel: 1 non-zero tap" in str(plan) and "taps" not in str(plan)
    result = invoke("kernels", "sobel-x:3")
    assert result.stderr == (
        "Error: kernel 'sobel-x' takes no parameters, got 1: '3'; write just sobel-x\n"
    )


# -- completion ------------------------------------------------------------------------


def test_kernel_completion_offers_what_kernels_lists():
    offered = [value for value, _ in complete_kernel("")]
    for entry in REGISTRY.values():
        assert (entry.name + (":" if entry.params else "")) in offered
    assert "sobel_h" in offered and "Laplacian:" in offered and "cv-sobel:" in offered
    assert "sobelx" not in offered  # hidden spellings are not offered
    assert [v for v, _ in complete_kernel("gau")] == ["gaussian-3x3", "gaussian-5x5", "gaussian:"]
    assert [v for v, _ in complete_kernel("Gau")] == ["Gaussian:"]  # case counts, as in a shell
    # every offered name (with its default parameters) resolves
    for value in offered:
        resolve_kernel(value.rstrip(":") if value != "Laplacian:" else "Laplacian:0")


def test_boundary_completion_is_the_engine_table():
    assert [v for v, _ in complete_boundary("")] == list(BOUNDARIES)
    assert complete_boundary("m") == [("mirror", BOUNDARIES["mirror"])]


def test_arch_completion_offers_names_and_layer_files(tmp_path, monkeypatch):
    names = [n for n, _ in architecture_names()]
    assert {"vgg16", "resnet50", "lenet5"} <= set(names)
    vgg = [v for v, _ in complete_arch("vgg")]
    assert "vgg16" in vgg and all(v.startswith("vgg") for v in vgg)  # the built-ins
    (tmp_path / "net.yaml").write_text("input: [8, 8, 1]\n")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    assert complete_arch("n") == [("net.yaml", "file")]
    assert [v for v, _ in complete_arch("")][-2:] == ["net.yaml", "sub/"]


def test_image_completion_offers_images_and_folders(samples):
    offered = [v for v, _ in complete_image(str(samples) + "/ca")]
    assert offered == [str(samples) + "/camera.png"]
    assert str(samples) + "/arch/" in [v for v, _ in complete_image(str(samples) + "/")]


def complete_in_a_process(words: str, shell: str = "bash") -> list[str]:
    """Ask a real ``cnnfilter`` process for completions, as the installed shell script does."""
    env = {**os.environ, "_CNNFILTER_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        env |= {"COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    else:
        env |= {"_TYPER_COMPLETE_ARGS": words}
    script = "import sys; from cnnfilter.cli import main; sys.argv[0] = 'cnnfilter'; main()"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    return proc.stdout.splitlines()


def test_completion_protocol_in_a_subprocess():
    assert complete_in_a_process("cnnfilter apply x.png -k sobel") == [
        "sobel-x", "sobel-y", "sobel_h", "sobel_v",
    ]  # fmt: skip
    assert complete_in_a_process("cnnfilter apply x.png --boundary ") == list(BOUNDARIES)
    assert "vgg16_bn" in complete_in_a_process("cnnfilter params vgg")
    assert complete_in_a_process("cnnfilter rec") == ["receptive-field"]
    zsh = "\n".join(complete_in_a_process("cnnfilter kernels Lap", "zsh"))
    assert "Laplacian\\\\:" in zsh and "ImageMagick" in zsh  # zsh escapes the colon


def test_show_completion_prints_a_script():
    from pathlib import Path

    script = Path(sys.executable).parent / "cnnfilter"  # the console script pip installed
    if not script.exists():
        pytest.skip("the cnnfilter console script is not installed next to this Python")
    # Typer finds the shell among the parent processes (shellingham), which fails where
    # none is a shell (a detached run); its own tests' switch makes the option take the
    # shell's name instead, so the test does not depend on how pytest was started
    env = {**os.environ, "SHELL": "/bin/bash", "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    proc = subprocess.run(
        [str(script), "--show-completion", "bash"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "_CNNFILTER_COMPLETE=complete_bash" in proc.stdout


# -- help topics and the manual page ---------------------------------------------------


@pytest.mark.parametrize("topic", list(TOPICS))
def test_help_topic_prints_the_reference_page(topic):
    result = invoke("help", topic)
    assert result.exit_code == 0
    assert result.stdout == (ROOT / "docs" / "reference" / TOPICS[topic].file).read_text()
    assert result.stdout == topic_text(topic)


def test_help_topic_aliases_commands_and_mistakes():
    assert invoke("help", "arch.yaml").stdout == topic_text("arch")
    assert invoke("help", "apply").stdout.startswith("Usage: cnnfilter apply [OPTIONS] IMAGE...")
    listing = invoke("help").stdout
    assert all(name in listing for name in TOPICS)
    bad = invoke("help", "boundry")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("Error: no help topic 'boundry' (did you mean boundary?)")


def test_topics_are_package_data():
    from importlib import resources

    files = {p.name for p in resources.files("cnnfilter.help").iterdir()}
    assert {t.file for t in TOPICS.values()} <= files
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"cnnfilter.help" = ["*.md"]' in pyproject


def test_man_page_is_roff_with_every_command_and_topic():
    text = invoke("help", "--man").stdout
    assert text.startswith('.TH CNNFILTER 1 ""')
    for name in COMMANDS:
        assert f".SS cnnfilter {name}\n" in text
    for entry in TOPICS.values():
        assert f".SH {entry.title.split(':')[0].upper()}\n" in text
    body = [line for line in text.splitlines() if not line.startswith((".TH", ".SH", ".SS"))]
    # no line of text is read as a roff request
    assert all(
        not line.startswith((".", "'")) or line in (".nf", ".fi", ".B cnnfilter") for line in body
    )


@pytest.mark.skipif(shutil.which("man") is None, reason="man not installed")
def test_man_renders_the_page(tmp_path):
    page = tmp_path / "cnnfilter.1"
    page.write_text(invoke("help", "--man").stdout)
    proc = subprocess.run(
        ["man", "-l", str(page)], capture_output=True, text=True, check=False,
        env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "cnnfilter apply [OPTIONS] IMAGE..." in proc.stdout
    assert "symmetric" in proc.stdout and "warning" not in proc.stderr.lower()
