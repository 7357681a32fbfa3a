"""No import circle anywhere in include/: the module import graph, built from the source with ast,
has no cycle.

What counts as an edge A -> B:
- every import statement of A, at module level and inside functions alike (a lazy import only hides
  a circle until the function runs; TYPE_CHECKING imports count too);
- `from P import n` is an edge to the module P.n when n is a submodule, else to P itself. A package
  is always imported before its submodules, so `from tthc.app import queries` inside tthc.app.api
  depends on tthc.app.queries, not on whatever tthc/app/__init__.py happens to import.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules(root: Path) -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        if parts:
            found[".".join(parts)] = (path, is_pkg)
    return found


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """module -> {imported module of root: first line}."""
    mods = modules(root)

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {m: {} for m in mods}
    for mod, (path, is_pkg) in mods.items():
        package = mod if is_pkg else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[:len(parts) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for target in targets:
                dep = known(target)
                if dep and dep != mod:
                    graph[mod].setdefault(dep, node.lineno)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle (a -> b -> ... -> a) per strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:   # Tarjan; the graph of include/ is a few hundred modules deep at most
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    found = []
    for comp in components:   # the shortest way round from the component's first module, for the message
        members, start = set(comp), comp[0]
        came_from: dict[str, str] = {}
        queue, end = [start], None
        while queue and end is None:
            v = queue.pop(0)
            for w in sorted(graph[v]):
                if w == start:
                    end = v
                    break
                if w in members and w not in came_from:
                    came_from[w] = v
                    queue.append(w)
        back = [end]
        while back[-1] != start:
            back.append(came_from[back[-1]])
        found.append(back[::-1] + [start])
    return found


def describe(graph: dict[str, dict[str, int]], cycle: list[str]) -> str:
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def test_no_import_circle_in_include():
    graph = import_graph(ROOT / "include")
    assert len(graph) > 100, "include/ should hold the tthc package"
    found = cycles(graph)
    assert not found, "import circles in include/:\n" + "\n".join(describe(graph, c) for c in found)


def test_the_check_finds_a_circle_through_a_lazy_import(tmp_path):
    """The check is not blind: a circle closed by a function-level import is reported with its path."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import thing\n")
    (pkg / "b.py").write_text(textwrap.dedent("""\
        thing = 1


        def later():
            from pkg import c
            return c
        """))
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from pkg import a, b\n")   # imports of submodules, no circle
    graph = import_graph(tmp_path)
    found = cycles(graph)
    assert len(found) == 1
    assert set(found[0]) == {"pkg.a", "pkg.b", "pkg.c"} and found[0][0] == found[0][-1]
    assert "pkg.b (line 5) -> pkg.c" in describe(graph, found[0])
