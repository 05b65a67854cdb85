"""``apply`` on many files: the progress bar, the summary lines, the exit code."""

from __future__ import annotations

import contextlib

import typer

from cnnfilter.cli._app import animations_enabled, interrupted_exit
from cnnfilter.cli._output import Notes, batch_progress, emit_json


def run_batch(
    prepared, *, force, skip_existing, workers, notes: Notes, json_out, scheduler=None
) -> None:
    """Run the prepared jobs with a progress bar; summary on stderr, exit 1 if any failed.

    ``scheduler`` (an address or ``local``) runs them on a Dask cluster.
    """
    from cnnfilter.tasks import apply as task
    from cnnfilter.tasks import batch

    jobs = prepared.jobs
    to_run, skipped = batch.split_existing(jobs, force=force, skip_existing=skip_existing)
    if not scheduler and workers and min(workers, len(to_run)) > batch.max_workers():
        notes.warn(
            f"--workers {workers} capped at {batch.max_workers()} "
            f"({batch.WORKERS_PER_CORE} per core): more processes only add memory"
        )
    if scheduler:
        workers = max(1, workers or batch.default_workers())
    else:
        workers = max(1, min(workers or batch.default_workers(), len(to_run), batch.max_workers()))
    animate = animations_enabled(quiet=notes.quiet) and len(to_run) > 1
    with _client(scheduler, workers, bool(to_run)) as client:
        if client is not None:
            from cnnfilter.tasks._cluster import worker_count

            workers = worker_count(client) or workers
        shown = batch_progress(len(to_run), enabled=animate)

        def on_outcome(outcome) -> None:
            shown.advance()
            if outcome.status == "failed":
                shown.print(f"failed {outcome.job.source}: {outcome.reason}")

        with shown:
            result = task.run_batch(
                prepared.spec, to_run, force=force, workers=workers, on_outcome=on_outcome,
                client=client,
            )  # fmt: skip
    result.outcomes = sorted(result.outcomes + skipped, key=lambda o: o.job.index)
    lines = list(batch.summarize(result))
    plural = "s" if workers > 1 else ""
    where = f" on the Dask cluster {scheduler}" if scheduler else ""
    counts = f" ({len(jobs)} inputs, {workers} worker{plural}{where})" if len(to_run) > 1 else ""
    say = notes.warn if result.count("failed") or result.interrupted else notes
    for line in [f"apply: {lines[0]}{counts}", *lines[1:]]:
        say(line)
    if json_out:
        emit_json(task.batch_report(result, len(jobs)))
    if result.interrupted:
        interrupted_exit(result.interrupted)
    if result.count("failed"):
        raise typer.Exit(1)


def _client(scheduler: str | None, workers: int, needed: bool):
    """A Dask client for ``scheduler`` (None: no cluster, or nothing to run)."""
    if not scheduler or not needed:
        return contextlib.nullcontext(None)
    from cnnfilter.tasks._cluster import open_client

    return open_client(scheduler, workers=workers)
