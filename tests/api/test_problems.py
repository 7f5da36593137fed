"""Errors of the store reach API clients as problem+json that says whether to retry, and never the SQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from tests.factories import event_json

PROBLEM = "application/problem+json"
ON_POSTGRES = pytest.mark.parametrize(
    "store", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
DOWN_URL = "postgresql://aifinops:s3cret@127.0.0.1:9/finops"


@pytest.fixture
def outage(sqlite_store: Store) -> Iterator[TestClient]:
    """An API whose database went away after it started (nothing listens on port 9)."""
    app = create_app(load_settings(), store=sqlite_store)
    down = Store(DOWN_URL)
    app.state.store, app.state.ingestor = down, Ingestor(down)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    down.dispose()


def assert_hides_the_database(text: str) -> None:
    for secret in ("s3cret", "127.0.0.1", ":9", "finops", "SELECT", "INSERT", "psycopg", "sqlalche.me"):
        assert secret not in text, secret


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/tasks", None),
        ("GET", "/api/token-usage", None),
        ("POST", "/api/events", [event_json(1)]),
        (
            "POST",
            "/api/outcomes",
            [{"task_id": "t", "outcome": "failed", "ended_at": "2026-10-01T10:00:00Z"}],
        ),
    ],
)
def test_a_database_outage_is_a_503_with_retry_after_and_no_details(
    outage: TestClient, method: str, path: str, body: object
) -> None:
    r = outage.request(method, path, json=body)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == PROBLEM
    assert int(r.headers["retry-after"]) > 0
    assert r.json()["title"] == "Store unavailable"
    assert_hides_the_database(r.text)


@ON_POSTGRES  # SQLite text holds NUL characters
@pytest.mark.parametrize("path", ["/api/tasks/t%00x", "/api/token-usage?app=a%00b", "/api/tasks?team=%00"])
def test_a_value_the_store_refuses_is_a_422_never_a_503(store: Store, client: TestClient, path: str) -> None:
    """PostgreSQL text cannot hold NUL: asking for one is bad input that can never succeed."""
    r = client.get(path)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    assert "retry-after" not in r.headers
    assert "NUL" in r.json()["detail"]
    assert_hides_the_database(r.text)
