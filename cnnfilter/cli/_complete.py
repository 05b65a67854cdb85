"""Shell completion: the words each argument and option can take.

Typer's ``--install-completion`` / ``--show-completion`` install a shell
function that calls ``cnnfilter`` with ``_CNNFILTER_COMPLETE=complete_bash``
(zsh, fish, PowerShell alike); Typer then asks the functions below for the
words that start with what is typed. They read the same tables as the
commands (the kernel registry, the engine's boundary modes), so completion
cannot offer a name the command would refuse.

Every function takes the incomplete word and returns ``(value, help)``
pairs; they import nothing heavy (no NumPy), so a completion answers in the
time Python takes to start.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "architecture_names",
    "complete_kernel",
    "complete_boundary",
    "complete_arch",
    "complete_image",
    "complete_path",
    "complete_help_topic",
]

#: Extensions offered for image arguments (folders are always offered).
IMAGE_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".npy", ".pgm", ".ppm",
)  # fmt: skip

#: Extensions offered for layer files.
ARCH_SUFFIXES = (".yaml", ".yml", ".json")


def architecture_names() -> list[tuple[str, str]]:
    """The built-in architecture names, with a word on each: ``[("vgg16", "..."), ...]``.

    The same listing as ``cnnfilter params --list``
    (:func:`cnnfilter.tasks.arch.builtin_architectures`).
    """
    from cnnfilter.tasks.arch import builtin_architectures

    return builtin_architectures()


def _starting(pairs, incomplete: str) -> list[tuple[str, str]]:
    """The pairs whose value starts with ``incomplete``; case counts, as in the shell."""
    return [(value, text) for value, text in pairs if value.startswith(incomplete)]


def complete_kernel(incomplete: str) -> list[tuple[str, str]]:
    """Kernel names as ``cnnfilter kernels`` lists them (the registry, then its aliases).

    A kernel with parameters is offered as ``gaussian:`` with its usage as
    help, so the shell stops where the numbers go.

    >>> [name for name, _ in complete_kernel("sobel")]
    ['sobel-x', 'sobel-y', 'sobel_h', 'sobel_v']
    """
    from cnnfilter.kernels import listed_names

    return _starting(listed_names(), incomplete)


def complete_boundary(incomplete: str) -> list[tuple[str, str]]:
    """Boundary modes, from :data:`cnnfilter.engine.choices.BOUNDARIES`.

    >>> [name for name, _ in complete_boundary("")]
    ['symmetric', 'mirror', 'edge', 'wrap', 'constant']
    """
    from cnnfilter.engine.choices import BOUNDARIES

    return _starting(BOUNDARIES.items(), incomplete)


def complete_path(incomplete: str) -> list[tuple[str, str]]:
    """Any file or folder that starts with ``incomplete`` (folders end in ``/``)."""
    return _paths(incomplete, ())


def _paths(incomplete: str, suffixes: tuple[str, ...]) -> list[tuple[str, str]]:
    """Files and folders that start with ``incomplete`` (folders end in ``/``).

    With ``suffixes``, only files with one of them are offered. Hidden
    entries only when the typed name starts with a dot.
    """
    head, sep, tail = incomplete.rpartition("/")
    prefix = head + sep  # "", "dir/" or "/"
    folder = Path(os.path.expanduser(prefix)) if prefix else Path(".")
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.name.startswith(tail) or (entry.name[:1] == "." and tail[:1] != "."):
            continue
        if entry.is_dir():
            found.append((prefix + entry.name + "/", "folder"))
        elif not suffixes or entry.name.lower().endswith(suffixes):
            found.append((prefix + entry.name, "file"))
    return found


def complete_image(incomplete: str) -> list[tuple[str, str]]:
    """Image files, ``.npy`` arrays and folders; ``-`` is standard input."""
    extra = [("-", "standard input")] if incomplete == "" else []
    return extra + _paths(incomplete, IMAGE_SUFFIXES)


def complete_arch(incomplete: str) -> list[tuple[str, str]]:
    """Built-in architecture names (:func:`architecture_names`), then layer files."""
    names = [] if "/" in incomplete else _starting(architecture_names(), incomplete)
    return names + _paths(incomplete, ARCH_SUFFIXES)


def complete_help_topic(incomplete: str) -> list[tuple[str, str]]:
    """The topics of ``cnnfilter help``."""
    from cnnfilter.help import TOPICS

    return _starting(((name, topic.title) for name, topic in TOPICS.items()), incomplete)
