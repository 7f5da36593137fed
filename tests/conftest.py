"""Shared fixtures: a clean environment, and a migrated Store on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn

from aifinops.emulator import EmulatorState, create_emulator
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


@pytest.fixture
def retail_prices_server() -> Iterator[tuple[str, EmulatorState]]:
    """The project's Azure emulator serving the Retail Prices API on a local port, seeded with real meters."""
    item = {
        "currencyCode": "USD",
        "tierMinimumUnits": 0.0,
        "armRegionName": "eastus2",
        "location": "US East 2",
        "effectiveStartDate": "2025-04-01T00:00:00Z",
        "productId": "DZH318Z0HHG7",
        "productName": "Azure OpenAI",
        "serviceName": "Cognitive Services",
        "serviceId": "DZH31600VF1F",
        "serviceFamily": "AI + Machine Learning",
        "unitOfMeasure": "1K",
        "type": "Consumption",
        "isPrimaryMeterRegion": True,
    }
    meters = [
        ("gpt 4.1 Inp glbl Tokens", 0.002),
        ("gpt 4.1 Outp glbl Tokens", 0.008),
        ("gpt 4.1 cached Inp glbl Tokens", 0.0005),
        ("Whisper hypothetical Widget", 0.1),
    ]
    state = EmulatorState(prices_page_size=2)
    state.prices = [
        {
            **item,
            "meterName": name,
            "meterId": f"meter-{n}",
            "skuName": name.removesuffix(" Tokens"),
            "skuId": f"DZH318Z0HHG7/{n:04d}",
            "retailPrice": price,
            "unitPrice": price,
        }
        for n, (name, price) in enumerate(meters)
    ]
    server = uvicorn.Server(
        uvicorn.Config(
            create_emulator(state), host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/api/retail/prices", state
    server.should_exit = True
    thread.join(timeout=10)
