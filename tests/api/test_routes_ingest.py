"""POST /api/events and /api/outcomes: each item judged alone, nothing valid lost, nothing counted twice."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.factories import event_json

PROBLEM = "application/problem+json"


def test_valid_batch_is_accepted_and_resend_is_duplicate(client: TestClient) -> None:
    batch = [event_json(i) for i in range(50)]
    first = client.post("/api/events", json={"events": batch})
    assert first.status_code == 200, first.text
    assert first.json() | {"errors": []} == {
        "received": 50,
        "accepted": 50,
        "duplicates": 0,
        "rejected": 0,
        "unpriced": 0,
        "inferred_versions": {},
        "errors": [],
    }
    again = client.post("/api/events", json=batch)  # a bare array is accepted too
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 50)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"input_tokens": -5}, "input_tokens", "greater than or equal to 0"),
        ({"output_tokens": 10**12}, "output_tokens", "less than or equal to"),
        ({"kind": "teleport"}, "kind", "Input should be"),
        ({"status": "great"}, "status", "Input should be"),
        ({"ts": "2026-10-01T12:00:00"}, "ts", "needs a time zone"),
        ({"app": "x" * 500}, "app", "at most 128 characters"),
        ({"cached_input_tokens": 5000}, "cached_input_tokens", "part of input_tokens"),
        ({"reasoning_tokens": 500}, "reasoning_tokens", "part of output_tokens"),
        ({"cache_write_tokens": 1001}, "cache_write_tokens", "part of input_tokens"),
        ({"cache_write_tokens": -1}, "cache_write_tokens", "greater than or equal to 0"),
        ({"service_tier": "turbo"}, "service_tier", "'standard', 'priority' or 'flex'"),
        ({"service_tier": "priority", "priority": False}, "service_tier", "contradicts priority false"),
        ({"service_tier": "flex", "priority": True}, "service_tier", "contradicts priority true"),
        ({"quantity": "2"}, "quantity", "go together"),
        ({"retrieved_tokens": 900}, "retrieved_tokens", "retrieval or tool event"),
        ({"kind": "retrieval", "retrieved_tokens": -1}, "retrieved_tokens", "greater than or equal to 0"),
        ({"imput_tokens": 5}, "imput_tokens", "Extra inputs are not permitted"),
        ({"ts": "2999-01-01T00:00:00Z"}, "ts", "in the future"),
    ],
)
def test_bad_item_is_rejected_with_field_and_reason_and_the_rest_is_kept(
    client: TestClient, change: dict[str, object], field: str, reason: str
) -> None:
    batch = [event_json(0), event_json(1) | change, event_json(2)]
    body = client.post("/api/events", json={"events": batch}).json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    error = body["errors"][0]
    assert error["index"] == 1
    assert error["field"] == field
    assert reason in error["reason"]


def test_non_object_items_are_rejected_by_index(client: TestClient) -> None:
    body = client.post("/api/events", json=[event_json(0), 42, "x"]).json()
    assert body["accepted"] == 1
    assert [e["index"] for e in body["errors"]] == [1, 2]


def test_wrong_content_type_is_415(client: TestClient) -> None:
    r = client.post(
        "/api/events", content=json.dumps([event_json(0)]), headers={"content-type": "text/plain"}
    )
    assert r.status_code == 415
    assert r.headers["content-type"].startswith(PROBLEM)
    assert "application/json" in r.json()["detail"]


def test_malformed_json_is_400(client: TestClient) -> None:
    r = client.post("/api/events", content=b'{"events": [', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith(PROBLEM)


def test_wrong_shape_is_422_naming_the_field(client: TestClient) -> None:
    r = client.post("/api/events", json={"events": {"not": "a list"}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "events"


def test_oversized_body_is_413(store: object, client: TestClient) -> None:
    big = b"[" + b" " * (70 * 1024 * 1024) + b"]"
    r = client.post("/api/events", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_too_many_items_is_413(client: TestClient) -> None:
    r = client.post("/api/events", json=[event_json(i) for i in range(10_001)])
    assert r.status_code == 413
    assert "10000" in r.json()["detail"]


def test_ten_thousand_events_in_one_batch(client: TestClient) -> None:
    r = client.post("/api/events", json=[event_json(i) for i in range(10_000)])
    assert r.json()["accepted"] == 10_000


def test_outcomes_batch_with_a_bad_item(client: TestClient) -> None:
    good = {"task_id": "t1", "outcome": "succeeded", "ended_at": "2026-10-01T10:00:00Z"}
    bad = {"task_id": "t2", "outcome": "won", "ended_at": "2026-10-01T10:00:00Z"}
    naive = {"task_id": "t3", "outcome": "failed", "ended_at": "2026-10-01T10:00:00"}
    body = client.post("/api/outcomes", json={"outcomes": [good, bad, naive]}).json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert {e["field"] for e in body["errors"]} == {"outcome", "ended_at"}


def test_retrieved_tokens_are_stored_and_shown_with_the_task(client: TestClient) -> None:
    """Round trip through the store (SQLite and PostgreSQL): what a retrieval returned, never priced."""
    search = {"kind": "retrieval", "retrieved_tokens": 6400, "input_tokens": 0, "cached_input_tokens": 0}
    batch = [event_json(0, **search, output_tokens=0, model=None, deployment=None), event_json(1)]
    body = client.post("/api/events", json={"events": batch}).json()
    assert (body["accepted"], body["rejected"]) == (2, 0), body
    events = client.get("/api/tasks/t0", params={"tenant": "contoso"}).json()["events"]
    assert [(e["kind"], e["retrieved_tokens"]) for e in events] == [("retrieval", 6400), ("chat", 0)]


def test_cache_writes_and_the_processing_tier_are_stored_and_shown(client: TestClient) -> None:
    """Round trip through the store (SQLite and PostgreSQL): the task's events show both fields, token usage
    sums the cache writes, and the tier decides ``priority``."""
    batch = [
        event_json(0, cache_write_tokens=300, service_tier="priority"),
        event_json(1, cache_write_tokens=50, service_tier="standard", priority=False),
        event_json(2),
    ]
    body = client.post("/api/events", json={"events": batch}).json()
    assert (body["accepted"], body["rejected"]) == (3, 0), body
    events = client.get("/api/tasks/t0", params={"tenant": "contoso"}).json()["events"]
    assert [(e["cache_write_tokens"], e["service_tier"]) for e in events] == [
        (300, "priority"),
        (50, "standard"),
        (0, None),
    ]
    usage = client.get("/api/token-usage", params={"period": "2026-10", "group_by": "use_case"}).json()
    (item,) = usage["items"]
    assert (item["input_tokens"], item["cached_input_tokens"], item["cache_write_tokens"]) == (3000, 600, 350)
