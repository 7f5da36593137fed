"""/healthz and /readyz: what an orchestrator sees, on a real store and a real (or a closed) Redis port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aifinops import __version__
from aifinops.api.app import create_app
from aifinops.api.routes_health import ReadinessChecks
from aifinops.config import load_settings
from aifinops.store import Store
from tests.conftest import REDIS_URL

PROBLEM = "application/problem+json"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


def test_healthz_answers_while_the_process_serves(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "version": __version__}


def test_readyz_checks_the_store_and_its_schema(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "ready",
        "checks": {"store": "ok", "schema": "ok", "redis": "not configured"},
    }


@pytest.mark.redis
def test_readyz_pings_the_configured_redis(sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFINOPS_REDIS_URL", REDIS_URL)
    with TestClient(create_app(load_settings(), store=sqlite_store)) as c:
        assert c.get("/readyz").json()["checks"]["redis"] == "ok"


def test_readyz_is_503_naming_redis_when_it_does_not_answer(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIFINOPS_REDIS_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    with TestClient(create_app(load_settings(), store=sqlite_store)) as c:
        r = c.get("/readyz")
        assert c.get("/healthz").status_code == 200  # alive all the same: a restart would not help
    assert (r.status_code, r.headers["content-type"]) == (503, PROBLEM)
    body = r.json()
    assert [e["field"] for e in body["errors"]] == ["redis"] and "redis unreachable" in body["detail"]


def test_readyz_is_503_until_the_schema_is_migrated(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    store.upgrade()
    app = create_app(load_settings(), store=store)
    with store.session() as conn:  # the database falls behind the code (a replica of a newer version)
        conn.exec_driver_sql("DROP TABLE scheduled_jobs")
        conn.exec_driver_sql("DELETE FROM alembic_version WHERE version_num = '0018_scheduled_jobs'")
    with TestClient(app) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["errors"][0]["field"] == "schema"
        assert "0018_scheduled_jobs" in r.json()["detail"] and "aifinops db upgrade" in r.json()["detail"]
        store.upgrade()
        assert c.get("/readyz").status_code == 200
    store.dispose()


def test_readyz_is_503_when_the_database_does_not_answer(client: TestClient) -> None:
    down = Store(f"postgresql://postgres@127.0.0.1:{_closed_port()}/aifinops")
    client.app.state.readiness = ReadinessChecks(down, None)  # type: ignore[attr-defined]
    r = client.get("/readyz")
    assert r.status_code == 503
    (error,) = r.json()["errors"]
    assert error["field"] == "store" and "unreachable" in error["reason"]
    assert "postgres" not in r.text and "127.0.0.1" not in r.text  # no address to a caller without a key
    down.dispose()
