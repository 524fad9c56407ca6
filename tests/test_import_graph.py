"""The import graph of infra, policies, runtime and frugal, read from the source (ast): no cycle
between files or between packages, and the layers point one way (runtime and the domain packages
never import the CLI; the runtime imports nothing from the stack side; the cost model reads a plan).

Every import counts: at module level, inside functions, under TYPE_CHECKING, and imports by
string (`importlib.import_module("...")`, registry strings such as "module:function" in
`frugal.cli.COMMANDS` or "module:Class" in `frugal.cli.USAGE_ERRORS`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("infra", "policies", "runtime", "frugal")
# A string that names a module: dotted lowercase words, optionally ":attribute[:attribute]".
MODULE_STRING = re.compile(r"([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+)(?::[A-Za-z_][\w:]*)?")



@cache
def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = f.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return found


def _within(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer + ".")


def _resolve(name: str) -> str | None:
    """The module a dotted import target lives in (`infra.plan.Plan` -> `infra.plan`)."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


def _targets(module: str, path: Path) -> Iterable[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                keep = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(keep + ([base] if base else []))
            yield base
            yield from (f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # By string: any dotted name whose start is one of ours counts, as the shared checker
            # counts it; a logger named "frugal.offline" inside infra would read as infra -> frugal,
            # so loggers are named after their modules (__name__).
            match = MODULE_STRING.fullmatch(node.value)
            if match:
                yield match.group(1)


@cache
def edges() -> dict[str, frozenset[str]]:
    graph: dict[str, frozenset[str]] = {}
    for module, path in modules().items():
        found = {_resolve(t) for t in _targets(module, path)}
        # Importing a module runs its ancestor packages' __init__ first anyway, so `from runtime import
        # complexity` inside runtime.chat is an edge to runtime.complexity, not to the package `runtime`.
        graph[module] = frozenset(t for t in found if t is not None and t != module and not _within(module, t))
    return graph


def _strongly_connected(graph: dict[str, frozenset[str]]) -> list[frozenset[str]]:
    """Tarjan's algorithm, iterative; the components with more than one node are the cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[frozenset[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(frozenset(component))
    return cycles


def _package(module: str) -> str:
    return module if modules()[module].name == "__init__.py" else module.rpartition(".")[0]


def _importers(graph: dict[str, frozenset[str]], source: str, target: str) -> list[str]:
    return sorted(f"{a} -> {b}" for a, bs in graph.items() if _within(a, source) for b in bs if _within(b, target))


def test_the_graph_sees_imports_inside_functions_and_by_string() -> None:
    graph = edges()
    assert "infra.offline" in graph["frugal.commands.plan"], "an import inside a function is an edge"
    assert "frugal.commands.serve" in graph["frugal.cli"], "a registry string 'module:configure:run' is an edge"
    assert "infra.config" in graph["frugal.cli"], "a 'module:Class' string is an edge"
    assert _resolve("frugal.offline") == "frugal", (
        "a dotted string that starts with a package's name is an edge to it (a logger name too)"
    )
    assert not any(_within(t, "frugal") for t in graph["infra.offline"]), (
        "infra.offline names nothing of the CLI, not even in a logger name"
    )


def test_no_import_cycle_between_files() -> None:
    cycles = _strongly_connected(dict(edges()))
    unexpected = [sorted(c) for c in cycles]
    assert not unexpected, f"files that import each other (directly or around a loop): {unexpected}"


def test_no_import_cycle_between_top_level_packages() -> None:
    graph = edges()
    tops: dict[str, frozenset[str]] = {
        pkg: frozenset(b.split(".")[0] for a, bs in graph.items() if a.split(".")[0] == pkg for b in bs) - {pkg}
        for pkg in PACKAGES
    }
    cycles = _strongly_connected(tops)
    assert not cycles, f"top-level packages that import each other: {[sorted(c) for c in cycles]}"


def test_no_import_cycle_between_subpackages() -> None:
    """Packages as nodes (a package's own modules, not its subpackages'). A package importing its own
    subpackage is how a package is built (infra.program wires infra.components); a cycle is any loop
    through an import from a package into one that neither contains it nor is contained by it, or
    from a subpackage back up into a package that contains it."""
    graph = edges()
    packages: dict[str, set[str]] = {}
    for a, bs in graph.items():
        pa = _package(a)
        packages.setdefault(pa, set())
        for b in bs:
            pb = _package(b)
            if pa != pb and not _within(pb, pa):  # down into one's own subpackage: not an upward edge
                packages[pa].add(pb)
    cycles = _strongly_connected({p: frozenset(t) for p, t in packages.items()})
    assert not cycles, f"packages that import each other: {[sorted(c) for c in cycles]}"


def test_the_runtime_imports_nothing_from_the_stack_side_or_the_cli() -> None:
    graph = edges()
    for other in ("infra", "policies", "frugal"):
        found = _importers(graph, "runtime", other)
        assert not found, f"the serving image ships only runtime/, so runtime must not import {other}: {found}"


def test_no_domain_package_imports_the_cli() -> None:
    graph = edges()
    for domain in ("infra", "policies", "runtime"):
        found = _importers(graph, domain, "frugal")
        assert not found, f"the CLI sits on top of {domain}, never under it: {found}"


def test_the_cost_model_reads_a_plan_and_the_config_imports_nothing_from_it() -> None:
    graph = edges()
    assert not _importers(graph, "infra.config", "infra.cost"), "infra.config imports nothing from the cost model"
    allowed = {"infra.plan", "infra.tokens", "infra.catalog", "infra.schedule", "infra.sizing"}
    reaches = {b for a, bs in graph.items() if _within(a, "infra.cost") for b in bs if not _within(b, "infra.cost")}
    assert reaches <= allowed, (
        "the cost model reads a Plan (with its type tokens), the catalog and pure schedule/sizing arithmetic only: "
        f"{sorted(reaches - allowed)}"
    )
