"""The read API: token usage, estimated cost, tasks, KPIs and the snapshot, with clear errors."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import event_json

PROBLEM = "application/problem+json"


def _seed(client: TestClient) -> None:
    events = [event_json(i, app="app-a" if i % 2 else "app-b") for i in range(12)]
    events.append(event_json(100, task_id="t1", step=2, attempt=2, status="ok"))
    assert client.post("/api/events", json=events).json()["accepted"] == 13
    outcomes = [
        {"task_id": "t0", "outcome": "succeeded", "ended_at": "2026-10-01T01:00:00Z", "use_case": "uc-a"},
        {"task_id": "t1", "outcome": "failed", "ended_at": "2026-10-01T01:00:00Z", "use_case": "uc-a"},
        {"task_id": "t2", "outcome": "succeeded", "ended_at": "2026-10-01T01:00:00Z", "use_case": "uc-a"},
    ]
    outcomes = [
        {**o, "tenant": "contoso"} for o in outcomes
    ]  # the events' tenant: a task is its id within it
    assert client.post("/api/outcomes", json=outcomes).json()["accepted"] == 3


def test_token_usage_grouped_by_app_per_day(client: TestClient) -> None:
    _seed(client)
    body = client.get("/api/token-usage", params={"period": "2026-10", "group_by": "app"}).json()
    assert body["basis"] == "usage"
    by_app = {i["app"]: i for i in body["items"]}
    assert by_app["app-a"]["input_tokens"] == 6000 + 1000
    assert by_app["app-b"]["events"] == 6
    assert by_app["app-a"]["retries"] == 1


def test_costs_are_strings_with_currency_and_basis(client: TestClient) -> None:
    _seed(client)
    body = client.get("/api/costs", params={"period": "2026-10", "granularity": "month"}).json()
    assert body["basis"] == "estimated"
    assert body["totals"] == [{"currency": "USD", "cost": "0.04225"}]  # 13 × 0.00325


def test_filters_and_unknown_parameters(client: TestClient) -> None:
    _seed(client)
    body = client.get("/api/costs", params={"period": "2026-10", "app": "app-b"}).json()
    assert body["totals"][0]["cost"] == "0.0195"
    bad = client.get("/api/costs", params={"period": "2026-10", "colour": "red"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith(PROBLEM)
    assert bad.json()["errors"][0]["field"] == "colour"


def test_bad_range_and_granularity_are_422(client: TestClient) -> None:
    for params, field in (
        ({"start": "2026-10-05", "end": "2026-10-01"}, "end"),
        ({"granularity": "week"}, "granularity"),
        ({"start": "2026-10-01T00:00:00"}, "start"),
        ({"period": "2026-13"}, "period"),
        ({"period": "2026-02-30"}, "period"),
        ({"period": "2026-10-5"}, "period"),
        ({"group_by": "colour"}, "group_by"),
    ):
        r = client.get("/api/token-usage", params=params)
        assert r.status_code == 422, params
        assert r.json()["errors"][0]["field"] == field


def test_task_detail_and_list(client: TestClient) -> None:
    _seed(client)
    task = client.get("/api/tasks/t1").json()
    assert task["outcome"] == "failed"
    assert task["retries"] == 1
    assert len(task["events"]) == 4
    assert task["estimated_cost"] == [{"amount": "0.013", "currency": "USD", "basis": "estimated"}]
    assert client.get("/api/tasks/nope").status_code == 404
    open_tasks = client.get("/api/tasks", params={"outcome": "open"}).json()["items"]
    assert {t["task_id"] for t in open_tasks} == {"t3"}


def test_kpis_cost_per_successful_task(client: TestClient) -> None:
    _seed(client)
    body = client.get("/api/kpis", params={"period": "2026-10"}).json()
    (uc,) = body["items"]
    assert uc["use_case"] == "uc-a"
    assert uc["by_outcome"] == {"succeeded": 2, "failed": 1, "open": 1}
    # all 13 events (0.04225) ÷ 2 successes; the failed task's 4 events are shown beside it
    assert uc["cost_per_successful_task"] == [{"amount": "0.021125", "currency": "USD", "basis": "estimated"}]
    assert uc["cost_of_failed_and_abandoned"][0]["amount"] == "0.013"
    assert uc["success_rate"] == "0.6667"


def test_kpis_count_unpriced_events_and_value_per_cost(client: TestClient) -> None:
    _seed(client)
    client.post("/api/events", json=[event_json(200, task_id="t0", model="unpriced-model")])
    outcomes = [
        {
            "task_id": "t0",
            "tenant": "contoso",
            "outcome": "succeeded",
            "ended_at": "2026-10-01T01:00:00Z",
            "value_amount": "0.1690",
            "value_currency": "USD",
        }
    ]
    assert client.post("/api/outcomes", json=outcomes).json()["accepted"] == 1
    body = client.get("/api/kpis", params={"period": "2026-10", "basis": "estimated"}).json()
    (uc,) = body["items"]
    assert body["bases"] == ["estimated"] and body["notes"] == []
    assert uc["unpriced_events"] == 1  # counted, never costed as 0: the cost stays 13 × 0.00325
    assert uc["cost"] == [{"amount": "0.04225", "currency": "USD", "basis": "estimated"}]
    # value of the succeeded tasks ÷ all cost of the group
    assert uc["value_per_cost"] == [{"ratio": "4.0000", "currency": "USD", "basis": "estimated"}]
    assert (uc["avg_input_tokens"], uc["avg_output_tokens"]) == ("3500.0000", "350.0000")


def test_snapshot(client: TestClient) -> None:
    _seed(client)
    body = client.get("/api/snapshot", params={"period": "2026-10"}).json()
    assert body["totals"] == [{"amount": "0.04225", "currency": "USD", "basis": "estimated"}]
    assert body["events"] == 13
    assert body["unpriced_events"] == 0
    assert body["top"]["app"][0]["app"] == "app-a"
    assert any(f["source"] == "usage:http" for f in body["freshness"])
    assert "generated_at" in body
    assert body["budgets"] == []
    assert body["recommendations"]["items"] == []  # thirteen calls: nothing worth changing


def test_openapi_docs_are_served(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/events", "/api/costs", "/api/token-usage", "/api/snapshot", "/api/kpis"} <= set(paths)


def test_snapshots_are_kept_and_served_as_they_were(client: TestClient) -> None:
    _seed(client)
    taken = client.post("/api/snapshot", params={"period": "2026-10"})
    assert taken.status_code == 200, taken.text
    client.post("/api/events", json=[event_json(500, task_id="late")])  # after the snapshot
    stored = client.get("/api/snapshot", params={"period": "2026-10"}).json()
    assert stored["stored"]["trigger"] == "api"
    assert stored["events"] == 13  # as it was when taken
    live = client.get("/api/snapshot", params={"period": "2026-10", "fresh": "true"}).json()
    assert (live["events"], live["stored"]) == (14, None)
    client.post("/api/snapshot", params={"period": "2026-10"})
    history = client.get("/api/snapshots", params={"period": "2026-10"}).json()["items"]
    assert len(history) == 2 and history[0]["generated_at"] >= history[1]["generated_at"]
    assert client.get("/api/snapshot", params={"period": "2026-10"}).json()["events"] == 14


def test_a_day_is_a_period_too_and_its_snapshots_are_kept(client: TestClient) -> None:
    """``period=2026-10-01`` names one day in the configured zone, for reads and for kept snapshots."""
    _seed(client)
    client.post("/api/events", json=[event_json(600, ts="2026-10-02T10:00:00Z", task_id="next-day")])
    day = client.get("/api/token-usage", params={"period": "2026-10-01", "granularity": "day"}).json()
    assert [row["period_start"][:10] for row in day["items"]] == ["2026-10-01"]
    taken = client.post("/api/snapshot", params={"period": "2026-10-02"})
    assert taken.status_code == 200, taken.text
    assert taken.json()["events"] == 1
    stored = client.get("/api/snapshot", params={"period": "2026-10-02"}).json()
    assert stored["stored"]["trigger"] == "api" and stored["events"] == 1
    assert len(client.get("/api/snapshots", params={"period": "2026-10-02"}).json()["items"]) == 1
    assert client.get("/api/snapshot", params={"period": "2026-10"}).json()["events"] == 14
    bad = client.post("/api/snapshot", params={"period": "2026-10-32"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "period"
