"""``cnnfilter help``: the reference pages in the terminal, and the manual page.

``cnnfilter help TOPIC`` prints a page of docs/reference (boundary modes,
arch.yaml, JSON keys, exit codes) from the copies shipped in
:mod:`cnnfilter.help`; ``cnnfilter help COMMAND`` is ``COMMAND --help``;
``cnnfilter help --man`` writes a roff manual page built from the same help
texts and pages (``cnnfilter help --man > cnnfilter.1; man -l cnnfilter.1``).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cnnfilter.cli._app import app, guarded
from cnnfilter.cli._complete import complete_help_topic
from cnnfilter.cli._options import example
from cnnfilter.errors import UsageError

#: Width of ``cnnfilter help COMMAND`` (as docs/reference/cli.md).
HELP_WIDTH = 80

#: Width of the help texts inside the manual page: 80 columns less man's indent.
MAN_WIDTH = 72


@app.command(
    "help",
    epilog=example(
        "cnnfilter help arch", "cnnfilter help --man > cnnfilter.1 && man -l cnnfilter.1"
    ),
)
@guarded
def help_(
    topic: Annotated[
        str | None,
        typer.Argument(
            metavar="[TOPIC]",
            help="boundary, arch, json or exit-codes (or a command: its --help).",
            autocompletion=complete_help_topic,
            show_default=False,
        ),
    ] = None,
    man: Annotated[
        bool, typer.Option("--man", help="Write the whole manual page (roff) on stdout.")
    ] = False,
) -> None:
    """Show a reference page (boundary modes, arch.yaml, JSON keys, exit codes) or the man page."""
    from cnnfilter.help import TOPICS, find_topic, topic_text

    if man:
        sys.stdout.write(man_page())
        return
    if topic is None:
        width = max(len(t) for t in TOPICS)
        lines = [f"  {name:<{width}}  {entry.title}" for name, entry in TOPICS.items()]
        sys.stdout.write(
            "Topics (cnnfilter help TOPIC):\n" + "\n".join(lines) + "\n\n"
            "Commands: cnnfilter COMMAND --help (or cnnfilter help COMMAND); the manual page: "
            "cnnfilter help --man\n"
        )
        return
    found = find_topic(topic)
    if found is not None:
        sys.stdout.write(topic_text(found))
        return
    texts = command_helps()
    if topic in texts:
        sys.stdout.write(texts[topic] + "\n")
        return
    import difflib

    close = difflib.get_close_matches(topic.lower(), [*TOPICS, *texts], n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise UsageError(
        f"no help topic {topic!r}{hint}; topics: {', '.join(TOPICS)}; or a command name"
    )


def command_helps(width: int = HELP_WIDTH) -> dict[str, str]:
    """``{"": root help, "apply": apply --help, ...}`` rendered at ``width`` columns."""
    import typer.main

    group = typer.main.get_command(app)
    settings = {"terminal_width": width, "max_content_width": width, "resilient_parsing": True}
    root = group.make_context("cnnfilter", [], **settings)
    texts = {"": group.get_help(root)}
    for name in group.list_commands(root):
        command = group.get_command(root, name)
        ctx = command.make_context(name, [], parent=root, **settings)
        texts[name] = command.get_help(ctx)
    return texts


def _roff(text: str) -> str:
    """Text for a roff no-fill block: backslashes escaped, no line read as a request."""
    out = []
    for line in text.splitlines():
        line = line.replace("\\", "\\e")
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)


def man_page() -> str:
    """The manual page ``cnnfilter(1)`` in roff: every command's help, then the reference pages."""
    from cnnfilter import __version__
    from cnnfilter.help import TOPICS, topic_text

    texts = command_helps(MAN_WIDTH)
    parts = [
        f'.TH CNNFILTER 1 "" "cnnfilter {__version__}" "User Commands"',
        ".SH NAME",
        "cnnfilter \\- filter and inspect images the way the layers of a CNN do",
        ".SH SYNOPSIS",
        ".B cnnfilter",
        "COMMAND [OPTIONS] [ARGS]...",
        ".SH DESCRIPTION",
        ".nf",
        _roff(texts.pop("")),
        ".fi",
        ".SH COMMANDS",
    ]
    for name, text in texts.items():
        parts += [f".SS cnnfilter {name}", ".nf", _roff(text), ".fi"]
    for entry in TOPICS.values():
        heading = entry.title.split(":")[0].upper()
        parts += [f".SH {heading}", ".nf", _roff(topic_text_of(entry, topic_text)), ".fi"]
    parts += [".SH SEE ALSO", "cnnfilter help TOPIC; the docs/ folder of the source repository"]
    return "\n".join(parts) + "\n"


def topic_text_of(entry, reader) -> str:
    """The page of ``entry`` without its Markdown title line (the section heading says it)."""
    from cnnfilter.help import TOPICS

    key = next(k for k, v in TOPICS.items() if v is entry)
    text = reader(key)
    first, _, rest = text.partition("\n")
    return rest.lstrip("\n") if first.startswith("# ") else text
