"""Batch runs: many inputs, one output each, in a process pool.

Three steps, each testable on its own:

1. :func:`expand_inputs` turns command-line arguments (files, globs,
   directories, with ``recursive``) into an ordered list of
   :class:`InputFile`.
2. :func:`plan_jobs` maps each input to its output (an output pattern with
   ``{stem}``, ``{name}``, ``{ext}``, ``{parent}``, or an output directory)
   and refuses, before anything runs, two inputs that would write the same
   output or an output that is an input; :func:`split_existing` sets aside
   the jobs whose output exists (``--skip-existing``) or refuses them.
3. :func:`run_jobs` runs ``work(job)`` for each job, serially or in worker
   processes, and ``finish(job, payload)`` in this process (the write). One
   failing input is recorded in its :class:`Outcome` and the others go on.
   Workers only compute; this process owns every output file, so Ctrl-C or
   SIGTERM (turned into :class:`KeyboardInterrupt`) leaves no half-written
   output: the atomic write removes its temporary file, and the workers are
   stopped, and they exit by themselves if this process is killed.

Results do not depend on the number of workers: each job is computed by the
same function on the same input.
"""

from __future__ import annotations

import glob
import os
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cnnfilter.errors import CnnfilterError, UsageError
from cnnfilter.imageio import IMAGE_EXTENSIONS, STDIO
from cnnfilter.tasks._worker import attempt

__all__ = [
    "PLACEHOLDERS",
    "InputFile",
    "Job",
    "Outcome",
    "BatchResult",
    "default_workers",
    "expand_inputs",
    "is_batch_output",
    "is_pattern",
    "plan_jobs",
    "split_existing",
    "run_jobs",
    "run_job",
    "summarize",
]

#: Placeholders of an output pattern, and what each becomes for ``photos/cat.jpg``.
PLACEHOLDERS = {
    "stem": "the input's name without its extension (cat)",
    "name": "the input's name with its extension (cat.jpg)",
    "ext": "the input's extension without the dot (jpg)",
    "parent": "the name of the input's folder (photos)",
}

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class InputFile:
    """An input and the folder it was found under (for output directories).

    ``root`` is the directory argument a file was found in (its sub-folders
    are mirrored under an output directory), or None for a file argument.
    """

    path: Path
    root: Path | None = None


@dataclass(frozen=True)
class Job:
    """One input and the output it will write, numbered in input order.

    ``refused`` holds why this input cannot be written (a pattern field that
    would leave the asked place); such a job fails alone, before any work.
    ``replace`` is set by :func:`split_existing` for an existing output that
    does not decode (a 0-byte or truncated file): it is redone and replaced.
    """

    index: int
    source: Path
    target: Path
    refused: str = ""
    replace: bool = False


@dataclass
class Outcome:
    """What happened to one job: ``done``, ``skipped`` or ``failed`` (with a reason)."""

    job: Job
    status: str
    reason: str = ""
    report: dict = field(default_factory=dict)


@dataclass
class BatchResult:
    """All outcomes in input order; ``interrupted`` is the signal name if stopped."""

    outcomes: list[Outcome]
    interrupted: str | None = None

    def count(self, status: str) -> int:
        """Number of outcomes with ``status``."""
        return sum(o.status == status for o in self.outcomes)


def default_workers() -> int:
    """The thread budget (``--threads``; by default the cores this process may use), >= 1."""
    from cnnfilter.engine.threads import thread_budget

    return thread_budget()


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def expand_inputs(
    args: Sequence[str], *, recursive: bool = False, exclude: Path | None = None
) -> list[InputFile]:
    """Expand input arguments into files, in order, each once.

    * a file is taken as is (whatever its extension: a bad file fails alone);
    * a directory gives its image files (by extension, hidden files skipped),
      sorted; with ``recursive``, those of every sub-folder too;
    * an argument that does not exist but contains ``*``, ``?`` or ``[`` is
      expanded as a glob (``**`` spans folders), for shells that did not;
    * ``-`` (standard input) must be the only argument.

    ``exclude`` (the output directory) is never descended into, so that a
    rerun does not pick up the previous run's outputs.

    Raises:
        UsageError: a missing file, a glob matching nothing, a directory with
            no images, ``-`` among other inputs, no inputs at all.
    """
    if not args:
        raise UsageError("give at least one input image (a file, a folder or -)")
    if STDIO in args:
        if len(args) > 1:
            raise UsageError("'-' (standard input) must be the only input")
        return [InputFile(Path(STDIO))]
    skip = exclude.resolve() if exclude is not None else None
    found = [item for arg in args for item in _expand_one(arg, recursive=recursive, skip=skip)]
    unique: dict[Path, InputFile] = {}
    for item in found:  # each file once, at its first place
        unique.setdefault(item.path.resolve(), item)
    return list(unique.values())


def _expand_one(arg: str, *, recursive: bool, skip: Path | None) -> list[InputFile]:
    """The files of one input argument: a folder's images, a file, or a glob's matches."""
    path = Path(arg)
    if path.is_dir():
        files = _walk(path, recursive=recursive, skip=skip)
        if not files:
            hint = "" if recursive else " (add --recursive to search its sub-folders)"
            raise UsageError(f"folder {arg!r} holds no image files{hint}")
        return [InputFile(f, path) for f in files]
    if path.exists():
        return [InputFile(path)]
    if _GLOB_CHARS & set(arg):
        files = [Path(m) for m in sorted(glob.glob(arg, recursive=True)) if Path(m).is_file()]
        if not files:
            raise UsageError(f"{arg!r} matches no files")
        return [InputFile(f) for f in files]
    raise UsageError(f"input image {arg!r} does not exist")


def _walk(folder: Path, *, recursive: bool, skip: Path | None) -> list[Path]:
    if not recursive:
        return sorted(p for p in folder.iterdir() if p.is_file() and _is_image_name(p))
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and (skip is None or (here / d).resolve() != skip)
        )
        files.extend(here / f for f in sorted(filenames) if _is_image_name(here / f))
    return files


def is_batch_output(output: str, *, existing_dir: bool = True) -> bool:
    """True for an output pattern (with ``{...}``) or an output directory.

    An output directory is a name ending in ``/`` or, with ``existing_dir``
    (several inputs), an existing folder. One input and an existing folder
    without the ``/`` is refused later as "a directory, not a file name".

    >>> is_batch_output("out/{stem}.png"), is_batch_output("out/"), is_batch_output("x.png")
    (True, True, False)
    """
    return (
        is_pattern(output)
        or output.endswith(("/", os.sep))
        or (existing_dir and Path(output).is_dir())
    )


def is_pattern(output: str) -> bool:
    """True when ``output`` holds a ``{placeholder}`` (or a stray brace, refused later)."""
    try:
        return any(name is not None for _, name, _, _ in string.Formatter().parse(output))
    except ValueError:
        return True


def _check_pattern(output: str) -> None:
    try:
        fields = list(string.Formatter().parse(output))
    except ValueError as exc:
        raise UsageError(
            f"output pattern {output!r} is malformed ({exc}); write placeholders as {{stem}} "
            "and a literal brace as {{ or }}"
        ) from None
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            raise UsageError(
                f"output pattern {output!r}: unknown placeholder {{{name}}}; use "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            )


def _fields(source: Path) -> dict[str, str]:
    return {
        "stem": source.stem,
        "name": source.name,
        "ext": source.suffix.lstrip("."),
        "parent": source.resolve().parent.name,
    }


def _used_fields(output: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(output) if name]


def _fill(output: str, source: Path) -> Path:
    return Path(output.format(**_fields(source)))


def _field_problem(output: str, source: Path) -> str:
    """Why a field of ``source`` would put its output outside the pattern's place, or "".

    A field that is empty, ``.`` or ``..``, or holds a path separator (or a
    NUL byte), is refused: ``{stem}`` of ``...png`` is ``..``, ``{parent}`` of
    ``/x.png`` is empty.
    """
    values = _fields(source)
    seps = {"/", os.sep, os.altsep or "/", "\0"}
    for name in dict.fromkeys(_used_fields(output)):
        value = values[name]
        if value in ("", ".", "..") or any(sep in value for sep in seps):
            shown = "empty" if value == "" else repr(value)
            return (
                f"{{{name}}} of this input is {shown}, which would put the output outside "
                f"the folder the pattern {output!r} names; rename the input or use another "
                "placeholder"
            )
    return ""


def _pattern_regex(output: str):
    """A regex over absolute paths that matches what ``output`` can expand to."""
    import re

    absolute = os.path.isabs(output)
    parts = [] if absolute else [re.escape(os.path.join(os.getcwd(), ""))]
    seen: set[str] = set()
    for literal, name, _, _ in string.Formatter().parse(os.path.normpath(output)):
        parts.append(re.escape(literal))
        if name:
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>[^/]+)")
            seen.add(name)
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def _looks_like_output(regex, path: Path) -> bool:
    """True when ``path`` matches the output pattern with fields an image name could give."""
    m = regex.match(os.path.abspath(path))
    if m is None:
        return False
    got = m.groupdict()
    for key in ("name", "ext"):
        if key in got:
            ext = Path(got["name"]).suffix if key == "name" else "." + got["ext"]
            if ext.lower() not in IMAGE_EXTENSIONS:
                return False
    if "stem" in got and "name" in got and not got["name"].startswith(got["stem"] + "."):
        return False
    return True


def _drop_outputs(inputs: Sequence[InputFile], output: str, target_of) -> list[InputFile]:
    """The inputs that are not outputs of this run (``target_of(item)``: its output or None).

    Dropped: an input that another input's planned output names (any
    spelling), and, for a pattern, an input that matches the pattern (an
    earlier run's output), unless it would be its own output (that case is
    refused by the collision check with its own message).
    """
    regex = _pattern_regex(output) if is_pattern(output) else None
    planned: dict[Path, Path] = {}
    for item in inputs:
        target = target_of(item)
        if target is not None:
            planned[item.path.resolve()] = target.resolve()
    targets = set(planned.values())
    kept = []
    for item in inputs:
        key = item.path.resolve()
        own = planned.get(key) == key
        if not own and (key in targets or (regex and _looks_like_output(regex, item.path))):
            continue
        kept.append(item)
    return kept


def plan_jobs(
    inputs: Sequence[InputFile],
    output: str,
    *,
    ext: str | None = None,
    protected: Sequence[Path] = (),
) -> list[Job]:
    """Decide each input's output, refusing collisions before anything runs.

    Args:
        inputs: from :func:`expand_inputs`.
        output: a pattern (``out/{stem}_blur.png``), an output directory
            (``out/``: each input keeps its name, and the sub-folders under a
            directory argument are mirrored), ``-`` or a plain file name (one
            input only).
        ext: replaces the extension of names kept in an output directory
            (from ``--format``; e.g. ``"png"``), or None to keep it.
        protected: other files the run reads (the kernel file), never outputs.

    Inputs that are outputs of this plan, or match the output pattern (an
    earlier run's results in the input folder), are left out, so that a run
    can be resumed with ``--skip-existing``. An input whose pattern fields
    would leave the asked place (``{stem}`` of ``...png`` is ``..``) gets a
    job with ``refused`` set: it fails alone.

    Raises:
        UsageError: several inputs and a plain output name; an unknown
            placeholder; two inputs with the same output; an output that is
            one of the inputs or a protected file.
    """
    if not inputs:
        raise UsageError("no input images")
    if output == STDIO or not is_batch_output(output):
        if len(inputs) > 1:
            raise UsageError(
                f"{len(inputs)} inputs need an output pattern such as out/{{stem}}_x.png "
                f"or an output folder such as out/, not {output!r}"
            )
        return [Job(0, inputs[0].path, Path(output))]
    if any(item.path == Path(STDIO) for item in inputs):
        raise UsageError("an input read from standard input needs an output file name or -")
    if is_pattern(output):
        _check_pattern(output)

    def target_of(item: InputFile) -> Path | None:
        if not is_pattern(output):
            rel = item.path.parent.relative_to(item.root) if item.root else Path()
            name = item.path.name if ext is None else f"{item.path.stem}.{ext.lstrip('.')}"
            return Path(output) / rel / name
        return None if _field_problem(output, item.path) else _fill(output, item.path)

    kept = _drop_outputs(inputs, output, target_of)
    if not kept:
        raise UsageError(
            f"all {len(inputs)} inputs are outputs of {output!r} (an earlier run's results); "
            "give the original images"
        )
    jobs = []
    for i, item in enumerate(kept):
        target = target_of(item)
        problem = "" if target is not None else _field_problem(output, item.path)
        jobs.append(Job(i, item.path, target or Path(output), refused=problem))
    _check_collisions(jobs, protected)
    return jobs


def _check_collisions(jobs: Sequence[Job], protected: Sequence[Path] = ()) -> None:
    sources = {job.source.resolve(): job for job in jobs}
    kept = {Path(p).resolve(): Path(p) for p in protected}
    targets: dict[Path, Job] = {}
    for job in jobs:
        if job.refused:
            continue
        key = job.target.resolve()
        if key in kept:
            raise UsageError(
                f"output {str(job.target)!r} of {str(job.source)!r} is read by this run "
                f"({str(kept[key])!r}); cnnfilter never overwrites its input: choose another output"
            )
        if key in sources:
            raise UsageError(
                f"output {str(job.target)!r} of {str(job.source)!r} is an input image; "
                "cnnfilter never overwrites its input: choose another output"
            )
        if key in targets:
            first = targets[key]
            raise UsageError(
                f"{str(first.source)!r} and {str(job.source)!r} would both write "
                f"{str(job.target)!r}; nothing was run. Add {{ext}} or {{parent}} to the "
                "output pattern, or use an output folder"
            )
        targets[key] = job


def split_existing(
    jobs: Sequence[Job], *, force: bool, skip_existing: bool
) -> tuple[list[Job], list[Outcome]]:
    """Jobs to run, and ``skipped`` outcomes for outputs that exist.

    Raises:
        UsageError: both flags; an existing output with neither flag (before
            anything runs, naming the first and the count).
    """
    if force and skip_existing:
        raise UsageError(
            "--force replaces existing outputs and --skip-existing keeps them; pick one"
        )
    existing = [
        job
        for job in jobs
        if not job.refused and str(job.target) != STDIO and _exists_as_file(job.target)
    ]
    for job in existing:
        if job.target.is_dir():
            raise UsageError(f"output {str(job.target)!r} is a folder; choose another output")
    if not existing or force:
        return list(jobs), []
    if not skip_existing:
        first = str(existing[0].target)
        what, them = (
            (f"output {first!r} already exists", "it")
            if len(existing) == 1
            else (f"{len(existing)} outputs already exist (the first: {first!r})", "them")
        )
        raise UsageError(
            f"{what}; add --skip-existing to keep {them} or --force to replace {them}; "
            "nothing was run"
        )
    from dataclasses import replace

    from cnnfilter.imageio import is_complete_output

    broken = {job.index for job in existing if not is_complete_output(job.target)}
    keep = {job.index for job in existing} - broken
    skipped = [Outcome(job, "skipped", "output exists") for job in existing if job.index in keep]
    to_run = [replace(job, replace=job.index in broken) for job in jobs if job.index not in keep]
    return to_run, skipped


def _exists_as_file(path: Path) -> bool:
    """An output that exists and would be replaced (a device or FIFO is written into)."""
    from cnnfilter.imageio import output_target

    if not path.exists():
        return False
    try:
        return output_target(path).kind != "stream"
    except UsageError:
        return True  # a folder or an odd file: reported by the caller or the write


# -- running ---------------------------------------------------------------------------

#: The most worker processes a batch starts, per core (``--workers`` above it is capped).
WORKERS_PER_CORE = 4

#: Reason given for the one input a worker was computing when it died; ``{how}``
#: is how the process ended (``killed by SIGKILL``, ``exit status 1``).
WORKER_DIED = (
    "the worker process died while computing this input ({how}: killed, or out of memory?); "
    "the other inputs went on"
)


def max_workers() -> int:
    """The cap on batch worker processes: :data:`WORKERS_PER_CORE` x the usable cores."""
    return WORKERS_PER_CORE * default_workers()


def run_jobs(
    jobs: Sequence[Job],
    work: Callable[[Job], object],
    finish: Callable[[Job, object], dict],
    *,
    workers: int = 1,
    on_outcome: Callable[[Outcome], None] | None = None,
    client: object | None = None,
) -> BatchResult:
    """Run ``work`` on every job and ``finish`` on each result, in this process.

    With ``client`` (a ``distributed.Client``), each job is one task on the
    Dask cluster instead, running :func:`run_job` (``work`` then ``finish``)
    on the worker, which writes the output (see :mod:`cnnfilter.tasks._cluster`);
    ``workers`` is then unused.

    Args:
        jobs: from :func:`plan_jobs` (after :func:`split_existing`).
        work: picklable callable (a module-level function or a
            ``functools.partial`` of one) doing the heavy part; runs in a
            worker process when ``workers > 1``.
        finish: ``finish(job, payload) -> report`` (writes the output) in
            this process, in the order the results arrive.
        workers: processes to use (at most :func:`max_workers`); 1 runs
            everything here, serially. A worker that dies fails only the input
            it was computing (:data:`WORKER_DIED`); see :mod:`cnnfilter.tasks._pool`.
        on_outcome: called with each outcome as it is known (progress).

    Returns:
        A :class:`BatchResult` in input order. On KeyboardInterrupt (Ctrl-C,
        or SIGTERM turned into one by the CLI) the workers are stopped, the
        jobs not finished are left out, and ``interrupted`` is set;
        the exception is not re-raised.
    """
    outcomes: dict[int, Outcome] = {}

    def record(job: Job, status: str, payload: object) -> None:
        if status == "done":  # finished on a cluster worker: payload is the report
            outcome = Outcome(job, "done", report=payload)
        elif status == "ok":
            try:
                report = finish(job, payload)
            except CnnfilterError as exc:
                outcome = Outcome(job, "failed", str(exc))
            else:
                outcome = Outcome(job, "done", report=report)
        else:
            outcome = Outcome(job, "failed", str(payload))
        outcomes[job.index] = outcome
        if on_outcome is not None:
            on_outcome(outcome)

    interrupted = None
    jobs = _record_refused(jobs, record)
    try:
        _dispatch(jobs, work, finish, record, workers, client)
    except KeyboardInterrupt as exc:
        interrupted = getattr(exc, "signal_name", None) or "SIGINT"
    ordered = [outcomes[i] for i in sorted(outcomes)]
    return BatchResult(ordered, interrupted)


def _with_threads(work: Callable, threads: int, job: Job) -> object:
    """``work(job)`` in a worker process that keeps to ``threads`` of the run's cores
    (:func:`cnnfilter.engine.threads.set_thread_budget`)."""
    from cnnfilter.engine.threads import set_thread_budget

    set_thread_budget(threads)
    return work(job)


def _dispatch(jobs, work, finish, record, workers: int, client) -> None:
    """Run the jobs here, in the local pool, or on a Dask cluster (``client``)."""
    import functools

    if client is not None:
        from cnnfilter.tasks._cluster import run_on_cluster

        run_on_cluster(jobs, functools.partial(run_job, work, finish), record, client, WORKER_DIED)
    elif workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            record(job, *attempt(work, job))
    else:
        from cnnfilter.engine.threads import thread_budget
        from cnnfilter.tasks._pool import run_pool

        count = min(workers, len(jobs), max_workers())
        # one budget of cores for the run: N workers share it instead of each taking all
        budgeted = functools.partial(_with_threads, work, max(1, thread_budget() // count))
        run_pool(jobs, budgeted, record, count, WORKER_DIED)


def run_job(work: Callable[[Job], object], finish: Callable[[Job, object], dict], job: Job):
    """``finish(job, work(job))`` in one call: read, compute and write one job (a cluster task).

    Returns ``("done", report)``, ``("failed", reason)`` for a documented
    error or exhaustion, or ``("crash", traceback)`` for a bug. The same two
    functions as the local pool, so the output bytes are the same.
    """
    from cnnfilter.tasks._worker import run_attempt

    status, payload = run_attempt(work, job)
    if status != "ok":
        return status, payload
    try:
        return "done", finish(job, payload)
    except CnnfilterError as exc:
        return "failed", str(exc)
    except Exception:  # a bug: the client raises it with this traceback
        import traceback

        return "crash", traceback.format_exc()


def _record_refused(jobs: Sequence[Job], record: Callable) -> list[Job]:
    """Record the refused jobs as failed (before any work); return the others."""
    for job in jobs:
        if job.refused:
            record(job, "failed", job.refused)
    return [job for job in jobs if not job.refused]


def summarize(result: BatchResult) -> Iterable[str]:
    """Lines for people: the counts, then each failure with its reason."""
    done, skipped, failed = (result.count(s) for s in ("done", "skipped", "failed"))
    reasons = sorted({o.reason for o in result.outcomes if o.status == "skipped"})
    head = f"{done} done, {skipped} skipped" + (f" ({', '.join(reasons)})" if reasons else "")
    head += f", {failed} failed"
    if result.interrupted:
        head += f"; interrupted by {result.interrupted}, the other inputs were not run"
    yield head
    for outcome in result.outcomes:
        if outcome.status == "failed":
            yield f"  failed {outcome.job.source}: {outcome.reason}"
