"""Shared fixtures: a clean environment, and a migrated Store on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from aifinops.store import Store

POSTGRES_ADMIN_URL = os.environ.get("AIFINOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("AIFINOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's AIFINOPS_* / AZURE_* variables or ./aifinops.yaml."""
    for name in list(os.environ):
        if name.startswith(("AIFINOPS_", "AZURE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    store.dispose()
    return path


@pytest.fixture(scope="session")
def _postgres_url() -> Iterator[str]:
    """A private database for this test process, migrated once, dropped at the end."""
    name = f"aifinops_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(Store(POSTGRES_ADMIN_URL).url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    store = Store(url)
    store.upgrade()
    store.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(store: Store) -> None:
    with store.session() as conn:
        names = [n for n in sa.inspect(conn).get_table_names() if n != "alembic_version"]
        if names:
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty Store; every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "aifinops.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        s = Store(f"sqlite:///{path}")
    else:
        s = Store(request.getfixturevalue("_postgres_url"))
        _truncate_all(s)
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path, _sqlite_template: Path) -> Iterator[Store]:
    """A migrated, empty SQLite Store (for tests that need only the embedded default)."""
    path = tmp_path / "aifinops.db"
    shutil.copy(_sqlite_template, path)
    s = Store(f"sqlite:///{path}")
    yield s
    s.dispose()


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """October and November 2026 of the demo at 5 % of its volume (seed 42), billed, allocated and budgeted,
    in one SQLite file shared by the tests that only read it (reviews, exports, the estate, /metrics)."""
    from aifinops.config import load_settings
    from aifinops.demo.month import run_demo_month

    folder = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(("AIFINOPS_", "AZURE_")):
                mp.delenv(name)
        mp.chdir(folder)
        s = Store(f"sqlite:///{folder / 'aifinops.db'}")
        s.upgrade()
        for month in (10, 11):
            run_demo_month(s, load_settings(), year=2026, month=month, seed=42, scale=0.05)
    yield s
    s.dispose()
