"""The demo's financial month: the emulator's bill collected exactly, allocated without losing a nano,
budget alerts signed and delivered, the doc-qa incident found, and a second run changing nothing."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.demo.bill import build_bill, daily_usage
from aifinops.demo.estate import estate
from aifinops.demo.finance import DemoFinanceReport, run_demo_finance
from aifinops.demo.month import load_demo_month
from aifinops.demo.tables import finance_tables
from aifinops.domain import Basis, to_nanos
from aifinops.store import Store
from aifinops.store.allocation_queries import read_allocation
from aifinops.store.budget_queries import alert_records
from aifinops.store.cost_queries import read_cost_totals

OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)


def _bill_nanos(store: Store, basis: Basis) -> dict[str, int]:
    bill = build_bill(daily_usage(store, OCT, NOV), estate(), year=2026, month=10, seed=1)
    out: dict[str, int] = defaultdict(int)
    for record in bill:
        if record.basis is basis:
            out[record.currency] += to_nanos(record.cost)
    return dict(out)


def _conserved(store: Store, basis: Basis) -> None:
    result = read_allocation(store, OCT, NOV, basis=basis)
    buckets: dict[str, int] = defaultdict(int)
    for (currency, _), nanos in result.totals().items():
        buckets[currency] += nanos
    stored = {c: m.nanos for c, m in read_cost_totals(store, OCT, NOV, basis=basis).items()}
    assert dict(buckets) == stored


def _run(store: Store) -> DemoFinanceReport:
    return run_demo_finance(store, load_settings(), year=2026, month=10, seed=1)


def test_demo_month_is_billed_collected_allocated_budgeted_and_watched(sqlite_store: Store) -> None:
    load_demo_month(sqlite_store, year=2026, month=10, seed=1, scale=0.05)
    first = _run(sqlite_store)
    # The collector stored exactly what the emulator billed, on both bases.
    for basis in (Basis.ACTUAL, Basis.AMORTIZED):
        stored = {c: m.nanos for c, m in read_cost_totals(sqlite_store, OCT, NOV, basis=basis).items()}
        assert stored == _bill_nanos(sqlite_store, basis)
        _conserved(sqlite_store, basis)
    assert {c: to_nanos(a) for c, a in first.bill_actual.items()} == {
        c: to_nanos(a) for c, a in first.actual.items()
    }
    # allocated + idle + purchases + unallocated == actual, per currency.
    for currency, total in first.actual.items():
        parts = (first.allocated, first.idle_ptu, first.purchases, first.unallocated)
        assert sum(p.get(currency, Decimal(0)) for p in parts) == total
    assert first.idle_ptu["USD"] > 0 and first.ptu_utilisation is not None
    assert Decimal("0.2") < first.ptu_utilisation < Decimal("0.8")
    assert any("owner tag(s) ['app'] missing" in r for r in first.unallocated_reasons)
    # The PTU reservation purchase is its own bucket on the actual basis, never unallocated usage.
    assert first.purchases["USD"] == 2600 and first.purchases_named == (
        "reservation Provisioned Managed Global Unit",
    )
    assert first.unallocated_amortized["USD"] == first.unallocated["USD"] > 0  # untagged storage only
    # Fully loaded cost per successful task exceeds the estimate for every use case with successes.
    loaded = {f.use_case: f for f in first.fully_loaded}
    assert set(loaded) >= {"doc-qa", "claim-triage", "case-summary"}
    for kpi in loaded.values():
        assert kpi.actual["USD"] > kpi.estimated.get("USD", Decimal(0)) or kpi.use_case == "claim-triage"
    # The PTU deployment is estimated, not zero: 15 units every hour of the month, 10 at the reservation's
    # price spread over the month's hours and 5 at the price book's hourly unit price; what its calls do
    # not use is estimated idle capacity.
    ptu, hours = first.ptu_estimate, 31 * 24
    assert ptu.problem is None and (ptu.units, ptu.hours, ptu.currency) == (15, hours, "USD")
    assert ptu.cost == hours * (10 * (Decimal(260) / hours).quantize(Decimal("1e-9")) + 5 * Decimal("1.0"))
    assert ptu.used + ptu.idle == ptu.cost and ptu.used > 0 and ptu.idle > 0
    # The same hours at the same rates as the amortized bill, with the allocation rule's capacity: summed
    # per hour, the used share is at most the daily one (Σ min(tokens, capacity) ≤ min(Σ tokens, Σ capacity)),
    # and the amortized figure also carries the supporting services.
    triage = loaded["claim-triage"]
    assert 0 < triage.estimated["USD"] < triage.amortized["USD"]
    # Budgets: contoso ends between 80 % and 100 %; doc-qa is forecast over at mid-month.
    assert "demo-contoso-monthly actual:80 as of 2026-10-31" in first.budgets_crossed
    assert "demo-contoso-monthly actual:100 as of 2026-10-31" not in first.budgets_crossed
    assert "demo-doc-qa-monthly forecast:100 as of 2026-10-15" in first.budgets_crossed
    assert first.alerts_fired >= 2 and first.alerts_delivered == first.alerts_fired
    alerts = alert_records(sqlite_store)
    assert alerts and all(a.delivery_status == "delivered" for a in alerts)
    assert {d.http_status for a in alerts for d in a.deliveries} == {204}
    # The incident day of doc-qa is an anomaly.
    assert any(a.startswith("use_case=doc-qa day 2026-10-20") for a in first.anomalies)
    console = Console(record=True, width=200)
    for table in finance_tables(first):
        console.print(table)
    text = console.export_text()
    assert "PTU estimated" in text and f"{ptu.cost:.2f} USD" in text
    assert "idle PTU capacity" in text and f"{first.actual['USD']:.2f} USD" in text and "doc-qa" in text

    second = _run(sqlite_store)
    assert (second.actual, second.amortized, second.allocated) == (
        first.actual,
        first.amortized,
        first.allocated,
    )
    assert (second.idle_ptu, second.unallocated, second.fully_loaded) == (
        first.idle_ptu,
        first.unallocated,
        first.fully_loaded,
    )
    assert second.ptu_estimate == first.ptu_estimate
    assert second.alerts_fired == second.alerts_delivered == 0  # each threshold fires once per period
    assert len(alert_records(sqlite_store)) == len(alerts)
    _conserved(sqlite_store, Basis.ACTUAL)


def test_the_api_and_the_showback_report_serve_the_demo_month(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_demo_month(sqlite_store, year=2026, month=10, seed=1, scale=0.05)
    report = _run(sqlite_store)
    with TestClient(create_app(load_settings(), store=sqlite_store)) as api:
        alerts = api.get("/api/alerts").json()
        anomalies = api.get("/api/anomalies", params={"by": "use_case", "at": "2026-10-21T00:00:00Z"}).json()[
            "anomalies"
        ]
        kpis = api.get("/api/allocation/kpis", params={"period": "2026-10", "by": "use_case"}).json()
        allocation = api.get("/api/allocation", params={"period": "2026-10", "basis": "amortized"})
    assert len(alerts) == report.alerts_fired
    assert [a["scope"] for a in anomalies] == ["use_case=doc-qa"]
    doc_qa = next(g for g in kpis["groups"] if g["use_case"] == "doc-qa")
    assert {c["basis"] for c in doc_qa["costs"]} == {"estimated", "actual", "amortized"}
    assert allocation.status_code == 200

    from aifinops.cli.report import app

    monkeypatch.setenv("AIFINOPS_DATABASE_URL", sqlite_store.url)
    args = ["showback", "--period", "2026-10", "--by", "app,tenant", "--format", "json"]
    shown = CliRunner().invoke(app, args)
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    buckets = {r["bucket"] for r in document["rows"]}
    assert buckets == {"allocated", "idle", "purchases", "unallocated"}
    assert "charged through the amortized view" in document["notes"][0] in shown.stderr
    assert {r["app"] for r in document["rows"] if r["bucket"] == "allocated"} >= {
        "claims-agent",
        "doc-search",
    }
    legacy = [u for u in document["unallocated"] if (u["resource_id"] or "").endswith("/stgenailegacy01")]
    assert legacy and "owner tag(s) ['app'] missing" in legacy[0]["reason"]
