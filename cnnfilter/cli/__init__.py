"""The ``cnnfilter`` command line: a thin Typer layer over :mod:`cnnfilter.tasks`.

Each command lives in its own module and registers itself on the shared
:data:`app`; importing them here builds the full command set. A command
parses its options, calls one task and renders the result.
"""

from __future__ import annotations

# The order of registration is the order of `cnnfilter --help`.
# isort: off
from cnnfilter.cli import apply as _apply  # noqa: F401  (registers `apply`)
from cnnfilter.cli import kernels as _kernels  # noqa: F401  (registers `kernels`)
from cnnfilter.cli import arch as _arch  # noqa: F401  (registers `params`, `receptive-field`)
from cnnfilter.cli import detect as _detect  # noqa: F401  (registers `detect`)
from cnnfilter.cli import pool as _pool  # noqa: F401  (registers `pool`)
from cnnfilter.cli import forward as _forward  # noqa: F401  (registers `forward`)
from cnnfilter.cli import formats as _formats  # noqa: F401  (registers `formats`)
from cnnfilter.cli import help as _help  # noqa: F401  (registers `help`)

# isort: on
from cnnfilter.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``cnnfilter`` console script.

    Closed, full or cut-off standard streams end the run with one line and an
    exit code, never a traceback (:mod:`cnnfilter.cli._streams`).
    """
    import sys

    from cnnfilter.cli._streams import run

    sys.exit(run(app))
