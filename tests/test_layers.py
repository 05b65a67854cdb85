"""The package's import rules, read from the source with ``ast``.

Layers, top to bottom: ``cli`` -> ``tasks`` -> ``engine``, ``imageio``,
``kernels`` (with ``foreign_kernels``), ``help``, ``arch``, ``render`` -> ``errors``. A
module may import its own
layer's modules and those below, never above (the library modules of one
rank may use one another: ``arch`` uses ``engine.geometry``); ``engine``
imports only ``engine`` and ``errors``; only the CLI imports the package
root (for ``__version__``); and the import graph has no cycles.
Imports inside functions count: they are how the CLI stays fast to start,
not a way round the rules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import ROOT

PACKAGE = ROOT / "cnnfilter"

#: Rank of each layer (its top-level name in the package); imports go to a lower rank or
#: within one layer.
RANKS = {
    "__main__": 4,
    "cli": 3,
    "tasks": 2,
    "_api": 2,  # the public Python API: a facade over the library, beside the tasks
    "engine": 1,
    "imageio": 1,
    "codecs": 1,  # 16-bit codecs, metadata and the format table, used by imageio
    "kernels": 1,
    "foreign_kernels": 1,  # kernel names of other tools, used by kernels (one way)
    "help": 1,  # the shipped reference pages (data)
    "arch": 1,
    "render": 1,
    "_pngenc": 1,  # the parallel PNG encoder behind imageio
    "errors": 0,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, package: str | None = None) -> set[str]:
    """Every ``cnnfilter`` module ``path`` imports, anywhere in the file (absolute names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "cnnfilter")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "cnnfilter":
                continue
            for alias in node.names:  # `from cnnfilter.tasks import batch` imports a module
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def layer(module: str) -> str:
    """``cnnfilter.engine.filtering`` -> ``engine``; the root package -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_graph_is_read_from_the_source():
    # a check that could not fail would prove nothing: the graph holds the known edges
    assert "cnnfilter.tasks.apply" in GRAPH["cnnfilter.cli.apply"]
    assert "cnnfilter.engine.filtering" in GRAPH["cnnfilter.engine.image_filter"]
    assert "cnnfilter.tasks.batch" in GRAPH["cnnfilter.cli._batch"]
    assert set(RANKS) >= {layer(m) for m in MODULES if layer(m)}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m)))
def test_imports_go_one_way_down_the_layers(module):
    for target in GRAPH[module]:
        if target == "cnnfilter":  # the root: only the CLI, for __version__
            assert layer(module) in ("cli", "__main__"), f"{module} imports the package root"
            continue
        if layer(target) == layer(module):
            continue
        low, high = RANKS[layer(target)], RANKS[layer(module)]
        # the library modules (rank 1) may use one another (arch uses engine.geometry); the
        # engine's own rule and the cycle check below keep that one way
        assert low < high or low == high == 1, f"{module} imports {target}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) == "engine"))
def test_the_engine_imports_only_the_engine_and_errors(module):
    assert {layer(t) for t in GRAPH[module]} <= {"engine", "errors"}, GRAPH[module]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) == "tasks"))
def test_tasks_never_import_the_cli(module):
    assert not {t for t in GRAPH[module] if layer(t) == "cli"}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as ``[a, b, ..., a]``, or None."""
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for target in sorted(graph.get(module, ())):
            if target != module and target in graph:
                cycle = visit(target, (*path, module))
                if cycle:
                    return cycle
        done.add(module)
        return None

    return next((c for m in sorted(graph) if (c := visit(m, ()))), None)


def test_the_import_graph_has_no_cycles():
    assert find_cycle(GRAPH) is None


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_an_import_inside_a_function_counts(tmp_path):
    fake = tmp_path / "mod.py"
    fake.write_text("def f():\n    from cnnfilter.cli import app\n    import cnnfilter.tasks\n")
    assert {"cnnfilter.cli", "cnnfilter.tasks"} <= imports_of(fake, package="cnnfilter.engine")
