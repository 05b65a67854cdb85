"""CLI choices and their help come from the engine's tables."""

from __future__ import annotations

import pytest

from cnnfilter.cli import apply, detect, pool
from cnnfilter.engine import choices
from cnnfilter.engine.boundary import BOUNDARY_MODES

from helpers import invoke


@pytest.mark.parametrize(
    ("enum", "table"),
    [
        (apply.Op, choices.OPERATIONS),
        (apply.Method, {"auto": "", **choices.FILTER_METHODS}),
        (apply.RangeMode, {**choices.RANGE_MODES, **choices.RAW_RANGE}),
        (detect.Method, choices.RESPONSE_METHODS),
        (pool.PoolOp, choices.POOL_OPS),
    ],
)
def test_each_choice_is_a_name_of_its_engine_table(enum, table):
    assert [m.value for m in enum] == list(table)


def test_the_boundary_descriptions_cover_the_engines_modes():
    assert list(choices.BOUNDARIES) == list(BOUNDARY_MODES)


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("apply", choices.FILTER_METHODS["separable"]),
        ("apply", choices.RANGE_MODES["rescale"]),
        ("apply", "mirror: d c b | a b c d | c b a"),
        ("detect", "ncc: zero-mean normalised"),
        ("pool", "lp: (sum of x^p)^(1/p)"),
    ],
)
def test_help_shows_the_engines_descriptions(command, text):
    result = invoke([command, "--help"], env={"COLUMNS": "1000", "NO_COLOR": "1"})
    assert text in " ".join(result.stdout.split())
