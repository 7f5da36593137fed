"""Imports point one way: domain ← engine ← {sources, store} ← queries ← jobs ← {api, gateway, cli, demo}.

Every rule of docs/architecture.md, read from the source with ``ast`` (nothing is imported).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "aifinops"
MIGRATIONS = SRC / "store" / "migrations"
MAX_MODULE_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


@dataclass(frozen=True, slots=True)
class Import:
    """One imported module, resolved: ``from aifinops.store import keys`` names ``aifinops.store.keys``."""

    name: str
    line: int
    type_checking: bool


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(node: ast.ImportFrom, package: str) -> list[str]:
    base = node.module or ""
    if node.level:  # relative: one level is the module's own package
        anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


@cache
def imports(path: Path) -> tuple[Import, ...]:
    """Every import of the module at ``path``, in functions too; those under ``if TYPE_CHECKING:`` say so."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def walk(node: ast.AST, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for inner in child.body:
                    walk_one(inner, True)
                for inner in child.orelse:
                    walk_one(inner, type_checking)
            else:
                walk_one(child, type_checking)

    def walk_one(node: ast.AST, type_checking: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(a.name, node.lineno, type_checking) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.extend(Import(n, node.lineno, type_checking) for n in _resolve(node, package))
        else:
            walk(node, type_checking)

    walk(ast.parse(path.read_text(encoding="utf-8")), False)
    return tuple(found)


def _modules(folder: str) -> list[Path]:
    return sorted((SRC / folder).rglob("*.py")) if (SRC / folder).is_dir() else [SRC / f"{folder}.py"]


def _reaches(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _layer(module: str) -> str:
    """The package of a module: ``aifinops.store.keys`` → ``store``, ``aifinops.config`` → ``config``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _rel(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


_BASE = {"aifinops", "domain", "errors"}
_EDGE = _BASE | {"config", "engine"}
_READ = _EDGE | {"sources", "store"}
_USE_CASES = _READ | {"queries", "jobs"}

#: What each package may import from aifinops: the layers below it. Siblings never import each other, except
#: the guard API serving the gateway's enforcer and the CLI, which starts every process.
MAY_IMPORT: dict[str, set[str]] = {
    "aifinops": set(),
    "errors": set(),
    "domain": {"errors"},
    "config": {"domain", "errors"},
    "engine": {"domain", "errors"},
    "sources": _EDGE,
    "store": _EDGE,
    "sdk": _BASE | {"sources"},
    "emulator": _BASE | {"sources"},  # it recognises the Log Analytics queries the sources send
    "queries": _READ | {"queries"},
    "jobs": _USE_CASES,
    "gateway": _USE_CASES | {"gateway"},
    "api": _USE_CASES | {"api", "gateway"},
    "demo": _USE_CASES | {"demo", "emulator"},
    "cli": _USE_CASES | {"cli", "api", "gateway", "demo", "emulator"},
}


@pytest.mark.parametrize("path", list(MODULES.values()), ids=_rel)
def test_each_package_imports_only_the_layers_below_it(path: Path) -> None:
    layer = _layer(_module_name(path))
    allowed = MAY_IMPORT[layer] | {layer}
    reached = sorted(
        f"{i.name} (line {i.line})"
        for i in imports(path)
        if i.name.split(".")[0] == "aifinops" and _layer(i.name) not in allowed
    )
    assert not reached, f"{_rel(path)} imports {reached}; {layer}/ may import only {sorted(allowed)}"


@pytest.mark.parametrize("path", _modules("engine") + _modules("domain"), ids=_rel)
def test_engine_and_domain_are_pure(path: Path) -> None:
    """The standard library and aifinops.domain/engine/errors only: no sqlalchemy, httpx, fastapi, …"""
    for i in imports(path):
        root = i.name.split(".")[0]
        if root == "aifinops":
            assert _reaches(i.name, ("aifinops.domain", "aifinops.engine", "aifinops.errors")), (
                f"{_rel(path)} imports {i.name}"
            )
        else:
            assert root in sys.stdlib_module_names, f"{_rel(path)} imports {i.name}"


@pytest.mark.parametrize("path", _modules("sdk"), ids=_rel)
def test_sdk_does_not_import_the_gateway(path: Path) -> None:
    # Client-side code ships into applications; OpenAI wire knowledge comes from sources.openai_wire.
    for i in imports(path):
        assert not _reaches(i.name, ("aifinops.gateway",)), f"{_rel(path)} imports {i.name}"


#: Standard-library modules that reach process state (collector, threads, processes, environment, clock,
#: randomness) or the outside (SQL, network): the engine takes what it needs as arguments instead.
_PROCESS_STATE_AND_IO = {
    "asyncio",
    "gc",
    "logging",
    "multiprocessing",
    "os",
    "random",
    "signal",
    "socket",
    "subprocess",
    "sys",
    "threading",
    "time",
    "sqlite3",
    "dbm",
    "shelve",
    "http",
    "urllib",
    "ssl",
}
_CLOCK_CALLS = {"now", "today", "utcnow"}


@pytest.mark.parametrize("path", _modules("engine"), ids=_rel)
def test_engine_touches_no_process_state(path: Path) -> None:
    """The engine is pure: no garbage-collector switches, threads, environment, clock (``as_of`` is an
    argument), SQL or network."""
    reached = sorted(i.name for i in imports(path) if i.name.split(".")[0] in _PROCESS_STATE_AND_IO)
    assert not reached, f"{_rel(path)} imports {reached}"
    calls = [
        node.func.attr
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _CLOCK_CALLS
    ]
    assert not calls, f"{_rel(path)} reads the clock ({calls}); take as_of as an argument"


#: Database drivers and SQL toolkits.
_SQL = {"sqlalchemy", "alembic", "sqlite3", "psycopg"}


@pytest.mark.parametrize("path", _modules("store"), ids=_rel)
def test_the_store_does_not_import_duckdb(path: Path) -> None:
    """Sources hand the store row batches or Arrow record batches, never a DuckDB relation."""
    lines = [i.line for i in imports(path) if i.name.split(".")[0] == "duckdb"]
    assert not lines, f"{_rel(path)} imports duckdb (line {lines}); take row batches or Arrow instead"


@pytest.mark.parametrize(
    "path", [p for p in MODULES.values() if _layer(_module_name(p)) != "store"], ids=_rel
)
def test_only_the_store_touches_the_database(path: Path) -> None:
    """One idiom: ``XStore`` classes write and ``*_queries`` modules read; nothing else speaks SQL to the
    database (sources may still query the files they read with DuckDB)."""
    sql = sorted(f"{i.name} (line {i.line})" for i in imports(path) if i.name.split(".")[0] in _SQL)
    assert not sql, f"{_rel(path)} imports {sql}; read through a store/*_queries module instead"


@pytest.mark.parametrize("path", _modules("cli") + _modules("demo"), ids=_rel)
def test_cli_and_demo_never_import_api_routes(path: Path) -> None:
    """The CLI and the demo print what the API serves by calling the same read models, not its routes."""
    for i in imports(path):
        assert not i.name.startswith("aifinops.api.routes_"), f"{_rel(path)} imports {i.name}"


def test_only_cli_serve_imports_the_api_from_outside() -> None:
    """Nothing outside ``api/`` imports ``aifinops.api``, except ``cli/core.py`` building the app to serve."""
    allowed = {("cli/core.py", "aifinops.api.app")}
    found = {
        (_rel(path), i.name)
        for path in MODULES.values()
        if _layer(_module_name(path)) != "api"
        for i in imports(path)
        if _reaches(i.name, ("aifinops.api",))
    }
    assert found <= allowed, sorted(found - allowed)


def import_graph() -> dict[str, set[str]]:
    """Module → the aifinops modules it imports at run time (``if TYPE_CHECKING:`` imports aside).

    Alembic loads migrations by path, so they are not part of it.
    """
    return {
        name: {i.name for i in imports(path) if i.name in MODULES and i.name != name and not i.type_checking}
        for name, path in MODULES.items()
        if MIGRATIONS not in path.parents
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, …, a]``, or None (an iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            following = next(stack[-1], None)
            if following is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(following) == 1:
                return [*path[path.index(following) :], following]
            elif following not in state:
                state[following] = 1
                path.append(following)
                stack.append(iter(sorted(graph.get(following, ()))))
    return None


def test_no_import_cycles_between_modules() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_find_cycle_names_the_modules_of_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_module_is_over_500_lines_outside_migrations() -> None:
    sizes = {
        _rel(path): len(path.read_text(encoding="utf-8").splitlines())
        for path in MODULES.values()
        if MIGRATIONS not in path.parents
    }
    over = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them by what they hold): {over}"
