"""The shape of the package, kept by a test: pure modules stay pure, the product never
imports the simulator or the benchmarks, and no import cycle appears anywhere.

Imports are read from the source with :mod:`ast` (every ``import`` statement, also the
ones inside functions), so a lazy import counts as much as a top-level one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bridge"

# Decisions in pure code: these take data and return data. They may import only the
# standard library's pure parts, numpy, and other pure modules of ours.
PURE = (
    "bridge.backoff",
    "bridge.errors",
    "bridge.selection",
    "bridge.repeats",
    "bridge.cortex.errors",
    "bridge.streams",
    "bridge.streams.headset",
    "bridge.streams.catalog",
    "bridge.streams.plan",
    "bridge.streams.extract",
    "bridge.cortex.protocol",
    "bridge.cortex.lifecycle",
    "bridge.outputs.osc_codec",
    "bridge.outputs.osc_layout",
    "bridge.status.events",
    "bridge.outputs.osc_presets",
    "bridge.sources.emogg.protocol",
    "bridge.simulator.model",
    "bridge.simulator.service",
    "bridge.simulator.emogg.service",
)
IO_MODULES = ("asyncio", "websockets", "picows", "pylsl", "socket", "ssl", "threading", "selectors",
              "http", "urllib.request", "subprocess", "pythonosc", "mne_lsl")
# The command layer starts whatever the user asked for, the simulator included.
ENTRY_POINTS = {"bridge.cli", "bridge.__main__", "bridge.demo"}
NOT_PRODUCT = ("bridge.simulator", "bridge.bench")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> Iterator[str]:
    """Every module ``name`` imports (absolute names; relative imports resolved)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {id(inner) for node in ast.walk(tree) if _is_type_checking_block(node)
                   for inner in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue  # ``if TYPE_CHECKING:`` imports never run
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = [f"{base}.{alias.name}" for alias in node.names
                          if f"{base}.{alias.name}" in MODULES]
            if len(submodules) < len(node.names):
                yield base  # a name defined in ``base`` itself
            yield from submodules  # ``from bridge.x import y`` naming the module y


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def internal_imports(name: str) -> set[str]:
    return {imported for imported in imports_of(name) if imported in MODULES}


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def closure(name: str) -> set[str]:
    """``name`` and every module of ours it imports, directly or through others."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(internal_imports(current))
    return seen


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_no_io(name: str) -> None:
    """Not directly, and not through any module of ours they import."""
    assert name in MODULES, f"{name} is listed as pure but does not exist"
    io = {module: sorted(i for i in imports_of(module) if under(i, IO_MODULES))
          for module in closure(name)}
    assert {module: found for module, found in io.items() if found} == {}, name


def test_the_product_never_imports_the_simulator_or_the_bench() -> None:
    offenders = {
        name: sorted(i for i in internal_imports(name) if under(i, NOT_PRODUCT))
        for name in MODULES
        if not under(name, NOT_PRODUCT) and name not in ENTRY_POINTS
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_no_import_cycles() -> None:
    graph = {name: internal_imports(name) - {name} for name in MODULES}
    # A package's __init__ re-exporting its own modules is not a cycle of design.
    graph = {name: {i for i in deps if not name.startswith(i + ".")}
             for name, deps in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_layering_test_sees_the_package() -> None:
    """Guards the guard: an empty module map would pass everything above."""
    assert {"bridge.app", "bridge.cortex.source", "bridge.cortex.lifecycle"} <= set(MODULES)
    assert "bridge.cortex.api" in internal_imports("bridge.cortex.session")
