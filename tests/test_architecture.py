"""ARCHITECTURE.md stays true: its packages exist, its import rules hold, no import cycle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "agentstore"
MAP = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")

MODEL = {
    "events",
    "metadata",
    "sessions",
    "state",
    "errors",
    "payloads",
    "frozen",
    "ids",
    "timestamps",
}
CORE_RULES = {"core.checks", "core.plans", "core.sequencing"}

# The rooms of ARCHITECTURE.md, and the rooms each may import from (its own included).
ALLOWED: dict[str, set[str]] = {
    "model": {"model"},
    "core rules": {"model", "core rules"},
    "backends": {"model", "core.sequencing", "backends"},
    "core": {"model", "core rules", "backends.base", "core"},
    "recording": {"model", "recording"},
    "reports": {"model", "reports"},
    "faces": {"model", "core rules", "core", "backends", "recording", "faces"},
    "tools": {"model", "faces", "backends", "tools"},
    # The users of the library may also import it by its public face (``agentstore``).
    "cli": {"package face", "model", "core rules", "faces", "backends", "recording", "reports"}
    | {"tools", "server", "otel", "cli"},
    "server": {"package face", "model", "core rules", "faces", "backends", "reports", "otel"}
    | {"server"},
    "integrations": {"package face", "model", "faces", "backends", "recording", "reports"}
    | {"integrations"},
    "otel": {"package face", "model", "faces", "recording", "reports", "otel"},
    "testing": {"package face", "model", "faces", "backends", "tools", "testing"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(part for part in parts if part != "__init__")
        found[name] = path
    return found


MODULES = _modules()


def _imports(module: str) -> set[str]:
    """The agentstore modules ``module`` imports, type-only and in-function imports included."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found.update(name if name in MODULES else node.module for name in names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in MODULES and name != module}


def _room(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts:
        return "package face"
    if parts[0] in MODEL:
        return "model"
    if parts[0] == "core":
        return "core rules" if ".".join(parts[:2]) in CORE_RULES else "core"
    if parts[0] in ("store", "feeds", "aio", "opening"):
        return "faces"
    if parts[0] in ("copying", "verifying", "repairing"):
        return "tools"
    return parts[0]


def _allowed(target: str, rooms: set[str]) -> bool:
    dotted = target.removeprefix("agentstore.")
    return _room(target) in rooms or dotted in rooms


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_what_its_room_may(module: str) -> None:
    room = _room(module)
    if room in ("package face", "__main__"):
        return
    rooms = ALLOWED[room]
    wrong = sorted(target for target in _imports(module) if not _allowed(target, rooms))
    assert not wrong, f"{module} ({room}) may not import {wrong}"


def test_no_import_cycle() -> None:
    graph = {module: _imports(module) for module in MODULES}
    # Every package also imports what its face re-exports, which is what makes a cycle of
    # "import agentstore.x" and "from agentstore import y" real.
    cycles = _cycles(graph)
    assert not cycles, f"import cycles: {cycles}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def _packages() -> set[str]:
    return {
        str(path.parent.relative_to(PACKAGE)) + "/"
        for path in PACKAGE.rglob("__init__.py")
        if path.parent != PACKAGE
    }


def test_every_package_is_on_the_map() -> None:
    missing = sorted(package for package in _packages() if f"`{package}`" not in MAP)
    assert not missing, f"ARCHITECTURE.md does not name {missing}"


def test_every_package_on_the_map_exists() -> None:
    named = set(re.findall(r"`([a-z_]+(?:/[a-z_]+)*/)`", MAP))
    assert named, "ARCHITECTURE.md names no package"
    elsewhere = {name for name in named if (ROOT / name).is_dir()}  # tests/, benchmarks/
    assert sorted(named - _packages() - elsewhere) == []


def test_every_module_on_the_map_exists() -> None:
    named = set(re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py)`", MAP))
    files = {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")}
    tests = {str(path.relative_to(ROOT)) for path in (ROOT / "tests").glob("*.py")}
    ambiguous_ok = {name for name in named if any(f.endswith("/" + name) for f in files)}
    assert sorted(named - files - tests - ambiguous_ok) == []


@pytest.mark.parametrize(
    "face", sorted(p for p in MODULES if MODULES[p].name == "__init__.py"), ids=str
)
def test_a_package_face_only_re_exports(face: str) -> None:
    tree = ast.parse(MODULES[face].read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        targets = node.targets if isinstance(node, ast.Assign) else []
        names = [target.id for target in targets if isinstance(target, ast.Name)]
        assert names in (["__all__"], ["__version__"]), (
            f"{face} holds code (line {node.lineno}): put it in a module of its own"
        )
