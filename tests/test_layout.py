"""The layout the code lives in: floors whose imports only point down, no import cycle,
a kernel that knows nothing of hlsd, and modules and functions small enough to read.

``FLOORS`` is read from the bottom up: the kernel, the OS boundary (``actors.ffmpeg``),
hlsd's error family, media knowledge, then hlsd's own modules floor by floor, then
``web``. A module imports only modules on lower floors; on its own floor only modules of
the same entry (the modules of one package, such as ``actors.media.*``). Every import
counts, including those inside functions and under ``TYPE_CHECKING``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("actors", "web")

# Bottom up. An entry names one module, or ends in ``.*``: a package and every module in
# it. A new module goes on the lowest floor above everything it imports; a module with
# no entry fails test_every_module_has_a_floor.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("actors.kernel.*",),
    ("actors.ffmpeg.*",),
    # Below media: media raises NotFound, Unplayable ...; web maps each kind to a status.
    ("actors.errors",),
    ("actors.media.*",),
    ("actors", "actors.accounts", "actors.faults", "actors.messages", "actors.metrics", "actors.run",
     "actors.tokens"),
    ("actors.accel", "actors.partial", "actors.settings", "actors.store"),
    ("actors.runtime",),
    ("actors.trickplay", "actors.viewers"),
    ("actors.library_view", "actors.reaper", "actors.scanner", "actors.sharing", "actors.transcoder"),
    ("actors.runs", "actors.tree"),
    ("actors.session",),
    ("actors.gateway",),
    ("actors.operators",),
    ("actors.system",),
    ("web.*",),
)
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports: ``from a import b`` is module ``a.b`` when
    that is a module, else ``a``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                found.add(target if target in known else node.module)
    return {name for name in found if name in known}


def entry_of(name: str, floors=FLOORS) -> tuple[int, str] | None:
    """``(floor, entry)`` of a module, or None when no entry names it."""
    for number, entries in enumerate(floors):
        for entry in entries:
            package = entry.removesuffix(".*")
            if name == entry or (entry.endswith(".*") and (name == package or name.startswith(package + "."))):
                return number, entry
    return None


def misplaced_imports(graph: dict[str, set[str]], floors=FLOORS) -> list[str]:
    """Every import that does not point down: to a higher floor, or across entries of one
    floor. Modules without a floor are left to ``modules_without_a_floor``."""
    found = []
    for name, targets in sorted(graph.items()):
        here = entry_of(name, floors)
        for target in sorted(targets):
            there = entry_of(target, floors)
            if here is None or there is None:
                continue
            if there[0] > here[0] or (there[0] == here[0] and there[1] != here[1]):
                found.append(f"{name} (floor {here[0]}) imports {target} (floor {there[0]})")
    return found


def modules_without_a_floor(names, floors=FLOORS) -> list[str]:
    return sorted(name for name in names if entry_of(name, floors) is None)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(path, known) - {name} for name, path in known.items()}


def test_every_module_has_a_floor(graph):
    missing = modules_without_a_floor(graph)
    assert missing == [], f"modules with no floor (add each to FLOORS in tests/test_layout.py): {missing}"


def test_every_floor_entry_names_a_module(graph):
    stale = sorted(entry for entries in FLOORS for entry in entries
                   if not any(entry_of(name, ((entry,),)) for name in graph))
    assert stale == [], f"FLOORS names modules that no longer exist (remove them): {stale}"


def test_imports_only_point_down(graph):
    misplaced = misplaced_imports(graph)
    assert misplaced == [], "imports that do not point down the floors:\n" + "\n".join(misplaced)


def test_the_floor_check_can_fail():
    floors = (("low.*",), ("mid_a", "mid_b"), ("top",))
    graph = {"low.x": {"low.y", "top"}, "low.y": set(), "mid_a": {"low.x", "mid_b"},
             "mid_b": set(), "top": {"mid_a", "low"}, "stray": {"low.x"}}
    assert misplaced_imports(graph, floors) == [
        "low.x (floor 0) imports top (floor 2)",
        "mid_a (floor 1) imports mid_b (floor 1)",
    ]
    assert modules_without_a_floor(graph, floors) == ["stray"]


def test_the_kernel_knows_nothing_of_hlsd(graph):
    outside = [(a, b) for a, targets in graph.items() if a.startswith("actors.kernel")
               for b in targets if not b.startswith("actors.kernel")]
    assert outside == []


def test_there_is_no_import_cycle(graph):
    cycles = find_cycles(graph)
    assert cycles == [], f"import cycles: {cycles}"


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_cycle_check_can_fail():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_modules_are_small_enough_to_read():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_functions_are_small_enough_to_read():
    long = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {length} lines")
    assert long == []


def test_urls_are_the_web_layers():
    literals = []
    for name, path in modules().items():
        if name.startswith("actors"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and node.value.startswith(("/hls/", "/media/", "/api/")):
                    literals.append(f"{name}: {node.value!r}")
    assert literals == []
