"""Allocation API: rules added in order, a period allocated and shown, reconciliation served."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.domain import Basis, CostRecord
from aifinops.store import Store
from aifinops.store.cost_records import CostRecordStore

AOAI = "/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/aoai"


@pytest.fixture
def api(sqlite_store: Store) -> Iterator[TestClient]:
    app = create_app(load_settings(), store=sqlite_store)
    records = [
        CostRecord(
            dt.date(2026, 10, 1), Basis.ACTUAL, Decimal("7.5"), "USD", resource_id="/vm", tags={"app": "crm"}
        ),
        CostRecord(
            dt.date(2026, 10, 2),
            Basis.ACTUAL,
            Decimal("2"),
            "USD",
            resource_id=AOAI,
            meter_id="m1",
            quantity=Decimal(1),
            unit="1K",
        ),
    ]
    CostRecordStore(sqlite_store).replace_slice(
        "t", "s", Basis.ACTUAL, dt.date(2026, 10, 1), dt.date(2026, 11, 1), records
    )
    with TestClient(app) as client:
        yield client


def test_rules_are_added_in_order_and_bad_rules_name_the_field(api: TestClient) -> None:
    tagged = {
        "name": "tagged",
        "method": "direct",
        "match": {"tags": {"app": "*"}},
        "owner_tags": {"app": "app"},
    }
    assert api.post("/api/allocation/rules", json=tagged).status_code == 201
    even = {
        "name": "even",
        "method": "shared",
        "driver": "fixed",
        "weights": [{"owner": {"app": "ops"}, "weight": 1}],
    }
    assert api.post("/api/allocation/rules", params={"position": 0}, json=even).json()["rules"] == [
        "even",
        "tagged",
    ]
    assert [r["name"] for r in api.get("/api/allocation/rules").json()["rules"]] == ["even", "tagged"]
    bad = api.post("/api/allocation/rules", json={"name": "x", "method": "direct"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert "needs owner, owner_tags or inventory" in bad.json()["detail"]
    assert api.post("/api/allocation/rules", json=tagged).status_code == 422  # duplicate name


def test_allocation_runs_and_shows_a_showback_whose_total_is_the_invoice(api: TestClient) -> None:
    assert api.get("/api/allocation", params={"period": "2026-10"}).status_code == 404
    tagged = {
        "name": "tagged",
        "method": "direct",
        "match": {"tags": {"app": "*"}},
        "owner_tags": {"app": "app"},
    }
    api.post("/api/allocation/rules", json=tagged)
    run = api.post("/api/allocation/run", params={"period": "2026-10", "dimensions": "app,tenant"}).json()
    assert (run["records"], run["lines"]) == (2, 2)
    body = api.get("/api/allocation", params={"period": "2026-10", "by": "app"}).json()
    assert body["totals"] == [
        {
            "currency": "USD",
            "allocated": "7.5",
            "idle": "0",
            "purchases": "0",
            "unallocated": "2",
            "total": "9.5",
            "invoice": "9.5",
        }
    ]
    assert body["unallocated"][0]["resource_id"] == AOAI
    wrong = api.get("/api/allocation", params={"period": "2026-10", "by": "team"})
    assert wrong.status_code == 422 and "re-run allocation" in wrong.json()["detail"]
    assert api.get("/api/allocation", params={"period": "2026-13"}).status_code == 422


def test_reconciliation_reports_billed_cost_without_telemetry(api: TestClient) -> None:
    body = api.get("/api/reconciliation", params={"period": "2026-10", "as_of": "2026-11-05"}).json()
    assert [(r["day"], r["status"], r["actual"]) for r in body["resources"]] == [
        ("2026-10-02", "telemetry_missing", "2")
    ]
    assert (
        body["prices"][0]["effective_price"] == "2000.000000000" and body["prices"][0]["book_price"] is None
    )
    assert api.get("/api/reconciliation", params={"period": "2026-10", "basis": "list"}).status_code == 422


def test_kpis_show_cost_per_successful_task_estimated_and_fully_loaded(
    api: TestClient, sqlite_store: Store
) -> None:
    from aifinops.domain import Outcome, TaskOutcome
    from aifinops.jobs.ingest import Ingestor
    from aifinops.store.prices import PriceStore
    from tests.factories import PRICE_START, event, gpt4o_prices

    PriceStore(sqlite_store).save(gpt4o_prices(), now=PRICE_START)
    ingestor = Ingestor(sqlite_store)
    # Six events, tasks t0 and t1 of three steps each, on the AOAI account of use case uc-a.
    ingestor.ingest(
        [event(i, ts=dt.datetime(2026, 10, 2, 9, i, tzinfo=dt.UTC), resource_id=AOAI) for i in range(6)],
        source="test",
    )
    ended = dt.datetime(2026, 10, 2, 10, tzinfo=dt.UTC)
    ingestor.record_outcomes(
        [
            TaskOutcome("t0", Outcome.SUCCEEDED, ended, use_case="uc-a", tenant="contoso"),
            TaskOutcome("t1", Outcome.FAILED, ended, use_case="uc-a", tenant="contoso"),
        ]
    )
    shared = {
        "name": "aoai",
        "method": "shared",
        "match": {"resource_ids": "*/accounts/aoai"},
        "driver": "tokens",
    }
    api.post("/api/allocation/rules", json=shared)
    api.post("/api/allocation/run", params={"period": "2026-10"})
    body = api.get("/api/allocation/kpis", params={"period": "2026-10", "by": "use_case"}).json()
    (group,) = body["groups"]
    assert group["use_case"] == "uc-a" and group["tasks"] == 2 and group["success_rate"] == "0.5000"
    costs = {c["basis"]: c for c in group["costs"]}
    assert costs["actual"]["cost"] == "2" and costs["actual"]["cost_per_successful_task"] == "2"
    assert costs["actual"]["failed_and_abandoned"] == "1"
    assert costs["estimated"]["cost_per_successful_task"] == costs["estimated"]["cost"]
    assert api.get("/api/allocation/kpis", params={"period": "2026-10", "by": "squad"}).status_code == 422


def test_a_range_beyond_three_years_and_a_repeated_dimension_are_answered_not_500(client: TestClient) -> None:
    r = client.post("/api/allocation/run", params={"start": "0344-09-22", "end": "2926-07-29"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "end", r.text
    r = client.get("/api/allocation/kpis", params={"period": "2026-10", "by": "user_group,user_group"})
    assert r.status_code == 200, r.text
    assert r.json()["by"] == ["user_group"]
