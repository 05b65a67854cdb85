"""The reference pages shipped with the package, for ``cnnfilter help TOPIC`` and the man page.

The ``*.md`` files here are exact copies of ``docs/reference/*.md`` (the one
source, edited there), written by ``python docs/gen_cli_reference.py`` and
checked by ``tests/docs/test_cli_reference.py``; as package data they are
installed by ``pip install``, where ``docs/`` is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

__all__ = ["Topic", "TOPICS", "topic_text", "find_topic"]


@dataclass(frozen=True)
class Topic:
    """One reference page: its file (as in docs/reference/) and a one-line title."""

    file: str
    title: str
    aliases: tuple[str, ...] = ()


#: Topic name -> page, in the order ``cnnfilter help`` lists them.
TOPICS: dict[str, Topic] = {
    "boundary": Topic("boundary-modes.md", "boundary modes: how the image is extended",
                      ("boundary-modes", "boundaries", "padding")),
    "arch": Topic("arch-yaml.md", "the arch.yaml layer file of params and receptive-field",
                  ("arch-yaml", "arch.yaml", "yaml", "layers")),
    "json": Topic("json.md", "the keys of every --json document", ("json-keys", "keys")),
    "exit-codes": Topic("exit-codes.md", "exit codes and error messages",
                        ("exit", "errors", "exit-code")),
}  # fmt: skip


def find_topic(name: str) -> str | None:
    """The topic key for ``name`` or one of its aliases (any case), else None.

    >>> find_topic("arch.yaml"), find_topic("Boundary"), find_topic("nope")
    ('arch', 'boundary', None)
    """
    key = name.strip().lower()
    for topic, entry in TOPICS.items():
        if key == topic or key in entry.aliases:
            return topic
    return None


def topic_text(topic: str) -> str:
    """The Markdown text of ``topic`` (a key of :data:`TOPICS`)."""
    return resources.files(__name__).joinpath(TOPICS[topic].file).read_text(encoding="utf-8")
