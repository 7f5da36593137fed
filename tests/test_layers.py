"""Imports point one way: domain ← engine ← {sources, store} ← {collector, api, gateway, cli}."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "aifinops"
_STDLIB_ONLY_PLUS = {"aifinops.domain", "aifinops.engine", "aifinops.errors"}
_UPPER = ("aifinops.api", "aifinops.gateway", "aifinops.cli", "aifinops.collector", "aifinops.sdk")


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
        assert not name.startswith("aifinops.gateway"), f"{path.relative_to(SRC)} imports {name}"
