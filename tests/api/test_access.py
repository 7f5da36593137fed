"""API keys: scopes, tenant limits, and loopback-only without keys."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from aifinops.api.app import check_bind, create_app
from aifinops.config import load_settings
from aifinops.errors import ConfigError, ValidationError
from aifinops.store import Store
from aifinops.store.key_queries import verify_key
from aifinops.store.keys import KeyStore
from tests.factories import event_json


def test_without_keys_only_loopback_is_allowed(sqlite_store: Store) -> None:
    assert "loopback" in check_bind("127.0.0.1", sqlite_store)
    with pytest.raises(ConfigError, match="keys create"):
        check_bind("0.0.0.0", sqlite_store)
    KeyStore(sqlite_store).create(name="admin", scopes={"admin"})
    assert "required" in check_bind("0.0.0.0", sqlite_store)


def test_scopes_and_tenant_limited_read_key(sqlite_store: Store) -> None:
    keys = KeyStore(sqlite_store)
    _, ingest = keys.create(name="ingest", scopes={"ingest"})
    _, reader = keys.create(name="contoso-reader", scopes={"read"}, tenant="contoso")
    with TestClient(create_app(load_settings(), store=sqlite_store)) as c:
        assert c.get("/api/costs").status_code == 401
        assert c.get("/api/costs", headers={"Authorization": "Bearer nope"}).status_code == 401
        events = [event_json(1, tenant="contoso"), event_json(2, tenant="fabrikam", task_id="tf")]
        assert (
            c.post("/api/events", json=events, headers={"Authorization": f"Bearer {reader}"}).status_code
            == 403
        )
        assert (
            c.post("/api/events", json=events, headers={"Authorization": f"Bearer {ingest}"}).json()[
                "accepted"
            ]
            == 2
        )
        seen = c.get(
            "/api/token-usage",
            params={"period": "2026-10", "group_by": "tenant"},
            headers={"Authorization": f"Bearer {reader}"},
        ).json()["items"]
        assert {i["tenant"] for i in seen} == {"contoso"}
        other = c.get(
            "/api/costs", params={"tenant": "fabrikam"}, headers={"Authorization": f"Bearer {reader}"}
        )
        assert other.status_code == 403
        assert c.get("/api/tasks/tf", headers={"Authorization": f"Bearer {reader}"}).status_code == 404


def test_revoked_key_stops_working_and_secrets_are_hashed(sqlite_store: Store) -> None:
    keys = KeyStore(sqlite_store)
    key, secret = keys.create(name="k", scopes={"read"})
    assert verify_key(sqlite_store, secret) == key
    keys.revoke(key.key_id)
    assert verify_key(sqlite_store, secret) is None
    with sqlite_store.reader() as conn:
        stored = conn.exec_driver_sql("SELECT secret_hash FROM api_keys").scalar_one()
    assert secret not in stored


def test_bad_key_definitions_are_refused(sqlite_store: Store) -> None:
    keys = KeyStore(sqlite_store)
    with pytest.raises(ValidationError, match="scopes"):
        keys.create(name="k", scopes={"root"})
    with pytest.raises(ValidationError, match="identity"):
        keys.create(name="k", scopes={"gateway"}, identity={"colour": "red"})
