"""/api/costs on the actual and amortized bases: billed totals, and allocation needed to group by app."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fastapi.testclient import TestClient

from aifinops.domain import Basis, CostRecord
from aifinops.store import Store
from aifinops.store.cost_records import CostRecordStore


def _bill(store: Store) -> None:
    day = dt.date(2026, 10, 3)
    records = [
        CostRecord(
            billing_day=day,
            basis=Basis.ACTUAL,
            cost=Decimal("12.3456789"),
            currency="USD",
            resource_id="/subscriptions/s/resourcegroups/rg/providers/x/y",
            meter_category="Foundry Models",
        ),
        CostRecord(
            billing_day=day + dt.timedelta(days=1),
            basis=Basis.ACTUAL,
            cost=Decimal("0.6543211"),
            currency="USD",
            meter_category="Foundry Models",
        ),
        CostRecord(
            billing_day=day, basis=Basis.ACTUAL, cost=Decimal("5"), currency="EUR", meter_category="Storage"
        ),
    ]
    CostRecordStore(store).replace_slice(
        "test", "/subscriptions/s", Basis.ACTUAL, dt.date(2026, 10, 1), dt.date(2026, 11, 1), records
    )


def test_billed_totals_per_currency_never_added(client: TestClient, store: Store) -> None:
    _bill(store)
    body = client.get(
        "/api/costs", params={"period": "2026-10", "basis": "actual", "granularity": "month"}
    ).json()
    assert body["basis"] == "actual"
    assert body["totals"] == [{"currency": "EUR", "cost": "5"}, {"currency": "USD", "cost": "13"}]
    daily = client.get("/api/costs", params={"period": "2026-10", "basis": "actual"}).json()["items"]
    assert [(i["period_start"], i["currency"]) for i in daily] == [
        ("2026-10-03", "EUR"),
        ("2026-10-03", "USD"),
        ("2026-10-04", "USD"),
    ]
    snapshot = client.get("/api/snapshot", params={"period": "2026-10"}).json()
    assert {"amount": "13", "currency": "USD", "basis": "actual"} in snapshot["totals"]


def test_grouping_billed_cost_by_app_needs_an_allocation(client: TestClient, store: Store) -> None:
    _bill(store)
    r = client.get("/api/costs", params={"period": "2026-10", "basis": "actual", "group_by": "app"})
    assert r.status_code == 404
    assert "allocation" in r.json()["detail"]
    hourly = client.get(
        "/api/costs", params={"period": "2026-10", "basis": "amortized", "granularity": "hour"}
    )
    assert hourly.status_code == 422


def test_metrics_show_when_billed_cost_was_collected(client: TestClient, store: Store) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    _bill(store)
    fams = {f.name: f.samples for f in text_string_to_metric_families(client.get("/metrics").text)}
    (billed,) = fams["aifinops_cost_last_billing_day_timestamp_seconds"]
    assert billed.labels == {"source": "test", "basis": "actual"}
    assert billed.value == dt.datetime(2026, 10, 4, tzinfo=dt.UTC).timestamp()
    assert len(fams["aifinops_cost_collected_timestamp_seconds"]) == 1
