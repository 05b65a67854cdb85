"""Files cnnfilter never loses, and places it never writes (issue 10, items 1-5, 13, 16).

Every input is made here, in ``tmp_path``; the only device written is /dev/null, and
/dev/stdout only inside a child process whose stdout is a file of ``tmp_path``.
"""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnfilter import imageio
from cnnfilter.arch.parse import MAX_LAYER_NODES, MAX_LAYERS, parse_network
from cnnfilter.errors import UsageError
from cnnfilter.imageio import write_bytes_atomic, writing
from cnnfilter.tasks import batch
from cnnfilter.tasks.batch import InputFile

from helpers import invoke, one_error_line

CLI = [sys.executable, "-m", "cnnfilter"]


@pytest.fixture
def photo(tmp_path) -> Path:
    """A 24 x 32 gray gradient PNG."""
    path = tmp_path / "a.png"
    y, x = np.mgrid[0:24, 0:32]
    Image.fromarray(((x * 7 + y * 3) % 256).astype(np.uint8)).save(path)
    return path


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def box_of(path: Path) -> np.ndarray:
    """The box-filtered picture of ``path``, written to a regular file: the reference."""
    ref = path.with_name("reference.png")
    assert invoke("apply", path, "-k", "box", "-o", ref, "-q").exit_code == 0
    data = ref.read_bytes()
    ref.unlink()
    return decoded(data)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# -- 1. special files are written into, symbolic links followed ---------------------------


def test_dev_null_output_needs_neither_force_nor_format_and_keeps_json(photo):
    before = os.stat(os.devnull)
    result = invoke("apply", photo, "-k", "box", "-o", os.devnull, "--json", "-q")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["output"]["path"] == os.devnull and report["output"]["format"] == "PNG"
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    pooled = invoke("pool", photo, "--size", "2", "-o", os.devnull, "--json", "-q")
    assert pooled.exit_code == 0, pooled.stderr
    assert json.loads(pooled.stdout)["output"] == os.devnull


def test_fifo_output_is_written_into_and_stays_a_fifo(photo, tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()  # open() of a FIFO waits for the other end: no race, whatever runs first
    result = invoke("apply", photo, "-k", "box", "-o", fifo, "--force", "-q")
    reader.join(timeout=60)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # not replaced by a regular file
    np.testing.assert_array_equal(decoded(received[0]), box_of(photo))


def test_symlink_output_is_followed_never_replaced(photo, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "link.png"
    link.symlink_to(elsewhere / "real.png")  # dangling: the target does not exist yet
    assert invoke("apply", photo, "-k", "box", "-o", link, "-q").exit_code == 0
    assert link.is_symlink() and os.readlink(link) == str(elsewhere / "real.png")
    np.testing.assert_array_equal(decoded((elsewhere / "real.png").read_bytes()), box_of(photo))
    line = one_error_line(invoke("apply", photo, "-k", "sharpen", "-o", link))
    assert line == f"Error: output '{link}' already exists; add --force to replace it"
    assert invoke("apply", photo, "-k", "sharpen", "-o", link, "--force", "-q").exit_code == 0
    assert link.is_symlink()
    assert sorted(os.listdir(elsewhere)) == ["real.png"]  # the temporary file was made there
    assert sorted(os.listdir(tmp_path)) == ["a.png", "elsewhere", "link.png"]


def test_an_interruption_just_after_the_temporary_file_is_made_removes_it(tmp_path, monkeypatch):
    # Ctrl-C or SIGTERM (an exception in the CLI) landing right after the temporary file
    # was created, before its name was returned: tempfile.mkstemp left it behind (2 of
    # 100 batches stopped by SIGTERM to their process group). Here the signal "lands"
    # as the creating call returns.
    real_open = os.open

    def open_then_interrupted(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        if ".cnnf-" in os.fspath(path):
            os.close(fd)
            raise KeyboardInterrupt
        return fd

    monkeypatch.setattr(writing.os, "open", open_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_bytes_atomic(tmp_path / "x.png", b"data")
    assert os.listdir(tmp_path) == []


def test_symlink_write_makes_its_temporary_file_next_to_the_target(tmp_path, monkeypatch):
    target_dir = tmp_path / "t"
    target_dir.mkdir()
    (target_dir / "x.png").write_bytes(b"old")
    (tmp_path / "l.png").symlink_to(target_dir / "x.png")
    folders = []
    real_temp_name = writing._temp_name

    def spy(folder):
        folders.append(Path(folder))
        return real_temp_name(folder)

    monkeypatch.setattr(writing, "_temp_name", spy)
    write_bytes_atomic(tmp_path / "l.png", b"new", force=True)
    assert folders == [target_dir]
    assert (target_dir / "x.png").read_bytes() == b"new" and (tmp_path / "l.png").is_symlink()


def test_dev_stdout_is_written_in_place_whatever_is_behind_it(photo, tmp_path):
    out = tmp_path / "captured.png"
    out.write_bytes(b"")
    inode = out.stat().st_ino
    with open(out, "wb") as fh:  # the shell's `> captured.png`
        done = subprocess.run(
            [*CLI, "apply", str(photo), "-k", "box", "-o", "/dev/stdout", "--format", "png", "-q"],
            stdout=fh, stderr=subprocess.PIPE, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.stat().st_ino == inode  # written into, not replaced by a new file
    np.testing.assert_array_equal(decoded(out.read_bytes()), box_of(photo))
    piped = subprocess.run(
        [*CLI, "apply", str(photo), "-k", "box", "-o", "/dev/stdout", "--format", "png", "-q"],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert piped.returncode == 0 and piped.stdout == out.read_bytes()


def test_block_devices_and_sockets_are_refused_as_outputs(tmp_path, monkeypatch):
    fake = os.stat_result((stat.S_IFBLK | 0o660, 1, 2, 1, 0, 0, 0, 0, 0, 0))
    real_stat = os.stat
    monkeypatch.setattr(
        writing.os, "stat", lambda p, **kw: fake if str(p).endswith("disk") else real_stat(p)
    )
    with pytest.raises(UsageError, match=r"'.*disk' is a block device; cnnfilter writes only"):
        write_bytes_atomic(tmp_path / "disk", b"x", force=True)
    assert os.listdir(tmp_path) == []


# -- 2. every file a command reads is an input --------------------------------------------


def test_kernel_file_is_never_an_output(photo, tmp_path):
    kernel = tmp_path / "k.npy"
    np.save(kernel, np.ones((3, 3)))
    before = kernel.read_bytes()
    line = one_error_line(invoke("apply", photo, "--kernel-file", kernel, "-o", kernel, "--force"))
    assert line == (
        f"Error: output '{kernel}' is the kernel file; choose another file name "
        "(cnnfilter never overwrites its input)"
    )
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "k.png").write_bytes(photo.read_bytes())
    result = invoke(
        "apply", folder, "--kernel-file", kernel, "-o", f"{tmp_path}/{{stem}}.npy", "--force"
    )
    assert result.exit_code == 2 and "is read by this run" in result.stderr
    assert kernel.read_bytes() == before


def test_the_file_fed_on_stdin_is_never_an_output(photo, tmp_path):
    before = photo.read_bytes()
    with open(photo, "rb") as stdin:
        done = subprocess.run(
            [*CLI, "apply", "-", "-k", "box", "-o", str(photo), "--force"],
            stdin=stdin, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"Error: output '{photo}' is standard input; choose another file name "
        "(cnnfilter never overwrites its input)"
    )
    assert photo.read_bytes() == before


def test_template_and_layer_file_are_never_outputs(photo, tmp_path):
    template = tmp_path / "t.png"
    Image.open(photo).crop((0, 0, 5, 5)).save(template)
    before = template.read_bytes()
    result = invoke("detect", photo, "--template", template, "--heatmap", template, "--force")
    assert "is the template; choose another file name" in one_error_line(result)
    assert template.read_bytes() == before
    layers = tmp_path / "net.png"  # a layer file may have any name
    layers.write_text("input: [24, 32, 1]\nlayers: [conv2d: {filters: 1, kernel_size: 3}]\n")
    text = layers.read_text()
    result = invoke(
        "receptive-field", layers, "--image", photo, "--layer", "conv2d_1", "-o", layers, "--force"
    )
    assert "is the layer file; choose another file name" in one_error_line(result)
    assert layers.read_text() == text


# -- 3. no clobber, even when the file appears during the write ---------------------------


def test_no_clobber_commit_fails_if_the_output_appeared_meanwhile(tmp_path, monkeypatch):
    final = tmp_path / "o.png"
    real_link = os.link

    def other_run_first(src, dst):
        Path(dst).write_bytes(b"other run")  # between the existence check and the commit
        return real_link(src, dst)

    monkeypatch.setattr(writing.os, "link", other_run_first)
    with pytest.raises(UsageError, match=r"'.*o\.png' already exists; add force=True"):
        write_bytes_atomic(final, b"this run")
    assert final.read_bytes() == b"other run"
    assert os.listdir(tmp_path) == ["o.png"]  # no temporary file left behind


def test_no_clobber_without_hard_links_reserves_the_name_exclusively(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(writing.os, "link", no_links)
    write_bytes_atomic(tmp_path / "fresh.png", b"data")
    assert (tmp_path / "fresh.png").read_bytes() == b"data"

    def appears_then_no_links(src, dst):
        Path(dst).write_bytes(b"other run")
        no_links(src, dst)

    monkeypatch.setattr(writing.os, "link", appears_then_no_links)
    with pytest.raises(UsageError, match="already exists"):
        write_bytes_atomic(tmp_path / "o.png", b"this run")
    assert (tmp_path / "o.png").read_bytes() == b"other run"
    assert sorted(os.listdir(tmp_path)) == ["fresh.png", "o.png"]


def test_force_renames_over_and_keeps_the_mode(tmp_path):
    final = tmp_path / "o.png"
    final.write_bytes(b"old")
    final.chmod(0o640)
    write_bytes_atomic(final, b"new", force=True)
    assert final.read_bytes() == b"new" and stat.S_IMODE(final.stat().st_mode) == 0o640


# -- 4. pattern fields never leave the asked place ----------------------------------------


def test_dot_dot_stem_is_refused_for_that_file_only(photo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dots = tmp_path / "...png"  # its stem is '..'
    dots.write_bytes(photo.read_bytes())
    result = invoke("apply", "a.png", "...png", "-k", "box", "-o", "out/{stem}/r.png")
    assert result.exit_code == 1
    assert "1 done, 0 skipped, 0 failed" not in result.stderr
    assert "1 done, 0 skipped, 1 failed" in result.stderr
    assert (
        "failed ...png: {stem} of this input is '..', which would put the output outside the "
        "folder the pattern 'out/{stem}/r.png' names" in result.stderr
    )
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png")) == [
        "...png", "a.png", "out/a/r.png",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "pattern", "field"),
    [
        ("/x.png", "out/{parent}_{stem}.png", "{parent} of this input is empty"),
        ("d/..png", "out/{stem}/y.png", "{stem} of this input is '.'"),
        ("d/...png", "out/{name}.x/{stem}.png", "{stem} of this input is '..'"),
        ("d/a.", "out/{ext}/{stem}.png", "{ext} of this input is empty"),
    ],
)
def test_empty_dot_or_dot_dot_fields_are_refused_per_file(source, pattern, field):
    jobs = batch.plan_jobs([InputFile(Path(source)), InputFile(Path("d/ok.png"))], pattern)
    assert jobs[0].refused.startswith(field) and jobs[1].refused == ""
    assert Path(os.path.normpath(jobs[1].target)).parts[0] == "out"


# -- 5. outputs are not inputs: an output pattern inside the input folder resumes -----------


def test_output_pattern_inside_the_input_folder_can_be_resumed(photo, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(photo.read_bytes())
    pattern = f"{folder}/{{stem}}_blur.png"
    first = invoke("apply", folder, "-k", "box", "-o", pattern)
    assert first.exit_code == 0 and "2 done, 0 skipped, 0 failed" in first.stderr
    kept = snapshot(folder)
    again = invoke("apply", folder, "-k", "box", "-o", pattern, "--skip-existing")
    assert again.exit_code == 0, again.stderr
    assert "0 done, 2 skipped (output exists), 0 failed" in again.stderr
    assert snapshot(folder) == kept  # no a_blur_blur.png, nothing rewritten
    refused = invoke("apply", folder, "-k", "box", "-o", pattern)
    assert "2 outputs already exist" in one_error_line(refused)


def test_planned_outputs_are_dropped_from_the_inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = ("a.png", "a_x.png", "a_x_x.png", "b_x.png", "c_x.jpg")
    jobs = batch.plan_jobs([InputFile(Path(n)) for n in names], "{stem}_x.png")
    # a_x.png and a_x_x.png are outputs of this plan; b_x.png matches the pattern (an
    # earlier output of a b.png); c_x.jpg does not match it (.jpg) and is an input
    assert [(j.source.name, j.target.name) for j in jobs] == [
        ("a.png", "a_x.png"), ("c_x.jpg", "c_x_x.png"),
    ]  # fmt: skip
    own = [InputFile(Path("a.png")), InputFile(Path("b.png"))]
    # never dropped as its own output (that would say "no inputs"): the collision check
    # names the problem
    with pytest.raises(UsageError, match="'a.png' of 'a.png' is an input image; cnnfilter"):
        batch.plan_jobs(own, "{stem}.png")


# -- 13. long output names ----------------------------------------------------------------


def test_output_names_of_255_bytes_work_and_256_get_one_line(photo, tmp_path):
    longest = tmp_path / ("é" * 125 + "x.png")  # 250 + 5 = 255 bytes
    assert len(os.fsencode(longest.name)) == 255
    result = invoke("apply", photo, "-k", "box", "-o", longest, "-q")
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(decoded(longest.read_bytes()), box_of(photo))
    too_long = tmp_path / ("y" * 252 + ".png")
    line = one_error_line(invoke("apply", photo, "-k", "box", "-o", too_long))
    assert line == (
        f"Error: output file name '{'y' * 40}'... is 256 bytes long; the file system allows "
        "at most 255 bytes per name: shorten it"
    )
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / ("z" * 247 + ".png")).write_bytes(photo.read_bytes())  # 251 bytes
    ok = invoke("apply", folder, "-k", "box", "-o", f"{tmp_path}/o/{{stem}}_x.png", "-q")
    assert ok.exit_code == 0 and (tmp_path / "o" / ("z" * 247 + "_x.png")).exists()


# -- 16. messages that say what to do -----------------------------------------------------


def test_existing_folder_as_output_asks_for_a_file_name_or_pattern(photo, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    for args in ((), ("--force",)):
        line = one_error_line(invoke("apply", photo, "-k", "box", "-o", folder, *args))
        assert line == (
            f"Error: output '{folder}' is a folder; give a file name ({folder}/result.png), "
            f"the folder with a '/' ({folder}/: the result keeps the input's name) or a "
            f"pattern such as '{folder}/{{stem}}.png'"
        )
    written = invoke("apply", photo, "-k", "box", "-o", f"{folder}/", "-q")  # as it suggests
    assert written.exit_code == 0, written.stderr
    assert sorted(os.listdir(folder)) == [photo.name]


def test_a_one_file_command_asks_for_a_file_name_only(photo, tmp_path):
    """pool writes one file: it wrote a literal '{stem}.png' when told to use that pattern."""
    folder = tmp_path / "results"
    folder.mkdir()
    line = one_error_line(invoke("pool", photo, "--size", "2", "-o", folder))
    assert line == f"Error: output '{folder}' is a folder; give a file name ({folder}/result.png)"
    pattern = f"{folder}/{{stem}}.png"
    line = one_error_line(invoke("pool", photo, "--size", "2", "-o", pattern))
    assert line == (
        f"Error: output '{pattern}' holds {{stem}}, a pattern only apply fills (one output per "
        "input); give a name without it"
    )
    assert os.listdir(folder) == []


def test_stdin_can_feed_only_one_input(photo):
    result = invoke("detect", "-", "--template", "-", input=photo.read_bytes())
    assert result.exit_code == 2
    assert one_error_line(result) == (
        "Error: standard input can feed only one input, not both the image and --template -; "
        "save one of them to a file and give its name"
    )


def test_kernel_file_may_be_a_fifo(photo, tmp_path):
    fifo = tmp_path / "kernel"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text("1 1 1\n1 1 1\n1 1 1\n"))
    writer.start()
    result = invoke("apply", photo, "--kernel-file", fifo, "--scale", "auto", "-o",
                    tmp_path / "o.png", "-q")  # fmt: skip
    writer.join(timeout=60)
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(decoded((tmp_path / "o.png").read_bytes()), box_of(photo))
    line = one_error_line(invoke("apply", photo, "--kernel-file", tmp_path, "-o", "x.png"))
    assert line == f"Error: kernel file '{tmp_path}' is a directory, not a file"


def test_skip_existing_redoes_outputs_that_do_not_decode(photo, tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    for name in ("a.png", "b.png", "c.png", "d.png"):
        (folder / name).write_bytes(photo.read_bytes())
    whole = invoke("apply", folder / "c.png", "-k", "box", "-o", out / "c.png", "-q")
    assert whole.exit_code == 0
    good = (out / "c.png").read_bytes()
    (out / "a.png").write_bytes(b"")  # 0 bytes: killed before the first write
    (out / "b.png").write_bytes(good[: len(good) // 2])  # truncated
    np.save(out / "d.npy", np.zeros((4, 4)))
    (out / "d.png").write_bytes((out / "d.npy").read_bytes()[:-8])  # a short .npy
    result = invoke("apply", folder, "-k", "box", "-o", f"{out}/", "--skip-existing")
    assert result.exit_code == 0, result.stderr
    assert "3 done, 1 skipped (output exists), 0 failed" in result.stderr
    assert (out / "c.png").read_bytes() == good
    for name in ("a.png", "b.png", "d.png"):
        np.testing.assert_array_equal(decoded((out / name).read_bytes()), box_of(photo))


def test_is_complete_output_tells_whole_files_from_broken_ones(tmp_path, photo):
    whole = photo.read_bytes()
    cases = {"empty.png": b"", "half.png": whole[: len(whole) // 2], "whole.png": whole}
    np.save(tmp_path / "whole.npy", np.arange(12.0).reshape(3, 4))
    cases["short.npy"] = (tmp_path / "whole.npy").read_bytes()[:-1]
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    got = {name: imageio.is_complete_output(tmp_path / name) for name in [*cases, "whole.npy"]}
    assert got == {
        "empty.png": False, "half.png": False, "whole.png": True, "short.npy": False,
        "whole.npy": True,
    }  # fmt: skip


def _repeat_file(times: int) -> str:
    layer = "{conv2d: {filters: 3, kernel_size: [3, 3], stride: 1, padding: same, bias: true}}"
    return f"input: [32, 32, 3]\nlayers:\n  - repeat: {{times: {times}, layers: [{layer}]}}\n"


def test_a_plain_repeat_is_limited_by_layers_not_by_yaml_nodes():
    net = parse_network(_repeat_file(MAX_LAYERS), source="deep.yaml")
    assert len(net.layers) == MAX_LAYERS == 20_000
    with pytest.raises(UsageError) as info:
        parse_network(_repeat_file(MAX_LAYERS + 1), source="deep.yaml")
    assert str(info.value) == (
        "deep.yaml:3: repeat: 20001 x 1 layers is more than 20000 layers after expanding "
        "repeat (the limit); fix: lower times"
    )


def test_one_layer_cannot_hide_an_alias_bomb_in_its_options():
    rows = ", ".join(["[1, 1, 1, 1, 1, 1, 1, 1]"] * 8)
    text = (
        "input: [8, 8, 1]\nlayers:\n"
        f"  - conv2d: {{filters: 1, kernel_size: 1, padding: &p [{rows}], stride: *p}}\n"
    )
    with pytest.raises(UsageError, match=rf"options hold more than {MAX_LAYER_NODES} YAML nodes"):
        parse_network(text, source="opt.yaml")
