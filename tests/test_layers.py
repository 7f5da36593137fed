"""Imports point one way: domain ← engine ← {sources, store} ← queries ← {jobs, api, gateway, cli, demo}."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "aifinops"
_STDLIB_ONLY_PLUS = {"aifinops.domain", "aifinops.engine", "aifinops.errors"}
_UPPER = ("aifinops.api", "aifinops.gateway", "aifinops.cli", "aifinops.jobs", "aifinops.sdk")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((SRC / folder).rglob("*.py")) if (SRC / folder).is_dir() else [SRC / f"{folder}.py"]


def _reaches(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


@pytest.mark.parametrize("path", _modules("engine") + _modules("domain"), ids=lambda p: p.name)
def test_engine_and_domain_are_pure(path: Path) -> None:
    allowed_third_party: set[str] = set()
    for name in _imports(path):
        root = name.split(".")[0]
        if root == "aifinops":
            assert any(name == m or name.startswith(m + ".") for m in _STDLIB_ONLY_PLUS), (
                f"{path.name} imports {name}"
            )
        else:
            import sys

            assert root in sys.stdlib_module_names or root in allowed_third_party, (
                f"{path.name} imports {name}"
            )


@pytest.mark.parametrize("path", _modules("store") + _modules("sources"), ids=lambda p: p.name)
def test_store_and_sources_do_not_reach_up(path: Path) -> None:
    for name in _imports(path):
        assert not name.startswith(_UPPER), f"{path.relative_to(SRC)} imports {name}"


@pytest.mark.parametrize("path", _modules("sdk"), ids=lambda p: p.name)
def test_sdk_does_not_import_the_gateway(path: Path) -> None:
    # Client-side code ships into applications; OpenAI wire knowledge comes from sources.openai_wire.
    for name in _imports(path):
        assert not _reaches(name, ("aifinops.gateway",)), f"{path.relative_to(SRC)} imports {name}"


#: Standard-library modules that reach process state (collector, threads, processes, environment, clock,
#: randomness, I/O): the engine takes what it needs as arguments instead.
_PROCESS_STATE = {
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
}
_CLOCK_CALLS = {"now", "today", "utcnow"}


@pytest.mark.parametrize("path", _modules("engine"), ids=lambda p: str(p.relative_to(SRC)))
def test_engine_touches_no_process_state(path: Path) -> None:
    """The engine is pure: no garbage-collector switches, threads, environment or clock (``as_of`` is an
    argument)."""
    reached = sorted(n for n in _imports(path) if n.split(".")[0] in _PROCESS_STATE)
    assert not reached, f"{path.relative_to(SRC)} imports {reached}"
    calls = [
        node.func.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _CLOCK_CALLS
    ]
    assert not calls, f"{path.relative_to(SRC)} reads the clock ({calls}); take as_of as an argument"


@pytest.mark.parametrize("path", _modules("store"), ids=lambda p: str(p.relative_to(SRC)))
def test_the_store_does_not_import_duckdb(path: Path) -> None:
    """Sources hand the store row batches or Arrow record batches, never a DuckDB relation."""
    assert not [n for n in _imports(path) if n.split(".")[0] == "duckdb"], f"{path.relative_to(SRC)}"


#: What read models sit below: they read the store and the engine, never the adapters or use cases above.
_ABOVE_QUERIES = (
    "aifinops.api",
    "aifinops.cli",
    "aifinops.gateway",
    "aifinops.jobs",
    "aifinops.demo",
    "aifinops.sdk",
    "aifinops.emulator",
)


@pytest.mark.parametrize("path", _modules("queries"), ids=lambda p: p.name)
def test_queries_read_only_the_store_and_the_engine(path: Path) -> None:
    for name in _imports(path):
        assert not _reaches(name, _ABOVE_QUERIES), f"{path.relative_to(SRC)} imports {name}"


@pytest.mark.parametrize(
    "path", _modules("cli") + _modules("demo"), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_cli_and_demo_never_import_api_routes(path: Path) -> None:
    """The CLI and the demo print what the API serves by calling the same read models, not its routes."""
    for name in _imports(path):
        assert not name.startswith("aifinops.api.routes_"), f"{path.relative_to(SRC)} imports {name}"


def test_only_cli_serve_imports_the_api_from_outside() -> None:
    """Nothing outside ``api/`` imports ``aifinops.api``, except ``cli/core.py`` building the app to serve."""
    allowed = {("cli/core.py", "aifinops.api.app")}
    found = {
        (path.relative_to(SRC).as_posix(), name)
        for path in sorted(SRC.rglob("*.py"))
        if "api" not in path.relative_to(SRC).parts[:1]
        for name in _imports(path)
        if _reaches(name, ("aifinops.api",))
    }
    assert found <= allowed, sorted(found - allowed)
