"""The house's shape: no module name used twice for different things, and no import loop between modules."""
from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from support import PACKAGE

#: names that stand for a role every package may have (its errors, its command, its Python API)
ROLE_NAMES = {"__init__.py", "errors.py", "command.py", "api.py"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The package's modules that `path` imports anywhere (at the top, in functions, under TYPE_CHECKING)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package if node.level else ""
            stem = ".".join(part for part in (base, node.module or "") if part)
            targets = [stem] + [f"{stem}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in known and target != name)
    return found


def test_no_module_name_is_used_twice_for_different_things():
    counts = Counter(path.name for path in PACKAGE.rglob("*.py") if path.name not in ROLE_NAMES)
    twice = sorted(name for name, count in counts.items() if count > 1)
    assert not twice, f"module names used in more than one package: {twice}; give each its concern's own name"


def find_loops(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first walk of `edges` (module -> modules it imports) closes, as module lists."""
    loops, state = [], {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(edges[name]):
            if state.get(target) == "open":
                loops.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    return loops


def test_no_import_loop_between_modules():
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(path) for path in paths}
    graph = {module_name(path): imported_modules(path, known) for path in paths}
    # a package's __init__ re-exporting its own modules is not a loop of concerns: drop edges into the importer's own packages
    edges = {name: {target for target in targets if not name.startswith(target + ".")} for name, targets in graph.items()}
    loops = find_loops(edges)
    assert not loops, "import loops: " + "; ".join(" -> ".join(loop) for loop in loops)


def test_the_loop_finder_finds_a_loop():
    assert find_loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_loops({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_import_graph_sees_imports_of_every_form():
    """The checker above would pass vacuously if it missed relative, lazy or TYPE_CHECKING imports."""
    known = {"lars_service.cli.context", "lars_service.server", "lars_service.api", "lars_service.cli"}
    source = PACKAGE / "server.py"
    assert "lars_service.cli.context" in imported_modules(source, known)
    assert "lars_service.api" in imported_modules(source, known)
    assert "lars_service.server" in imported_modules(PACKAGE / "cli" / "serve.py", known | {"lars_service.cli.serve"})
