"""Fuzzing the whole CLI: every command with random option values and random files.

Each example runs one command in-process (``helpers.invoke``) with option
values drawn from numbers (NaN, inf, huge, negative), words and random text,
and with random bytes as the image, the template, the kernel file and the
layer file. Every run must:

* end with exit code 0, 1 or 2 and no exception but the CLI's own exit;
* print no traceback (stderr holds ``Error: ...`` lines or notes);
* change no file outside ``out/`` (the inputs stay byte-identical, nothing
  appears in the working directory);
* finish within a bound: hypothesis's per-example ``deadline`` (generous, so
  that a shared machine's noise never fails it) and a SIGALRM watchdog that
  interrupts a true hang, which a deadline alone cannot.

Derandomized: the same examples on every run, so CI is deterministic. For a
long local session: ``CNNFILTER_FUZZ_EXAMPLES=5000 python -m pytest
tests/cli/test_fuzz_cli.py`` (random, not derandomized).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from helpers import ROOT, invoke, watchdog

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGALRM watchdog")

LONG = int(os.environ.get("CNNFILTER_FUZZ_EXAMPLES", "0"))

#: Seconds one example may run before it counts as a hang (a bound, not a speed goal).
BOUND_S = 20


# -- option values ---------------------------------------------------------------------------

_SPECIAL = ["nan", "inf", "-inf", "1e999", "-0", "0", "1", "-1", "2,1", "1e20", "1e-300"]
_SPECIAL += ["3,3,3,3", "", " ", "abc", "9" * 40, "0x10", "1_000", "½", "same", "valid", "full"]
numbers = st.one_of(
    st.sampled_from(_SPECIAL),
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
#: Option values: half of them plausible (so that runs get past the parser), half odd.
values = st.one_of(st.sampled_from(["1", "2", "3", "0.5", "2,1"]), numbers)
words = st.one_of(numbers, st.text(max_size=12))  # any unicode, NUL and newlines included
small = st.one_of(st.integers(-3, 9).map(str), st.sampled_from(["0", "1", "2", "nan", "x"]))
kernel_specs = st.one_of(
    st.sampled_from(
        ["box", "sobel", "sobel-x", "gaussian:5:1", "log:9:1.4", "dog", "identity", "laplacian"]
    ),
    st.builds(  # a valid size and any positive sigma (tiny ones underflow, huge overflow)
        lambda n, size, sigma: f"{n}:{size}:{sigma!r}",
        st.sampled_from(["gaussian", "log", "dog"]),
        st.integers(1, 9),
        st.floats(min_value=0, exclude_min=True, allow_infinity=False),
    ),
    st.builds(
        lambda n, a, b: f"{n}:{a}:{b}",
        st.sampled_from(["gaussian", "log", "dog", "box"]),
        numbers,
        numbers,
    ),
    st.lists(st.lists(numbers, min_size=1, max_size=3), min_size=1, max_size=3).map(
        lambda rows: "[" + ",".join("[" + ",".join(r) + "]" for r in rows) + "]"
    ),
    words,
)
out_names = st.sampled_from(["o.png", "o.jpg", "o.webp", "o.tif", "o.npy", "o.gif", "o.bmp"])

#: Image arguments: files written by the fixture (``junk.bin`` is this example's bytes).
IMAGES = ["img.png", "junk.bin", "gray.png", "arr.npy", "-", "img.png", "missing.png"]


def _options(pairs: dict) -> st.SearchStrategy[list[str]]:
    """A random subset of ``{flag: strategy}`` as ``[flag, value, ...]`` (``None``: a switch)."""

    def flatten(chosen: list) -> list[str]:
        args: list[str] = []
        for flag, value in chosen:
            args += [flag] if value is None else [flag, value]
        return args

    items = [
        st.tuples(st.just(flag), st.none() if strat is None else strat)
        for flag, strat in pairs.items()
    ]
    return st.lists(st.one_of(items), max_size=3, unique_by=lambda fv: fv[0]).map(flatten)


COMMON = {"--json": None, "-q": None, "-v": None, "--max-pixels": values, "--frame": small}

APPLY = _options(
    {
        "--padding": values,
        "--stride": small,
        "--dilation": small,
        "--boundary": st.sampled_from(["reflect", "constant", "wrap", "nearest", "zero", "x"]),
        "--cval": values,
        "--offset": values,
        "--scale": st.one_of(numbers, st.just("auto")),
        "--range": st.sampled_from(["auto", "clip", "abs", "rescale", "stretch", "raw", "x"]),
        "--percentile": values,
        "--gamma": values,
        "--black-percentile": values,
        "--method": st.sampled_from(["auto", "direct", "fft", "separable", "x"]),
        "--combine": st.sampled_from(["none", "magnitude", "x"]),
        "--format": st.one_of(st.sampled_from(["png", "jpg", "webp", "npy", "tif"]), words),
        "--quality": values,
        "--compress-level": small,
        "--kernel-file": st.sampled_from(["kern.bin", "kern.txt", "missing.npy"]),
        "--sum-channels": None,
        "--side-by-side": None,
        **COMMON,
    }
)
DETECT = _options(
    {
        "--method": st.sampled_from(["raw", "ncc", "x"]),
        "--top": values,
        "--min-distance": values,
        "--threshold": values,
        "--heatmap": st.just("out/h.png"),
        "--overlay": st.just("out/v.png"),
        "--raw": st.sampled_from(["out/r.npy", "out/r.tif", "out/r.png"]),
        "--same-size": None,
        "--pad-value": values,
        **COMMON,
    }
)
POOL = _options(
    {
        "--op": st.sampled_from(["max", "avg", "lp", "x"]),
        "--size": values,
        "--stride": values,
        "--padding": values,
        "--dilation": values,
        "--ceil-mode": None,
        "--no-count-include-pad": None,
        "--p": values,
        "--show-winners": st.just("out/w.png"),
        "--format": words,
        **COMMON,
    }
)
ARCH = _options({"--csv": None, "--markdown": None, "--json": None, "-q": None, "-v": None})
KERNELS = _options({"--json": None, "-q": None, "-v": None, "--csv": None})
FIELD = _options(
    {
        "--fit": st.sampled_from(["crop", "letterbox", "x"]),
        "--max-pixels": values,
        "--format": words,
        "--json": None,
        "--csv": None,
        "-q": None,
    }
)

FORWARD = _options(
    {
        "--weights": st.sampled_from(["w.npz", "junk.bin", "kern.bin", "arr.npy", "missing.npz"]),
        "--weights-layout": st.one_of(st.sampled_from(["torch", "keras"]), words),
        "--init": st.one_of(st.sampled_from(["he", "glorot"]), words),
        "--seed": st.one_of(small, numbers),
        "--layer": st.one_of(st.sampled_from(["c", "r", "c1", "s2", "..", ""]), words),
        "--npz": None,
        "--scale": st.one_of(st.sampled_from(["tile", "shared"]), words),
        "--size": values,
        "--mean": values,
        "--std": values,
        "--runtime": st.one_of(st.sampled_from(["auto", "reference"]), words),
        **COMMON,
    }
)
#: forward's -o: a fresh folder, the folder itself, an input's name in it (never written).
FORWARD_OUT = st.sampled_from(["out/maps", "out", "out/maps", "img.png", "-"])


def _apply(images, kernel, opts, out):
    return ["apply", *images, "-k", kernel, *opts, "-o", f"out/{out}", "--force"]


IMAGE = st.sampled_from(IMAGES)

#: Each command's command lines; the test runs every command in turn.
COMMANDS = {
    "apply": st.builds(
        _apply, st.lists(IMAGE, min_size=1, max_size=2), kernel_specs, APPLY, out_names
    ),
    "detect": st.builds(
        lambda img, pattern, opts: ["detect", img, *pattern, *opts, "--force"],
        IMAGE,
        st.one_of(
            st.tuples(st.just("--template"), st.sampled_from(["tpl.png", "junk.bin", "-"])),
            st.tuples(st.just("-k"), kernel_specs),
        ).map(list),
        DETECT,
    ),
    "pool": st.builds(
        lambda img, opts, out: ["pool", img, *opts, "-o", f"out/{out}", "--force"],
        IMAGE,
        POOL,
        out_names,
    ),
    "kernels": st.one_of(
        st.builds(lambda spec, opts: ["kernels", spec, *opts], kernel_specs, KERNELS),
        st.builds(lambda opts: ["kernels", *opts], KERNELS),
    ),
    "params": st.builds(
        lambda f, opts: ["params", f, *opts],
        st.sampled_from(["net.yaml", "net.yaml", "junk.bin", "-"]),
        ARCH,
    ),
    "receptive-field": st.builds(
        lambda f, drawing, opts: ["receptive-field", f, *drawing, *opts],
        st.sampled_from(["net.yaml", "net.yaml", "lenet.yaml", "junk.bin", "-"]),
        st.one_of(
            st.builds(
                lambda img, layer, unit: (
                    ["--image", img, "--layer", layer, "--unit", unit]
                    + ["-o", "out/rf.png", "--force"]
                ),
                st.sampled_from(["img.png", "gray.png", "junk.bin", "arr.npy"]),
                st.one_of(st.sampled_from(["c1", "s2", "c3", "s4", "c5", "f6"]), words),
                st.one_of(st.sampled_from(["0,0", "7,7", "-1,2", "1e9,1", "2,3"]), words),
            ),
            st.just([]),
        ),
        FIELD,
    ),
    "forward": st.builds(
        lambda arch, img, opts, out: ["forward", arch, img, *opts, "-o", out, "--force"],
        st.sampled_from(["kern.yaml", "kern.yaml", "net.yaml", "lenet.yaml", "junk.bin"]),
        IMAGE,
        FORWARD,
        FORWARD_OUT,
    ),
    "formats": st.builds(lambda opts: ["formats", *opts], _options({"--json": None, "-v": None})),
}


# -- random files ----------------------------------------------------------------------------

LENET = (ROOT / "samples" / "arch" / "lenet5.yaml").read_text()
#: Where LeNet-5's numbers are (sizes, channels, strides): the values worth breaking.
_NUMBER_SPANS = [m.span() for m in re.finditer(r"(?<![#\w])\d+", LENET)]
_number_changed = st.builds(  # one of the real file's numbers replaced: valid YAML, odd values
    lambda span, value: LENET[: span[0]] + value + LENET[span[1] :],
    st.sampled_from(_NUMBER_SPANS),
    numbers,
)
yaml_texts = st.one_of(
    _number_changed,
    _number_changed,  # twice: the kind that reaches the calculators, drawn more often
    st.builds(  # any span replaced by anything
        lambda at, width, text: LENET[:at] + text + LENET[at + width :],
        st.integers(0, len(LENET)),
        st.integers(0, 8),
        words,
    ),
    st.text(max_size=200),
)
blobs = st.one_of(
    st.binary(max_size=300),
    st.builds(  # a real PNG with some bytes changed
        lambda data, at, junk: data[:at] + junk + data[at + len(junk) :],
        st.just((ROOT / "samples" / "crops" / "astronaut_eye.png").read_bytes()),
        st.integers(0, 2000),
        st.binary(min_size=1, max_size=8),
    ),
)


@pytest.fixture
def workdir(tmp_path) -> Iterator[Path]:
    """Inputs of every kind in ``tmp_path``; the process runs there (nothing may appear)."""
    rng = np.random.default_rng(20261130)
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(tmp_path / "img.png")
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(tmp_path / "gray.png")
    Image.open(tmp_path / "img.png").crop((3, 2, 8, 6)).save(tmp_path / "tpl.png")
    np.save(tmp_path / "arr.npy", rng.normal(size=(12, 10)).astype(np.float32))
    (tmp_path / "kern.txt").write_text("1 0 -1\n2 0 -2\n1 0 -1\n")
    shutil.copy(ROOT / "samples" / "arch" / "lenet5.yaml", tmp_path / "lenet.yaml")
    (tmp_path / "kern.yaml").write_text(
        "input: [8, 8, 1]\nlayers:\n  - conv2d: {name: c, kernels: [sobel-x, curve]}\n"
        "  - relu: {name: r}\n  - maxpool2d: {kernel_size: 2}\n"
    )
    np.savez(tmp_path / "w.npz", **{"c.weight": rng.normal(size=(2, 1, 3, 3)), "x.bias": [1.0]})
    (tmp_path / "out").mkdir()
    before = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(before)


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and folder outside ``out/``, with a hash of each file's bytes."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == "out":
            continue
        found[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "/"
    return found


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_with_random_options_and_files_ends_cleanly(workdir, command):
    @settings(
        max_examples=LONG or (8 if command == "formats" else 50),
        derandomize=not LONG,
        deadline=timedelta(seconds=BOUND_S),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(COMMANDS[command], blobs, blobs, yaml_texts, blobs)
    def run(args, junk, kern, yaml_text, stdin):
        (workdir / "junk.bin").write_bytes(junk)
        (workdir / "kern.bin").write_bytes(kern)
        (workdir / "net.yaml").write_text(yaml_text, encoding="utf-8", errors="surrogateescape")
        shutil.rmtree(workdir / "out")
        (workdir / "out").mkdir()
        before = _snapshot(workdir)
        with watchdog(BOUND_S):
            result = invoke(*args, input=stdin, catch_exceptions=True)
        shown = f"cnnfilter {' '.join(map(repr, args))}"
        exc = result.exception
        assert exc is None or isinstance(exc, SystemExit), f"{shown}: {exc!r}\n{result.stderr}"
        assert result.exit_code in (0, 1, 2), f"{shown}: exit {result.exit_code}\n{result.stderr}"
        assert "Traceback" not in result.stderr, f"{shown}\n{result.stderr}"
        if result.exit_code:
            assert "Error: " in result.stderr or "failed " in result.stderr, shown
        assert _snapshot(workdir) == before, f"{shown}: a file outside out/ changed"

    run()
