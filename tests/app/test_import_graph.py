"""Imports between top-level packages flow one way, and infrastructure imports no domain.

Read from the source with ``ast`` (nothing is imported), every import counts: module level,
inside functions and under ``TYPE_CHECKING`` alike, since each is a dependency a reader must
follow.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "proofpix_plugins"
ROOT = "proofpix_plugins"

#: Shared infrastructure: it serves every domain, so it may not depend on one.
INFRASTRUCTURE = frozenset({"config", "db", "db_sqlite", "errors", "kit", "storage"})
#: The ORM models are the schema every layer shares (kit's audit writer and repository base
#: use them); they import nothing of the application themselves.
INFRASTRUCTURE_MAY_IMPORT = INFRASTRUCTURE | {"models"}

Graph = dict[str, dict[str, list[str]]]  # package -> imported package -> "file:line" sites


def _package_of(path: Path) -> str:
    """``plugins/service.py`` -> ``plugins``; ``app.py`` -> ``app``."""
    first = path.relative_to(SRC).parts[0]
    return first.removesuffix(".py")


def _module_of(path: Path) -> list[str]:
    parts = [ROOT, *path.relative_to(SRC).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported_modules(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _module_of(path)
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # A relative import is resolved against the importing module's package.
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((module, node.lineno))
            # ``from proofpix_plugins import storage`` names a package, not an attribute.
            if module == ROOT:
                found += [(f"{ROOT}.{alias.name}", node.lineno) for alias in node.names]
    return found


def package_graph() -> Graph:
    graph: Graph = defaultdict(lambda: defaultdict(list))
    for path in sorted(SRC.rglob("*.py")):
        if path.parent == SRC and path.name == "__init__.py":
            continue  # the root package carries version constants only
        source = _package_of(path)
        graph.setdefault(source, defaultdict(list))
        for module, line in _imported_modules(path):
            parts = module.split(".")
            if parts[0] != ROOT or len(parts) < 2:
                continue
            target = parts[1]
            if target != source:
                graph[source][target].append(f"{path.relative_to(SRC)}:{line}")
    return graph


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_cycle_finder_finds_a_cycle_and_nothing_else() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"b"}}) == []


def test_the_graph_is_read_from_the_source() -> None:
    graph = package_graph()
    # Known one-way edges: a graph that lost them would make the rules below vacuous.
    assert "files" in graph["plugins"]
    assert "runtime" in graph["plugins"]
    assert "storage" in graph["files"]


def test_no_import_cycle_between_top_level_packages() -> None:
    graph = package_graph()
    found = cycles({source: set(targets) for source, targets in graph.items()})
    details = [
        f"{a} -> {b} at {graph[a][b][:3]}"
        for component in found
        for a in component
        for b in component
        if b in graph[a]
    ]
    assert found == [], "\n".join(details)


def test_infrastructure_imports_no_domain_package() -> None:
    graph = package_graph()
    offending = {
        f"{source} -> {target}": sites[:3]
        for source in sorted(INFRASTRUCTURE & graph.keys())
        for target, sites in sorted(graph[source].items())
        if target not in INFRASTRUCTURE_MAY_IMPORT
    }
    assert offending == {}
