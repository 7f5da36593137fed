"""Retention drops raw events before a horizon while every aggregate kept from them stays exactly the same."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from aifinops.domain import Basis, CostRecord, Outcome, TaskOutcome
from aifinops.engine.allocation_rules import AllocationRule, Method, RecordMatch
from aifinops.engine.drivers.tokens import TOKENS
from aifinops.errors import PastRetentionError
from aifinops.jobs.allocate import allocate_period
from aifinops.jobs.ingest import Ingestor
from aifinops.jobs.retention import keep_months_horizon, run_retention
from aifinops.queries.kpis import read_day_kpis
from aifinops.queries.snapshot import snapshot_document
from aifinops.store import Store
from aifinops.store.allocation_results import load_result
from aifinops.store.event_queries import daily_token_sums
from aifinops.store.partitions import partitions
from aifinops.store.prices import PriceStore
from aifinops.store.repricing import RepricingStore, rebuild_rollups
from aifinops.store.task_queries import task_aggregates
from aifinops.store.usage_queries import UsageQuery, query_usage
from tests.factories import PRICE_START, event, gpt4o_prices

MONTHS = (dt.date(2026, 8, 1), dt.date(2026, 9, 1), dt.date(2026, 10, 1), dt.date(2026, 11, 1))
NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)  # keep 1 month: October and November stay
HORIZON = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
AOAI = "/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/aoai"
RULES = [
    AllocationRule(
        "ptu",
        Method.PROVISIONED,
        match=RecordMatch(resource_ids=("*/accounts/aoai",)),
        driver=TOKENS,
        capacity_per_day=100_000,
    )
]


def _month_events(month: dt.date, n: int = 12) -> list[Any]:
    start = dt.datetime.combine(month, dt.time(), tzinfo=dt.UTC)
    return [
        event(
            i,
            event_id=f"{month:%Y%m}-{i}",
            ts=start + dt.timedelta(hours=7 * i),
            task_id=f"{month:%Y%m}-t{i // 3}",
            app=("app-a", "app-b")[i % 2],
            resource_id=AOAI,
        )
        for i in range(n)
    ]


def _figures(store: Store) -> dict[str, Any]:
    """What must not move: roll-ups, task aggregates, KPIs, allocations and snapshots of every month."""
    start = dt.datetime.combine(MONTHS[0], dt.time(), tzinfo=dt.UTC)
    end = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    figures: dict[str, Any] = {}
    for grain in ("hour", "day", "month"):
        q = UsageQuery(start=start, end=end, granularity=grain, group_by=("app", "use_case"))
        figures[grain] = query_usage(store, q)
    figures["tasks"] = sorted(task_aggregates(store, group_by=("app",)), key=repr)
    figures["kpis"] = read_day_kpis(store, MONTHS[0], dt.date(2026, 12, 1), by=("app",)).kpis
    with store.reader() as conn:
        figures["allocation"] = load_result(conn, MONTHS[1], MONTHS[2], basis=Basis.ACTUAL)
    q = UsageQuery(start=start + dt.timedelta(days=31), end=HORIZON, granularity="month")
    snapshot = snapshot_document(store, q, timezone="UTC", tenant=None, now=NOW)
    figures["snapshot"] = {k: v for k, v in snapshot.items() if k != "generated_at"}
    return figures


def _count(store: Store, table: str) -> int:
    with store.reader() as conn:
        return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


@pytest.fixture
def four_months(store: Store) -> Store:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    ingestor = Ingestor(store)
    for month in MONTHS:
        events = _month_events(month)
        assert ingestor.ingest(events, source="test").accepted == len(events)
        ingestor.record_outcomes(
            [
                TaskOutcome(task_id=e.task_id, outcome=Outcome.SUCCEEDED, ended_at=e.ts, tenant=e.tenant)
                for e in events[::3]
                if e.task_id
            ]
        )
    records = [
        CostRecord(MONTHS[1] + dt.timedelta(days=d), Basis.ACTUAL, Decimal("3.5"), "USD", resource_id=AOAI)
        for d in range(30)
    ]
    allocate_period(
        store, MONTHS[1], MONTHS[2], basis=Basis.ACTUAL, dimensions=("app",), records=records, rules=RULES
    )
    return store


def test_aggregates_are_exactly_the_same_after_retention(four_months: Store) -> None:
    store = four_months
    before = _figures(store)
    assert before["allocation"].lines and before["tasks"] and before["kpis"]
    report = run_retention(store, keep_months=1, now=NOW)
    assert report.horizon == HORIZON
    assert report.deleted_events == 24
    assert _count(store, "usage_events") == 24
    assert _figures(store) == before


def test_raw_event_reads_say_the_period_is_past_retention(four_months: Store) -> None:
    store = four_months
    run_retention(store, keep_months=1, now=NOW)
    with pytest.raises(PastRetentionError, match="before 2026-10-01 were dropped by retention"):
        daily_token_sums(store, MONTHS[1], MONTHS[2])
    with pytest.raises(PastRetentionError):
        RepricingStore(store).reprice(
            lambda e: pytest.fail("nothing to price"),
            start=HORIZON - dt.timedelta(days=1),
            end=HORIZON,
            now=NOW,
        )
    with pytest.raises(PastRetentionError), store.session() as conn:  # e.g. the provisioned estimate
        rebuild_rollups(conn, HORIZON - dt.timedelta(days=3), HORIZON, set())
    with pytest.raises(PastRetentionError, match="task '202609-t1'"), store.session() as conn:
        rebuild_rollups(conn, HORIZON, NOW, {"202609-t1"})
    kept = daily_token_sums(store, MONTHS[2], dt.date(2026, 12, 1))
    assert sum(r.input_tokens for r in kept) == 24 * 1000


def test_events_before_the_horizon_are_refused_and_never_count_twice(four_months: Store) -> None:
    store = four_months
    rollup = _figures(store)["month"]  # read before: derived data built from the events, as serve would
    run_retention(store, keep_months=1, now=NOW)
    ingestor = Ingestor(store)
    old, kept = _month_events(MONTHS[0]), _month_events(MONTHS[3])
    again = ingestor.ingest([*old, *kept], source="test")
    assert (again.accepted, again.duplicates) == (0, len(kept))
    assert sorted(again.past_retention) == sorted(e.event_id for e in old)
    assert _figures(store)["month"] == rollup
    assert _count(store, "usage_events") == 24


def test_the_horizon_only_moves_forward(four_months: Store) -> None:
    store = four_months
    run_retention(store, keep_months=1, now=NOW)
    report = run_retention(store, keep_months=6, now=NOW)
    assert report.horizon == HORIZON
    assert report.deleted_events == 0
    assert run_retention(store, keep_months=1, now=NOW + dt.timedelta(days=31)).deleted_events == 12


def test_partitions_are_dropped_on_postgresql(four_months: Store) -> None:
    store = four_months
    if store.dialect != "postgresql":
        with store.reader() as conn:
            assert partitions(conn) == {}  # SQLite deletes rows from its one table
        return
    report = run_retention(store, keep_months=1, now=NOW)
    assert report.dropped_partitions[-2:] == ("usage_events_y2026m08", "usage_events_y2026m09")
    with store.reader() as conn:
        months = set(partitions(conn))
    assert (2026, 9) not in months and {(2026, 10), (2026, 11), (2026, 12), (2027, 1)} <= months
    assert _count(store, "usage_event_ids") == 24


def test_keep_months_counts_full_months_before_the_current_one() -> None:
    assert keep_months_horizon(NOW, 1) == HORIZON
    new_year = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert keep_months_horizon(new_year, 13) == dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="at least 1"):
        keep_months_horizon(NOW, 0)
