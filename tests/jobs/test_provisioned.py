"""Estimating provisioned throughput over the store: hours priced, split onto their calls, the rest idle,
the rollups and KPIs following, and a second run changing nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
from sqlalchemy import func, select

from aifinops.config import ProvisionedDeployment, ProvisionedSettings, Settings
from aifinops.domain import (
    Basis,
    DeploymentType,
    InventoryResource,
    MeterKind,
    Outcome,
    Price,
    TaskOutcome,
    UsageEvent,
    from_nanos,
)
from aifinops.emulator import EmulatorState, SyncASGITransport, create_emulator
from aifinops.jobs.collect import Collector
from aifinops.jobs.ingest import Ingestor
from aifinops.jobs.provisioned import estimate_provisioned
from aifinops.jobs.provisioned_watch import ProvisionedRounds, estimate_window
from aifinops.queries.kpis import read_kpis
from aifinops.sources._http import RetryPolicy
from aifinops.sources.resource_graph import ResourceGraphClient
from aifinops.store import Store
from aifinops.store.inventory_queries import read_inventory
from aifinops.store.prices import PriceStore
from aifinops.store.provisioned import read_provisioned_totals
from aifinops.store.tables import usage_events, usage_rollup
from tests.factories import EmulatorToken

T0 = dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)
END = T0 + dt.timedelta(hours=3)
_PTU = DeploymentType.GLOBAL_PROVISIONED
_START = dt.datetime(2025, 8, 25, tzinfo=dt.UTC)


def _prices(store: Store, *, ptu: bool = True) -> None:
    items = [
        Price("gpt-4.1", kind, Decimal(0), "USD", _START, deployment_type=_PTU)
        for kind in (MeterKind.INPUT, MeterKind.CACHED_INPUT, MeterKind.OUTPUT)
    ]
    items.append(Price("gpt-4o", MeterKind.INPUT, Decimal("2.5"), "USD", _START))
    items.append(Price("gpt-4o", MeterKind.OUTPUT, Decimal("10"), "USD", _START))
    if ptu:
        items.append(
            Price(
                "ptu_hour",
                MeterKind.UNIT,
                Decimal("2.0"),
                "USD",
                _START,
                unit_size=1,
                deployment_type=_PTU,
                unit="ptu_hour",
                meter_name="Provisioned Managed Global Unit",
            )
        )
    PriceStore(store).save(items, now=T0)


def _call(n: int, minute: int, tokens: int, task: str, deployment: str = "ptu-a") -> UsageEvent:
    return UsageEvent(
        event_id=f"e{n}",
        ts=T0 + dt.timedelta(minutes=minute),
        task_id=task,
        use_case="triage",
        deployment=deployment,
        model="gpt-4.1",
        deployment_type=_PTU,
        input_tokens=tokens - tokens // 10,
        output_tokens=tokens // 10,
    )


def _store_month(store: Store) -> None:
    _prices(store)
    ingest = Ingestor(store)
    ingest.ingest(
        [
            _call(1, 5, 100, "t1"),
            _call(2, 20, 200, "t1"),
            _call(3, 40, 700, "t2"),
            _call(4, 130, 3000, "t2"),  # 12:10, above the hour's capacity
            UsageEvent(
                event_id="std",
                ts=T0,
                task_id="t3",
                use_case="triage",
                deployment="gpt-4o-glbl",
                model="gpt-4o",
                deployment_type=DeploymentType.GLOBAL_STANDARD,
                input_tokens=1000,
            ),
        ],
        source="test",
    )
    ingest.record_outcomes(
        [
            TaskOutcome(t, Outcome.SUCCEEDED, T0 + dt.timedelta(hours=2, minutes=30))
            for t in ("t1", "t2", "t3")
        ]
    )


_SETTINGS = ProvisionedSettings(
    deployments={"ptu-a": ProvisionedDeployment(units=2, tokens_per_unit_hour=1000)}
)


def _event_costs(store: Store) -> dict[str, int | None]:
    with store.reader() as conn:
        rows = conn.execute(select(usage_events.c.event_id, usage_events.c.cost_nanos))
        return {r.event_id: r.cost_nanos for r in rows}


def test_each_hour_is_priced_and_split_over_its_calls_with_the_rest_idle(store: Store) -> None:
    _store_month(store)
    report = estimate_provisioned(store, _SETTINGS, start=T0, end=END, now=END)
    (ptu,) = report.deployments
    # 3 hours × 2 units × 2.00: hour 10 uses 1000 of 2000 tokens, hour 11 nothing, hour 12 is over capacity.
    assert (ptu.problem, ptu.hours, ptu.units, ptu.currency) == (None, 3, 2, "USD")
    assert (ptu.cost, ptu.used, ptu.idle) == (Decimal(12), Decimal(6), Decimal(6))
    assert ptu.source == "price book: Provisioned Managed Global Unit 2 USD/unit-hour"
    assert report.changed_events == 4
    costs = _event_costs(store)
    assert {k: from_nanos(v or 0) for k, v in costs.items() if k != "std"} == {
        "e1": Decimal("0.2"),
        "e2": Decimal("0.4"),
        "e3": Decimal("1.4"),
        "e4": Decimal(4),
    }
    assert costs["std"] == 2_500_000  # 1000 tokens at 2.50 per 1M: other deployments are left as priced
    (totals,) = read_provisioned_totals(store, T0, END)
    assert (totals.hours, totals.cost_nanos, totals.used_nanos, totals.idle_nanos) == (
        3,
        12 * 10**9,
        6 * 10**9,
        6 * 10**9,
    )
    # The hourly rollups and the tasks carry the estimate like any other.
    with store.reader() as conn:
        rolled = conn.execute(select(func.sum(usage_rollup.c.cost_nanos))).scalar_one()
    assert rolled == 6 * 10**9 + 2_500_000
    report_kpis = read_kpis(store, start=T0, end=END, days=(T0.date(), END.date()), by=("use_case",))
    (kpi,) = report_kpis.kpis
    (estimated,) = kpi.on(Basis.ESTIMATED)
    assert estimated.cost_nanos == 6 * 10**9 + 2_500_000 and kpi.succeeded == 3

    again = estimate_provisioned(store, _SETTINGS, start=T0, end=END, now=END)
    assert again.changed_events == 0 and again.deployments == report.deployments
    assert _event_costs(store) == costs
    assert read_provisioned_totals(store, T0, END) == [totals]


def test_a_deployment_without_units_or_price_is_reported_with_the_fix_and_left_as_it_was(
    store: Store,
) -> None:
    _store_month(store)
    before = _event_costs(store)
    (unknown,) = estimate_provisioned(store, ProvisionedSettings(), start=T0, end=END, now=END).deployments
    assert unknown.deployment == "ptu-a" and unknown.events == 4
    assert "units unknown: set provisioned.deployments.ptu-a.units" in (unknown.problem or "")
    regional = ProvisionedSettings(
        deployments={"ptu-a": ProvisionedDeployment(units=2, deployment_type="provisioned")}
    )
    (unpriced,) = estimate_provisioned(store, regional, start=T0, end=END, now=END).deployments
    assert "no hourly unit price of provisioned" in (unpriced.problem or "")
    assert _event_costs(store) == before
    assert read_provisioned_totals(store, T0, END) == []


def test_reserved_units_cost_the_reservation_rate(store: Store) -> None:
    _store_month(store)
    reserved = ProvisionedSettings(
        deployments={
            "ptu-a": ProvisionedDeployment(units=2, reserved_units=1, reservation_rate=Decimal("0.5"))
        }
    )
    report = estimate_provisioned(store, reserved, start=T0, end=END, now=END)
    (ptu,) = report.deployments
    # an hour = 1 unit × 0.50 + 1 unit × 2.00; no capacity known: used hours are wholly their calls'
    assert (ptu.units, ptu.cost, ptu.used, ptu.idle) == (2, Decimal("7.5"), Decimal(5), Decimal("2.5"))
    assert "1 reserved at 0.5 USD" in ptu.source


def test_the_scheduled_window_is_the_previous_and_current_day_or_month_to_the_last_complete_hour() -> None:
    now = dt.datetime(2026, 12, 1, 7, 42, tzinfo=dt.UTC)
    last_hour = dt.datetime(2026, 12, 1, 7, tzinfo=dt.UTC)
    assert estimate_window(now, months=False) == (dt.datetime(2026, 11, 30, tzinfo=dt.UTC), last_hour)
    assert estimate_window(now, months=True) == (dt.datetime(2026, 11, 1, tzinfo=dt.UTC), last_hour)
    jan = dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC)
    december = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
    assert estimate_window(jan, months=True) == (december, jan.replace(minute=0))


def test_serve_s_round_estimates_the_months_and_a_second_round_replaces_it(store: Store) -> None:
    _store_month(store)
    settings = Settings(provisioned=_SETTINGS)
    now = T0 + dt.timedelta(days=1, hours=5, minutes=30)  # 2026-11-03 15:30
    rounds = ProvisionedRounds(settings, store, clock=lambda: now)
    rounds()
    costs = _event_costs(store)
    assert {k: from_nanos(v or 0) for k, v in costs.items() if k != "std"} == {
        "e1": Decimal("0.2"),
        "e2": Decimal("0.4"),
        "e3": Decimal("1.4"),
        "e4": Decimal(4),
    }
    # Every complete hour from 1 October to 15:00 on 3 November: 2 units × 2.00 each.
    hours = (now.replace(minute=0) - dt.datetime(2026, 10, 1, tzinfo=dt.UTC)) // dt.timedelta(hours=1)
    (totals,) = read_provisioned_totals(store, dt.datetime(2026, 10, 1, tzinfo=dt.UTC), now)
    assert (totals.hours, totals.cost_nanos, totals.used_nanos) == (hours, hours * 4 * 10**9, 6 * 10**9)
    assert rounds() == 0  # the same day again: the two days only, replaced, nothing changes
    assert _event_costs(store) == costs
    assert read_provisioned_totals(store, dt.datetime(2026, 10, 1, tzinfo=dt.UTC), now) == [totals]


_SUB = "00000000-0000-0000-0000-0000000000aa"
_ACCOUNT = (
    f"/subscriptions/{_SUB}/resourcegroups/rg-ai/providers/microsoft.cognitiveservices/accounts/aoai-ptu"
)


def _deployment(name: str, sku: str, capacity: int | None, account: str = _ACCOUNT) -> InventoryResource:
    return InventoryResource(
        resource_id=f"{account}/deployments/{name}",
        name=name,
        type="microsoft.cognitiveservices/accounts/deployments",
        subscription_id=_SUB,
        resource_group="rg-ai",
        location="eastus2",
        sku=sku,
        sku_capacity=capacity,
    )


def _collect_inventory(store: Store, resources: list[InventoryResource]) -> None:
    """The inventory as the collector stores it from Resource Graph, served by the emulator."""
    state = EmulatorState(today=dt.date(2026, 11, 26))
    state.resources.extend(resources)
    transport = SyncASGITransport(create_emulator(state))
    with httpx.Client(transport=transport) as http:
        token = EmulatorToken(state)
        collector = Collector(
            store,
            inventory_client=ResourceGraphClient(http, token, policy=RetryPolicy(max_attempts=1)),
            subscriptions=[_SUB],
            clock=lambda: END,
        )
        summary = collector.collect(T0.date(), T0.date() + dt.timedelta(days=1), sources=["inventory"])
        assert summary.ok, summary.errors
    transport.close()


def test_units_come_from_the_collected_inventory_unless_configured(store: Store) -> None:
    _store_month(store)
    _collect_inventory(
        store,
        [
            _deployment("ptu-a", "GlobalProvisionedManaged", 2),
            _deployment("ptu-idle", "DataZoneProvisionedManaged", 3),
            _deployment("gpt-4o-glbl", "GlobalStandard", 450),  # a rate limit, not units
        ],
    )
    (stored,) = [r for r in read_inventory(store) if r.name == "ptu-a"]
    assert (stored.sku, stored.sku_capacity) == ("GlobalProvisionedManaged", 2)
    capacity = ProvisionedSettings(deployments={"ptu-a": ProvisionedDeployment(tokens_per_unit_hour=1000)})
    report = estimate_provisioned(store, capacity, start=T0, end=END, now=END)
    by_name = {d.deployment: d for d in report.deployments}
    assert set(by_name) == {"ptu-a", "ptu-idle"}
    ptu = by_name["ptu-a"]
    # The same hours as with 2 configured units (first test): 12.00, 6.00 used, 6.00 idle.
    assert (ptu.problem, ptu.units, ptu.units_from) == (None, 2, "inventory")
    assert (ptu.cost, ptu.used, ptu.idle) == (Decimal(12), Decimal(6), Decimal(6))
    # A provisioned deployment without calls is idle capacity; its data-zone type and region come from the
    # inventory too, and the price book has no data-zone unit price: reported with the fix.
    assert "no hourly unit price of data_zone_provisioned in eastus2" in (by_name["ptu-idle"].problem or "")
    configured = ProvisionedSettings(deployments={"ptu-a": ProvisionedDeployment(units=3)})
    report = estimate_provisioned(store, configured, start=T0, end=END, now=END)
    (ptu,) = [d for d in report.deployments if d.deployment == "ptu-a"]
    assert (ptu.units, ptu.units_from, ptu.cost) == (3, "configuration", Decimal(18))


def test_a_deployment_the_inventory_cannot_size_is_reported_with_the_fix(store: Store) -> None:
    _store_month(store)
    other = f"{_ACCOUNT}-2"
    _collect_inventory(
        store,
        [
            _deployment("ptu-a", "GlobalProvisionedManaged", 2),
            _deployment("ptu-a", "GlobalProvisionedManaged", 5, account=other),
        ],
    )
    before = _event_costs(store)
    (ptu,) = estimate_provisioned(store, ProvisionedSettings(), start=T0, end=END, now=END).deployments
    assert "2 provisioned deployments named ptu-a that differ" in (ptu.problem or "")
    assert "set provisioned.deployments.ptu-a.units" in (ptu.problem or "")
    assert _event_costs(store) == before
