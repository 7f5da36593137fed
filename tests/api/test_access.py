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


def _refuses_for_no_active_key(response: object) -> None:
    assert response.status_code == 401, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    assert "no API key is active" in response.json()["detail"]  # type: ignore[attr-defined]


def test_revoking_the_last_key_keeps_the_server_closed(sqlite_store: Store) -> None:
    """Once a key has existed the API never opens again, even on loopback: every call needs an active key."""
    keys = KeyStore(sqlite_store)
    key, secret = keys.create(name="only", scopes={"admin"})
    app = create_app(load_settings(), store=sqlite_store, key_check_seconds=0)
    with TestClient(app) as c:
        assert c.get("/api/costs", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        keys.revoke(key.key_id)
        _refuses_for_no_active_key(c.get("/api/costs"))
        _refuses_for_no_active_key(c.get("/api/costs", headers={"Authorization": f"Bearer {secret}"}))
        _refuses_for_no_active_key(c.post("/api/events", json=[event_json(1)]))
    assert "no API key is active" in check_bind("127.0.0.1", sqlite_store)
    with TestClient(create_app(load_settings(), store=sqlite_store, key_check_seconds=0)) as c:
        _refuses_for_no_active_key(c.get("/api/tasks"))


def test_an_empty_key_store_beyond_loopback_refuses_every_call(sqlite_store: Store) -> None:
    """Bound beyond loopback, the API is closed from the start: no key yet means no call is served."""
    app = create_app(load_settings(host="0.0.0.0"), store=sqlite_store, key_check_seconds=0)
    with TestClient(app) as c:
        _refuses_for_no_active_key(c.get("/api/costs"))
        _refuses_for_no_active_key(c.get("/metrics"))
    app = create_app(load_settings(), store=sqlite_store, host="10.1.2.3", key_check_seconds=0)
    with TestClient(app) as c:
        _refuses_for_no_active_key(c.get("/api/costs"))


def test_without_keys_only_loopback_clients_are_served(sqlite_store: Store) -> None:
    """Open on loopback without keys, yet a caller from another address (e.g. the server was started by a
    process manager on 0.0.0.0) is refused: the open mode serves loopback clients only."""
    app = create_app(load_settings(), store=sqlite_store, key_check_seconds=0)
    with TestClient(app, client=("127.0.0.1", 5000)) as c:
        assert c.get("/api/costs").status_code == 200
    with TestClient(app, client=("::1", 5000)) as c:
        assert c.get("/api/costs").status_code == 200
    with TestClient(app, client=("203.0.113.7", 5000)) as c:
        _refuses_for_no_active_key(c.get("/api/costs"))


def test_metrics_need_a_key_that_sees_every_tenant(sqlite_store: Store) -> None:
    """/metrics carries every tenant's cost: once keys exist it needs a metrics (or read/admin) key without a
    tenant limit, sent the way Prometheus' ``authorization`` config sends it."""
    keys = KeyStore(sqlite_store)
    _, scraper = keys.create(name="prometheus", scopes={"metrics"})
    _, reader = keys.create(name="reader", scopes={"read"})
    _, ingest = keys.create(name="ingest", scopes={"ingest"})
    _, contoso = keys.create(name="contoso", scopes={"read"}, tenant="contoso")
    settings = load_settings(metrics={"labels": ["tenant"], "refresh_seconds": 0})
    with TestClient(create_app(settings, store=sqlite_store)) as c:
        c.post("/api/events", json=[event_json(1, tenant="fabrikam")], headers={"x-api-key": ingest})
        missing = c.get("/metrics")
        assert missing.status_code == 401 and "aifinops_" not in missing.text
        for secret in (scraper, reader):
            ok = c.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
            assert ok.status_code == 200 and 'tenant="fabrikam"' in ok.text
        assert c.get("/metrics", headers={"Authorization": f"Bearer {ingest}"}).status_code == 403
        limited = c.get("/metrics", headers={"Authorization": f"Bearer {contoso}"})
        assert limited.status_code == 403 and "every tenant" in limited.json()["detail"]
        # a metrics key reads nothing else
        assert c.get("/api/costs", headers={"Authorization": f"Bearer {scraper}"}).status_code == 403


def test_the_guard_api_never_lets_a_field_override_the_tenant_of_a_key(sqlite_store: Store) -> None:
    """As with x-aifinops-tenant on the gateway, a tenant-bound key's guard request cannot name another."""
    keys = KeyStore(sqlite_store)
    _, bound = keys.create(name="apim", scopes={"gateway"}, tenant="contoso", allowed_headers={"tenant"})
    _, free = keys.create(name="apim-all", scopes={"gateway"}, allowed_headers={"tenant"})
    with TestClient(create_app(load_settings(), store=sqlite_store)) as c:

        def guard(secret: str, tenant: str) -> object:
            body = {"deployment": "gpt-4o", "tenant": tenant}
            return c.post("/api/guard", json=body, headers={"Authorization": f"Bearer {secret}"})

        refused = guard(bound, "fabrikam")
        assert refused.status_code == 403 and "contoso" in refused.json()["detail"]  # type: ignore[attr-defined]
        assert guard(bound, "contoso").status_code == 200  # type: ignore[attr-defined]
        assert guard(free, "fabrikam").status_code == 200  # type: ignore[attr-defined]


def _outcome(tenant: str | None = None, outcome: str = "succeeded") -> dict[str, object]:
    body: dict[str, object] = {"task_id": "ticket-1", "outcome": outcome, "ended_at": "2026-10-01T02:00:00Z"}
    return body if tenant is None else {**body, "tenant": tenant}


def test_tenants_reusing_a_task_id_see_only_their_own_task(sqlite_store: Store) -> None:
    """A task is its id within its tenant: another tenant's key can neither read nor join it, even when it
    sends events under the same id."""
    keys = KeyStore(sqlite_store)
    ingest = {t: keys.create(name=f"{t}-in", scopes={"ingest"}, tenant=t)[1] for t in ("contoso", "fabrikam")}
    read = {t: keys.create(name=f"{t}-read", scopes={"read"}, tenant=t)[1] for t in ("contoso", "fabrikam")}
    _, everyone = keys.create(name="all", scopes={"read"})
    with TestClient(create_app(load_settings(), store=sqlite_store)) as c:

        def as_(secret: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {secret}"}

        mine = [{**event_json(i, task_id="ticket-1"), "tenant": None} for i in (1, 2)]
        theirs = [{**event_json(3, task_id="ticket-1"), "tenant": None}]  # "joining" contoso's ticket-1
        assert c.post("/api/events", json=mine, headers=as_(ingest["contoso"])).json()["accepted"] == 2
        assert c.post("/api/events", json=theirs, headers=as_(ingest["fabrikam"])).json()["accepted"] == 1
        c.post("/api/outcomes", json=[_outcome()], headers=as_(ingest["contoso"]))
        c.post("/api/outcomes", json=[_outcome(outcome="failed")], headers=as_(ingest["fabrikam"]))
        a = c.get("/api/tasks/ticket-1", headers=as_(read["contoso"])).json()
        b = c.get("/api/tasks/ticket-1", headers=as_(read["fabrikam"])).json()
        assert [e["event_id"] for e in a["events"]] == ["e1", "e2"] and a["outcome"] == "succeeded"
        assert [e["event_id"] for e in b["events"]] == ["e3"] and b["outcome"] == "failed"
        assert (a["tenant"], a["events"][0]["event_id"]) == ("contoso", "e1")
        other = c.get("/api/tasks/ticket-1", params={"tenant": "fabrikam"}, headers=as_(read["contoso"]))
        assert other.status_code == 403
        assert (
            c.get("/api/tasks", params={"tenant": "contoso"}, headers=as_(read["fabrikam"])).status_code
            == 403
        )
        listed = c.get("/api/tasks", headers=as_(read["fabrikam"])).json()["items"]
        assert [(t["task_id"], t["tenant"], t["input_tokens"]) for t in listed] == [
            ("ticket-1", "fabrikam", 1000)
        ]
        ambiguous = c.get("/api/tasks/ticket-1", headers=as_(everyone))
        assert ambiguous.status_code == 409 and "contoso" in ambiguous.json()["detail"]
        chosen = c.get("/api/tasks/ticket-1", params={"tenant": "fabrikam"}, headers=as_(everyone)).json()
        assert [e["event_id"] for e in chosen["events"]] == ["e3"]


def test_a_tenant_limited_key_changes_only_its_own_tenants_outcomes(sqlite_store: Store) -> None:
    """An outcome sent with a tenant-limited key applies to that tenant's task only; naming another tenant is
    refused for that item, by field and reason."""
    keys = KeyStore(sqlite_store)
    _, admin = keys.create(name="all", scopes={"ingest", "read"})
    _, contoso = keys.create(name="contoso-in", scopes={"ingest"}, tenant="contoso")
    with TestClient(create_app(load_settings(), store=sqlite_store)) as c:
        everyone, limited = {"x-api-key": admin}, {"x-api-key": contoso}
        events = [event_json(1, task_id="ticket-1"), event_json(2, task_id="ticket-1", tenant="fabrikam")]
        assert c.post("/api/events", json=events, headers=everyone).json()["accepted"] == 2
        assert c.post("/api/outcomes", json=[_outcome("fabrikam")], headers=everyone).json()["accepted"] == 1
        report = c.post(
            "/api/outcomes",
            json=[_outcome(outcome="failed"), _outcome("fabrikam", "abandoned")],
            headers=limited,
        ).json()
        assert report["accepted"] == 1 and report["rejected"] == 1
        assert report["errors"] == [
            {"index": 1, "field": "tenant", "reason": "this key may only send tenant 'contoso'"}
        ]
        outcome = {
            t: c.get("/api/tasks/ticket-1", params={"tenant": t}, headers=everyone).json()["outcome"]
            for t in ("contoso", "fabrikam")
        }
        assert outcome == {"contoso": "failed", "fabrikam": "succeeded"}
