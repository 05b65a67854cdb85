"""The CLI's side of library errors: exit codes by class, parameter names as flags."""

from __future__ import annotations

import pytest

from cnnfilter.cli._app import known_flags
from cnnfilter.cli._errors import EXIT_CODES, PARAM_FLAGS, as_flags, exit_code_for
from cnnfilter.errors import CnnfilterError, ProcessingError, UsageError

from helpers import ROOT, invoke


def test_exit_codes_are_the_clis_by_class_not_attributes_of_the_errors():
    assert exit_code_for(UsageError("bad")) == 2
    assert exit_code_for(ProcessingError("corrupt")) == 1
    assert exit_code_for(CnnfilterError("other")) == 1
    assert not hasattr(UsageError("bad"), "exit_code")
    assert not hasattr(ProcessingError, "exit_code")
    assert set(EXIT_CODES) == {UsageError, ProcessingError}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("use method='fft' or a smaller kernel", "use --method fft or a smaller kernel"),
        ('use method="auto", direct or fft', "use --method auto, direct or fft"),
        ("scale the kernel down (scale=...)", "scale the kernel down (--scale ...)"),
        ("use range_mode='clip' to map it", "use --range clip to map it"),
        ("add sum_channels=True to sum them", "add --sum-channels to sum them"),
        ("kernel_size=0 is too small", "--size 0 is too small"),
        ("raw='x.png' must end in .npy", "--raw 'x.png' must end in .npy"),
        ("heatmap= writes a picture", "--heatmap writes a picture"),
        ("layer=: no layer named 'c9'", "--layer: no layer named 'c9'"),
        ("kernel=gaussian:7:1.5 is fine", "--kernel gaussian:7:1.5 is fine"),
        ("layer=, unit= draw; add image=PATH", "--layer, --unit draw; add --image PATH"),
        ("show_winners=True needs op='max'", "--show-winners needs --op max"),
        ("output='out/a b.png' exists", "--output 'out/a b.png' exists"),
        ("frame=3 is past the last frame", "--frame 3 is past the last frame"),
        ("max_pixels=100, got 400", "--max-pixels 100, got 400"),
        # not a flag of any command: left as written
        ("x=1 and foo='bar' stay", "x=1 and foo='bar' stay"),
        # a word that only ends in a flag's name is not rewritten
        ("my_method='fft' and a.method=1", "my_method='fft' and a.method=1"),
        # a message about a line of a layer file names the file's keys
        (
            "net.yaml:3: layer c1: stride=0; fix: stride: 1",
            "net.yaml:3: layer c1: stride=0; fix: stride: 1",
        ),
        ("no parameter at all", "no parameter at all"),
    ],
)
def test_as_flags_rewrites_parameter_names_as_the_clis_flags(message, expected):
    assert as_flags(message, known_flags()) == expected


def test_as_flags_only_rewrites_the_flags_it_is_given():
    assert as_flags("method='fft', scale=2", {"--scale"}) == "method='fft', --scale 2"


def test_every_flag_of_the_translation_table_exists_on_some_command():
    flags = known_flags()
    assert "--method" in flags and "--kernel" in flags and "--json" in flags
    assert set(PARAM_FLAGS.values()) <= flags


def test_a_library_error_reaches_stderr_with_flags_and_its_class_exit_code(tmp_path):
    # the engine refuses a non-rank-1 kernel for the separable method; the message it
    # raises names the parameter, the CLI's line names the flag
    result = invoke(
        "apply", ROOT / "samples/coins.png", "-k", "laplacian", "--method", "separable",
        "-o", tmp_path / "out.png",
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "--method auto" in result.stderr
    assert "method='" not in result.stderr
